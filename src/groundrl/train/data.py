"""Records -> TRL datasets: conversational rows with images, plus the columns the rewards read."""

from __future__ import annotations

from typing import Any

from groundrl.data.images import load_image
from groundrl.data.records import Record
from groundrl.models.families import Family
from groundrl.models.prompts import prompt_messages, with_image_parts


def target_text(record: Record, family: Family, think: str | None = None) -> str:
    """The answer a family should give for a record, in its own coordinate convention."""
    if record.task == "qa":
        body = record.answer or ""
    else:
        width, height = record.image_sizes[record.image_index]
        frame = family.frame(width, height)
        if record.task == "point":
            point = record.point or [
                (record.boxes[0][0] + record.boxes[0][2]) / 2,
                (record.boxes[0][1] + record.boxes[0][3]) / 2,
            ]
            body = family.format_point(frame.from_original(point))
        else:
            body = family.format_box(frame.from_original(record.boxes[0]))
    return f"<think>{think}</think><answer>{body}</answer>" if think is not None else body


def reward_columns(record: Record, family: Family) -> dict[str, Any]:
    """What the rewards read: target, sizes and the model's coordinate frame (see groundrl.rewards)."""
    width, height = record.image_sizes[record.image_index]
    in_w, in_h = family.input_size(width, height)
    return {
        "gt": record.boxes[0] if record.boxes else None,
        "width": width,
        "height": height,
        "convention": family.convention,
        "input_width": in_w,
        "input_height": in_h,
        "task": record.task,
        "answer": record.answer,
        "choices": record.choices,
        "record_id": str(record.id),
    }


def _with_sizes(record: Record, images: list) -> Record:
    if record.image_sizes is None:
        record.image_sizes = [list(im.size) for im in images]
    return record


def grpo_rows(records: list[Record], family: Family, template: str | None = None) -> list[dict[str, Any]]:
    """GRPO rows: a conversational prompt (image parts), its images, and the reward columns."""
    rows = []
    for record in records:
        images = [load_image(p) for p in record.images]
        record = _with_sizes(record, images)
        rows.append(
            {"prompt": prompt_messages(record, family, template), "images": images} | reward_columns(record, family)
        )
    return rows


def sft_rows(
    records: list[Record], family: Family, template: str | None = None, think: str | None = None
) -> list[dict[str, Any]]:
    """SFT rows: `messages` (the source's whole chain when it has one, else prompt + target) and images."""
    rows = []
    for record in records:
        images = [load_image(p) for p in record.images]
        record = _with_sizes(record, images)
        if record.messages and any(m["role"] == "assistant" for m in record.messages):
            messages = with_image_parts(record.messages, len(images))
        else:
            messages = [
                *prompt_messages(record, family, template),
                {"role": "assistant", "content": [{"type": "text", "text": target_text(record, family, think)}]},
            ]
        rows.append({"messages": messages, "images": images})
    return rows
