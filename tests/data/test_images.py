"""Images: EXIF orientation, RGB, lazy loading, and ground truth through Qwen's smart resize exactly as
the processors do it."""

from pathlib import Path

import pytest
from PIL import Image

from groundrl.data.images import ImageProblem, check_image, image_size, load_image, to_model_coords, to_original_coords
from groundrl.models.families import get_family

IMG = Path(__file__).parent / "fixtures" / "img"


def test_exif_orientation_applied():
    assert Image.open(IMG / "c.jpg").size == (30, 20)  # as stored
    assert image_size(IMG / "c.jpg") == (20, 30)  # as displayed
    image = load_image(IMG / "c.jpg")
    assert image.size == (20, 30) and image.mode == "RGB"


def test_rgb_conversion(tmp_path):
    Image.new("LA", (8, 6)).save(tmp_path / "gray.png")
    assert load_image(tmp_path / "gray.png").mode == "RGB"


def test_pixel_limit_and_missing(tmp_path):
    with pytest.raises(ImageProblem) as e:
        image_size(IMG / "a.png", max_pixels=100)
    assert e.value.reason == "image_too_large"
    with pytest.raises(ImageProblem) as e:
        check_image(tmp_path / "nope.png")
    assert e.value.reason == "missing_image"


@pytest.mark.parametrize("family", ["qwen2-vl", "qwen2.5-vl", "qwen3-vl"])
@pytest.mark.parametrize("size", [(64, 48), (640, 480), (1000, 37), (37, 1000), (3000, 2000)])
def test_input_size_matches_the_processor(tiny_models, family, size):
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(tiny_models[family])
    ip = processor.image_processor
    out = ip(images=[Image.new("RGB", size)], return_tensors="pt")
    _, grid_h, grid_w = out["image_grid_thw"][0].tolist()
    f = get_family(family)
    assert f.input_size(*size) == (grid_w * ip.patch_size, grid_h * ip.patch_size)


@pytest.mark.parametrize("family", ["qwen2-vl", "qwen2.5-vl", "qwen3-vl"])
def test_ground_truth_round_trip(family):
    f = get_family(family)
    box = [10.0, 20.0, 300.0, 400.0]
    model = to_model_coords(box, 640, 480, f)
    assert to_original_coords(model, 640, 480, f) == pytest.approx(box)
    if f.convention == "resized":
        assert model == pytest.approx([10 * 644 / 640, 20 * 476 / 480, 300 * 644 / 640, 400 * 476 / 480])
    else:
        assert model == pytest.approx([10 / 0.64, 20 / 0.48, 300 / 0.64, 400 / 0.48])
