"""The Protocol every generation backend follows, and the values it passes."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field
from typing import Any, Protocol

from PIL import Image


@dataclass
class Prompt:
    """Chat messages (with `{"type": "image"}` parts) and the images they refer to, in order.

    `seed`: this prompt's own sampling seed. With it, a sampled answer depends on the prompt and its seed
    only, never on the other prompts of its batch or their order; None: `Sampling.seed` seeds the batch.
    """

    messages: list[dict[str, Any]]
    images: list[Image.Image] = field(default_factory=list)
    seed: int | None = None


@dataclass(frozen=True)
class Sampling:
    """How to generate.

    Attributes:
        max_new_tokens: tokens per answer.
        temperature: 0 for greedy decoding.
        top_p: nucleus sampling when temperature > 0.
        n: answers per prompt.
        stop: strings that end an answer (kept in the text).
        max_thinking_tokens: bound on the reasoning of thinking models: at the budget, `</think>` is
            forced and the answer follows (budget forcing); None: no bound.
        seed: for sampled decoding.
    """

    max_new_tokens: int = 128
    temperature: float = 0.0
    top_p: float = 1.0
    n: int = 1
    stop: tuple[str, ...] = ()
    max_thinking_tokens: int | None = None
    seed: int = 0


@dataclass(frozen=True)
class Generation:
    """One answer: its text, how many tokens were generated, and the latency of its request in seconds."""

    text: str
    num_tokens: int
    latency_s: float


class Engine(Protocol):
    def generate(self, prompts: list[Prompt], sampling: Sampling) -> list[list[Generation]]:
        """`sampling.n` answers per prompt, in the order of `prompts`."""
        ...


def image_data_url(image: Image.Image) -> str:
    """A PNG data URL, as the OpenAI-compatible chat API takes images."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def cut_at_stop(text: str, stop: tuple[str, ...]) -> str:
    """`text` up to and including the first stop string."""
    cut = len(text)
    for s in stop:
        i = text.find(s)
        if i >= 0:
            cut = min(cut, i + len(s))
    return text[:cut]
