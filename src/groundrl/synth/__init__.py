"""Synthetic grounding data, deterministic for a seed: shapes (REC), multi-image, GUI, region QA and visual
search.

`generate` writes `records.jsonl` (unified records, image paths relative to it) and `images/*.png`, and, for
tasks with an answer and a target box, optionally `chains.jsonl`: the same examples as multi-turn zoom chains.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TextIO

from PIL import Image

from groundrl.data.records import Record
from groundrl.synth import tasks
from groundrl.synth.chains import ChainOptions, chain_example
from groundrl.synth.tasks import Example, SynthOptions
from groundrl.synth.visual_search import VisualSearchOptions, make_visual_search

__all__ = ["GENERATORS", "OPTIONS", "ChainOptions", "SynthOptions", "VisualSearchOptions", "generate", "iter_examples"]

GENERATORS: dict[str, Callable[..., Example]] = {**tasks.GENERATORS, "visual_search": make_visual_search}
# the options type each task takes
OPTIONS: dict[str, type] = {task: SynthOptions for task in tasks.GENERATORS} | {"visual_search": VisualSearchOptions}
CHAINS_FILE = "chains.jsonl"


def example_rng(seed: int, index: int) -> random.Random:
    """The RNG of example `index`: examples are independent, so any slice is reproducible alone."""
    return random.Random(seed * 1_000_003 + index)


def iter_examples(
    task: str, n: int, seed: int = 0, opts: SynthOptions | VisualSearchOptions | None = None, start: int = 0
) -> Iterator[Example]:
    """Yield (record, images) for examples start .. start + n - 1 of `task`.

    Raises:
        KeyError: for an unknown task, naming the known ones.
        TypeError: options of another task's type.
    """
    if task not in GENERATORS:
        raise KeyError(f"unknown synthetic task {task!r}; known: {', '.join(GENERATORS)}")
    make = GENERATORS[task]
    opts = opts or OPTIONS[task]()
    if not isinstance(opts, OPTIONS[task]):
        raise TypeError(f"task {task!r} takes {OPTIONS[task].__name__}, not {type(opts).__name__}")
    for i in range(start, start + n):
        yield make(example_rng(seed, i), f"{task}-{seed}-{i:06d}", opts)


def generate(
    task: str,
    n: int,
    out: str | Path,
    seed: int = 0,
    opts: SynthOptions | VisualSearchOptions | None = None,
    start: int = 0,
    chains: ChainOptions | None = None,
) -> Path:
    """Write n examples of `task` to `out/records.jsonl` and `out/images/`; returns the JSONL path.

    With `chains`, also write each example as a multi-turn zoom chain to `out/chains.jsonl`, its crop to
    `out/images/{id}-crop.png` (see `chains.chain_example`; the task needs answers and boxes).
    """
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    path = out / "records.jsonl"
    with contextlib.ExitStack() as stack:
        f = stack.enter_context(open(path, "w", encoding="utf-8"))
        g = stack.enter_context(open(out / CHAINS_FILE, "w", encoding="utf-8")) if chains else None
        for record, images in iter_examples(task, n, seed, opts, start):
            _write(out, record, images, f)
            if chains is not None:
                chain, crops = chain_example(record, images[record.image_index], chains)
                _write(out, chain, [None, *crops], g)
    return path


def _write(out: Path, record: Record, images: list[Image.Image | None], f: TextIO) -> None:
    """Save the images (None: already saved) at their record paths and append the record's line."""
    for rel, image in zip(record.images, images, strict=True):
        if image is not None:
            # zlib level 1: writes 1.7x as fast as the default 6, files 1.8x as large (flat images stay small)
            image.save(out / rel, compress_level=1)
    f.write(record.to_json() + "\n")
