"""Answers that are not coordinates: the option a multiple-choice answer picks, or its normalised text.
Shared by evaluation and rewards."""

from __future__ import annotations

import re
from collections.abc import Sequence

from groundrl.boxes.parse import answer_region

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
