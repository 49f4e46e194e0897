"""The root `groundrl` command, and the one place where a failure becomes one line and an exit status."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from groundrl.cli.common import DEBUG_ENV, debug_enabled, print_error
from groundrl.cli.data import data_app
from groundrl.cli.demo import demo
from groundrl.cli.evaluate import evaluate
from groundrl.cli.models import models_app
from groundrl.cli.predict import predict
from groundrl.cli.score import score
from groundrl.cli.search import linearize, search
from groundrl.cli.serve import serve
from groundrl.cli.synth import synth
from groundrl.cli.train import export, grpo, sft
from groundrl.config import ConfigError
from groundrl.errors import EXIT_BAD_INPUT, EXIT_FAILED, InputError

app = typer.Typer(
    name="groundrl",
    help="Train and evaluate vision-language models for visual grounding.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def root(
    debug: Annotated[
        bool, typer.Option("--debug", help=f"Show the full traceback of an error (or set {DEBUG_ENV}=1).")
    ] = False,
) -> None:
    """Train and evaluate vision-language models for visual grounding."""
    if debug:
        os.environ[DEBUG_ENV] = "1"


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
app.command(context_settings={"allow_interspersed_args": True})(search)
app.command(context_settings={"allow_interspersed_args": True})(linearize)


def main() -> None:
    """The console script: every failure ends as one line on stderr and an exit status (2: bad input,
    1: a failed run or an unexpected error), never a traceback unless --debug asks for it."""
    # Our own progress bars speak for the work; the hub's and transformers' per-shard bars add noise.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        app()
    except (InputError, ConfigError) as e:  # a command that let its input error through
        print_error(e)
        sys.exit(EXIT_BAD_INPUT)
    except KeyboardInterrupt:
        print_error("interrupted")
        sys.exit(130)
    except Exception as e:
        print_error(f"{type(e).__name__}: {e}" + ("" if debug_enabled() else " (rerun with --debug for the traceback)"))
        sys.exit(EXIT_FAILED)
