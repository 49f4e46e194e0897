"""Helpers shared by the tests: JSONL files and the command line, in this process or in a real one."""

import contextlib
import json
import logging
import os
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

from typer.testing import CliRunner

from groundrl.cli.app import main
from groundrl.engines.base import Generation


def write_jsonl(path: Path, rows: list) -> Path:
    """Write rows (dicts, or raw strings written as they are) one per line."""
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write((row if isinstance(row, str) else json.dumps(row)) + "\n")
    return path


@dataclass
class CliResult:
    """What a finished `groundrl` command left: the fields of `subprocess.CompletedProcess` the tests read."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str


def run_cli(*args: str, check: bool = False) -> CliResult:
    """Run `groundrl *args` in this process, through the console script's own `main()`.

    It behaves as the real command does for the tests: the exit code of `typer.Exit`/`sys.exit`, an
    uncaught exception's traceback on stderr with code 1, warnings of the package's loggers on stderr.
    Use `run_cli_subprocess` where the process itself is under test (signals, interpreter start-up,
    what gets imported). `GROUNDRL_TEST_CLI=subprocess` runs every call in a real process instead, to
    tell a difference between the two apart from a bug.
    """
    if os.environ.get("GROUNDRL_TEST_CLI") == "subprocess":
        return run_cli_subprocess(*args, check=check)
    with _isolated(["groundrl", *args]) as (out, err):
        try:
            main()
            code = 0
        except SystemExit as e:
            code = _exit_code(e.code)
        except Exception:
            traceback.print_exc()  # as the interpreter does for an uncaught exception
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        result = CliResult(list(args), code, out.getvalue().decode(), err.getvalue().decode())
    return _checked(result, check)


def run_cli_subprocess(*args: str, check: bool = False) -> CliResult:
    """Run the real `groundrl` command line in a subprocess, as a user would: the installed console script."""
    script = Path(sys.executable).with_name("groundrl")
    proc = subprocess.run([str(script), *args], capture_output=True, text=True, timeout=600)
    return _checked(CliResult(list(args), proc.returncode, proc.stdout, proc.stderr), check)


def _checked(result: CliResult, check: bool) -> CliResult:
    if check and result.returncode != 0:
        raise AssertionError(
            f"groundrl {' '.join(result.args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


def _exit_code(code: object) -> int:
    """The process exit status Python gives `sys.exit(code)`; a message code goes to stderr."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


@contextlib.contextmanager
def _isolated(argv: list[str]):
    """Capture stdout/stderr as bytes, set sys.argv, and undo what the command changes in os.environ.

    Logging: a real process with no handlers configured prints WARNING and above to stderr (logging's
    last-resort handler); under pytest the root logger has pytest's handlers, so one is added for the run.
    """
    environ, saved_argv = dict(os.environ), sys.argv
    # click names the program after sys.argv[0] when __main__ is a script, as in the console script's
    # process; under `python -m pytest` it would say `python -m pytest.groundrl` in usage lines.
    script_main = mock.patch.object(sys.modules["__main__"], "__package__", None)
    with CliRunner().isolation() as (out, err, _), script_main:
        handler = logging.StreamHandler(sys.stderr)
        handler.setLevel(logging.WARNING)
        logging.getLogger("groundrl").addHandler(handler)
        sys.argv = argv
        try:
            yield out, err
        finally:
            sys.argv = saved_argv
            logging.getLogger("groundrl").removeHandler(handler)
            os.environ.clear()
            os.environ.update(environ)


def call(x: float, y: float) -> str:
    """A turn that ends with a zoom tool call at (x, y), in ViGoRL's form."""
    args = json.dumps({"name": "search_coordinate", "arguments": {"coordinate": [x, y]}})
    return f"<think>\nLook closer.\n</think>\n<tool_call>\n{args}\n</tool_call>"


def turn_of(prompt) -> int:
    """How many assistant turns a prompt already holds."""
    return sum(m["role"] == "assistant" for m in prompt.messages)


class CallsFirst:
    """The real engine generates every turn (its cost, its prompts with the crops); the text of each
    trajectory's first `calls` turns is replaced by a tool call, as a model trained to zoom would write."""

    def __init__(self, engine, calls: int, point=(500, 500)):
        self.engine, self.calls, self.point = engine, calls, point
        self.images_per_round: list[list[int]] = []

    def generate(self, prompts, sampling):
        outputs = self.engine.generate(prompts, sampling)
        self.images_per_round.append([len(p.images) for p in prompts])
        for prompt, out in zip(prompts, outputs, strict=True):
            if turn_of(prompt) < self.calls:
                out[0] = Generation(call(*self.point), out[0].num_tokens, out[0].latency_s)
        return outputs
