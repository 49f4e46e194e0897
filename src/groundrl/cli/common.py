"""What every command shares: consoles, and the one-line error with its exit status."""

from __future__ import annotations

import os
import sys
import traceback
from typing import NoReturn

import typer
from rich.console import Console
from rich.text import Text

from groundrl.errors import EXIT_BAD_INPUT

# No markup: messages carry boxes like [x1, y1, x2, y2] and paths like file.json[3] that rich would eat.
console = Console(markup=False)
err_console = Console(stderr=True, markup=False)

DEBUG_ENV = "GROUNDRL_DEBUG"


def debug_enabled() -> bool:
    """Whether `--debug` or GROUNDRL_DEBUG=1 asked for tracebacks."""
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


def print_error(message: object) -> None:
    """`groundrl: error: message` on one line of stderr; with --debug, the traceback being handled first."""
    if debug_enabled() and sys.exc_info()[0] is not None:
        traceback.print_exc()
    err_console.print(Text("groundrl: error: ", style="bold red") + Text(str(message)), highlight=False, soft_wrap=True)


def fail(message: object, code: int = EXIT_BAD_INPUT) -> NoReturn:
    """Print `groundrl: error: message` on one line to stderr and exit with `code` (2: bad input)."""
    print_error(message)
    raise typer.Exit(code)
