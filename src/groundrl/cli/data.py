"""`groundrl data`: validate, convert and describe grounding data in every published format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from groundrl.cli.common import console, err_console, fail
from groundrl.data.formats import FORMATS, WRITABLE, UnknownFormatError, get_format
from groundrl.data.formats.refcoco import SPLITS, dataset_files
from groundrl.data.images import DEFAULT_MAX_PIXELS
from groundrl.data.pipeline import (
    ReadReport,
    Rejections,
    Source,
    read_sources,
    split_sources,
    validate_sources,
    write_records,
)
from groundrl.data.validate import CheckOptions
from groundrl.errors import InputError

data_app = typer.Typer(help="Validate, convert and describe grounding data.", no_args_is_help=True)

FormatOpt = Annotated[str, typer.Option("--format", "-f", help=f"Input format: {', '.join(FORMATS)}.")]
ImageRootOpt = Annotated[
    str | None, typer.Option(help="Image folder(s), ':'-separated like the files; default: each file's folder.")
]
OnErrorOpt = Annotated[
    str, typer.Option(help="stop: exit 2 at the first bad item; skip: reject it to a sidecar file and go on.")
]
RejectedOpt = Annotated[
    Path | None, typer.Option(help="Sidecar file for rejected items (default: OUT or FILE + .rejected.jsonl).")
]
ImagesOpt = Annotated[bool, typer.Option("--images", help="Also open and decode every image.")]
MaxPixelsOpt = Annotated[int, typer.Option(min=1, help="Refuse larger images (decompression bombs).")]
SplitOpt = Annotated[str | None, typer.Option(help="RefCOCO split (train, val, testA, testB, test); default: all.")]
WorkersOpt = Annotated[int, typer.Option(min=0, help="Processes for JSONL files; 0: one per core.")]


def _sources(files: list[str], fmt: str, image_root: str | None, split: str | None) -> list[Source]:
    try:
        get_format(fmt)
        return split_sources(":".join(files), fmt, image_root, split)
    except (UnknownFormatError, InputError) as e:
        fail(e)


def _print_report(report: ReadReport, rejections: Rejections) -> None:
    console.print(f"{report.total:,} items: {report.accepted:,} accepted, {report.n_rejected:,} rejected")
    for reason, count in report.rejected.most_common():
        console.print(f"  rejected {reason}: {count:,}")
    if report.n_rejected and rejections.path is not None:
        console.print(f"rejected items with their reasons: {rejections.path}")


def _check_on_error(on_error: str) -> None:
    if on_error not in ("stop", "skip"):
        fail(f"--on-error: expected stop or skip, got {on_error!r}")


@data_app.command()
def validate(
    files: Annotated[list[str], typer.Argument(help="Files (or a RefCOCO folder); 'a.jsonl:b.jsonl' like VLM-R1.")],
    fmt: FormatOpt = "groundrl",
    image_root: ImageRootOpt = None,
    images: ImagesOpt = False,
    on_error: OnErrorOpt = "stop",
    rejected: RejectedOpt = None,
    max_pixels: MaxPixelsOpt = DEFAULT_MAX_PIXELS,
    split: SplitOpt = None,
    workers: WorkersOpt = 0,
) -> None:
    """Check every record (and with --images every image). Exit 2 at the first error; with
    --on-error skip, count rejections by reason and exit 1 if there were any."""
    _check_on_error(on_error)
    sources = _sources(files, fmt, image_root, split)
    rejections = Rejections(rejected or Path(f"{sources[0].path}.rejected.jsonl") if on_error == "skip" else None)
    check = CheckOptions(images=images, max_pixels=max_pixels)
    try:
        report = validate_sources(sources, check, on_error, rejections, workers)
    except InputError as e:
        fail(e)
    finally:
        rejections.close()
    _print_report(report, rejections)
    if report.n_rejected:
        raise typer.Exit(1)


@data_app.command()
def convert(
    source: Annotated[str, typer.Argument(help="Input file(s) or RefCOCO folder.")],
    out: Annotated[Path, typer.Argument(help="Output file (a folder for RefCOCO without --split).")],
    from_fmt: Annotated[str, typer.Option("--from", help=f"Input format: {', '.join(FORMATS)}.")],
    to_fmt: Annotated[str, typer.Option("--to", help=f"Output format: {', '.join(WRITABLE)}.")] = "groundrl",
    image_root: ImageRootOpt = None,
    out_image_root: Annotated[
        Path | None, typer.Option(help="Write image paths relative to this folder (default: OUT's folder).")
    ] = None,
    images: ImagesOpt = False,
    on_error: OnErrorOpt = "stop",
    rejected: RejectedOpt = None,
    max_pixels: MaxPixelsOpt = DEFAULT_MAX_PIXELS,
    split: SplitOpt = None,
    workers: WorkersOpt = 0,
) -> None:
    """Convert between formats through the unified record; nothing is dropped without a count."""
    _check_on_error(on_error)
    if to_fmt not in WRITABLE:
        fail(f"--to: cannot write {to_fmt!r}; writable formats: {', '.join(WRITABLE)}")
    sources = _sources([source], from_fmt, image_root, split)
    targets = [(sources, out)]
    if from_fmt == "refcoco" and split is None:
        targets = _refcoco_targets(sources[0], out, to_fmt)
    rejections = Rejections(rejected or Path(f"{out}.rejected.jsonl") if on_error == "skip" else None)
    report = ReadReport()
    check = CheckOptions(images=images, max_pixels=max_pixels)
    try:
        for target_sources, target in targets:
            records = read_sources(target_sources, check, on_error, report, rejections, workers)
            n = write_records(records, to_fmt, target, out_image_root)
            console.print(f"wrote {n:,} records to {target}")
    except InputError as e:
        fail(e)
    finally:
        rejections.close()
    _print_report(report, rejections)


def _refcoco_targets(source: Source, out: Path, to_fmt: str) -> list[tuple[list[Source], Path]]:
    try:
        name, _, _ = dataset_files(source.path)
    except InputError as e:
        fail(e)
    ext = {"parquet": "parquet", "sharegpt": "json"}.get(to_fmt, "jsonl")
    return [([Source(source.path, "refcoco", source.image_root, s)], out / f"{name}_{s}.{ext}") for s in SPLITS[name]]


@data_app.command()
def stats(
    files: Annotated[list[str], typer.Argument(help="Files to describe.")],
    fmt: FormatOpt = "groundrl",
    image_root: ImageRootOpt = None,
    png: Annotated[Path | None, typer.Option(help="Write the distributions as a PNG.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the statistics as one JSON object.")] = False,
    split: SplitOpt = None,
) -> None:
    """Counts by task and source, box size relative to the image, image sizes, expression length."""
    from groundrl.data.stats import collect, plot

    sources = _sources(files, fmt, image_root, split)
    try:
        data_stats = collect(read_sources(sources))
    except InputError as e:
        fail(e)
    summary = data_stats.summary()
    if png:
        plot(data_stats, png, ", ".join(files))
        err_console.print(f"wrote {png}")
    if as_json:
        print(json.dumps(summary))
        return
    table = Table(title=", ".join(files))
    table.add_column("statistic")
    table.add_column("value")
    for key, value in summary.items():
        table.add_row(key, json.dumps(value) if isinstance(value, dict) else str(value))
    console.print(table)


@data_app.command("formats")
def list_formats() -> None:
    """List the formats GroundRL reads and writes."""
    table = Table(title="data formats (docs/data-formats.md)")
    for column in ("format", "reads", "writes", "what"):
        table.add_column(column)
    for f in FORMATS.values():
        table.add_row(f.name, "yes", "yes" if f.name in WRITABLE else "", f.summary)
    console.print(table)
