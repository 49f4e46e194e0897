"""`run_cli` runs the command line in this process and ends as the real process does: same exit status,
same stdout and stderr."""

import pytest

from helpers import run_cli, run_cli_subprocess


@pytest.mark.parametrize(
    "args",
    [
        ("score", "/nonexistent/predictions.jsonl"),  # an InputError: one line, exit 2
        ("no-such-command",),  # a usage error from click
        ("synth", "--task", "rec", "--n", "0"),  # an option out of range
        ("models", "list"),  # a success
    ],
)
def test_in_process_run_ends_as_the_real_process(args):
    real, here = run_cli_subprocess(*args), run_cli(*args)
    assert (here.returncode, here.stdout, here.stderr) == (real.returncode, real.stdout, real.stderr)
