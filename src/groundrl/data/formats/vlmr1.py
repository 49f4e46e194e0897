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
    flat_content,
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
    inferred, target = _answer(messages, ctx, reward_method, len(images), box_task)
    task = (ctx.get(obj, "task", str) if "task" in obj else None) or inferred  # `in` first: this runs per line
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
        choices=ctx.get(obj, "choices", list) if "choices" in obj else None,
        image_index=(ctx.get(obj, "image_index", int) or 0) if "image_index" in obj else 0,
        source=ctx.path,
        reward_method=reward_method,
        meta=id_meta | extras(obj, *_KEYS),
        **target,
    )


def _answer(
    messages: list[dict[str, Any]], ctx: ReadContext, reward_method: str | None, n_images: int, box_task: str
) -> tuple[str, dict[str, Any]]:
    """The task the last gpt turn implies, and its target: `boxes`, `labels` and `answer`."""
    text, field = _last_answer(messages)
    if text is not None and ("bbox_2d" in text or reward_method in OD_REWARDS):  # the cheap test first
        detection = detection_answer(text, ctx, field, reward_method)
        if detection is not None:
            return "detection", {"boxes": detection[0], "labels": detection[1], "answer": None}
    boxes, answer = box_or_answer(text)
    if boxes is None:
        return "qa", {"boxes": None, "labels": None, "answer": answer}
    task = "multi_image" if box_task == "rec" and n_images > 1 else box_task
    return task, {"boxes": boxes, "labels": None, "answer": None}


def _last_answer(messages: list[dict[str, Any]]) -> tuple[str | None, str]:
    """The text of the last assistant turn (None when there is none) and its source field."""
    for k in range(len(messages) - 1, -1, -1):
        if messages[k]["role"] == "assistant":
            return flat_content(messages[k]["content"]), f"conversations[{k}]"
    return None, "conversations"


def vlmr1_to_record(obj: dict[str, Any], ctx: ReadContext) -> Record:
    return _read(obj, ctx, box_task="rec")


def vigorl_eval_to_record(obj: dict[str, Any], ctx: ReadContext) -> Record:
    return _read(obj, ctx, box_task="point")


def _write(record: Record, ctx: WriteContext, box_task: str) -> dict[str, Any]:
    images = [ctx.relative(p) for p in record.images]
    out: dict[str, Any] = written_id(record) | {"image": images[0] if len(images) == 1 else images}
    messages = record.messages or default_turns(record)
    out["conversations"] = messages_to_conversations(messages)
    if record.reward_method:
        out["accu_reward_method"] = record.reward_method
    reread = ReadContext(str(ctx.path), 0, ctx.image_root)
    inferred, _ = _answer(messages, reread, record.reward_method, len(record.images), box_task)
    if record.task != inferred:  # what a reader of this item would take it for
        out["task"] = record.task
    if record.image_index:
        out["image_index"] = record.image_index
    if record.choices is not None:
        out["choices"] = record.choices
    return out | written_meta(record)


from_record = partial(_write, box_task="rec")
vigorl_eval_from_record = partial(_write, box_task="point")
