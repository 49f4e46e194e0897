"""Benchmark: samples/s of the three engines on the same model and records: transformers batched, vLLM
offline (`LLM.generate`) and a real vLLM OpenAI server driven by GroundRL's openai engine; greedy answers
are compared with the transformers engine's.

CPU (default): the tiny Qwen2.5-VL, synthetic records, medians of short runs. vLLM runs in its own venv
(`make vllm-env`): the offline engine in a subprocess of `.venv-vllm/bin/python` (this script, `--worker`),
the server as `python -m vllm.entrypoints.openai.api_server`; the openai engine runs here.

GPU (`--gpu`, needs a CUDA GPU and vLLM in the running environment): a full-size random-initialised
Qwen2.5-VL-3B architecture, the seeds' per-sample `generate` loop vs the transformers engine vs vLLM offline
(target: vLLM >= 20x the loop), and one TRL GRPO step with `use_vllm` colocate vs transformers generation.

    python benchmarks/engines.py [--records 32] [--repeats 3] [--max-new-tokens 32]
    python benchmarks/engines.py --gpu
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from groundrl.data.images import load_image
from groundrl.data.records import read_records
from groundrl.engines.base import Prompt, Sampling
from groundrl.models.families import get_family
from groundrl.models.prompts import build_messages
from vllm_cpu import ROOT, VLLM_ENV, VLLM_PYTHON
from vllm_cpu import vllm_server as start_vllm_server

FAMILY = "qwen2.5-vl"
RESULT = "engines.py result: "


def load_prompts(data: Path) -> list[Prompt]:
    family = get_family(FAMILY)
    return [Prompt(build_messages(r, family), [load_image(data.parent / r.images[0])]) for r in read_records(data)]


def timed_runs(engine, prompts: list[Prompt], sampling: Sampling, repeats: int) -> tuple[list[float], list[str]]:
    """Seconds of each of `repeats` runs over all prompts, after one warm-up run; the last run's answers."""
    engine.generate(prompts[:2], sampling)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        answers = [g[0].text for g in engine.generate(prompts, sampling)]
        times.append(time.perf_counter() - started)
    return times, answers


def worker(model: Path, data: Path, repeats: int, max_new_tokens: int) -> None:
    """In the vLLM venv: time the offline engine and print one JSON line (load, times, answers)."""
    from groundrl.engines.vllm_engine import VLLMEngine

    started = time.perf_counter()
    engine = VLLMEngine(model, max_images=1, dtype="float32")
    load_s = time.perf_counter() - started
    times, answers = timed_runs(engine, load_prompts(data), Sampling(max_new_tokens=max_new_tokens), repeats)
    print(RESULT + json.dumps({"load_s": load_s, "times": times, "answers": answers}), flush=True)


def vllm_offline(model: Path, data: Path, repeats: int, max_new_tokens: int) -> dict:
    args = [str(VLLM_PYTHON), __file__, "--worker", str(model), str(data)]
    args += ["--repeats", str(repeats), "--max-new-tokens", str(max_new_tokens)]
    proc = subprocess.run(args, capture_output=True, text=True, env=os.environ | VLLM_ENV, check=False)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-4000:])
    line = next(x for x in proc.stdout.splitlines() if x.startswith(RESULT))  # vLLM logs to stdout too
    return json.loads(line.removeprefix(RESULT))


def vllm_server(model: Path, prompts: list[Prompt], repeats: int, max_new_tokens: int, log: Path) -> dict:
    from groundrl.engines.openai_engine import OpenAIEngine

    with start_vllm_server(model, log, port=8765) as (url, ready_s):
        engine = OpenAIEngine("tiny", [url])
        times, answers = timed_runs(engine, prompts, Sampling(max_new_tokens=max_new_tokens), repeats)
    return {"load_s": ready_s, "times": times, "answers": answers}


def cpu(args: argparse.Namespace) -> None:
    import torch

    from groundrl.engines.hf import TransformersEngine
    from groundrl.models.tiny import make_tiny
    from groundrl.synth import SynthOptions, generate

    if not VLLM_PYTHON.exists():
        sys.exit(f"{VLLM_PYTHON} not found: run `make vllm-env` first")
    with tempfile.TemporaryDirectory() as tmp:
        model = make_tiny(FAMILY, Path(tmp) / "model")
        data = generate("rec", args.records, Path(tmp) / "data", seed=7, opts=SynthOptions(min_size=112, max_size=168))
        prompts = load_prompts(data)
        sampling = Sampling(max_new_tokens=args.max_new_tokens)
        started = time.perf_counter()
        hf = TransformersEngine(model, batch_size=args.records, device="cpu")
        results = {"transformers batched": {"load_s": time.perf_counter() - started}}
        results["transformers batched"]["times"], reference = timed_runs(hf, prompts, sampling, args.repeats)
        results["transformers batched"]["answers"] = reference
        del hf
        results["vLLM offline"] = vllm_offline(model, data, args.repeats, args.max_new_tokens)
        results["vLLM server + openai engine"] = vllm_server(
            model, prompts, args.repeats, args.max_new_tokens, Path(tmp) / "server.log"
        )
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, main torch {torch.__version__}")
    print(f"tiny {FAMILY}, {args.records} records, {args.max_new_tokens} new tokens, greedy, median of {args.repeats}")
    print("| engine | load / ready s | median s | samples/s | greedy answers equal to transformers |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, r in results.items():
        median = statistics.median(r["times"])
        same = sum(a == b for a, b in zip(r["answers"], reference, strict=True))
        row = f"{r['load_s']:.1f} | {median:.2f} | {args.records / median:.1f} | {same} of {args.records}"
        print(f"| {name} | {row} |")


def gpu(args: argparse.Namespace) -> None:
    """Full-size Qwen2.5-VL-3B architecture, random weights: the per-sample loop, transformers batched and
    vLLM offline; then one GRPO step with and without `use_vllm` colocate."""
    import torch

    if not torch.cuda.is_available():
        sys.exit("the GPU part needs a CUDA GPU (and vLLM installed in this environment); none is present")
    from groundrl.engines.hf import TransformersEngine
    from groundrl.engines.vllm_engine import VLLMEngine
    from groundrl.models.tiny import TinySpec, make_tiny
    from groundrl.synth import SynthOptions, generate

    # Qwen2.5-VL-3B-Instruct's sizes (its config.json); the vocabulary stays the tiny tokenizer's.
    spec = TinySpec(text_hidden=2048, text_layers=36, text_heads=16, text_kv_heads=2, text_intermediate=11008,
                    vision_hidden=1280, vision_depth=32, vision_heads=16, vision_intermediate=3420)  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        model = make_tiny(FAMILY, Path(tmp) / "model", spec=spec)
        data = generate("rec", args.records, Path(tmp) / "data", seed=7, opts=SynthOptions(min_size=224, max_size=448))
        prompts = load_prompts(data)
        sampling = Sampling(max_new_tokens=args.max_new_tokens)
        hf = TransformersEngine(model, batch_size=args.records)
        loop = TransformersEngine(model, batch_size=1)
        rows = {"per-sample loop (batch 1)": timed_runs(loop, prompts, sampling, args.repeats)[0]}
        rows[f"transformers batched ({args.records})"] = timed_runs(hf, prompts, sampling, args.repeats)[0]
        del hf, loop
        torch.cuda.empty_cache()
        rows["vLLM offline"] = timed_runs(VLLMEngine(model, max_images=1), prompts, sampling, args.repeats)[0]
        base = statistics.median(rows["per-sample loop (batch 1)"])
        print(f"GPU: {torch.cuda.get_device_name()}; Qwen2.5-VL-3B architecture, random init, {args.records} records")
        print("| engine | median s | samples/s | vs loop |\n| --- | ---: | ---: | ---: |")
        for name, times in rows.items():
            median = statistics.median(times)
            print(f"| {name} | {median:.2f} | {args.records / median:.1f} | {base / median:.1f}x |")
        for use_vllm in ("false", "true"):
            grpo_step(model, data, use_vllm, Path(tmp) / f"grpo-{use_vllm}")


def grpo_step(model: Path, data: Path, use_vllm: str, out: Path) -> None:
    """One GRPO step through `groundrl grpo`, generation by transformers or by vLLM colocated."""
    args = [sys.executable, "-m", "groundrl", "grpo", str(ROOT / "configs/recipes/vlm-r1-refcoco-grpo.yaml")]
    args += [f"model={model}", f"data={data}", "format=groundrl", "image_root=null", f"output_dir={out}"]
    args += ["trl.max_steps=1", "trl.max_completion_length=64", f"trl.use_vllm={use_vllm}"]
    args += ["trl.vllm_mode=colocate"] if use_vllm == "true" else []
    started = time.perf_counter()
    subprocess.run(args, check=True)
    print(f"GRPO step, use_vllm={use_vllm}: {time.perf_counter() - started:.1f} s (with model load)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--gpu", action="store_true", help="the full-size GPU part")
    parser.add_argument("--worker", nargs=2, type=Path, metavar=("MODEL", "DATA"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker, args.repeats, args.max_new_tokens)
    elif args.gpu:
        gpu(args)
    else:
        cpu(args)


if __name__ == "__main__":
    main()
