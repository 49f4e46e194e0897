"""The demo recipe, on CPU: a tiny Qwen3-VL learns to ground synthetic referring expressions.

Reads top to bottom: tiny model and synthetic data -> evaluate the base -> SFT -> evaluate -> GRPO ->
evaluate -> curves, the SFT-vs-GRPO page, test-time scaling grid -> summary.json. Every stage is an
ordinary GroundRL run (the same recipes and evaluation as on real checkpoints), in a folder of its own
under `out`. Why each setting: docs/synthetic-data.md, "The demo".
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import TypeVar

from groundrl.data.records import IMAGE_TOKEN
from groundrl.demo_config import DemoConfig
from groundrl.demo_report import figure_line, gain_line, paired_gain, plot_curves, stage_figures, write_comparison
from groundrl.eval.report import write_reports
from groundrl.eval.runner import EvalConfig, run_eval
from groundrl.eval.scaling import ScalingConfig, run_scaling
from groundrl.models.families import get_family
from groundrl.models.tiny import TinySpec, make_tiny
from groundrl.rewards import RewardSpec
from groundrl.synth import SynthOptions, generate
from groundrl.train import grpo, sft

T = TypeVar("T")

# Sized for two CPU cores: small images, few visual tokens, a model shaped for the task. Why each choice,
# measured: BENCHMARKS.md, "The demo".
DEMO_SPEC = TinySpec(
    text_hidden=128,
    text_layers=3,
    text_heads=4,
    text_kv_heads=2,
    text_intermediate=384,
    vision_hidden=96,
    vision_depth=2,
    vision_heads=4,
    vision_intermediate=192,
)


def demo_spec(family: str, side: int) -> TinySpec:
    """The demo's model for `family` and images of side x side pixels: the processor keeps them at that size,
    and Qwen3-VL's vision position table starts smooth, so that a visual token knows where it is."""
    position = "sincos" if get_family(family).name == "qwen3-vl" else "random"
    return replace(DEMO_SPEC, min_pixels=side * side, vision_position_init=position)


def demo_prompt(cfg: DemoConfig) -> str | None:
    """The grounding prompt of every stage: the family's, with the image after the question when
    `cfg.question_first` (so that the image's tokens can attend to the words); None: the family's as is."""
    return get_family(cfg.family).prompt + IMAGE_TOKEN if cfg.question_first else None


def demo_data_options(family: str, cells: int) -> SynthOptions:
    """Scenes of `cells` x `cells` vision patches whose shapes cover whole patches (SynthOptions.grid)."""
    patch = get_family(family).patch_size
    side = cells * patch
    return SynthOptions(min_size=side, max_size=side, min_shapes=1, max_shapes=3, grid=patch)


class Clock:
    """Wall and CPU seconds of each stage. CPU seconds (the process's, over all its threads) do not grow with
    other processes' load as wall seconds do: on a busy machine they estimate a quiet one's wall time
    (about CPU seconds / threads busy)."""

    def __init__(self) -> None:
        self.seconds: dict[str, dict[str, float]] = {}

    def run(self, stage: str, work: Callable[[], T]) -> T:
        wall, cpu = time.perf_counter(), time.process_time()
        result = work()
        self.seconds[stage] = {
            "wall": round(time.perf_counter() - wall, 1),
            "cpu": round(time.process_time() - cpu, 1),
        }
        return result


def evaluate_stage(model_dir: Path, data: Path, out: Path, cfg: DemoConfig) -> dict:
    """Evaluate one checkpoint on the held-out records; returns stage_figures (acc@0.5, mean IoU, 95%)."""
    # overwrite: each demo run trains its models anew, so an earlier run's predictions are never resumed
    config = EvalConfig(
        model=str(model_dir), data=str(data), max_new_tokens=cfg.max_new_tokens, batch_size=64, prompt=demo_prompt(cfg)
    )
    run_eval(config, out, overwrite=True)
    write_reports(out)
    return stage_figures(out / "predictions.jsonl")


def _merge_metrics(out: Path, stages: dict[str, Path]) -> None:
    with open(out / "metrics.jsonl", "w", encoding="utf-8") as f:
        for stage, folder in stages.items():
            for line in (folder / "metrics.jsonl").read_text().splitlines():
                f.write(json.dumps({"stage": stage, **json.loads(line)}) + "\n")


def grpo_trend(metrics: Path, window: int = 10) -> dict:
    """GRPO's mean reward and fraction of zero-variance groups over its first and its last `window` steps."""
    rows = [json.loads(line) for line in metrics.read_text().splitlines()]
    rows = [r for r in rows if r["stage"] == "grpo" and "reward" in r]
    out = {}
    for key, name in (("reward", "reward"), ("frac_reward_zero_std", "zero_std_groups")):
        values = [r[key] for r in rows if key in r]
        for part, chunk in (("first", values[:window]), ("last", values[-window:])):
            out[f"{name}_{part}"] = round(sum(chunk) / len(chunk), 4) if chunk else None
    return out


def build_data(cfg: DemoConfig, out: Path) -> tuple[Path, Path, Path]:
    """The SFT records (expression kinds cfg.sft_kinds), the GRPO records (every kind) and the held-out ones."""
    opts = replace(demo_data_options(cfg.family, cfg.cells), balance_kinds=cfg.balance_kinds)
    sft_data = generate(
        "rec", cfg.n_train, out / "data" / "sft", seed=cfg.seed + 1, opts=replace(opts, kinds=cfg.sft_kinds)
    )
    grpo_data = generate("rec", cfg.n_grpo, out / "data" / "grpo", seed=cfg.seed + 3, opts=opts)
    held_out = generate("rec", cfg.n_eval, out / "data" / "eval", seed=cfg.seed + 2, opts=opts)
    return sft_data, grpo_data, held_out


def sft_config(cfg: DemoConfig, base: Path, data: Path, out: Path) -> sft.SFTRunConfig:
    return sft.SFTRunConfig(
        model=str(base),
        data=str(data),
        output_dir=str(out / "sft"),
        prompt=demo_prompt(cfg),
        trl={
            "max_steps": cfg.sft_steps,
            "per_device_train_batch_size": cfg.batch_size,
            "learning_rate": cfg.sft_lr,
            "lr_scheduler_type": "cosine",
            "warmup_steps": 0.05,
            "adam_beta2": cfg.sft_adam_beta2,
            "logging_steps": max(1, cfg.sft_steps // 30),
            "save_strategy": "no",
            "seed": cfg.seed,
        },
    )


def grpo_config(cfg: DemoConfig, data: Path, out: Path) -> grpo.GRPORunConfig:
    return grpo.GRPORunConfig(
        model=str(out / "sft"),
        data=str(data),
        output_dir=str(out / "grpo"),
        rewards=[RewardSpec(cfg.grpo_reward, 1.0)],
        difficulty=cfg.difficulty,
        prompt=demo_prompt(cfg),
        trl={
            "max_steps": cfg.grpo_steps,
            "per_device_train_batch_size": cfg.grpo_prompts * cfg.num_generations,
            "num_generations": cfg.num_generations,
            "learning_rate": cfg.grpo_lr,
            "max_completion_length": cfg.max_new_tokens,
            "temperature": cfg.grpo_temperature,
            "beta": 0.0,
            "logging_steps": 1,
            "save_strategy": "no",
            "seed": cfg.seed,
        },
    )


def record_kinds(path: Path) -> dict[str, str]:
    """Record id -> expression kind (meta.kind) of a synthetic records file."""
    rows = (json.loads(line) for line in path.read_text().splitlines() if line.strip())
    return {row["id"]: row.get("meta", {}).get("kind", "-") for row in rows}


def run_demo(cfg: DemoConfig, log=print) -> dict:
    """Run the demo; returns the summary written to `out/summary.json`."""
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(asdict(cfg), indent=2))
    clock = Clock()

    log(f"building a tiny {cfg.family} model and synthetic data")
    side = demo_data_options(cfg.family, cfg.cells).min_size
    base = clock.run("model", lambda: make_tiny(cfg.family, out / "model", demo_spec(cfg.family, side)))
    sft_data, grpo_data, held_out = clock.run("data", lambda: build_data(cfg, out))
    evals = {stage: out / "eval" / stage for stage in ("base", "sft", "grpo")}

    summary = {"base": clock.run("eval_base", lambda: evaluate_stage(base, held_out, evals["base"], cfg))}
    log(figure_line("base", summary["base"]))
    clock.run("sft", lambda: sft.run_sft(sft_config(cfg, base, sft_data, out)))
    summary["sft"] = clock.run("eval_sft", lambda: evaluate_stage(out / "sft", held_out, evals["sft"], cfg))
    log(figure_line("after SFT", summary["sft"]))
    clock.run("grpo", lambda: grpo.run_grpo(grpo_config(cfg, grpo_data, out)))
    summary["grpo"] = clock.run("eval_grpo", lambda: evaluate_stage(out / "grpo", held_out, evals["grpo"], cfg))
    log(figure_line("after GRPO", summary["grpo"]))

    summary["gain"] = paired_gain(evals["sft"] / "predictions.jsonl", evals["grpo"] / "predictions.jsonl")
    log(gain_line(summary["gain"]))
    _merge_metrics(out, {"sft": out / "sft", "grpo": out / "grpo"})
    summary["grpo_training"] = grpo_trend(out / "metrics.jsonl")
    plot_curves(out / "metrics.jsonl", out / "curves.png")
    pairs = (evals["sft"] / "predictions.jsonl", evals["grpo"] / "predictions.jsonl")
    write_comparison(*pairs, out / "sft-vs-grpo.html", record_kinds(held_out))

    if cfg.scaling:
        log("test-time scaling: the GRPO model and the base x samples x thinking budget")
        grid = ScalingConfig(
            models=[str(out / "grpo"), str(base)],
            labels=["grpo", "base"],
            samples=[1, 4],
            thinking=[None, 16],
            base=EvalConfig(
                data=str(held_out),
                max_new_tokens=cfg.max_new_tokens + 16,
                batch_size=64,
                limit=cfg.scaling_scenes,
                prompt=demo_prompt(cfg),
            ),
        )
        clock.run("scaling", lambda: run_scaling(grid, out / "scaling", log=log))
    summary["seconds"] = clock.seconds
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary
