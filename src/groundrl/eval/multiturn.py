"""Multi-turn evaluation with the zoom tool, over any engine (transformers, vLLM, OpenAI-compatible).

A trajectory is one answer to one record: the model writes a turn, ending it with a tool call
(`</tool_call>`) or an answer (`</answer>`); a call is answered by the record's `ZoomSession` with a crop
(or a short error), appended as an observation turn, and the model goes on. At the session's limit the
observation pre-fills the final think and an open `<answer>` (`ZoomLimits.answer_now`); the model's next
turn is the forced answer, read as the continuation of that `<answer>`, and ends the trajectory.

`run_trajectories` keeps up to `in_flight` trajectories going: each round sends every unfinished one
(its messages and images so far) in ONE `engine.generate` call, steps each, and refills the pool from the
waiting ones, so N trajectories share each engine call instead of one being served at a time (ViGoRL's
way, VIGORL.md section 1). The loop knows no benchmark: the runner builds trajectories from records and
judges their `answer` with the one scorer.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from PIL import Image

from groundrl.engines.base import Engine, Generation, Prompt, Sampling
from groundrl.models.families import Family
from groundrl.models.prompts import place_images
from groundrl.tools.zoom import ToolCall, ToolCallError, ZoomLimits, ZoomPreset, ZoomSession, parse_tool_call

STOP = ("</tool_call>", "</answer>")
ANSWER_OPEN, ANSWER_CLOSE = "<answer>", "</answer>"
CALL_OPEN, CALL_CLOSE = "<tool_call>", "</tool_call>"
# The tool's description for models that were not trained with one in their own system prompt.
ZOOM_SYSTEM = (
    "You are a helpful assistant. Think in <think></think>. To look closer at a part of the image, end your "
    "turn with a call to the search_coordinate tool, whose coordinate is a point of the full image:\n"
    '<tool_call>\n{"name": "search_coordinate", "arguments": {"coordinate": [x, y]}}\n</tool_call>\n'
    "You will see a crop of the image centred on that point. Give the final answer in <answer></answer>."
)


@dataclass(frozen=True)
class Look:
    """One zoom-in: the point as the model wrote it (its family's convention over the full image), the same
    point in original pixels (clamped into the image), and the crop's window (x0, y0, x1, y1) in original
    pixels."""

    point: tuple[float, float]
    original: tuple[float, float]
    window: tuple[float, float, float, float]

    def to_dict(self) -> dict[str, list[float]]:
        return {"point": list(self.point), "original": list(self.original), "window": list(self.window)}


def closed_tags(text: str) -> str:
    """`text` with a trailing `<tool_call>` or `<answer>` closed: OpenAI-compatible servers cut the stop
    string off, while the transformers and vLLM engines keep it.

    >>> closed_tags("<think>x</think><answer> B"), closed_tags("<answer>B</answer>")
    ('<think>x</think><answer> B</answer>', '<answer>B</answer>')
    """
    for opening, closing in ((CALL_OPEN, CALL_CLOSE), (ANSWER_OPEN, ANSWER_CLOSE)):
        start = text.rfind(opening)
        if start >= 0 and closing not in text[start:]:
            return text + closing
    return text


@dataclass
class Trajectory:
    """One trajectory's conversation, zoom state and record of what happened.

    Attributes:
        key: the caller's label (the runner uses (record position, sample)).
        messages, images: the conversation so far, images in the order of their parts.
        session: the zoom tool over the record's target image.
        turns: the model's turns, in order.
        looks: the zoom-ins that produced a crop, in order.
        errors: calls answered with an error observation.
        num_tokens, latency_s: generated tokens and the engine calls' latencies, summed over turns.
        cost_s: this trajectory's share of the engine time (each call's seconds over the trajectories in it).
        forced: the last observation told the model to answer now.
        done: no further turn is generated.
    """

    key: Any
    messages: list[dict[str, Any]]
    images: list[Image.Image]
    session: ZoomSession
    turns: list[str] = field(default_factory=list)
    looks: list[Look] = field(default_factory=list)
    errors: int = 0
    num_tokens: int = 0
    latency_s: float = 0.0
    cost_s: float = 0.0
    forced: bool = False
    done: bool = False

    def prompt(self) -> Prompt:
        return Prompt(self.messages, self.images)

    @property
    def answer(self) -> str:
        """The last turn as the judge reads it: after a forced answer, the continuation of the `<answer>`
        that the observation opened (unless the model opened its own, or called the tool again: no answer).

        >>> from groundrl.models.families import FAMILIES
        >>> t = Trajectory(0, [], [], ZoomSession(Image.new("RGB", (8, 8)), FAMILIES["qwen3-vl"]))
        >>> t.turns, t.forced = [" B </answer>"], True
        >>> t.answer
        '<answer> B </answer>'
        """
        text = self.turns[-1] if self.turns else ""
        opened = self.session.limits.answer_now.rstrip().endswith(ANSWER_OPEN)
        if self.forced and opened and ANSWER_OPEN not in text and CALL_OPEN not in text:
            text = closed_tags(ANSWER_OPEN + text)
        return text

    def advance(self, generation: Generation, share_s: float) -> None:
        """Take the model's next turn: answer its tool call (a crop, or a short error), or finish."""
        text = closed_tags(generation.text)
        self.turns.append(text)
        self.num_tokens += generation.num_tokens
        self.latency_s += generation.latency_s
        self.cost_s += share_s
        if self.forced or CALL_OPEN not in text:
            self.done = True
            return
        call = parse_tool_call(text)
        obs = self.session.answer(call)
        if isinstance(call, ToolCallError):
            self.errors += 1
        elif isinstance(call, ToolCall) and obs.crop is not None:
            crop = obs.crop
            self.looks.append(Look(call.point, crop.point, crop.window))
        observation = place_images([obs.as_message()], 1 if obs.image is not None else 0)[0]
        self.messages = [*self.messages, {"role": "assistant", "content": [{"type": "text", "text": text}]}]
        self.messages.append(observation)
        self.images = [*self.images, *([obs.image] if obs.image is not None else [])]
        self.forced = obs.final

    def summary(self) -> dict[str, Any]:
        """What a predictions row keeps of the trajectory (JSON)."""
        return {
            "turns": self.turns,
            "looks": [look.to_dict() for look in self.looks],
            "tool_calls": len(self.looks) + self.errors,
            "errors": self.errors,
            "forced": self.forced,
            "num_tokens": self.num_tokens,
        }


def start_trajectory(
    key: Any,
    prompt: Prompt,
    target: int,
    family: Family,
    preset: ZoomPreset,
    limits: ZoomLimits,
    system: str = ZOOM_SYSTEM,
) -> Trajectory:
    """A trajectory at its first turn.

    Args:
        key: the caller's label.
        prompt: the record's messages and images (not modified).
        target: which of the prompt's images the tool crops (the record's `image_index`).
        family: the model's family, with its processor's pixel bounds (the tool's coordinate frame).
        preset, limits: the zoom tool's; every prompt image counts towards `limits.max_images`.
        system: a system turn put first, unless the messages have their own ("" for none).
    """
    messages = list(prompt.messages)
    if system and not (messages and messages[0]["role"] == "system"):
        messages.insert(0, {"role": "system", "content": [{"type": "text", "text": system}]})
    session = ZoomSession(prompt.images[target], family, preset, limits, images_used=len(prompt.images))
    return Trajectory(key, messages, list(prompt.images), session)


def run_trajectories(
    engine: Engine, trajectories: Iterable[Trajectory], sampling: Sampling, in_flight: int
) -> Iterator[list[Trajectory]]:
    """Run trajectories to their end, `in_flight` at a time, one `engine.generate` call per round.

    Args:
        engine: any engine.
        trajectories: started trajectories; taken lazily as the pool has room.
        sampling: how each turn is generated (`n` and `stop` are set here: one answer per trajectory,
            ending at a tool call or an answer).
        in_flight: trajectories per round.

    Yields:
        After every round, the trajectories that finished in it (possibly none).
    """
    waiting = iter(trajectories)
    turn_sampling = replace(sampling, n=1, stop=STOP)
    active: list[Trajectory] = []
    while True:
        active += itertools.islice(waiting, max(1, in_flight) - len(active))
        if not active:
            return
        started = time.perf_counter()
        generations = engine.generate([t.prompt() for t in active], turn_sampling)
        share_s = (time.perf_counter() - started) / len(active)
        for trajectory, outputs in zip(active, generations, strict=True):
            trajectory.advance(outputs[0], share_s)
        yield [t for t in active if t.done]
        active = [t for t in active if not t.done]
