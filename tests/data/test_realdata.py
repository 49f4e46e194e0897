"""Real files published by VLM-R1, ViGoRL and EGM (../shared/realdata, each folder with its PROVENANCE.md)
validate, read as their publishers wrote them, and convert to GroundRL's records and back unchanged."""

import json
import logging
from collections import Counter
from pathlib import Path

import pytest

from groundrl.data.containers import load_json_array
from groundrl.data.pipeline import Source, read_sources
from helpers import run_cli

ROOT = Path(__file__).resolve().parents[2]
REAL = next((p for p in (ROOT.parent / "shared" / "realdata", ROOT / "shared" / "realdata") if p.is_dir()), None)

# (file under realdata, format, records, images published)
FILES = [
    ("vlm-r1/gui_multi-image.jsonl", "vlm-r1", 1797, False),
    ("vigorl/mllm_demo.json", "sharegpt", 6, True),
    ("egm/single_images.json", "qwen-vl", 3, True),
]

pytestmark = pytest.mark.skipif(REAL is None, reason="../shared/realdata is not in this checkout")


def path_of(name: str) -> Path:
    return REAL / name


def read(name: str, fmt: str) -> list:
    return list(read_sources([Source(path_of(name), fmt)]))


def items(path: Path) -> list[dict]:
    """A file's items as published: a JSON array (trailing comma tolerated) or one object per line."""
    if path.suffix == ".json":
        return load_json_array(path)
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize(("name", "fmt", "count", "has_images"), FILES)
def test_validates(name, fmt, count, has_images):
    proc = run_cli("data", "validate", str(path_of(name)), "-f", fmt, *(["--images"] if has_images else []))
    assert proc.returncode == 0, proc.stderr
    assert f"{count:,} items: {count:,} accepted, 0 rejected" in proc.stdout


def test_unpublished_images_are_reported_with_images():
    proc = run_cli("data", "validate", str(path_of(FILES[0][0])), "-f", "vlm-r1", "--images")
    assert proc.returncode == 2
    assert f"{path_of(FILES[0][0])}:1: field 'images[0]':" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize(("name", "fmt", "count", "_"), FILES)
def test_convert_round_trip(tmp_path, name, fmt, count, _):
    source = path_of(name)
    unified, back = tmp_path / "records.jsonl", tmp_path / f"back{source.suffix}"
    run_cli("data", "convert", str(source), str(unified), "--from", fmt, "--to", "groundrl", check=True)
    assert len(unified.read_text().splitlines()) == count
    run_cli(
        "data",
        "convert",
        str(unified),
        str(back),
        "--from",
        "groundrl",
        "--to",
        fmt,
        "--out-image-root",
        str(source.parent),
        check=True,
    )
    assert items(back) == items(source)


def test_vlmr1_gui_rows():
    records = read(*FILES[0][:2])
    assert len(records) == 1797 and {r.task for r in records} == {"qa"}
    assert all(len(r.images) == 2 and r.image_token_count() == 0 for r in records)  # the loader adds them
    assert all(r.image_sizes is None for r in records)  # the images are not published
    assert Counter(r.answer for r in records) == {"Operation No Response": 906, "Unexpected Task Result": 891}
    assert records[0].id == 1 and records[0].images[0] == str(REAL / "vlm-r1/GOOGLE_APPS-13827913961707074815_13.png")


def test_vigorl_llamafactory_demo():
    records = read(*FILES[1][:2])
    assert len(records) == 6 and all(r.task == "qa" and len(r.messages) == 4 for r in records)
    for k, record in enumerate(records):
        first, second = (m["content"] for m in record.messages if m["role"] == "user")
        assert first.startswith("<image>") and first.count("<image>") == 1
        if k in (0, 3):  # 1.jpg twice: a second marker at the end of the second user turn
            assert len(record.images) == 2 and second.endswith("<image>") and second.count("<image>") == 1
        else:
            assert len(record.images) == 1 and "<image>" not in second
        assert record.image_token_count() == len(record.images)
    assert [r.image_sizes for r in records[:3]] == [[[300, 168], [300, 168]], [[300, 199]], [[300, 166]]]


def test_egm_qwen_vl_demo(caplog):
    with caplog.at_level(logging.WARNING):
        records = read(*FILES[2][:2])
    assert f"{path_of(FILES[2][0])}:40: trailing comma before ']' ignored" in caplog.text
    assert [r.answer for r in records] == ["Yes", "6", "2014"] and {r.task for r in records} == {"qa"}
    assert [r.image_sizes for r in records] == [[[422, 359]], [[422, 359]], [[314, 281]]]
    for record in records:
        question = record.messages[0]["content"]
        assert question.endswith("\n<image>") and question.count("<image>") == 1  # after the question
