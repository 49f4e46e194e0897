"""`groundrl demo`: a tiny VLM learns to ground synthetic expressions on CPU: SFT, then GRPO, evaluated."""

from __future__ import annotations

from typing import Annotated

import typer

from groundrl.cli.common import console
from groundrl.demo_config import DemoConfig

D = DemoConfig()  # the defaults live there; the recipe (and torch) load only when the command runs


def demo(
    out: Annotated[str, typer.Option(help="Run folder.")] = D.out,
    family: Annotated[str, typer.Option(help="Tiny model family: qwen3-vl, qwen2.5-vl or qwen2-vl.")] = D.family,
    n_train: Annotated[int, typer.Option(min=1, help="Synthetic training records.")] = D.n_train,
    n_eval: Annotated[int, typer.Option(min=1, help="Held-out scenes (figures come with 95% intervals).")] = D.n_eval,
    sft_steps: Annotated[int, typer.Option(min=1, help="SFT steps.")] = D.sft_steps,
    grpo_steps: Annotated[int, typer.Option(min=1, help="GRPO steps.")] = D.grpo_steps,
    seed: Annotated[int, typer.Option(help="Seed of the data and training (the initial weights are fixed).")] = D.seed,
    scaling: Annotated[bool, typer.Option(help="Also run the test-time scaling grid.")] = D.scaling,
) -> None:
    """Build a tiny model, train it with SFT then GRPO on synthetic data, evaluate after each stage."""
    from groundrl.demo import run_demo
    from groundrl.demo_report import figure_line, gain_line

    cfg = DemoConfig(
        out=out,
        family=family,
        n_train=n_train,
        n_eval=n_eval,
        sft_steps=sft_steps,
        grpo_steps=grpo_steps,
        seed=seed,
        scaling=scaling,
    )
    summary = run_demo(cfg, log=console.log)
    stages = {"base": "base", "sft": "after SFT", "grpo": "after GRPO"}
    console.print("\n".join(figure_line(label, summary[stage]) for stage, label in stages.items()), markup=False)
    console.print(gain_line(summary["gain"]), markup=False)
    console.print(
        f"run folder: {out}: summary.json, curves.png, sft-vs-grpo.html (the same held-out scenes after SFT and "
        "after GRPO), eval/*/report.html, scaling/scaling.png",
        markup=False,
    )
