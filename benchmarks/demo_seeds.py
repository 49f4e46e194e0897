"""The whole demo (`make demo`'s settings) for several seeds: base / SFT / GRPO acc@0.5 and mean IoU with
their spread, the GRPO gain with its paired interval, and each stage's wall and CPU seconds.

    python benchmarks/demo_seeds.py --out runs/demo-seeds              # seeds 0, 11, 23
    python benchmarks/demo_seeds.py --seeds 0 1 --out DIR --no-scaling
    python benchmarks/demo_seeds.py --out DIR --report                  # the tables of finished runs again

Each seed's run folder is DIR/seed-S (summary.json, curves.png, sft-vs-grpo.html, ...); the table is also
written to DIR/seeds.json. CPU seconds are the process's over all threads: on a busy machine they estimate
what a quiet one would take (wall ~ CPU / cores in use), where wall seconds do not.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import platform
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import torch
import transformers
import trl

from groundrl.demo import run_demo
from groundrl.demo_config import DemoConfig

STAGES = ("base", "sft", "grpo")


def spread(values: list[float]) -> str:
    """`mean +- sd (min .. max)`."""
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} +- {sd:.3f} ({min(values):.3f} .. {max(values):.3f})"


def seed_lines(seed: int, summary: dict) -> list[str]:
    """Per-seed lines: each stage's figures with intervals, the gain, and seconds per stage."""
    lines = []
    for stage in STAGES:
        m = summary[stage]
        acc, miou = m["acc@0.5_ci95"], m["miou_ci95"]
        lines.append(
            f"seed {seed:>3} {stage:<5} acc@0.5 {m['acc@0.5']:.3f} [{acc[0]:.3f}, {acc[1]:.3f}]  "
            f"mean IoU {m['miou']:.3f} [{miou[0]:.3f}, {miou[1]:.3f}]"
        )
    gain = summary["gain"]
    low, high = (100 * v for v in gain["acc@0.5_ci95"])
    lines.append(f"seed {seed:>3} GRPO - SFT {100 * gain['acc@0.5']:+.1f} points [{low:+.1f}, {high:+.1f}]")
    seconds = summary["seconds"]
    whole = summary["whole_seconds"]
    parts = ", ".join(f"{k} {v['wall']:.0f}/{v['cpu']:.0f}" for k, v in seconds.items())
    lines.append(f"seed {seed:>3} seconds wall/cpu: {parts}; whole demo {whole['wall']:.0f}/{whole['cpu']:.0f}")
    return lines


def summary_lines(results: dict[int, dict]) -> list[str]:
    """Across seeds: mean +- sd (min .. max) of each figure and of the gain."""
    lines = []
    for stage in STAGES:
        for metric in ("acc@0.5", "miou"):
            lines.append(f"{stage:<5} {metric:<8} {spread([r[stage][metric] for r in results.values()])}")
    lines.append(f"GRPO - SFT acc@0.5 {spread([r['gain']['acc@0.5'] for r in results.values()])}")
    first = next(iter(results.values()))
    for stage in [*first["seconds"], "whole"]:
        walls = [(r["seconds"].get(stage) or r["whole_seconds"])["wall"] for r in results.values()]
        cpus = [(r["seconds"].get(stage) or r["whole_seconds"])["cpu"] for r in results.values()]
        lines.append(f"seconds {stage:<9} wall {statistics.mean(walls):6.1f}  cpu {statistics.mean(cpus):6.1f}")
    return lines


def run_seed(seed: int, out: str, scaling: bool, threads: int | None) -> dict:
    """One whole demo; `threads` caps torch's intra-op threads (for seeds run side by side)."""
    if threads:
        torch.set_num_threads(threads)
    cfg = replace(DemoConfig(), out=str(Path(out) / f"seed-{seed}"), seed=seed, scaling=scaling)
    started = time.perf_counter()
    summary = run_demo(cfg, log=lambda message: None)
    summary["whole_seconds"] = {
        "wall": round(time.perf_counter() - started, 1),
        "cpu": round(time.process_time(), 1),
    }
    Path(cfg.out, "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def finished_seed(out: str, seed: int) -> dict:
    """A seed's summary.json as a finished run wrote it; the whole demo's seconds are the stages' sum when
    it was written by `groundrl demo` itself."""
    summary = json.loads(Path(out, f"seed-{seed}", "summary.json").read_text())
    stages = summary["seconds"].values()
    total = {key: round(sum(v[key] for v in stages), 1) for key in ("wall", "cpu")}
    return {"whole_seconds": total} | summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 11, 23])
    parser.add_argument("--out", default="runs/demo-seeds")
    parser.add_argument("--no-scaling", action="store_true", help="leave out the test-time scaling grid")
    parser.add_argument("--jobs", type=int, default=1, help="seeds run side by side, one torch thread each")
    parser.add_argument("--report", action="store_true", help="print the tables of runs already in --out")
    args = parser.parse_args()
    if args.report:
        report({seed: finished_seed(args.out, seed) for seed in args.seeds}, args.out)
        return
    print(
        f"torch {torch.__version__}, transformers {transformers.__version__}, trl {trl.__version__}, "
        f"{platform.machine()}, {torch.get_num_threads()} threads, {args.jobs} job(s)"
    )
    threads = 1 if args.jobs > 1 else None
    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {s: pool.submit(run_seed, s, args.out, not args.no_scaling, threads) for s in args.seeds}
        results = {seed: future.result() for seed, future in futures.items()}
    report(results, args.out)


def report(results: dict[int, dict], out: str) -> None:
    """Print the per-seed and across-seed tables; write them to OUT/seeds.json."""
    for seed, summary in results.items():
        print("\n".join(seed_lines(seed, summary)), flush=True)
    print("\n".join(summary_lines(results)))
    Path(out, "seeds.json").write_text(json.dumps({str(k): v for k, v in results.items()}, indent=2))


if __name__ == "__main__":
    main()
