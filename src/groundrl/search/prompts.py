"""Every text the search shows the model, in one place: the system prompt with its "at least K thoughts",
how a point is written in the family's own frame, the next-thought and answer-now requests, and the fixed
phrases of the chains built from trees.

Points are always in the family's convention over the full image (`boxes.conventions`): pixels of the
smart-resized input for Qwen2.5-VL (`resized`), 0-1000 for Qwen2-VL and Qwen3-VL (`norm1000`).
"""

from __future__ import annotations

from typing import Any

from groundrl.models.families import Family

CORRECTION = "Wait, this seems off. Let's try something else."
FINAL_THINK = "Based on all the information I've gathered, I'll now provide my final answer."
NEXT_THOUGHT = "Write the next single thought."
ANSWER_NOW = "Give the final answer now, as <answer> ... </answer>."

SYSTEM = (
    "You are a helpful assistant that reasons about an image one thought at a time. Each thought looks at "
    "one place of the image and names it inline as (x, y), {frame}. When you are sure, give the final answer "
    "as <answer> ... </answer>{answer_hint}. There should be at least {k} thoughts before the answer."
)


def frame_words(family: Family, width: int, height: int) -> str:
    """How a point is written for this family on an image of this original size.

    >>> from groundrl.models.families import FAMILIES
    >>> frame_words(FAMILIES["qwen2.5-vl"], 640, 480)
    'in pixels of the image as you see it (644 x 476)'
    >>> frame_words(FAMILIES["qwen3-vl"], 640, 480)
    'with x and y from 0 to 1000 across the width and height of the image'
    """
    if family.convention == "resized":
        seen_w, seen_h = family.input_size(width, height)
        return f"in pixels of the image as you see it ({seen_w} x {seen_h})"
    if family.convention == "norm1000":
        return "with x and y from 0 to 1000 across the width and height of the image"
    if family.convention == "norm1":
        return "with x and y from 0 to 1 across the width and height of the image"
    return f"in pixels of the image ({width} x {height})"


def answer_hint(task: str) -> str:
    """What the answer should hold, by the record's task."""
    if task == "point":
        return ", the point to click as (x, y)"
    if task in ("rec", "multi_image"):
        return ", the box as [x1, y1, x2, y2]"
    return ""


def system_prompt(family: Family, width: int, height: int, task: str, k: int) -> str:
    """The tree's system prompt: the thought format, the family's frame and "at least `k` thoughts"."""
    return SYSTEM.format(frame=frame_words(family, width, height), answer_hint=answer_hint(task), k=k)


def step_messages(system: str, question: str, thoughts: list[str], answer_now: bool) -> list[dict[str, Any]]:
    """The chat for one call: the question with the image, the thoughts so far, and what to write next.

    >>> m = step_messages("sys", "Where?", ["Look at (1, 2)."], answer_now=True)
    >>> m[1]["content"][1]["text"].splitlines()[-1]
    'Give the final answer now, as <answer> ... </answer>.'
    """
    text = question
    if thoughts:
        text += "\n\nYour thoughts so far:\n" + "\n".join(thoughts)
    text += "\n\n" + (ANSWER_NOW if answer_now else NEXT_THOUGHT)
    return [
        {"role": "system", "content": [{"type": "text", "text": system}]},
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]},
    ]


MULTI_SYSTEM = (
    "You are a helpful assistant. Think in <think></think>. To look closer, call the search_coordinate tool "
    'with a point {frame}: <tool_call>\n{{"name": "search_coordinate", "arguments": {{"coordinate": [x, y]}}}}'
    "\n</tool_call>; a crop of the image around it comes back. Answer in <answer></answer>."
)


def multiturn_system_prompt(family: Family, width: int, height: int) -> str:
    """The system prompt of a multi-turn chain on an image of this size (its points in the family's frame)."""
    return MULTI_SYSTEM.format(frame=frame_words(family, width, height))
