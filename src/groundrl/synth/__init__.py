"""Synthetic grounding data, deterministic for a seed: shapes (REC), multi-image, GUI and region QA.

`generate` writes `records.jsonl` (unified records, image paths relative to it) and `images/*.png`.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

from groundrl.synth.tasks import GENERATORS, Example, SynthOptions

__all__ = ["GENERATORS", "SynthOptions", "generate", "iter_examples"]


def example_rng(seed: int, index: int) -> random.Random:
    """The RNG of example `index`: examples are independent, so any slice is reproducible alone."""
    return random.Random(seed * 1_000_003 + index)


def iter_examples(
    task: str, n: int, seed: int = 0, opts: SynthOptions | None = None, start: int = 0
) -> Iterator[Example]:
    """Yield (record, images) for examples start .. start + n - 1 of `task`.

    Raises:
        KeyError: for an unknown task, naming the known ones.
    """
    if task not in GENERATORS:
        raise KeyError(f"unknown synthetic task {task!r}; known: {', '.join(GENERATORS)}")
    make = GENERATORS[task]
    opts = opts or SynthOptions()
    for i in range(start, start + n):
        yield make(example_rng(seed, i), f"{task}-{seed}-{i:06d}", opts)


def generate(
    task: str, n: int, out: str | Path, seed: int = 0, opts: SynthOptions | None = None, start: int = 0
) -> Path:
    """Write n examples of `task` to `out/records.jsonl` and `out/images/`; returns the JSONL path."""
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    path = out / "records.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        for record, images in iter_examples(task, n, seed, opts, start):
            for rel, image in zip(record.images, images, strict=True):
                image.save(out / rel)
            f.write(record.to_json() + "\n")
    return path
