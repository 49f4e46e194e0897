"""VLM-R1's jsonl, Qwen's `qwen-vl-finetune` JSON array (EGM's SFT data), and ViGoRL's evaluation / MCTS
jsonl: one object shape.

    {"id": 1, "image": "train2014/x.jpg" | ["a.jpg", "b.jpg"],
     "conversations": [{"from": "human", "value": "<image>Please provide ... the man in red."},
                       {"from": "gpt", "value": "[103.9, 300.0, 238.2, 477.4]"}],
     "accu_reward_method": "iou"}

VLM-R1 writes one object per line; `qwen-vl-finetune` a JSON array of them, without `id` and often with the
`<image>` placeholder after the question. Image paths are relative to the image folder given with the file.

The last gpt turn is the target: a JSON list of `{"bbox_2d", "label"}` objects is open-vocabulary detection
(task `detection`); a box is a referring expression (task `rec`, or `multi_image` for several images); any
other answer is text (task `qa`). ViGoRL's `(x1, y1, x2, y2)` boxes are elements to click (task `point`).

What this shape cannot say (a task other than the inferred one, `image_index`, `choices`) is written as
extra keys of the same names and read back from them, so that nothing is lost in a round trip.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from groundrl.boxes.parse import parse_point
from groundrl.data.formats.answers import OD_REWARDS, detection_answer
from groundrl.data.formats.base import (
    ReadContext,
    WriteContext,
    box_or_answer,
    conversations_to_messages,
    default_turns,
    extras,
    image_list,
    item_id,
    messages_to_conversations,
    written_id,
    written_meta,
)
from groundrl.data.records import Record

_KEYS = ("id", "image", "conversations", "accu_reward_method", "task", "image_index", "choices")


def _read(obj: dict[str, Any], ctx: ReadContext, box_task: str) -> Record:
    image = ctx.get(obj, "image", (str, list))
    if isinstance(image, list) and not all(isinstance(p, str) for p in image):
        raise ctx.error("image", "expected a path or a list of paths", "bad_type")
    images = [ctx.resolve(p) for p in image_list(image)]
    turns = ctx.get(obj, "conversations", list)
    messages = conversations_to_messages(turns, ctx)
    reward_method = ctx.get(obj, "accu_reward_method", str, required=False)
    target = _target(messages, ctx, reward_method)
    task = ctx.get(obj, "task", str, required=False) or _task(target, len(images), box_task)
    if task == "point" and target["boxes"] is None and target["answer"] is not None:
        point = parse_point(target["answer"])
        target |= {"point": point, "answer": None} if point is not None else {}
    record_id, id_meta = item_id(obj, f"{ctx.line}")
    return Record(
        id=record_id,
        images=images,
        image_sizes=ctx.sizes(images),
        task=task,
        messages=messages,
        choices=ctx.get(obj, "choices", list, required=False),
        image_index=ctx.get(obj, "image_index", int, required=False) or 0,
        source=ctx.path,
        reward_method=reward_method,
        meta=id_meta | extras(obj, *_KEYS),
        **target,
    )


def _target(messages: list[dict[str, Any]], ctx: ReadContext, reward_method: str | None) -> dict[str, Any]:
    """boxes / labels / answer from the last gpt turn (nothing when there is none)."""
    last = max((k for k, m in enumerate(messages) if m["role"] == "assistant"), default=None)
    if last is None:
        return {"boxes": None, "labels": None, "answer": None}
    text = messages[last]["content"]
    detection = detection_answer(text, ctx, f"conversations[{last}]", reward_method)
    if detection is not None:
        return {"boxes": detection[0], "labels": detection[1], "answer": None}
    boxes, answer = box_or_answer(text)
    return {"boxes": boxes, "labels": None, "answer": answer}


def _task(target: dict[str, Any], n_images: int, box_task: str) -> str:
    """The task an item's target implies when the item names none."""
    if target["labels"] is not None:
        return "detection"
    if target["boxes"] is None:
        return "qa"
    return "multi_image" if box_task == "rec" and n_images > 1 else box_task


def _inferred_task(record: Record, box_task: str) -> str:
    """The task a reader infers from what `from_record` writes for this record (see `_task`)."""
    if record.labels is not None and (record.boxes or record.reward_method in OD_REWARDS):
        return "detection"
    target = {"labels": None, "boxes": record.boxes or None}
    return _task(target, len(record.images), box_task)


def vlmr1_to_record(obj: dict[str, Any], ctx: ReadContext) -> Record:
    return _read(obj, ctx, box_task="rec")


def vigorl_eval_to_record(obj: dict[str, Any], ctx: ReadContext) -> Record:
    return _read(obj, ctx, box_task="point")


def _write(record: Record, ctx: WriteContext, box_task: str) -> dict[str, Any]:
    images = [ctx.relative(p) for p in record.images]
    out: dict[str, Any] = written_id(record) | {"image": images[0] if len(images) == 1 else images}
    out["conversations"] = messages_to_conversations(record.messages or default_turns(record))
    if record.reward_method:
        out["accu_reward_method"] = record.reward_method
    if record.task != _inferred_task(record, box_task):
        out["task"] = record.task
    if record.image_index:
        out["image_index"] = record.image_index
    if record.choices is not None:
        out["choices"] = record.choices
    return out | written_meta(record)


from_record = partial(_write, box_task="rec")
vigorl_eval_from_record = partial(_write, box_task="point")
