"""`groundrl synth`: write synthetic grounding data as unified records."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from groundrl.cli.common import console, fail
from groundrl.synth import GENERATORS, SynthOptions, generate


def synth(
    out: Annotated[Path, typer.Option(help="Folder for records.jsonl and images/.")],
    task: Annotated[str, typer.Option(help=f"One of: {', '.join(GENERATORS)}.")] = "rec",
    n: Annotated[int, typer.Option(min=1, help="Number of records.")] = 1000,
    seed: Annotated[int, typer.Option(help="Same seed, same data.")] = 0,
    min_size: Annotated[int, typer.Option(min=32, help="Smallest image side (rec, multi_image).")] = 192,
    max_size: Annotated[int, typer.Option(min=32, help="Largest image side (rec, multi_image).")] = 384,
    grid: Annotated[
        int, typer.Option(min=0, help="Snap shapes to cells of this many pixels (rec, multi_image); 0: free.")
    ] = 0,
) -> None:
    """Generate synthetic grounding data: shapes (rec), multi_image, gui screenshots or region_qa."""
    task = task.replace("-", "_")
    if task not in GENERATORS:
        fail(f"--task: unknown task {task!r}; expected one of {', '.join(GENERATORS)}")
    if min_size > max_size:
        fail(f"--min-size {min_size} is larger than --max-size {max_size}")
    path = generate(task, n, out, seed=seed, opts=SynthOptions(min_size=min_size, max_size=max_size, grid=grid))
    console.print(f"wrote {n} {task} records to {path}")
