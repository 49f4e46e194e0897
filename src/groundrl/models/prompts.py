"""Chat messages for a record, in the shape every Qwen-VL processor's chat template takes."""

from __future__ import annotations

from typing import Any

from groundrl.data.records import Record
from groundrl.models.families import Family


def grounding_prompt(record: Record, family: Family, template: str | None = None) -> str:
    """The user text for a record: the family's grounding prompt around the expression, or the
    question as is for QA. `template` overrides the family's prompt; `{expression}` is replaced."""
    if record.task == "qa":
        return record.question or ""
    text = (template or family.prompt).format(expression=record.question)
    if record.task == "multi_image":
        text = f"{text} There are {len(record.images)} images; first say which image (1 to {len(record.images)})."
    return text


def build_messages(record: Record, family: Family, template: str | None = None) -> list[dict[str, Any]]:
    """One user turn: an image part per image, then the prompt text."""
    content: list[dict[str, Any]] = [{"type": "image"} for _ in record.images]
    content.append({"type": "text", "text": grounding_prompt(record, family, template)})
    return [{"role": "user", "content": content}]


def with_image_parts(messages: list[dict], n_images: int) -> list[dict]:
    """Source messages with `<image>` placeholders as image parts (images first when there are none)."""
    out = []
    for m in messages:
        content = m["content"]
        if isinstance(content, str):
            pieces = content.split("<image>")
            parts: list[dict] = []
            if len(pieces) == 1:
                parts = [{"type": "image"} for _ in range(n_images)]
            for k, piece in enumerate(pieces):
                if k:
                    parts.append({"type": "image"})
                if piece:
                    parts.append({"type": "text", "text": piece})
            content = parts
        out.append({"role": m["role"], "content": content})
    return out


def prompt_messages(record: Record, family: Family, template: str | None = None) -> list[dict[str, Any]]:
    """What a model is asked: a record's own messages up to its first assistant turn (`<image>`
    placeholders as image parts), or the family's grounding prompt around its question."""
    if not record.messages:
        return build_messages(record, family, template)
    turns = []
    for message in record.messages:
        if message["role"] == "assistant":
            break
        turns.append(message)
    return with_image_parts(turns, len(record.images))
