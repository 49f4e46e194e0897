"""`groundrl synth`: write synthetic grounding data as unified records (and, for QA tasks, zoom chains)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer

from groundrl.cli.common import console, fail
from groundrl.models.families import FAMILIES
from groundrl.synth import GENERATORS, ChainOptions, SynthOptions, VisualSearchOptions, generate
from groundrl.tools.zoom import PRESETS

CHAIN_TASKS = ("region_qa", "visual_search")  # tasks whose records have an answer and a box to zoom at


def _set(**values: object) -> dict[str, object]:
    """The options given on the command line (None: the task's own default)."""
    return {k: v for k, v in values.items() if v is not None}


def _chain_options(
    family: str, bounds: dict[str, object], preset: str, window: dict[str, object], look: str, direct: float
) -> ChainOptions:
    """The family with the processor's pixel bounds, and the zoom preset with its window overrides."""
    if family not in FAMILIES:
        fail(f"--family: unknown family {family!r}; expected one of {', '.join(FAMILIES)}")
    if preset not in PRESETS:
        fail(f"--preset: unknown zoom preset {preset!r}; expected one of {', '.join(PRESETS)}")
    zoom = dataclasses.replace(PRESETS[preset], **window)
    try:
        return ChainOptions(dataclasses.replace(FAMILIES[family], **bounds), zoom, look=look, direct=direct)
    except ValueError as e:
        fail(f"--look: {e}")


def synth(
    out: Annotated[Path, typer.Option(help="Folder for records.jsonl and images/.")],
    task: Annotated[str, typer.Option(help=f"One of: {', '.join(GENERATORS)}.")] = "rec",
    n: Annotated[int, typer.Option(min=1, help="Number of records.")] = 1000,
    seed: Annotated[int, typer.Option(help="Same seed, same data.")] = 0,
    min_size: Annotated[
        int | None, typer.Option(min=32, help="Smallest image side (default 192; visual_search 1024).")
    ] = None,
    max_size: Annotated[
        int | None, typer.Option(min=32, help="Largest image side (default 384; visual_search 2048).")
    ] = None,
    grid: Annotated[
        int, typer.Option(min=0, help="Snap shapes to cells of this many pixels (rec, multi_image); 0: free.")
    ] = 0,
    ask: Annotated[str, typer.Option(help="visual_search: 'letter', 'colour' or 'dot' questions.")] = "letter",
    place: Annotated[
        str, typer.Option(help="visual_search: where the target is, 'anywhere' or 'centre' (ask dot).")
    ] = "anywhere",
    choices: Annotated[int, typer.Option(min=0, help="visual_search: options per question; 0: short answer.")] = 4,
    min_target: Annotated[int | None, typer.Option(help="visual_search: smallest shape side (px; 16).")] = None,
    max_target: Annotated[int | None, typer.Option(help="visual_search: largest shape side (px; 24).")] = None,
    min_distractors: Annotated[int | None, typer.Option(help="visual_search: fewest other shapes (12).")] = None,
    max_distractors: Annotated[int | None, typer.Option(help="visual_search: most other shapes (24).")] = None,
    chains: Annotated[
        bool, typer.Option(help=f"Also write chains.jsonl: multi-turn zoom chains ({', '.join(CHAIN_TASKS)}).")
    ] = False,
    family: Annotated[str, typer.Option(help="Chains: the model family whose frame tool points use.")] = "qwen2.5-vl",
    min_pixels: Annotated[int | None, typer.Option(help="Chains: the processor's min_pixels.")] = None,
    max_pixels: Annotated[int | None, typer.Option(help="Chains: the processor's max_pixels (pixel budget).")] = None,
    preset: Annotated[str, typer.Option(help=f"Chains: zoom preset, one of {', '.join(PRESETS)}.")] = "qa",
    crop_half: Annotated[int | None, typer.Option(min=1, help="Chains: window half side in seen pixels.")] = None,
    crop_size: Annotated[int | None, typer.Option(min=8, help="Chains: crop side in pixels.")] = None,
    look: Annotated[str, typer.Option(help="Chains: tool call at the 'target' or the image's 'centre'.")] = "target",
    system: Annotated[
        str | None,
        typer.Option(help="Chains: system turn; 'tools': the tool schema GRPO rollouts show; '': none."),
    ] = None,
    direct: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Chains: fraction that answer from the full image, no tool.")
    ] = 0.0,
) -> None:
    """Generate synthetic grounding data: shapes (rec), multi_image, gui screenshots, region_qa or
    visual_search (a small target in a large image; see docs/synthetic-data.md)."""
    task = task.replace("-", "_")
    if task not in GENERATORS:
        fail(f"--task: unknown task {task!r}; expected one of {', '.join(GENERATORS)}")
    if min_size and max_size and min_size > max_size:
        fail(f"--min-size {min_size} is larger than --max-size {max_size}")
    if chains and task not in CHAIN_TASKS:
        fail(f"--chains: task {task!r} has no answer to zoom for; use one of {', '.join(CHAIN_TASKS)}")
    sizes = _set(min_size=min_size, max_size=max_size)
    if task == "visual_search":
        knobs = _set(min_target=min_target, max_target=max_target)
        knobs |= _set(min_distractors=min_distractors, max_distractors=max_distractors)
        try:
            opts = VisualSearchOptions(**sizes, **knobs, ask=ask, choices=choices, place=place)
        except ValueError as e:
            fail(f"--task visual_search: {e}")
    else:
        opts = SynthOptions(**sizes, grid=grid)
    bounds, window = _set(min_pixels=min_pixels, max_pixels=max_pixels), _set(half=crop_half, size=crop_size)
    chain = _chain_options(family, bounds, preset, window, look, direct) if chains else None
    if chain is not None and system is not None:
        from groundrl.tools.env import TOOLS_SYSTEM, tool_system_text  # transformers' template renderer: lazy

        text = tool_system_text(chain.family) if system == TOOLS_SYSTEM else system
        chain = dataclasses.replace(chain, system=text)
    try:
        path = generate(task, n, out, seed=seed, opts=opts, chains=chain)
    except ValueError as e:  # a target under one unit of the family's frame
        fail(f"--chains: {e}")
    console.print(f"wrote {n} {task} records to {path}" + (f" and chains to {path.parent / 'chains.jsonl'}" * chains))
