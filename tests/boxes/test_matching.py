"""Greedy one-to-one matching of multi-box answers, and the detection judgement built on it."""

import pytest

from groundrl.boxes import Detection, judge_detections, match_boxes


def test_best_pairs_first_and_one_to_one():
    gts = [[0, 0, 10, 10], [20, 0, 30, 10]]
    preds = [[0, 0, 10, 8], [0, 0, 10, 10], [21, 0, 30, 10]]
    matches = match_boxes(preds, gts, 0.5)
    assert [(m.pred, m.gt) for m in matches] == [(1, 0), (2, 1)]  # the exact box wins gt 0; pred 0 is left over
    assert [m.iou for m in matches] == [1.0, pytest.approx(0.9)]
    assert match_boxes(preds, gts, 0.95) == [matches[0]]


def test_detection_judgement_counts_labels_only_when_the_target_has_them():
    dets = [Detection([0, 0, 10, 10], "Cat "), Detection([20, 0, 30, 10], "cat")]
    gts = [[0, 0, 10, 10], [20, 0, 30, 10]]
    assert judge_detections(dets, gts).hit
    judged = judge_detections(dets, gts, ["cat", "dog"])
    assert judged.f1 == pytest.approx(0.5) and not judged.hit  # case and spaces do not matter; names do
    assert judge_detections([], []).f1 == 1.0 and judge_detections([], gts).f1 == 0.0
