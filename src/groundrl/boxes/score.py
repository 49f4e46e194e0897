"""The one scorer: parse -> convert -> judge a model output against its ground truth, in original pixels.

`groundrl score` (eval/scoring.py), `groundrl eval` (eval/judge.py) and the rewards (rewards/) all go through
these functions, so the three agree box for box:

- parse and convert: `predict_box`, `predict_point`, `click_point`, `predict_detections` take the raw text and
  the model's Frame and give original-pixel boxes/points (corners ordered, clamped to the image);
- judge: `judge_box`, `judge_point`, `judge_detections` score what was predicted against the target;
- `score_output` and `score_detections` do both for one output.

Which judgement a task gets: `box_task` (rec, multi_image; `box` in score files), `point_task` (point: a click,
right when inside the target element's box), `detection_task` (detection: several boxes); `judge_answer` judges
a text or multiple-choice answer (qa), as `groundrl eval` judges one sample of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from groundrl.boxes.answers import choice_of, expected_choice
from groundrl.boxes.conventions import Frame
from groundrl.boxes.geometry import box_center, clamp_box, clamp_point, iou, order_box, point_in_box
from groundrl.boxes.matching import f1_score, labelled_matches, match_boxes
from groundrl.boxes.parse import Detection, parse_box, parse_detections, parse_point

HIT_IOU = 0.5  # inclusive: IoU >= 0.5 is a hit, as in the RefCOCO literature

BOX_TASKS = ("box", "rec", "multi_image")
POINT_TASKS = ("point",)
DETECTION_TASKS = ("detection",)
QA_TASKS = ("qa",)


def box_task(task: str | None) -> bool:
    """A task answered with one box (a missing task counts as rec)."""
    return (task or "rec") in BOX_TASKS


def point_task(task: str | None) -> bool:
    """A task answered with a click (a point, or the centre of a box)."""
    return task in POINT_TASKS


def detection_task(task: str | None) -> bool:
    """A task answered with any number of boxes."""
    return task in DETECTION_TASKS


def qa_task(task: str | None) -> bool:
    """A task answered with a text or an option of a multiple choice."""
    return task in QA_TASKS


class Prediction(NamedTuple):
    """A judged answer, in original pixels.

    Attributes:
        pred: a box [x1, y1, x2, y2], a point [x, y], a list of boxes (detection), the option letter or
            normalised text of an answer (qa), or None when nothing parsed.
        iou: the box's IoU with the target (0 when nothing parsed); None for points and detection.
        hit: box: IoU >= threshold; point: inside the target box; detection: F1 == 1 (every target matched
            once, nothing extra).
        center_hit: the box's centre (or the point) lies in the target box.
        f1: detection only: F1 of greedy IoU matching (labels respected when the target has labels).
    """

    pred: list[float] | list[list[float]] | str | None
    iou: float | None
    hit: bool
    center_hit: bool = False
    f1: float | None = None


def predict_box(output: str, frame: Frame, width: float, height: float) -> list[float] | None:
    """Parse a box from `output`, map it to original pixels, reorder its corners and clamp it."""
    raw = parse_box(output)
    if raw is None:
        return None
    return clamp_box(order_box(frame.to_original(raw)), width, height)


def predict_point(output: str, frame: Frame, width: float, height: float) -> list[float] | None:
    """Parse a point from `output`, map it to original pixels and clamp it."""
    raw = parse_point(output)
    if raw is None:
        return None
    return clamp_point(frame.to_original(raw), width, height)


def click_point(output: str, frame: Frame, width: float, height: float) -> list[float] | None:
    """Where a click lands, in original pixels: the answer's point, or the centre of its box.

    >>> click_point('{"bbox_2d": [10, 10, 20, 30]}', Frame(1, 1), 100, 100)
    [15.0, 20.0]
    """
    box = predict_box(output, frame, width, height)
    if box is not None:
        return list(box_center(box))
    return predict_point(output, frame, width, height)


def predict_detections(output: str, frame: Frame, width: float, height: float) -> list[Detection]:
    """Every box of a multi-box answer in original pixels (ordered, clamped), with its label."""
    return [
        Detection(clamp_box(order_box(frame.to_original(d.box)), width, height), d.label)
        for d in parse_detections(output)
    ]


def judge_box(box: Sequence[float] | None, gt: Sequence[float], threshold: float = HIT_IOU) -> Prediction:
    """Judge a box (original pixels, or None when nothing parsed) against the target box.

    >>> judge_box([0, 0, 10, 10], [0, 0, 10, 20])
    Prediction(pred=[0, 0, 10, 10], iou=0.5, hit=True, center_hit=True, f1=None)
    """
    if box is None:
        return Prediction(None, 0.0, False)
    gt_box = order_box(gt)
    overlap = iou(box, gt_box)
    return Prediction(list(box), overlap, overlap >= threshold, point_in_box(box_center(box), gt_box))


def judge_point(point: Sequence[float] | None, gt: Sequence[float]) -> Prediction:
    """Judge a click (original pixels, or None) against the target element's box: inside, edges included."""
    if point is None:
        return Prediction(None, None, False)
    inside = point_in_box(point, order_box(gt))
    return Prediction(list(point), None, inside, inside)


def judge_detections(
    detections: Sequence[Detection],
    gts: Sequence[Sequence[float]],
    gt_labels: Sequence[str | None] | None = None,
    threshold: float = HIT_IOU,
) -> Prediction:
    """Judge a multi-box answer: greedy one-to-one IoU matching at `threshold`; with target labels, a pair
    counts only when the labels agree (case-insensitive).

    >>> judge_detections([Detection([0, 0, 10, 10]), Detection([50, 50, 60, 60])], [[0, 0, 10, 10]]).f1
    0.6666666666666666
    """
    gt_boxes = [order_box(g) for g in gts]
    boxes = [d.box for d in detections]
    matches = match_boxes(boxes, gt_boxes, threshold)
    good = labelled_matches(matches, [d.label for d in detections], gt_labels)
    f1 = f1_score(len(good), len(boxes), len(gt_boxes))
    return Prediction(boxes or None, None, f1 == 1.0, f1 == 1.0, f1)


def score_output(
    output: str,
    gt: Sequence[float],
    frame: Frame,
    width: float,
    height: float,
    task: str = "box",
    threshold: float = HIT_IOU,
) -> Prediction:
    """Parse, convert and judge one single-target output.

    Args:
        output: the model's raw text.
        gt: ground-truth box [x1, y1, x2, y2] in original pixels (the target element for a point task).
        frame: the model's coordinate frame (see `frame_for`).
        width, height: original image size.
        task: a point task judges `click_point` with `judge_point`; any other, `predict_box` with `judge_box`.
        threshold: IoU needed for a box hit.

    Returns:
        The Prediction; nothing parsed gives pred None, IoU 0 (None for points), hit False.

    >>> score_output("[0, 0, 10, 10]", [0, 0, 10, 20], Frame(1, 1), 100, 100).iou
    0.5
    """
    if point_task(task):
        return judge_point(click_point(output, frame, width, height), gt)
    return judge_box(predict_box(output, frame, width, height), gt, threshold)


def score_detections(
    output: str,
    gts: Sequence[Sequence[float]],
    frame: Frame,
    width: float,
    height: float,
    gt_labels: Sequence[str | None] | None = None,
    threshold: float = HIT_IOU,
) -> Prediction:
    """Parse, convert and judge one multi-box output against target boxes (original pixels).

    >>> score_detections("[0, 0, 10, 10] [50, 50, 70, 70]", [[0, 0, 10, 10], [50, 50, 70, 70]], Frame(1, 1), 99, 99).hit
    True
    """
    return judge_detections(predict_detections(output, frame, width, height), gts, gt_labels, threshold)


def judge_answer(output: str, answer: str, choices: Sequence[str] | None = None) -> Prediction:
    """Judge one text answer: the option it picks (a letter when there are choices, else its normalised
    text) against the target's, as `groundrl eval` judges one sample of a qa record.

    >>> judge_answer("<answer>(B) green</answer>", "B", ["red", "green"]).hit
    True
    >>> judge_answer("It is red.", "green", ["red", "green"]).pred
    'A'
    """
    picked = choice_of(output, choices)
    hit = picked is not None and picked == expected_choice(answer, choices)
    return Prediction(picked, None, hit, hit)
