"""Judge a record's answers: parse and convert each sampled output with the one scorer (groundrl.boxes.score),
aggregate the samples (test-time scaling), and judge the result against the record's target in original
pixels with the same scorer, so one sample is judged exactly as `groundrl score` and the rewards judge it.

Aggregation:
- boxes: `consensus` takes the sampled box with the highest mean IoU to the others; `wbf` (weighted box
  fusion) averages the boxes that overlap that consensus box (IoU >= 0.55), weighted by their mean IoU;
- points: the medoid (the sampled point closest, in total, to the others);
- detection: the sampled box set with the highest total F1 against the other samples' sets;
- choices and texts: majority vote (ties: the earliest).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from groundrl.boxes.answers import choice_of
from groundrl.boxes.answers import expected_choice as expected
from groundrl.boxes.geometry import iou
from groundrl.boxes.parse import Detection
from groundrl.boxes.score import (
    Prediction,
    click_point,
    detection_task,
    judge_box,
    judge_detections,
    judge_point,
    point_task,
    predict_box,
    predict_detections,
)
from groundrl.data.records import Record
from groundrl.models.families import Family

AGGREGATIONS = ("consensus", "wbf")
WBF_IOU = 0.55


@dataclass(frozen=True)
class Judgement:
    """The aggregated prediction and its score. `pred` is a box, a point (original pixels) or a text."""

    pred: list[float] | str | None
    iou: float | None
    hit: bool
    center_hit: bool
    parsed: int  # how many of the sampled outputs parsed


def consensus_box(boxes: Sequence[Sequence[float]]) -> list[float]:
    """The box with the highest mean IoU to the other boxes (the first on ties)."""
    if len(boxes) == 1:
        return list(boxes[0])
    scores = [sum(iou(a, b) for j, b in enumerate(boxes) if j != i) for i, a in enumerate(boxes)]
    return list(boxes[max(range(len(boxes)), key=lambda i: (scores[i], -i))])


def fused_box(boxes: Sequence[Sequence[float]]) -> list[float]:
    """Weighted box fusion around the consensus box."""
    anchor = consensus_box(boxes)
    members = [b for b in boxes if iou(b, anchor) >= WBF_IOU] or [anchor]
    weights = [sum(iou(b, o) for o in members) for b in members]
    total = sum(weights) or 1.0
    if not any(weights):
        weights, total = [1.0] * len(members), float(len(members))
    return [sum(w * b[k] for w, b in zip(weights, members, strict=True)) / total for k in range(4)]


def medoid_point(points: Sequence[Sequence[float]]) -> list[float]:
    """The point with the least total distance to the others."""

    def cost(p: Sequence[float]) -> float:
        return sum(((p[0] - q[0]) ** 2 + (p[1] - q[1]) ** 2) ** 0.5 for q in points)

    return list(min(points, key=cost))


def expected_choice(record: Record) -> str | None:
    """The record's answer as a letter when it has choices."""
    return expected(record.answer, record.choices)


def consensus_detections(samples: Sequence[Sequence[Detection]]) -> list[Detection]:
    """The sample whose boxes agree best (total F1 at IoU 0.5) with the other samples' (the first on ties)."""
    if len(samples) == 1:
        return list(samples[0])

    def agreement(i: int) -> float:
        others = [s for j, s in enumerate(samples) if j != i]
        return sum(judge_detections(samples[i], [d.box for d in o]).f1 or 0.0 for o in others)

    return list(samples[max(range(len(samples)), key=lambda i: (agreement(i), -i))])


def judge(record: Record, outputs: Sequence[str], family: Family, aggregate: str = "consensus") -> Judgement:
    """Parse, aggregate and judge the outputs for one record."""
    if record.task == "qa":
        return _judge_choice(record, outputs)
    width, height = record.image_sizes[record.image_index]
    frame = family.frame(width, height)
    if detection_task(record.task):
        samples = [d for d in (predict_detections(o, frame, width, height) for o in outputs) if d]
        verdict = judge_detections(consensus_detections(samples) if samples else [], record.boxes or [])
        return _judgement(verdict, len(samples))
    target = record.boxes[0]
    if point_task(record.task):
        points = [p for p in (click_point(o, frame, width, height) for o in outputs) if p is not None]
        return _judgement(judge_point(medoid_point(points) if points else None, target), len(points))
    boxes = [b for b in (predict_box(o, frame, width, height) for o in outputs) if b is not None]
    box = (fused_box(boxes) if aggregate == "wbf" else consensus_box(boxes)) if boxes else None
    return _judgement(judge_box(box, target), len(boxes))


def _judgement(verdict: Prediction, parsed: int) -> Judgement:
    return Judgement(verdict.pred, verdict.iou, verdict.hit, verdict.center_hit, parsed)


def _judge_choice(record: Record, outputs: Sequence[str]) -> Judgement:
    votes = [c for c in (choice_of(o, record.choices) for o in outputs) if c is not None]
    if not votes:
        return Judgement(None, None, False, False, 0)
    counts = Counter(votes)
    best = max(votes, key=lambda v: (counts[v], -votes.index(v)))
    hit = best == expected_choice(record)
    return Judgement(best, None, hit, hit, len(votes))
