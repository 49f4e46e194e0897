"""ViGoRL's RL jsonl and SFT chains.

RL:  {"problem": "<image>Which ...?", "answer": "(x1, y1, x2, y2)" | "B" | ..., "images": ["a.png"]}
SFT: {"messages": [{"role": "user", "content": "<image>..."}, {"role": "assistant", "content": "<think>..."},
      ...], "images": ["a.png"], "gt_answer": "..."}; single- or multi-turn (the model zooms in with a tool).

Boxes are in original pixels; a box answer is an element to point at (task `point`), other answers are text.

Multi-turn chains show each crop in a user turn `<observation>\n...<image>\n</observation>`. Read, the
wrapper becomes `<tool_response>...</tool_response>`: the tokens a tool turn renders to in GRPO rollouts and
in `groundrl.tools.zoom.Observation.as_message`, so SFT and GRPO train on one chain format. Written back,
it is ViGoRL's again.
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


_VIGORL_WRAP = ("<observation>", "</observation>")
_TOOL_WRAP = ("<tool_response>", "</tool_response>")


def rewrap_observations(
    messages: list[dict[str, Any]], old: tuple[str, str], new: tuple[str, str]
) -> list[dict[str, Any]]:
    """Messages with every user or tool turn wrapped whole in `old` tags wrapped in `new` instead, the
    inside kept byte for byte.

    >>> rewrap_observations([{"role": "user", "content": "<observation>\\n<image>\\n</observation>"}],
    ...                     _VIGORL_WRAP, _TOOL_WRAP)
    [{'role': 'user', 'content': '<tool_response>\\n<image>\\n</tool_response>'}]
    """
    out = []
    for m in messages:
        content = m.get("content")
        wrapped = isinstance(content, str) and content.startswith(old[0]) and content.endswith(old[1])
        if wrapped and m.get("role") in ("user", "tool"):
            m = m | {"content": new[0] + content[len(old[0]) : len(content) - len(old[1])] + new[1]}
        out.append(m)
    return out


def sft_to_record(obj: dict[str, Any], ctx: ReadContext) -> Record:
    messages = rewrap_observations(check_messages(obj.get("messages"), ctx), _VIGORL_WRAP, _TOOL_WRAP)
    return _chain_record(obj, ctx, messages, "gt_answer", ("messages",))


def _answer_text(record: Record) -> str:
    return point_text(record.boxes[0]) if record.boxes else record.answer or ""


def rl_from_record(record: Record, ctx: WriteContext) -> dict[str, Any]:
    user = next(m for m in record.messages or default_turns(record) if m["role"] == "user")
    out = written_id(record) | {"problem": flat_content(user["content"]), "answer": _answer_text(record)}
    return out | {"images": [ctx.relative(p) for p in record.images]} | written_meta(record)


def sft_from_record(record: Record, ctx: WriteContext) -> dict[str, Any]:
    messages = rewrap_observations(record.messages or default_turns(record), _TOOL_WRAP, _VIGORL_WRAP)
    out = written_id(record) | {"messages": messages}
    return (
        out
        | {"images": [ctx.relative(p) for p in record.images], "gt_answer": _answer_text(record)}
        | written_meta(record)
    )
