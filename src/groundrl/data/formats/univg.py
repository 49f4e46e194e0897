"""UniVG-R1's RL data (`stage2_rl.json`) and ShareGPT / LLaMA-Factory SFT json (UniVG-R1's stage 1).

stage2_rl.json, a JSON array:
    {"question": "<image><image>Find the cup that ...", "answer": [x1, y1, x2, y2], "images": ["a.jpg", "b.jpg"]}
    The answer is on the 0-1000 grid (Qwen2-VL's) of the last image: MIG-Bench's target image comes last.

ShareGPT SFT, a JSON array:
    {"messages": [{"role": "user", "content": "<image>..."}, {"role": "assistant", "content": "<think>..."}],
     "images": ["a.jpg"]}
"""

from __future__ import annotations

from typing import Any

from groundrl.boxes.conventions import frame_for
from groundrl.data.formats.base import (
    ReadContext,
    WriteContext,
    box_or_answer,
    check_messages,
    default_turns,
    extras,
    flat_content,
    item_id,
    last_assistant,
    to_grid,
    written_id,
    written_meta,
)
from groundrl.data.records import Record


def rl_to_record(obj: dict[str, Any], ctx: ReadContext) -> Record:
    images = ctx.images(obj)
    answer = obj.get("answer")
    if isinstance(answer, str):
        boxes, _ = box_or_answer(answer)
        answer = boxes[0] if boxes else answer
    grid = ctx.numbers(answer, 4, "answer")
    sizes = ctx.sizes(images, required=True)
    target = len(images) - 1
    width, height = sizes[target]
    record_id, id_meta = item_id(obj, ctx.line)
    return Record(
        id=record_id,
        images=images,
        image_sizes=sizes,
        task="multi_image" if len(images) > 1 else "rec",
        messages=[{"role": "user", "content": ctx.get(obj, "question", str)}],
        boxes=[frame_for("norm1000", width, height).to_original(grid)],
        image_index=target,
        source=ctx.path,
        meta=id_meta | extras(obj, "id", "question", "answer", "images"),
    )


def sharegpt_to_record(obj: dict[str, Any], ctx: ReadContext) -> Record:
    images = ctx.images(obj)
    messages = check_messages(obj.get("messages"), ctx)
    boxes, answer = box_or_answer(last_assistant(messages))
    record_id, id_meta = item_id(obj, ctx.line)
    return Record(
        id=record_id,
        images=images,
        image_sizes=ctx.sizes(images),
        task="qa" if boxes is None else ("multi_image" if len(images) > 1 else "rec"),
        messages=messages,
        boxes=boxes,
        answer=answer,
        source=ctx.path,
        meta=id_meta | extras(obj, "id", "messages", "images"),
    )


def sharegpt_from_record(record: Record, ctx: WriteContext) -> dict[str, Any]:
    messages = [
        {"role": m["role"], "content": flat_content(m["content"])} for m in record.messages or default_turns(record)
    ]
    images = [ctx.relative(p) for p in record.images]
    return written_id(record) | {"messages": messages, "images": images} | written_meta(record)


def rl_from_record(record: Record, ctx: WriteContext) -> dict[str, Any]:
    width, height = record.image_sizes[record.image_index]
    user = next(m for m in record.messages or default_turns(record) if m["role"] == "user")
    out = written_id(record) | {
        "question": flat_content(user["content"]),
        "answer": to_grid(record.boxes[0], width, height),
    }
    return out | {"images": [ctx.relative(p) for p in record.images]} | written_meta(record)
