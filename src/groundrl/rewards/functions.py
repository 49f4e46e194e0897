"""Single-target and text rewards. Each is a pure function of the completions and the typed reward columns
(groundrl.rewards.columns), judged by the one scorer (groundrl.boxes.score)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from groundrl.boxes.answers import choice_of, expected_choice
from groundrl.boxes.score import Prediction, score_output
from groundrl.rewards.columns import (
    answer_row,
    any_row,
    applies_to,
    box_row,
    completion_text,
    frame_of,
    per_row,
    point_row,
)

FORMAT_PATTERN = r"^\s*<think>.*?</think>\s*<answer>.*?</answer>\s*$"


def _judged(text: str, row: Mapping[str, Any]) -> Prediction:
    return score_output(text, row["gt_box"], frame_of(row), row["width"], row["height"], row["task"] or "rec")


def box_predictions(completions: Sequence[Any], columns: Mapping[str, Any]) -> list[Prediction | None]:
    """Each completion judged against its row's `gt_box` (None where not a box task): the rewards' view of
    the one scorer, the same box, IoU and hit as `groundrl score` and `groundrl eval`."""
    return per_row(completions, columns, box_row, _judged)


def point_predictions(completions: Sequence[Any], columns: Mapping[str, Any]) -> list[Prediction | None]:
    """Each click judged against its row's target element `gt_box` (None where not a point task)."""
    return per_row(completions, columns, point_row, _judged)


@applies_to(box_row)
def iou_reward(completions: Sequence[Any], **columns: Any) -> list[float | None]:
    """IoU of the answer's box with `gt_box`, continuous in [0, 1] (VLM-R1's accuracy reward).

    >>> iou_reward(["[0, 0, 10, 10]"], gt_box=[[0, 0, 10, 20]], width=[100], height=[100], convention=["abs"])
    [0.5]
    """
    return [None if p is None else p.iou for p in box_predictions(completions, columns)]


@applies_to(box_row)
def iou_threshold(completions: Sequence[Any], tau: float = 0.5, **columns: Any) -> list[float | None]:
    """1 when IoU >= tau, else 0.

    >>> iou_threshold(["[0, 0, 10, 10]"], tau=0.5, gt_box=[[0, 0, 10, 20]], width=[100], height=[100])
    [1.0]
    """
    return [None if v is None else float(v >= tau) for v in iou_reward(completions, **columns)]


@applies_to(box_row)
def iou_mix(completions: Sequence[Any], alpha: float = 0.5, tau: float = 0.5, **columns: Any) -> list[float | None]:
    """alpha * 1[IoU >= tau] + (1 - alpha) * IoU: EGM's training reward.

    >>> iou_mix(["[0, 0, 10, 10]"], alpha=0.5, gt_box=[[0, 0, 10, 20]], width=[100], height=[100])
    [0.75]
    """
    return [
        None if v is None else alpha * float(v >= tau) + (1 - alpha) * v for v in iou_reward(completions, **columns)
    ]


@applies_to(point_row)
def point_in_box_reward(completions: Sequence[Any], **columns: Any) -> list[float | None]:
    """1 when the answer's point (or the centre of its box) lies in the target element `gt_box` (ScreenSpot).

    >>> columns = {"gt_box": [[0, 0, 10, 10]], "width": [100], "height": [100], "task": ["point"]}
    >>> point_in_box_reward(['{"point_2d": [5, 5]}'], **columns), point_in_box_reward(["(50, 5)"], **columns)
    ([1.0], [0.0])
    """
    return [None if p is None else float(p.hit) for p in point_predictions(completions, columns)]


@applies_to(any_row)
def format_reward(completions: Sequence[Any], pattern: str = FORMAT_PATTERN, **columns: Any) -> list[float | None]:
    """1 when the completion has the expected structure (default: <think>...</think><answer>...</answer>).

    >>> format_reward(["<think>left</think><answer>[1, 2, 3, 4]</answer>", "[1, 2, 3, 4]"])
    [1.0, 0.0]
    """
    compiled = re.compile(pattern, re.DOTALL)
    return [float(compiled.search(completion_text(c)) is not None) for c in completions]


def _answer_matches(text: str, row: Mapping[str, Any]) -> float:
    return float(choice_of(text, row["choices"]) == expected_choice(row["answer"], row["choices"]))


@applies_to(answer_row)
def answer_match(completions: Sequence[Any], **columns: Any) -> list[float | None]:
    """1 when the answer picks the right option (multiple choice) or equals the target text (normalised).

    >>> answer_match(["<answer>B</answer>"], answer=["blue"], choices=[["red", "blue"]], task=["qa"])
    [1.0]
    """
    return per_row(completions, columns, answer_row, _answer_matches)


@applies_to(any_row)
def length_penalty(completions: Sequence[Any], max_chars: int = 1024, **columns: Any) -> list[float | None]:
    """-(excess length / max_chars), 0 within budget: discourages rambling.

    >>> length_penalty(["x" * 1500], max_chars=1000)
    [-0.5]
    """
    return [-max(0, len(completion_text(c)) - max_chars) / max_chars for c in completions]


@applies_to(any_row)
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
