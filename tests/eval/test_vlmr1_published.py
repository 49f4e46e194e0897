"""VLM-R1's published evaluation outputs, scored by the one scorer, give the published accuracies and agree with
the publisher's verdict on every one of the 2,000 samples (see ../shared/realdata/vlm-r1/PROVENANCE.md)."""

import json
from pathlib import Path

import pytest

from groundrl.eval.scoring import score_jsonl
from groundrl.rewards import iou_threshold

REALDATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "realdata" / "vlm-r1"
PUBLISHED = {  # split -> (accuracy in percent, correct samples of 500)
    "refcoco_val": (90.6, 453),
    "refcocop_val": (85.2, 426),
    "refcocog_val": (85.2, 426),
    "refgta_subsample": (74.6, 373),
}
# The publisher compares the model's numbers with the original-pixel ground truth as they are: coords abs,
# and an image too large for clamping to touch anything.
SIZE = 10_000

pytestmark = pytest.mark.skipif(not REALDATA.is_dir(), reason=f"{REALDATA} is absent")


def published(split: str) -> dict:
    return json.loads((REALDATA / f"rec_results_{split}_qwen2_5vl_3b_instruct_r1_500.json").read_text())


def prediction_lines(results: list[dict]) -> list[dict]:
    return [
        {"id": k, "output": r["model_output"], "gt": r["ground_truth"], "width": SIZE, "height": SIZE, "coords": "abs"}
        for k, r in enumerate(results)
    ]


@pytest.mark.parametrize("split", PUBLISHED)
def test_score_reproduces_vlm_r1s_accuracy_sample_by_sample(split, tmp_path):
    accuracy, correct = PUBLISHED[split]
    results = published(split)["results"]
    assert len(results) == 500 and sum(r["correct"] for r in results) == correct
    path = tmp_path / "preds.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in prediction_lines(results)))
    with open(tmp_path / "details.jsonl", "w") as details:
        summary, bad = score_jsonl(path, details)
    metrics = summary.as_dict()
    assert not bad and metrics["n"] == 500 and metrics["parse_failures"] == 0
    assert round(100 * metrics["accuracy"], 1) == accuracy
    assert round(100 * metrics["acc@0.5"], 1) == accuracy
    scored = [json.loads(line) for line in (tmp_path / "details.jsonl").read_text().splitlines()]
    disagree = [d["id"] for d, r in zip(scored, results, strict=True) if d["hit"] != bool(r["correct"])]
    assert disagree == []
    assert [d["pred"] for d in scored] == [[float(v) for v in r["extracted_answer"]] for r in results]


def test_the_iou_reward_gives_the_same_verdicts():
    results = published("refcocog_val")["results"]
    n = len(results)
    columns = {
        "gt_box": [r["ground_truth"] for r in results],
        "width": [SIZE] * n,
        "height": [SIZE] * n,
        "convention": ["abs"] * n,
        "task": ["rec"] * n,
    }
    hits = iou_threshold([r["model_output"] for r in results], tau=0.5, **columns)
    assert hits == [float(r["correct"]) for r in results]
