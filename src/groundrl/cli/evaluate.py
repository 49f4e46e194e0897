"""`groundrl eval` (evaluate a model on a suite or data file) and `groundrl eval scaling` (the grid)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from groundrl.cli.common import console, fail
from groundrl.config import ConfigError, load_config
from groundrl.errors import InputError


def evaluate(
    args: Annotated[
        list[str] | None,
        typer.Argument(help="key=value settings (docs/evaluation.md), e.g. tools=zoom; 'scaling' first runs the grid."),
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="YAML config (EvalConfig, or ScalingConfig for 'scaling').")
    ] = None,
    model: Annotated[str | None, typer.Option(help="Checkpoint folder, or served model name (engine=openai).")] = None,
    suite: Annotated[
        str | None, typer.Option(help="refcoco, screenspot, vstar, mig-bench, lisa-grounding, sat, blink.")
    ] = None,
    root: Annotated[str | None, typer.Option(help="The suite's folder in its published layout.")] = None,
    data: Annotated[str | None, typer.Option(help="A file of records instead of a suite.")] = None,
    out: Annotated[Path | None, typer.Option(help="Run folder; rerunning the same run into it resumes.")] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace another run found in --out (its predictions are deleted).")
    ] = False,
    samples: Annotated[int | None, typer.Option(min=1, help="Answers per query (test-time scaling).")] = None,
    temperature: Annotated[float | None, typer.Option(min=0.0, help="0: greedy.")] = None,
    max_thinking_tokens: Annotated[
        int | None, typer.Option(min=1, help="Bound the reasoning of thinking models.")
    ] = None,
) -> None:
    """Evaluate a model: generate, judge, and write metrics.json, report.md and report.html to --out.

    `groundrl eval scaling --config GRID.yaml --out DIR [key=value ...]` runs models x samples x thinking
    budgets and plots accuracy against tokens and latency.
    """
    args = list(args or [])
    if out is None:
        fail("--out: a run folder is required")
    if args and args[0] == "scaling":
        _scaling(config, out, args[1:])
        return
    given = {"model": model, "suite": suite, "root": root, "data": data, "samples": samples, "temperature": temperature}
    given["max_thinking_tokens"] = max_thinking_tokens
    options = [f"{k}={v}" for k, v in given.items() if v is not None]
    _evaluate(config, out, options + args, overwrite)


def _evaluate(config: Path | None, out: Path, overrides: list[str], overwrite: bool = False) -> None:
    from groundrl.eval.report import markdown_table, write_reports
    from groundrl.eval.runner import EvalConfig, run_eval

    try:
        cfg = load_config(EvalConfig, config, overrides)
        if not cfg.model:
            fail("--model is required")
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console) as bar:
            task = bar.add_task("evaluating", total=None)
            run_eval(cfg, out, lambda done, total: bar.update(task, completed=done, total=total), overwrite=overwrite)
        metrics = write_reports(out)
    except (ConfigError, InputError, ValueError, FileNotFoundError) as e:
        fail(e)
    console.print(markdown_table(metrics), soft_wrap=True)
    console.print(f"reports: {out}/report.md, {out}/report.html, {out}/metrics.json")


def _scaling(config: Path | None, out: Path, overrides: list[str]) -> None:
    from groundrl.eval.scaling import ScalingConfig, run_scaling, scaling_table

    try:
        cfg = load_config(ScalingConfig, config, overrides)
        points = run_scaling(cfg, out, log=console.log)
    except (ConfigError, InputError, ValueError, FileNotFoundError) as e:
        fail(e)
    console.print(scaling_table(points), soft_wrap=True)
    console.print(f"plot: {out}/scaling.png")
