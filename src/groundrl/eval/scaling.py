"""Test-time scaling analysis: bigger or longer? A grid of models x samples per query x thinking budget,
each cell an ordinary (resumable) evaluation run, plotted as accuracy against generated tokens per query
and against latency, one curve per model, so that a small model that thinks longer can be compared with a
larger one at equal cost."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from groundrl.config import to_dict
from groundrl.eval.metrics import compute_metrics, read_predictions
from groundrl.eval.runner import EvalConfig, open_engine, run_eval


@dataclass(frozen=True)
class ScalingConfig:
    """The grid.

    Attributes:
        models: checkpoint folders (or served names with engine=openai), one curve each.
        labels: names for the curves (default: the folder names).
        samples: answers per query (aggregated by consensus or vote).
        thinking: thinking budgets in tokens; null for no bound.
        temperature: sampling temperature for cells with more than one sample.
        base: everything else, as for `groundrl eval` (data or suite, engine, batch size, ...).
    """

    models: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    samples: list[int] = field(default_factory=lambda: [1])
    thinking: list[int | None] = field(default_factory=lambda: [None])
    temperature: float = 0.7
    base: EvalConfig = field(default_factory=EvalConfig)


def cell_name(n: int, budget: int | None) -> str:
    return f"n{n}-think{'none' if budget is None else budget}"


def run_scaling(cfg: ScalingConfig, out: Path, log=print) -> list[dict]:
    """Run every cell (resuming finished ones), then write scaling.json, scaling.md and scaling.png."""
    if not cfg.models:
        raise ValueError("the scaling grid needs at least one model (models=...)")
    labels = cfg.labels or [Path(m).name or m for m in cfg.models]
    points = []
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(to_dict(cfg), indent=2, default=str))
    for model, label in zip(cfg.models, labels, strict=True):
        engine = None
        for n in cfg.samples:
            for budget in cfg.thinking:
                run_cfg = dataclasses.replace(
                    cfg.base,
                    model=model,
                    samples=n,
                    max_thinking_tokens=budget,
                    temperature=cfg.temperature if n > 1 else 0.0,
                )
                engine = engine or open_engine(run_cfg)
                run_dir = out / label / cell_name(n, budget)
                log(f"{label} {cell_name(n, budget)}")
                run_eval(run_cfg, run_dir, engine=engine)
                overall = compute_metrics(read_predictions(run_dir / "predictions.jsonl"))["overall"]
                points.append(_point(label, n, budget, overall))
    (out / "scaling.json").write_text(json.dumps(points, indent=2))
    (out / "scaling.md").write_text(scaling_table(points))
    plot_scaling(points, out / "scaling.png")
    return points


def _point(label: str, n: int, budget: int | None, overall: dict) -> dict:
    accuracy = overall["acc@0.5"] if overall["acc@0.5"] is not None else overall["accuracy"]
    return {
        "model": label,
        "samples": n,
        "thinking": budget,
        "accuracy": accuracy,
        "tokens_per_query": (overall["tokens_mean"] or 0.0) * n,
        "latency_p50_s": overall["latency_p50_s"],
        "n": overall["n"],
    }


def scaling_table(points: list[dict]) -> str:
    lines = [
        "| model | samples | thinking | accuracy | tokens / query | latency p50 (s) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for p in points:
        budget = "-" if p["thinking"] is None else p["thinking"]
        cost = f"{p['tokens_per_query']:.1f} | {p['latency_p50_s']:.3f}"
        lines.append(f"| {p['model']} | {p['samples']} | {budget} | {p['accuracy']:.3f} | {cost} |")
    return "\n".join(lines) + "\n"


def plot_scaling(points: list[dict], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for model in dict.fromkeys(p["model"] for p in points):
        mine = sorted((p for p in points if p["model"] == model), key=lambda p: p["tokens_per_query"])
        axes[0].plot([p["tokens_per_query"] for p in mine], [p["accuracy"] for p in mine], "o-", label=model)
        mine = sorted(mine, key=lambda p: p["latency_p50_s"])
        axes[1].plot([p["latency_p50_s"] for p in mine], [p["accuracy"] for p in mine], "o-", label=model)
    axes[0].set(xlabel="generated tokens per query", ylabel="accuracy (acc@0.5)", title="accuracy vs tokens")
    axes[1].set(xlabel="latency p50 (s)", ylabel="accuracy (acc@0.5)", title="accuracy vs latency")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
