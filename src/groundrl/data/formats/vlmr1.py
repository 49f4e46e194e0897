"""VLM-R1's jsonl (and ViGoRL's evaluation / MCTS jsonl, which has the same shape).

    {"id": 1, "image": "train2014/x.jpg" | ["a.jpg", "b.jpg"],
     "conversations": [{"from": "human", "value": "<image>Please provide ... the man in red."},
                       {"from": "gpt", "value": "[103.9, 300.0, 238.2, 477.4]"}],
     "accu_reward_method": "iou"}

Image paths are relative to the image folder given with the file. A box answer is a JSON list in original
pixels; any other answer is kept as text. VLM-R1 boxes are referring expressions (task `rec`, or
`multi_image` for several images, target in the first); ViGoRL's `(x1, y1, x2, y2)` boxes are elements
to click (task `point`), and its `click [id]` and choice answers are text (task `qa`).
"""

from __future__ import annotations

from typing import Any

from groundrl.data.formats.base import (
    ReadContext,
    WriteContext,
    box_or_answer,
    conversations_to_messages,
    default_turns,
    extras,
    image_list,
    last_assistant,
    messages_to_conversations,
)
from groundrl.data.records import Record


def _read(obj: dict[str, Any], ctx: ReadContext, box_task: str) -> Record:
    image = ctx.get(obj, "image", (str, list))
    if isinstance(image, list) and not all(isinstance(p, str) for p in image):
        raise ctx.error("image", "expected a path or a list of paths", "bad_type")
    images = [ctx.resolve(p) for p in image_list(image)]
    messages = conversations_to_messages(ctx.get(obj, "conversations", list), ctx)
    boxes, answer = box_or_answer(last_assistant(messages))
    task = "qa" if boxes is None else ("multi_image" if box_task == "rec" and len(images) > 1 else box_task)
    record_id = obj.get("id", f"{ctx.line}")
    meta = extras(obj, "id", "image", "conversations", "accu_reward_method")
    return Record(
        id=record_id,
        images=images,
        image_sizes=ctx.sizes(images),
        task=task,
        messages=messages,
        boxes=boxes,
        answer=answer,
        source=ctx.path,
        reward_method=ctx.get(obj, "accu_reward_method", str, required=False),
        meta=meta,
    )


def vlmr1_to_record(obj: dict[str, Any], ctx: ReadContext) -> Record:
    return _read(obj, ctx, box_task="rec")


def vigorl_eval_to_record(obj: dict[str, Any], ctx: ReadContext) -> Record:
    return _read(obj, ctx, box_task="point")


def from_record(record: Record, ctx: WriteContext) -> dict[str, Any]:
    images = [ctx.relative(p) for p in record.images]
    out: dict[str, Any] = {"id": record.id, "image": images[0] if len(images) == 1 else images}
    out["conversations"] = messages_to_conversations(record.messages or default_turns(record))
    if record.reward_method:
        out["accu_reward_method"] = record.reward_method
    return out
