"""Benchmark: GroundRL's transformers engine against the loop the published evaluation scripts use (one
`generate` call per sample, batch size 1), on 256 synthetic records with the tiny Qwen2.5-VL, on CPU.
Target: >= 5x the samples per second, with the same greedy answers (differences are listed).

    python benchmarks/eval_throughput.py [--records 256] [--batch-size 64] [--repeats 3]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from groundrl.data.images import load_image
from groundrl.data.records import read_records
from groundrl.engines.base import Prompt, Sampling
from groundrl.engines.hf import TransformersEngine
from groundrl.models.families import get_family
from groundrl.models.prompts import build_messages
from groundrl.models.tiny import make_tiny
from groundrl.synth import SynthOptions, generate

MAX_NEW_TOKENS = 32


def published_loop(engine: TransformersEngine, prompts: list[Prompt]) -> list[str]:
    """What the published evaluation scripts do: one sample at a time, no padding."""
    processor, model = engine.processor, engine.model
    answers = []
    with torch.inference_mode():
        for p in prompts:
            text = processor.apply_chat_template(p.messages, add_generation_prompt=True, tokenize=False)
            inputs = processor(text=[text], images=p.images, return_tensors="pt")
            out = model.generate(**inputs, max_new_tokens=MAX_NEW_TOKENS, do_sample=False)
            answers.append(processor.batch_decode(out[:, inputs["input_ids"].shape[1] :], skip_special_tokens=True)[0])
    return answers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = make_tiny("qwen2.5-vl", Path(tmp) / "model")
        data = generate("rec", args.records, Path(tmp) / "data", seed=7, opts=SynthOptions(min_size=112, max_size=168))
        family = get_family("qwen2.5-vl")
        records = list(read_records(data))
        prompts = [Prompt(build_messages(r, family), [load_image(data.parent / r.images[0])]) for r in records]
        engine = TransformersEngine(model_dir, batch_size=args.batch_size, device="cpu")
        loop_times, engine_times = [], []
        for _ in range(args.repeats):
            started = time.perf_counter()
            loop_answers = published_loop(engine, prompts)
            loop_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            ours = [g[0].text for g in engine.generate(prompts, Sampling(max_new_tokens=MAX_NEW_TOKENS))]
            engine_times.append(time.perf_counter() - started)
    loop_s, engine_s = statistics.median(loop_times), statistics.median(engine_times)
    differ = [i for i, (a, b) in enumerate(zip(loop_answers, ours, strict=True)) if a != b]
    print(f"machine: {platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{args.records} records, {MAX_NEW_TOKENS} new tokens, median of {args.repeats}")
    print("| what | median s | samples/s | speed-up |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| published loop (batch 1) | {loop_s:.2f} | {args.records / loop_s:.1f} | 1.00x |")
    speed = f"{args.records / engine_s:.1f} | {loop_s / engine_s:.2f}x"
    print(f"| GroundRL transformers engine (batch {args.batch_size}) | {engine_s:.2f} | {speed} |")
    print(f"greedy answers that differ: {len(differ)} of {args.records}")
    for i in differ[:5]:
        print(f"  #{i}: loop {loop_answers[i]!r} vs engine {ours[i]!r}")


if __name__ == "__main__":
    main()
