"""Helpers shared by the tests: JSONL files and the real command line."""

import json
import subprocess
import sys
from pathlib import Path


def write_jsonl(path: Path, rows: list) -> Path:
    """Write rows (dicts, or raw strings written as they are) one per line."""
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write((row if isinstance(row, str) else json.dumps(row)) + "\n")
    return path


def run_cli(*args: str, check: bool = False) -> subprocess.CompletedProcess:
    """Run the real `groundrl` command line in a subprocess, as a user would."""
    proc = subprocess.run([sys.executable, "-m", "groundrl", *args], capture_output=True, text=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"groundrl {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc
