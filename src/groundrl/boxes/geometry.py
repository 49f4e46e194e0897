"""Box geometry in original-image pixels: ordering, clamping, IoU, point-in-box, centre distance."""

from __future__ import annotations

from collections.abc import Sequence


def order_box(box: Sequence[float]) -> list[float]:
    """Reorder swapped corners so that x1 <= x2 and y1 <= y2.

    >>> order_box([30, 40, 10, 20])
    [10, 20, 30, 40]
    """
    x1, y1, x2, y2 = box
    if x1 > x2:
        x1, x2 = x2, x1
    if y1 > y2:
        y1, y2 = y2, y1
    return [x1, y1, x2, y2]


def clamp_box(box: Sequence[float], width: float, height: float) -> list[float]:
    """Clamp a box to the image [0, width] x [0, height]."""
    x1, y1, x2, y2 = box
    return [_clip(x1, width), _clip(y1, height), _clip(x2, width), _clip(y2, height)]


def _clip(v: float, hi: float) -> float:
    # conditionals, not min/max: this runs four times per scored line
    return 0.0 if v < 0.0 else hi if v > hi else v


def clamp_point(point: Sequence[float], width: float, height: float) -> list[float]:
    """Clamp a point to the image [0, width] x [0, height]."""
    x, y = point
    return [_clip(x, width), _clip(y, height)]


def box_area(box: Sequence[float]) -> float:
    """(x2 - x1) * (y2 - y1), zero for an empty or inverted box."""
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two ordered boxes; 0 when the union has zero area.

    >>> iou([0, 0, 10, 10], [5, 0, 15, 10])
    0.3333333333333333
    """
    ax1, ay1, ax2, ay2 = a
    bx1, by1, bx2, by2 = b
    inter_w = (ax2 if ax2 < bx2 else bx2) - (ax1 if ax1 > bx1 else bx1)
    inter_h = (ay2 if ay2 < by2 else by2) - (ay1 if ay1 > by1 else by1)
    inter = inter_w * inter_h if inter_w > 0 and inter_h > 0 else 0.0
    union = box_area(a) + box_area(b) - inter
    if union <= 0:
        return 0.0
    ratio = inter / union
    return 1.0 if ratio > 1.0 else ratio


def point_in_box(point: Sequence[float], box: Sequence[float]) -> bool:
    """True when the point lies inside the box, edges included."""
    return box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3]


def box_center(box: Sequence[float]) -> tuple[float, float]:
    """Centre (cx, cy) of a box."""
    return (box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0
