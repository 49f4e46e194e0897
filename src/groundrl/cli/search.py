"""`groundrl search` (MCTS over grounded thoughts, resumable) and `groundrl linearize` (trees -> SFT chains)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from groundrl.cli.common import console, fail
from groundrl.config import ConfigError, load_config
from groundrl.errors import InputError

TREES = "trees.jsonl"


def search(
    overrides: Annotated[
        list[str] | None, typer.Argument(help="key=value settings, e.g. mcts.simulations=4 trees_in_flight=32.")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Run folder; rerunning the same search into it resumes.")] = None,
    model: Annotated[str | None, typer.Option(help="Checkpoint folder, or served model name (engine=openai).")] = None,
    data: Annotated[str | None, typer.Option(help="Records to search (format=... for other formats).")] = None,
    config: Annotated[Path | None, typer.Option(help="YAML config (SearchConfig).")] = None,
    report: Annotated[
        bool, typer.Option("--report", help="Render the trees in --out as report.html instead of searching.")
    ] = False,
) -> None:
    """Tree search over grounded thoughts (ViGoRL's MCTS), many trees batched per engine call.

    Writes --out/trees.jsonl (one line per tree) and --out/errors.jsonl; see docs/search.md.
    """
    if out is None:
        fail("--out: a run folder is required")
    if report:
        from groundrl.search.report import write_report

        if not (out / TREES).exists():
            fail(f"--report: no {TREES} in {out}")
        n = write_report(out / TREES, out / "report.html")
        console.print(f"report: {out}/report.html ({n} trees)", soft_wrap=True)
        return
    from groundrl.search.config import SearchConfig
    from groundrl.search.run import check_config, run_search

    given = [f"{k}={v}" for k, v in {"model": model, "data": data}.items() if v is not None]
    try:
        cfg = load_config(SearchConfig, config, given + list(overrides or []))
        check_config(cfg)
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console) as bar:
            task = bar.add_task("searching", total=None)
            stats = run_search(cfg, out, progress=lambda done, total: bar.update(task, completed=done, total=total))
    except (ConfigError, InputError, ValueError, FileNotFoundError) as e:
        fail(e)
    console.print(f"{stats.trees} trees, {stats.failed} failed, {stats.calls} calls in {stats.rounds} batches")
    console.print(f"trees: {out}/{TREES}; errors: {out}/errors.jsonl", soft_wrap=True)


def linearize(
    trees: Annotated[Path, typer.Argument(help="A search's trees.jsonl.")],
    overrides: Annotated[list[str] | None, typer.Argument(help="key=value settings, e.g. cap=100 seed=1.")] = None,
    mode: Annotated[str, typer.Option(help="single: one-turn chains; multi: zoom-in tool chains.")] = "single",
    out: Annotated[Path | None, typer.Option(help="The chains' JSONL (vigorl-sft); multi: images next to it.")] = None,
) -> None:
    """Turn searched trees into SFT chains (ViGoRL's format; `groundrl sft format=vigorl-sft` trains on them)."""
    from groundrl.search.linearize import LinearizeConfig
    from groundrl.search.linearize import linearize as run

    if out is None:
        fail("--out: a file for the chains is required")
    if not trees.exists():
        fail(f"{trees}: no such file")
    try:
        cfg = load_config(LinearizeConfig, None, [f"mode={mode}", *(overrides or [])])
        n = run(trees, out, cfg)
    except (ConfigError, InputError, ValueError) as e:
        fail(e)
    console.print(f"{n} chains: {out}", soft_wrap=True)
