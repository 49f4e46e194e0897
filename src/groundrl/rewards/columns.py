"""The typed reward columns of a GRPO row, and which rows a reward applies to.

Every GRPO row carries all of these columns (None where they do not apply); TRL hands each reward one list
per column, one value per completion:

| column | type | what |
| --- | --- | --- |
| `gt_box` | [x1, y1, x2, y2] | the target box in original pixels of image `image_index` (point: the element) |
| `gt_boxes` | list of boxes | detection targets (an empty list: nothing to find) |
| `gt_labels` | list of str | detection labels, one per box in `gt_boxes`; None: labels are not judged |
| `gt_point` | [x, y] | a target point, original pixels (point tasks, when the data give one) |
| `answer` | str | the target text or option (qa) |
| `choices` | list of str | the options of a multiple-choice question |
| `width`, `height` | int | original size of image `image_index` |
| `convention` | str | the model's coordinate convention (abs, resized, norm1000, norm1) |
| `input_width`, `input_height` | int | the model-input size of that image (for `resized`) |
| `task` | str | rec, point, qa, detection, multi_image |
| `image_index` | int | the image the target lies on |
| `record_id` | str | the record's id |

Each reward names, with `applies_to`, a predicate of one row (a dict of these columns): the reward returns
None exactly where the predicate is false, so a recipe can ask before training, without a model, how many
records a reward will score.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from groundrl.boxes.conventions import Frame, frame_for
from groundrl.boxes.score import box_task, detection_task, point_task

COLUMNS = (
    "gt_box",
    "gt_boxes",
    "gt_labels",
    "gt_point",
    "answer",
    "choices",
    "width",
    "height",
    "convention",
    "input_width",
    "input_height",
    "task",
    "image_index",
    "record_id",
)

Row = Mapping[str, Any]
F = TypeVar("F", bound=Callable)


def completion_text(completion: Any) -> str:
    """The text of a completion: a string, or TRL's conversational form (a list of messages)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):
        return "".join(
            m.get("content", "") if isinstance(m.get("content"), str) else "" for m in completion if isinstance(m, dict)
        )
    return str(completion)


def rows_of(columns: Mapping[str, Any], n: int) -> list[dict[str, Any]]:
    """The n rows of TRL's per-column lists, as dicts of COLUMNS (a missing column reads None)."""
    lists = {name: columns.get(name) for name in COLUMNS}
    return [{name: (values[k] if values is not None else None) for name, values in lists.items()} for k in range(n)]


def frame_of(row: Row) -> Frame:
    """The model's coordinate frame for a row (convention abs when none is given)."""
    return frame_for(
        row["convention"] or "abs", row["width"], row["height"], row.get("input_width"), row.get("input_height")
    )


def _sized(row: Row) -> bool:
    return row.get("width") is not None and row.get("height") is not None


def box_row(row: Row) -> bool:
    """A single-box task (rec, multi_image; a missing task counts as rec) with `gt_box` and the image size."""
    return box_task(row.get("task")) and row.get("gt_box") is not None and _sized(row)


def point_row(row: Row) -> bool:
    """A point task with the target element's `gt_box` and the image size."""
    return point_task(row.get("task")) and row.get("gt_box") is not None and _sized(row)


def detection_row(row: Row) -> bool:
    """A detection task with `gt_boxes` (possibly empty) and the image size."""
    return detection_task(row.get("task")) and row.get("gt_boxes") is not None and _sized(row)


def answer_row(row: Row) -> bool:
    """A row with a target `answer` (a choice or a text)."""
    return row.get("answer") is not None


def any_row(row: Row) -> bool:
    """Every row: rewards of the completion alone (format, length, repetition)."""
    return True


def applies_to(predicate: Callable[[Row], bool]) -> Callable[[F], F]:
    """Mark a reward with the row predicate that says where it returns a value (`reward.applies`)."""

    def mark(reward: F) -> F:
        reward.applies = predicate  # type: ignore[attr-defined]
        return reward

    return mark


def per_row(
    completions: Sequence[Any], columns: Mapping[str, Any], predicate: Callable[[Row], bool], score: Callable
) -> list:
    """score(text, row) for each completion whose row satisfies `predicate`, else None."""
    rows = rows_of(columns, len(completions))
    return [
        score(completion_text(c), row) if predicate(row) else None for c, row in zip(completions, rows, strict=True)
    ]
