"""The published training files in ../shared/realdata (each folder's PROVENANCE.md says what they are)
validate and train: one SFT step each on the tiny model, and one GRPO step on VLM-R1's GUI file.

VLM-R1 does not publish the GUI file's screenshots: the rows' images are made as placeholder PNGs of a
phone screenshot's size, 1080 x 2400 (GUI-Testing-Arena's screenshots are Android phone screens; the file
records no size), so that decoding and resizing to the model's input size run as on the real images. The
tiny model's processor has a small pixel budget (MAX_PIXELS, as a config for long screenshots would set):
at Qwen2.5-VL's default budget two such screenshots are ~6,600 visual tokens and one GRPO step takes
minutes on CPU.
"""

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from groundrl.data.pipeline import Source, read_sources
from groundrl.models.families import get_family
from groundrl.models.tiny import TinySpec, make_tiny
from groundrl.train.data import RowBuilder
from helpers import run_cli

ROOT = Path(__file__).resolve().parents[2]
REAL = next((p for p in (ROOT.parent / "shared" / "realdata", ROOT / "shared" / "realdata") if p.is_dir()), None)
pytestmark = pytest.mark.skipif(REAL is None, reason="../shared/realdata is not in this checkout")

GUI = "vlm-r1/gui_multi-image.jsonl"
SCREENSHOT = (1080, 2400)  # width, height of the placeholder screenshots
ROWS = 4  # rows of each file trained on
MAX_PIXELS = 128 * 28 * 28  # the tiny model's image budget: 128 visual tokens an image after merging
# file under realdata -> (format, records in the file)
FILES = {GUI: ("vlm-r1", 1797), "vigorl/mllm_demo.json": ("sharegpt", 6), "egm/single_images.json": ("qwen-vl", 3)}


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    """A tiny Qwen2.5-VL whose processor resizes images to at most MAX_PIXELS."""
    return make_tiny("qwen2.5-vl", tmp_path_factory.mktemp("tiny-budget"), TinySpec(max_pixels=MAX_PIXELS))


@pytest.fixture(scope="module")
def gui_images(tmp_path_factory) -> Path:
    """Placeholder screenshots for the GUI file's first ROWS rows, named as the rows name them."""
    root = tmp_path_factory.mktemp("gui-images")
    with open(REAL / GUI, encoding="utf-8") as f:
        rows = [json.loads(next(f)) for _ in range(ROWS)]
    for k, name in enumerate(name for row in rows for name in row["image"]):
        Image.new("RGB", SCREENSHOT, (40 * k % 256, 120, 200)).save(root / name)
    return root


def image_root(name: str, gui_images: Path) -> list[str]:
    return [f"image_root={gui_images}"] if name == GUI else []


def train(kind: str, name: str, out: Path, model: Path, *extra: str) -> dict:
    """Run one step of `groundrl sft|grpo` on the file's first ROWS rows; its logged step."""
    args = [
        f"model={model}",
        f"data={REAL / name}",
        f"format={FILES[name][0]}",
        f"output_dir={out}",
        f"limit={ROWS}",
        "trl.max_steps=1",
        "trl.learning_rate=1e-3",
        "trl.save_strategy=no",
        "trl.gradient_accumulation_steps=1",
        *extra,
    ]
    run_cli(kind, *args, check=True)
    logged = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return next(line for line in logged if "loss" in line)


@pytest.mark.parametrize("name", list(FILES))
def test_file_validates(name):
    proc = run_cli("data", "validate", str(REAL / name), "-f", FILES[name][0], "--workers", "1")
    n = FILES[name][1]
    assert proc.returncode == 0, proc.stderr
    assert f"{n:,} items: {n:,} accepted, 0 rejected" in proc.stdout


@pytest.mark.parametrize("name", list(FILES))
def test_one_sft_step(name, gui_images, model, tmp_path):
    step = train(
        "sft",
        name,
        tmp_path / "sft",
        model,
        "trl.per_device_train_batch_size=2",
        *image_root(name, gui_images),
    )
    assert step["step"] == 1 and math.isfinite(step["loss"]) and step["loss"] > 0


def test_one_grpo_step_on_the_gui_file_with_answer_match(gui_images, model, tmp_path):
    step = train(
        "grpo",
        GUI,
        tmp_path / "grpo",
        model,
        "trl.per_device_train_batch_size=4",
        "trl.num_generations=2",
        "trl.max_completion_length=8",
        "trl.beta=0.0",
        'rewards=[{"name": "answer_match"}]',
        *image_root(GUI, gui_images),
    )
    assert math.isfinite(step["loss"])
    assert math.isfinite(step["rewards/answer_match/mean"])  # the defect names were scored, not skipped


def test_gui_rows_show_both_screenshots_and_ask_before_the_answer(gui_images):
    """No marker in the GUI rows: both screenshots go first in the one user turn (VLM-R1's loader does the
    same), at the model's input size, and the answer is the defect name."""
    family = replace(get_family("qwen2.5-vl"), max_pixels=MAX_PIXELS)
    records = list(read_sources([Source(REAL / GUI, "vlm-r1", gui_images)]))[:ROWS]
    for record in records:
        row = RowBuilder("sft", family).row(record)
        user, answer = row["messages"]
        assert [p["type"] for p in user["content"]] == ["image", "image", "text"]
        assert answer["content"][0]["text"] in ("Operation No Response", "Unexpected Task Result")
        assert [im.size for im in row["images"]] == [family.input_size(*SCREENSHOT)] * 2
        assert math.prod(row["images"][0].size) <= MAX_PIXELS
        assert record.image_sizes == [list(SCREENSHOT)] * 2


def test_mllm_demo_images_go_in_the_turns_that_carry_their_markers():
    """ViGoRL's LLaMA-Factory demo: rows 1 and 4 show an image in each of their two user turns, the others
    one image in the first turn only (PROVENANCE.md); the SFT rows put them exactly there."""
    family = replace(get_family("qwen2.5-vl"), max_pixels=MAX_PIXELS)
    records = list(read_sources([Source(REAL / "vigorl/mllm_demo.json", "sharegpt")]))
    placed = [
        tuple(sum(p["type"] == "image" for p in m["content"]) for m in RowBuilder("sft", family).row(r)["messages"])
        for r in records
    ]
    assert placed == [(1, 0, 1, 0), (1, 0, 0, 0), (1, 0, 0, 0), (1, 0, 1, 0), (1, 0, 0, 0), (1, 0, 0, 0)]
