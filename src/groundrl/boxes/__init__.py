"""Scoring core: parse model output, convert coordinate conventions, compute IoU. Pure Python, no torch."""

from groundrl.boxes.conventions import (
    CONVENTIONS,
    ConventionError,
    Frame,
    frame_for,
    from_original_pixels,
    smart_resize,
    to_original_pixels,
)
from groundrl.boxes.geometry import box_area, box_center, clamp_box, clamp_point, iou, order_box, point_in_box
from groundrl.boxes.parse import answer_region, parse_box, parse_point
from groundrl.boxes.score import HIT_IOU, Prediction, predict_box, predict_point, score_output

__all__ = [
    "CONVENTIONS",
    "HIT_IOU",
    "ConventionError",
    "Frame",
    "Prediction",
    "answer_region",
    "box_area",
    "box_center",
    "clamp_box",
    "clamp_point",
    "frame_for",
    "from_original_pixels",
    "iou",
    "order_box",
    "parse_box",
    "parse_point",
    "point_in_box",
    "predict_box",
    "predict_point",
    "score_output",
    "smart_resize",
    "to_original_pixels",
]
