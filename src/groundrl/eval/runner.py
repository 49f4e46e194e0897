"""The evaluation recipe: load a suite, generate answers batch by batch, judge them, append them to a
predictions file that survives any crash, then compute metrics and reports from that file alone.

Resuming: every batch is appended, flushed and fsynced as one unit; a rerun with the same run folder
drops a half-written last line and skips the (split, id) pairs already there. Metrics come from the
predictions file, so an interrupted and resumed run gives exactly the metrics of an uninterrupted one.

Multi-turn (`tools=zoom`): each record's answer is a trajectory of turns with the zoom tool
(eval/multiturn.py), many trajectories sharing each engine call; a record's row is written when all its
samples' trajectories have finished, judged on their final answers by the same scorer.

Identity: the run folder's config.json records the run; a rerun resumes only when its identity (model,
records, every setting that changes a prediction: eval/config.py) is the same, so two runs' predictions
never mix.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

from groundrl.config import to_dict
from groundrl.data.images import load_image
from groundrl.data.records import Record
from groundrl.engines import Engine, Generation, Prompt, build_engine
from groundrl.eval.checks import check_records, check_settings
from groundrl.eval.config import EvalConfig, run_identity
from groundrl.eval.judge import judge
from groundrl.eval.multiturn import Trajectory, run_trajectories, start_trajectory
from groundrl.eval.suites import Split, load_data, load_suite
from groundrl.jsonio import complete_lines
from groundrl.models.families import Family, get_family
from groundrl.models.prompts import count_images, prompt_messages
from groundrl.tools.env import TOOLS_SYSTEM, tool_system_text
from groundrl.tools.zoom import PRESETS, ZoomLimits

log = logging.getLogger(__name__)
PREDICTIONS = "predictions.jsonl"
CONFIG = "config.json"
RUN_FILES = (CONFIG, PREDICTIONS, "metrics.json", "report.md", "report.html")  # what --overwrite deletes


class RunMismatchError(ValueError):
    """The run folder holds another run's predictions (or is no evaluation run folder at all)."""


def load_splits(cfg: EvalConfig) -> list[Split]:
    image_root = Path(cfg.image_root) if cfg.image_root else None
    if cfg.data:
        return load_data(Path(cfg.data), cfg.format, image_root, cfg.limit)
    if not cfg.suite or not cfg.root:
        raise ValueError("give a suite and its root folder (suite=... root=...) or a data file (data=...)")
    return load_suite(cfg.suite, Path(cfg.root), image_root, cfg.limit)


def open_engine(cfg: EvalConfig, reuse_images: bool = False) -> Engine:
    """The engine of `cfg`; runs that show images again (multi-turn, `reuse_images`: tree search) cache them."""
    if cfg.engine == "openai":
        return build_engine(
            "openai", cfg.model, cfg.base_urls, api_key_env=cfg.api_key_env, max_in_flight=cfg.max_in_flight
        )
    if cfg.engine == "vllm" and cfg.tools == "zoom":  # vLLM reserves room for the full image and every crop
        return build_engine("vllm", cfg.model, max_images=cfg.max_images)
    if cfg.engine == "transformers" and (reuse_images or cfg.tools == "zoom"):
        return build_engine(cfg.engine, cfg.model, batch_size=cfg.batch_size, vision_cache_mib=1024)
    return build_engine(cfg.engine, cfg.model, batch_size=cfg.batch_size)


def resolve_family(cfg: EvalConfig) -> Family:
    """The model's family (`family`, or the checkpoint's model type) with the pixel bounds of the
    checkpoint's own processor when there is one, so that the tool, the answers and the judge share the
    frame the model sees."""
    if cfg.family:
        family = get_family(cfg.family)
    elif cfg.engine == "openai":
        raise ValueError("the openai engine cannot read the model's config: set family=qwen2.5-vl (or another)")
    else:
        from transformers import AutoConfig

        try:
            model_type = AutoConfig.from_pretrained(cfg.model).model_type
        except OSError as e:  # transformers' several-line hub message: a missing folder reads as a bad repo id
            raise ValueError(f"model: cannot read the config of {cfg.model!r}; give a checkpoint folder") from e
        family = get_family(model_type)
    # transformers 5 saves a processor as processor_config.json (so every GroundRL checkpoint), older ones
    # and the hubs' checkpoints as preprocessor_config.json
    saved = ("processor_config.json", "preprocessor_config.json")
    if cfg.engine == "openai" or not any((Path(cfg.model) / name).exists() for name in saved):
        return family
    from transformers import AutoProcessor

    from groundrl.train.data import processor_family

    return processor_family(family, AutoProcessor.from_pretrained(cfg.model))


def done_ids(path: Path) -> set[tuple[str, str]]:
    """(split, id) pairs already in the predictions file; a half-written last line is cut off first."""
    return {(row["split"], str(row["id"])) for row in complete_lines(path) if row}


def _prompt(record: Record, family: Family, template: str | None) -> Prompt:
    images = [load_image(p) for p in record.images]
    if record.image_sizes is None:
        record.image_sizes = [list(im.size) for im in images]
    messages = prompt_messages(record, family, template)
    return Prompt(messages, images[: count_images(messages)])  # a chain's later images follow its answer


def prediction_row(
    split: Split, record: Record, outputs, family: Family, aggregate: str, batch_s: float, batch_n: int
) -> dict:
    """One line of predictions.jsonl: everything the metrics and reports need, without the records."""
    verdict = judge(record, [g.text for g in outputs], family, aggregate)
    return {
        "split": split.name,
        "id": record.id,
        "task": record.task,
        "question": record.question or "",
        "images": record.images,
        "image_index": record.image_index,
        "image_sizes": record.image_sizes,
        "gt": record.boxes[0] if record.boxes else record.answer,
        "outputs": [g.text for g in outputs],
        "num_tokens": [g.num_tokens for g in outputs],
        "latency_s": outputs[0].latency_s if outputs else 0.0,
        "batch_s": batch_s,
        "batch_n": batch_n,
        "pred": verdict.pred,
        "iou": verdict.iou,
        "hit": verdict.hit,
        "center_hit": verdict.center_hit,
        "parsed": verdict.parsed,
        "groups": {k: str(record.meta.get(k, "")) for k in split.group_keys},
    }


def _stored_config(out: Path) -> dict | None:
    """The config.json of the run in `out`: None when there is none, or it cannot be read.

    Raises:
        RunMismatchError: a config.json that is not an evaluation's (a model's or a training run's).
    """
    try:
        stored = json.loads((out / CONFIG).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(stored, dict) or "engine" not in stored or "model_type" in stored:
        raise RunMismatchError(
            f"--out: {out} holds a config.json that is not an evaluation run's; choose another folder"
        )
    return stored


def _differences(before: dict, now: dict) -> str:
    """`key: was X, now Y` for every key whose value changed, joined on one line."""
    return "; ".join(f"{key}: was {before[key]!r}, now {now[key]!r}" for key in now if before[key] != now[key])


def claim_run_folder(cfg: EvalConfig, out: Path, overwrite: bool = False) -> None:
    """Make `out` this run's folder and record the run in its config.json: a new folder, the same run's
    (resumed), or, with `overwrite`, another evaluation run's, whose files are deleted first.

    Raises:
        RunMismatchError: `out` is a file, is not an evaluation run folder, or holds predictions of a run with
            another identity (the message names what differs) or of an unknown one, and not `overwrite`.
    """
    if out.exists() and not out.is_dir():
        raise RunMismatchError(f"--out: {out} is a file, not a run folder")
    stored = _stored_config(out)
    config = to_dict(cfg)
    if overwrite:
        for name in RUN_FILES:
            (out / name).unlink(missing_ok=True)
    elif (out / PREDICTIONS).exists():
        if stored is None:
            raise RunMismatchError(
                f"--out: {out} holds predictions of an unknown run (no readable {CONFIG}); --overwrite replaces them"
            )
        differ = _differences(run_identity(stored), run_identity(config))
        if differ:
            raise RunMismatchError(f"--out: {out} holds another run ({differ}); --overwrite replaces it")
    out.mkdir(parents=True, exist_ok=True)
    partial = out / f".{CONFIG}.partial"
    partial.write_text(json.dumps(config, indent=2))
    partial.replace(out / CONFIG)  # a crash never leaves a half-written config.json


def run_eval(
    cfg: EvalConfig,
    out: Path,
    progress: Callable[[int, int], None] | None = None,
    engine: Engine | None = None,
    overwrite: bool = False,
) -> Path:
    """Generate and judge every pending record; returns the predictions file.

    Args:
        cfg: what to evaluate and how.
        out: the run folder (created; resumed when it holds predictions of the same run).
        progress: called with (done, total) after every batch.
        engine: an engine to use instead of the one `cfg` names (tests, or one shared by several runs).
        overwrite: replace another run found in `out` (its predictions and reports are deleted).

    Raises:
        RunMismatchError: `out` holds another run and not `overwrite` (see claim_run_folder).
    """
    check_settings(cfg)
    splits = load_splits(cfg)
    family = resolve_family(cfg)
    claim_run_folder(cfg, out, overwrite)  # after the settings proved usable: --overwrite deletes the old run
    path = out / PREDICTIONS
    done = done_ids(path)
    pending = [(s, r) for s in splits for r in s.records if (s.name, str(r.id)) not in done]
    total = sum(len(s.records) for s in splits)
    if progress:
        progress(total - len(pending), total)
    if not pending:
        return path
    check_records(cfg, splits, pending)
    engine = engine or open_engine(cfg)
    batches = (_zoom_rows if cfg.tools == "zoom" else _single_turn_rows)(cfg, family, engine, pending)
    written = total - len(pending)
    with open(path, "a", encoding="utf-8") as f:
        for rows in batches:
            if rows:
                f.write("".join(json.dumps(row) + "\n" for row in rows))
                f.flush()
                os.fsync(f.fileno())
            written += len(rows)
            if progress:
                progress(written, total)
    return path


def _single_turn_rows(
    cfg: EvalConfig, family: Family, engine: Engine, pending: list[tuple[Split, Record]]
) -> Iterator[list[dict]]:
    """Prediction rows, one engine call per batch of records."""
    sampling = cfg.sampling()
    for start in range(0, len(pending), cfg.batch_size):
        batch = pending[start : start + cfg.batch_size]
        prompts = [_prompt(r, family, cfg.prompt) for _, r in batch]
        started = time.perf_counter()
        generations = engine.generate(prompts, sampling)
        batch_s = time.perf_counter() - started
        yield [
            prediction_row(s, r, g, family, cfg.aggregate, batch_s, len(batch))
            for (s, r), g in zip(batch, generations, strict=True)
        ]


def _zoom_rows(
    cfg: EvalConfig, family: Family, engine: Engine, pending: list[tuple[Split, Record]]
) -> Iterator[list[dict]]:
    """Prediction rows of multi-turn trajectories, `batch_size` in flight, after every round the rows of
    the records whose `samples` trajectories have all finished."""
    preset = PRESETS[cfg.zoom_preset]
    preset = replace(preset, half=cfg.zoom_half or preset.half, size=cfg.zoom_size or preset.size)
    limits = ZoomLimits(cfg.max_images, cfg.max_tool_calls)
    system = tool_system_text(family) if cfg.zoom_system == TOOLS_SYSTEM else cfg.zoom_system

    def started() -> Iterator[Trajectory]:
        for i, (_, record) in enumerate(pending):
            prompt = _prompt(record, family, cfg.prompt)
            for k in range(cfg.samples):
                yield start_trajectory((i, k), prompt, record.image_index, family, preset, limits, system)

    finished: dict[int, list[Trajectory]] = defaultdict(list)
    for done in run_trajectories(engine, started(), cfg.sampling(), cfg.batch_size):
        rows = []
        for trajectory in done:
            i = trajectory.key[0]
            finished[i].append(trajectory)
            if len(finished[i]) == cfg.samples:
                rows.append(_zoom_row(*pending[i], sorted(finished.pop(i), key=lambda t: t.key), family, cfg))
        yield rows


def _zoom_row(split: Split, record: Record, trajectories: list[Trajectory], family: Family, cfg: EvalConfig) -> dict:
    """A record's row: its final answers judged like single-turn outputs, plus the trajectories."""
    outputs = [Generation(t.answer, t.num_tokens, t.latency_s) for t in trajectories]
    row = prediction_row(split, record, outputs, family, cfg.aggregate, sum(t.cost_s for t in trajectories), 1)
    row["trajectories"] = [t.summary() for t in trajectories]
    return row
