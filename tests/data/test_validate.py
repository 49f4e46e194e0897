"""A corpus of broken inputs, one file per failure kind: each stops `groundrl data validate` with a one-line
error naming file, line and field and exit status 2; with --on-error skip the counts are exact."""

import json
from pathlib import Path

import pytest

from groundrl.data.formats.base import ReadContext
from groundrl.data.pipeline import ReadReport, Source, read_sources
from helpers import run_cli

BROKEN = Path(__file__).parent / "broken"

# file stem -> (field named in the error, reason, needs --images)
KINDS = {
    "not_json": (None, "not_json", False),
    "not_object": (None, "not_object", False),
    "blank_line": (None, "blank_line", False),
    "missing_field": ("images", "missing_field", False),
    "bad_type": ("images", "bad_type", False),
    "unknown_field": ("bbox", "unknown_field", False),
    "bad_box": ("boxes[0]", "bad_box", False),
    "bad_box_nan": ("boxes[0]", "bad_box", False),
    "inverted_box": ("boxes[0]", "inverted_box", False),
    "zero_area_box": ("boxes[0]", "zero_area_box", False),
    "box_outside_image": ("boxes[0]", "box_outside_image", False),
    "empty_expression": ("question", "empty_expression", False),
    "image_count_mismatch": ("question", "image_count_mismatch", False),
    "missing_image": ("images[0]", "missing_image", True),
    "unreadable_image": ("images[0]", "unreadable_image", True),
    "truncated_image": ("images[0]", "truncated_image", True),
    "empty_image": ("images[0]", "empty_image", True),
    "image_size_mismatch": ("image_sizes[0]", "image_size_mismatch", True),
}


def test_corpus_is_complete():
    assert {p.stem for p in BROKEN.glob("*.jsonl")} == set(KINDS)


@pytest.mark.parametrize("kind", list(KINDS))
def test_stop_at_first_error(kind):
    field, _, images = KINDS[kind]
    path = BROKEN / f"{kind}.jsonl"
    proc = run_cli("data", "validate", str(path), *(["--images"] if images else []))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert f"{path}:2:" in lines[0]
    if field:
        assert f"field '{field}'" in lines[0]


@pytest.mark.parametrize("kind", list(KINDS))
def test_skip_counts_exactly(kind, tmp_path):
    field, reason, images = KINDS[kind]
    path = BROKEN / f"{kind}.jsonl"
    sidecar = tmp_path / "rejected.jsonl"
    args = ["data", "validate", str(path), "--on-error", "skip", "--rejected", str(sidecar)]
    proc = run_cli(*args, *(["--images"] if images else []))
    assert proc.returncode == 1
    assert "3 items: 2 accepted, 1 rejected" in proc.stdout
    assert f"rejected {reason}: 1" in proc.stdout
    (rejected,) = [json.loads(x) for x in sidecar.read_text().splitlines()]
    assert rejected["line"] == 2 and rejected["reason"] == reason and rejected["field"] == field
    assert rejected["raw"] == path.read_text().splitlines()[1]


def test_pixel_limit(tmp_path):
    proc = run_cli("data", "validate", str(BROKEN / "image_size_mismatch.jsonl"), "--images", "--max-pixels", "1000")
    assert proc.returncode == 2 and "exceeds the 1,000-pixel limit" in proc.stderr and ":1:" in proc.stderr


def test_accepted_plus_rejected_is_input_lines(tmp_path):
    lines = []
    for kind, (_, _, images) in KINDS.items():
        if not images:
            lines += (BROKEN / f"{kind}.jsonl").read_text().splitlines()
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(lines) + "\n")
    report = ReadReport()
    for workers in (1, 2):
        report = ReadReport()
        accepted = list(
            read_sources([Source(path, "groundrl", BROKEN)], on_error="skip", report=report, workers=workers)
        )
        assert report.total == len(lines) and report.accepted + report.n_rejected == len(lines)
        assert len(accepted) == report.accepted == 2 * sum(1 for k in KINDS.values() if not k[2])


def test_missing_file_is_one_line():
    proc = run_cli("data", "validate", "/nonexistent/file.jsonl")
    assert proc.returncode == 2 and "no such file" in proc.stderr and "Traceback" not in proc.stderr


def test_json_array_errors_name_the_index(tmp_path):
    items = json.loads((Path(__file__).parent / "fixtures" / "screenspot.json").read_text())
    items[1]["bbox"] = [0, 0, -16, 16]
    path = tmp_path / "ss.json"
    path.write_text(json.dumps(items))
    proc = run_cli(
        "data",
        "validate",
        str(path),
        "-f",
        "screenspot",
        "--image-root",
        str(Path(__file__).parent / "fixtures" / "img"),
    )
    assert proc.returncode == 2 and f"{path}[1]: field 'boxes[0]': inverted box" in proc.stderr


def test_read_context_type_errors():
    ctx = ReadContext("f.jsonl", 7, Path("."))
    with pytest.raises(Exception, match=r"f.jsonl:7: field 'sent': expected str, got int"):
        ctx.get({"sent": 3}, "sent", str)


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ('{"id": "b", "images": ["a.png"], "question": 5, "boxes": [[1, 1, 2, 2]]}', "question"),
        (
            '{"id": "b", "images": ["a.png"], "question": "x", "boxes": [[1, 1, 2, 2]], "image_index": true}',
            "image_index",
        ),
        ('{"id": "b", "images": ["a.png"], "question": "x", "boxes": [[1, 1, 2, 2]], "meta": []}', "meta"),
        ('{"id": ["b"], "images": ["a.png"], "question": "x", "boxes": [[1, 1, 2, 2]]}', "id"),
        (
            '{"id": "b", "images": ["a.png"], "messages": [{"role": "user", "content": 3}], "boxes": [[1, 1, 2, 2]]}',
            "messages[0]",
        ),
        (
            '{"id": "b", "images": ["a.png"], "question": "x", "boxes": [[1, 1, 2, 2]], "image_sizes": [[1, true]]}',
            "image_sizes",
        ),
        ('{"id": "b", "images": ["a.png"], "question": "x", "task": "rec"}', "boxes"),
        ('{"id": "b", "images": ["a.png"], "question": "x", "task": "qa"}', "answer"),
    ],
)
def test_wrong_types_are_one_line_errors(tmp_path, line, field):
    path = tmp_path / "bad.jsonl"
    path.write_text(line + "\n")
    proc = run_cli("data", "validate", str(path))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"{path}:1: field '{field}'" in proc.stderr, proc.stderr


def test_stats_cli(tmp_path):
    fixtures = Path(__file__).parent / "fixtures"
    png = tmp_path / "stats.png"
    proc = run_cli("data", "stats", str(fixtures / "groundrl.jsonl"), "--png", str(png), "--json", check=True)
    stats = json.loads(proc.stdout.strip().splitlines()[-1])
    assert stats["n"] == 3 and stats["by_task"] == {"rec": 1, "multi_image": 1, "qa": 1}
    assert stats["images_per_record"] == {"1": 2, "2": 1}
    assert stats["box_area_fraction"]["max"] == pytest.approx(1.0)  # the 40x40 box in the 40x40 image
    assert png.stat().st_size > 5000
