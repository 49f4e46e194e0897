"""The root `groundrl` command."""

from __future__ import annotations

import typer

from groundrl.cli.data import data_app
from groundrl.cli.demo import demo
from groundrl.cli.evaluate import eval_app
from groundrl.cli.models import models_app
from groundrl.cli.score import score
from groundrl.cli.synth import synth

app = typer.Typer(
    name="groundrl",
    help="Train and evaluate vision-language models for visual grounding.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command()(score)
app.command()(synth)
app.command()(demo)
app.add_typer(models_app, name="models")
app.add_typer(data_app, name="data")
app.add_typer(eval_app, name="eval")


def main() -> None:
    app()
