"""Every published format reads into records and writes back to the same content."""

import json
import pickle
import shutil
from pathlib import Path

import pytest

from groundrl.data.formats import FORMATS, WRITABLE
from groundrl.data.pipeline import Source, read_sources, write_records
from groundrl.errors import InputError
from helpers import run_cli

FIX = Path(__file__).parent / "fixtures"
IMG = FIX / "img"

# (format, fixture, image root, writes back)
CASES = [
    ("groundrl", "groundrl.jsonl", FIX, True),
    ("vlm-r1", "vlm-r1.jsonl", IMG, True),
    ("vlm-r1", "vlm-r1-ovd.jsonl", IMG, True),
    ("qwen-vl", "qwen-vl.json", IMG, True),
    ("vigorl-eval", "vigorl-eval.jsonl", IMG, True),
    ("vigorl-rl", "vigorl-rl.jsonl", IMG, True),
    ("vigorl-sft", "vigorl-sft.jsonl", IMG, True),
    ("vigorl-sft", "multiturn/vigorl-sft.jsonl", IMG, True),  # zoom-in chains: crops come back as observations
    ("egm-eval", "egm-eval.jsonl", IMG, True),
    ("egm-train", "egm-train.jsonl", IMG, True),
    ("univg-rl", "univg-rl.json", IMG, True),
    ("sharegpt", "sharegpt.json", IMG, True),
    ("screenspot", "screenspot.json", IMG, True),
    ("screenspot", "screenspot-pro.json", IMG, True),
]


def load(path: Path):
    text = path.read_text()
    return json.loads(text) if path.suffix == ".json" else [json.loads(x) for x in text.splitlines()]


def read(fmt, name, root, **kw):
    return list(read_sources([Source(FIX / name, fmt, root, **kw)]))


@pytest.mark.parametrize(("fmt", "name", "root", "_"), CASES)
def test_round_trip(tmp_path, fmt, name, root, _):
    records = read(fmt, name, root)
    assert len(records) == len(load(FIX / name))
    out = tmp_path / name
    assert write_records(records, fmt, out, image_root=root) == len(records)
    assert load(out) == load(FIX / name)


def test_every_format_is_covered():
    covered = {c[0] for c in CASES} | {"refcoco", "parquet"}
    assert covered == set(FORMATS)
    assert set(WRITABLE) <= {c[0] for c in CASES if c[3]} | {"parquet"}


def test_vlmr1_fields():
    r1, r2, r3 = read("vlm-r1", "vlm-r1.jsonl", IMG)
    assert r1.id == 1 and r1.task == "rec" and r1.boxes == [[4.5, 6, 30, 40.25]] and r1.reward_method == "iou"
    assert r1.images == [str(IMG / "a.png")] and r1.image_sizes == [[64, 48]]
    assert r2.task == "multi_image" and len(r2.images) == 2 and r2.image_token_count() == 2
    assert r3.task == "qa" and r3.answer == "1" and r3.image_sizes == [[20, 30]]  # EXIF rotation applied


def test_vlmr1_open_vocabulary_detection():
    od1, od2, od3 = read("vlm-r1", "vlm-r1-ovd.jsonl", IMG)
    assert od1.task == "detection" and od1.boxes == [[4, 6, 30, 40], [40, 2, 60, 20]]
    assert od1.labels == ["red square", "blue square"] and od1.reward_method == "od_ap"
    assert (od2.task, od2.boxes, od2.labels) == ("detection", [], [])  # "None" under a detection reward
    assert (od3.task, od3.boxes, od3.labels) == ("detection", [[0, 0, 20, 40]], ["square"])  # bare list


def test_qwen_vl_reads_vlmr1_items_from_an_array():
    q1, q2, q3 = read("qwen-vl", "qwen-vl.json", IMG)
    assert (q1.id, q1.task, q1.answer, q1.meta) == ("0", "qa", "Yes", {"id_generated": True})
    assert q1.messages[0]["content"].endswith("<image>") and q1.image_token_count() == 1
    assert q2.images == [str(IMG / "a.png"), str(IMG / "b.png")] and q2.image_token_count() == 2
    assert (q3.task, q3.boxes) == ("rec", [[0, 0, 20, 40]])


def test_norm1000_formats_convert_to_pixels():
    t1, _ = read("egm-train", "egm-train.jsonl", IMG)
    assert t1.boxes[0] == pytest.approx([62 * 64 / 1000, 125 * 48 / 1000, 469 * 64 / 1000, 833 * 48 / 1000])
    u1, u2 = read("univg-rl", "univg-rl.json", IMG)
    assert u1.boxes[0] == pytest.approx([62 * 64 / 1000, 125 * 48 / 1000, 469 * 64 / 1000, 833 * 48 / 1000])
    assert u2.image_index == 1 and u2.boxes == [[0, 0, 20, 40]]  # last image, 40x40


def test_egm_train_reads_size_from_image_when_absent(tmp_path):
    line = json.loads((FIX / "egm-train.jsonl").read_text().splitlines()[1])
    del line["height"], line["width"]
    (tmp_path / "t.jsonl").write_text(json.dumps(line) + "\n")
    (record,) = read_sources([Source(tmp_path / "t.jsonl", "egm-train", IMG)])
    assert record.image_sizes == [[40, 40]] and record.boxes == [[0, 0, 20, 40]]


def test_vigorl_answers():
    v1, v2, v3 = read("vigorl-eval", "vigorl-eval.jsonl", IMG)
    assert (v1.task, v1.boxes) == ("point", [[10, 12, 30, 20]])
    assert (v2.task, v2.answer) == ("qa", "(B) green")
    assert (v3.task, v3.answer) == ("qa", "click [12]")
    s1, s2 = read("vigorl-sft", "vigorl-sft.jsonl", IMG)
    assert s1.boxes == [[10, 12, 30, 20]] and s2.answer == "B" and len(s2.messages) == 4


def test_screenspot_versions():
    v2a, _ = read("screenspot", "screenspot.json", IMG)
    (pro,) = read("screenspot", "screenspot-pro.json", IMG)
    assert v2a.boxes == [[10, 12, 30, 20]] and v2a.task == "point" and v2a.meta["data_source"] == "web"
    assert pro.boxes == [[10, 12, 30, 20]] and pro.meta["ui_type"] == "icon" and pro.id == "pro-1"


def test_parquet_round_trip(tmp_path):
    records = read("groundrl", "groundrl.jsonl", FIX)
    write_records(records, "parquet", tmp_path / "r.parquet", image_root=FIX)
    back = list(read_sources([Source(tmp_path / "r.parquet", "parquet", FIX)]))
    for a, b in zip(records, back, strict=True):
        assert (str(a.id), a.images, a.boxes, a.question, a.answer, a.choices, a.meta, a.image_index) == (
            b.id,
            b.images,
            b.boxes,
            b.question,
            b.answer,
            b.choices,
            b.meta,
            b.image_index,
        )
    from datasets import load_dataset

    ds = load_dataset("parquet", data_files=str(tmp_path / "r.parquet"), split="train")
    assert ds.num_rows == 3 and ds[0]["boxes"] == [[4.0, 6.0, 30.0, 40.0]]


REFS = [
    {
        "ref_id": 0,
        "ann_id": 11,
        "image_id": 1,
        "split": "val",
        "category_id": 1,
        "sentences": [{"sent": "man on the left", "sent_id": 100}, {"sent": "left guy", "sent_id": 101}],
    },
    {
        "ref_id": 1,
        "ann_id": 12,
        "image_id": 2,
        "split": "testA",
        "category_id": 3,
        "sentences": [{"sent": "red car", "sent_id": 102}],
    },
    {
        "ref_id": 2,
        "ann_id": 11,
        "image_id": 1,
        "split": "train",
        "category_id": 1,
        "sentences": [{"sent": "person", "sent_id": 103}],
    },
]


@pytest.fixture
def refcoco_dir(tmp_path):
    folder = tmp_path / "refcoco"
    shutil.copytree(FIX / "refcoco", folder)
    (folder / "refs(unc).p").write_bytes(pickle.dumps(REFS, protocol=2))
    return folder


def test_refcoco_splits(refcoco_dir):
    val = list(read_sources([Source(refcoco_dir, "refcoco", IMG, split="val")]))
    assert [r.question for r in val] == ["man on the left", "left guy"]
    assert val[0].boxes == [[4, 6, 30, 40]] and val[0].image_sizes == [[64, 48]] and val[0].source == "refcoco/val"
    test_a = list(read_sources([Source(refcoco_dir, "refcoco", IMG, split="testA")]))
    assert test_a[0].boxes == [[0.5, 0.5, 20.5, 20.5]]


def test_refcoco_convert_all_splits(refcoco_dir, tmp_path):
    out = tmp_path / "out"
    run_cli("data", "convert", str(refcoco_dir), str(out), "--from", "refcoco", "--image-root", str(IMG), check=True)
    counts = {p.name: len(p.read_text().splitlines()) for p in out.iterdir()}
    assert counts == {
        "refcoco_train.jsonl": 1,
        "refcoco_val.jsonl": 2,
        "refcoco_testA.jsonl": 1,
        "refcoco_testB.jsonl": 0,
    }


def test_refcoco_pickle_with_code_is_refused(refcoco_dir):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (refcoco_dir / "refs(unc).p").write_bytes(pickle.dumps([Evil()], protocol=2))
    with pytest.raises(InputError, match=r"refusing (__builtin__|builtins)\.print"):
        list(read_sources([Source(refcoco_dir, "refcoco", IMG)]))


def test_vlmr1_several_files_and_folders(tmp_path):
    shutil.copy(FIX / "vlm-r1.jsonl", tmp_path / "a.jsonl")
    shutil.copy(FIX / "vlm-r1.jsonl", tmp_path / "b.jsonl")
    ok = run_cli(
        "data",
        "validate",
        f"{tmp_path}/a.jsonl:{tmp_path}/b.jsonl",
        "-f",
        "vlm-r1",
        "--image-root",
        f"{IMG}:{IMG}",
        "--images",
    )
    assert ok.returncode == 0 and "6 items: 6 accepted, 0 rejected" in ok.stdout
    bad = run_cli(
        "data", "validate", f"{tmp_path}/a.jsonl:{tmp_path}/b.jsonl", "-f", "vlm-r1", "--image-root", str(IMG)
    )
    assert bad.returncode == 2 and "2 files but 1 image folders" in bad.stderr


def test_convert_cli_between_formats(tmp_path):
    out = tmp_path / "sft.json"
    run_cli(
        "data",
        "convert",
        str(FIX / "egm-eval.jsonl"),
        str(out),
        "--from",
        "egm-eval",
        "--to",
        "sharegpt",
        "--image-root",
        str(IMG),
        check=True,
    )
    items = json.loads(out.read_text())
    assert items[0]["messages"][1]["content"] == "[4, 6, 30, 40]"
    assert items[0]["messages"][0]["content"].startswith("<image>")
    assert (tmp_path / items[0]["images"][0]).resolve() == (IMG / "a.png").resolve()
