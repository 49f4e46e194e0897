"""Records -> TRL datasets, streamed: nothing is decoded before training starts.

The records are read (and validated) once into a one-column Arrow table of JSON lines, written under the
run folder and memory-mapped, so memory stays flat at any size and a resumed run reuses it. Rows are
built per batch by a `datasets` transform: images are decoded then, resized to the model's input size,
and the chat messages and reward columns are made from the record. Shuffling, epochs, `max_steps`,
resuming (the Trainer's own sampler skips the batches already seen) and sharding across processes are
the Trainer's, since the dataset stays an ordinary map-style `datasets.Dataset`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import datasets
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from PIL import Image

from groundrl.boxes.geometry import box_center
from groundrl.config import ConfigError
from groundrl.data.images import image_size, load_image
from groundrl.data.pipeline import Source, read_sources, split_sources
from groundrl.data.records import Record
from groundrl.models.families import Family
from groundrl.models.prompts import ImagePlacementError, build_messages, conversation, count_images, prompt_messages

RECORD_COLUMN = "record"
PLAN_COLUMN = "plan"  # see plan_key
TABLE_VERSION = 2  # bumped when the table's columns change: older cached tables are not read


def target_text(record: Record, family: Family, think: str | None = None) -> str:
    """The answer a family should give for a record, in its own coordinate convention."""
    if record.task == "qa" or (not record.boxes and not record.point):
        body = record.answer or ""
    else:
        width, height = record.image_sizes[record.image_index]
        frame = family.frame(width, height)
        if record.task == "detection":
            body = family.format_detections([frame.from_original(box) for box in record.boxes], record.labels)
        elif record.task == "point":
            point = record.point or box_center(record.boxes[0])
            body = family.format_point(frame.from_original(point))
        else:
            body = family.format_box(frame.from_original(record.boxes[0]))
    return f"<think>{think}</think><answer>{body}</answer>" if think is not None else body


def target_columns(record: Record) -> dict[str, Any]:
    """The reward columns that carry a record's targets, typed per target (see groundrl.rewards): None
    where a record has no such target, so that a reward never guesses. Needs no image."""
    detection = record.task == "detection"
    return {
        "gt_box": record.boxes[0] if record.boxes and not detection else None,
        "gt_boxes": (record.boxes or []) if detection else None,  # [] is "nothing to find"
        "gt_labels": record.labels if detection else None,
        "gt_point": record.point,
        "answer": record.answer,
        "choices": record.choices,
        "task": record.task,
        "image_index": record.image_index,
        "record_id": str(record.id),
    }


def planned_columns(record: Record) -> dict[str, Any]:
    """The reward columns a record will have, known without decoding its image: what the reward-coverage
    check reads before training (a missing size is measured when the image is decoded, so it counts as
    known)."""
    width, height = record.image_sizes[record.image_index] if record.image_sizes else (0, 0)
    return target_columns(record) | {"width": width, "height": height}


def reward_columns(record: Record, family: Family) -> dict[str, Any]:
    """What the rewards read: the targets, the original size of the target's image and the model's frame."""
    columns = planned_columns(record)
    in_w, in_h = family.input_size(columns["width"], columns["height"])
    return columns | {"convention": family.convention, "input_width": in_w, "input_height": in_h}


def processor_family(family: Family, processor: Any) -> Family:
    """The family with the pixel bounds the model's own processor resizes with (tiny models and many
    fine-tuned checkpoints set their own), so that images, answers and rewards share one frame."""
    size = getattr(getattr(processor, "image_processor", None), "size", None) or {}
    low, high = size.get("shortest_edge"), size.get("longest_edge")
    if not (isinstance(low, int) and isinstance(high, int)):
        return family
    return dataclasses.replace(family, min_pixels=low, max_pixels=high)


def model_image(path: str, family: Family) -> Image.Image:
    """An image decoded and resized to the size the processor gives it."""
    image = load_image(path)
    size = family.input_size(*image.size)
    return image if size == image.size else image.resize(size, Image.Resampling.BICUBIC)


# -- the record table ----------------------------------------------------------------------------------------


def _stamp(source: Source) -> list:
    stat = os.stat(source.path)
    return [str(source.path), source.format, str(source.image_root), source.split, stat.st_size, stat.st_mtime_ns]


def plan_key(record: Record) -> str:
    """What decides which rewards apply to a record: its task and which reward columns it fills."""
    filled = "".join("1" if v is not None else "0" for v in planned_columns(record).values())
    return f"{record.task}:{filled}"


def _write_table(sources: list[Source], limit: int | None, path: Path, batch: int = 10_000) -> None:
    """Every accepted record as a JSON line, and its plan key, in an Arrow stream file written in slices,
    then renamed."""
    schema = pa.schema([(RECORD_COLUMN, pa.string()), (PLAN_COLUMN, pa.string())])
    part = path.with_suffix(f".{os.getpid()}.part")  # each process of a multi-GPU run writes its own
    lines: list[str] = []
    plans: list[str] = []
    with pa.OSFile(str(part), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
        for n, record in enumerate(read_sources(sources)):
            if limit is not None and n >= limit:
                break
            lines.append(orjson.dumps(record.to_dict()).decode())  # internal: orjson, 3x json.dumps's speed
            plans.append(plan_key(record))
            if len(lines) == batch:
                writer.write_batch(pa.record_batch([pa.array(lines), pa.array(plans)], schema=schema))
                lines, plans = [], []
        if lines:
            writer.write_batch(pa.record_batch([pa.array(lines), pa.array(plans)], schema=schema))
    part.replace(path)  # atomic; processes that raced wrote the same table


def record_table(sources: list[Source], cache_dir: str | Path, limit: int | None = None) -> datasets.Dataset:
    """The records as a memory-mapped table of JSON lines (and their plan keys), read once and cached under
    `cache_dir`, keyed by each source's path, format, size and modification time.

    Raises:
        InputError: the first bad record, naming its file, line and field.
    """
    stamps = [_stamp(s) for s in sources]
    key = hashlib.sha256(json.dumps([TABLE_VERSION, stamps, limit]).encode()).hexdigest()[:16]
    path = Path(cache_dir) / f"records-{key}.arrow"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_table(sources, limit, path)
    return datasets.Dataset.from_file(str(path))


def iter_records(table: datasets.Dataset, batch: int = 10_000) -> Iterator[Record]:
    """The table's records, read back in slices (for checks that need no image)."""
    for start in range(0, len(table), batch):
        for line in table.data.column(RECORD_COLUMN).slice(start, batch).to_pylist():
            yield Record.from_json(line)


def planned_rows(table: datasets.Dataset) -> Iterator[dict[str, Any]]:
    """`planned_columns` of every record, for the reward-coverage check, without parsing each one: records
    of one plan key share applicability, so one record per key is parsed and stands for all of them."""
    plans = table.data.column(PLAN_COLUMN)
    for entry in pc.value_counts(plans).to_pylist():
        first = pc.index(plans, entry["values"]).as_py()
        row = planned_columns(Record.from_json(table.data.column(RECORD_COLUMN)[first].as_py()))
        for _ in range(entry["counts"]):
            yield row


# -- rows, built per batch ------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class RowBuilder:
    """The `datasets` transform that turns a batch of record lines into SFT or GRPO rows.

    Attributes:
        kind: "sft" (`messages`, `images`) or "grpo" (`prompt`, `images` and the reward columns).
        family: the model's family, with its processor's pixel bounds (see `processor_family`).
        template: the grounding prompt template; think: SFT's reasoning text for records without a chain.
    """

    kind: str
    family: Family
    template: str | None = None
    think: str | None = None

    def __call__(self, batch: dict[str, list[str]]) -> dict[str, list[Any]]:
        rows = [self.row(Record.from_json(line)) for line in batch[RECORD_COLUMN]]
        return {key: [row[key] for row in rows] for key in rows[0]} if rows else {}

    def row(self, record: Record) -> dict[str, Any]:
        try:
            messages = self._messages(record)
        except ImagePlacementError as e:
            raise ImagePlacementError(f"record {record.id!r}: {e}") from None
        # sizes from the headers when the reader had none: only the images shown are decoded
        record.image_sizes = record.image_sizes or [list(image_size(p)) for p in record.images]
        images = [model_image(p, self.family) for p in record.images[: count_images(messages)]]
        if self.kind == "grpo":
            paths = [str(p) for p in record.images[: len(images)]]  # the zoom tool crops the originals
            return {"prompt": messages, "images": images, "image_paths": paths} | reward_columns(record, self.family)
        if messages[-1]["role"] != "assistant":
            answer = target_text(record, self.family, self.think)
            messages = [*messages, {"role": "assistant", "content": [{"type": "text", "text": answer}]}]
        return {"messages": messages, "images": images}

    def _messages(self, record: Record) -> list[dict[str, Any]]:
        if self.kind == "grpo":
            return prompt_messages(record, self.family, self.template)
        if record.messages and any(m["role"] in ("assistant", "gpt") for m in record.messages):
            return conversation(record)
        return build_messages(record, self.family, self.template)


def training_dataset(table: datasets.Dataset, builder: RowBuilder) -> datasets.Dataset:
    """The record table with rows built per batch (the Trainer must keep its one column: see
    `remove_unused_columns=False` in the recipes)."""
    return table.with_transform(builder)


def records_for(cfg: Any, out: Path) -> datasets.Dataset:
    """The record table of a recipe's config (`data`, `format`, `image_root`, `limit`), cached in its
    run folder."""
    if not cfg.data:
        raise ConfigError("data: a file of training records is required")
    table = record_table(split_sources(cfg.data, cfg.format, cfg.image_root), out / ".records", cfg.limit)
    if len(table) == 0:
        raise ConfigError(f"data: {cfg.data} holds no records")
    return table
