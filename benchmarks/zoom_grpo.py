"""Benchmark: does multi-turn GRPO teach a tiny model to call the zoom tool where looking closer pays, and
does its held-out accuracy rise over its SFT start? CPU, about 45 minutes on 2 cores.

    python benchmarks/zoom_grpo.py [--out runs/bench-zoom-grpo] [--grpo-steps 120] [--n-eval 256]

The task (`groundrl synth --task visual_search --ask dot --place centre`): 1,024 px images strewn with
12 px dots of every colour; "What colour is the small dot inside the black ring?", 4 options. The model's
processor budget shrinks the image 8x, to 4 x 4 visual tokens, where the dot is a blended pixel and a half
among others; the zoom tool's crop (+-1 seen px = +-8 original px -> 64 px, 4x the original) shows it
48 px wide, most of the crop. The ring is at the image's centre (within half a dot), so *where* to look is
known: what the policy has to learn is *whether* to look, a decision GRPO can reward, since a trajectory
that looks is judged on the crop.

1. A tiny Qwen3-VL (the demo's shape). SFT chains, GRPO rollouts and evaluation share every prompt token
   (docs/zoom.md, "One prompt for a tool run"): the chains' and evaluation's system turn is the tool's
   schema as TRL renders it in GRPO (`tool_system_text`), and SFT renders with the tool template
   (`tools="zoom"`).
2. SFT on chains (`ChainOptions(look="centre", direct=...)`): a fraction of them call the tool at the
   centre and answer from the crop, the rest answer from the full image at once. The SFT model holds both
   behaviours and, greedily, follows the more frequent one: answering directly.
3. Multi-turn GRPO from it (`tools: zoom`, ViGoRL's 0.6 x accuracy + 0.4 x format, the format's
   tool bonus set to 0 so that calling the tool earns nothing by itself) on fresh prompts, sampled at
   temperature 0.7: at 1.0 the SFT model garbles one call in seven, a garbled call scores 0 and shares its
   opening words with the calls that parse, and the decision to look then earns nothing on average
   (BENCHMARKS.md).
4. Both models on the same held-out questions through `groundrl eval ... tools=zoom`: greedy, and sampled
   at GRPO's temperature (the policy GRPO trained), with how often each trajectory looked and its accuracy
   when it did and when it did not. Wilson 95% intervals; paired differences for the gain.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from groundrl.data.images import load_image
from groundrl.data.records import IMAGE_TOKEN, read_records
from groundrl.eval.metrics import read_predictions
from groundrl.eval.runner import EvalConfig, run_eval
from groundrl.models.families import FAMILIES, Family
from groundrl.models.tiny import make_tiny
from groundrl.rewards import RewardSpec
from groundrl.synth import ChainOptions, VisualSearchOptions, generate
from groundrl.synth.chains import centre_point
from groundrl.tools.env import ZoomOptions, tool_system_text
from groundrl.tools.zoom import CROP_TEXT, ZoomPreset, zoom
from groundrl.train import grpo, sft
from visual_search import FAMILY, SPEC, paired_difference, wilson


def trl_settings(args: argparse.Namespace, **settings: object) -> dict:
    """TRL settings of both stages: no checkpoints (a benchmark), no activation checkpointing (a 1.4 M-parameter
    model: memory is no concern, time is), the seed."""
    return {"save_strategy": "no", "gradient_checkpointing": False, "seed": args.seed, **settings}


def timed(run, cfg) -> float:
    started = time.perf_counter()
    run(cfg)
    return time.perf_counter() - started


def perception_records(folder: Path, family: Family, preset: ZoomPreset) -> Path:
    """Each record of `folder` with the zoom tool's crop at the image's centre appended after the question,
    and the bare answer: the perception a pretrained VLM brings (naming the colour of a dot it sees clearly),
    which a random-initialised tiny model lacks and does not learn from the chains' answer tokens alone
    (BENCHMARKS.md). No system turn and no tool: nothing here says when to zoom."""
    out = folder / "perception.jsonl"
    with open(out, "w", encoding="utf-8") as f:
        for record in read_records(folder / "records.jsonl"):
            width, height = record.image_sizes[0]
            image = load_image(folder / record.images[0])
            crop = zoom(image, centre_point(width, height, family), family, preset).image
            name = f"images/{record.id}-look.png"
            crop.save(folder / name)
            user = f"{IMAGE_TOKEN}{record.question}\n{CROP_TEXT}\n{IMAGE_TOKEN}"
            # the answer as the chains end (the same tokens: " red" after "<answer>", not "red" alone)
            answer = f"<answer> {record.answer} </answer>"
            record.messages = [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]
            record.images, record.question = [record.images[0], name], None
            record.image_sizes = [[width, height], list(crop.size)]
            f.write(record.to_json() + "\n")
    return out


def run_sft(args: argparse.Namespace, model: Path, chains: Path, perception: Path) -> float:
    cfg = sft.SFTRunConfig(
        model=str(model),
        data=f"{chains}:{perception}",
        output_dir=str(args.out / "sft"),
        tools="zoom",  # the tool template, as GRPO's rollouts and evaluation render (docs/zoom.md)
        trl=trl_settings(
            args,
            max_steps=args.sft_steps,
            per_device_train_batch_size=args.sft_batch,
            learning_rate=args.sft_lr,
            lr_scheduler_type="cosine",
            warmup_steps=0.05,
            logging_steps=10,
        ),
    )
    return timed(sft.run_sft, cfg)


def run_grpo(args: argparse.Namespace, prompts: Path) -> float:
    cfg = grpo.GRPORunConfig(
        model=str(args.out / "sft"),
        data=str(prompts),
        output_dir=str(args.out / "grpo"),
        tools="zoom",
        zoom=ZoomOptions(half=args.half, size=args.crop, max_images=3, max_turns=2),
        rewards=[
            RewardSpec("multiturn_accuracy", 0.6),
            RewardSpec("multiturn_format", 0.4, {"bonus": args.bonus}),
        ],
        trl=trl_settings(
            args,
            max_steps=args.grpo_steps,
            per_device_train_batch_size=args.prompts * args.generations,
            num_generations=args.generations,
            learning_rate=args.grpo_lr,
            lr_scheduler_type="constant",
            beta=0.0,
            temperature=args.temperature,
            max_completion_length=384,
            logging_steps=1,
        ),
    )
    return timed(grpo.run_grpo, cfg)


def evaluate(args: argparse.Namespace, model: Path, held: Path, system: str, name: str, sampled: bool) -> list[dict]:
    """One row per held-out record: hit and whether the trajectory looked (for sampled runs, one row per
    record and sample)."""
    cfg = EvalConfig(
        model=str(model),
        data=str(held),
        tools="zoom",
        zoom_half=args.half,
        zoom_size=args.crop,
        max_tool_calls=2,  # as GRPO's zoom.max_turns: after one call the model writes its own last turn
        max_images=3,
        zoom_system=system,
        max_new_tokens=160,
        batch_size=64,
        temperature=args.temperature if sampled else 0.0,
        samples=1,
        seed=args.seed,
    )
    rows = []
    for k in range(args.eval_samples if sampled else 1):
        cfg = dataclasses.replace(cfg, seed=args.seed + k)
        path = run_eval(cfg, args.out / "eval" / f"{name}-{k}", overwrite=True)
        rows += [
            {"id": str(r["id"]), "sample": k, "hit": bool(r["hit"]), "looked": bool(r["trajectories"][0]["looks"])}
            for r in read_predictions(path)
        ]
    return sorted(rows, key=lambda r: (r["id"], r["sample"]))


def summarise(rows: list[dict]) -> dict:
    hits = [r["hit"] for r in rows]
    looked = [r for r in rows if r["looked"]]
    direct = [r for r in rows if not r["looked"]]
    return {
        "acc": round(sum(hits) / len(hits), 3),
        "ci95": [round(v, 3) for v in wilson(sum(hits), len(hits))],
        "n": len(hits),
        "looked": round(len(looked) / len(rows), 3),
        "acc_when_looked": round(statistics.fmean(r["hit"] for r in looked), 3) if looked else None,
        "acc_when_not": round(statistics.fmean(r["hit"] for r in direct), 3) if direct else None,
    }


def gain(before: list[dict], after: list[dict]) -> list[float]:
    """The paired difference in hits (after - before) over the same records and samples, with its 95% interval."""
    assert [(r["id"], r["sample"]) for r in before] == [(r["id"], r["sample"]) for r in after]
    return [round(v, 3) for v in paired_difference([r["hit"] for r in before], [r["hit"] for r in after])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/bench-zoom-grpo"))
    parser.add_argument("--n-sft", type=int, default=4000)
    parser.add_argument("--n-grpo", type=int, default=2000)
    parser.add_argument("--n-eval", type=int, default=256)
    parser.add_argument("--direct", type=float, default=0.6, help="fraction of SFT chains that answer directly")
    parser.add_argument("--sft-steps", type=int, default=300)
    parser.add_argument("--sft-batch", type=int, default=32)
    parser.add_argument("--sft-lr", type=float, default=2e-3)
    parser.add_argument("--grpo-steps", type=int, default=120)
    parser.add_argument("--prompts", type=int, default=4, help="prompts per GRPO step")
    parser.add_argument("--generations", type=int, default=8)
    parser.add_argument("--grpo-lr", type=float, default=1e-4)
    parser.add_argument("--temperature", type=float, default=0.7, help="GRPO's rollouts and the sampled evaluation")
    parser.add_argument("--bonus", type=float, default=0.0, help="format reward per distinct call point (ViGoRL: 0.2)")
    parser.add_argument("--eval-samples", type=int, default=4, help="sampled trajectories per held-out record")
    parser.add_argument("--side", type=int, default=1024)
    parser.add_argument("--budget", type=int, default=128, help="the processor's budget: this side squared")
    parser.add_argument("--half", type=int, default=1, help="crop window half side, in seen pixels")
    parser.add_argument("--crop", type=int, default=64, help="crop side in pixels")
    parser.add_argument("--dot", type=int, default=12, help="dot side in pixels")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on a shared 2-core VM)")
    parser.add_argument("--stage", default="all", choices=["all", "sft", "grpo", "eval"], help="start here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    summary_path = out / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() and args.stage != "all" else {}
    summary |= {
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, python {platform.python_version()}",
        "args": {k: str(v) for k, v in vars(args).items()},
    }

    def save() -> None:
        summary_path.write_text(json.dumps(summary, indent=2))

    opts = VisualSearchOptions(
        min_size=args.side,
        max_size=args.side,
        min_target=args.dot,
        max_target=args.dot,
        min_distractors=150,
        max_distractors=250,
        ask="dot",
        place="centre",
    )
    family = dataclasses.replace(FAMILIES[FAMILY], min_pixels=args.crop**2, max_pixels=args.budget**2)
    folders = {name: out / name for name in ("sft-data", "grpo-data", "held-out")}
    stages = ["all", "sft", "grpo", "eval"]
    start = stages.index(args.stage)
    if start <= 1:
        started = time.perf_counter()
        spec = dataclasses.replace(SPEC, min_pixels=args.crop**2, max_pixels=args.budget**2)
        model = make_tiny(FAMILY, out / "model", spec)
        system = tool_system_text(FAMILIES[FAMILY])
        preset = ZoomPreset(args.half, args.crop)
        chains = ChainOptions(family, preset, system=system, look="centre", direct=args.direct)
        generate("visual_search", args.n_sft, folders["sft-data"], seed=args.seed + 1, opts=opts, chains=chains)
        generate("visual_search", args.n_grpo, folders["grpo-data"], seed=args.seed + 3, opts=opts)
        generate("visual_search", args.n_eval, folders["held-out"], seed=args.seed + 2, opts=opts)
        (out / "system.txt").write_text(system)
        perception = perception_records(folders["sft-data"], family, preset)
        summary["data_seconds"] = round(time.perf_counter() - started, 1)
        summary["sft_seconds"] = round(run_sft(args, model, folders["sft-data"] / "chains.jsonl", perception), 1)
        save()
    system = (out / "system.txt").read_text()
    held = folders["held-out"] / "records.jsonl"
    if start <= 2:
        summary["grpo_seconds"] = round(run_grpo(args, folders["grpo-data"] / "records.jsonl"), 1)
        save()
    for model in ("sft", "grpo"):
        summary[model] = {
            kind: evaluate(args, out / model, held, system, f"{model}-{kind}", kind == "sampled")
            for kind in ("greedy", "sampled")
        }
        save()
    summary["results"] = {
        kind: {
            "sft": summarise(summary["sft"][kind]),
            "grpo": summarise(summary["grpo"][kind]),
            "gain": gain(summary["sft"][kind], summary["grpo"][kind]),
        }
        for kind in ("greedy", "sampled")
    }
    summary["chance"] = 1 / opts.choices
    save()
    print(json.dumps(summary["results"], indent=2))


if __name__ == "__main__":
    main()
