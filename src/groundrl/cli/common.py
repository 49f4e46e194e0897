"""What every command shares: consoles and the one-line error with exit status 2."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console
from rich.text import Text

from groundrl.errors import EXIT_BAD_INPUT

# No markup: messages carry boxes like [x1, y1, x2, y2] and paths like file.json[3] that rich would eat.
console = Console(markup=False)
err_console = Console(stderr=True, markup=False)


def fail(message: object, code: int = EXIT_BAD_INPUT) -> NoReturn:
    """Print `error: message` on one line to stderr and exit with `code` (2: bad input)."""
    err_console.print(Text("error: ", style="bold red") + Text(str(message)), highlight=False, soft_wrap=True)
    raise typer.Exit(code)
