"""Benchmark: time per GRPO step of multi-turn zoom GRPO (`tools: zoom`) against single-turn GRPO on the same
prompts, tiny Qwen2.5-VL, CPU, both through `groundrl grpo`'s trainer.

    python benchmarks/multiturn_grpo.py [--steps 4] [--repeats 3] [--think 24] [--calls 1] [--size 672]

A random tiny model does not call tools on its own, so both runs use the same policy: every turn the model
really generates `--think` tokens (sampled, special tokens suppressed), then a fixed ending is appended: a
zoom call for the first `--calls` turns of a multi-turn rollout, else the answer. A single-turn rollout is one
such turn; a multi-turn one is `--calls` + 1 turns with a crop (`--size` px, the qa preset's 672 by default)
after each call. So the ratio counts what multi-turn adds: the extra generation rounds, the tool, the crops'
image tokens in the prompt of each round and in the loss pass. Steps are timed (wall and process CPU
seconds, the latter steadier on a shared machine) between TRL's step callbacks; the first two are warm-up;
a run's figure is the median of the rest; repeats alternate the order.
"""

from __future__ import annotations

import argparse
import copy
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from groundrl.models.tiny import make_tiny
from groundrl.rewards import RewardSpec
from groundrl.synth import SynthOptions, generate
from groundrl.tools.env import ZoomOptions
from groundrl.train import grpo
from grpo_overhead import WARMUP, StepTimer  # benchmarks/: run as a script, so its folder is on the path

CALL = '\n<tool_call>\n{"name": "search_coordinate", "arguments": {"coordinate": [50, 50]}}\n</tool_call><|im_end|>'
ANSWER = "<answer>[10, 10, 60, 60]</answer><|im_end|>"


class CpuStepTimer(StepTimer):
    """Also the process's CPU seconds per step: steadier than wall time on a shared machine."""

    def __init__(self) -> None:
        super().__init__()
        self.cpu: list[float] = []
        self._cpu_started = 0.0

    def on_step_begin(self, args, state, control, **kwargs):
        self._cpu_started = time.process_time()
        super().on_step_begin(args, state, control, **kwargs)

    def on_step_end(self, args, state, control, **kwargs):
        super().on_step_end(args, state, control, **kwargs)
        self.cpu.append(time.process_time() - self._cpu_started)


class ThinkThenScript:
    """`generate` replaced: the model's own `think` sampled tokens, then a call or the answer."""

    def __init__(self, model, tokenizer, think: int, calls: int) -> None:
        self.generate_ = model.generate
        self.tokenizer = tokenizer
        self.think = think
        self.calls = calls
        self.special = sorted(tokenizer.added_tokens_decoder)  # no image, turn or tag token by chance

    def __call__(self, input_ids, generation_config, **kwargs):
        config = copy.deepcopy(generation_config)
        config.max_new_tokens = config.min_new_tokens = self.think
        config.suppress_tokens = self.special
        out = self.generate_(input_ids=input_ids, generation_config=config, **kwargs)
        endings = [CALL if self.tokenizer.decode(row).count("<tool_response>") < self.calls else ANSWER for row in out]
        ids = [self.tokenizer(e, add_special_tokens=False).input_ids for e in endings]
        width = max(len(i) for i in ids)
        pad = self.tokenizer.pad_token_id
        tail = torch.tensor([i + [pad] * (width - len(i)) for i in ids], dtype=out.dtype)
        return torch.cat([out, tail], dim=1)


def run(model_dir: Path, data: Path, out: Path, args: argparse.Namespace, tools: str) -> CpuStepTimer:
    cfg = grpo.GRPORunConfig(
        model=str(model_dir),
        data=str(data),
        output_dir=str(out),
        rewards=[RewardSpec("multiturn_accuracy", 0.6), RewardSpec("multiturn_format", 0.4)],
        tools=tools,
        zoom=ZoomOptions(size=args.size),
        trl={
            "max_steps": args.steps,
            "per_device_train_batch_size": 8,
            "num_generations": 4,
            "max_completion_length": 4096,
            "save_strategy": "no",
            "seed": 0,
        },
    )
    timer = CpuStepTimer()
    trainer = grpo.build_trainer(cfg, callbacks=[timer])
    calls = args.calls if tools == "zoom" else 0
    trainer.model.generate = ThinkThenScript(trainer.model, trainer.processing_class.tokenizer, args.think, calls)
    trainer.train()
    return timer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--think", type=int, default=24, help="sampled tokens per turn")
    parser.add_argument("--calls", type=int, default=1, help="zoom calls per multi-turn rollout")
    parser.add_argument("--size", type=int, default=672, help="crop side in pixels")
    args = parser.parse_args()
    figures: dict[str, list[float]] = {"none": [], "zoom": []}
    cpu: dict[str, list[float]] = {"none": [], "zoom": []}
    lengths: dict[str, list[float]] = {"none": [], "zoom": []}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model_dir = make_tiny("qwen2.5-vl", root / "model")
        data = generate("rec", 64, root / "data", seed=3, opts=SynthOptions(min_size=112, max_size=112))
        for repeat in range(args.repeats):
            for tools in ("none", "zoom") if repeat % 2 == 0 else ("zoom", "none"):
                timer = run(model_dir, data, root / f"{tools}-{repeat}", args, tools)
                figures[tools].append(statistics.median(timer.seconds[WARMUP:]))
                cpu[tools].append(statistics.median(timer.cpu[WARMUP:]))
                lengths[tools].append(statistics.mean(timer.lengths))
                wall_ms, cpu_ms = figures[tools][-1] * 1000, cpu[tools][-1] * 1000
                print(f"repeat {repeat} tools={tools}: {wall_ms:.0f} ms/step, {cpu_ms:.0f} CPU ms/step", flush=True)
    single, multi = (statistics.median(figures[t]) * 1000 for t in ("none", "zoom"))
    single_cpu, multi_cpu = (statistics.median(cpu[t]) * 1000 for t in ("none", "zoom"))
    print(f"\nmachine: {platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"8 rollouts per step (2 prompts x 4), {args.think} sampled tokens per turn, {args.calls} call(s) per")
    print(f"multi-turn rollout, {args.size} px crops; {args.steps} steps, median of {args.repeats} repeats\n")
    print("| GRPO | model tokens per rollout | ms per step | CPU ms per step |\n| --- | ---: | ---: | ---: |")
    print(f"| single-turn (tools: none) | {statistics.mean(lengths['none']):.0f} | {single:.0f} | {single_cpu:.0f} |")
    print(f"| multi-turn (tools: zoom) | {statistics.mean(lengths['zoom']):.0f} | {multi:.0f} | {multi_cpu:.0f} |")
    for name, (m, s, per) in {"wall": (multi, single, figures), "CPU": (multi_cpu, single_cpu, cpu)}.items():
        pairs = ", ".join(f"{a / b:.2f}" for a, b in zip(per["zoom"], per["none"], strict=True))
        print(f"ratio multi / single, {name}: {m / s:.2f} (within each repeat: {pairs})")


if __name__ == "__main__":
    main()
