"""`groundrl eval`'s options (EvalConfig) and what makes two evaluations one run (`run_identity`): the
model, the records and every setting that changes a prediction, so that a resumed run never mixes two runs'
predictions (eval/runner.py keeps the run folder)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from groundrl.config import to_dict
from groundrl.engines import Sampling
from groundrl.eval.multiturn import ZOOM_SYSTEM

ZOOM_KEYS = (
    "zoom_preset",
    "zoom_half",
    "zoom_size",
    "max_tool_calls",
    "max_images",
    "zoom_system",
)  # in the identity when tools=zoom
# What makes two evaluations one run: not batch_size, limit (a larger one extends a run), concurrency,
# the servers' addresses or their key, which change how fast predictions come, not what they are.
IDENTITY = (
    "model",
    "engine",
    "suite",
    "root",
    "data",
    "format",
    "image_root",
    "family",
    "prompt",
    "samples",
    "temperature",
    "top_p",
    "max_new_tokens",
    "max_thinking_tokens",
    "seed",
    "aggregate",
    "tools",
    *ZOOM_KEYS,
)
_PATHS = ("root", "data", "image_root")


@dataclass(frozen=True)
class EvalConfig:
    """`groundrl eval` options; any of them can be set with key=value on the command line.

    Attributes:
        model: a checkpoint folder (transformers, vllm) or a served model name (openai).
        engine: transformers, vllm or openai.
        base_urls: OpenAI-compatible servers, e.g. http://127.0.0.1:8000/v1 (round-robin).
        api_key_env: environment variable holding the servers' API key.
        suite: refcoco, screenspot, vstar, mig-bench, lisa-grounding, sat, blink; or None with `data`.
        root: the suite's folder, in its published layout.
        data: a file of records instead of a suite; format: its format.
        image_root: where the images are, when not where the layout puts them.
        family: model family (prompt and coordinate convention); default: from the model's config.
        prompt: a grounding prompt template with `{expression}`, instead of the family's (`<image>` in it
            places the images there).
        samples, temperature, top_p, max_new_tokens, max_thinking_tokens, seed: generation.
        aggregate: consensus or wbf, for several box samples.
        batch_size: records per batch (and per fsync of the predictions file).
        limit: records per split (None: all).
        max_in_flight: concurrent requests (openai).
        tools: none (one pass) or zoom (multi-turn with the zoom tool, `batch_size` trajectories per round).
        zoom_preset: the tool's crop, qa (+-182 px -> 672) or web (+-100 px -> 512, red dot).
        zoom_half, zoom_size: the preset's half window (seen pixels) and crop side, when given.
        max_tool_calls: tool calls per trajectory, errors included, before the answer is forced.
        max_images: images per trajectory, the record's own and the crops (ViGoRL: 5).
        zoom_system: the system turn describing the tool ("": none; "tools": the tool's schema as multi-turn
            GRPO's rollouts show it, for a model trained with GroundRL's zoom recipes; records with their own
            keep theirs).
    """

    model: str = ""
    engine: str = "transformers"
    base_urls: list[str] = field(default_factory=list)
    api_key_env: str = "OPENAI_API_KEY"
    suite: str | None = None
    root: str | None = None
    data: str | None = None
    format: str = "groundrl"
    image_root: str | None = None
    family: str | None = None
    prompt: str | None = None
    samples: int = 1
    temperature: float = 0.0
    top_p: float = 1.0
    max_new_tokens: int = 256
    max_thinking_tokens: int | None = None
    seed: int = 0
    aggregate: str = "consensus"
    batch_size: int = 16
    limit: int | None = None
    max_in_flight: int = 64
    tools: str = "none"
    zoom_preset: str = "qa"
    zoom_half: int | None = None
    zoom_size: int | None = None
    max_tool_calls: int = 4
    max_images: int = 5
    zoom_system: str = ZOOM_SYSTEM

    def sampling(self) -> Sampling:
        return Sampling(
            max_new_tokens=self.max_new_tokens,
            temperature=self.temperature,
            top_p=self.top_p,
            n=self.samples,
            max_thinking_tokens=self.max_thinking_tokens,
            seed=self.seed,
        )


def run_identity(config: dict) -> dict:
    """What makes two evaluations the same run, from a config as config.json stores it: the model, the
    records and every setting that changes a prediction (IDENTITY), with paths made absolute.

    >>> run_identity({"model": "served", "engine": "openai", "temperature": 0.7})["temperature"]
    0.7
    """
    defaults = to_dict(EvalConfig())
    identity = {key: config.get(key, defaults[key]) for key in IDENTITY}
    if identity["tools"] == "none":  # the tool's settings change nothing without the tool
        for key in ZOOM_KEYS:
            del identity[key]
    local_model = identity["engine"] != "openai" and Path(identity["model"]).exists()
    for key in [*_PATHS, *(["model"] if local_model else [])]:
        if identity[key]:
            identity[key] = str(Path(identity[key]).resolve())
    return identity
