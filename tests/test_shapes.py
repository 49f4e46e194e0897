"""Every record shape through every consumer (docs/data-formats.md, "Record shapes"): `data validate`,
`data convert` there and back, `data stats`, one SFT step, one GRPO step with the shape's rewards, `eval`
and `score`; and where each shape's images go in an SFT row.

Data are built once per module: tiny PNGs, a few records per shape, one GroundRL JSONL file per shape.
Training and evaluation share the session's tiny Qwen2.5-VL.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image
from safetensors.torch import load_file

from groundrl.data.pipeline import Source, read_sources
from groundrl.data.records import Record
from groundrl.eval.scoring import score_row
from groundrl.models.families import get_family
from groundrl.train.data import RowBuilder, target_text
from helpers import run_cli, write_jsonl

FAMILY = "qwen2.5-vl"
# name -> (width, height, colour): tiny images keep every step fast; "crop" is a ViGoRL zoom-in's view
IMAGES = {"a.png": (84, 56, "red"), "b.png": (56, 56, "green"), "crop.png": (56, 56, "blue")}


def _rec(k: int) -> Record:
    return Record(id=f"rec-{k}", images=["a.png"], question="the red square", boxes=[[4 + k, 6, 30, 40]])


def _multi(k: int) -> Record:
    return Record(
        id=f"mi-{k}",
        images=["a.png", "b.png"],
        task="multi_image",
        question="the green square",
        boxes=[[0, 0, 20 + k, 40]],
        image_index=1,
    )


def _cot(k: int) -> Record:
    box = [4, 6 + k, 30, 40]
    return Record(
        id=f"cot-{k}",
        images=["a.png"],
        messages=[
            {"role": "user", "content": "<image>Find the red square. Think first, then answer in <answer></answer>."},
            {
                "role": "assistant",
                "content": f"<think>It is on the left.</think><answer>{json.dumps(box)}</answer>",
            },
        ],
        boxes=[box],
    )


def _sharegpt(k: int) -> Record:
    return Record(
        id=f"chat-{k}",
        images=["a.png", "b.png"],
        task="qa",
        messages=[
            {"role": "user", "content": "<image>What colour is this square?"},
            {"role": "assistant", "content": "Red."},
            {"role": "user", "content": f"And this one ({k})?<image>"},
            {"role": "assistant", "content": "green"},
        ],
        answer="green",
    )


def _vigorl(k: int) -> Record:
    box = [10, 12 + k, 30, 20]
    return Record(
        id=f"chain-{k}",
        images=["a.png", "crop.png"],
        task="point",
        messages=[
            {"role": "user", "content": "<image>Where is the search button?"},
            {"role": "assistant", "content": '<think>Zoom in on the top left.</think><tool_call>{"point": [20, 16]}'},
            {"role": "user", "content": "<image>"},
            {
                "role": "assistant",
                "content": f"<think>It is there.</think><answer>({', '.join(map(str, box))})</answer>",
            },
        ],
        boxes=[box],
    )


def _point(k: int) -> Record:
    return Record(id=f"ss-{k}", images=["a.png"], task="point", question="search", boxes=[[10 + k, 12, 30, 20]])


def _detection(k: int) -> Record:
    return Record(
        id=f"od-{k}",
        images=["a.png"],
        task="detection",
        question="Detect: [red square, blue square].",
        boxes=[[4, 6, 30, 40], [40 + k, 2, 60, 20]],
        labels=["red square", "blue square"],
        reward_method="od_ap",
    )


def _choice(k: int) -> Record:
    return Record(
        id=f"mc-{k}",
        images=["b.png"],
        task="qa",
        question="What colour is the square inside [0, 0, 30, 30]? (A) red (B) green (C) blue (D) yellow",
        choices=["red", "green", "blue", "yellow"],
        answer="B",
    )


def _shape(make, n: int = 2, **kw) -> dict:
    return {"records": [make(k) for k in range(n)], **kw}


# shape -> records: 2 records of the shape (image names relative to the image folder); convert: a format that
# holds the shape, for the round trip; rewards: GRPO rewards that apply to it (each must log a value);
# score_task: the `task` of its `groundrl score` lines; turns: how many image parts each SFT message carries.
SHAPES: dict[str, dict] = {
    "rec": _shape(_rec, convert="vlm-r1", rewards=("iou",), score_task="box", turns=(1, 0)),
    "multi_image": _shape(_multi, convert="vlm-r1", rewards=("iou",), score_task="box", turns=(2, 0)),
    "cot": _shape(_cot, convert="sharegpt", rewards=("iou", "format"), score_task="box", turns=(1, 0)),
    "sharegpt_chain": _shape(
        _sharegpt, convert="sharegpt", rewards=("answer_match",), score_task="qa", turns=(1, 0, 1, 0)
    ),
    "vigorl_chain": _shape(
        _vigorl, convert="vigorl-sft", rewards=("point_in_box",), score_task="point", turns=(1, 0, 1, 0)
    ),
    "point": _shape(_point, convert="screenspot", rewards=("point_in_box",), score_task="point", turns=(1, 0)),
    "detection": _shape(
        _detection,
        convert="vlm-r1",
        rewards=("od_ap", "od_ap50", "odLength", "weighted_sum"),
        score_task="detection",
        turns=(1, 0),
    ),
    "choice": _shape(_choice, convert="vlm-r1", rewards=("answer_match",), score_task="qa", turns=(1, 0)),
}
CONSUMERS = ("validate", "convert", "stats", "placement", "sft", "grpo", "eval", "score")
# what the round trip must keep (a format may fold the question into its prompt turn, or add meta)
KEPT = ("id", "images", "image_sizes", "task", "boxes", "labels", "point", "answer", "choices", "image_index")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    """shape -> its GroundRL JSONL file, next to the images its records name."""
    root = tmp_path_factory.mktemp("shapes")
    for name, (w, h, colour) in IMAGES.items():
        Image.new("RGB", (w, h), colour).save(root / name)
    files = {}
    for shape, spec in SHAPES.items():
        records = [replace(r, image_sizes=[list(IMAGES[p][:2]) for p in r.images]) for r in spec["records"]]
        files[shape] = write_jsonl(root / f"{shape}.jsonl", [json.loads(r.to_json()) for r in records])
    return files


def records_of(path: Path, fmt: str = "groundrl") -> list[Record]:
    return list(read_sources([Source(path, fmt)]))


def kept(record: Record) -> dict:
    return {name: getattr(record, name) for name in KEPT} | {"images": [os.path.normpath(p) for p in record.images]}


def last_metrics(out: Path) -> dict:
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    return next(line for line in lines if "loss" in line)


def weights_moved(base: Path, out: Path) -> list[str]:
    before, after = load_file(base / "model.safetensors"), load_file(out / "model.safetensors")
    return [name for name, p in after.items() if name in before and not p.equal(before[name])]


# -- the consumers, one function each ----------------------------------------------------------------------


def check_validate(shape: str, path: Path, **_) -> None:
    proc = run_cli("data", "validate", str(path), "--images", "--workers", "1")
    n = len(SHAPES[shape]["records"])
    assert proc.returncode == 0, proc.stderr
    assert f"{n} items: {n} accepted, 0 rejected" in proc.stdout


def check_convert(shape: str, path: Path, tmp_path: Path, **_) -> None:
    fmt = SHAPES[shape]["convert"]
    there = tmp_path / f"{shape}.{fmt}.{'json' if fmt in ('sharegpt', 'screenspot') else 'jsonl'}"
    back = tmp_path / f"{shape}.back.jsonl"
    run_cli("data", "convert", str(path), str(there), "--from", "groundrl", "--to", fmt, check=True)
    run_cli("data", "convert", str(there), str(back), "--from", fmt, "--to", "groundrl", check=True)
    returned, original = records_of(back), records_of(path)
    assert [kept(r) for r in returned] == [kept(r) for r in original]
    # a conversation comes back turn for turn (a record without one may gain the format's prompt turns)
    assert [r.messages for r, o in zip(returned, original, strict=True) if o.messages] == [
        o.messages for o in original if o.messages
    ]


def check_stats(shape: str, path: Path, **_) -> None:
    proc = run_cli("data", "stats", str(path), "--json", check=True)
    stats = json.loads(proc.stdout.strip().splitlines()[-1])
    records = SHAPES[shape]["records"]
    assert stats["n"] == len(records)
    assert stats["by_task"] == {records[0].task: len(records)}
    assert stats["images_per_record"] == {str(len(records[0].images)): len(records)}


def images_per_turn(messages: list[dict]) -> tuple[int, ...]:
    return tuple(sum(part["type"] == "image" for part in m["content"]) for m in messages)


def check_placement(shape: str, path: Path, tiny_models: dict, **_) -> None:
    """Image parts sit in the turns that carry the markers, and the processor makes one image's worth of
    placeholder tokens per image."""
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(tiny_models[FAMILY])
    family = replace(
        get_family(FAMILY),
        min_pixels=processor.image_processor.size["shortest_edge"],
        max_pixels=processor.image_processor.size["longest_edge"],
    )
    for record in records_of(path):
        row = RowBuilder("sft", family).row(record)
        assert images_per_turn(row["messages"]) == SHAPES[shape]["turns"]
        assert len(row["images"]) == len(record.images)
        # GRPO's prompt: the turns before the last answer, with the images they show and no others
        prompt = RowBuilder("grpo", family).row(record)
        shown = images_per_turn(prompt["prompt"])
        assert prompt["prompt"][-1]["role"] == "user" and shown == SHAPES[shape]["turns"][: len(shown)]
        assert len(prompt["images"]) == sum(shown) == len(record.images)
        text = processor.apply_chat_template(row["messages"], tokenize=False)
        batch = processor(text=[text], images=row["images"], return_tensors="pt")
        ids = batch["input_ids"][0].tolist()
        starts = processor.tokenizer.convert_tokens_to_ids("<|vision_start|>")
        pad = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
        assert ids.count(starts) == len(record.images)
        merge = processor.image_processor.merge_size**2
        assert ids.count(pad) == int(batch["image_grid_thw"].prod(-1).sum()) // merge


def train_args(kind: str, path: Path, out: Path, model: Path) -> list[str]:
    common = [
        f"model={model}",
        f"data={path}",
        f"output_dir={out}",
        "trl.max_steps=1",
        "trl.learning_rate=1e-2",
        "trl.save_strategy=no",
        "trl.gradient_accumulation_steps=1",
    ]
    if kind == "sft":
        return [*common, "trl.per_device_train_batch_size=2"]
    return [
        *common,
        "trl.per_device_train_batch_size=4",
        "trl.num_generations=2",
        "trl.max_completion_length=8",
        "trl.beta=0.0",
    ]


def check_sft(shape: str, path: Path, tmp_path: Path, tiny_models: dict, **_) -> None:
    out = tmp_path / "sft"
    run_cli("sft", *train_args("sft", path, out, tiny_models[FAMILY]), check=True)
    assert math.isfinite(last_metrics(out)["loss"])
    assert weights_moved(tiny_models[FAMILY], out), "one SFT step changed no parameter"


def check_grpo(shape: str, path: Path, tmp_path: Path, tiny_models: dict, **_) -> None:
    out = tmp_path / "grpo"
    rewards = json.dumps([{"name": name} for name in SHAPES[shape]["rewards"]])
    run_cli("grpo", *train_args("grpo", path, out, tiny_models[FAMILY]), f"rewards={rewards}", check=True)
    metrics = last_metrics(out)
    assert math.isfinite(metrics["loss"])
    for name in SHAPES[shape]["rewards"]:
        value = metrics.get(f"rewards/{name}/mean")
        assert value is not None and math.isfinite(value), f"reward {name} scored nothing: {metrics}"


def check_eval(shape: str, path: Path, tmp_path: Path, tiny_models: dict, **_) -> None:
    out = tmp_path / "eval"
    proc = run_cli(
        "eval", "--model", str(tiny_models[FAMILY]), "--data", str(path), "--out", str(out), "max_new_tokens=8"
    )
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    assert sorted(str(r["id"]) for r in rows) == sorted(str(r.id) for r in SHAPES[shape]["records"])
    assert all(len(r["outputs"]) == 1 and r["task"] == SHAPES[shape]["records"][0].task for r in rows)


def sft_answer(record: Record) -> str:
    """The answer an SFT row teaches for the record: its own last answer, or the target in the family's
    convention. Scored as a model output, it must be a hit: SFT teaches what eval and score count."""
    row = RowBuilder("sft", get_family(FAMILY)).row(record)
    return "".join(part["text"] for part in row["messages"][-1]["content"])


def score_line(record: Record, task: str) -> dict:
    width, height = record.image_sizes[record.image_index]
    line = {"id": record.id, "output": sft_answer(record), "width": width, "height": height, "family": FAMILY}
    if task == "detection":
        return line | {"task": task, "gt": record.boxes, "gt_labels": record.labels}
    if task == "qa":
        return line | {"task": task, "gt": record.answer, "choices": record.choices}
    return line | {"task": task, "gt": record.boxes[0]}


def check_score(shape: str, path: Path, tmp_path: Path, **_) -> None:
    records = records_of(path)
    preds = write_jsonl(tmp_path / "preds.jsonl", [score_line(r, SHAPES[shape]["score_task"]) for r in records])
    proc = run_cli("score", str(preds), "--json", "--details", str(tmp_path / "details.jsonl"))
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads(proc.stdout.strip().splitlines()[-1])
    details = [json.loads(x) for x in (tmp_path / "details.jsonl").read_text().splitlines()]
    assert [d["hit"] for d in details] == [True] * len(records)
    assert metrics["n"] == len(records) and metrics["accuracy"] == 1.0


@pytest.mark.parametrize("family", ["qwen2-vl", "qwen2.5-vl", "qwen3-vl"])
@pytest.mark.parametrize("shape", ["rec", "multi_image", "point", "detection"])
def test_sft_target_of_every_family_scores_as_a_hit(shape, family, data):
    """A record without its own answer turn is taught its target in the family's convention: every box of
    a detection record with its label, the element's centre for a point."""
    for record in records_of(data[shape]):
        line = score_line(record, SHAPES[shape]["score_task"]) | {"family": family}
        line["output"] = target_text(record, get_family(family))
        assert score_row(line, "preds.jsonl", 1).result.hit, line


CHECKS = {name: globals()[f"check_{name}"] for name in CONSUMERS}
XFAIL: dict[tuple[str, str], str] = {}


@pytest.mark.parametrize("consumer", CONSUMERS)
@pytest.mark.parametrize("shape", list(SHAPES))
def test_shape_through_consumer(shape, consumer, data, tmp_path, tiny_models, request):
    if (shape, consumer) in XFAIL:
        request.applymarker(pytest.mark.xfail(reason=XFAIL[shape, consumer], strict=True))
    CHECKS[consumer](shape, data[shape], tmp_path=tmp_path, tiny_models=tiny_models)


# -- a record whose markers are not one per image ------------------------------------------------------------


@pytest.fixture(scope="module")
def miscounted(data) -> Path:
    """Line 2 of this file has two markers for one image."""
    good = json.loads(data["cot"].read_text().splitlines()[0])
    bad = good | {"id": "bad", "messages": [{"role": "user", "content": "<image><image>Find it."}, good["messages"][1]]}
    return write_jsonl(data["cot"].parent / "miscounted.jsonl", [good, bad])


@pytest.mark.parametrize("consumer", ["validate", "sft", "grpo", "eval"])
def test_marker_count_mismatch_is_one_line_naming_file_and_line(consumer, miscounted, tmp_path, tiny_models):
    model = tiny_models[FAMILY]
    if consumer == "validate":
        proc = run_cli("data", "validate", str(miscounted))
    elif consumer == "eval":
        proc = run_cli("eval", "--model", str(model), "--data", str(miscounted), "--out", str(tmp_path / "eval"))
    else:
        proc = run_cli(consumer, *train_args(consumer, miscounted, tmp_path / consumer, model))
    assert proc.returncode == 2
    err = proc.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.endswith(
        f"{miscounted}:2: field 'messages': 2 <image> placeholders for 1 images (expected none or one per image)"
    )
