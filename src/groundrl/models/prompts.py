"""Chat messages for a record, in the shape every Qwen-VL processor's chat template takes.

The one place that decides where a record's images go in a conversation, for SFT, GRPO and evaluation
alike: exactly where its `<image>` markers (or image parts) are, in the turn that carries them. A record
without any marker shows all its images at the start of its first user turn (VLM-R1's loader does the
same). Every message comes out with its content as a list of typed parts, so that TRL inserts nothing.
"""

from __future__ import annotations

from typing import Any

from groundrl.data.records import IMAGE_TOKEN, Record
from groundrl.models.families import Family


class ImagePlacementError(ValueError):
    """A record whose image markers do not match its images."""


def grounding_prompt(record: Record, family: Family, template: str | None = None) -> str:
    """The user text for a record: the family's grounding prompt around the expression, or the
    question as is for QA. `template` overrides the family's prompt; `{expression}` is replaced."""
    if record.task == "qa":
        return record.question or ""
    text = (template or family.prompt).format(expression=record.question)
    if record.task == "multi_image":
        text = f"{text} There are {len(record.images)} images; first say which image (1 to {len(record.images)})."
    return text


def template_problem(template: str | None) -> str | None:
    """Why a grounding prompt template cannot be used (None: it can): more than one `<image>` marker.

    >>> template_problem("Find {expression}.<image>"), template_problem("<image>{expression}<image>")
    (None, '2 <image> markers; one places all the images')
    """
    markers = (template or "").count(IMAGE_TOKEN)
    return f"{markers} {IMAGE_TOKEN} markers; one places all the images" if markers > 1 else None


def build_messages(record: Record, family: Family, template: str | None = None) -> list[dict[str, Any]]:
    """One user turn: an image part per image, then the prompt text; a template with one `<image>` marker
    puts the images there instead (all of them, in order), e.g. after the question.

    Raises:
        ImagePlacementError: more than one marker in the prompt (the template's and the expression's).

    >>> from groundrl.models.families import get_family
    >>> [p.get("text", "<img>") for p in build_messages(Record(id="a", images=["a.png"], task="rec",
    ...     question="the dog"), get_family("qwen3-vl"), "Find {expression}.<image>")[0]["content"]]
    ['Find the dog.', '<img>']
    """
    text = grounding_prompt(record, family, template)
    if problem := template_problem(text):  # the template's markers and any the expression brought
        raise ImagePlacementError(problem)
    if IMAGE_TOKEN in text:
        before, _, after = text.partition(IMAGE_TOKEN)
        images: list[dict[str, Any]] = [{"type": "image"} for _ in record.images]
        return [{"role": "user", "content": [*_parts(before), *images, *_parts(after)]}]
    content: list[dict[str, Any]] = [{"type": "image"} for _ in record.images]
    content.append({"type": "text", "text": text})
    return [{"role": "user", "content": content}]


def _parts(content: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A message content as typed parts: `<image>` markers of a string become image parts in place."""
    if isinstance(content, list):
        return [dict(p) for p in content]
    parts: list[dict[str, Any]] = []
    for k, piece in enumerate(content.split(IMAGE_TOKEN)):
        if k:
            parts.append({"type": "image"})
        if piece:
            parts.append({"type": "text", "text": piece})
    return parts


def count_images(messages: list[dict[str, Any]]) -> int:
    """Number of image parts in messages whose content is typed parts."""
    return sum(1 for m in messages for p in m["content"] if isinstance(p, dict) and p.get("type") == "image")


def place_images(messages: list[dict[str, Any]], n_images: int) -> list[dict[str, Any]]:
    """Source messages ({"role", "content": str | parts}) with their images as image parts.

    Image parts go where the `<image>` markers are; with no marker at all, all `n_images` go at the start
    of the first user turn. ShareGPT roles (human, gpt) are accepted.

    Raises:
        ImagePlacementError: the markers are neither absent nor one per image.

    >>> place_images([{"role": "user", "content": "Where?<image>"}], 1)[0]["content"]
    [{'type': 'text', 'text': 'Where?'}, {'type': 'image'}]
    """
    out = [{"role": _ROLES.get(m["role"], m["role"]), "content": _parts(m["content"])} for m in messages]
    markers = count_images(out)
    if markers == 0 and n_images:
        first_user = next((m for m in out if m["role"] == "user"), None)
        if first_user is None:
            raise ImagePlacementError(f"{n_images} image(s) but no user turn to show them in")
        first_user["content"] = [*({"type": "image"} for _ in range(n_images)), *first_user["content"]]
    elif markers != n_images:
        raise ImagePlacementError(f"{markers} image marker(s) for {n_images} image(s)")
    return out


_ROLES = {"human": "user", "gpt": "assistant"}


def _last_assistant(messages: list[dict[str, Any]]) -> int:
    """Index of the last assistant turn, or len(messages) when there is none."""
    for k in range(len(messages) - 1, -1, -1):
        if messages[k]["role"] == "assistant":
            return k
    return len(messages)


def conversation(record: Record) -> list[dict[str, Any]]:
    """A record's own messages with its images placed (see `place_images`)."""
    return place_images(record.messages or [], len(record.images))


def prompt_messages(record: Record, family: Family, template: str | None = None) -> list[dict[str, Any]]:
    """What a model is asked: a record's own messages before its last assistant turn (the answer it is
    trained or judged on; earlier turns stay as context), or the family's grounding prompt around its
    question. The record's first `count_images(result)` images are the ones shown."""
    if not record.messages:
        return build_messages(record, family, template)
    messages = conversation(record)
    return messages[: _last_assistant(messages)]
