"""Benchmark: time per GRPO step through `groundrl grpo` against TRL's GRPOTrainer used directly, with the
same tiny Qwen2.5-VL, data and settings and an equivalent IoU reward, on CPU. Target: <= 1.05x TRL's.

    python benchmarks/grpo_overhead.py [--steps 12] [--repeats 3]

Each repeat runs both, in alternating order; a step's time is taken between TRL's on_step_begin and
on_step_end callbacks, the first two steps of a run are dropped as warm-up, and a run's figure is the median
of the rest. The table gives the median over repeats and the ratio of medians.
"""

from __future__ import annotations

import argparse
import functools
import platform
import re
import statistics
import tempfile
import time
from pathlib import Path

import datasets
import torch
from transformers import AutoModelForImageTextToText, AutoProcessor, TrainerCallback
from trl import GRPOConfig, GRPOTrainer

from groundrl.data.images import load_image
from groundrl.data.records import read_records
from groundrl.models.families import get_family
from groundrl.models.tiny import make_tiny
from groundrl.rewards import RewardSpec
from groundrl.synth import SynthOptions, generate
from groundrl.train import grpo

WARMUP = 2
NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


class StepTimer(TrainerCallback):
    """Wall seconds of each optimizer step (generation, rewards, loss, backward, update)."""

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self.lengths: list[float] = []  # mean completion length per step: equal work needs equal lengths
        self.own = 0.0  # seconds inside GroundRL's reward functions
        self._started = 0.0

    def on_step_begin(self, args, state, control, **kwargs):
        self._started = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self.seconds.append(time.perf_counter() - self._started)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "completions/mean_length" in logs:
            self.lengths.append(logs["completions/mean_length"])


def settings(steps: int, output_dir: Path) -> dict:
    return {
        "max_steps": steps,
        "per_device_train_batch_size": 16,
        "num_generations": 8,
        "max_completion_length": 32,
        "learning_rate": 1e-5,
        "beta": 0.04,  # GroundRL's default (VLM-R1's); TRL's is 0, so it is set for both
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": "none",
        "seed": 0,
        "use_cpu": True,
        "bf16": False,
        "output_dir": str(output_dir),
    }


def iou_plain(completions, solution, **_) -> list[float]:
    """The reward a user writes for TRL by hand: the first four numbers as a box, IoU with the solution."""
    rewards = []
    for completion, gt in zip(completions, solution, strict=True):
        numbers = [float(n) for n in NUMBER.findall(completion[0]["content"])][:4]
        if len(numbers) < 4:
            rewards.append(0.0)
            continue
        x1, y1, x2, y2 = numbers
        iw = max(0.0, min(x2, gt[2]) - max(x1, gt[0]))
        ih = max(0.0, min(y2, gt[3]) - max(y1, gt[1]))
        union = (x2 - x1) * (y2 - y1) + (gt[2] - gt[0]) * (gt[3] - gt[1]) - iw * ih
        rewards.append(iw * ih / union if union > 0 else 0.0)
    return rewards


def run_trl(model_dir: Path, data: Path, steps: int, out: Path) -> StepTimer:
    """TRL alone: the model, processor and dataset set up by hand as TRL's documentation shows."""
    model = AutoModelForImageTextToText.from_pretrained(model_dir)
    processor = AutoProcessor.from_pretrained(model_dir, padding_side="left")
    rows = []
    for record in read_records(data):
        text = get_family("qwen2.5-vl").prompt.format(expression=record.question)  # the same words as ours
        rows.append(
            {
                "prompt": [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]}],
                "images": [load_image(data.parent / record.images[0])],
                "solution": record.boxes[0],  # 112 px images: Qwen2.5-VL's input frame is the original
            }
        )
    timer = StepTimer()
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[iou_plain],
        args=GRPOConfig(**settings(steps, out)),
        train_dataset=datasets.Dataset.from_list(rows),
        processing_class=processor,
        callbacks=[timer],
    )
    trainer.train()
    return timer


def run_groundrl(model_dir: Path, data: Path, steps: int, out: Path) -> StepTimer:
    """GroundRL's recipe: config -> records -> rows -> rewards from the registry -> the same trainer."""
    options = settings(steps, out)
    cfg = grpo.GRPORunConfig(
        model=str(model_dir),
        data=str(data),
        output_dir=str(out),
        rewards=[RewardSpec("iou", 1.0)],
        trl={k: v for k, v in options.items() if k not in ("output_dir", "use_cpu", "bf16", "report_to")},
    )
    timer = StepTimer()
    trainer = grpo.build_trainer(cfg, callbacks=[timer])
    trainer.reward_funcs = [timed(f, timer) for f in trainer.reward_funcs]
    trainer.train()
    return timer


def timed(func, timer: StepTimer):
    """`func`, adding the seconds it runs to `timer.own`: GroundRL's own share of a step."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return func(*args, **kwargs)
        finally:
            timer.own += time.perf_counter() - started

    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--records", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model_dir = make_tiny("qwen2.5-vl", root / "model")
        data = generate("rec", args.records, root / "data", seed=3, opts=SynthOptions(min_size=112, max_size=112))
        figures: dict[str, list[float]] = {"trl": [], "groundrl": []}
        own: list[float] = []
        runners = {"trl": run_trl, "groundrl": run_groundrl}
        for repeat in range(args.repeats):
            order = ("trl", "groundrl") if repeat % 2 == 0 else ("groundrl", "trl")
            for name in order:
                timer = runners[name](model_dir, data, args.steps, root / f"{name}-{repeat}")
                figures[name].append(statistics.median(timer.seconds[WARMUP:]))
                length = statistics.mean(timer.lengths)
                if name == "groundrl":
                    own.append(timer.own / len(timer.seconds))
                ms = figures[name][-1] * 1000
                print(f"repeat {repeat} {name}: {ms:.0f} ms/step, {length:.1f} tokens per completion", flush=True)
    trl_ms = statistics.median(figures["trl"]) * 1000
    ours_ms = statistics.median(figures["groundrl"]) * 1000
    print(f"\nmachine: {platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    print(f"{args.steps} steps, 16 completions of <= 32 tokens per step, median of {args.repeats} repeats\n")
    print("| path | ms per step |\n| --- | ---: |")
    print(f"| trl.GRPOTrainer directly | {trl_ms:.0f} |\n| groundrl grpo | {ours_ms:.0f} |")
    pairs = [ours / trl for ours, trl in zip(figures["groundrl"], figures["trl"], strict=True)]
    print(f"\nratio groundrl / trl: {ours_ms / trl_ms:.3f} (target <= 1.05)")
    print(f"ratio within each repeat: {', '.join(f'{r:.2f}' for r in pairs)}")
    print(f"time inside GroundRL's reward functions: {statistics.median(own) * 1000:.2f} ms per step")


if __name__ == "__main__":
    main()
