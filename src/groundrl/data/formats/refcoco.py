"""RefCOCO, RefCOCO+ and RefCOCOg from their raw annotations: `refs(unc).p` / `refs(umd).p` and COCO
`instances.json` in one folder, converted to one record per referring sentence.

Splits: refcoco and refcoco+ (unc): train, val, testA, testB; refcocog (umd): train, val, test. The 8
evaluation splits are refcoco val/testA/testB, refcoco+ val/testA/testB, refcocog val/test.

The pickle is read by an unpickler that accepts only plain containers, strings and numbers: a pickle that
names any class or function is refused, so a tampered file cannot run code.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from groundrl import jsonio
from groundrl.data.records import Record
from groundrl.errors import InputError

SPLITS = {
    "refcoco": ("train", "val", "testA", "testB"),
    "refcoco+": ("train", "val", "testA", "testB"),
    "refcocog": ("train", "val", "test"),
}
EVAL_SPLITS = tuple((name, split) for name, splits in SPLITS.items() for split in splits if split != "train")


class PlainUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, tuples, strings and numbers; refuses every class and function."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(
            f"refusing {module}.{name}: only plain containers, strings and numbers are allowed"
        )


def load_refs(path: Path) -> list[dict[str, Any]]:
    """The refs pickle as a list of dicts, read safely.

    Raises:
        InputError: unreadable, refused, or not a list of refs.
    """
    try:
        with open(path, "rb") as f:
            refs = PlainUnpickler(f, encoding="latin1").load()
    except (OSError, pickle.UnpicklingError, EOFError, ValueError) as e:
        raise InputError(str(path), None, None, f"cannot read the refs pickle: {e}", "unreadable") from e
    if not isinstance(refs, list):
        raise InputError(str(path), None, None, f"expected a list of refs, got {type(refs).__name__}", "bad_type")
    return refs


def dataset_files(folder: Path) -> tuple[str, Path, Path]:
    """(dataset name, refs pickle, instances.json) of a RefCOCO-family folder."""
    name = folder.name.lower()
    refs = next((folder / n for n in ("refs(unc).p", "refs(umd).p", "refs(google).p") if (folder / n).exists()), None)
    if refs is None:
        raise InputError(str(folder), None, None, "no refs(unc).p or refs(umd).p in this folder", "missing_file")
    if name not in SPLITS:
        name = "refcocog" if "umd" in refs.name else "refcoco"
    return name, refs, folder / "instances.json"


def read_refcoco(folder: Path, image_root: Path, split: str | None = None) -> Iterator[tuple[int, Record | InputError]]:
    """Yield (ref index, record or error) for every sentence of the split (all splits when None)."""
    name, refs_path, instances_path = dataset_files(folder)
    if split is not None and split not in SPLITS[name]:
        raise InputError(
            str(folder), None, "split", f"{name} has splits {', '.join(SPLITS[name])}, not {split!r}", "bad_split"
        )
    try:
        instances = jsonio.loads(instances_path.read_bytes())
        images = {im["id"]: im for im in instances["images"]}
        anns = {ann["id"]: ann for ann in instances["annotations"]}
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise InputError(str(instances_path), None, None, f"not a COCO instances file ({e})", "unreadable") from e
    refs_file = str(refs_path)
    for i, ref in enumerate(load_refs(refs_path)):
        if split is not None and isinstance(ref, dict) and ref.get("split") != split:
            continue
        try:
            yield from ((i, r) for r in _ref_records(ref, name, images, anns, image_root, refs_file, i))
        except InputError as e:
            yield i, e


def _ref_records(ref: Any, name: str, images: dict, anns: dict, root: Path, path: str, i: int) -> Iterator[Record]:
    def error(field: str, message: str, reason: str = "bad_field") -> InputError:
        return InputError(path, i, field, message, reason, index=True)

    if not isinstance(ref, dict):
        raise error("ref", f"expected a dict, got {type(ref).__name__}", "bad_type")
    for key in ("ann_id", "image_id", "split", "sentences"):
        if key not in ref:
            raise error(key, "missing", "missing_field")
    ann, image = anns.get(ref["ann_id"]), images.get(ref["image_id"])
    if ann is None:
        raise error("ann_id", f"annotation {ref['ann_id']} is not in instances.json", "missing_annotation")
    if image is None:
        raise error("image_id", f"image {ref['image_id']} is not in instances.json", "missing_annotation")
    x, y, w, h = ann["bbox"]
    for k, sentence in enumerate(ref["sentences"]):
        if not isinstance(sentence, dict) or not isinstance(sentence.get("sent"), str):
            raise error(f"sentences[{k}]", "expected {'sent': str, ...}", "bad_type")
        yield Record(
            id=f"{name}-{ref['split']}-{sentence.get('sent_id', f'{i}.{k}')}",
            images=[str(root / image["file_name"])],
            image_sizes=[[image["width"], image["height"]]],
            task="rec",
            question=sentence["sent"],
            boxes=[[x, y, x + w, y + h]],
            source=f"{name}/{ref['split']}",
            meta={"ref_id": ref.get("ref_id"), "ann_id": ref["ann_id"], "category_id": ref.get("category_id")},
        )
