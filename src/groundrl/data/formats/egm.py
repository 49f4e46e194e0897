"""EGM's RefCOCO evaluation JSONL and its training form.

Evaluation: {"image": "COCO_train2014_x.jpg", "sent": "the man in red", "bbox": [x1, y1, x2, y2],
             "height": 480, "width": 640}                       (bbox in original pixels)
Training:   {"image": "...", "height": 480, "width": 640,
             "conversations": [{"from": "human", "value": "<image>..."},
                               {"from": "gpt", "value": "...<box>[x1,y1,x2,y2]</box>"}]}
            (the box on the 0-1000 grid; height and width optional, else read from the image)
"""

from __future__ import annotations

import re
from typing import Any

from groundrl.boxes.conventions import frame_for
from groundrl.data.formats.base import (
    ReadContext,
    WriteContext,
    conversations_to_messages,
    extras,
    format_box,
    item_id,
    last_assistant,
    messages_to_conversations,
    to_grid,
    written_id,
    written_meta,
)
from groundrl.data.records import Record

_BOX_TAG = re.compile(r"<box>\s*\[([^\]]*)\]\s*</box>")
_EVAL_KEYS = ("id", "image", "sent", "bbox", "height", "width")


def _size(obj: dict[str, Any], ctx: ReadContext, images: list[str], required: bool) -> list[list[int]] | None:
    width = ctx.get(obj, "width", int, required=False)
    height = ctx.get(obj, "height", int, required=False)
    if width is not None and height is not None:
        return [[width, height]]
    return ctx.sizes(images, required=required)


def eval_to_record(obj: dict[str, Any], ctx: ReadContext) -> Record:
    images = [ctx.resolve(ctx.get(obj, "image", str))]
    box = ctx.numbers(ctx.get(obj, "bbox", list), 4, "bbox")
    record_id, id_meta = item_id(obj, ctx.line)
    return Record(
        id=record_id,
        images=images,
        image_sizes=_size(obj, ctx, images, required=False),
        task="rec",
        question=ctx.get(obj, "sent", str),
        boxes=[box],
        source=ctx.path,
        meta=id_meta | extras(obj, *_EVAL_KEYS),
    )


def train_to_record(obj: dict[str, Any], ctx: ReadContext) -> Record:
    images = [ctx.resolve(ctx.get(obj, "image", str))]
    messages = conversations_to_messages(ctx.get(obj, "conversations", list), ctx)
    match = _BOX_TAG.search(last_assistant(messages) or "")
    if match is None:
        raise ctx.error("conversations", "the gpt turn has no <box>[x1,y1,x2,y2]</box>", "bad_box")
    try:
        grid = ctx.numbers([float(v) for v in match.group(1).split(",")], 4, "conversations")
    except ValueError as e:
        raise ctx.error("conversations", f"<box> holds {match.group(1)!r}, not 4 numbers", "bad_box") from e
    sizes = _size(obj, ctx, images, required=True)
    width, height = sizes[0]
    record_id, id_meta = item_id(obj, ctx.line)
    return Record(
        id=record_id,
        images=images,
        image_sizes=sizes,
        task="rec",
        question=obj.get("sent") if isinstance(obj.get("sent"), str) else None,
        messages=messages,
        boxes=[frame_for("norm1000", width, height).to_original(grid)],
        source=ctx.path,
        meta=id_meta | extras(obj, "id", "image", "conversations", "height", "width", "sent"),
    )


def eval_from_record(record: Record, ctx: WriteContext) -> dict[str, Any]:
    width, height = record.image_sizes[record.image_index] if record.image_sizes else (None, None)
    out = written_id(record) | {"image": ctx.relative(record.images[record.image_index]), "sent": record.question}
    out |= {"bbox": record.boxes[0], "height": height, "width": width}
    return out | written_meta(record)


def train_from_record(record: Record, ctx: WriteContext) -> dict[str, Any]:
    width, height = record.image_sizes[record.image_index]
    grid = format_box(to_grid(record.boxes[0], width, height)).replace(" ", "")
    messages = record.messages or [
        {"role": "user", "content": f"<image>Locate {record.question}, output its bbox coordinates."},
        {"role": "assistant", "content": f"<box>{grid}</box>"},
    ]
    out = written_id(record) | {
        "image": ctx.relative(record.images[record.image_index]),
        "height": height,
        "width": width,
    }
    out["conversations"] = messages_to_conversations(messages)
    if record.question and record.messages:
        out["sent"] = record.question
    return out | written_meta(record)
