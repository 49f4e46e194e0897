"""A thought's parts (its reasoning, the points it names, its final answer) and the rule judges that score
a final answer 0 or 1 through the one scorer (`groundrl.boxes`)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from groundrl.boxes import click_point, judge_box, judge_point, predict_box
from groundrl.boxes.answers import normalise_text
from groundrl.boxes.score import judge_answer
from groundrl.models.families import Family

_NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)"
POINT_RE = re.compile(rf"\(\s*({_NUM})\s*,\s*({_NUM})\s*\)")  # an inline point (x, y)
_ANSWER_RE = re.compile(r"<answer>(.*?)(?:</answer>|$)", re.DOTALL)
_TAGS_RE = re.compile(r"</?think>")


@dataclass(frozen=True)
class Thought:
    """One step as the model wrote it, taken apart.

    Attributes:
        text: the reasoning, without `<think>` tags or the answer block.
        points: every inline (x, y), in the family's convention, in order.
        answer: the text inside `<answer>` for a terminal step, else None.
    """

    text: str
    points: list[list[float]]
    answer: str | None

    @property
    def terminal(self) -> bool:
        return self.answer is not None


def parse_thought(raw: str) -> Thought:
    """Take a generated step apart.

    >>> parse_thought("<think>The cup is at (12, 30.5).</think> <answer> B </answer>")
    Thought(text='The cup is at (12, 30.5).', points=[[12.0, 30.5]], answer='B')
    """
    match = _ANSWER_RE.search(raw)
    answer = match.group(1).strip() if match else None
    reasoning = _TAGS_RE.sub("", raw[: match.start()] if match else raw).strip()
    return Thought(reasoning, find_points(reasoning), answer)


def find_points(text: str) -> list[list[float]]:
    """Every inline (x, y) of a text, in order."""
    return [[float(x), float(y)] for x, y in POINT_RE.findall(text)]


def same_point(a: Sequence[float], b: Sequence[float]) -> bool:
    """Points compared as numbers: (12, 30) and (12.0, 30) are one point (ViGoRL compared strings)."""
    return float(a[0]) == float(b[0]) and float(a[1]) == float(b[1])


@dataclass(frozen=True)
class Target:
    """What a tree's answers are judged against (original pixels for boxes).

    Attributes:
        judge: qa, choice, point or iou (see MCTSConfig.judge).
        answer: the target text (qa, choice).
        choices: the options of a multiple choice.
        box: the target box (point: the element to click; iou: the box to overlap).
        width, height: the original image size.
    """

    judge: str
    answer: str | None = None
    choices: list[str] | None = None
    box: list[float] | None = None
    width: int = 0
    height: int = 0


def judge_for(task: str, choices: Sequence[str] | None, wanted: str = "auto") -> str:
    """The judge a record gets: `wanted`, or by its task when `wanted` is auto.

    Raises:
        ValueError: a task no rule judge scores (detection).
    """
    if wanted != "auto":
        return wanted
    if task == "qa":
        return "choice" if choices else "qa"
    if task == "point":
        return "point"
    if task in ("rec", "multi_image"):
        return "iou"
    raise ValueError(f"task {task!r}: no rule judge scores it; set mcts.judge to qa, choice, point or iou")


def reward(answer: str | None, target: Target, family: Family) -> float:
    """1.0 when the final answer is right, else 0.0 (no answer: 0).

    >>> reward("It is the red one", Target("qa", answer="Red"), None)
    1.0
    """
    if answer is None:
        return 0.0
    if target.judge == "qa":
        return float(normalise_text(target.answer or "") in normalise_text(answer))
    if target.judge == "choice":
        return float(judge_answer(f"<answer>{answer}</answer>", target.answer or "", target.choices).hit)
    frame = family.frame(target.width, target.height)
    if target.judge == "point":
        return float(judge_point(click_point(answer, frame, target.width, target.height), target.box).hit)
    return float(judge_box(predict_box(answer, frame, target.width, target.height), target.box).hit)
