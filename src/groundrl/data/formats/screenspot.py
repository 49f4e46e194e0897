"""ScreenSpot (v1, v2) and ScreenSpot-Pro annotation json: GUI elements to click.

v1 / v2: [{"img_filename": "web_1.png", "bbox": [x, y, w, h], "instruction": "search",
           "data_type": "text" | "icon", "data_source": "ios" | "android" | "macos" | "windows" | "web"}]
Pro:     [{"id": ..., "img_filename": "...", "bbox": [x1, y1, x2, y2], "img_size": [w, h],
           "instruction": "...", "ui_type": "text" | "icon", "platform": "...", "application": "...", "group": "..."}]

An item with `img_size` or `ui_type` is read as Pro (corner boxes); otherwise as v1 / v2 (x, y, w, h).
Each becomes a `point` record: any point inside the element's box is a hit.
"""

from __future__ import annotations

from typing import Any

from groundrl.data.formats.base import ReadContext, WriteContext, extras, item_id, written_id, written_meta
from groundrl.data.records import Record

_CORE = ("id", "img_filename", "bbox", "img_size", "instruction")


def to_record(obj: dict[str, Any], ctx: ReadContext) -> Record:
    images = [ctx.resolve(ctx.get(obj, "img_filename", str))]
    raw = ctx.numbers(ctx.get(obj, "bbox", list), 4, "bbox")
    pro = "img_size" in obj or "ui_type" in obj
    box = raw if pro else [raw[0], raw[1], raw[0] + raw[2], raw[1] + raw[3]]
    if pro and obj.get("img_size") is not None:
        size = ctx.numbers(ctx.get(obj, "img_size", list), 2, "img_size")
        sizes = [[int(size[0]), int(size[1])]]
    else:
        sizes = ctx.sizes(images)
    record_id, id_meta = item_id(obj, ctx.line)
    meta = {"version": "pro" if pro else "v1/v2"} | id_meta | extras(obj, *_CORE)
    return Record(
        id=record_id,
        images=images,
        image_sizes=sizes,
        task="point",
        question=ctx.get(obj, "instruction", str),
        boxes=[box],
        source=ctx.path,
        meta=meta,
    )


def from_record(record: Record, ctx: WriteContext) -> dict[str, Any]:
    meta = dict(written_meta(record))
    pro = meta.pop("version", "pro") == "pro"
    x1, y1, x2, y2 = record.boxes[0]
    out: dict[str, Any] = written_id(record) if pro else {}  # v1 / v2 items have no id
    out |= {"img_filename": ctx.relative(record.images[0]), "instruction": record.question}
    out["bbox"] = [x1, y1, x2, y2] if pro else [x1, y1, x2 - x1, y2 - y1]
    if pro and record.image_sizes:
        out["img_size"] = record.image_sizes[0]
    return out | meta
