"""The demo recipe, on CPU: a tiny Qwen3-VL learns to ground synthetic referring expressions.

Reads top to bottom: tiny model and synthetic data -> evaluate the base -> SFT -> evaluate -> GRPO ->
evaluate -> curves, gallery, test-time scaling grid -> summary.json. Every stage is an ordinary GroundRL
run (the same recipes and evaluation as on real checkpoints), in a folder of its own under `out`.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, replace
from pathlib import Path

from groundrl.demo_config import DemoConfig
from groundrl.eval.metrics import compute_metrics, read_predictions
from groundrl.eval.report import write_reports
from groundrl.eval.runner import EvalConfig, run_eval
from groundrl.eval.scaling import ScalingConfig, run_scaling
from groundrl.models.families import get_family
from groundrl.models.tiny import TinySpec, make_tiny
from groundrl.rewards import RewardSpec
from groundrl.synth import SynthOptions, generate
from groundrl.train import grpo, sft

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


def demo_data_options(family: str, cells: int) -> SynthOptions:
    """Scenes of `cells` x `cells` vision patches whose shapes cover whole patches (SynthOptions.grid)."""
    patch = get_family(family).patch_size
    side = cells * patch
    return SynthOptions(min_size=side, max_size=side, min_shapes=1, max_shapes=3, grid=patch)


def evaluate_stage(model_dir: Path, data: Path, out: Path, cfg: DemoConfig) -> dict:
    """Evaluate one checkpoint on the held-out records; returns {acc@0.5, miou, seconds}."""
    started = time.perf_counter()
    # overwrite: each demo run trains its models anew, so an earlier run's predictions are never resumed
    config = EvalConfig(model=str(model_dir), data=str(data), max_new_tokens=cfg.max_new_tokens, batch_size=32)
    run_eval(config, out, overwrite=True)
    write_reports(out)
    overall = compute_metrics(read_predictions(out / "predictions.jsonl"))["overall"]
    return {"acc@0.5": overall["acc@0.5"], "miou": overall["miou"], "seconds": round(time.perf_counter() - started, 3)}


def train_stage(train, model_dir: Path, data: Path, out: Path, cfg: DemoConfig) -> dict:
    """Run a training stage, then evaluate its model; the stage's metrics plus its training seconds."""
    started = time.perf_counter()
    train()
    seconds = round(time.perf_counter() - started, 1)
    return evaluate_stage(model_dir, data, out, cfg) | {"train_seconds": seconds}


def _report(log, stage: str, metrics: dict) -> None:
    log(f"{stage}: acc@0.5 {metrics['acc@0.5']:.3f}, mean IoU {metrics['miou']:.3f}")


def _merge_metrics(out: Path, stages: dict[str, Path]) -> None:
    with open(out / "metrics.jsonl", "w", encoding="utf-8") as f:
        for stage, folder in stages.items():
            for line in (folder / "metrics.jsonl").read_text().splitlines():
                f.write(json.dumps({"stage": stage, **json.loads(line)}) + "\n")


def plot_curves(metrics: Path, path: Path) -> Path:
    """SFT loss, and GRPO reward, IoU and completion length per step, as one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in metrics.read_text().splitlines()]
    sft_rows = [r for r in rows if r["stage"] == "sft" and "loss" in r]
    grpo_rows = [r for r in rows if r["stage"] == "grpo" and "reward" in r]
    panels = [
        (sft_rows, "loss", "SFT loss"),
        (grpo_rows, "reward", "GRPO reward"),
        (grpo_rows, "rewards/iou/mean", "GRPO IoU"),
        (grpo_rows, "completions/mean_length", "completion length (tokens)"),
    ]
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.2))
    for ax, (data, key, title) in zip(axes, panels, strict=True):
        ax.plot([r["step"] for r in data if key in r], [r[key] for r in data if key in r], color="#37a")
        ax.set(title=title, xlabel="step")
        if key == "loss":
            ax.set_yscale("log")  # the loss falls 100x; on a linear axis its later fall is invisible
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def run_demo(cfg: DemoConfig, log=print) -> dict:
    """Run the demo; returns the summary written to `out/summary.json`."""
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(asdict(cfg), indent=2))

    log(f"building a tiny {cfg.family} model and synthetic data")
    opts = demo_data_options(cfg.family, cfg.cells)
    base = make_tiny(cfg.family, out / "model", demo_spec(cfg.family, opts.min_size))
    train = generate("rec", cfg.n_train, out / "data" / "train", seed=cfg.seed + 1, opts=opts)
    held_out = generate("rec", cfg.n_eval, out / "data" / "eval", seed=cfg.seed + 2, opts=opts)

    summary = {"base": evaluate_stage(base, held_out, out / "eval" / "base", cfg)}
    _report(log, "base", summary["base"])

    sft_cfg = sft.SFTRunConfig(
        model=str(base),
        data=str(train),
        output_dir=str(out / "sft"),
        trl={
            "max_steps": cfg.sft_steps,
            "per_device_train_batch_size": cfg.batch_size,
            "learning_rate": cfg.sft_lr,
            "lr_scheduler_type": "cosine",
            "warmup_steps": 0.05,
            "logging_steps": max(1, cfg.sft_steps // 30),
            "save_strategy": "no",
            "seed": cfg.seed,
        },
    )
    summary["sft"] = train_stage(lambda: sft.run_sft(sft_cfg), out / "sft", held_out, out / "eval" / "sft", cfg)
    _report(log, "after SFT", summary["sft"])

    grpo_cfg = grpo.GRPORunConfig(
        model=str(out / "sft"),
        data=str(train),
        output_dir=str(out / "grpo"),
        rewards=[RewardSpec("iou", 1.0), RewardSpec("iou_threshold", 1.0, {"tau": 0.5})],
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
    summary["grpo"] = train_stage(lambda: grpo.run_grpo(grpo_cfg), out / "grpo", held_out, out / "eval" / "grpo", cfg)
    _report(log, "after GRPO", summary["grpo"])

    _merge_metrics(out, {"sft": out / "sft", "grpo": out / "grpo"})
    plot_curves(out / "metrics.jsonl", out / "curves.png")
    (out / "summary.json").write_text(json.dumps(summary, indent=2))

    if cfg.scaling:
        log("test-time scaling: the GRPO model and the base x samples x thinking budget")
        grid = ScalingConfig(
            models=[str(out / "grpo"), str(base)],
            labels=["grpo", "base"],
            samples=[1, 4],
            thinking=[None, 16],
            base=EvalConfig(data=str(held_out), max_new_tokens=cfg.max_new_tokens + 16, batch_size=32),
        )
        run_scaling(grid, out / "scaling", log=log)
    return summary
