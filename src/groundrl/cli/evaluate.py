"""`groundrl eval`: evaluate a model on a suite or a data file, resumably, with reports."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from groundrl.cli.common import console, fail
from groundrl.config import ConfigError, apply_overrides
from groundrl.errors import InputError

eval_app = typer.Typer(
    help="Evaluate grounding models.",
    invoke_without_command=True,
    context_settings={"allow_interspersed_args": True},  # key=value overrides may come before options
)


@eval_app.callback()
def evaluate(
    ctx: typer.Context,
    model: Annotated[str | None, typer.Option(help="Checkpoint folder, or served model name (engine=openai).")] = None,
    suite: Annotated[str | None, typer.Option(help="refcoco, screenspot, vstar, mig-bench, lisa-grounding.")] = None,
    root: Annotated[str | None, typer.Option(help="The suite's folder in its published layout.")] = None,
    data: Annotated[str | None, typer.Option(help="A file of records instead of a suite.")] = None,
    out: Annotated[Path | None, typer.Option(help="Run folder; rerunning with it resumes.")] = None,
    samples: Annotated[int, typer.Option(min=1, help="Answers per query (test-time scaling).")] = 1,
    temperature: Annotated[float, typer.Option(min=0.0, help="0: greedy.")] = 0.0,
    max_thinking_tokens: Annotated[
        int | None, typer.Option(min=1, help="Bound the reasoning of thinking models.")
    ] = None,
    overrides: Annotated[
        list[str] | None, typer.Argument(help="key=value settings of EvalConfig (docs/evaluation.md).")
    ] = None,
) -> None:
    """Evaluate: generate, judge and report (metrics.json, report.md, report.html) in the run folder."""
    if ctx.invoked_subcommand is not None:
        return
    from groundrl.eval.report import write_reports
    from groundrl.eval.runner import EvalConfig, run_eval

    if out is None:
        fail("--out: a run folder is required")
    given = {"model": model, "suite": suite, "root": root, "data": data}
    args = [f"{k}={v}" for k, v in given.items() if v is not None]
    args += [f"samples={samples}", f"temperature={temperature}"]
    if max_thinking_tokens is not None:
        args.append(f"max_thinking_tokens={max_thinking_tokens}")
    try:
        cfg = apply_overrides(EvalConfig(), args + list(overrides or []))
        if not cfg.model:
            fail("--model is required")
        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
        ) as bar:
            task = bar.add_task("evaluating", total=None)
            run_eval(cfg, out, progress=lambda done, total: bar.update(task, completed=done, total=total))
        metrics = write_reports(out)
    except (ConfigError, InputError, ValueError, FileNotFoundError) as e:
        fail(e)
    from groundrl.eval.report import markdown_table

    console.print(markdown_table(metrics), soft_wrap=True)
    console.print(f"reports: {out}/report.md, {out}/report.html, {out}/metrics.json")
