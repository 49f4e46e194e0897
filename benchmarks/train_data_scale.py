"""Benchmark: does training start and run in flat memory at any data size? `groundrl sft` and `groundrl grpo`
for a few steps on N = 1k, 10k and 100k records of 640 px images (the records reuse a pool of 1,000 image
files), each run a fresh process, as a user runs it.

    python benchmarks/train_data_scale.py [--sizes 1000 10000 100000] [--repeats 3] [--baseline REV]
    python benchmarks/train_data_scale.py --shape chains --kinds sft    # multi-turn zoom chains, tools=zoom

`--shape chains` trains SFT on multi-turn zoom chains (a question, a tool call, a `<tool_response>` turn with
the crop, the answer: what `groundrl synth --chains` and the tree search's linearisation write) through the
tool template (`tools=zoom`), two images a record, from a pool of 1,000 visual-search scenes.

For each run: the time from the process start to the end of the first optimizer step (the first line of
metrics.jsonl), the total wall time, and the peak resident memory of the process (wait4's ru_maxrss).
Targets: at 100k, peak RSS within 1.2x of 1k and time to the first step within 1.5x of 1k.

`--baseline REV` also runs the code of git revision REV (checked out into a temporary worktree) on the
sizes in `--baseline-sizes`, side by side: the old path decoded every image before the first step.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from groundrl.models.families import FAMILIES
from groundrl.models.tiny import TinySpec, make_tiny
from groundrl.synth import ChainOptions, SynthOptions, VisualSearchOptions, generate

REPO = Path(__file__).resolve().parents[1]
POOL = 1_000
FAMILY = "qwen2.5-vl"
MODEL_PIXELS = 224 * 224


def make_data(root: Path, sizes: list[int], shape: str) -> dict[int, Path]:
    """A pool of 1,000 640 px scenes and, per size N, a JSONL of N records (or chains) cycling over them."""
    if shape == "chains":
        family = dataclasses.replace(FAMILIES[FAMILY], max_pixels=MODEL_PIXELS)
        opts = VisualSearchOptions(min_size=640, max_size=640, ask="dot", place="centre")
        generate("visual_search", POOL, root / "pool", seed=0, opts=opts, chains=ChainOptions(family, direct=0.5))
        pool = root / "pool" / "chains.jsonl"
    else:
        pool = generate("rec", POOL, root / "pool", seed=0, opts=SynthOptions(min_size=640, max_size=640))
    lines = pool.read_text().splitlines()
    files = {}
    for n in sizes:
        path = root / "pool" / f"records-{n}.jsonl"
        with open(path, "w", encoding="utf-8") as f:
            for k in range(n):
                row = json.loads(lines[k % POOL])
                row["id"] = k
                f.write(json.dumps(row) + "\n")
        files[n] = path
    return files


def run(kind: str, model: Path, data: Path, out: Path, src: Path, extra: list[str]) -> dict[str, float]:
    """One training run in a fresh process: seconds to the first step, total seconds, peak RSS (MB)."""
    args = [f"model={model}", f"data={data}", f"output_dir={out}", "trl.max_steps=5", "trl.save_steps=1000"]
    args += extra
    args += ["trl.per_device_train_batch_size=4", "trl.logging_steps=1", "trl.dataloader_num_workers=0"]
    if kind == "grpo":
        args += ["trl.num_generations=4", "trl.max_completion_length=16"]
    env = os.environ | {"PYTHONPATH": str(src), "TOKENIZERS_PARALLELISM": "false"}
    metrics = out / "metrics.jsonl"
    out.mkdir(parents=True)
    log = open(out.parent / f"{out.name}.log", "wb")  # noqa: SIM115 - closed below; a pipe could fill and block
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "groundrl", kind, *args], env=env, stdout=log, stderr=log)
    first = None
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)  # the child's own rusage, unlike RUSAGE_CHILDREN
        if pid:
            break
        if first is None and metrics.exists() and metrics.stat().st_size:
            first = time.perf_counter() - start
        time.sleep(0.05)
    total = time.perf_counter() - start
    log.close()
    if os.waitstatus_to_exitcode(status) != 0:
        text = (out.parent / f"{out.name}.log").read_text(errors="replace")
        raise SystemExit(f"groundrl {kind} failed on {data}:\n{text[-3000:]}")
    return {"first_step_s": first or total, "total_s": total, "peak_mb": usage.ru_maxrss / 1024}


def measure(kind, model, data, root, src, repeats, label, extra) -> dict[str, float]:
    runs = [run(kind, model, data, root / f"{kind}-{data.stem}-{label}-{r}", src, extra) for r in range(repeats)]
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--kinds", nargs="+", default=["sft", "grpo"])
    parser.add_argument("--baseline", help="a git revision to run side by side (its code in a worktree)")
    parser.add_argument("--baseline-sizes", type=int, nargs="+", default=[1_000])
    parser.add_argument("--shape", choices=["records", "chains"], default="records", help="chains: SFT only")
    opts = parser.parse_args()
    if opts.shape == "chains" and opts.kinds != ["sft"]:
        parser.error("--shape chains trains SFT only: add --kinds sft")
    extra = ["tools=zoom"] if opts.shape == "chains" else []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        # The processor's budget (224 x 224) makes the model's share small: the data path is what is measured.
        model = make_tiny(FAMILY, root / "model", TinySpec(max_pixels=MODEL_PIXELS))
        sizes = sorted(set(opts.sizes) | set(opts.baseline_sizes if opts.baseline else []))
        files = make_data(root, sizes, opts.shape)
        codes = [("this", REPO / "src")]
        if opts.baseline:
            tree = root / "baseline"
            subprocess.run(["git", "-C", str(REPO), "worktree", "add", "-q", "--detach", str(tree), opts.baseline])
            codes.append((f"baseline {opts.baseline}", tree / "src"))
        print(f"{platform.node()}: {os.cpu_count()} cores, python {platform.python_version()}")
        print("| code | kind | records | first step s | total s | peak RSS MB |")
        print("| --- | --- | ---: | ---: | ---: | ---: |")
        try:
            for kind in opts.kinds:
                for name, src in codes:
                    sizes = opts.sizes if name == "this" else opts.baseline_sizes
                    for n in sizes:
                        m = measure(kind, model, files[n], root, src, opts.repeats, name.split()[0], extra)
                        print(
                            f"| {name} | {kind} | {n:,} | {m['first_step_s']:.1f} | {m['total_s']:.1f} | "
                            f"{m['peak_mb']:.0f} |",
                            flush=True,
                        )
        finally:
            if opts.baseline:
                subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(root / "baseline")])


if __name__ == "__main__":
    main()
