"""Read any supported source into validated records, and write records out, with nothing lost.

Every input item ends up either accepted or rejected: `accepted + rejected == total`, always. With
`on_error="stop"` the first bad item raises its InputError; with "skip" it is written, with its reason, to
a sidecar JSONL file and counted by reason. JSONL sources stream in batches over worker processes, so
memory stays flat on any file size.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from groundrl import jsonio
from groundrl.data.containers import is_json_array, load_json_array
from groundrl.data.formats import FORMATS, WRITABLE, format_hint, get_format
from groundrl.data.formats.base import ReadContext, WriteContext
from groundrl.data.formats.refcoco import read_refcoco
from groundrl.data.records import Record
from groundrl.data.validate import CheckOptions, RecordChecker
from groundrl.errors import InputError
from groundrl.streaming import line_batches, map_in_order

BATCH_LINES = 5_000


@dataclass
class ReadReport:
    """Counts over everything read: total items, accepted, and rejected by reason."""

    total: int = 0
    accepted: int = 0
    rejected: Counter = field(default_factory=Counter)

    @property
    def n_rejected(self) -> int:
        return sum(self.rejected.values())


class Rejections:
    """The sidecar file of rejected items: one JSON line each with where, why, and the raw text."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._file: IO[str] | None = None

    def add(self, error: InputError, raw: str | None) -> None:
        if self.path is None:
            return
        if self._file is None:
            self._file = open(self.path, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()
        row = {
            "file": error.path,
            "line": error.line,
            "field": error.field,
            "reason": error.reason,
            "error": str(error),
        }
        if raw is not None:
            row["raw"] = raw.rstrip("\n")
        self._file.write(json.dumps(row, ensure_ascii=False) + "\n")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


@dataclass(frozen=True)
class Source:
    """One input: a file (or RefCOCO folder), its format, and the folder its image paths are relative to."""

    path: Path
    format: str
    image_root: Path | None = None
    split: str | None = None

    @property
    def root(self) -> Path:
        return self.image_root or (self.path if self.path.is_dir() else self.path.parent)


def split_sources(paths: str, fmt: str, image_roots: str | None = None, split: str | None = None) -> list[Source]:
    """VLM-R1 style `a.jsonl:b.jsonl` with image folders `A:B` (counts must match).

    Raises:
        InputError: when the counts of files and image folders differ.
    """
    files = [p for p in paths.split(":") if p]
    roots = [r for r in image_roots.split(":")] if image_roots else [None] * len(files)
    if len(roots) != len(files):
        raise InputError(
            paths, None, "image_folders", f"{len(files)} files but {len(roots)} image folders", "count_mismatch"
        )
    return [Source(Path(f), fmt, Path(r) if r else None, split) for f, r in zip(files, roots, strict=True)]


def _convert(to_record, obj: dict, ctx: ReadContext) -> Record:
    """`to_record(obj, ctx)`; a malformed item that a converter did not anticipate still becomes a
    one-line InputError naming its place, never a traceback."""
    try:
        return to_record(obj, ctx)
    except InputError:
        raise
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as e:
        raise ctx.error(None, f"malformed item ({type(e).__name__}: {e})", "malformed") from e


def _read_jsonl_batch(
    fmt_name: str, lines: list[bytes], first: int, path: str, root: str, check: CheckOptions, stop: bool, keep: bool
) -> tuple[list[Record] | int, list[tuple[InputError, str]]]:
    """Convert and validate a batch of JSONL lines (runs in worker processes). Returns the records, or
    only their count when not `keep` (validation alone: sending records back would cost more than checking)."""
    to_record = FORMATS[fmt_name].to_record
    checker = RecordChecker(path, check)
    ctx = ReadContext(path, first, Path(root), max_pixels=check.max_pixels)
    records, rejects = [], []
    for line_no, line in enumerate(lines, start=first):
        ctx.line = line_no
        try:
            if not line.strip():
                raise ctx.error(None, "empty line", "blank_line")
            try:
                obj = jsonio.loads(line)  # bytes: orjson needs no decoding first
            except UnicodeDecodeError as e:
                raise ctx.error(None, f"not UTF-8 text ({e.reason} at byte {e.start})", "not_utf8") from e
            except json.JSONDecodeError as e:
                raise ctx.error(None, f"not valid JSON ({e.msg} at column {e.colno})", "not_json") from e
            if not isinstance(obj, dict):
                raise ctx.error(None, f"expected a JSON object, got {type(obj).__name__}", "not_object")
            records.append(checker.check(_convert(to_record, obj, ctx), line_no))
        except InputError as e:
            if line_no == 1:
                e = _with_hint(e, _first_line_hint(fmt_name, line, e))
            rejects.append((e, line.decode("utf-8", "replace")))
            if stop:
                break
    return (records if keep else len(records)), rejects


def _with_hint(error: InputError, hint: str) -> InputError:
    """The error with `hint` appended to its message (the same error when there is no hint)."""
    if not hint:
        return error
    return InputError(error.path, error.line, error.field, f"{error.message}; {hint}", error.reason, error.index)


def _first_line_hint(fmt_name: str, line: bytes, error: InputError) -> str:
    """A hint for a JSONL file whose first line fails: the format its object looks like, or that the file
    is one JSON document spread over lines."""
    if error.reason == "not_json":
        return "the file looks like one JSON document over several lines, not JSONL" if line.strip() == b"{" else ""
    try:
        return format_hint(jsonio.loads(line), fmt_name, array=False)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return ""


def _items_of_json_array(
    source: Source, check: CheckOptions
) -> Iterator[tuple[Record | None, InputError | None, str | None]]:
    path = str(source.path)
    data = load_json_array(source.path)
    to_record = get_format(source.format).to_record
    checker = RecordChecker(path, check, index=True)
    ctx = ReadContext(path, 0, source.root, index=True, max_pixels=check.max_pixels)
    for i, obj in enumerate(data):
        ctx.line = i
        try:
            if not isinstance(obj, dict):
                raise ctx.error(None, f"expected a JSON object, got {type(obj).__name__}", "not_object")
            yield checker.check(_convert(to_record, obj, ctx), i), None, None
        except InputError as e:
            yield (
                None,
                _with_hint(e, format_hint(obj, source.format, array=True) if i == 0 else ""),
                json.dumps(obj, ensure_ascii=False),
            )


def _items_of_iterator(
    pairs: Iterator[tuple[int, Record | InputError]], path: str, check: CheckOptions
) -> Iterator[tuple[Record | None, InputError | None, str | None]]:
    checker = RecordChecker(path, check, index=True)
    for i, item in pairs:
        try:
            if isinstance(item, InputError):
                raise item
            yield checker.check(item, i), None, None
        except InputError as e:
            yield None, e, None


def _items(
    source: Source, check: CheckOptions, stop: bool, workers: int, keep: bool
) -> Iterator[tuple[Record | None, InputError | None, str | None]]:
    fmt = get_format(source.format)
    if not source.path.exists():
        raise InputError(str(source.path), None, None, "no such file or folder", "missing_file")
    if source.path.is_dir() and fmt.container != "refcoco":
        raise InputError(str(source.path), None, None, f"a folder, not a {fmt.name} file", "not_a_file")
    if fmt.container in ("jsonl", "json") and is_json_array(source.path):
        yield from _items_of_json_array(source, check)
    elif fmt.container in ("jsonl", "json"):
        with open(source.path, "rb") as stream:  # workers parse bytes; only rejected lines are decoded
            jobs = (
                (fmt.name, lines, first, str(source.path), str(source.root), check, stop, keep)
                for first, lines in line_batches(stream, BATCH_LINES)
            )
            with contextlib.closing(map_in_order(_read_jsonl_batch, jobs, workers)) as batches:
                for records, rejects in batches:
                    for record in records if keep else itertools.repeat(None, records):
                        yield record, None, None
                    for error, raw in rejects:
                        yield None, error, raw
    elif fmt.container == "parquet":
        from groundrl.data.formats.parquet import read_parquet  # pyarrow loads only when Parquet is used

        yield from _items_of_iterator(read_parquet(source.path, source.root), str(source.path), check)
    else:
        refs = read_refcoco(source.path, source.image_root or source.path, source.split)
        yield from _items_of_iterator(refs, str(source.path), check)


def read_sources(
    sources: Iterable[Source],
    check: CheckOptions | None = None,
    on_error: str = "stop",
    report: ReadReport | None = None,
    rejections: Rejections | None = None,
    workers: int = 1,
) -> Iterator[Record]:
    """Validated records from every source, in order.

    Args:
        sources: files (or folders) with their formats and image roots.
        check: what to check (images, pixel limit); default: records only.
        on_error: "stop" raises the first InputError; "skip" records it and goes on.
        report: filled with total / accepted / rejected-by-reason counts.
        rejections: where skipped items are written.
        workers: processes for JSONL sources (0: one per core). The default, 1, stays in this process:
            worker processes start by importing the caller's main module, which a script must guard.

    Raises:
        InputError: the first bad item (stop), or a source that cannot be read at all.
    """
    yield from _accepted(sources, check, on_error, report, rejections, workers, keep=True)


def validate_sources(
    sources: Iterable[Source],
    check: CheckOptions | None = None,
    on_error: str = "stop",
    rejections: Rejections | None = None,
    workers: int = 1,
) -> ReadReport:
    """Check every item of every source without keeping the records; arguments as `read_sources`."""
    report = ReadReport()
    for _ in _accepted(sources, check, on_error, report, rejections, workers, keep=False):
        pass
    return report


def _accepted(
    sources: Iterable[Source],
    check: CheckOptions | None,
    on_error: str,
    report: ReadReport | None,
    rejections: Rejections | None,
    workers: int,
    keep: bool,
) -> Iterator[Record | None]:
    check = check or CheckOptions()
    report = report if report is not None else ReadReport()
    rejections = rejections or Rejections(None)
    stop = on_error == "stop"
    # Records within a JSONL batch are yielded before that batch's rejections; with "stop" a batch ends
    # at its first error, so nothing after the error is accepted.
    for source in sources:
        before = report.total
        for record, error, raw in _items(source, check, stop, workers or os.cpu_count() or 1, keep):
            report.total += 1
            if error is not None:
                if stop:
                    raise error
                report.rejected[error.reason] += 1
                rejections.add(error, raw)
                continue
            report.accepted += 1
            yield record
        # Validating or training on an empty file is a mistake, never a success (a RefCOCO split may be empty).
        if report.total == before and get_format(source.format).container in ("jsonl", "json"):
            raise InputError(str(source.path), None, None, "holds no records", "empty")


def write_records(records: Iterable[Record], fmt_name: str, out: Path, image_root: Path | None = None) -> int:
    """Write records in a writable format; image paths relative to `image_root` (default: out's folder).

    The file appears under its name only once complete: it is written next to it under a temporary name
    and renamed, so an interrupted or failed conversion leaves no half-written output behind.

    Raises:
        InputError: for a format GroundRL does not write.
    """
    if fmt_name not in WRITABLE:
        raise InputError(
            str(out), None, "to", f"cannot write {fmt_name!r}; writable: {', '.join(WRITABLE)}", "bad_format"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.{os.getpid()}.partial")
    try:
        n = _write(records, fmt_name, partial, (image_root or out.parent).absolute())
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)
    return n


def _write(records: Iterable[Record], fmt_name: str, path: Path, image_root: Path) -> int:
    ctx = WriteContext(path, image_root)
    if fmt_name == "parquet":
        from groundrl.data.formats.parquet import write_parquet

        return write_parquet(records, ctx)
    fmt = get_format(fmt_name)
    is_array = fmt.container == "json"
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        if is_array:
            f.write("[")
        for record in records:
            item = json.dumps(fmt.from_record(record, ctx), ensure_ascii=False)
            if is_array:
                f.write(("\n  " if n == 0 else ",\n  ") + item)
            else:
                f.write(item + "\n")
            n += 1
        if is_array:
            f.write("\n]\n")
    return n
