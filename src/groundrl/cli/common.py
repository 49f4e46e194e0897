"""What every command shares: consoles and the one-line error with exit status 2."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

from groundrl.errors import EXIT_BAD_INPUT

console = Console()
err_console = Console(stderr=True)


def fail(message: object, code: int = EXIT_BAD_INPUT) -> NoReturn:
    """Print `error: message` on one line to stderr and exit with `code` (2: bad input)."""
    err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)
