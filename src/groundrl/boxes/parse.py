"""Find the box or point in a model's raw text. Parsing is separate from scoring.

Where to look: inside the last `<answer>...</answer>` block when there is one; otherwise in the whole
output with every `<think>...</think>` block removed.

What to take for a box, first match wins in this order:
1. `"bbox_2d": [a, b, c, d]` (Qwen2.5-VL / Qwen3-VL JSON)
2. `<|box_start|>(a,b),(c,d)<|box_end|>` (Qwen2-VL special tokens)
3. a bracketed list of exactly four numbers `[a, b, c, d]`
4. a corner pair `(a,b),(c,d)`
5. a tuple `(a, b, c, d)`

For a point: `"point_2d": [x, y]`, else the first `(x, y)` or `[x, y]` of exactly two numbers.
Numbers may be integers, decimals or negative. Parsing never raises; no match gives None.

Multi-box answers (detection, VLM-R1's open-vocabulary JSON list `[{"bbox_2d": [...], "label": ...}, ...]`):
`parse_detections` takes every match of the first form above that matches at all, with its label where the
answer gives one (the `"label"` of the same JSON object, or Qwen2-VL's `<|object_ref_start|>` text just before
a `<|box_start|>`).
"""

from __future__ import annotations

import re
from typing import NamedTuple

_NUM = r"([-+]?(?:\d+(?:\.\d*)?|\.\d+))"
_SEP = r"\s*,\s*"

_ANSWER_RE = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_THINK_RE = re.compile(r"<think>.*?</think>", re.DOTALL)

# (substring every match contains, pattern), in order of precedence
_BOX_PATTERNS = (
    ("bbox_2d", re.compile(r"""["']bbox_2d["']\s*:\s*\[\s*""" + _SEP.join([_NUM] * 4) + r"\s*\]")),
    (
        "<|box_start|>",
        re.compile(
            r"<\|box_start\|>\s*\(\s*"
            + _NUM
            + _SEP
            + _NUM
            + r"\s*\)\s*,?\s*\(\s*"
            + _NUM
            + _SEP
            + _NUM
            + r"\s*\)\s*<\|box_end\|>"
        ),
    ),
    ("[", re.compile(r"\[\s*" + _SEP.join([_NUM] * 4) + r"\s*\]")),
    ("(", re.compile(r"\(\s*" + _NUM + _SEP + _NUM + r"\s*\)\s*,\s*\(\s*" + _NUM + _SEP + _NUM + r"\s*\)")),
    ("(", re.compile(r"\(\s*" + _SEP.join([_NUM] * 4) + r"\s*\)")),
)

_LABEL_RE = re.compile(r"""["']label["']\s*:\s*["']([^"']*)["']""")
_REF_RE = re.compile(r"<\|object_ref_start\|>(.*?)<\|object_ref_end\|>\s*$", re.DOTALL)

_POINT_JSON_RE = re.compile(r"""["']point_2d["']\s*:\s*\[\s*""" + _NUM + _SEP + _NUM + r"\s*\]")
_POINT_PAIR_RE = re.compile(r"\(\s*" + _NUM + _SEP + _NUM + r"\s*\)|\[\s*" + _NUM + _SEP + _NUM + r"\s*\]")


def answer_region(text: str) -> str:
    """The part of `text` that holds the answer: the last <answer> block, else text minus <think> blocks.

    >>> answer_region("<think>[1,2,3,4]</think> [5,6,7,8]")
    ' [5,6,7,8]'
    """
    if "<answer>" in text:
        answers = _ANSWER_RE.findall(text)
        if answers:
            return answers[-1]
    if "<think>" in text:
        return _THINK_RE.sub("", text)
    return text


def parse_box(text: str) -> list[float] | None:
    """First box in the answer region of `text`, as [a, b, c, d] in the model's own convention.

    >>> parse_box('<answer>{"bbox_2d": [10, 20.5, 30, -4]}</answer>')
    [10.0, 20.5, 30.0, -4.0]
    >>> parse_box("no box here") is None
    True
    """
    region = answer_region(text)
    for needle, pattern in _BOX_PATTERNS:
        if needle in region:  # a substring test rejects far faster than a failing regex
            match = pattern.search(region)
            if match:
                return [float(v) for v in match.groups()]
    return None


def parse_point(text: str) -> list[float] | None:
    """First point in the answer region of `text`, as [x, y] in the model's own convention.

    >>> parse_point('click (12, 34)')
    [12.0, 34.0]
    """
    region = answer_region(text)
    match = _POINT_JSON_RE.search(region)
    if match:
        return [float(v) for v in match.groups()]
    match = _POINT_PAIR_RE.search(region)
    if match:
        return [float(v) for v in match.groups() if v is not None]
    return None


class Detection(NamedTuple):
    """One box of a multi-box answer, in the model's own convention, and its label when the answer has one."""

    box: list[float]
    label: str | None = None


def _label_at(region: str, needle: str, start: int, end: int, previous_end: int) -> str | None:
    """The label that goes with the box matched at region[start:end]."""
    if needle == "bbox_2d":
        left, right = region.rfind("{", 0, start), region.find("}", end)
        if left < 0 or right < 0:
            return None
        match = _LABEL_RE.search(region, left, right)
        return match.group(1) if match else None
    if needle == "<|box_start|>":
        match = _REF_RE.search(region[previous_end:start])
        return match.group(1).strip() if match else None
    return None


def parse_detections(text: str) -> list[Detection]:
    """Every box in the answer region of `text`, with labels, in answer order; [] when none parses.

    The first box form (in parse_box's order) that matches at all supplies every box, so a detection answer's
    first box is always parse_box's box.

    >>> parse_detections('[{"bbox_2d": [1, 2, 3, 4], "label": "cat"}, {"label": "dog", "bbox_2d": [5, 6, 7, 8]}]')
    [Detection(box=[1.0, 2.0, 3.0, 4.0], label='cat'), Detection(box=[5.0, 6.0, 7.0, 8.0], label='dog')]
    >>> [d.box for d in parse_detections("<|box_start|>(1,2),(3,4)<|box_end|><|box_start|>(5,6),(7,8)<|box_end|>")]
    [[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]]
    """
    region = answer_region(text)
    for needle, pattern in _BOX_PATTERNS:
        if needle not in region:
            continue
        found, previous_end = [], 0
        for match in pattern.finditer(region):
            label = _label_at(region, needle, match.start(), match.end(), previous_end)
            found.append(Detection([float(v) for v in match.groups()], label))
            previous_end = match.end()
        if found:
            return found
    return []
