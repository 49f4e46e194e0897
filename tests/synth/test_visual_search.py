"""The visual-search task: deterministic, one answer per question, the target's letter legible at full
resolution and in the zoom crop but not after a small pixel budget's resize, and zoom chains that validate,
whose tool points land on the target, and that SFT reads unchanged."""

from __future__ import annotations

import dataclasses
import json
import math
from collections import Counter

import pytest
from PIL import Image

from groundrl.boxes import point_in_box
from groundrl.data.pipeline import Source, read_sources
from groundrl.data.records import read_records
from groundrl.models.families import FAMILIES
from groundrl.synth import ChainOptions, SynthOptions, VisualSearchOptions, example_rng, generate
from groundrl.synth.chains import DIRECT_TEXT, centre_point, tool_point
from groundrl.synth.scene import COLOURS
from groundrl.synth.visual_search import RING_INK, legibility, make_scene, min_contrast, render_scene
from groundrl.tools.env import tool_system_text
from groundrl.tools.zoom import CROP_TEXT, Observation, ZoomPreset, parse_tool_call, zoom
from helpers import run_cli

SMALL = VisualSearchOptions(min_size=1024, max_size=1280)
# a tiny model's budget: a 1024-2048 px image shrinks 8-16x (the benchmark's setting)
TINY_BUDGET = {"min_pixels": 64 * 64, "max_pixels": 128 * 128}


def tiny_family(name: str):
    return dataclasses.replace(FAMILIES[name], **TINY_BUDGET)


def test_same_seed_same_records_images_and_chains(tmp_path):
    chains = ChainOptions(tiny_family("qwen3-vl"), ZoomPreset(2, 64))
    a = generate("visual_search", 4, tmp_path / "a", seed=5, opts=SMALL, chains=chains)
    b = generate("visual_search", 4, tmp_path / "b", seed=5, opts=SMALL, chains=chains)
    c = generate("visual_search", 4, tmp_path / "c", seed=6, opts=SMALL, chains=chains)
    assert a.read_text() == b.read_text() != c.read_text()
    assert (a.parent / "chains.jsonl").read_text() == (b.parent / "chains.jsonl").read_text()
    files = sorted(p.name for p in (tmp_path / "a" / "images").iterdir())
    assert len(files) == 8  # an image and a crop per record
    assert all(
        (tmp_path / "a" / "images" / f).read_bytes() == (tmp_path / "b" / "images" / f).read_bytes() for f in files
    )


@pytest.mark.parametrize("ask", ["letter", "colour"])
def test_each_question_has_one_answer_and_the_image_shows_it(tmp_path, ask):
    opts = dataclasses.replace(SMALL, ask=ask)
    path = generate("visual_search", 12, tmp_path, seed=1, opts=opts)
    for i, record in enumerate(read_records(path)):
        scene = make_scene(example_rng(1, i), opts)  # what the generator drew, from the same RNG
        target = scene.target_item
        assert record.boxes == [list(target.shape.box)] and record.choices.count(record.answer) == 1
        assert len(record.choices) == 4 and all(c in record.question for c in record.choices)
        if ask == "letter":
            assert record.answer == target.letter and target.shape.name in record.question
            assert [item.shape.name for item in scene.items].count(target.shape.name) == 1
        else:
            assert record.answer == target.shape.colour and f"letter {target.letter}?" in record.question
            assert [item.letter for item in scene.items].count(target.letter) == 1
            assert set(record.choices) <= {item.shape.colour for item in scene.items}  # colours alone tell nothing
        image = Image.open(tmp_path / record.images[0]).convert("RGB")
        x1, y1, x2, y2 = target.shape.box
        assert image.getpixel((x1 + (x2 - x1) // 8, (y1 + y2) // 2)) == COLOURS[target.shape.colour]


def test_the_letter_is_legible_at_full_resolution_and_in_the_crop_but_not_after_the_downscale():
    preset = ZoomPreset(2, 64)
    for i in range(2):
        scene = make_scene(example_rng(0, i), SMALL)
        letters = [scene.target_item.letter, *(c for c in "HKLM" if c != scene.target_item.letter)][:4]
        small = legibility(scene, letters, tiny_family("qwen3-vl"), preset)
        # with the family's own budget (16.8 MP) the image is only rounded to 32 px multiples: letters stay apart
        full_budget = legibility(scene, letters, FAMILIES["qwen3-vl"], preset)
        assert small.full > 3.0 and full_budget.seen > 0.8 * small.full
        assert small.seen < 0.25 * small.full  # a shape of 2-3 px: letters blur into the same blot
        assert small.crop > 0.8 * small.full  # the crop (2x the original) restores them


@pytest.mark.parametrize("family", ["qwen2.5-vl", "qwen3-vl"])
def test_chains_validate_and_their_tool_points_land_on_the_target(tmp_path, family):
    out = tmp_path / "vs"
    run_cli(
        "synth", "--task", "visual_search", "--n", "6", "--out", str(out), "--min-size", "1536", "--max-size",
        "2048", "--chains", "--family", family, "--min-pixels", "4096", "--max-pixels", "16384",
        "--crop-half", "2", "--crop-size", "64", check=True,
    )  # fmt: skip
    result = run_cli("data", "validate", str(out / "chains.jsonl"), check=True)
    assert "6 accepted, 0 rejected" in result.stdout
    fam = tiny_family(family)
    chains = list(read_sources([Source(out / "chains.jsonl", "groundrl")]))
    for chain, record in zip(chains, read_records(out / "records.jsonl"), strict=True):
        roles = [m["role"] for m in chain.messages]
        assert roles == ["system", "user", "assistant", "user", "assistant"]
        call = parse_tool_call(chain.messages[2]["content"])
        width, height = chain.image_sizes[0]
        on_target = fam.frame(width, height).to_original(list(call.point))
        assert point_in_box(on_target, record.boxes[0])  # 1 px of the frame is 12-16 original px here
        crop = Image.open(out / chain.images[1])
        full = Image.open(out / chain.images[0])
        expected = zoom(full, call.point, fam, ZoomPreset(2, 64))
        assert chain.messages[3] == Observation(CROP_TEXT, expected.image).as_message()
        assert list(crop.getdata()) == list(expected.image.getdata())  # what the tool answers at run time
        assert chain.messages[4]["content"].endswith(f"<answer> {record.answer} </answer>")
        assert (chain.id, chain.answer, chain.choices, chain.boxes) == (
            record.id,
            record.answer,
            record.choices,
            record.boxes,
        )


def test_region_qa_writes_chains_too(tmp_path):
    family = FAMILIES["qwen3-vl"]
    generate("region_qa", 3, tmp_path, chains=ChainOptions(family))
    records = read_records(tmp_path / "records.jsonl")
    for chain, record in zip(read_records(tmp_path / "chains.jsonl"), records, strict=True):
        point = parse_tool_call(chain.messages[2]["content"]).point
        assert point_in_box(family.frame(record.width, record.height).to_original(list(point)), record.boxes[0])
        assert Image.open(tmp_path / chain.images[1]).size == (672, 672)  # the qa preset's crop


def test_tool_point_refuses_a_target_under_one_unit_of_the_frame():
    family = dataclasses.replace(FAMILIES["qwen2.5-vl"], min_pixels=56 * 56, max_pixels=56 * 56)
    assert tool_point([500, 500, 540, 540], 1000, 1000, family) == (29, 29)  # 1 unit = 17.9 px
    with pytest.raises(ValueError, match=r"smaller than one unit of qwen2\.5-vl's frame"):
        tool_point([503, 503, 508, 508], 1000, 1000, family)


def test_sft_reads_the_chains_unchanged(tiny_models, tmp_path):
    from groundrl.train import sft

    chains = ChainOptions(FAMILIES["qwen2.5-vl"], ZoomPreset(40, 56))
    generate("visual_search", 2, tmp_path / "vs", opts=SMALL, chains=chains)
    cfg = sft.SFTRunConfig(
        model=str(tiny_models["qwen2.5-vl"]),
        data=str(tmp_path / "vs" / "chains.jsonl"),
        output_dir=str(tmp_path / "sft"),
        trl={"max_steps": 1},
    )
    trainer = sft.build_trainer(cfg)
    batch = trainer.data_collator([trainer.train_dataset[0]])
    assert batch["image_grid_thw"].shape[0] == 2  # the full image and the crop
    labels, ids = batch["labels"][0].tolist(), batch["input_ids"][0].tolist()
    learned = trainer.processing_class.tokenizer.decode([t for t, y in zip(ids, labels, strict=True) if y != -100])
    answer = json.loads((tmp_path / "vs" / "records.jsonl").read_text().splitlines()[0])["answer"]
    assert learned.count('"search_coordinate"') == 1 and f"<answer> {answer} </answer>" in learned
    assert "crop of the image" not in learned and "<|image_pad|>" not in learned


def test_bad_options_fail_in_one_line(tmp_path):
    result = run_cli("synth", "--task", "visual_search", "--out", str(tmp_path), "--max-target", "600")
    assert result.returncode == 2 and "max_target must be under a quarter of min_size" in result.stderr
    result = run_cli("synth", "--task", "rec", "--out", str(tmp_path), "--chains")
    assert result.returncode == 2 and "--chains: task 'rec' has no answer" in result.stderr
    with pytest.raises(ValueError, match="letters must be distinct and none of A-F"):
        VisualSearchOptions(letters="ABK")
    with pytest.raises(TypeError, match="takes VisualSearchOptions"):
        generate("visual_search", 1, tmp_path, opts=SynthOptions())


def test_letters_and_colours_are_spread(tmp_path):
    path = generate("visual_search", 40, tmp_path, seed=2, opts=dataclasses.replace(SMALL, ask="colour"))
    answers = Counter(r.answer for r in read_records(path))
    assert len(answers) == len(COLOURS) and max(answers.values()) <= 14  # no colour dominates


DOTS = VisualSearchOptions(
    min_size=1024, max_size=1024, min_target=8, max_target=8, min_distractors=150, max_distractors=250, ask="dot"
)


@pytest.mark.parametrize("place", ["anywhere", "centre"])
def test_a_dot_question_asks_for_the_ringed_dot_which_alone_is_near_the_ring(tmp_path, place):
    opts = dataclasses.replace(DOTS, place=place)
    path = generate("visual_search", 8, tmp_path, seed=3, opts=opts)
    for i, record in enumerate(read_records(path)):
        scene = make_scene(example_rng(3, i), opts)
        target = scene.target_item.shape
        assert record.boxes == [list(target.box)] and record.answer == target.colour
        assert record.choices.count(record.answer) == 1 and "inside the black ring" in record.question
        assert len(scene.items) > 100  # dots of every colour all over the image
        cx, cy = target.center
        others = [item.shape.center for item in scene.items[1:]]
        assert min(math.dist((cx, cy), c) for c in others) > scene.ring + 2 * 8  # one dot in a crop at the ring
        if place == "centre":
            assert abs(cx - scene.width / 2) <= 8 and abs(cy - scene.height / 2) <= 8
        image = Image.open(tmp_path / record.images[0]).convert("RGB")
        assert image.getpixel((int(cx), int(cy))) == COLOURS[target.colour]
        assert image.getpixel((int(cx + scene.ring), int(cy))) == RING_INK  # the ring, drawn inward from r
    places = {make_scene(example_rng(3, i), DOTS).target_item.shape.center for i in range(8)}
    assert max(abs(x - 512) for x, _ in places) > 100  # anywhere means anywhere


def test_the_dot_colour_is_lost_after_the_downscale_and_restored_in_the_crop():
    """Renders that differ only in the ringed dot's colour, compared inside one patch (16 x 16 px of what the
    model is shown, the unit its vision tower embeds) around the dot: as the tiny model sees the image
    (128 px, 8x smaller) the dot is a blended pixel of that patch, in the zoom crop at the centre it fills
    the patch."""
    family = dataclasses.replace(FAMILIES["qwen3-vl"], min_pixels=128 * 128, max_pixels=128 * 128)
    preset = ZoomPreset(4, 128)  # +-4 seen px = +-32 original px -> 128 px: 2x the original

    def patch(x: float, y: float) -> list[float]:
        return [x - 8, y - 8, x + 8, y + 8]

    for i in range(3):
        scene = make_scene(example_rng(4, i), dataclasses.replace(DOTS, place="centre"))
        renders = []
        for colour in ["red", "green", "blue", "yellow"]:
            items = list(scene.items)
            items[0] = dataclasses.replace(items[0], shape=dataclasses.replace(items[0].shape, colour=colour))
            renders.append(render_scene(dataclasses.replace(scene, items=tuple(items))).convert("RGB"))
        cx, cy = scene.target_item.shape.center
        seen = [im.resize(family.input_size(*im.size), Image.Resampling.BICUBIC) for im in renders]
        crops = [zoom(im, centre_point(scene.width, scene.height, family), family, preset) for im in renders]
        x0, y0, x1, _ = crops[0].window
        k = crops[0].image.width / (x1 - x0)
        assert min_contrast(seen, patch(cx / 8, cy / 8)) < 1.0  # grey levels, over the patch
        assert min_contrast([c.image for c in crops], patch((cx - x0) * k, (cy - y0) * k)) > 20.0


def test_chains_can_look_at_the_centre_and_some_answer_directly(tmp_path):
    out = tmp_path / "vs"
    run_cli(
        "synth", "--task", "visual_search", "--ask", "dot", "--place", "centre", "--n", "40", "--out", str(out),
        "--min-size", "1024", "--max-size", "1024", "--min-target", "8", "--max-target", "8", "--chains",
        "--family", "qwen3-vl", "--min-pixels", "16384", "--max-pixels", "16384", "--crop-half", "4",
        "--crop-size", "128", "--look", "centre", "--direct", "0.5", "--system", "tools", check=True,
    )  # fmt: skip
    assert "40 accepted, 0 rejected" in run_cli("data", "validate", str(out / "chains.jsonl"), check=True).stdout
    chains = read_records(out / "chains.jsonl")
    direct = [c for c in chains if len(c.messages) == 3]
    assert 10 <= len(direct) <= 30  # about half, chosen per record id
    for chain in chains:
        assert chain.messages[0] == {"role": "system", "content": tool_system_text(FAMILIES["qwen3-vl"])}
        answer = f"<answer> {chain.answer} </answer>"
        if chain in direct:
            assert chain.messages[2]["content"] == f"<think>\n{DIRECT_TEXT}\n</think>\n{answer}"
            assert len(chain.images) == 1 and chain.meta["tool_point"] is None
        else:
            assert parse_tool_call(chain.messages[2]["content"]).point == (500, 500)  # Qwen3-VL's centre
            assert chain.messages[4]["content"].endswith(answer) and len(chain.images) == 2
    again = ChainOptions(FAMILIES["qwen3-vl"], direct=0.5)
    assert [again.answers_directly(c.id) for c in chains] == [c in direct for c in chains]
    result = run_cli("synth", "--task", "visual_search", "--out", str(out), "--chains", "--look", "middle")
    assert result.returncode == 2 and "look must be one of target, centre" in result.stderr
    result = run_cli("synth", "--task", "visual_search", "--out", str(out), "--place", "centre")
    assert result.returncode == 2 and "place='centre' is implemented for ask='dot' only" in result.stderr
