"""`groundrl score` follows its contract: input fields, conventions, metrics, details and bad input."""

import json

import pytest

from helpers import run_cli, write_jsonl


def line(**kw):
    base = {"id": "a", "output": "[0, 0, 10, 10]", "gt": [0, 0, 10, 10], "width": 100, "height": 100, "coords": "abs"}
    base.update(kw)
    return base


def score_json(tmp_path, rows, *extra):
    path = write_jsonl(tmp_path / "preds.jsonl", rows)
    proc = run_cli("score", str(path), "--json", "--details", str(tmp_path / "details.jsonl"), *extra)
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads(proc.stdout.strip().splitlines()[-1])
    details = [json.loads(x) for x in (tmp_path / "details.jsonl").read_text().splitlines()]
    return metrics, details


def test_metrics_and_details(tmp_path):
    rows = [
        line(id="hit", output='{"bbox_2d": [0, 0, 10, 10]}'),
        line(id="half", output="[0, 0, 10, 5]"),  # IoU 0.5: a hit, inclusive
        line(id="low", output="[0, 0, 10, 2]"),  # IoU 0.2
        line(id="none", output="no idea"),
        line(id="pt", output="(5, 5)", task="point"),
        line(id="pt-miss", output="(50, 50)", task="point"),
    ]
    metrics, details = score_json(tmp_path, rows)
    assert metrics["n"] == 6
    assert metrics["accuracy"] == pytest.approx(3 / 6)
    assert metrics["acc@0.5"] == pytest.approx(2 / 4)
    assert metrics["acc@0.3"] == pytest.approx(2 / 4)
    assert metrics["acc@0.7"] == pytest.approx(1 / 4)
    assert metrics["miou"] == pytest.approx((1 + 0.5 + 0.2 + 0) / 4)
    assert metrics["parse_failures"] == 1
    assert [d["id"] for d in details] == ["hit", "half", "low", "none", "pt", "pt-miss"]
    assert details[3] == {"id": "none", "pred": None, "iou": 0.0, "hit": False}
    assert details[4] == {"id": "pt", "pred": [5.0, 5.0], "iou": None, "hit": True}
    assert details[1]["iou"] == pytest.approx(0.5) and details[1]["hit"] is True


@pytest.mark.parametrize(
    ("extra", "output", "expected"),
    [
        ({"family": "qwen2.5-vl", "coords": None}, "[322, 238, 644, 476]", [320, 240, 640, 480]),  # 640x480 -> 644x476
        ({"family": "qwen2-vl", "coords": None}, "<|box_start|>(500,500),(1000,1000)<|box_end|>", [320, 240, 640, 480]),
        ({"family": "qwen3-vl", "coords": None}, '{"bbox_2d": [500, 500, 1000, 1000]}', [320, 240, 640, 480]),
        ({"coords": "norm1"}, "[0.5, 0.5, 1, 1]", [320, 240, 640, 480]),
        ({"coords": "norm1000"}, "[500, 500, 1000, 1000]", [320, 240, 640, 480]),
        ({"coords": "resized", "input_width": 320, "input_height": 240}, "[160, 120, 320, 240]", [320, 240, 640, 480]),
        # explicit input size beats smart resize for qwen2.5-vl
        (
            {"family": "qwen2.5-vl", "coords": None, "input_width": 320, "input_height": 240},
            "[160, 120, 320, 240]",
            [320, 240, 640, 480],
        ),
        # swapped corners are reordered, out-of-image coordinates clamped
        ({"coords": "abs"}, "[700, 500, 320, 240]", [320, 240, 640, 480]),
        ({"coords": "abs"}, "[-5, -5, 10, 10]", [0, 0, 10, 10]),
    ],
)
def test_conventions(tmp_path, extra, output, expected):
    row = line(output=output, width=640, height=480, gt=[320, 240, 640, 480])
    row.update(extra)
    row = {k: v for k, v in row.items() if v is not None}
    _, details = score_json(tmp_path, [row])
    assert details[0]["pred"] == pytest.approx(expected)


def test_point_answers_with_a_box_click_its_centre(tmp_path):
    # as `groundrl eval` and the point_in_box reward do: the one scorer's click_point
    rows = [
        line(id="box", output="[2, 2, 6, 8]", task="point"),
        line(id="far", output="[20, 20, 40, 40]", task="point"),
    ]
    metrics, details = score_json(tmp_path, rows)
    assert details[0] == {"id": "box", "pred": [4.0, 5.0], "iou": None, "hit": True}
    assert details[1]["pred"] == [30.0, 30.0] and details[1]["hit"] is False
    assert metrics["n_point"] == 2 and metrics["accuracy"] == 0.5


def test_detection_lines_are_matched_box_to_box(tmp_path):
    ovd = '[{"bbox_2d": [0, 0, 10, 10], "label": "cat"}, {"bbox_2d": [50, 50, 60, 60], "label": "dog"}]'
    gts = [[0, 0, 10, 10], [50, 50, 60, 60]]
    rows = [
        line(id="all", output=ovd, task="detection", gt=gts),
        line(id="labels", output=ovd, task="detection", gt=gts, gt_labels=["dog", "cat"]),  # names swapped
        line(id="half", output="[0, 0, 10, 10]", task="detection", gt=gts),
    ]
    metrics, details = score_json(tmp_path, rows)
    assert [d["hit"] for d in details] == [True, False, False]
    assert [d["f1"] for d in details] == [1.0, 0.0, pytest.approx(2 / 3)]
    assert details[0]["pred"] == [[0.0, 0.0, 10.0, 10.0], [50.0, 50.0, 60.0, 60.0]] and details[0]["iou"] is None
    assert metrics["n_detection"] == 3 and metrics["n_box"] == 0 and metrics["accuracy"] == pytest.approx(1 / 3)


def test_qa_lines_are_judged_by_the_option_or_text_they_pick(tmp_path):
    # as `groundrl eval` judges one sample of a qa record: no image size or convention needed
    choices = ["red", "green"]
    rows = [
        {"id": "letter", "output": "<answer>(B)</answer>", "gt": "B", "task": "qa", "choices": choices},
        {"id": "option", "output": "It is green.", "gt": "B", "task": "qa", "choices": choices},
        {"id": "wrong", "output": "<answer>A</answer>", "gt": "green", "task": "qa", "choices": choices},
        {"id": "text", "output": "<answer>A Red Square.</answer>", "gt": "a red square", "task": "qa"},
        {"id": "none", "output": "", "gt": "B", "task": "qa", "choices": choices},
    ]
    metrics, details = score_json(tmp_path, rows)
    assert [(d["pred"], d["hit"], d["iou"]) for d in details] == [
        ("B", True, None),
        ("B", True, None),
        ("A", False, None),
        ("a red square", True, None),
        (None, False, None),
    ]
    assert metrics["n_qa"] == 5 and metrics["n_box"] == 0 and metrics["accuracy"] == pytest.approx(3 / 5)
    assert metrics["parse_failures"] == 1


def test_rich_table_without_json(tmp_path):
    path = write_jsonl(tmp_path / "p.jsonl", [line()])
    proc = run_cli("score", str(path))
    assert proc.returncode == 0
    assert "acc@0.5" in proc.stdout and "1.0000" in proc.stdout


BAD = [
    ("{not json", None, "not valid JSON"),
    (json.dumps({k: v for k, v in line().items() if k != "gt"}), "gt", "missing"),
    (json.dumps({k: v for k, v in line().items() if k != "output"}), "output", "missing"),
    (json.dumps({k: v for k, v in line().items() if k != "width"}), "width", "missing"),
    (json.dumps(line(gt=[1, 2, 3])), "gt", "4 finite numbers"),
    (json.dumps(line(gt=[1, 2, 3, "x"])), "gt", "4 finite numbers"),
    ('{"id": "a", "output": "", "gt": [0, 0, NaN, 1], "width": 10, "height": 10, "coords": "abs"}', "gt", "4 finite"),
    (json.dumps({k: v for k, v in line().items() if k != "coords"}), "coords", "missing coordinate convention"),
    (json.dumps(line(coords="pixels")), "coords", "unknown convention"),
    (json.dumps(line(coords=None, family="llava")), "family", "unknown family"),
    (json.dumps(line(coords="resized")), "input_width", "finite number"),
    (json.dumps(line(width=0)), "width", "positive"),
    (json.dumps(line(task="polygon")), "task", "expected one of box, point, detection, qa"),
    (json.dumps(line(output=None)), "output", "expected a string"),
    (json.dumps(line(task="detection")), "gt", "a list of boxes"),  # one box where a list belongs
    (json.dumps(line(task="detection", gt=[[0, 0, 1, 1]], gt_labels=["a", "b"])), "gt_labels", "expected 1 labels"),
    ("[1, 2]", None, "expected a JSON object"),
    (json.dumps({"id": "q", "output": "A", "gt": ["A"], "task": "qa"}), "gt", "expected the target answer"),
    (json.dumps({"id": "q", "output": "A", "gt": "A", "task": "qa", "choices": "AB"}), "choices", "list of strings"),
]


@pytest.mark.parametrize(("bad", "field", "message"), BAD)
def test_bad_line_exits_2_naming_file_line_field(tmp_path, bad, field, message):
    path = write_jsonl(tmp_path / "preds.jsonl", [line(id="ok"), bad, line(id="ok2")])
    proc = run_cli("score", str(path), "--json")
    assert proc.returncode == 2
    err = proc.stderr.strip()
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in proc.stderr
    assert f"{path}:2:" in err
    if field:
        assert f"field '{field}'" in err
    assert message in err


def test_skip_bad_counts_and_scores_the_rest(tmp_path):
    rows = [line(id="ok"), BAD[0][0], BAD[4][0], line(id="ok2", output="nothing")]
    path = write_jsonl(tmp_path / "preds.jsonl", rows)
    proc = run_cli("score", str(path), "--json", "--skip-bad")
    assert proc.returncode == 0
    metrics = json.loads(proc.stdout.strip().splitlines()[-1])
    assert metrics["n"] == 2 and metrics["skipped"] == 2 and metrics["acc@0.5"] == 0.5
    assert f"{path}:2:" in proc.stderr and f"{path}:3: field 'gt'" in proc.stderr
    assert "skipped 2 bad line(s)" in proc.stderr


def test_missing_file_is_one_line_error(tmp_path):
    proc = run_cli("score", str(tmp_path / "nope.jsonl"))
    assert proc.returncode == 2
    assert "nope.jsonl" in proc.stderr and "Traceback" not in proc.stderr


def test_parallel_equals_serial_and_keeps_line_numbers(tmp_path):
    from groundrl.errors import InputError
    from groundrl.eval.scoring import score_jsonl

    rows = [line(id=i, output=f"[0, 0, 10, {i % 12}]") for i in range(95)]
    rows[77] = "{broken"
    path = write_jsonl(tmp_path / "p.jsonl", rows)
    results = {}
    for workers in (1, 2):
        with open(tmp_path / f"d{workers}.jsonl", "w") as out:
            summary, bad = score_jsonl(path, out, skip_bad=True, workers=workers, batch_lines=10)
        results[workers] = (summary.as_dict(), [str(e) for e in bad], (tmp_path / f"d{workers}.jsonl").read_text())
    assert results[1] == results[2]
    assert results[2][1] == [
        f"{path}:78: not valid JSON (Expecting property name enclosed in double quotes at column 2)"
    ]
    with pytest.raises(InputError, match=":78:"):
        score_jsonl(path, None, skip_bad=False, workers=2, batch_lines=10)
