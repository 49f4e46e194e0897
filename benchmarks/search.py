"""Benchmark: tree search nodes/s and trees/s, ViGoRL's way (one tree at a time, one model call at a time,
as its processes do with synchronous requests) against GroundRL's scheduler (every pending call of all
trees in flight as one engine batch), on the transformers engine, the tiny Qwen2.5-VL, CPU.

Every mode searches the same records with the same seed and must write the same trees (per-call seeds):
the work is identical, only the batching differs. Reported: medians of `--repeats` runs after a warm-up.

    python benchmarks/search.py [--trees 16] [--in-flight 1,4,16] [--repeats 3] [--max-new-tokens 16]
    python benchmarks/search.py --vllm-server [--trees 16]   # the same against a vLLM OpenAI server

With `--vllm-server` (the vLLM venv, `make vllm-env`), ViGoRL's way is one synchronous request at a time
and GroundRL's is every pending call of 16 trees as concurrent requests (the openai engine).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import torch

import vllm_cpu
from groundrl.engines.base import Generation, Prompt, Sampling
from groundrl.engines.hf import TransformersEngine
from groundrl.engines.openai_engine import OpenAIEngine
from groundrl.models.tiny import make_tiny
from groundrl.search.config import MCTSConfig, SearchConfig
from groundrl.search.run import run_search
from groundrl.synth import SynthOptions, generate


@contextlib.contextmanager
def vllm_server(model: Path, log: Path, port: int = 8766) -> Iterator[OpenAIEngine]:
    """A vLLM OpenAI server for `model` on this machine, as the openai engine reaches it."""
    # vLLM's CPU build crashes on a seeded request whose prefill is split ("CPU Generator does not use
    # offset"): a token budget that holds every prompt of a round keeps prefills whole
    extra = ["--max-num-batched-tokens", "65536", "--max-num-seqs", "64"]
    with vllm_cpu.vllm_server(model, log, port, extra) as (url, ready_s):
        print(f"vLLM server ready in {ready_s:.0f} s")
        yield OpenAIEngine("tiny", [url], max_in_flight=64)


class OneCallAtATime:
    """ViGoRL's calling pattern: each model call alone, synchronously."""

    def __init__(self, engine) -> None:
        self.engine = engine

    def generate(self, prompts: list[Prompt], sampling: Sampling) -> list[list[Generation]]:
        return [self.engine.generate([p], sampling)[0] for p in prompts]


def trees_of(out: Path) -> list[dict]:
    rows = [json.loads(x) for x in (out / "trees.jsonl").read_text().splitlines()]
    for row in rows:
        row.pop("seconds")
    return sorted(rows, key=lambda r: r["id"])


def timed(cfg: SearchConfig, engine, work: Path) -> tuple[float, list[dict], int]:
    """Seconds of one search into a fresh folder, its trees, and its engine batches."""
    shutil.rmtree(work, ignore_errors=True)
    started = time.perf_counter()
    stats = run_search(cfg, work, engine=engine)
    return time.perf_counter() - started, trees_of(work), stats.rounds


def compare(engine, base: SearchConfig, args: argparse.Namespace, tmp: Path) -> list[tuple]:
    """Each mode's median seconds, trees, nodes, calls, engine calls and whether its trees are the first's."""
    run_search(SearchConfig(**{**vars(base), "limit": 1}), tmp / "warm", engine=engine)  # warm-up
    modes = [("vigorl (1 tree, 1 call)", 1, OneCallAtATime(engine))]
    modes += [(f"batched, {k} in flight", k, engine) for k in map(int, args.in_flight.split(","))]
    runs: dict[str, list] = {name: [] for name, *_ in modes}
    for _ in range(args.repeats):  # modes interleaved, so that a busy machine slows them alike
        for name, in_flight, eng in modes:
            cfg = SearchConfig(**{**vars(base), "trees_in_flight": in_flight})
            runs[name].append(timed(cfg, eng, tmp / "run"))
    results, reference = [], runs[modes[0][0]][0][1]
    for name, _, eng in modes:
        seconds = statistics.median(r[0] for r in runs[name])
        trees, rounds = runs[name][0][1], runs[name][0][2]
        same = all(r[1] == reference for r in runs[name])
        nodes, calls = sum(t["nodes"] for t in trees), sum(t["calls"] for t in trees)
        results.append((name, seconds, len(trees), nodes, calls, rounds if eng is engine else calls, same))
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trees", type=int, default=16)
    parser.add_argument("--in-flight", default="1,4,16")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--vllm-server", action="store_true")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-search-"))
    model = make_tiny("qwen2.5-vl", tmp / "model")
    data = generate("rec", args.trees, tmp / "data", seed=0, opts=SynthOptions(min_size=56, max_size=112))
    mcts = MCTSConfig(simulations=2, rollouts=1, rollout_len=2, max_new_tokens=args.max_new_tokens)
    base = SearchConfig(model=str(model), data=str(data), family="qwen2.5-vl", mcts=mcts, batch_size=64)
    if args.vllm_server:
        base = SearchConfig(**{**vars(base), "engine": "openai"})
    with contextlib.ExitStack() as stack:
        if args.vllm_server:
            engine = stack.enter_context(vllm_server(model, tmp / "vllm.log"))
        else:
            engine = TransformersEngine(model, batch_size=64, device="cpu")
        results = compare(engine, base, args, tmp)
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads")
    print(f"{args.trees} trees, {mcts}, medians of {args.repeats} runs\n")
    print("| mode | s | trees/s | nodes/s | calls/s | engine calls | vs ViGoRL's way | same trees |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    first = results[0][1]
    for name, seconds, trees, nodes, calls, batches, same in results:
        row = f"| {name} | {seconds:.1f} | {trees / seconds:.2f} | {nodes / seconds:.1f} | {calls / seconds:.1f} "
        print(row + f"| {batches} | {first / seconds:.2f}x | {same} |")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
