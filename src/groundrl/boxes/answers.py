"""Answers that are not a plain box: the option a multiple-choice answer picks, and the point a click
lands on (a point, or the centre of a box). Shared by evaluation and rewards."""

from __future__ import annotations

import re
from collections.abc import Sequence

from groundrl.boxes.conventions import Frame
from groundrl.boxes.geometry import box_center
from groundrl.boxes.parse import answer_region, parse_point
from groundrl.boxes.score import predict_box, predict_point

_CHOICE_RE = re.compile(r"^\s*\(?([A-Z])\)?(?:[\s.:)]|$)")


def normalise_text(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().strip(".").lower())


def choice_of(text: str, choices: Sequence[str] | None) -> str | None:
    """The option an answer picks, as its letter (A, B, ...) when there are choices, else normalised text.

    >>> choice_of("<answer>(B) green</answer>", ["red", "green"])
    'B'
    >>> choice_of("It is green.", ["red", "green"])
    'B'
    """
    region = answer_region(text).strip()
    if not region:
        return None
    if not choices:
        return normalise_text(region)
    match = _CHOICE_RE.match(region)
    if match and ord(match.group(1)) - 65 < len(choices):
        return match.group(1)
    lowered = region.lower()
    hits = [k for k, c in enumerate(choices) if re.search(rf"\b{re.escape(c.lower())}\b", lowered)]
    return chr(65 + hits[0]) if len(hits) == 1 else None


def expected_choice(answer: str | None, choices: Sequence[str] | None) -> str | None:
    """A target answer as a letter when there are choices (the answer may be the letter or the option)."""
    if answer is None:
        return None
    if not choices:
        return normalise_text(answer)
    if answer in choices:
        return chr(65 + list(choices).index(answer))
    return answer.strip().strip("()").upper()


def click_point(output: str, frame: Frame, width: float, height: float) -> list[float] | None:
    """Where a click lands: the answer's point, or the centre of its box when it answers with a box."""
    box = predict_box(output, frame, width, height)
    if box is not None:
        return list(box_center(box))
    if parse_point(output) is not None:
        return predict_point(output, frame, width, height)
    return None
