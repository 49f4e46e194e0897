"""What every format reader and writer shares: where a record comes from, typed field access with
one-line errors, image sizes from headers, and chat-turn conversions."""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from groundrl.boxes.conventions import frame_for
from groundrl.boxes.parse import parse_box
from groundrl.data.images import DEFAULT_MAX_PIXELS, ImageProblem, image_size
from groundrl.data.records import IMAGE_TOKEN, Record
from groundrl.errors import InputError

ROLE_FROM_SHAREGPT = {"human": "user", "gpt": "assistant", "system": "system"}
ROLE_TO_SHAREGPT = {v: k for k, v in ROLE_FROM_SHAREGPT.items()}
GENERATED_ID = "id_generated"  # meta key: the source item had no id, so writers leave the made-up one out
REC_PROMPT = "Please provide the bounding box coordinate of the region this sentence describes: {expression}."


@dataclass
class ReadContext:
    """Where the item being read comes from.

    Attributes:
        path: the source file; line: its 1-based line, or 0-based index when `index` is True.
        image_root: folder that the item's image paths are relative to.
    """

    path: str
    line: int
    image_root: Path
    index: bool = False
    max_pixels: int = DEFAULT_MAX_PIXELS

    def error(self, field: str | None, message: str, reason: str = "bad_field") -> InputError:
        return InputError(self.path, self.line, field, message, reason, index=self.index)

    def get(self, obj: dict, name: str, types: type | tuple[type, ...], required: bool = True) -> Any:
        """obj[name], checked against `types`; None when absent and not required."""
        if name not in obj or obj[name] is None:
            if required:
                raise self.error(name, "missing", "missing_field")
            return None
        value = obj[name]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in _as_tuple(types)):
            names = "/".join(t.__name__ for t in _as_tuple(types))
            raise self.error(name, f"expected {names}, got {type(value).__name__}", "bad_type")
        return value

    def numbers(self, value: Any, n: int, field: str) -> list[float]:
        """`value` as a list of n finite numbers, or a bad_box error naming `field`."""
        if not (isinstance(value, list) and len(value) == n and all(_finite(v) for v in value)):
            raise self.error(field, f"expected {n} finite numbers, got {value!r}", "bad_box")
        return [float(v) if isinstance(v, float) else v for v in value]

    def __post_init__(self) -> None:
        root = str(self.image_root)
        self._prefix = root if root.endswith(os.sep) else root + os.sep

    def images(self, obj: dict, name: str = "images") -> list[str]:
        """obj[name] as a non-empty list of paths, resolved against the image root."""
        images = self.get(obj, name, list)
        if not images or not all(isinstance(p, str) for p in images):
            raise self.error(name, "expected a non-empty list of paths", "bad_type")
        return [self.resolve(p) for p in images]

    def resolve(self, image: str) -> str:
        """An image path of the source, resolved against the image root (string joins: this runs per record)."""
        return image if image.startswith(os.sep) else self._prefix + image

    def sizes(self, images: list[str], required: bool = False) -> list[list[int]] | None:
        """Image sizes from the files' headers; None when one cannot be read and they are not required.

        Raises:
            InputError: when `required` (the ground truth must be converted with them) and an image fails.
        """
        sizes = []
        for k, image in enumerate(images):
            try:
                sizes.append(list(image_size(image, self.max_pixels)))
            except ImageProblem as e:
                if required:
                    raise self.error(f"images[{k}]", f"{e} (needed to convert coordinates)", e.reason) from e
                return None
        return sizes


@dataclass
class WriteContext:
    """Where records are written: image paths become relative to `image_root`."""

    path: Path
    image_root: Path

    def relative(self, image: str) -> str:
        try:
            return os.path.relpath(image, self.image_root)
        except ValueError:  # another drive on Windows
            return image


def _as_tuple(types: type | tuple[type, ...]) -> tuple[type, ...]:
    return types if isinstance(types, tuple) else (types,)


def _finite(v: Any) -> bool:
    return type(v) in (int, float) and math.isfinite(v)


def extras(obj: dict[str, Any], *known: str) -> dict[str, Any]:
    """The item's keys a format does not map, kept in the record's meta (and written back from it)."""
    return {k: v for k, v in obj.items() if k not in known}


def item_id(obj: dict[str, Any], fallback: str | int) -> tuple[str | int, dict[str, Any]]:
    """The item's `id`, or `fallback` (its position) with the meta that marks it as made up.

    Returns:
        (id, meta): meta is {GENERATED_ID: True} when the item had no id, else empty.
    """
    if obj.get("id") is not None:
        return obj["id"], {}
    return fallback, {GENERATED_ID: True}


def written_id(record: Record) -> dict[str, Any]:
    """`{"id": ...}` for a writer, or nothing when a reader made the id up (the source had none)."""
    return {} if record.meta.get(GENERATED_ID) else {"id": record.id}


def written_meta(record: Record) -> dict[str, Any]:
    """The record's meta as a writer puts it back into an item: GroundRL's own marks left out."""
    return {k: v for k, v in record.meta.items() if k != GENERATED_ID} if GENERATED_ID in record.meta else record.meta


def image_list(value: str | list[str]) -> list[str]:
    """VLM-R1 style `image`: one path or a list of paths."""
    return [value] if isinstance(value, str) else list(value)


def conversations_to_messages(turns: list, ctx: ReadContext, field: str = "conversations") -> list[dict[str, Any]]:
    """ShareGPT turns ({"from", "value"}) -> chat messages ({"role", "content"})."""
    messages = []
    for k, turn in enumerate(turns):
        if not (
            isinstance(turn, dict)
            and isinstance(turn.get("value"), str)
            and isinstance(turn.get("from"), str)  # a list there would be unhashable in the lookup below
            and turn["from"] in ROLE_FROM_SHAREGPT
        ):
            raise ctx.error(f"{field}[{k}]", 'expected {"from": human|gpt|system, "value": str}', "bad_type")
        messages.append({"role": ROLE_FROM_SHAREGPT[turn["from"]], "content": turn["value"]})
    if not any(m["role"] == "user" for m in messages):
        raise ctx.error(field, "no human turn", "missing_field")
    return messages


def check_messages(turns: Any, ctx: ReadContext, field: str = "messages") -> list[dict[str, Any]]:
    """Chat messages ({"role", "content": str | list of parts}), checked."""
    if not isinstance(turns, list) or not turns:
        raise ctx.error(field, "expected a non-empty list of messages", "bad_type")
    for k, turn in enumerate(turns):
        ok = isinstance(turn, dict) and turn.get("role") in ("system", "user", "assistant", "tool")
        if not ok or not isinstance(turn.get("content"), str | list):
            raise ctx.error(
                f"{field}[{k}]", 'expected {"role": system|user|assistant|tool, "content": ...}', "bad_type"
            )
    return turns


def flat_content(content: str | list[dict[str, Any]]) -> str:
    """A message content as text; image parts of a list become `<image>` placeholders."""
    if isinstance(content, str):
        return content
    return "".join(IMAGE_TOKEN if p.get("type") == "image" else p.get("text", "") for p in content)


def messages_to_conversations(messages: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Chat messages -> ShareGPT turns ({"from", "value"})."""
    return [{"from": ROLE_TO_SHAREGPT.get(m["role"], m["role"]), "value": flat_content(m["content"])} for m in messages]


def last_assistant(messages: list[dict[str, Any]]) -> str | None:
    """Text of the last assistant turn, if any."""
    for m in reversed(messages):
        if m["role"] == "assistant":
            content = m["content"]
            return content if isinstance(content, str) else "".join(p.get("text", "") for p in content)
    return None


def box_or_answer(text: str | None) -> tuple[list[list[float]] | None, str | None]:
    """An answer text as ([box], None) when it holds a box, else (None, text)."""
    if text is None:
        return None, None
    box = parse_box(text)
    return ([box], None) if box is not None else (None, text)


def format_number(v: float) -> int | float:
    """Integral floats as ints, so that written boxes read like the published files."""
    return int(v) if float(v).is_integer() else v


def format_box(box: list[float]) -> str:
    """A box as a JSON list: `[x1, y1, x2, y2]`."""
    return "[" + ", ".join(str(format_number(v)) for v in box) + "]"


def default_turns(record: Record) -> list[dict[str, Any]]:
    """A conversation for a record that has none: images, the REC prompt (or the question), the target."""
    images = IMAGE_TOKEN * len(record.images)
    question = record.question or ""
    user = images + (REC_PROMPT.format(expression=question) if record.task in ("rec", "multi_image") else question)
    if record.task == "detection":
        target = detection_text(record.boxes or [], record.labels)
    elif record.boxes:
        target = format_box(record.boxes[0])
    elif record.point:
        target = format_box(record.point)
    else:
        target = record.answer or ""
    return [{"role": "user", "content": user}, {"role": "assistant", "content": target}]


def detection_text(boxes: list[list[float]], labels: list[str] | None) -> str:
    """Boxes (and labels) as VLM-R1's detection data writes them: a fenced JSON list; `None` for no object.

    >>> detection_text([[1.0, 2, 3, 4]], ["cup"])
    '```json\\n[{"bbox_2d": [1, 2, 3, 4], "label": "cup"}]\\n```'
    """
    if not boxes:
        return "None"
    items: list[dict[str, Any]] = [{"bbox_2d": [format_number(v) for v in box]} for box in boxes]
    for item, label in zip(items, labels or [], strict=False):
        item["label"] = label
    return "```json\n" + json.dumps(items, ensure_ascii=False) + "\n```"


def to_grid(box: list[float], width: int, height: int) -> list[int]:
    """A box in original pixels on the 0-1000 grid, rounded as the published files write it."""
    return [round(v) for v in frame_for("norm1000", width, height).from_original(box)]


def point_text(box: list[float]) -> str:
    """ViGoRL's box text: `(x1, y1, x2, y2)`."""
    return "(" + ", ".join(str(format_number(v)) for v in box) + ")"
