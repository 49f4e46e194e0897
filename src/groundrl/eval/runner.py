"""The evaluation recipe: load a suite, generate answers batch by batch, judge them, append them to a
predictions file that survives any crash, then compute metrics and reports from that file alone.

Resuming: every batch is appended, flushed and fsynced as one unit; a rerun with the same run folder
drops a half-written last line and skips the (split, id) pairs already there. Metrics come from the
predictions file, so an interrupted and resumed run gives exactly the metrics of an uninterrupted one.

Multi-turn (`tools=zoom`): each record's answer is a trajectory of turns with the zoom tool
(eval/multiturn.py), many trajectories sharing each engine call; a record's row is written when all its
samples' trajectories have finished, judged on their final answers by the same scorer.

Identity: the run folder's config.json records the run; a rerun resumes only when its identity (model,
records, every setting that changes a prediction) is the same, so two runs' predictions never mix.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from groundrl.config import to_dict
from groundrl.data.images import load_image
from groundrl.data.records import Record
from groundrl.engines import Engine, Generation, Prompt, Sampling, build_engine
from groundrl.eval.checks import check_records, check_settings
from groundrl.eval.judge import judge
from groundrl.eval.multiturn import ZOOM_SYSTEM, Trajectory, run_trajectories, start_trajectory
from groundrl.eval.suites import Split, load_data, load_suite
from groundrl.jsonio import complete_lines
from groundrl.models.families import Family, get_family
from groundrl.models.prompts import count_images, prompt_messages
from groundrl.tools.zoom import PRESETS, ZoomLimits

log = logging.getLogger(__name__)
PREDICTIONS = "predictions.jsonl"
CONFIG = "config.json"
RUN_FILES = (CONFIG, PREDICTIONS, "metrics.json", "report.md", "report.html")  # what --overwrite deletes
ZOOM_KEYS = (
    "zoom_preset",
    "zoom_half",
    "zoom_size",
    "max_tool_calls",
    "max_images",
    "zoom_system",
)  # in the identity when tools=zoom
# What makes two evaluations one run: not batch_size, limit (a larger one extends a run), concurrency,
# the servers' addresses or their key, which change how fast predictions come, not what they are.
IDENTITY = (
    "model",
    "engine",
    "suite",
    "root",
    "data",
    "format",
    "image_root",
    "family",
    "prompt",
    "samples",
    "temperature",
    "top_p",
    "max_new_tokens",
    "max_thinking_tokens",
    "seed",
    "aggregate",
    "tools",
    *ZOOM_KEYS,
)
_PATHS = ("root", "data", "image_root")


class RunMismatchError(ValueError):
    """The run folder holds another run's predictions (or is no evaluation run folder at all)."""


@dataclass(frozen=True)
class EvalConfig:
    """`groundrl eval` options; any of them can be set with key=value on the command line.

    Attributes:
        model: a checkpoint folder (transformers, vllm) or a served model name (openai).
        engine: transformers, vllm or openai.
        base_urls: OpenAI-compatible servers, e.g. http://127.0.0.1:8000/v1 (round-robin).
        api_key_env: environment variable holding the servers' API key.
        suite: refcoco, screenspot, vstar, mig-bench, lisa-grounding, sat, blink; or None with `data`.
        root: the suite's folder, in its published layout.
        data: a file of records instead of a suite; format: its format.
        image_root: where the images are, when not where the layout puts them.
        family: model family (prompt and coordinate convention); default: from the model's config.
        prompt: a grounding prompt template with `{expression}`, instead of the family's.
        samples, temperature, top_p, max_new_tokens, max_thinking_tokens, seed: generation.
        aggregate: consensus or wbf, for several box samples.
        batch_size: records per batch (and per fsync of the predictions file).
        limit: records per split (None: all).
        max_in_flight: concurrent requests (openai).
        tools: none (one pass) or zoom (multi-turn with the zoom tool, `batch_size` trajectories per round).
        zoom_preset: the tool's crop, qa (+-182 px -> 672) or web (+-100 px -> 512, red dot).
        zoom_half, zoom_size: the preset's half window (seen pixels) and crop side, when given.
        max_tool_calls: tool calls per trajectory, errors included, before the answer is forced.
        max_images: images per trajectory, the record's own and the crops (ViGoRL: 5).
        zoom_system: the system turn describing the tool ("": none; records with their own keep theirs).
    """

    model: str = ""
    engine: str = "transformers"
    base_urls: list[str] = field(default_factory=list)
    api_key_env: str = "OPENAI_API_KEY"
    suite: str | None = None
    root: str | None = None
    data: str | None = None
    format: str = "groundrl"
    image_root: str | None = None
    family: str | None = None
    prompt: str | None = None
    samples: int = 1
    temperature: float = 0.0
    top_p: float = 1.0
    max_new_tokens: int = 256
    max_thinking_tokens: int | None = None
    seed: int = 0
    aggregate: str = "consensus"
    batch_size: int = 16
    limit: int | None = None
    max_in_flight: int = 64
    tools: str = "none"
    zoom_preset: str = "qa"
    zoom_half: int | None = None
    zoom_size: int | None = None
    max_tool_calls: int = 4
    max_images: int = 5
    zoom_system: str = ZOOM_SYSTEM

    def sampling(self) -> Sampling:
        return Sampling(
            max_new_tokens=self.max_new_tokens,
            temperature=self.temperature,
            top_p=self.top_p,
            n=self.samples,
            max_thinking_tokens=self.max_thinking_tokens,
            seed=self.seed,
        )


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
    if cfg.engine == "openai" or not (Path(cfg.model) / "preprocessor_config.json").exists():
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


def run_identity(config: dict) -> dict:
    """What makes two evaluations the same run, from a config as config.json stores it: the model, the
    records and every setting that changes a prediction (IDENTITY), with paths made absolute.

    >>> run_identity({"model": "served", "engine": "openai", "temperature": 0.7})["temperature"]
    0.7
    """
    defaults = to_dict(EvalConfig())
    identity = {key: config.get(key, defaults[key]) for key in IDENTITY}
    if identity["tools"] == "none":  # the tool's settings change nothing without the tool
        for key in ZOOM_KEYS:
            del identity[key]
    local_model = identity["engine"] != "openai" and Path(identity["model"]).exists()
    for key in [*_PATHS, *(["model"] if local_model else [])]:
        if identity[key]:
            identity[key] = str(Path(identity[key]).resolve())
    return identity


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

    def started() -> Iterator[Trajectory]:
        for i, (_, record) in enumerate(pending):
            prompt = _prompt(record, family, cfg.prompt)
            for k in range(cfg.samples):
                yield start_trajectory((i, k), prompt, record.image_index, family, preset, limits, cfg.zoom_system)

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
