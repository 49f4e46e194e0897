"""The reward family. Each is a pure function of the completions and the dataset's columns."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from groundrl.boxes.answers import choice_of, click_point, expected_choice
from groundrl.boxes.conventions import frame_for
from groundrl.boxes.geometry import iou, point_in_box
from groundrl.boxes.parse import answer_region
from groundrl.boxes.score import predict_box

FORMAT_PATTERN = r"^\s*<think>.*?</think>\s*<answer>.*?</answer>\s*$"
_BOXES_RE = re.compile(
    r"\[\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*\]"
)


def completion_text(completion: Any) -> str:
    """The text of a completion: a string, or TRL's conversational form (a list of messages)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):
        return "".join(
            m.get("content", "") if isinstance(m.get("content"), str) else "" for m in completion if isinstance(m, dict)
        )
    return str(completion)


def _column(columns: dict, name: str, n: int) -> list:
    values = columns.get(name)
    return list(values) if values is not None else [None] * n


_TARGET_KEYS = ("gt", "width", "height", "convention", "input_width", "input_height", "task")


def _targets(completions: Sequence[Any], columns: dict, tasks: tuple[str, ...]):
    """Per completion: (text, target, frame, width, height), or None where its record's task (rec when
    absent) is not one of `tasks` or it has no target."""
    n = len(completions)
    rows = zip(completions, *(_column(columns, k, n) for k in _TARGET_KEYS), strict=True)
    for completion, gt, w, h, convention, in_w, in_h, task in rows:
        if gt is None or w is None or (task or "rec") not in tasks:
            yield None
        else:
            yield completion_text(completion), gt, frame_for(convention or "abs", w, h, in_w, in_h), w, h


def _predicted_boxes(completions: Sequence[Any], columns: dict) -> list[tuple[list[float] | None, Any]]:
    """(predicted box in original pixels or None, ground truth) per completion; gt None where not a box task."""
    return [
        (None, None) if t is None else (predict_box(t[0], t[2], t[3], t[4]), t[1])
        for t in _targets(completions, columns, ("rec", "multi_image"))
    ]


def iou_reward(completions: Sequence[Any], **columns: Any) -> list[float | None]:
    """IoU of the answer's box with the target, continuous in [0, 1] (VLM-R1's accuracy reward).

    >>> iou_reward(["[0, 0, 10, 10]"], gt=[[0, 0, 10, 20]], width=[100], height=[100], convention=["abs"])
    [0.5]
    """
    return [
        None if gt is None else (iou(box, gt) if box is not None else 0.0)
        for box, gt in _predicted_boxes(completions, columns)
    ]


def iou_threshold(completions: Sequence[Any], tau: float = 0.5, **columns: Any) -> list[float | None]:
    """1 when IoU >= tau, else 0.

    >>> iou_threshold(["[0, 0, 10, 10]"], tau=0.5, gt=[[0, 0, 10, 20]], width=[100], height=[100])
    [1.0]
    """
    return [None if v is None else float(v >= tau) for v in iou_reward(completions, **columns)]


def iou_mix(completions: Sequence[Any], alpha: float = 0.5, tau: float = 0.5, **columns: Any) -> list[float | None]:
    """alpha * 1[IoU >= tau] + (1 - alpha) * IoU: EGM's training reward.

    >>> iou_mix(["[0, 0, 10, 10]"], alpha=0.5, gt=[[0, 0, 10, 20]], width=[100], height=[100])
    [0.75]
    """
    return [
        None if v is None else alpha * float(v >= tau) + (1 - alpha) * v for v in iou_reward(completions, **columns)
    ]


def point_in_box_reward(completions: Sequence[Any], **columns: Any) -> list[float | None]:
    """1 when the answer's point (or the centre of its box) lies in the target element (ScreenSpot).

    >>> point_in_box_reward(['{"point_2d": [5, 5]}'], gt=[[0, 0, 10, 10]], width=[100], height=[100], task=["point"])
    [1.0]
    """
    out: list[float | None] = []
    for target in _targets(completions, columns, ("point",)):
        if target is None:
            out.append(None)
            continue
        text, gt, frame, w, h = target
        point = click_point(text, frame, w, h)
        out.append(float(point is not None and point_in_box(point, gt)))
    return out


def format_reward(completions: Sequence[Any], pattern: str = FORMAT_PATTERN, **columns: Any) -> list[float | None]:
    """1 when the completion has the expected structure (default: <think>...</think><answer>...</answer>).

    >>> format_reward(["<think>left</think><answer>[1, 2, 3, 4]</answer>", "[1, 2, 3, 4]"])
    [1.0, 0.0]
    """
    compiled = re.compile(pattern, re.DOTALL)
    return [float(compiled.search(completion_text(c)) is not None) for c in completions]


def answer_match(completions: Sequence[Any], **columns: Any) -> list[float | None]:
    """1 when the answer picks the right option (multiple choice) or equals the target text (normalised).

    >>> answer_match(["<answer>B</answer>"], answer=["blue"], choices=[["red", "blue"]], task=["qa"])
    [1.0]
    """
    n = len(completions)
    out: list[float | None] = []
    for completion, answer, choices in zip(
        completions, _column(columns, "answer", n), _column(columns, "choices", n), strict=True
    ):
        if answer is None:
            out.append(None)
            continue
        out.append(float(choice_of(completion_text(completion), choices) == expected_choice(answer, choices)))
    return out


def _all_boxes(text: str, frame, w: float, h: float) -> list[list[float]]:
    from groundrl.boxes.geometry import clamp_box, order_box

    return [
        clamp_box(order_box(frame.to_original([float(v) for v in m.groups()])), w, h)
        for m in _BOXES_RE.finditer(answer_region(text))
    ]


def _detections(completions: Sequence[Any], columns: dict):
    for target in _targets(completions, columns, ("detection",)):
        if target is None:
            yield None
        else:
            text, gt, frame, w, h = target
            yield _all_boxes(text, frame, w, h), gt


def greedy_matches(preds: list[list[float]], gts: list[list[float]], tau: float = 0.5) -> int:
    """How many predictions match a distinct ground-truth box with IoU >= tau, best pairs first."""
    pairs = sorted(((iou(p, g), i, j) for i, p in enumerate(preds) for j, g in enumerate(gts)), reverse=True)
    used_p, used_g, matches = set(), set(), 0
    for overlap, i, j in pairs:
        if overlap < tau:
            break
        if i not in used_p and j not in used_g:
            used_p.add(i)
            used_g.add(j)
            matches += 1
    return matches


def detection_f1(completions: Sequence[Any], tau: float = 0.5, **columns: Any) -> list[float | None]:
    """F1 of greedy IoU matching between the answer's boxes and the target boxes (multi-box answers).

    >>> columns = {"gt": [[[0, 0, 10, 10]]], "width": [100], "height": [100], "task": ["detection"]}
    >>> detection_f1(["[0, 0, 10, 10] [50, 50, 60, 60]"], **columns)
    [0.6666666666666666]
    """
    out: list[float | None] = []
    for item in _detections(completions, columns):
        if item is None:
            out.append(None)
            continue
        preds, gts = item
        if not preds or not gts:
            out.append(float(not preds and not gts))
            continue
        m = greedy_matches(preds, gts, tau)
        out.append(2 * m / (len(preds) + len(gts)))
    return out


def detection_map(completions: Sequence[Any], **columns: Any) -> list[float | None]:
    """COCO mAP@[.5:.95] (pycocotools) of the answer's boxes, in answer order as confidence, against the targets."""
    out: list[float | None] = []
    for item in _detections(completions, columns):
        if item is None:
            out.append(None)
            continue
        out.append(_coco_map(*item))
    return out


def _coco_map(preds: list[list[float]], gts: list[list[float]]) -> float:
    if not gts:
        return float(not preds)
    if not preds:
        return 0.0
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    coco = COCO()
    coco.dataset = {
        "images": [{"id": 1, "width": 1, "height": 1}],
        "categories": [{"id": 1, "name": "object"}],
        "annotations": [
            {
                "id": k + 1,
                "image_id": 1,
                "category_id": 1,
                "bbox": [g[0], g[1], g[2] - g[0], g[3] - g[1]],
                "area": (g[2] - g[0]) * (g[3] - g[1]),
                "iscrowd": 0,
            }
            for k, g in enumerate(gts)
        ],
    }
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
        dets = coco.loadRes(
            [
                {
                    "image_id": 1,
                    "category_id": 1,
                    "bbox": [p[0], p[1], p[2] - p[0], p[3] - p[1]],
                    "score": 1.0 - k * 1e-3,
                }
                for k, p in enumerate(preds)
            ]
        )
        evaluator = COCOeval(coco, dets, "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return max(0.0, float(evaluator.stats[0]))


def length_penalty(completions: Sequence[Any], max_chars: int = 1024, **columns: Any) -> list[float | None]:
    """-(excess length / max_chars), 0 within budget: discourages rambling.

    >>> length_penalty(["x" * 1500], max_chars=1000)
    [-0.5]
    """
    return [-max(0, len(completion_text(c)) - max_chars) / max_chars for c in completions]


def repetition_penalty(completions: Sequence[Any], n: int = 4, **columns: Any) -> list[float | None]:
    """-(share of repeated word n-grams): 0 for no repetition, towards -1 for a loop.

    >>> repetition_penalty(["a b c d e f", "go go go go go go go go"], n=2)
    [0.0, -0.8571428571428571]
    """
    out: list[float | None] = []
    for c in completions:
        words = completion_text(c).split()
        grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
        if not grams:
            out.append(0.0)
            continue
        counts = Counter(grams)
        out.append(-sum(v - 1 for v in counts.values()) / len(grams))
    return out


REWARDS = {
    "format": format_reward,
    "iou": iou_reward,
    "iou_threshold": iou_threshold,
    "iou_mix": iou_mix,
    "point_in_box": point_in_box_reward,
    "detection": detection_f1,
    "detection_map": detection_map,
    "answer_match": answer_match,
    "length_penalty": length_penalty,
    "repetition_penalty": repetition_penalty,
}
