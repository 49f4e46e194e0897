"""The search's files: one JSONL line per tree (ViGoRL's fields), an errors file, and resuming.

Every line is written whole, flushed and fsynced before the next tree's; a rerun cuts a half-written last
line and skips the ids already in either file, so a killed run loses at most the trees in flight.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

from groundrl.jsonio import complete_lines
from groundrl.models.families import FAMILIES, Family
from groundrl.search.scheduler import Failure, Finished
from groundrl.search.tree import count_nodes

log = logging.getLogger(__name__)
TREES = "trees.jsonl"
ERRORS = "errors.jsonl"


def finished_ids(out: Path) -> set[str]:
    """Ids already searched or failed in a run folder (failures are not retried, as ViGoRL's)."""
    return {str(row["id"]) for name in (TREES, ERRORS) for row in complete_lines(out / name)}


def append_line(f: IO[str], row: dict[str, Any]) -> None:
    """One whole line, on disk before this returns."""
    f.write(json.dumps(row, ensure_ascii=False) + "\n")
    f.flush()
    os.fsync(f.fileno())


def tree_row(done: Finished, record_fields: dict[str, Any]) -> dict[str, Any]:
    """One tree's line: ViGoRL's fields (question, image, answer, system prompt, seconds, id, the nested
    tree) plus what linearising needs without the records (task, target, the family with the pixel bounds
    of the model's processor, image size)."""
    p = done.problem
    return {
        "id": p.id,
        "question": p.question,
        **record_fields,
        "image_size": [p.target.width, p.target.height],
        "family": p.family.name,
        "family_pixels": [p.family.min_pixels, p.family.max_pixels],
        "judge": p.target.judge,
        "system_prompt": p.system,
        "seed": p.seed,
        "seconds": round(done.seconds, 3),
        "calls": done.calls,
        "nodes": count_nodes(done.root) - 1,
        "tree": done.root.to_dict(),
    }


def row_family(row: dict[str, Any]) -> Family:
    """The family of a tree line, with the pixel bounds its search used (the processor's)."""
    family = FAMILIES[row["family"]]
    low, high = row.get("family_pixels") or (family.min_pixels, family.max_pixels)
    return replace(family, min_pixels=low, max_pixels=high)


def error_row(failure: Failure) -> dict[str, Any]:
    return {"id": failure.id, "reason": failure.reason, "message": failure.message}
