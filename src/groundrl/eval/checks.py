"""What keeps an evaluation from starting, found before any model loads: settings that cannot run, and
records that cannot be judged (a missing image, no target box), each named in one line."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from groundrl.data.containers import is_json_array
from groundrl.data.records import Record
from groundrl.errors import InputError
from groundrl.eval.judge import AGGREGATIONS
from groundrl.eval.suites import Split
from groundrl.models.prompts import template_problem
from groundrl.tools.zoom import PRESETS

if TYPE_CHECKING:
    from groundrl.eval.config import EvalConfig

TOOLS = ("none", "zoom")


def _problem(record: Record) -> tuple[str, str, str] | None:
    """(field, message, reason) of what keeps a record from being evaluated, or None."""
    for k, image in enumerate(record.images):
        if not os.path.exists(image):
            return f"images[{k}]", f"image not found: {image}", "missing_image"
    if record.task not in ("qa", "detection") and not record.boxes:
        # a click is judged inside the target element's box; a bare point has no published criterion
        return "boxes", f"a {record.task} record needs its target box to be judged", "missing_target"
    return None


def check_settings(cfg: EvalConfig) -> None:
    """Refuse settings that cannot run, before anything is loaded.

    Raises:
        ValueError: one line naming the setting.
    """
    if cfg.aggregate not in AGGREGATIONS:
        raise ValueError(f"aggregate={cfg.aggregate!r}; expected one of {', '.join(AGGREGATIONS)}")
    if problem := template_problem(cfg.prompt):
        raise ValueError(f"prompt={cfg.prompt!r}: {problem}")
    if cfg.tools not in TOOLS:
        raise ValueError(f"tools={cfg.tools!r}; expected one of {', '.join(TOOLS)}")
    if cfg.tools == "none":
        return
    if cfg.zoom_preset not in PRESETS:
        raise ValueError(f"zoom_preset={cfg.zoom_preset!r}; expected one of {', '.join(PRESETS)}")
    for key in ("zoom_half", "zoom_size"):
        value = getattr(cfg, key)
        if value is not None and value < 1:
            raise ValueError(f"{key}={value}: expected a positive number of pixels")
    if cfg.max_tool_calls < 0 or cfg.max_images < 1:
        raise ValueError(f"max_tool_calls={cfg.max_tool_calls}, max_images={cfg.max_images}: need >= 0 and >= 1")
    if cfg.max_thinking_tokens is not None:
        raise ValueError("max_thinking_tokens bounds one answer; with tools=zoom bound each turn by max_new_tokens")


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
