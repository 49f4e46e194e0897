"""Benchmark: `groundrl data validate` without images on 1,000,000 synthetic records (target: >= 100,000
records/s on 2 cores), and its peak memory on 100,000 vs 1,000,000 lines (it must stay flat).

Side by side in the same run, the floor: a loop that only `json.loads` each line, in one process.

    python benchmarks/validate_throughput.py [--lines 1000000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def make_records(n: int, path: Path, seed: int = 0) -> None:
    """n unified records like the synthetic REC data (no image is opened without --images)."""
    rng = random.Random(seed)
    with open(path, "w") as f:
        for i in range(n):
            w, h = rng.randint(200, 1600), rng.randint(200, 1200)
            x1, y1 = rng.randint(0, w // 2), rng.randint(0, h // 2)
            box = [x1, y1, x1 + rng.randint(10, w // 2), y1 + rng.randint(10, h // 2)]
            row = {
                "id": f"r{i}",
                "images": [f"images/{i % 5000}.jpg"],
                "image_sizes": [[w, h]],
                "task": "rec",
                "question": "the man in the red shirt on the left",
                "boxes": [box],
                "source": "bench",
            }
            f.write(json.dumps(row) + "\n")


def run_validate(path: Path) -> tuple[float, int]:
    """Seconds and peak RSS (KiB) of `groundrl data validate`, its worker processes included."""
    started = time.perf_counter()
    code = "\n".join(
        [
            "import resource, sys",
            "from groundrl.cli.app import main",
            "sys.argv = ['groundrl', 'data', 'validate', sys.argv[1]]",
            "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code",
            "usage = resource.getrusage",
            "print(max(usage(resource.RUSAGE_SELF).ru_maxrss, usage(resource.RUSAGE_CHILDREN).ru_maxrss))",
        ]
    )
    out = subprocess.run([sys.executable, "-c", code, str(path)], check=True, capture_output=True, text=True)
    return time.perf_counter() - started, int(out.stdout.strip().splitlines()[-1])


def floor_loop(path: Path) -> None:
    with open(path) as f:
        for line in f:
            json.loads(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        big, small = Path(tmp) / "big.jsonl", Path(tmp) / "small.jsonl"
        make_records(args.lines, big)
        make_records(args.lines // 10, small)
        times, floors, rss = [], [], {}
        for _ in range(args.repeats):
            seconds, rss["big"] = run_validate(big)
            times.append(seconds)
            started = time.perf_counter()
            floor_loop(big)
            floors.append(time.perf_counter() - started)
        _, rss["small"] = run_validate(small)
    med, floor = statistics.median(times), statistics.median(floors)
    print(f"machine: {platform.machine()}, python {platform.python_version()}")
    print(f"{args.lines:,} lines, median of {args.repeats}")
    print("| what | median s | records/s | vs floor |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| groundrl data validate (no images) | {med:.2f} | {args.lines / med:,.0f} | {med / floor:.2f}x |")
    print(f"| floor: json.loads per line, one process | {floor:.2f} | {args.lines / floor:,.0f} | 1.00x |")
    small, big = rss["small"] / 1024, rss["big"] / 1024
    print(f"peak RSS: {small:.0f} MiB on {args.lines // 10:,} lines, {big:.0f} MiB on {args.lines:,} lines")


if __name__ == "__main__":
    main()
