"""A gallery image of predictions: ground truth in green, prediction in red, expression and IoU below."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from groundrl.data.records import read_records

GREEN, RED = (30, 160, 60), (220, 30, 30)


def draw_gallery(
    records_path: Path, details_path: Path, out: Path, limit: int = 12, columns: int = 4, cell: int = 200
) -> Path:
    """Draw up to `limit` records with their scored predictions into one PNG grid."""
    with open(details_path, encoding="utf-8") as f:
        details = {d["id"]: d for d in map(json.loads, f)}
    records = [r for r in read_records(records_path) if r.id in details][:limit]
    rows = max(1, (len(records) + columns - 1) // columns)
    caption = 34
    sheet = Image.new("RGB", (columns * cell, rows * (cell + caption)), "white")
    font = ImageFont.load_default(11)
    for k, record in enumerate(records):
        image = Image.open(record.image_paths(records_path.parent)[record.image_index]).convert("RGB")
        scale = cell / max(image.size)
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))))
        draw = ImageDraw.Draw(image)
        draw.rectangle([v * scale for v in record.boxes[0]], outline=GREEN, width=2)
        d = details[record.id]
        pred = d.get("pred")
        if pred and len(pred) == 4:
            draw.rectangle([v * scale for v in pred], outline=RED, width=2)
        elif pred:
            x, y = pred[0] * scale, pred[1] * scale
            draw.ellipse([x - 4, y - 4, x + 4, y + 4], outline=RED, width=2)
        x0, y0 = (k % columns) * cell, (k // columns) * (cell + caption)
        sheet.paste(image, (x0, y0))
        iou = (
            "parse failure"
            if pred is None
            else f"IoU {d['iou']:.2f}"
            if d.get("iou") is not None
            else f"hit {d['hit']}"
        )
        sheet_draw = ImageDraw.Draw(sheet)
        sheet_draw.text((x0 + 4, y0 + cell + 2), (record.question or "")[:34], fill="black", font=font)
        sheet_draw.text((x0 + 4, y0 + cell + 17), iou, fill=GREEN if d["hit"] else RED, font=font)
    sheet.save(out)
    return out
