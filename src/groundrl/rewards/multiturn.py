"""Multi-turn rewards: a zoom-in trajectory scored as ViGoRL scores it (VIGORL.md section 4).

With tools on, TRL hands each reward a completion as a list of messages: assistant turns whose
`<think>...</think>` TRL moved to `reasoning_content` and whose calls it moved to `tool_calls`
(`[{"type": "function", "function": {"name": ..., "arguments": {...}}}]`), each call followed by a
`{"role": "tool", "content": [typed parts]}` turn. `trajectory` reads that shape (and a plain string, or an
assistant turn that kept its `<think>` in `content`, as TRL gives them with tools off) into `Step`s; the
rewards read the steps, never the rendered tokens:

- `multiturn_format`: 1 when the trajectory follows think -> (tool_call -> observation -> think)* -> answer
  ending with `</answer>`, every call a `search_coordinate` whose `coordinate` is a list of two integers,
  plus `bonus` for every call point at least `min_distance` pixels (of the image as the model saw it) from
  the earlier ones (the first counts); 0 otherwise.
- `multiturn_accuracy`: the final answer judged by the single-turn rewards, so by the one scorer: point in
  box (point rows), IoU (box rows), exact match (rows with an answer).

ViGoRL's total is 0.6 * accuracy + 0.4 * format: the two rewards with weights 0.6 and 0.4
(configs/recipes/vigorl-multiturn-grpo.yaml). The last observation of a capped trajectory pre-fills the
final think and `<answer>` (tools.zoom.ANSWER_NOW); that text counts as the final turn's start.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from groundrl.boxes.conventions import frame_for
from groundrl.rewards.columns import (
    Row,
    answer_row,
    any_row,
    applies_to,
    box_row,
    frame_of,
    point_row,
    rows_of,
)
from groundrl.rewards.functions import FORMAT_PATTERN, answer_match, iou_reward, point_in_box_reward

TOOL = "search_coordinate"
_THINK = re.compile(r"^\s*<think>(.*?)</think>\s*", re.DOTALL)
_FORMAT = re.compile(FORMAT_PATTERN, re.DOTALL)


@dataclass(frozen=True)
class Step:
    """One turn of a trajectory.

    Attributes:
        role: "assistant" or "tool".
        think: the assistant's reasoning (`reasoning_content`), None when it wrote none.
        text: the assistant's `content`, or the tool turn's text parts joined.
        calls: the assistant's tool calls as (name, arguments).
    """

    role: str
    think: str | None = None
    text: str = ""
    calls: tuple[tuple[str, Any], ...] = ()


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type", "text") == "text")
    return ""


def _assistant(message: Mapping[str, Any]) -> Step:
    think, text = message.get("reasoning_content"), _text(message.get("content"))
    if think is None and (match := _THINK.match(text)):  # tools off: TRL leaves <think> in the content
        think, text = match.group(1), text[match.end() :]
    calls = []
    for call in message.get("tool_calls") or []:
        function = call.get("function", call) if isinstance(call, dict) else {}
        calls.append((str(function.get("name")), function.get("arguments")))
    return Step("assistant", think, text, tuple(calls))


def trajectory(completion: Any) -> list[Step]:
    """A completion as TRL passes it (a string, or a list of messages) as steps.

    >>> trajectory([{"role": "assistant", "content": "", "reasoning_content": "look",
    ...              "tool_calls": [{"type": "function", "function": {"name": "search_coordinate",
    ...                                                            "arguments": {"coordinate": [5, 7]}}}]},
    ...             {"role": "tool", "name": "search_coordinate", "content": [{"type": "text", "text": "Here"}]}])
    [Step(role='assistant', think='look', text='', calls=(('search_coordinate', {'coordinate': [5, 7]}),)), \
Step(role='tool', think=None, text='Here', calls=())]
    """
    if not isinstance(completion, list):
        return [_assistant({"content": str(completion)})]
    return [
        _assistant(m) if m.get("role") == "assistant" else Step("tool", text=_text(m.get("content")))
        for m in completion
        if isinstance(m, dict)
    ]


def _prefill(tool: Step) -> str:
    """What a tool turn pre-fills of the final answer: its last `<think>` on, when it ends with `<answer>`."""
    text = tool.text.rstrip()
    if not text.endswith("<answer>"):
        return ""
    start = text.rfind("<think>")
    return text[start:] if start >= 0 else "<answer>"


def answer_text(steps: Sequence[Step]) -> str:
    """The final turn as one text, `<think>` and a pre-filled `<answer>` included: what is judged.

    >>> answer_text([Step("assistant", "look", "", (("search_coordinate", {"coordinate": [1, 2]}),)),
    ...              Step("tool", text="Here.<think>done</think><answer>"), Step("assistant", text="B</answer>")])
    '<think>done</think><answer>B</answer>'
    """
    last = next((k for k in range(len(steps) - 1, -1, -1) if steps[k].role == "assistant"), None)
    if last is None:
        return ""
    step = steps[last]
    before = _prefill(steps[last - 1]) if last > 0 and steps[last - 1].role == "tool" else ""
    own = (f"<think>{step.think}</think>" if step.think is not None else "") + step.text
    return before + own


def _integer_point(arguments: Any) -> tuple[int, int] | None:
    coordinate = arguments.get("coordinate") if isinstance(arguments, dict) else None
    ok = isinstance(coordinate, list) and len(coordinate) == 2
    if not ok or not all(isinstance(v, int) and not isinstance(v, bool) for v in coordinate):
        return None
    return coordinate[0], coordinate[1]


def call_points(steps: Sequence[Step], tool: str = TOOL) -> list[tuple[int, int]] | None:
    """The points of a trajectory's calls when it follows the grammar (think -> (one call -> tool turn ->
    think)* -> answer ending with `</answer>`, every call `tool` with a `coordinate` of two integers);
    None when it does not."""
    if not steps or len(steps) % 2 == 0:
        return None
    points = []
    for k in range(0, len(steps) - 1, 2):
        step, reply = steps[k], steps[k + 1]
        if step.role != "assistant" or reply.role != "tool" or not (step.think or "").strip():
            return None
        if step.text.strip() or len(step.calls) != 1 or step.calls[0][0] != tool:
            return None
        point = _integer_point(step.calls[0][1])
        if point is None:
            return None
        points.append(point)
    last = steps[-1]
    if last.role != "assistant" or last.calls or not _FORMAT.search(answer_text(steps)):
        return None
    return points


def _seen(point: tuple[int, int], row: Row) -> tuple[float, float]:
    """A call point in pixels of the image as the model saw it (the family's convention converted)."""
    if not (row.get("width") and row.get("height") and row.get("input_width") and row.get("input_height")):
        return float(point[0]), float(point[1])
    original = frame_of(row).to_original(point)
    seen = frame_for("resized", row["width"], row["height"], row["input_width"], row["input_height"])
    x, y = seen.from_original(original)
    return x, y


def distinct_points(points: Sequence[tuple[float, float]], min_distance: float) -> int:
    """How many points lie at least `min_distance` from every earlier one (the first always does).

    >>> distinct_points([(0, 0), (5, 0), (20, 0), (0, 0)], 10)
    2
    """
    return sum(all(math.dist(p, q) >= min_distance for q in points[:k]) for k, p in enumerate(points))


@applies_to(any_row)
def multiturn_format(
    completions: Sequence[Any], tool: str = TOOL, bonus: float = 0.2, min_distance: float = 10.0, **columns: Any
) -> list[float | None]:
    """1 for a trajectory that follows the grammar (see `call_points`), plus `bonus` per call point at least
    `min_distance` seen pixels from the earlier ones; 0 otherwise.

    >>> call = {"type": "function", "function": {"name": "search_coordinate", "arguments": {"coordinate": [5, 7]}}}
    >>> zoomed = [{"role": "assistant", "content": "", "reasoning_content": "look", "tool_calls": [call]},
    ...           {"role": "tool", "name": "search_coordinate", "content": [{"type": "text", "text": "Here"}]},
    ...           {"role": "assistant", "content": "<answer>B</answer>", "reasoning_content": "it is B"}]
    >>> multiturn_format([zoomed, zoomed[:1], "<think>a</think><answer>B</answer>"])
    [1.2, 0.0, 1.0]
    """
    out: list[float | None] = []
    for completion, row in zip(completions, rows_of(columns, len(completions)), strict=True):
        points = call_points(trajectory(completion), tool)
        if points is None:
            out.append(0.0)
            continue
        seen = [_seen(p, row) for p in points]
        out.append(1.0 + bonus * distinct_points(seen, min_distance))
    return out


def target_row(row: Row) -> bool:
    """A row the accuracy can judge: a point, a box or an answer target."""
    return point_row(row) or box_row(row) or answer_row(row)


@applies_to(target_row)
def multiturn_accuracy(completions: Sequence[Any], **columns: Any) -> list[float | None]:
    """The final answer judged by the one scorer: 1 / 0 for a point in the target box (point rows), the IoU
    (box rows), 1 / 0 for an exact (normalised) match or the right option (rows with an answer).

    >>> final = [{"role": "tool", "content": [{"type": "text", "text": "<think>so</think><answer>"}]},
    ...          {"role": "assistant", "content": "Blue</answer>"}]
    >>> multiturn_accuracy([final, "<answer>red</answer>"], answer=["blue"] * 2, task=["qa"] * 2)
    [1.0, 0.0]
    """
    texts = [answer_text(trajectory(c)) for c in completions]
    judged = (point_in_box_reward(texts, **columns), iou_reward(texts, **columns), answer_match(texts, **columns))
    return [next((v for v in values if v is not None), None) for values in zip(*judged, strict=True)]
