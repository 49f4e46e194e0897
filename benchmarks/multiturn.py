"""Benchmark: multi-turn zoom evaluation (`groundrl eval ... tools=zoom`) with every trajectory in flight
sharing each engine call, with and without the engine's cache of images already seen, against one
trajectory at a time without it (ViGoRL's evaluation: one sample, one synchronous call per turn, every
image encoded again on every turn). Same tiny Qwen2.5-VL, same records, transformers engine on CPU (one
thread). Target: >= 4x the samples per second.

A random tiny model never writes a valid tool call, so each trajectory's text for its first k turns
(k = 0..4 by record, 4 reaching the cap and a forced answer) is replaced by a call at a point of the
record's image. The model still generates every turn, with every crop in its prompt: the engine cost is
that of real trajectories of these lengths, only the words are scripted.

    python benchmarks/multiturn.py [--records 16] [--in-flight 16] [--max-new-tokens 128] [--repeats 3]
        [--max-pixels 200704] [--threads 1] [--engine transformers|vllm-server]

`--engine vllm-server` calls the model as ViGoRL's code does, through a `vllm serve` of it (`.venv-vllm`,
`make vllm-env`; CPU here) and GroundRL's openai engine, one trajectory's synchronous request at a time
against N trajectories' requests in flight together (the server batches them and reuses each
conversation's cached prefix from turn to turn: vLLM's prefix caching, on by default). Every timed run
starts with the server's prefix and multimodal caches emptied, as a new evaluation would.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import platform
import statistics
import tempfile
import time
import urllib.request
import zlib
from pathlib import Path

import torch

from groundrl.engines.base import Generation, Prompt, Sampling
from groundrl.engines.hf import TransformersEngine
from groundrl.engines.openai_engine import OpenAIEngine
from groundrl.eval.metrics import read_predictions
from groundrl.eval.runner import EvalConfig, run_eval
from groundrl.models.tiny import TinySpec, make_tiny
from groundrl.synth import SynthOptions, generate
from vllm_cpu import vllm_server

MAX_CALLS = 4
SIDES = {  # name: (trajectories in flight, or None for --in-flight; the engine's vision cache in MiB)
    "one at a time": (1, 0),
    "one at a time, cache": (1, 1024),
    "batched, no cache": (None, 0),
    "batched": (None, 1024),
}
SERVER_SIDES = {"one at a time": (1, 0), "batched": (None, 0)}  # the server keeps its own caches
SERVER_ARGS = [  # whole prefills (vLLM 0.32's CPU build crashes on a split seeded one), 5 images a prompt
    *("--max-num-batched-tokens", "65536", "--max-num-seqs", "256"),
    *("--limit-mm-per-prompt", json.dumps({"image": 5})),
]


def tool_call(x: int, y: int) -> str:
    args = json.dumps({"name": "search_coordinate", "arguments": {"coordinate": [x, y]}})
    return f"<think>\nLet me look closer.\n</think>\n<tool_call>\n{args}\n</tool_call>"


class ScriptedCalls:
    """The real engine generates every turn; the text of a trajectory's first k turns becomes a tool call,
    k = 0..MAX_CALLS set by a hash of the record's question, so trajectories have 1 to MAX_CALLS + 1 turns."""

    def __init__(self, engine: TransformersEngine) -> None:
        self.engine = engine
        self.rounds: list[int] = []

    def generate(self, prompts: list[Prompt], sampling: Sampling) -> list[list[Generation]]:
        outputs = self.engine.generate(prompts, sampling)
        self.rounds.append(len(prompts))
        for prompt, out in zip(prompts, outputs, strict=True):
            turn = sum(m["role"] == "assistant" for m in prompt.messages)
            question = next(
                p["text"] for m in prompt.messages if m["role"] == "user" for p in m["content"] if "text" in p
            )
            if turn < zlib.crc32(question.encode()) % (MAX_CALLS + 1):
                out[0] = Generation(tool_call(200 + 40 * turn, 150 + 30 * turn), out[0].num_tokens, out[0].latency_s)
        return outputs


def reset_server_caches(base_url: str) -> None:
    """Empty a vLLM server's prefix and multimodal caches (its dev routes, VLLM_SERVER_DEV_MODE=1), so that
    a run does not reuse the conversations an earlier run left there."""
    root = base_url.removesuffix("/v1")
    for route in ("reset_prefix_cache", "reset_mm_cache"):
        urllib.request.urlopen(urllib.request.Request(f"{root}/{route}", method="POST"), timeout=30).read()


def timed_run(cfg: EvalConfig, out: Path, engine: ScriptedCalls) -> tuple[float, list[dict]]:
    """The seconds of one eval run and its predictions; the engine's caches start empty, as in a new run."""
    if getattr(engine.engine, "vision_cache", None) is not None:
        engine.engine.vision_cache.clear()
    if isinstance(engine.engine, OpenAIEngine):
        for url in engine.engine.base_urls:
            reset_server_caches(url)
    started = time.perf_counter()
    run_eval(cfg, out, engine=engine, overwrite=True)
    return time.perf_counter() - started, read_predictions(out / "predictions.jsonl")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=16)
    parser.add_argument("--in-flight", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=128, help="per turn (ViGoRL: 2048 over all turns)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--max-pixels", type=int, default=256 * 28 * 28, help="the processor's bound (0: Qwen2.5-VL's, 12.8 MP)"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the sides are compared by ratio)")
    parser.add_argument("--engine", choices=["transformers", "vllm-server"], default="transformers")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sides = SIDES if args.engine == "transformers" else SERVER_SIDES
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        tmp = Path(tmp)
        model = make_tiny("qwen2.5-vl", tmp / "model", TinySpec(max_pixels=args.max_pixels or None))
        data = generate("rec", args.records, tmp / "data", seed=11, opts=SynthOptions(min_size=448, max_size=640))
        base = EvalConfig(model=str(model), data=str(data), tools="zoom", max_new_tokens=args.max_new_tokens)
        in_flight = {name: n or args.in_flight for name, (n, _) in sides.items()}
        if args.engine == "transformers":
            engines = {
                name: TransformersEngine(model, batch_size=in_flight[name], device="cpu", vision_cache_mib=mib)
                for name, (_, mib) in sides.items()
            }
        else:
            os.environ["VLLM_SERVER_DEV_MODE"] = "1"  # the cache-reset routes, for runs that start cold
            url, ready_s = stack.enter_context(vllm_server(model, tmp / "vllm.log", port=8766, extra=SERVER_ARGS))
            print(f"vLLM server ready in {ready_s:.0f} s")
            engines = {name: OpenAIEngine("tiny", [url], max_in_flight=n) for name, n in in_flight.items()}
        seconds: dict[str, list[float]] = {name: [] for name in in_flight}
        answers, rounds, turns = {}, {}, 0
        for name, n in in_flight.items():  # warm-up: two records each, not counted
            timed_run(dataclasses.replace(base, batch_size=n, limit=2), tmp / "warm-up", ScriptedCalls(engines[name]))
        for repeat in range(args.repeats):
            for name, n in sorted(in_flight.items(), reverse=repeat % 2 == 1):  # alternate the order
                engine = ScriptedCalls(engines[name])
                cfg = dataclasses.replace(base, batch_size=n)
                took, rows = timed_run(cfg, tmp / name.replace(" ", "-"), engine)
                seconds[name].append(took)
                answers[name] = {r["id"]: r["outputs"][0] for r in rows}
                rounds[name] = engine.rounds
                turns = sum(len(r["trajectories"][0]["turns"]) for r in rows)
    print(f"machine: {platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"engine: {args.engine}")
    print(
        f"{args.records} records, {turns} turns (0-{MAX_CALLS} zoom-ins each, qa preset 672 px crops), "
        f"{args.max_new_tokens} new tokens per turn, max_pixels {args.max_pixels or 'default'}, "
        f"median of {args.repeats}"
    )
    print("| what | engine calls | median s | samples/s | speed-up |")
    print("| --- | ---: | ---: | ---: | ---: |")
    one = statistics.median(seconds["one at a time"])
    labels = {
        "one at a time": "one trajectory at a time, no cache (ViGoRL)",
        "one at a time, cache": "one trajectory at a time, vision cache",
        "batched, no cache": f"{args.in_flight} in flight, no cache",
        "batched": f"{args.in_flight} in flight, vision cache",
    }
    if args.engine != "transformers":
        labels = {"one at a time": "one trajectory at a time (ViGoRL)", "batched": f"{args.in_flight} in flight"}
    for name, label in labels.items():
        s = statistics.median(seconds[name])
        print(f"| {label} | {len(rounds[name])} | {s:.2f} | {args.records / s:.2f} | {one / s:.2f}x |")
    for name in [n for n in labels if n != "one at a time"]:
        differ = [i for i in answers[name] if answers[name][i] != answers["one at a time"][i]]
        print(f"final answers of {labels[name]!r} that differ from one at a time: {len(differ)} of {args.records}")


if __name__ == "__main__":
    main()
