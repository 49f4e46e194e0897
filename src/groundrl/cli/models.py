"""`groundrl models`: model families and tiny offline models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from groundrl.cli.common import console, fail
from groundrl.models.families import FAMILIES

models_app = typer.Typer(help="Model families and tiny offline models.", no_args_is_help=True)


@models_app.command("make-tiny")
def make_tiny_cmd(
    out: Annotated[Path, typer.Option(help="Folder to save the model and processor to.")],
    family: Annotated[str, typer.Option(help=f"One of: {', '.join(FAMILIES)}.")] = "qwen2.5-vl",
    seed: Annotated[int, typer.Option(help="Seed of the random initialisation.")] = 0,
) -> None:
    """Build a tiny random-initialised model of a real architecture and save it with save_pretrained."""
    if family not in FAMILIES:
        fail(f"--family: unknown family {family!r}; expected one of {', '.join(FAMILIES)}")
    from groundrl.models.tiny import TinySpec, make_tiny

    path = make_tiny(family, out, TinySpec(seed=seed))
    console.print(f"saved a tiny {family} model to {path}")


@models_app.command("list")
def list_families() -> None:
    """Show the known families and their coordinate conventions."""
    table = Table(title="model families")
    for column in ("family", "model_type", "coordinates", "resize factor", "vision tower"):
        table.add_column(column)
    for f in FAMILIES.values():
        table.add_row(f.name, ", ".join(f.model_types), f.convention, str(f.factor), ", ".join(f.vision_modules))
    console.print(table)
