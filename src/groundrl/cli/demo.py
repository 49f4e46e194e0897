"""`groundrl demo`: the whole pipeline on built-in synthetic data and a tiny model, on CPU."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from groundrl.cli.common import console


def demo(
    out: Annotated[str, typer.Option(help="Run folder.")] = "runs/demo",
    family: Annotated[str, typer.Option(help="Model family of the tiny model.")] = "qwen2.5-vl",
    n_eval: Annotated[int, typer.Option(min=1, help="Held-out records.")] = 32,
    seed: Annotated[int, typer.Option(help="Seed for model and data.")] = 0,
    scaling: Annotated[bool, typer.Option(help="Also run the test-time scaling grid.")] = True,
) -> None:
    """Build a tiny model, generate held-out data, predict, score, and write the run folder."""
    from groundrl.demo import DemoConfig, run_demo

    summary = run_demo(DemoConfig(out=out, family=family, n_eval=n_eval, seed=seed, scaling=scaling), log=console.log)
    console.print_json(json.dumps(summary))
    console.print(f"run folder: {out}: summary.json, eval/base/report.html, scaling/scaling.png")
