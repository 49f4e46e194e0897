"""Coordinate conventions and Qwen's smart resize: one source of truth for the whole package.

Ground truth is always kept in original-image pixels. A model answers in one of four conventions:

| convention | emitted by                                   | to original pixels            |
| ---------- | -------------------------------------------- | ----------------------------- |
| resized    | Qwen2.5-VL (pixels of the smart-resized input) | x * W / input_W, y * H / input_H |
| norm1000   | Qwen2-VL, Qwen3-VL, UniVG-R1 and EGM data     | x * W / 1000, y * H / 1000    |
| norm1      | some prompts and lmms-eval tasks             | x * W, y * H                  |
| abs        | ground-truth files, hand-written data        | unchanged                     |
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

CONVENTIONS = ("abs", "resized", "norm1000", "norm1")

# Qwen2-VL / Qwen2.5-VL image processor defaults (patch 14 x merge 2).
QWEN_FACTOR = 28
QWEN_MIN_PIXELS = 56 * 56  # 3136
QWEN_MAX_PIXELS = 28 * 28 * 16384  # 12845056


class ConventionError(ValueError):
    """Raised when a coordinate convention is unknown or lacks what it needs."""


def smart_resize(
    height: int,
    width: int,
    factor: int = QWEN_FACTOR,
    min_pixels: int = QWEN_MIN_PIXELS,
    max_pixels: int = QWEN_MAX_PIXELS,
) -> tuple[int, int]:
    """Size that Qwen-VL processors resize an image to: both sides multiples of `factor`,
    area within [min_pixels, max_pixels], aspect ratio kept as closely as the grid allows.

    Matches the processors bit for bit (Python's `round` is round-half-to-even there too).

    Args:
        height, width: original image size in pixels.
        factor: patch size times spatial merge size (28 for Qwen2/2.5-VL, 32 for Qwen3-VL).
        min_pixels, max_pixels: area bounds from the processor config.

    Returns:
        (resized_height, resized_width).

    Raises:
        ValueError: for a non-positive size or an aspect ratio above 200, as the processors do.

    >>> smart_resize(480, 640)
    (476, 644)
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    if max(height, width) / min(height, width) > 200:
        raise ValueError(f"aspect ratio of {width}x{height} exceeds 200")
    resized_h = round(height / factor) * factor
    resized_w = round(width / factor) * factor
    if resized_h * resized_w > max_pixels:
        shrink = math.sqrt(height * width / max_pixels)
        resized_h = max(factor, math.floor(height / shrink / factor) * factor)
        resized_w = max(factor, math.floor(width / shrink / factor) * factor)
    elif resized_h * resized_w < min_pixels:
        grow = math.sqrt(min_pixels / (height * width))
        resized_h = math.ceil(height * grow / factor) * factor
        resized_w = math.ceil(width * grow / factor) * factor
    return resized_h, resized_w


class Frame(NamedTuple):
    """How to map a model's coordinates to original pixels: multiply x by `sx` and y by `sy`."""

    sx: float
    sy: float

    def to_original(self, coords: Sequence[float]) -> list[float]:
        """Map (x, y, ...) pairs from model coordinates to original pixels."""
        sx, sy = self
        if len(coords) == 4:
            return [coords[0] * sx, coords[1] * sy, coords[2] * sx, coords[3] * sy]
        return [v * (sy if i % 2 else sx) for i, v in enumerate(coords)]

    def from_original(self, coords: Sequence[float]) -> list[float]:
        """Map (x, y, ...) pairs from original pixels to model coordinates."""
        return [v / (self.sy if i % 2 else self.sx) for i, v in enumerate(coords)]


def frame_for(
    convention: str,
    width: float,
    height: float,
    input_width: float | None = None,
    input_height: float | None = None,
) -> Frame:
    """Scale factors that take `convention` coordinates to original pixels.

    Args:
        convention: one of CONVENTIONS.
        width, height: original image size.
        input_width, input_height: the model-input size, required for `resized`.

    Raises:
        ConventionError: unknown convention, or `resized` without an input size.
    """
    if convention == "abs":
        return Frame(1.0, 1.0)
    if convention == "norm1000":
        return Frame(width / 1000.0, height / 1000.0)
    if convention == "norm1":
        return Frame(float(width), float(height))
    if convention == "resized":
        if not input_width or not input_height:
            raise ConventionError("convention 'resized' needs input_width and input_height")
        return Frame(width / input_width, height / input_height)
    raise ConventionError(f"unknown convention {convention!r}; expected one of {', '.join(CONVENTIONS)}")


def to_original_pixels(coords: Sequence[float], frame: Frame) -> list[float]:
    """Map a box or point from model coordinates to original pixels (no ordering or clamping)."""
    return frame.to_original(coords)


def from_original_pixels(coords: Sequence[float], frame: Frame) -> list[float]:
    """Map a box or point from original pixels to model coordinates."""
    return frame.from_original(coords)
