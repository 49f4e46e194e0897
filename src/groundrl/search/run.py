"""The search recipe: records -> problems -> trees in flight -> one line per tree, resumable.

The run folder holds config.json (the resolved config), trees.jsonl and errors.jsonl. A rerun into the
same folder resumes when its identity (every setting that changes a tree) is the same.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from groundrl.config import to_dict
from groundrl.data.images import ImageProblem, load_image
from groundrl.data.pipeline import read_sources, split_sources
from groundrl.data.records import Record
from groundrl.engines import Engine
from groundrl.eval.runner import open_engine, resolve_family
from groundrl.models.families import Family
from groundrl.search import store
from groundrl.search.config import SearchConfig
from groundrl.search.mcts import Problem, derive_seed
from groundrl.search.prompts import system_prompt
from groundrl.search.scheduler import Failure, Finished, Stats, run_trees
from groundrl.search.steps import Target, judge_for

CONFIG = "config.json"
# what changes how fast trees come, not what they are: not part of a run's identity
SPEED_KEYS = ("base_urls", "api_key_env", "max_in_flight", "trees_in_flight", "batch_size", "limit")


def identity(config: dict[str, Any]) -> dict[str, Any]:
    """What makes two searches one run: every setting but SPEED_KEYS."""
    return {k: v for k, v in config.items() if k not in SPEED_KEYS}


def claim_folder(cfg: SearchConfig, out: Path) -> None:
    """Make `out` this run's folder, or check that it already is.

    Raises:
        ValueError: `out` holds a search run with another identity (naming what differs).
    """
    config = to_dict(cfg)
    stored_path = out / CONFIG
    if stored_path.exists() and (out / store.TREES).exists():
        stored = identity(json.loads(stored_path.read_text()))
        differ = [f"{k}: was {stored.get(k)!r}, now {v!r}" for k, v in identity(config).items() if stored.get(k) != v]
        if differ:
            raise ValueError(f"--out: {out} holds another search ({'; '.join(differ)}); choose another folder")
    out.mkdir(parents=True, exist_ok=True)
    partial = out / f".{CONFIG}.partial"
    partial.write_text(json.dumps(config, indent=2))
    partial.replace(stored_path)


def make_problem(record: Record, family: Family, cfg: SearchConfig) -> Problem:
    """A record as a problem: its target image, judge and ground truth, and the tree's seed and prompt.

    Raises:
        ValueError: no target to judge against, or a task no judge scores.
        ImageProblem: the image cannot be read.
    """
    judge = judge_for(record.task, record.choices, cfg.mcts.judge)
    if judge in ("qa", "choice") and not record.answer:
        raise ValueError(f"judge {judge} needs the record's answer")
    if judge in ("point", "iou") and not record.boxes:
        raise ValueError(f"judge {judge} needs the record's target box")
    image = load_image(record.images[record.image_index])
    width, height = image.size
    box = record.boxes[0] if record.boxes else None
    target = Target(judge, record.answer, record.choices, box, width, height)
    seed = derive_seed(cfg.seed, str(record.id))
    k = random.Random(seed).randint(*cfg.mcts.min_thoughts)
    system = system_prompt(family, width, height, record.task, k)
    question = record.question or record.user_text()
    return Problem(str(record.id), question, image, system, target, family, seed)


def record_fields(record: Record) -> dict[str, Any]:
    """The record's part of a tree line: its image (absolute path), task and ground truth."""
    image = str(Path(record.images[record.image_index]).resolve())
    fields = {"image": image, "task": record.task, "answer": record.answer, "boxes": record.boxes}
    return fields | {"choices": record.choices}


def _problems(records: list[Record], family: Family, cfg: SearchConfig) -> Iterator[Problem | Failure]:
    for record in records:
        try:
            yield make_problem(record, family, cfg)
        except ImageProblem as e:
            yield Failure(str(record.id), e.reason, str(e))
        except ValueError as e:
            yield Failure(str(record.id), "bad_record", str(e))


def check_config(cfg: SearchConfig) -> None:
    """Raises ValueError naming the first setting that cannot work (before anything loads)."""
    if not cfg.model:
        raise ValueError("--model is required")
    if not cfg.data:
        raise ValueError("--data: a file of records to search is required")
    if cfg.trees_in_flight < 1:
        raise ValueError(f"trees_in_flight={cfg.trees_in_flight}: must be at least 1")
    cfg.mcts.check()


def run_search(
    cfg: SearchConfig,
    out: Path,
    engine: Engine | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Stats:
    """Search every record not yet in `out`; returns what the scheduler did.

    Args:
        cfg: what to search and how.
        out: the run folder (created; resumed when it holds the same run).
        engine: an engine to use instead of the one `cfg` names (tests, benchmarks).
        progress: called with (trees done, total) after every tree.

    Raises:
        ValueError: a knob out of range, or `out` holds another run.
    """
    check_config(cfg)
    records = list(read_sources(split_sources(cfg.data, cfg.format, cfg.image_root)))
    records = records[: cfg.limit] if cfg.limit else records
    family = resolve_family(cfg)
    claim_folder(cfg, out)
    done = store.finished_ids(out)
    pending = [r for r in records if str(r.id) not in done]
    total, finished = len(records), len(records) - len(pending)
    if progress:
        progress(finished, total)
    if not pending:
        return Stats()
    by_id = {str(r.id): r for r in pending}
    engine = engine or open_engine(cfg, reuse_images=True)
    with open(out / store.TREES, "a", encoding="utf-8") as trees, open(out / store.ERRORS, "a") as errors:

        def on_done(tree: Finished) -> None:
            nonlocal finished
            store.append_line(trees, store.tree_row(tree, record_fields(by_id[tree.problem.id])))
            finished += 1
            if progress:
                progress(finished, total)

        def on_error(failure: Failure) -> None:
            store.append_line(errors, store.error_row(failure))

        return run_trees(_problems(pending, family, cfg), engine, cfg.mcts, cfg.trees_in_flight, on_done, on_error)
