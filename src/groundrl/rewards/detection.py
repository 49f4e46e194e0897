"""Multi-box (detection) rewards, VLM-R1's open-vocabulary detection rewards among them.

An answer is any number of boxes, parsed by the one parser (`groundrl.boxes.parse_detections`): VLM-R1's OVD
form is a JSON list `[{"bbox_2d": [x1, y1, x2, y2], "label": "..."}, ...]`. The targets are the row's
`gt_boxes` and, when given, `gt_labels`. No target boxes (an empty list) means nothing to find: an answer
with no boxes then earns 1, any box 0. An answer with no boxes against targets earns 0.

VLM-R1's rewards (its `accu_reward_method`s), as GroundRL computes them:
- `od_ap`: COCO mAP@[.5:.95] (pycocotools), every box at confidence 1 in answer order; with labels, one
  category per target label, and a box whose label names no target is left out (as VLM-R1 does);
- `od_ap50`: the same at IoU 0.5;
- `odLength`: `od_ap` x min(1, n_gt / n_pred), so that over-predicting does not pay;
- `weighted_sum`: (alpha * position + beta * label + gamma * completeness) / (alpha + beta + gamma) over a
  greedy IoU >= tau matching; position: sum of matched IoUs / n_gt (a pair with the wrong label counts 0),
  label: correct-label pairs / n_gt, completeness: 1 - (miss rate + false-alarm rate) / 2; VLM-R1's
  defaults alpha 0.7, beta 0, gamma 0.3, tau 0.5.
Differences from VLM-R1: labels compare case-insensitively, and IoU is continuous (VLM-R1's weighted_sum counts
pixels inclusively, +1 per side).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Mapping, Sequence
from typing import Any

from groundrl.boxes.matching import label_key, labelled_matches, match_boxes
from groundrl.boxes.parse import Detection
from groundrl.boxes.score import HIT_IOU, Prediction, judge_detections, predict_detections
from groundrl.rewards.columns import applies_to, detection_row, frame_of, per_row

AP_ALL, AP_50 = 0, 1  # indices into COCOeval.stats


def _answer(text: str, row: Mapping[str, Any]) -> list[Detection]:
    return predict_detections(text, frame_of(row), row["width"], row["height"])


def _detection_reward(completions: Sequence[Any], columns: Mapping[str, Any], score) -> list[float | None]:
    """score(answer detections, gt boxes, gt labels) per detection row, None elsewhere."""
    return per_row(
        completions,
        columns,
        detection_row,
        lambda text, row: score(_answer(text, row), list(row["gt_boxes"]), row["gt_labels"]),
    )


def _empty_case(dets: Sequence[Detection], gts: Sequence[Sequence[float]]) -> float | None:
    """The reward when either side is empty, else None."""
    if not gts:
        return float(not dets)
    if not dets:
        return 0.0
    return None


def detection_predictions(
    completions: Sequence[Any], columns: Mapping[str, Any], tau: float = HIT_IOU
) -> list[Prediction | None]:
    """Each multi-box answer judged against its row's `gt_boxes` / `gt_labels` by the one scorer (None where
    not a detection task): the same boxes, F1 and hit as `groundrl score` and `groundrl eval`."""
    return per_row(
        completions,
        columns,
        detection_row,
        lambda text, row: judge_detections(_answer(text, row), row["gt_boxes"], row["gt_labels"], tau),
    )


def coco_ap(
    dets: Sequence[Detection], gts: Sequence[Sequence[float]], gt_labels: Sequence[str] | None, stat: int = AP_ALL
) -> float:
    """COCO AP (`stat`: AP_ALL for mAP@[.5:.95], AP_50) of one image's answer against its targets."""
    empty = _empty_case(dets, gts)
    if empty is not None:
        return empty
    # pycocotools (and numpy) load here, not at import: checking a config must not pay for them
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    names = [label_key(label) for label in gt_labels] if gt_labels is not None else ["object"] * len(gts)
    category = {name: k + 1 for k, name in enumerate(dict.fromkeys(names))}
    coco = COCO()
    coco.dataset = {
        "images": [{"id": 1, "width": 1, "height": 1}],
        "categories": [{"id": i, "name": n} for n, i in category.items()],
        "annotations": [
            {"id": k + 1, "image_id": 1, "category_id": category[n], "bbox": _xywh(g), "area": _area(g), "iscrowd": 0}
            for k, (g, n) in enumerate(zip(gts, names, strict=True))
        ],
    }
    results = [
        {"image_id": 1, "category_id": category[name], "bbox": _xywh(d.box), "score": 1.0}
        for d in dets
        if (name := label_key(d.label) if gt_labels is not None else "object") in category
    ]
    if not results:
        return 0.0
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
        evaluator = COCOeval(coco, coco.loadRes(results), "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return max(0.0, float(evaluator.stats[stat]))


def _xywh(box: Sequence[float]) -> list[float]:
    return [box[0], box[1], box[2] - box[0], box[3] - box[1]]


def _area(box: Sequence[float]) -> float:
    return (box[2] - box[0]) * (box[3] - box[1])


def weighted_sum_score(
    dets: Sequence[Detection],
    gts: Sequence[Sequence[float]],
    gt_labels: Sequence[str] | None,
    alpha: float = 0.7,
    beta: float = 0.0,
    gamma: float = 0.3,
    tau: float = 0.5,
) -> float:
    """VLM-R1's weighted_sum of position, label and completeness scores (see the module docstring)."""
    empty = _empty_case(dets, gts)
    if empty is not None:
        return empty
    matches = match_boxes([d.box for d in dets], gts, tau)
    good = labelled_matches(matches, [d.label for d in dets], gt_labels)
    position = sum(m.iou for m in good) / len(gts)
    label = len(good) / len(gts)
    completeness = 1.0 - ((len(gts) - len(matches)) / len(gts) + (len(dets) - len(matches)) / len(dets)) / 2.0
    return (alpha * position + beta * label + gamma * completeness) / (alpha + beta + gamma)


_DOC_COLUMNS = {
    "gt_boxes": [[[0, 0, 10, 10], [50, 50, 70, 70]]],
    "width": [100],
    "height": [100],
    "task": ["detection"],
}


@applies_to(detection_row)
def detection_f1(completions: Sequence[Any], tau: float = 0.5, **columns: Any) -> list[float | None]:
    """F1 of greedy IoU >= tau matching between the answer's boxes and `gt_boxes` (labels respected when given).

    >>> detection_f1(["[0, 0, 10, 10] [90, 90, 99, 99]"], **_DOC_COLUMNS)
    [0.5]
    """
    return [None if p is None else p.f1 for p in detection_predictions(completions, columns, tau)]


@applies_to(detection_row)
def detection_map(completions: Sequence[Any], **columns: Any) -> list[float | None]:
    """COCO mAP@[.5:.95] of the answer's boxes against `gt_boxes`, ignoring labels.

    Both targets exactly: 1. One of two at IoU 0.64: a hit at 3 of the 10 thresholds (0.5, 0.55, 0.6), each
    with AP 51/101 on COCO's 101-point recall grid (precision 1 up to recall 1/2), so 3 / 10 * 51 / 101.

    >>> detection_map(["[0, 0, 10, 10] [50, 50, 70, 70]"], **_DOC_COLUMNS)
    [1.0]
    >>> detection_map(["[1, 1, 9, 9]"], **_DOC_COLUMNS)
    [0.15148514851485145]
    """
    return _detection_reward(completions, columns, lambda d, g, labels: coco_ap(d, g, None))


@applies_to(detection_row)
def od_ap(completions: Sequence[Any], **columns: Any) -> list[float | None]:
    """VLM-R1's `od_ap`: COCO mAP@[.5:.95] against `gt_boxes`, labels respected when `gt_labels` is given.

    >>> answer = '[{"bbox_2d": [0, 0, 10, 10], "label": "cat"}, {"bbox_2d": [50, 50, 70, 70], "label": "dog"}]'
    >>> right, swapped = [["cat", "dog"]], [["dog", "cat"]]
    >>> round(od_ap([answer], **_DOC_COLUMNS, gt_labels=right)[0], 6)
    1.0
    >>> od_ap([answer], **_DOC_COLUMNS, gt_labels=swapped)
    [0.0]
    """
    return _detection_reward(completions, columns, lambda d, g, labels: coco_ap(d, g, labels, AP_ALL))


@applies_to(detection_row)
def od_ap50(completions: Sequence[Any], **columns: Any) -> list[float | None]:
    """VLM-R1's `od_ap50`: COCO AP at IoU 0.5 (a box with IoU 0.6 counts in full).

    >>> od_ap50(["[0, 0, 10, 6] [50, 50, 70, 70]"], **_DOC_COLUMNS)
    [1.0]
    """
    return _detection_reward(completions, columns, lambda d, g, labels: coco_ap(d, g, labels, AP_50))


def _od_length(dets: Sequence[Detection], gts: Sequence[Sequence[float]], labels: Sequence[str] | None) -> float:
    ap = coco_ap(dets, gts, labels, AP_ALL)
    return ap * min(1.0, len(gts) / len(dets)) if dets else ap


@applies_to(detection_row)
def od_length(completions: Sequence[Any], **columns: Any) -> list[float | None]:
    """VLM-R1's `odLength`: od_ap x min(1, n_gt / n_pred), so that extra boxes cost reward.

    >>> od_length(["[0, 0, 10, 10] [50, 50, 70, 70] [80, 80, 90, 90] [1, 60, 9, 69]"], **_DOC_COLUMNS)
    [0.5]
    """
    return _detection_reward(completions, columns, _od_length)


@applies_to(detection_row)
def weighted_sum(
    completions: Sequence[Any],
    alpha: float = 0.7,
    beta: float = 0.0,
    gamma: float = 0.3,
    tau: float = 0.5,
    **columns: Any,
) -> list[float | None]:
    """VLM-R1's `weighted_sum`: (alpha * position + beta * label + gamma * completeness) / (alpha + beta + gamma).

    One of two targets found exactly, nothing extra: position 1/2, completeness 1 - (1/2 + 0) / 2 = 3/4,
    so 0.7 * 0.5 + 0.3 * 0.75 = 0.575.

    >>> [round(v, 3) for v in weighted_sum(["[0, 0, 10, 10]"], **_DOC_COLUMNS)]
    [0.575]
    """
    return _detection_reward(
        completions, columns, lambda d, g, labels: weighted_sum_score(d, g, labels, alpha, beta, gamma, tau)
    )
