"""The one scorer: parse model output, convert coordinate conventions, judge (IoU, point-in-box, matching),
aggregate. Pure Python, no torch; `groundrl score`, `groundrl eval` and the rewards all use it."""

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
from groundrl.boxes.matching import Match, match_boxes
from groundrl.boxes.metrics import THRESHOLDS, Tally
from groundrl.boxes.parse import Detection, answer_region, parse_box, parse_detections, parse_point
from groundrl.boxes.score import (
    HIT_IOU,
    Prediction,
    click_point,
    judge_box,
    judge_detections,
    judge_point,
    predict_box,
    predict_detections,
    predict_point,
    score_detections,
    score_output,
)

__all__ = [
    "CONVENTIONS",
    "HIT_IOU",
    "THRESHOLDS",
    "ConventionError",
    "Detection",
    "Frame",
    "Match",
    "Prediction",
    "Tally",
    "answer_region",
    "box_area",
    "box_center",
    "clamp_box",
    "clamp_point",
    "click_point",
    "frame_for",
    "from_original_pixels",
    "iou",
    "judge_box",
    "judge_detections",
    "judge_point",
    "match_boxes",
    "order_box",
    "parse_box",
    "parse_detections",
    "parse_point",
    "point_in_box",
    "predict_box",
    "predict_detections",
    "predict_point",
    "score_detections",
    "score_output",
    "smart_resize",
    "to_original_pixels",
]
