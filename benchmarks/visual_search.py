"""Benchmark: on the visual-search task, does an oracle zoom (a crop at the true target) lift a tiny model's
held-out accuracy over the full image alone? CPU, minutes.

    python benchmarks/visual_search.py [--out runs/bench-visual-search] [--steps 400] [--n-eval 256] [--eval-only]

A tiny Qwen3-VL (the demo's shape) whose processor budget shrinks every image to about `--budget` pixels a
side is fine-tuned (SFT) on a mix of records with the full image only (`records.jsonl`) and the same
records with the oracle crop appended (the crop of the task's zoom chain, cut by the zoom tool at the target;
the answer alone is learned, so that the untrainable part of a chain, where to look, does not drown it).
Then the same held-out questions are asked three ways: the full image only; with the oracle crop; and with
the crop cut from the image as the model saw it (resized to its budget) instead of the original, which is
all a crop holds when a tool cuts from the resized image: the location without the detail. Accuracies come
with Wilson 95% intervals, and the crops' gain over the full image with a paired normal-approximation
interval.

`--ask colour` asks "what colour is the shape marked K?": the letters that say which shape is meant are gone
after the resize (measured: `legibility`) and every option's colour is on some shape. `--ask letter` asks
for the letter itself, which only the full-resolution crop shows.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import platform
import statistics
import time
from pathlib import Path

import torch
from PIL import Image

from groundrl.data.images import load_image
from groundrl.data.records import IMAGE_TOKEN, read_records
from groundrl.demo import DEMO_SPEC
from groundrl.eval.metrics import read_predictions
from groundrl.eval.runner import EvalConfig, run_eval
from groundrl.models.families import FAMILIES
from groundrl.models.tiny import TinySpec, make_tiny
from groundrl.synth import ChainOptions, VisualSearchOptions, example_rng, generate
from groundrl.synth.visual_search import legibility, make_scene
from groundrl.tools.zoom import CROP_TEXT, ZoomPreset, zoom
from groundrl.train import sft

FAMILY = "qwen3-vl"
SPEC = dataclasses.replace(DEMO_SPEC, vision_position_init="sincos")  # the demo's model, sine-cosine vision positions


def wilson(hits: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion."""
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def paired_difference(a: list[bool], b: list[bool], z: float = 1.96) -> tuple[float, float, float]:
    """Mean of b - a over paired items and its normal-approximation 95% interval."""
    diffs = [float(y) - float(x) for x, y in zip(a, b, strict=True)]
    mean = statistics.fmean(diffs)
    half = z * statistics.stdev(diffs) / math.sqrt(len(diffs))
    return mean, mean - half, mean + half


def hits_by_id(predictions: Path) -> dict[str, bool]:
    return {str(row["id"]): bool(row["hit"]) for row in read_predictions(predictions)}


def measure_legibility(opts: VisualSearchOptions, chains: ChainOptions, seed: int, n: int) -> dict:
    """Median letter contrast (grey levels) at full resolution, as the model sees the image, and in the crop."""
    rows = []
    for i in range(n):
        scene = make_scene(example_rng(seed, i), opts)
        others = [c for c in opts.letters if c != scene.target_item.letter][:3]
        rows.append(legibility(scene, [scene.target_item.letter, *others], chains.family, chains.preset))
    return {k: round(statistics.median(getattr(r, k) for r in rows), 2) for k in ("full", "seen", "crop")}


def with_crop(folder: Path, name: str, crop_of=None) -> Path:
    """The records of `folder` with their chain's oracle crop appended to the question (one user turn: the
    full image, the question, the crop in the tool's own words) and the bare answer: `name`. `crop_of(chain,
    image)` may cut another crop instead of the chain's own (saved beside it)."""
    out = folder / name
    chains = read_records(folder / "chains.jsonl")
    with open(out, "w", encoding="utf-8") as f:
        for record, chain in zip(read_records(folder / "records.jsonl"), chains, strict=True):
            crop = chain.images[1]
            if crop_of is not None:
                crop = crop.replace("-crop.png", f"-{Path(name).stem}.png")
                crop_of(chain, load_image(folder / chain.images[0])).save(folder / crop)
            user = f"{IMAGE_TOKEN}{record.question}\n{CROP_TEXT}\n{IMAGE_TOKEN}"
            record.messages = [{"role": "user", "content": user}, {"role": "assistant", "content": record.answer}]
            record.images, record.question = [record.images[0], crop], None
            record.image_sizes = [*record.image_sizes, list(Image.open(folder / crop).size)]
            f.write(record.to_json() + "\n")
    return out


def seen_crop(chains: ChainOptions):
    """Cut the chain's crop from the image as the model saw it (resized to its budget), not the original."""

    def cut(chain, image: Image.Image) -> Image.Image:
        seen = image.resize(chains.family.input_size(*image.size), Image.Resampling.BICUBIC)
        return zoom(seen, chain.meta["tool_point"], chains.family, chains.preset).image

    return cut


def train_model(args: argparse.Namespace, train: Path, spec: TinySpec) -> float:
    """SFT the tiny model on the records, half with the full image only and half with the oracle crop
    appended; returns the seconds it took."""
    model = make_tiny(FAMILY, args.out / "model", spec)
    cfg = sft.SFTRunConfig(
        model=str(model),
        data=f"{train}:{with_crop(train.parent, 'with-crop.jsonl')}",
        output_dir=str(args.out / "sft"),
        trl={
            "max_steps": args.steps,
            "per_device_train_batch_size": args.batch,
            "learning_rate": args.lr,
            "lr_scheduler_type": "cosine",
            "warmup_steps": 0.05,
            "logging_steps": 10,
            "save_strategy": "no",
            "gradient_checkpointing": False,  # a 1.4 M-parameter model: memory is no concern, time is
            "seed": args.seed,
        },
    )
    started = time.perf_counter()
    sft.run_sft(cfg)
    return time.perf_counter() - started


def accuracies(conditions: dict[str, Path], model: Path, out: Path) -> dict[str, list[bool]]:
    """Held-out hits per condition, in one order of record ids (the conditions ask the same questions)."""
    results = {}
    for name, data in conditions.items():
        cfg = EvalConfig(model=str(model), data=str(data), max_new_tokens=96, batch_size=32)
        results[name] = hits_by_id(run_eval(cfg, out / name.replace(" ", "-"), overwrite=True))
    ids = sorted(next(iter(results.values())))
    return {name: [hits[i] for i in ids] for name, hits in results.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/bench-visual-search"))
    parser.add_argument("--n-train", type=int, default=4000)
    parser.add_argument("--n-eval", type=int, default=256)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--side", type=int, default=1024, help="image side (min and max)")
    parser.add_argument("--budget", type=int, default=128, help="the processor's budget: this side squared")
    parser.add_argument("--half", type=int, default=1, help="crop window half side, in seen pixels")
    parser.add_argument("--crop", type=int, default=64, help="crop side in pixels")
    parser.add_argument("--ask", default="colour", help="letter or colour questions")
    parser.add_argument("--letters", default="HKLMNPRTVXYZ", help="the letters shapes carry")
    parser.add_argument("--choices", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a shared 2-core VM)")
    parser.add_argument("--eval-only", action="store_true", help="reuse --out's data and model: evaluate only")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)

    opts = VisualSearchOptions(
        min_size=args.side,
        max_size=args.side,
        min_target=20,
        max_target=24,
        ask=args.ask,
        letters=args.letters,
        choices=args.choices,
    )
    spec = dataclasses.replace(SPEC, min_pixels=args.crop * args.crop, max_pixels=args.budget * args.budget)
    family = dataclasses.replace(FAMILIES[FAMILY], min_pixels=spec.min_pixels, max_pixels=spec.max_pixels)
    chains = ChainOptions(family, ZoomPreset(args.half, args.crop), system="")
    summary = {
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, python {platform.python_version()}",
        "args": {k: str(v) for k, v in vars(args).items()},
        "letter_contrast": measure_legibility(opts, chains, args.seed + 2, 32),
    }
    print(f"letter contrast (grey levels, median of 32): {summary['letter_contrast']}", flush=True)
    train, held = out / "train" / "records.jsonl", out / "eval" / "records.jsonl"
    if not args.eval_only:
        started = time.perf_counter()
        generate("visual_search", args.n_train, train.parent, seed=args.seed + 1, opts=opts, chains=chains)
        generate("visual_search", args.n_eval, held.parent, seed=args.seed + 2, opts=opts, chains=chains)
        summary["data_seconds"] = round(time.perf_counter() - started, 1)
        summary["train_seconds"] = round(train_model(args, train, spec), 1)
        print(f"data {summary['data_seconds']} s, SFT {args.steps} steps {summary['train_seconds']} s", flush=True)

    conditions = {
        "full image": held,
        "oracle crop": with_crop(held.parent, "with-crop.jsonl"),
        "oracle crop cut from the resized image": with_crop(held.parent, "with-seen-crop.jsonl", seen_crop(chains)),
    }
    hits = accuracies(conditions, out / "sft", out / "eval-runs")
    summary["accuracy"] = {
        name: {"acc": sum(h) / len(h), "ci95": [round(v, 3) for v in wilson(sum(h), len(h))], "n": len(h)}
        for name, h in hits.items()
    }
    summary["gain_over_full_image"] = {
        name: [round(v, 3) for v in paired_difference(hits["full image"], h)]
        for name, h in hits.items()
        if name != "full image"
    }
    summary["chance"] = 1 / opts.choices
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
