import json

import pytest
from PIL import Image

from groundrl.boxes import point_in_box
from groundrl.data.records import Record, read_records
from groundrl.synth import GENERATORS, SynthOptions, generate, iter_examples
from groundrl.synth.expressions import spatial_expressions, superlative_expressions
from groundrl.synth.scene import Shape, place_on_grid
from helpers import run_cli


@pytest.mark.parametrize("task", list(GENERATORS))
def test_same_seed_same_data(tmp_path, task):
    a = generate(task, 6, tmp_path / "a", seed=3)
    b = generate(task, 6, tmp_path / "b", seed=3)
    c = generate(task, 6, tmp_path / "c", seed=4)
    assert a.read_text() == b.read_text()
    assert a.read_text() != c.read_text()
    for record in read_records(a):
        for rel in record.images:
            assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()


@pytest.mark.parametrize("task", list(GENERATORS))
def test_boxes_inside_images_and_sizes_true(tmp_path, task):
    path = generate(task, 20, tmp_path, seed=0)
    for record in read_records(path):
        assert len(record.images) == len(record.image_sizes)
        for rel, (w, h) in zip(record.images, record.image_sizes, strict=True):
            assert Image.open(tmp_path / rel).size == (w, h)
        x1, y1, x2, y2 = record.boxes[0]
        assert 0 <= x1 < x2 <= record.width and 0 <= y1 < y2 <= record.height
        if record.point:
            assert point_in_box(record.point, record.boxes[0])
        if record.task == "qa":
            assert record.answer in record.choices


def test_box_is_tight_around_the_drawn_shape(tmp_path):
    path = generate("rec", 10, tmp_path, seed=1)
    for record in read_records(path):
        image = Image.open(tmp_path / record.images[0]).convert("RGB")
        x1, y1, x2, y2 = map(int, record.boxes[0])
        crop = image.crop((x1, y1, x2, y2))
        background = max(image.getcolors(1 << 16))[1]  # the most common colour
        # the shape touches every side of its box: each border row/column has a non-background pixel
        px = crop.load()
        w, h = crop.size
        for line in (
            [(i, 0) for i in range(w)],
            [(i, h - 1) for i in range(w)],
            [(0, j) for j in range(h)],
            [(w - 1, j) for j in range(h)],
        ):
            assert any(px[p] != background for p in line)


def test_expression_kinds_all_appear():
    kinds = {r.meta["kind"] for r, _ in iter_examples("rec", 60, seed=0)}
    assert kinds == {"attribute", "spatial", "superlative"}


def test_balanced_kinds_take_equal_shares_and_impossible_ones_fail_loudly():
    from collections import Counter

    grid = SynthOptions(min_size=64, max_size=64, min_shapes=1, max_shapes=3, grid=16)
    natural = Counter(r.meta["kind"] for r, _ in iter_examples("rec", 300, seed=0, opts=grid))
    balanced = Counter(
        r.meta["kind"]
        for r, _ in iter_examples("rec", 300, seed=0, opts=SynthOptions(**{**vars(grid), "balance_kinds": True}))
    )
    assert natural["superlative"] < 40  # rare when the scene decides: it needs two shapes of one kind
    assert all(80 <= balanced[k] <= 120 for k in ("attribute", "spatial", "superlative")), balanced
    lone = SynthOptions(
        min_size=64, max_size=64, max_shapes=1, min_shapes=1, kinds=("superlative",), balance_kinds=True
    )
    with pytest.raises(ValueError, match="superlative"):
        next(iter_examples("rec", 1, seed=0, opts=lone))


def test_spatial_and_superlative_are_unambiguous():
    shapes = [
        Shape("circle", "red", (0, 0, 10, 10)),
        Shape("circle", "blue", (50, 0, 70, 20)),
        Shape("square", "red", (30, 0, 40, 10)),
    ]
    texts = {e.text: e.target for e in spatial_expressions(shapes)}
    assert texts["the circle left of the red square"] == 0
    assert texts["the circle right of the red square"] == 1
    sup = {e.text: e.target for e in superlative_expressions(shapes)}
    assert sup == {"the largest circle": 1, "the smallest circle": 0}


def test_multi_image_target_is_unique_across_images():
    for record, images in iter_examples("multi_image", 10, seed=0):
        assert 2 <= len(images) <= 4 and 0 <= record.image_index < len(images)


def test_synth_cli(tmp_path):
    run_cli("synth", "--task", "gui", "--n", "3", "--seed", "0", "--out", str(tmp_path), check=True)
    lines = (tmp_path / "records.jsonl").read_text().splitlines()
    assert len(lines) == 3
    assert Record.from_json(json.loads(lines[0])).task == "point"
    bad = run_cli("synth", "--task", "nope", "--out", str(tmp_path))
    assert bad.returncode == 2 and "unknown task" in bad.stderr


@pytest.mark.parametrize("task", ["rec", "multi_image"])
def test_grid_layout_snaps_every_shape_to_whole_cells(tmp_path, task):
    opts = SynthOptions(min_size=64, max_size=64, min_shapes=1, max_shapes=3, grid=16)
    records = list(read_records(generate(task, 40, tmp_path, seed=3, opts=opts)))
    sides = set()
    for record in records:
        x1, y1, x2, y2 = record.boxes[0]
        assert all(v % 16 == 0 for v in (x1, y1, x2, y2))
        assert x2 <= 64 and y2 <= 64
        sides.add(x2 - x1)
    assert sides == {16, 32}  # one cell or a 2 x 2 block, both used


def test_grid_shapes_do_not_overlap():
    import random

    for seed in range(20):
        shapes = place_on_grid(random.Random(seed), 64, 64, 5, 16)
        for i, a in enumerate(shapes):
            for b in shapes[i + 1 :]:
                ix = min(a.box[2], b.box[2]) - max(a.box[0], b.box[0])
                iy = min(a.box[3], b.box[3]) - max(a.box[1], b.box[1])
                assert ix <= 0 or iy <= 0
