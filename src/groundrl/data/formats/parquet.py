"""Parquet for `datasets`: one row per record, nested fields native except `messages` and `meta` (JSON text,
since their shapes vary from row to row). `datasets.load_dataset("parquet", data_files=...)` reads it."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from groundrl import jsonio
from groundrl.data.formats.base import WriteContext
from groundrl.data.records import Record
from groundrl.errors import InputError

SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("images", pa.list_(pa.string())),
        ("image_sizes", pa.list_(pa.list_(pa.int64()))),
        ("task", pa.string()),
        ("question", pa.string()),
        ("messages", pa.string()),
        ("boxes", pa.list_(pa.list_(pa.float64()))),
        ("labels", pa.list_(pa.string())),
        ("point", pa.list_(pa.float64())),
        ("answer", pa.string()),
        ("choices", pa.list_(pa.string())),
        ("image_index", pa.int64()),
        ("source", pa.string()),
        ("reward_method", pa.string()),
        ("meta", pa.string()),
    ]
)
ROWS_PER_GROUP = 10_000


def _row(record: Record, ctx: WriteContext) -> dict:
    return {
        "id": str(record.id),
        "images": [ctx.relative(p) for p in record.images],
        "image_sizes": record.image_sizes,
        "task": record.task,
        "question": record.question,
        "messages": json.dumps(record.messages) if record.messages is not None else None,
        "boxes": record.boxes,
        "labels": record.labels,
        "point": record.point,
        "answer": record.answer,
        "choices": record.choices,
        "image_index": record.image_index,
        "source": record.source,
        "reward_method": record.reward_method,
        "meta": json.dumps(record.meta),
    }


def write_parquet(records: Iterable[Record], ctx: WriteContext) -> int:
    """Write records in row groups (memory stays bounded); returns the count."""
    n, rows = 0, []
    with pq.ParquetWriter(ctx.path, SCHEMA) as writer:
        for record in records:
            rows.append(_row(record, ctx))
            n += 1
            if len(rows) == ROWS_PER_GROUP:
                writer.write_table(pa.Table.from_pylist(rows, schema=SCHEMA))
                rows = []
        if rows or n == 0:
            writer.write_table(pa.Table.from_pylist(rows, schema=SCHEMA))
    return n


def read_parquet(path: Path, image_root: Path) -> Iterator[tuple[int, Record | InputError]]:
    """Yield (row index, record) for each row, streaming by row group."""
    try:
        table_file = pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as e:
        raise InputError(str(path), None, None, f"not a readable Parquet file ({e})", "unreadable") from e
    i = 0
    for batch in table_file.iter_batches():
        for row in batch.to_pylist():
            yield i, _row_record(row, image_root, str(path), i)
            i += 1


def _row_record(row: dict, image_root: Path, path: str, i: int) -> Record | InputError:
    """A row as a record, or the InputError naming the row (a bad row is one item rejected, not a crash)."""
    try:
        row["messages"] = jsonio.loads(row["messages"]) if row["messages"] else None
        row["meta"] = jsonio.loads(row["meta"]) if row["meta"] else {}
        row["images"] = [p if Path(p).is_absolute() else str(image_root / p) for p in row["images"] or []]
        return Record(**row)
    except (ValueError, TypeError, KeyError) as e:  # JSONDecodeError is a ValueError
        return InputError(path, i, None, f"malformed row ({type(e).__name__}: {e})", "malformed", index=True)
