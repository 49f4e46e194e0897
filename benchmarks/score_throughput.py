"""Benchmark: `groundrl score` on 1,000,000 synthetic prediction lines (target: <= 30 s on 2 cores).

Side by side in the same run, the floor any scorer must pay in pure Python: a bare loop of json.loads,
one regex for `[a, b, c, d]` and IoU, with no validation, conventions or output formats (roughly what
the published evaluation scripts do). Ratios are what count on a noisy machine.

    python benchmarks/score_throughput.py [--lines 1000000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OUTPUTS = (
    '<think>the {c} one on the left</think><answer>[{{"bbox_2d": [{x1}, {y1}, {x2}, {y2}], "label": "{c}"}}]</answer>',
    "<|object_ref_start|>the {c} one<|object_ref_end|><|box_start|>({x1},{y1}),({x2},{y2})<|box_end|>",
    "The box is [{x1}, {y1}, {x2}, {y2}].",
    "I think it is at ({x1}, {y1}, {x2}, {y2})",
    "no idea where the {c} one is",
)


def make_lines(n: int, path: Path, seed: int = 0) -> None:
    """n prediction lines mixing families, conventions and answer formats."""
    rng = random.Random(seed)
    with open(path, "w") as f:
        for i in range(n):
            w, h = rng.randint(200, 1600), rng.randint(200, 1200)
            x1, y1 = rng.randint(0, w // 2), rng.randint(0, h // 2)
            gt = [x1, y1, x1 + rng.randint(10, w // 2), y1 + rng.randint(10, h // 2)]
            jitter = [v + rng.randint(-20, 20) for v in gt]
            row = {"id": i, "gt": gt, "width": w, "height": h}
            kind = i % 5
            if kind == 1:
                row["family"] = "qwen2-vl"
                jitter = [round(v * 1000 / (w if k % 2 == 0 else h)) for k, v in enumerate(jitter)]
            else:
                row["family" if kind == 0 else "coords"] = "qwen2.5-vl" if kind == 0 else "abs"
            x1, y1, x2, y2 = jitter
            row["output"] = OUTPUTS[kind].format(c="red", x1=x1, y1=y1, x2=x2, y2=y2)
            f.write(json.dumps(row) + "\n")


_FLOOR_RE = re.compile(
    r"\[\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*\]"
)


def floor_loop(path: Path) -> float:
    """The bare minimum: parse JSON, one regex, IoU in absolute pixels. Returns acc@0.5."""
    hits = n = 0
    with open(path) as f:
        for text in f:
            row = json.loads(text)
            n += 1
            m = _FLOOR_RE.search(row["output"])
            if not m:
                continue
            a = [float(v) for v in m.groups()]
            b = row["gt"]
            iw = min(a[2], b[2]) - max(a[0], b[0])
            ih = min(a[3], b[3]) - max(a[1], b[1])
            inter = iw * ih if iw > 0 and ih > 0 else 0.0
            union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
            hits += union > 0 and inter / union >= 0.5
    return hits / n


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "preds.jsonl"
        make_lines(args.lines, path)
        cli = [sys.executable, "-m", "groundrl", "score", str(path), "--json"]
        runs = {"groundrl score --json": [], "groundrl score --json --details": [], "floor loop (in process)": []}
        commands = {
            "groundrl score --json": cli,
            "groundrl score --json --details": [*cli, "--details", str(Path(tmp) / "details.jsonl")],
        }
        for _ in range(args.repeats):
            for name, command in commands.items():
                runs[name].append(timed(lambda c=command: subprocess.run(c, check=True, capture_output=True)))
            runs["floor loop (in process)"].append(timed(lambda: floor_loop(path)))
    floor = statistics.median(runs["floor loop (in process)"])
    print(f"machine: {platform.machine()}, {platform.processor() or 'cpu'}, python {platform.python_version()}")
    print(f"{args.lines:,} lines, median of {args.repeats}")
    print("| what | median s | lines/s | vs floor |")
    print("| --- | ---: | ---: | ---: |")
    for name, times in runs.items():
        med = statistics.median(times)
        print(f"| {name} | {med:.2f} | {args.lines / med:,.0f} | {med / floor:.2f}x |")


if __name__ == "__main__":
    main()
