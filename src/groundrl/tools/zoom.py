"""ViGoRL's zoom-in tool: a crop of the full image around a point the model names, as a new image.

The model names the point in its family's coordinate convention over the *full* image (pixels of the
smart-resized input for Qwen2.5-VL, 0-1000 for Qwen2-VL and Qwen3-VL), never relative to an earlier crop.
The window is measured in pixels of the image as the model saw it (ViGoRL's +-182 px, +-100 px), shifted
inside the image at the edges (shrunk only when the image is smaller than the window), mapped to original
pixels and cut from the original, so no detail is lost to the model's own downscale.

Three pure parts and one small state machine:

- `crop_window`: the geometry, in the model-seen frame.
- `zoom`: image + family + point + preset -> `Crop`, converting through the family's frame.
- `parse_tool_call`: the model's text -> `ToolCall`, or a `ToolCallError` whose message is the observation.
- `ZoomSession`: turns and images used; `step(text) -> Observation`.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field

from PIL import Image, ImageDraw

from groundrl.boxes.conventions import frame_for
from groundrl.models.families import Family


@dataclass(frozen=True)
class ZoomPreset:
    """How a crop is cut and shown.

    Attributes:
        half: half the window side, in pixels of the full image as the model saw it.
        size: side of the returned crop in pixels (the longer side when the window is not square).
        dot_radius: radius of a red dot drawn at the point, in window pixels (0: no dot).
    """

    half: int
    size: int
    dot_radius: int = 0


# ViGoRL's settings (VIGORL.md section 3): QA / V* / spatial, and web grounding with a red dot.
PRESETS: dict[str, ZoomPreset] = {"qa": ZoomPreset(182, 672), "web": ZoomPreset(100, 512, dot_radius=7)}

DOT_COLOUR = (255, 0, 0)


def crop_window(x: float, y: float, width: int, height: int, half: int) -> tuple[int, int, int, int]:
    """The window (x0, y0, x1, y1) of side 2 * half centred on (x, y) as nearly as the image allows: shifted
    inside at the edges, shrunk to the image only along a side shorter than the window.

    Args:
        x, y: the centre, in pixels of the same image (clamped into it first).
        width, height: the image size.
        half: half the window side.

    >>> crop_window(10, 500, 1000, 800, 100)
    (0, 400, 200, 600)
    >>> crop_window(990, 790, 1000, 150, 100)
    (800, 0, 1000, 150)
    """
    x0, x1 = _span(x, width, half)
    y0, y1 = _span(y, height, half)
    return x0, y0, x1, y1


def _span(centre: float, length: int, half: int) -> tuple[int, int]:
    side = min(2 * half, length)
    start = round(min(max(centre, 0), length) - side / 2)
    start = min(max(start, 0), length - side)
    return start, start + side


@dataclass(frozen=True)
class Crop:
    """A zoom-in's result.

    Attributes:
        image: the crop, resized so that its longer side is the preset's size.
        window: (x0, y0, x1, y1) in original pixels.
        seen_window: the same window in pixels of the full image as the model saw it.
        point: the point in original pixels (clamped into the image).
    """

    image: Image.Image
    window: tuple[float, float, float, float]
    seen_window: tuple[int, int, int, int]
    point: tuple[float, float]

    def point_in_crop(self) -> tuple[float, float]:
        """Where the point lies in the crop's own pixels."""
        x0, y0, x1, y1 = self.window
        return (self.point[0] - x0) * self.image.width / (x1 - x0), (self.point[1] - y0) * self.image.height / (y1 - y0)


def zoom(image: Image.Image, point: tuple[float, float], family: Family, preset: ZoomPreset) -> Crop:
    """Cut the preset's window around `point` from `image` and resize it.

    Args:
        image: the full image, original or as the model saw it (the family's frame maps either: a
            smart-resized image resizes to itself).
        point: (x, y) in the family's convention over that image.
        family: the model's family (with its processor's pixel bounds, see `train.data.processor_family`).
        preset: window and output size, see `PRESETS`.

    Returns:
        The crop, its window in original and seen pixels, and the point in original pixels.

    >>> from groundrl.models.families import FAMILIES
    >>> crop = zoom(Image.new("RGB", (1000, 800)), (500, 500), FAMILIES["qwen3-vl"], PRESETS["qa"])
    >>> crop.image.size, crop.point
    ((672, 672), (500.0, 400.0))
    """
    width, height = image.size
    seen_w, seen_h = family.input_size(width, height)
    px, py = family.frame(width, height, seen_w, seen_h).to_original(point)
    px, py = min(max(px, 0.0), float(width)), min(max(py, 0.0), float(height))
    seen = frame_for("resized", width, height, seen_w, seen_h)
    sx, sy = seen.from_original([px, py])
    seen_window = crop_window(sx, sy, seen_w, seen_h, preset.half)
    window = tuple(seen.to_original(seen_window))
    win_w, win_h = seen_window[2] - seen_window[0], seen_window[3] - seen_window[1]
    scale = preset.size / max(win_w, win_h)
    out_size = (max(1, round(win_w * scale)), max(1, round(win_h * scale)))
    out = image.convert("RGB").resize(out_size, Image.Resampling.BICUBIC, box=window)
    crop = Crop(out, window, seen_window, (px, py))
    if preset.dot_radius:
        _dot(crop, preset.dot_radius * scale)
    return crop


def _dot(crop: Crop, radius: float) -> None:
    # drawn after resizing, at the exact mapped point and the radius scaled alike: the same dot ViGoRL draws
    # on the window before resizing, without its resampling blur
    cx, cy = crop.point_in_crop()
    ImageDraw.Draw(crop.image).ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=DOT_COLOUR)


# -- the model's call ----------------------------------------------------------------------------------------

TOOL_NAME = "search_coordinate"
_CALL = re.compile(r"<tool_call>(.*?)(?:</tool_call>|$)", re.DOTALL)


@dataclass(frozen=True)
class ToolCall:
    """A parsed zoom call: the point in the family's convention over the full image."""

    point: tuple[float, float]


@dataclass(frozen=True)
class ToolCallError:
    """A call that does not parse; `message` is the short observation the model gets back."""

    message: str


def parse_tool_call(text: str) -> ToolCall | ToolCallError:
    """The first `<tool_call>` of a turn, in ViGoRL's form
    `{"name": "search_coordinate", "arguments": {"coordinate": [x, y]}}`. Never raises.

    >>> parse_tool_call('<think>..</think><tool_call>{"name": "search_coordinate", '
    ...                 '"arguments": {"coordinate": [12, 34]}}</tool_call>')
    ToolCall(point=(12.0, 34.0))
    >>> parse_tool_call("<tool_call>{oops}</tool_call>").message
    'Error: the tool call is not valid JSON.'
    """
    match = _CALL.search(text)
    if match is None:
        return ToolCallError("Error: no <tool_call> found.")
    try:
        call = json.loads(match.group(1).strip())
    except ValueError:
        return ToolCallError("Error: the tool call is not valid JSON.")
    if not isinstance(call, dict) or call.get("name") != TOOL_NAME:
        return ToolCallError(f'Error: the tool call must be {{"name": "{TOOL_NAME}", "arguments": {{...}}}}.')
    args = call.get("arguments")
    return coordinate_call(args.get("coordinate") if isinstance(args, dict) else None)


def coordinate_call(coordinate: object) -> ToolCall | ToolCallError:
    """A call's `coordinate` argument, already decoded (TRL's tool calls), checked: two finite numbers.

    >>> coordinate_call([3, 4.5]), coordinate_call("3, 4").message
    (ToolCall(point=(3.0, 4.5)), 'Error: "coordinate" must be a list of two numbers [x, y].')
    """
    ok = isinstance(coordinate, list | tuple) and len(coordinate) == 2 and all(_number(v) for v in coordinate)
    if not ok:
        return ToolCallError('Error: "coordinate" must be a list of two numbers [x, y].')
    return ToolCall((float(coordinate[0]), float(coordinate[1])))


def _number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and v == v and abs(v) != float("inf")


# -- the session -----------------------------------------------------------------------------------------------

CROP_TEXT = "Here is the crop of the image centered on the coordinate:"
# ViGoRL's fixed last think (VIGORL.md section 2), pre-filled with `<answer>` once the limits are reached
ANSWER_NOW = (
    "<think>\nBased on all the information I've gathered, I'll now provide my final answer.\n</think>\n<answer>"
)


@dataclass(frozen=True)
class ZoomLimits:
    """Limits of one trajectory (ViGoRL's defaults).

    Attributes:
        max_images: images in the trajectory, the full image included (so max_images - 1 crops).
        max_turns: tool calls answered, errors included.
        answer_now: appended to the last observation so that the model answers.
    """

    max_images: int = 5
    max_turns: int = 5
    answer_now: str = ANSWER_NOW


@dataclass(frozen=True)
class Observation:
    """What the tool returns: a text, a crop when one was cut, and, on the last one, the answer-now text.

    Attributes:
        text: the crop's caption or a short error.
        image: the crop, or None.
        answer_now: the limits' `answer_now`, shown after the crop on the last observation; "" before.
        crop: the crop with its window and point in original pixels (what a report draws), or None.
    """

    text: str
    image: Image.Image | None = None
    answer_now: str = ""
    crop: Crop | None = None

    @property
    def final(self) -> bool:
        """True when the model must answer now."""
        return bool(self.answer_now)

    def as_message(self) -> dict[str, str]:
        """The observation as a user turn of an SFT chain: `<tool_response>` around the text with an
        `<image>` marker where the crop goes (the tokens GRPO's tool turns produce, in a turn TRL's vision
        collator places images in).

        >>> Observation("Error: no <tool_call> found.").as_message()["content"]
        '<tool_response>\\nError: no <tool_call> found.\\n</tool_response>'
        """
        parts = [self.text, *(["<image>"] if self.image is not None else []), *([self.answer_now] * self.final)]
        return {"role": "user", "content": "<tool_response>\n" + "\n".join(parts) + "\n</tool_response>"}

    def as_parts(self) -> list[dict]:
        """The observation as a tool result of typed parts (TRL appends the image to the sample).

        >>> [p["type"] for p in Observation("Here.", Image.new("RGB", (2, 2)), "<answer>").as_parts()]
        ['text', 'image', 'text']
        """
        # the pieces joined by newlines, as in `as_message`: the tool turn TRL renders from these parts is
        # then the chain's observation turn token for token
        parts: list[dict] = [{"type": "text", "text": self.text}]
        if self.image is not None:
            parts[-1]["text"] += "\n"
            parts.append({"type": "image", "image": self.image})
        return parts + ([{"type": "text", "text": "\n" + self.answer_now}] if self.final else [])


@dataclass
class ZoomSession:
    """One trajectory's zoom state over one full image.

    >>> from groundrl.models.families import FAMILIES
    >>> session = ZoomSession(Image.new("RGB", (800, 600)), FAMILIES["qwen3-vl"], PRESETS["qa"])
    >>> obs = session.step('<tool_call>{"name": "search_coordinate", "arguments": {"coordinate": [5, 5]}}')
    >>> obs.image.size, session.images_used, session.turns_used
    ((672, 672), 2, 1)
    """

    image: Image.Image
    family: Family
    preset: ZoomPreset = PRESETS["qa"]
    limits: ZoomLimits = field(default_factory=ZoomLimits)
    turns_used: int = 0
    images_used: int = 1  # the full image

    @property
    def done(self) -> bool:
        """True once no further call is answered with a crop."""
        return self.turns_used >= self.limits.max_turns or self.images_used >= self.limits.max_images

    def step(self, text: str) -> Observation:
        """Answer the model's turn `text`: a crop, or a short error; the last one also says to answer now."""
        return self.answer(parse_tool_call(text))

    def answer(self, call: ToolCall | ToolCallError) -> Observation:
        """Answer a call already parsed (`parse_tool_call`, `coordinate_call`); see `step`."""
        if self.done:
            return Observation("Error: no more zooming is possible.", answer_now=self.limits.answer_now)
        self.turns_used += 1
        if isinstance(call, ToolCallError):
            return self._finish(Observation(call.message))
        crop = zoom(self.image, call.point, self.family, self.preset)
        self.images_used += 1
        return self._finish(Observation(CROP_TEXT, crop.image, crop=crop))

    def _finish(self, obs: Observation) -> Observation:
        if not self.done:
            return obs
        return dataclasses.replace(obs, answer_now=self.limits.answer_now)
