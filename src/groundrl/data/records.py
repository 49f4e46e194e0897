"""The unified record: one type that every published format is read into and written from.

Ground truth is in original-image pixels, with the size of every image. Image paths are relative to the
folder of the JSONL file that holds the record (or to an image root given by the caller).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TASKS = ("rec", "point", "qa", "detection", "multi_image")
IMAGE_TOKEN = "<image>"


def message_text(message: dict[str, Any]) -> str:
    """The text of a chat message whose content is a string or a list of typed parts."""
    content = message.get("content", message.get("value", ""))
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


@dataclass
class Record:
    """One grounding example.

    Attributes:
        id: unique within its file (a string or an integer, as the source has it).
        images: image paths, one or more.
        image_sizes: [width, height] of each image in pixels (EXIF orientation applied); None when the
            source format does not give them and the images could not be read.
        task: one of TASKS.
        question: the bare referring expression or question; a model family's prompt wraps it.
        messages: a full conversation ({"role", "content"}) as the source wrote it, prompt included;
            `<image>` marks where images go. Used as is instead of wrapping `question`.
        boxes: target boxes [x1, y1, x2, y2] in original pixels of image `image_index`.
        labels: the class label of each box, in the order of `boxes` (open-vocabulary detection); None
            when the boxes carry none.
        point: a target point [x, y] in original pixels (GUI clicks).
        answer: a target text (QA, multiple choice).
        choices: the options of a multiple-choice question, in order (A, B, C, ...).
        image_index: which image `boxes` and `point` refer to.
        source: where the record comes from (`synth/rec`, `refcoco/val`, ...).
        reward_method: per-record reward selection, as VLM-R1's `accu_reward_method`.
        meta: anything else, kept as is.
    """

    id: str | int
    images: list[str]
    image_sizes: list[list[int]] | None = None
    task: str = "rec"
    question: str | None = None
    messages: list[dict[str, Any]] | None = None
    boxes: list[list[float]] | None = None
    labels: list[str] | None = None
    point: list[float] | None = None
    answer: str | None = None
    choices: list[str] | None = None
    image_index: int = 0
    source: str = ""
    reward_method: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def user_text(self) -> str:
        """All user-side text: the question and every user message (text parts of lists too)."""
        parts = [self.question or ""]
        for message in self.messages or []:
            if message.get("role") in ("user", "human", "system"):
                parts.append(message_text(message))
        return "\n".join(p for p in parts if p)

    def image_token_count(self) -> int:
        """Number of `<image>` placeholders (or image parts) in the question and messages."""
        count = (self.question or "").count(IMAGE_TOKEN)
        for message in self.messages or []:
            content = message.get("content")
            if isinstance(content, list):
                count += sum(1 for part in content if isinstance(part, dict) and part.get("type") == "image")
            count += message_text(message).count(IMAGE_TOKEN)
        return count

    @property
    def width(self) -> int:
        """Width of the image the target refers to."""
        return self.image_sizes[self.image_index][0]

    @property
    def height(self) -> int:
        """Height of the image the target refers to."""
        return self.image_sizes[self.image_index][1]

    def to_dict(self) -> dict[str, Any]:
        """The record as plain JSON data; fields that are None or empty are left out."""
        # vars, not asdict: the fields are plain JSON values already, and asdict's deep copy costs 4x
        data = {k: v for k, v in vars(self).items() if v is not None and v != {} and v != ""}
        if data.get("image_index") == 0:
            del data["image_index"]
        return data

    def to_json(self) -> str:
        """One JSON line; fields that are None or empty are left out."""
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_json(cls, line: str | dict[str, Any]) -> Record:
        """Build a record from a JSON line or an already parsed dict (unknown keys raise TypeError)."""
        data = json.loads(line) if isinstance(line, str) else dict(line)
        return cls(**data)

    def image_paths(self, root: str | Path) -> list[Path]:
        """Image paths resolved against `root` (absolute paths are kept)."""
        return [Path(root) / p for p in self.images]


def write_records(records: Iterable[Record], path: str | Path) -> int:
    """Write records as JSONL; returns how many were written."""
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for record in records:
            f.write(record.to_json() + "\n")
            n += 1
    return n


def read_records(path: str | Path) -> Iterator[Record]:
    """Stream records from a GroundRL JSONL file (strict validation lives in groundrl.data.validate)."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield Record.from_json(line)
