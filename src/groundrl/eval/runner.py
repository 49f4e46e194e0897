"""The evaluation recipe: load a suite, generate answers batch by batch, judge them, append them to a
predictions file that survives any crash, then compute metrics and reports from that file alone.

Resuming: every batch is appended, flushed and fsynced as one unit; a rerun with the same run folder
drops a half-written last line and skips the (split, id) pairs already there. Metrics come from the
predictions file, so an interrupted and resumed run gives exactly the metrics of an uninterrupted one.

Identity: the run folder's config.json records the run; a rerun resumes only when its identity (model,
records, every setting that changes a prediction) is the same, so two runs' predictions never mix.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from groundrl.config import to_dict
from groundrl.data.containers import is_json_array
from groundrl.data.images import load_image
from groundrl.data.records import Record
from groundrl.engines import Engine, Prompt, Sampling, build_engine
from groundrl.errors import InputError
from groundrl.eval.judge import AGGREGATIONS, judge
from groundrl.eval.suites import Split, load_data, load_suite
from groundrl.models.families import Family, get_family
from groundrl.models.prompts import count_images, prompt_messages

log = logging.getLogger(__name__)
PREDICTIONS = "predictions.jsonl"
CONFIG = "config.json"
RUN_FILES = (CONFIG, PREDICTIONS, "metrics.json", "report.md", "report.html")  # what --overwrite deletes
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
        suite: refcoco, screenspot, vstar, mig-bench, lisa-grounding; or None with `data`.
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


def open_engine(cfg: EvalConfig) -> Engine:
    if cfg.engine == "openai":
        return build_engine(
            "openai", cfg.model, cfg.base_urls, api_key_env=cfg.api_key_env, max_in_flight=cfg.max_in_flight
        )
    return build_engine(cfg.engine, cfg.model, batch_size=cfg.batch_size)


def resolve_family(cfg: EvalConfig) -> Family:
    if cfg.family:
        return get_family(cfg.family)
    if cfg.engine == "openai":
        raise ValueError("the openai engine cannot read the model's config: set family=qwen2.5-vl (or another)")
    from transformers import AutoConfig

    try:
        model_type = AutoConfig.from_pretrained(cfg.model).model_type
    except OSError as e:  # transformers' several-line hub message: a missing folder reads as a bad repo id
        raise ValueError(f"model: cannot read the config of {cfg.model!r}; give a checkpoint folder") from e
    return get_family(model_type)


def done_ids(path: Path) -> set[tuple[str, str]]:
    """(split, id) pairs already in the predictions file; a half-written last line is cut off first."""
    if not path.exists():
        return set()
    data = path.read_bytes()
    good = data[: data.rfind(b"\n") + 1]
    if len(good) != len(data):
        log.warning("dropping a half-written last line of %s", path)
        with open(path, "r+b") as f:
            f.truncate(len(good))
    return {(row["split"], str(row["id"])) for row in map(json.loads, good.decode().splitlines()) if row}


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


def _problem(record: Record) -> tuple[str, str, str] | None:
    """(field, message, reason) of what keeps a record from being evaluated, or None."""
    for k, image in enumerate(record.images):
        if not os.path.exists(image):
            return f"images[{k}]", f"image not found: {image}", "missing_image"
    if record.task not in ("qa", "detection") and not record.boxes:
        # a click is judged inside the target element's box; a bare point has no published criterion
        return "boxes", f"a {record.task} record needs its target box to be judged", "missing_target"
    return None


def check_records(cfg: EvalConfig, splits: list[Split], pending: list[tuple[Split, Record]]) -> None:
    """Refuse a run with a record that cannot be evaluated (a missing image, no target box to judge against)
    before any model loads, naming the record's place.

    Raises:
        InputError: `FILE:LINE: field 'images[k]': image not found: PATH` for a data file (its items map one
            to one onto records: a bad item stops the read), or the suite's split and the record's id.
    """
    positions = {id(r): k for s in splits for k, r in enumerate(s.records)}
    for split, record in pending:
        problem = _problem(record)
        if problem is None:
            continue
        field, message, reason = problem
        if not cfg.data:
            raise InputError(f"{cfg.suite} {split.name}, record {record.id!r}", None, field, message, reason)
        data = Path(cfg.data)
        index = cfg.format == "parquet" or is_json_array(data)
        position = positions[id(record)] + (0 if index else 1)
        raise InputError(str(data), position, field, message, reason, index=index)


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
    if cfg.aggregate not in AGGREGATIONS:
        raise ValueError(f"aggregate={cfg.aggregate!r}; expected one of {', '.join(AGGREGATIONS)}")
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
    sampling = cfg.sampling()
    with open(path, "a", encoding="utf-8") as f:
        for start in range(0, len(pending), cfg.batch_size):
            batch = pending[start : start + cfg.batch_size]
            prompts = [_prompt(r, family, cfg.prompt) for _, r in batch]
            started = time.perf_counter()
            generations = engine.generate(prompts, sampling)
            batch_s = time.perf_counter() - started
            lines = [
                json.dumps(prediction_row(s, r, g, family, cfg.aggregate, batch_s, len(batch)))
                for (s, r), g in zip(batch, generations, strict=True)
            ]
            f.write("\n".join(lines) + "\n")
            f.flush()
            os.fsync(f.fileno())
            if progress:
                progress(total - len(pending) + start + len(batch), total)
    return path
