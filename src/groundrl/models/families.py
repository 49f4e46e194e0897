"""Model families: what GroundRL must know about each VLM architecture, keyed by `config.model_type`.

Pure data, no torch import: the scoring core and the CLI read it without loading a model.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from groundrl.boxes.conventions import QWEN_FACTOR, QWEN_MAX_PIXELS, QWEN_MIN_PIXELS, Frame, frame_for, smart_resize


@dataclass(frozen=True)
class Family:
    """One VLM family.

    Attributes:
        name: the user-facing name (`qwen2.5-vl`).
        model_types: the `config.model_type` values that belong to it.
        convention: the coordinate convention its answers use (see groundrl.boxes.conventions).
        factor: smart-resize factor (patch size x spatial merge size).
        min_pixels, max_pixels: the processor's default area bounds.
        prompt: default grounding prompt; `{expression}` is replaced by the referring expression.
        box_format: how the family writes a box; fields x1, y1, x2, y2 in its own convention.
        point_format: how it writes a point; fields x, y.
        vision_modules: module names of the vision tower (frozen by `freeze_vision`).
        projector_modules: module names of the vision-to-language projector (inside the tower for Qwen).
    """

    name: str
    model_types: tuple[str, ...]
    convention: str
    factor: int
    min_pixels: int
    max_pixels: int
    prompt: str
    box_format: str
    point_format: str
    vision_modules: tuple[str, ...] = ("model.visual",)
    projector_modules: tuple[str, ...] = ("model.visual.merger",)

    def input_size(self, width: int, height: int) -> tuple[int, int]:
        """(input_width, input_height) the processor resizes an image of this size to."""
        h, w = smart_resize(height, width, self.factor, self.min_pixels, self.max_pixels)
        return w, h

    def frame(
        self, width: float, height: float, input_width: float | None = None, input_height: float | None = None
    ) -> Frame:
        """The coordinate frame of this family's answers for an image of the given original size."""
        if self.convention == "resized" and not (input_width and input_height):
            input_width, input_height = self.input_size(int(width), int(height))
        return frame_for(self.convention, width, height, input_width, input_height)

    def format_box(self, box: Sequence[float]) -> str:
        """Write a box, already in this family's convention, the way the family answers."""
        x1, y1, x2, y2 = (round(v) for v in box)
        return self.box_format.format(x1=x1, y1=y1, x2=x2, y2=y2)

    @property
    def patch_size(self) -> int:
        """The vision tower's patch side in pixels: every Qwen-VL merges 2 x 2 patches into a token."""
        return self.factor // 2

    def format_detections(self, boxes: Sequence[Sequence[float]], labels: Sequence[str] | None = None) -> str:
        """Write several boxes, already in this family's convention, with their labels when given: a JSON
        list of `{"bbox_2d", "label"}` for the families that answer in JSON (VLM-R1's OVD answers), else
        each box after its label as an object reference (Qwen2-VL's grounding output).

        >>> FAMILIES["qwen2.5-vl"].format_detections([[1, 2, 3, 4]], ["cup"])
        '[{"bbox_2d": [1, 2, 3, 4], "label": "cup"}]'
        >>> FAMILIES["qwen2-vl"].format_detections([[1, 2, 3, 4]], ["cup"])
        '<|object_ref_start|>cup<|object_ref_end|><|box_start|>(1,2),(3,4)<|box_end|>'
        """
        names = list(labels) if labels else [None] * len(boxes)
        if '"bbox_2d"' in self.box_format:
            items = [{"bbox_2d": [round(v) for v in box]} for box in boxes]
            for item, name in zip(items, names, strict=True):
                item |= {"label": name} if name is not None else {}
            return json.dumps(items, ensure_ascii=False)
        refs = ["" if name is None else f"<|object_ref_start|>{name}<|object_ref_end|>" for name in names]
        return "".join(ref + self.format_box(box) for ref, box in zip(refs, boxes, strict=True))

    def format_point(self, point: Sequence[float]) -> str:
        """Write a point, already in this family's convention, the way the family answers."""
        x, y = (round(v) for v in point)
        return self.point_format.format(x=x, y=y)


_JSON_PROMPT = "Locate {expression} in the image and output its bbox coordinates in JSON format."
_JSON_BOX = '{{"bbox_2d": [{x1}, {y1}, {x2}, {y2}]}}'
_JSON_POINT = '{{"point_2d": [{x}, {y}]}}'

FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family(
            name="qwen2-vl",
            model_types=("qwen2_vl",),
            convention="norm1000",
            factor=QWEN_FACTOR,
            min_pixels=QWEN_MIN_PIXELS,
            max_pixels=QWEN_MAX_PIXELS,
            prompt="Find <|object_ref_start|>{expression}<|object_ref_end|> in the image.",
            box_format="<|box_start|>({x1},{y1}),({x2},{y2})<|box_end|>",
            point_format="({x},{y})",
        ),
        Family(
            name="qwen2.5-vl",
            model_types=("qwen2_5_vl",),
            convention="resized",
            factor=QWEN_FACTOR,
            min_pixels=QWEN_MIN_PIXELS,
            max_pixels=QWEN_MAX_PIXELS,
            prompt=_JSON_PROMPT,
            box_format=_JSON_BOX,
            point_format=_JSON_POINT,
        ),
        Family(
            name="qwen3-vl",
            model_types=("qwen3_vl", "qwen3_vl_moe"),
            convention="norm1000",
            factor=32,
            min_pixels=65_536,  # Qwen3-VL processor default shortest_edge
            max_pixels=16_777_216,  # and longest_edge
            prompt=_JSON_PROMPT,
            box_format=_JSON_BOX,
            point_format=_JSON_POINT,
            projector_modules=("model.visual.merger", "model.visual.deepstack_merger_list"),
        ),
    )
}

_BY_MODEL_TYPE = {model_type: f for f in FAMILIES.values() for model_type in f.model_types}


class UnknownFamilyError(KeyError):
    """Raised for a family name or model_type GroundRL does not know."""

    def __str__(self) -> str:
        return str(self.args[0])


def get_family(name: str) -> Family:
    """Look a family up by its name (`qwen2.5-vl`) or its `config.model_type` (`qwen2_5_vl`).

    Raises:
        UnknownFamilyError: naming the known families.
    """
    family = FAMILIES.get(name) or _BY_MODEL_TYPE.get(name)
    if family is None:
        known = ", ".join(sorted(FAMILIES))
        raise UnknownFamilyError(f"unknown model family {name!r}; known: {known}")
    return family
