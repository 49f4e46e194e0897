"""The demo recipe: build a tiny model, make held-out synthetic data, predict, score, write a run folder.

Reads top to bottom. Training stages (SFT, GRPO) join here when the training issue lands; until then the
demo shows the whole evaluation path on an untrained model, whose accuracy is honestly near zero.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from PIL import Image

from groundrl.data.records import Record, read_records
from groundrl.engines.base import Prompt, Sampling
from groundrl.engines.hf import TransformersEngine
from groundrl.eval.gallery import draw_gallery
from groundrl.eval.scoring import score_jsonl
from groundrl.models.families import get_family
from groundrl.models.prompts import build_messages
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


def prediction_line(record: Record, output: str, family: str) -> dict:
    """A line of the `groundrl score` input format for one answer."""
    return {
        "id": record.id,
        "output": output,
        "gt": record.boxes[0],
        "width": record.width,
        "height": record.height,
        "task": "point" if record.task == "point" else "box",
        "family": family,
    }


def predict_file(
    engine: TransformersEngine, records_path: Path, family_name: str, out: Path, max_new_tokens: int
) -> float:
    """Answer every record of `records_path`; write score-ready lines to `out`. Returns seconds taken."""
    family = get_family(family_name)
    records = list(read_records(records_path))
    prompts = [
        Prompt(build_messages(r, family), [Image.open(p).convert("RGB") for p in r.image_paths(records_path.parent)])
        for r in records
    ]
    started = time.perf_counter()
    generations = [g[0] for g in engine.generate(prompts, Sampling(max_new_tokens=max_new_tokens))]
    seconds = time.perf_counter() - started
    with open(out, "w", encoding="utf-8") as f:
        for record, gen in zip(records, generations, strict=True):
            f.write(json.dumps(prediction_line(record, gen.text, family_name)) + "\n")
    return seconds


def score_file(predictions: Path, details: Path) -> dict:
    """Score a predictions file with the same core as `groundrl score`; write per-line details."""
    with open(details, "w", encoding="utf-8") as out:
        summary, _ = score_jsonl(predictions, out, workers=1)
    return summary.as_dict()


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

    log("predicting with the transformers engine")
    engine = TransformersEngine(model_dir, batch_size=cfg.batch_size)
    predictions = out / "predictions.jsonl"
    seconds = predict_file(engine, eval_path, cfg.family, predictions, cfg.max_new_tokens)

    metrics = score_file(predictions, out / "details.jsonl")
    (out / "metrics.json").write_text(json.dumps({"base": metrics}, indent=2))
    summary = {"base": {"acc@0.5": metrics["acc@0.5"], "miou": metrics["miou"], "seconds": round(seconds, 3)}}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    draw_gallery(eval_path, out / "details.jsonl", out / "gallery.png")
    return summary
