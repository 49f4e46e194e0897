"""GroundRL's own format: one unified record per JSONL line, image paths relative to the file's folder."""

from __future__ import annotations

import dataclasses
from typing import Any

from groundrl.data.formats.base import ReadContext, WriteContext, check_messages
from groundrl.data.records import Record

_TYPES: dict[str, tuple[type, ...]] = {
    "id": (str, int),
    "images": (list,),
    "image_sizes": (list,),
    "task": (str,),
    "question": (str,),
    "messages": (list,),
    "boxes": (list,),
    "labels": (list,),
    "point": (list,),
    "answer": (str,),
    "choices": (list,),
    "image_index": (int,),
    "source": (str,),
    "reward_method": (str,),
    "meta": (dict,),
}
assert set(_TYPES) == {f.name for f in dataclasses.fields(Record)}, "every Record field has a JSON type here"
_REQUIRED = ("id", "images")


def to_record(obj: dict[str, Any], ctx: ReadContext) -> Record:
    for name in _REQUIRED:
        if name not in obj:
            raise ctx.error(name, "missing", "missing_field")
    for name, value in obj.items():
        types = _TYPES.get(name)
        if types is None:
            raise ctx.error(name, "unknown field (GroundRL records keep extras under 'meta')", "unknown_field")
        if type(value) not in types and value is not None:  # exact types: true is not an index
            expected = " or ".join(t.__name__ for t in types)
            raise ctx.error(name, f"expected {expected}, got {type(value).__name__}", "bad_type")
    if obj.get("messages") is not None:
        check_messages(obj["messages"], ctx)
    if obj.get("choices") is not None and not all(type(c) is str for c in obj["choices"]):
        raise ctx.error("choices", "expected a list of strings", "bad_type")
    if obj.get("labels") is not None and not all(type(c) is str for c in obj["labels"]):
        raise ctx.error("labels", "expected a list of strings", "bad_type")
    record = Record(**obj)
    if all(type(p) is str for p in record.images):
        record.images = [ctx.resolve(p) for p in record.images]
    return record


def from_record(record: Record, ctx: WriteContext) -> dict[str, Any]:
    out = dataclasses.replace(record, images=[ctx.relative(p) for p in record.images])
    return {
        k: v
        for k, v in dataclasses.asdict(out).items()
        if v not in (None, {}, "") and not (k == "image_index" and v == 0)
    }
