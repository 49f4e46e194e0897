"""Benchmark suites on their published file layouts, read through the data readers into named splits.

Layouts under the suite's root (docs/evaluation.md has the full table):
- refcoco: `{name}_{split}.jsonl` (EGM eval JSONL or records) or the raw `refer` folders; the 8 eval splits.
- screenspot: v2 `screenspot_*_v2.json` + `screenspotv2_image/`, or Pro `annotations/*.json` + `images/`.
- vstar: `test_questions.jsonl`; splits by category.
- mig-bench: `*.json` arrays of {task, images, question, answer}; one split per file.
- lisa-grounding: `{val,test}/*.json` ReasonSeg polygons beside their images.
- sat: `SAT_{val,test}.parquet` (array/SAT) or `data/{val,test}-*.parquet` (array/SAT-v2), images embedded.
- blink: `{Subtask}/val-*.parquet` (BLINK-Benchmark/BLINK), images embedded; one split per subtask.

Parquet suites embed their images (Hugging Face `datasets` image structs); they are written once, as
files, under `image_root` (default `root/_images`), since records name their images by path.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from groundrl.data.formats.refcoco import EVAL_SPLITS
from groundrl.data.pipeline import Source, read_sources
from groundrl.data.records import Record
from groundrl.errors import InputError


@dataclass
class Split:
    """A named list of records; `group_keys` are the record meta fields that metrics break down by."""

    name: str
    records: list[Record]
    group_keys: tuple[str, ...] = ()


def _read(source: Source) -> list[Record]:
    return list(read_sources([source]))


def refcoco(root: Path, image_root: Path | None) -> Iterator[Split]:
    for name, split in EVAL_SPLITS:
        path = root / f"{name}_{split}.jsonl"
        if path.exists():
            first = json.loads(path.open().readline() or "{}")
            fmt = "egm-eval" if "sent" in first else "groundrl"
            yield Split(f"{name}/{split}", _read(Source(path, fmt, image_root or path.parent)))
        elif (root / name).is_dir():
            yield Split(f"{name}/{split}", _read(Source(root / name, "refcoco", image_root or root, split)))


def screenspot(root: Path, image_root: Path | None) -> Iterator[Split]:
    if (root / "annotations").is_dir():  # ScreenSpot-Pro
        files, images = sorted((root / "annotations").glob("*.json")), image_root or root / "images"
    else:
        files = sorted(root.glob("screenspot*.json"))
        default = next(
            (root / d for d in ("screenspotv2_image", "screenspot_imgs", "images") if (root / d).is_dir()), root
        )
        images = image_root or default
    for path in files:
        records = _read(Source(path, "screenspot", images))
        for r in records:  # one vocabulary for v1/v2 and Pro breakdowns
            r.meta["platform"] = r.meta.get("platform") or r.meta.get("data_source", "")
            r.meta["element"] = r.meta.get("ui_type") or r.meta.get("data_type", "")
        yield Split(path.stem, records, ("platform", "element"))


_OPTION_RE = re.compile(r"^\(([A-Z])\)\s*(.+?)\s*$", re.MULTILINE)


def vstar(root: Path, image_root: Path | None) -> Iterator[Split]:
    path = root / "test_questions.jsonl"
    if not path.exists():
        raise InputError(str(path), None, None, "V*Bench needs test_questions.jsonl", "missing_file")
    images = image_root or root
    by_category: dict[str, list[Record]] = {}
    for line_no, line in enumerate(path.read_text().splitlines(), start=1):
        item = json.loads(line)
        for key in ("image", "text", "label"):
            if key not in item:
                raise InputError(str(path), line_no, key, "missing", "missing_field")
        choices = [text for _, text in _OPTION_RE.findall(item["text"])]
        record = Record(
            id=item.get("question_id", line_no),
            images=[str(images / item["image"])],
            task="qa",
            question=item["text"],
            answer=item["label"],
            choices=choices,
            source="vstar",
            meta={"category": item.get("category", "all")},
        )
        by_category.setdefault(record.meta["category"], []).append(record)
    for category, records in sorted(by_category.items()):
        yield Split(category, records)


def mig_bench(root: Path, image_root: Path | None) -> Iterator[Split]:
    for path in sorted(root.glob("*.json")):
        records = _read(Source(path, "univg-rl", image_root or root))
        for r in records:
            r.meta.setdefault("task", path.stem)
        yield Split(path.stem, records, ("task",))


def lisa_grounding(root: Path, image_root: Path | None) -> Iterator[Split]:
    for split in ("val", "test"):
        folder = root / split
        if folder.is_dir():
            yield Split(split, list(_lisa_records(folder, image_root or folder, split)))


def _lisa_records(folder: Path, images: Path, split: str) -> Iterator[Record]:
    for path in sorted(folder.glob("*.json")):
        item = json.loads(path.read_text())
        points = [p for s in item.get("shapes", []) if s.get("label") == "target" for p in s.get("points", [])]
        if not points:
            raise InputError(str(path), None, "shapes", "no 'target' polygon", "missing_field")
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        image = next(
            (images / f"{path.stem}{ext}" for ext in (".jpg", ".png") if (images / f"{path.stem}{ext}").exists()), None
        )
        if image is None:
            raise InputError(str(path), None, "image", f"no {path.stem}.jpg or .png beside it", "missing_image")
        from groundrl.data.images import image_size

        size = list(image_size(image))
        for k, text in enumerate(item.get("text", [])):
            yield Record(
                id=f"{path.stem}-{k}",
                images=[str(image)],
                image_sizes=[size],
                task="rec",
                question=text,
                boxes=[[min(xs), min(ys), max(xs), max(ys)]],
                source=f"lisa/{split}",
                meta={"is_sentence": item.get("is_sentence", False)},
            )


def _image_file(image: object, folder: Path, stem: str, where: tuple[Path, int, str]) -> str:
    """An embedded image (`{"bytes", "path"}`, or bare bytes) as a file `folder/stem.EXT`, written once.

    Raises:
        InputError: naming the parquet file, the row and the column, when the value holds no image.
    """
    data = image.get("bytes") if isinstance(image, dict) else image
    if not isinstance(data, bytes) or not data:
        raise InputError(str(where[0]), where[1], where[2], "no embedded image bytes", "missing_image", index=True)
    from PIL import Image, UnidentifiedImageError

    try:
        ext = (Image.open(io.BytesIO(data)).format or "png").lower()
    except UnidentifiedImageError as e:
        raise InputError(str(where[0]), where[1], where[2], "not an image", "bad_image", index=True) from e
    path = folder / f"{stem}.{ext}"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        partial.write_bytes(data)
        partial.replace(path)  # a crash never leaves half an image under the final name
    return str(path)


def _has_image(value: object) -> bool:
    """A column value that holds an image (absent images are nulls, or structs of nulls)."""
    return bool(value.get("bytes") if isinstance(value, dict) else value)


def _parquet_rows(path: Path, required: tuple[str, ...]) -> list[dict]:
    import pyarrow.parquet as pq

    rows = pq.read_table(path).to_pylist()
    for k, row in enumerate(rows):
        for key in required:
            if row.get(key) is None:
                raise InputError(str(path), k, key, "missing", "missing_field", index=True)
    return rows


def sat(root: Path, image_root: Path | None) -> Iterator[Split]:
    for split in ("val", "test"):
        files = sorted(root.glob(f"SAT_{split}.parquet")) or sorted((root / "data").glob(f"{split}-*.parquet"))
        records = [r for path in files for r in _sat_records(path, split, image_root or root / "_images")]
        if records:
            yield Split(split, records, ("question_type",))


def _sat_records(path: Path, split: str, images: Path) -> Iterator[Record]:
    column = "image_bytes" if "SAT_" in path.name else "images"
    for k, row in enumerate(_parquet_rows(path, (column, "question", "answers", "correct_answer"))):
        rid = f"{split}-{path.stem}-{k}"
        files = [_image_file(im, images / "sat", f"{rid}-{j}", (path, k, column)) for j, im in enumerate(row[column])]
        options = ", or ".join(row["answers"])  # SAT's own prompt (its paper, appendix A.3)
        yield Record(
            id=rid,
            images=files,
            task="qa",
            question=f"{row['question']} Choose between the following options: {options}.",
            answer=row["correct_answer"],
            choices=list(row["answers"]),
            source=f"sat/{split}",
            meta={"question_type": row.get("question_type") or ""},
        )


def blink(root: Path, image_root: Path | None) -> Iterator[Split]:
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))):
        files = sorted(folder.glob("val-*.parquet"))
        records = [r for path in files for r in _blink_records(path, folder.name, image_root or root / "_images")]
        if records:
            yield Split(folder.name, records)


def _blink_records(path: Path, subtask: str, images: Path) -> Iterator[Record]:
    for k, row in enumerate(_parquet_rows(path, ("idx", "prompt", "choices", "answer", "image_1"))):
        rid = str(row["idx"])
        columns = [c for c in ("image_1", "image_2", "image_3", "image_4") if _has_image(row.get(c))]
        files = [_image_file(row[c], images / "blink", f"{rid}-{c}", (path, k, c)) for c in columns]
        yield Record(
            id=rid,
            images=files,
            task="qa",
            question=row["prompt"],  # the question, its lettered options and BLINK's instruction
            answer=row["answer"],  # "(A)"
            choices=list(row["choices"]),
            source=f"blink/{subtask}",
            meta={"sub_task": row.get("sub_task") or subtask},
        )


SUITES: dict[str, Callable[[Path, Path | None], Iterator[Split]]] = {
    "refcoco": refcoco,
    "screenspot": screenspot,
    "vstar": vstar,
    "mig-bench": mig_bench,
    "lisa-grounding": lisa_grounding,
    "sat": sat,
    "blink": blink,
}


def load_suite(name: str, root: Path, image_root: Path | None = None, limit: int | None = None) -> list[Split]:
    """The suite's splits (each cut to `limit` records when given).

    Raises:
        InputError: unknown suite, a layout with no split, or bad data in a split.
    """
    if name not in SUITES:
        raise InputError(name, None, "suite", f"unknown suite; expected one of {', '.join(SUITES)}", "bad_suite")
    splits = [s for s in SUITES[name](root, image_root) if s.records]
    if not splits:
        raise InputError(str(root), None, None, f"no {name} split found here (see docs/evaluation.md)", "missing_file")
    if limit:
        for s in splits:
            s.records = s.records[:limit]
    return splits


def load_data(
    path: Path, fmt: str = "groundrl", image_root: Path | None = None, limit: int | None = None
) -> list[Split]:
    """A single split from any file of records."""
    records = _read(Source(path, fmt, image_root))
    return [Split(path.stem, records[:limit] if limit else records)]
