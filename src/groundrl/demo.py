"""The demo recipe: build tiny models, make held-out synthetic data, evaluate, analyse test-time scaling,
and write a run folder.

Reads top to bottom. Training stages (SFT, GRPO) join here when the training issue lands; until then the
demo shows the whole evaluation path on an untrained model, whose accuracy is honestly near zero.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from groundrl.eval.metrics import compute_metrics, read_predictions
from groundrl.eval.report import write_reports
from groundrl.eval.runner import EvalConfig, run_eval
from groundrl.eval.scaling import ScalingConfig, run_scaling
from groundrl.models.tiny import TinySpec, make_tiny
from groundrl.synth import SynthOptions, generate


@dataclass(frozen=True)
class DemoConfig:
    """Options of `groundrl demo`."""

    out: str = "runs/demo"
    family: str = "qwen2.5-vl"
    n_eval: int = 32
    seed: int = 0
    image_min: int = 112
    image_max: int = 168
    max_new_tokens: int = 32
    batch_size: int = 16
    scaling: bool = True


def evaluate_stage(model_dir: Path, data: Path, out: Path, cfg: DemoConfig) -> dict:
    """Evaluate one checkpoint on the held-out records; returns {acc@0.5, miou, seconds}."""
    started = time.perf_counter()
    eval_cfg = EvalConfig(
        model=str(model_dir), data=str(data), max_new_tokens=cfg.max_new_tokens, batch_size=cfg.batch_size
    )
    run_eval(eval_cfg, out)
    write_reports(out)
    overall = compute_metrics(read_predictions(out / "predictions.jsonl"))["overall"]
    return {"acc@0.5": overall["acc@0.5"], "miou": overall["miou"], "seconds": round(time.perf_counter() - started, 3)}


def run_demo(cfg: DemoConfig, log=print) -> dict:
    """Run the demo; returns the summary written to `out/summary.json`."""
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(asdict(cfg), indent=2))

    log(f"building a tiny {cfg.family} model")
    model_dir = make_tiny(cfg.family, out / "model", TinySpec(seed=cfg.seed))

    log(f"generating {cfg.n_eval} held-out synthetic REC records")
    opts = SynthOptions(min_size=cfg.image_min, max_size=cfg.image_max)
    eval_path = generate("rec", cfg.n_eval, out / "data" / "eval", seed=cfg.seed + 1, opts=opts)

    log("evaluating the base model")
    summary = {"base": evaluate_stage(model_dir, eval_path, out / "eval" / "base", cfg)}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))

    if cfg.scaling:
        log("test-time scaling: two model sizes x samples x thinking budget")
        small = make_tiny(
            cfg.family,
            out / "model-small",
            TinySpec(text_layers=1, text_hidden=64, text_intermediate=128, seed=cfg.seed),
        )
        grid = ScalingConfig(
            models=[str(model_dir), str(small)],
            labels=["tiny", "tinier"],
            samples=[1, 4],
            thinking=[None, 16],
            base=EvalConfig(data=str(eval_path), max_new_tokens=cfg.max_new_tokens + 16, batch_size=cfg.batch_size),
        )
        run_scaling(grid, out / "scaling", log=log)
    return summary
