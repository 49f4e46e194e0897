"""Detection rewards on VLM-R1's open-vocabulary answers, read from the typed `gt_boxes` / `gt_labels` columns."""

import json

import pytest

from groundrl.rewards import REWARDS, RewardSpec, build_rewards
from groundrl.rewards.detection import detection_f1, od_ap, od_ap50, od_length, weighted_sum

GTS = [[0, 0, 100, 100], [200, 200, 300, 300]]


def ovd(*items):
    """VLM-R1's OVD answer: a JSON list of {"bbox_2d", "label"} in a ```json block inside <answer>."""
    body = json.dumps([{"bbox_2d": box, "label": label} for box, label in items])
    return f"<think>two things</think><answer>```json\n{body}\n```</answer>"


def columns(n=1, labels=("cat", "dog"), **kw):
    base = {
        "gt_box": None,
        "gt_boxes": GTS,
        "gt_labels": list(labels) if labels is not None else None,
        "width": 640,
        "height": 480,
        "convention": "abs",
        "task": "detection",
    } | kw
    return {k: [v] * n for k, v in base.items()}


def test_a_grpo_row_with_a_list_of_boxes_no_longer_crashes():
    # the old `gt` column held one box where detection expected a list; `gt_boxes` is always a list
    exact = ovd((GTS[0], "cat"), (GTS[1], "dog"))
    for name in ("detection", "detection_map", "od_ap", "od_ap50", "odLength", "weighted_sum"):
        assert REWARDS[name]([exact], **columns()) == [pytest.approx(1.0)], name


def test_od_ap_respects_labels_and_thresholds():
    swapped = ovd((GTS[0], "dog"), (GTS[1], "cat"))
    assert od_ap([swapped], **columns()) == [0.0]  # right places, wrong names
    assert od_ap([swapped], **columns(labels=None)) == [pytest.approx(1.0)]  # no labels: places only
    # IoU 0.62 for the cat box: a match at 3 of COCO's 10 thresholds (0.5, 0.55, 0.6)
    loose = ovd(([0, 0, 100, 62], "cat"), (GTS[1], "dog"))
    ap = od_ap([loose], **columns())[0]
    assert ap == pytest.approx((1.0 + 3 / 10) / 2, abs=1e-6)  # mean over the two categories
    assert od_ap50([loose], **columns()) == [pytest.approx(1.0)]


def test_od_length_penalises_extra_boxes():
    four = ovd((GTS[0], "cat"), (GTS[1], "dog"), ([400, 400, 420, 420], "cat"), ([500, 10, 520, 30], "dog"))
    ap = od_ap([four], **columns())[0]
    assert od_length([four], **columns()) == [pytest.approx(ap * 2 / 4)]
    assert od_length([ovd((GTS[0], "cat"))], **columns()) == od_ap([ovd((GTS[0], "cat"))], **columns())


def test_weighted_sum_position_label_completeness():
    # one exact match, one wrong label at IoU 1, one extra box:
    # position (1 + 0) / 2, completeness 1 - (0/2 + 1/3) / 2
    answer = ovd((GTS[0], "cat"), (GTS[1], "cat"), ([400, 400, 420, 420], "dog"))
    expected = (0.7 * 0.5 + 0.3 * (1 - (1 / 3) / 2)) / 1.0
    assert weighted_sum([answer], **columns()) == [pytest.approx(expected)]
    (with_labels,), _ = build_rewards([RewardSpec("weighted_sum", options={"alpha": 0, "beta": 1, "gamma": 0})])
    assert with_labels([answer], **columns()) == [pytest.approx(1 / 2)]  # label score: 1 of 2 targets


def test_empty_targets_and_empty_answers():
    none = "<answer>None</answer>"
    empty = columns(gt_boxes=[], labels=[])
    for name in ("detection", "od_ap", "odLength", "weighted_sum"):
        assert REWARDS[name]([none], **empty) == [1.0], name
        assert REWARDS[name]([ovd((GTS[0], "cat"))], **empty) == [0.0], name
        assert REWARDS[name]([none], **columns()) == [0.0], name


def test_detection_rewards_convert_the_models_frame_and_skip_other_tasks():
    # Qwen2-VL's 0-1000 grid, two boxes in its special-token form
    grid = "<|box_start|>(0,0),(156,208)<|box_end|> <|box_start|>(312,416),(468,625)<|box_end|>"
    cols = columns(labels=None, convention="norm1000")
    assert detection_f1([grid], **cols) == [1.0]
    assert od_ap50([grid], **cols) == [pytest.approx(1.0)]
    rec = columns(task="rec", gt_box=GTS[0], gt_boxes=None)
    assert od_ap([ovd((GTS[0], "cat"))], **rec) == [None]
