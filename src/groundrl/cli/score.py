"""`groundrl score`: score a JSONL file of model outputs against ground truth."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from groundrl.cli.common import console, err_console, fail
from groundrl.errors import InputError
from groundrl.eval.scoring import score_jsonl

MAX_REPORTED = 20


def score(
    predictions: Annotated[
        Path,
        typer.Argument(
            help="JSONL: id, output, gt, width, height, family|coords; task box|point|detection|qa (qa: gt, choices)."
        ),
    ],
    details: Annotated[Path | None, typer.Option(help="Write one JSON line per input: id, pred, iou, hit.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object as the last line.")] = False,
    skip_bad: Annotated[bool, typer.Option(help="Count and report bad lines, score the rest.")] = False,
    workers: Annotated[int, typer.Option(min=0, help="Processes; 0: one per core.")] = 0,
) -> None:
    """Score model outputs: parse boxes/points, convert to original pixels, judge IoU and hits (the one scorer
    that `groundrl eval` and the rewards use)."""
    out = None
    try:
        out = open(details, "w", encoding="utf-8") if details else None  # noqa: SIM115 - closed below
        summary, bad = score_jsonl(predictions, out, skip_bad=skip_bad, workers=workers)
    except InputError as e:
        fail(e)
    except OSError as e:
        fail(f"{e.filename}: cannot open ({e.strerror})")
    except UnicodeDecodeError as e:
        fail(f"{predictions}: not UTF-8 text ({e.reason})")
    finally:
        if out is not None:
            out.close()
    _report_bad(bad)
    metrics = summary.as_dict()
    if as_json:
        print(json.dumps(metrics))
    else:
        console.print(_table(str(predictions), metrics))


def _report_bad(bad: list[InputError]) -> None:
    if not bad:
        return
    for e in bad[:MAX_REPORTED]:
        err_console.print(f"skipped {e}", highlight=False, soft_wrap=True)
    if len(bad) > MAX_REPORTED:
        err_console.print(f"... and {len(bad) - MAX_REPORTED} more")
    by_reason = ", ".join(f"{k}: {v}" for k, v in Counter(e.reason for e in bad).most_common())
    err_console.print(f"skipped {len(bad)} bad line(s) ({by_reason})", highlight=False)


def _table(path: str, metrics: dict) -> Table:
    table = Table(title=f"groundrl score: {path}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in metrics.items():
        shown = "-" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)
        table.add_row(key, shown)
    return table
