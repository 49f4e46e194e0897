"""The Protocol every generation backend follows, and the values it passes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from PIL import Image


@dataclass
class Prompt:
    """Chat messages (with `{"type": "image"}` parts) and the images they refer to, in order."""

    messages: list[dict[str, Any]]
    images: list[Image.Image] = field(default_factory=list)


@dataclass(frozen=True)
class Generation:
    """One answer: its text, how many tokens were generated, and the latency of its batch in seconds."""

    text: str
    num_tokens: int
    latency_s: float


class Engine(Protocol):
    def generate(self, prompts: list[Prompt], max_new_tokens: int = 128) -> list[Generation]:
        """One greedy answer per prompt, in the order of `prompts`."""
        ...
