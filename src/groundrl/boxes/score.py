"""Score one model output against its ground truth, in original-image pixels."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from groundrl.boxes.conventions import Frame
from groundrl.boxes.geometry import box_center, clamp_box, clamp_point, iou, order_box, point_in_box
from groundrl.boxes.parse import parse_box, parse_point

HIT_IOU = 0.5  # inclusive: IoU >= 0.5 is a hit, as in the RefCOCO literature


class Prediction(NamedTuple):
    """A scored answer. `pred` is a box [x1, y1, x2, y2] or point [x, y] in original pixels, or None
    when nothing parsed; `iou` is None for point tasks."""

    pred: list[float] | None
    iou: float | None
    hit: bool
    center_hit: bool = False


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


def score_output(
    output: str,
    gt: Sequence[float],
    frame: Frame,
    width: float,
    height: float,
    task: str = "box",
    threshold: float = HIT_IOU,
) -> Prediction:
    """Parse, convert and score one output.

    Args:
        output: the model's raw text.
        gt: ground-truth box [x1, y1, x2, y2] in original pixels.
        frame: the model's coordinate frame (see `frame_for`).
        width, height: original image size.
        task: "box" (IoU >= threshold is a hit) or "point" (inside gt, edges included, is a hit).
        threshold: IoU needed for a box hit.

    Returns:
        The Prediction; nothing parsed gives pred None, IoU 0 (None for points), hit False.

    >>> from groundrl.boxes.conventions import Frame
    >>> score_output("[0, 0, 10, 10]", [0, 0, 10, 20], Frame(1, 1), 100, 100).iou
    0.5
    """
    gt_box = order_box(gt)
    if task == "point":
        point = predict_point(output, frame, width, height)
        if point is None:
            return Prediction(None, None, False)
        inside = point_in_box(point, gt_box)
        return Prediction(point, None, inside, inside)
    box = predict_box(output, frame, width, height)
    if box is None:
        return Prediction(None, 0.0, False)
    overlap = iou(box, gt_box)
    return Prediction(box, overlap, overlap >= threshold, point_in_box(box_center(box), gt_box))
