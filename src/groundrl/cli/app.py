"""The root `groundrl` command."""

from __future__ import annotations

import os

import typer

from groundrl.cli.data import data_app
from groundrl.cli.demo import demo
from groundrl.cli.evaluate import evaluate
from groundrl.cli.models import models_app
from groundrl.cli.predict import predict
from groundrl.cli.score import score
from groundrl.cli.serve import serve
from groundrl.cli.synth import synth
from groundrl.cli.train import export, grpo, sft

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
app.command()(serve)
app.command()(predict)
app.command(context_settings={"allow_interspersed_args": True})(sft)
app.command(context_settings={"allow_interspersed_args": True})(grpo)
app.command()(export)
app.add_typer(models_app, name="models")
app.add_typer(data_app, name="data")
app.command("eval", context_settings={"allow_interspersed_args": True})(evaluate)


def main() -> None:
    # Our own progress bars speak for the work; the hub's and transformers' per-shard bars add noise.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    app()
