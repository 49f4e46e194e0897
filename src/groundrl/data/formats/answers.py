"""VLM-R1's open-vocabulary detection (OVD) answers: a JSON list of labelled boxes, read and written.

    <answer>```json
    [{"bbox_2d": [10, 12, 30, 40], "label": "cup"}, {"bbox_2d": [50, 8, 70, 30], "label": "plate"}]
    ```</answer>

The list may also stand bare or in the fence alone; `<answer>None</answer>` is "no object" for VLM-R1's
detection rewards. A single `{"bbox_2d": ...}` object (not in a list) is a referring box, read elsewhere.
"""

from __future__ import annotations

import json
import re
from typing import Any

from groundrl import jsonio
from groundrl.boxes.parse import answer_region
from groundrl.data.formats.base import ReadContext

OD_REWARDS = ("map", "od_ap", "od_ap50", "odLength", "weighted_sum")  # VLM-R1's detection reward methods
_FENCE = re.compile(r"```(?:json)?\s*(.*?)\s*```", re.DOTALL)
_SHAPE = 'expected a JSON list of {"bbox_2d": [x1, y1, x2, y2], "label": str}'


def detection_answer(
    text: str, ctx: ReadContext, field: str, reward_method: str | None = None
) -> tuple[list[list[float]], list[str] | None] | None:
    """The boxes and labels of an OVD answer; None when `text` is not one.

    Args:
        text: the answer turn as the source wrote it.
        ctx: where the item comes from, for errors.
        field: the source field that holds `text`, named in errors.
        reward_method: the item's reward method; with a detection method, `None` means no object.

    Returns:
        (boxes, labels): labels is None when no box has a label.

    Raises:
        InputError: a list of `bbox_2d` objects that is not valid JSON, or whose boxes or labels are malformed.

    >>> ctx = ReadContext("f.jsonl", 1, ".")
    >>> detection_answer('[{"bbox_2d": [1, 2, 3, 4], "label": "cup"}]', ctx, "conversations[1]")
    ([[1, 2, 3, 4]], ['cup'])
    """
    if "bbox_2d" not in text:  # the cheap test first: most answers are boxes or text
        if reward_method in OD_REWARDS and answer_region(text).strip().lower() == "none":
            return [], []
        return None
    region = answer_region(text).strip()
    fenced = _FENCE.search(region)
    region = fenced.group(1) if fenced else region
    if not region.startswith("["):
        return None
    try:
        items = jsonio.loads(region)
    except json.JSONDecodeError as e:
        raise ctx.error(field, f"{_SHAPE}; not valid JSON ({e.msg} at column {e.colno})", "bad_box") from e
    if not isinstance(items, list) or not all(isinstance(item, dict) and "bbox_2d" in item for item in items):
        raise ctx.error(field, _SHAPE, "bad_box")
    boxes = [ctx.numbers(item["bbox_2d"], 4, f"{field}[{k}].bbox_2d") for k, item in enumerate(items)]
    return boxes, _labels(items, ctx, field)


def _labels(items: list[dict[str, Any]], ctx: ReadContext, field: str) -> list[str] | None:
    """Every item's label, or None when no item has one (some with and some without is an error)."""
    labels = [item.get("label") for item in items]
    if all(label is None for label in labels):
        return None
    for k, label in enumerate(labels):
        if not isinstance(label, str):
            raise ctx.error(f"{field}[{k}].label", f"expected a string label, got {label!r}", "bad_type")
    return labels
