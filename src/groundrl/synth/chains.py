"""Multi-turn zoom chains from records with a box and an answer (docs/zoom.md, docs/synthetic-data.md):
think, a tool call at the target (or the image's centre) in the family's frame, the crop as the tool's
observation, the answer; or, for a chosen fraction, the answer at once without the tool.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image

from groundrl.boxes.geometry import box_center, point_in_box
from groundrl.data.records import IMAGE_TOKEN, Record
from groundrl.models.families import Family
from groundrl.tools.zoom import PRESETS, TOOL_NAME, ToolCall, ZoomPreset, ZoomSession

Example = tuple[Record, list[Image.Image]]

SYSTEM_PROMPT = (
    "You are a helpful assistant. Think in <think></think>, zoom in with the search_coordinate tool, "
    "and answer in <answer></answer>."
)
LOOK_TEXT = "The target is too small to read at this size. Let me look closer at ({x}, {y})."
FINAL_TEXT = "Based on all the information I've gathered, I'll now provide my final answer."
DIRECT_TEXT = "I can answer from the full image."
LOOKS = ("target", "centre")


@dataclass(frozen=True)
class ChainOptions:
    """How chains are written.

    Attributes:
        family: the model's family with its processor's pixel bounds (`train.data.processor_family`, or
            `dataclasses.replace(FAMILIES[name], max_pixels=...)`): tool points are in its frame.
        preset: the zoom tool's window and crop size.
        system: the system prompt ("" for none).
        look: where a chain's tool call points: "target" (the box's centre) or "centre" (the image's, for a
            task whose target is known to be there, `VisualSearchOptions(place="centre")`).
        direct: the fraction of chains that answer from the full image without calling the tool (chosen
            per record id, so the same records always answer directly): SFT data that holds both
            behaviours, for RL to choose between.
    """

    family: Family
    preset: ZoomPreset = PRESETS["qa"]
    system: str = SYSTEM_PROMPT
    look: str = "target"
    direct: float = 0.0

    def __post_init__(self) -> None:
        if self.look not in LOOKS:
            raise ValueError(f"ChainOptions: look must be one of {', '.join(LOOKS)}")
        if not 0.0 <= self.direct <= 1.0:
            raise ValueError("ChainOptions: direct must be between 0 and 1")

    def answers_directly(self, record_id: str) -> bool:
        """Whether the record's chain answers without the tool: a hash of its id below `direct`.

        >>> from groundrl.models.families import FAMILIES
        >>> ChainOptions(FAMILIES["qwen3-vl"], direct=1.0).answers_directly("x")
        True
        """
        return zlib.crc32(record_id.encode()) / 2**32 < self.direct


def tool_point(box: Sequence[float], width: int, height: int, family: Family) -> tuple[int, int]:
    """The integer point in the family's frame nearest the box's centre whose original-pixel position lies
    in the box (a coarse frame, e.g. pixels of a much smaller input, can round the centre out of it).

    Raises:
        ValueError: no neighbour of the centre maps into the box (the box is under one unit of the frame).
    """
    frame = family.frame(width, height)
    cx, cy = frame.from_original(list(box_center(box)))
    near = itertools.product({math.floor(cx), round(cx), math.ceil(cx)}, {math.floor(cy), round(cy), math.ceil(cy)})
    for x, y in sorted(near, key=lambda p: ((p[0] - cx) ** 2 + (p[1] - cy) ** 2, p)):
        if point_in_box(frame.to_original([x, y]), box):
            return x, y
    raise ValueError(f"box {list(box)} is smaller than one unit of {family.name}'s frame for a {width}x{height} image")


def centre_point(width: int, height: int, family: Family) -> tuple[int, int]:
    """The image's centre in the family's frame, rounded."""
    x, y = family.frame(width, height).from_original([width / 2, height / 2])
    return round(x), round(y)


def chain_example(record: Record, image: Image.Image, opts: ChainOptions) -> Example:
    """A record with a box and an answer as a multi-turn zoom chain (docs/zoom.md): the question with the
    image, a think and a tool call at the box's centre (or the image's, `opts.look`), the tool's observation
    with the crop (cut from `image` at full resolution, exactly as `ZoomSession` answers that call), and the
    answer. A record that `opts.answers_directly` gets one turn instead: a think and the answer.

    Returns:
        The chain record (images: the full image, then `images/{id}-crop.png`) and the crop (no crop for a
        direct answer).
    """
    width, height = record.image_sizes[record.image_index]
    system = [{"role": "system", "content": opts.system}] if opts.system else []
    question = {"role": "user", "content": IMAGE_TOKEN + (record.question or "")}
    direct = opts.answers_directly(str(record.id))
    last = f"<think>\n{DIRECT_TEXT if direct else FINAL_TEXT}\n</think>\n<answer> {record.answer} </answer>"
    final = {"role": "assistant", "content": last}
    point, crops = None, []
    if direct:
        messages = [*system, question, final]
    else:
        if opts.look == "centre":
            point = centre_point(width, height, opts.family)
        else:
            point = tool_point(record.boxes[0], width, height, opts.family)
        observation = ZoomSession(image, opts.family, opts.preset).answer(ToolCall(point))
        call = json.dumps({"name": TOOL_NAME, "arguments": {"coordinate": list(point)}})
        look = LOOK_TEXT.format(x=point[0], y=point[1])
        think = {"role": "assistant", "content": f"<think>\n{look}\n</think>\n<tool_call>\n{call}\n</tool_call>"}
        messages = [*system, question, think, observation.as_message(), final]
        crops = [observation.image]
    chain = dataclasses.replace(
        record,
        images=[record.images[record.image_index], *(f"images/{record.id}-crop.png" for _ in crops)],
        image_sizes=[[width, height], *(list(crop.size) for crop in crops)],
        question=None,
        messages=messages,
        image_index=0,
        meta={**record.meta, "tool_point": list(point) if point else None, "family": opts.family.name},
    )
    return chain, crops
