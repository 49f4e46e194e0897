"""ViGoRL's RL jsonl and SFT chains.

RL:  {"problem": "<image>Which ...?", "answer": "(x1, y1, x2, y2)" | "B" | ..., "images": ["a.png"]}
SFT: {"messages": [{"role": "user", "content": "<image>..."}, {"role": "assistant", "content": "<think>..."},
      ...], "images": ["a.png"], "gt_answer": "..."}; single- or multi-turn (the model zooms in with a tool).

Boxes are in original pixels; a box answer is an element to point at (task `point`), other answers are text.
"""

from __future__ import annotations

from typing import Any

from groundrl.data.formats.base import (
    ReadContext,
    WriteContext,
    box_or_answer,
    check_messages,
    default_turns,
    extras,
    flat_content,
    item_id,
    point_text,
    written_id,
    written_meta,
)
from groundrl.data.records import Record


def _answer_value(obj: dict[str, Any], name: str, ctx: ReadContext) -> str:
    value = ctx.get(obj, name, (str, list, int, float))
    return value if isinstance(value, str) else str(value)


def _chain_record(
    obj: dict[str, Any], ctx: ReadContext, messages: list, answer_field: str, mapped: tuple[str, ...]
) -> Record:
    images = ctx.images(obj)
    boxes, answer = box_or_answer(_answer_value(obj, answer_field, ctx))
    record_id, id_meta = item_id(obj, ctx.line)
    return Record(
        id=record_id,
        images=images,
        image_sizes=ctx.sizes(images),
        task="qa" if boxes is None else "point",
        messages=messages,
        boxes=boxes,
        answer=answer,
        source=ctx.path,
        meta=id_meta | extras(obj, "id", "images", answer_field, *mapped),
    )


def rl_to_record(obj: dict[str, Any], ctx: ReadContext) -> Record:
    return _chain_record(obj, ctx, [{"role": "user", "content": ctx.get(obj, "problem", str)}], "answer", ("problem",))


def sft_to_record(obj: dict[str, Any], ctx: ReadContext) -> Record:
    return _chain_record(obj, ctx, check_messages(obj.get("messages"), ctx), "gt_answer", ("messages",))


def _answer_text(record: Record) -> str:
    return point_text(record.boxes[0]) if record.boxes else record.answer or ""


def rl_from_record(record: Record, ctx: WriteContext) -> dict[str, Any]:
    user = next(m for m in record.messages or default_turns(record) if m["role"] == "user")
    out = written_id(record) | {"problem": flat_content(user["content"]), "answer": _answer_text(record)}
    return out | {"images": [ctx.relative(p) for p in record.images]} | written_meta(record)


def sft_from_record(record: Record, ctx: WriteContext) -> dict[str, Any]:
    out = written_id(record) | {"messages": record.messages or default_turns(record)}
    return (
        out
        | {"images": [ctx.relative(p) for p in record.images], "gt_answer": _answer_text(record)}
        | written_meta(record)
    )
