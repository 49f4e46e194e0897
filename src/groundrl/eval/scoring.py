"""Score a JSONL file of predictions against ground truth: the engine behind `groundrl score`.

One line per prediction: `id`, `output`, `gt` ([x1, y1, x2, y2] original pixels; for `detection` a list of
such boxes), `width`, `height`, optional `task` (`box`, `point`, `detection` or `qa`), optional `gt_labels`
(detection: one label per target box), and either `family` or `coords` (with `input_width`/`input_height` for
`resized`). A `qa` line needs only `id`, `output`, `gt` (the target text or option) and optional `choices`.
Every line is judged by the one scorer in `groundrl.boxes.score`, as `groundrl eval` and the rewards are.
The file is streamed: memory stays flat however long it is.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NamedTuple

from groundrl import jsonio
from groundrl.boxes.conventions import CONVENTIONS, ConventionError, Frame, frame_for
from groundrl.boxes.metrics import Tally
from groundrl.boxes.score import (
    Prediction,
    detection_task,
    judge_answer,
    point_task,
    qa_task,
    score_detections,
    score_output,
)
from groundrl.data.images import MAX_IMAGE_SIDE
from groundrl.errors import InputError
from groundrl.models.families import FAMILIES, UnknownFamilyError, get_family
from groundrl.streaming import line_batches, map_in_order

TASKS = ("box", "point", "detection", "qa")
BATCH_LINES = 10_000


@dataclass
class ScoreSummary:
    """Running totals over scored lines: the shared Tally plus the counts only a file has."""

    tally: Tally = field(default_factory=Tally)
    n_point: int = 0
    n_detection: int = 0
    n_qa: int = 0
    skipped: int = 0

    def add(self, task: str, result: Prediction) -> None:
        self.tally.add(result.iou, result.hit, result.center_hit, result.pred is not None)
        self.n_point += point_task(task)
        self.n_detection += detection_task(task)
        self.n_qa += qa_task(task)

    def merge(self, other: ScoreSummary) -> None:
        """Add another summary's counts to this one."""
        self.tally.merge(other.tally)
        self.n_point += other.n_point
        self.n_detection += other.n_detection
        self.n_qa += other.n_qa
        self.skipped += other.skipped

    def as_dict(self) -> dict[str, Any]:
        return self.tally.as_dict() | {
            "n_box": self.tally.n_box,
            "n_point": self.n_point,
            "n_detection": self.n_detection,
            "n_qa": self.n_qa,
            "skipped": self.skipped,
        }


class ScoredLine(NamedTuple):
    id: Any
    task: str
    result: Prediction


_NUMBER_TYPES = (int, float)  # exact types: bool is not a number here


def _number(row: dict, key: str, path: str, line: int, positive: bool = False) -> float:
    value = row.get(key)
    if type(value) not in _NUMBER_TYPES or not math.isfinite(value):
        raise InputError(path, line, key, f"expected a finite number, got {value!r}", "bad_number")
    if positive and not 0 < value <= MAX_IMAGE_SIDE:
        raise InputError(
            path, line, key, f"expected a positive number <= {MAX_IMAGE_SIDE:,}, got {value!r}", "bad_number"
        )
    return float(value)


def _is_box(value: Any) -> bool:
    return type(value) is list and len(value) == 4 and all(type(v) in _NUMBER_TYPES and math.isfinite(v) for v in value)


def _gt_box(row: dict, path: str, line: int) -> list[float]:
    gt = row.get("gt")
    if not _is_box(gt):
        raise InputError(path, line, "gt", f"expected 4 finite numbers [x1, y1, x2, y2], got {gt!r}", "bad_box")
    return gt


def _gt_boxes(row: dict, path: str, line: int) -> tuple[list[list[float]], list[str] | None]:
    gt, labels = row.get("gt"), row.get("gt_labels")
    if type(gt) is not list or not all(_is_box(b) for b in gt):
        raise InputError(path, line, "gt", f"expected a list of boxes [[x1, y1, x2, y2], ...], got {gt!r}", "bad_box")
    if labels is not None and (type(labels) is not list or len(labels) != len(gt)):
        raise InputError(path, line, "gt_labels", f"expected {len(gt)} labels, got {labels!r}", "bad_type")
    return gt, labels


def _gt_answer(row: dict, path: str, line: int) -> tuple[str, list[str] | None]:
    gt, choices = row.get("gt"), row.get("choices")
    if type(gt) is not str:
        raise InputError(path, line, "gt", f"expected the target answer as a string, got {gt!r}", "bad_type")
    if choices is not None and (type(choices) is not list or not all(type(c) is str for c in choices)):
        raise InputError(path, line, "choices", f"expected a list of strings, got {choices!r}", "bad_type")
    return gt, choices


def _frame(row: dict, width: float, height: float, path: str, line: int) -> Frame:
    coords, family_name = row.get("coords"), row.get("family")
    family = None
    if family_name is not None:
        try:
            family = get_family(family_name) if isinstance(family_name, str) else None
        except UnknownFamilyError:
            family = None
        if family is None:
            known = ", ".join(FAMILIES)
            raise InputError(
                path, line, "family", f"unknown family {family_name!r}; expected one of {known}", "bad_convention"
            )
    if coords is None:
        if family is None:
            raise InputError(
                path, line, "coords", "missing coordinate convention: give 'family' or 'coords'", "missing_field"
            )
        coords = family.convention
    if coords not in CONVENTIONS:
        raise InputError(
            path,
            line,
            "coords",
            f"unknown convention {coords!r}; expected one of {', '.join(CONVENTIONS)}",
            "bad_convention",
        )
    input_w, input_h = row.get("input_width"), row.get("input_height")
    if coords == "resized":
        if input_w is None and input_h is None and family is not None:
            try:
                input_w, input_h = family.input_size(int(width), int(height))
            except ValueError as e:  # the family's processor refuses the size (an extreme aspect ratio)
                raise InputError(path, line, "width", f"{family.name} cannot resize this image: {e}", "bad_size") from e
        else:
            input_w = _number(row, "input_width", path, line, positive=True)
            input_h = _number(row, "input_height", path, line, positive=True)
    try:
        return frame_for(coords, width, height, input_w, input_h)
    except ConventionError as e:  # unreachable for the checked inputs above; kept as a one-line error
        raise InputError(path, line, "coords", str(e), "bad_convention") from e


def score_row(row: Any, path: str, line: int) -> ScoredLine:
    """Validate and score one parsed JSON line.

    Raises:
        InputError: naming the file, line and field for any bad input.
    """
    if not isinstance(row, dict):
        raise InputError(path, line, None, f"expected a JSON object, got {type(row).__name__}", "not_object")
    task = row.get("task", "box")
    for key in ("id", "output", "gt") if task == "qa" else ("id", "output", "gt", "width", "height"):
        if key not in row:
            raise InputError(path, line, key, "missing", "missing_field")
    output = row["output"]
    if not isinstance(output, str):
        raise InputError(path, line, "output", f"expected a string, got {type(output).__name__}", "bad_type")
    if task not in TASKS:
        raise InputError(path, line, "task", f"expected one of {', '.join(TASKS)}, got {task!r}", "bad_task")
    if qa_task(task):
        return ScoredLine(row["id"], task, judge_answer(output, *_gt_answer(row, path, line)))
    detection = detection_task(task)
    gt = _gt_boxes(row, path, line) if detection else _gt_box(row, path, line)
    width = _number(row, "width", path, line, positive=True)
    height = _number(row, "height", path, line, positive=True)
    frame = _frame(row, width, height, path, line)
    if detection:
        gts, labels = gt
        return ScoredLine(row["id"], task, score_detections(output, gts, frame, width, height, labels))
    return ScoredLine(row["id"], task, score_output(output, gt, frame, width, height, task))


def iter_scored(lines: Iterable[str], path: str, first_line: int = 1) -> Iterator[ScoredLine | InputError]:
    """Score each non-blank line; yield the InputError instead of raising for bad lines."""
    for line_no, text in enumerate(lines, start=first_line):
        if not text.strip():
            continue
        try:
            row = jsonio.loads(text)
        except json.JSONDecodeError as e:
            yield InputError(path, line_no, None, f"not valid JSON ({e.msg} at column {e.colno})", "not_json")
            continue
        try:
            yield score_row(row, path, line_no)
        except InputError as e:
            yield e


def _json_list(values: list | str | None) -> str:
    if values and type(values[0]) is list:
        return "[" + ", ".join(map(_json_list, values)) + "]"
    if isinstance(values, str):  # a qa answer's option or text
        return json.dumps(values)
    return "null" if values is None else "[" + ", ".join(map(repr, values)) + "]"


def details_line(scored: ScoredLine) -> str:
    """One JSON line for `--details`: id, pred, iou, hit, and f1 for detection (hand-written: json.dumps per
    line is slow)."""
    r = scored.result
    iou = "null" if r.iou is None else repr(r.iou)
    rid = str(scored.id) if type(scored.id) is int else json.dumps(scored.id)
    f1 = "" if r.f1 is None else f', "f1": {r.f1!r}'
    return f'{{"id": {rid}, "pred": {_json_list(r.pred)}, "iou": {iou}, "hit": {"true" if r.hit else "false"}{f1}}}'


@dataclass
class BatchResult:
    summary: ScoreSummary
    details: str
    errors: list[InputError]


def score_batch(lines: list[str], first_line: int, path: str, stop_at_error: bool = False) -> BatchResult:
    """Score a batch of consecutive lines whose first is line `first_line` of `path`."""
    summary, details, errors = ScoreSummary(), [], []
    for item in iter_scored(lines, path, first_line):
        if isinstance(item, InputError):
            errors.append(item)
            if stop_at_error:
                break
            continue
        summary.add(item.task, item.result)
        details.append(details_line(item) + "\n")
    return BatchResult(summary, "".join(details), errors)


def score_jsonl(
    path: str | Path,
    details: IO[str] | None = None,
    skip_bad: bool = False,
    workers: int = 1,
    batch_lines: int = BATCH_LINES,
) -> tuple[ScoreSummary, list[InputError]]:
    """Score a predictions file, streaming, with `workers` processes (0: one per core; 1, the default,
    scores in this process: worker processes import the caller's main module, which a script must guard).

    Args:
        path: the JSONL file.
        details: where to write one JSON line per scored input, in input order.
        skip_bad: count bad lines and go on; otherwise stop at the first.
        workers: processes. Small files always score in this process.
        batch_lines: lines per unit of work.

    Returns:
        The summary and the bad lines (empty unless skip_bad).

    Raises:
        InputError: the first bad line, unless skip_bad.
        OSError, UnicodeDecodeError: the file cannot be read as UTF-8 text.
    """
    path_str = str(path)
    total, bad = ScoreSummary(), []
    with open(path, encoding="utf-8") as stream:
        jobs = ((lines, first, path_str, not skip_bad) for first, lines in line_batches(stream, batch_lines))
        # closed here, at once, when a bad line stops the loop: not later, by the garbage collector
        with contextlib.closing(map_in_order(score_batch, jobs, workers or os.cpu_count() or 1)) as results:
            for result in results:
                if result.errors and not skip_bad:
                    raise result.errors[0]
                total.merge(result.summary)
                bad.extend(result.errors)
                if details is not None:
                    details.write(result.details)
    total.skipped = len(bad)
    if not bad and not total.tally.n:
        raise InputError(path_str, None, None, "no predictions: the file is empty or holds only blank lines", "empty")
    return total, bad
