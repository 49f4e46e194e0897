"""Images: sizes from headers, checks for broken files, lazy RGB loading with EXIF orientation, and the
mapping of ground truth between original pixels and a model's input (Qwen smart resize)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Protocol

from PIL import Image, ImageOps, UnidentifiedImageError

from groundrl.boxes.conventions import Frame

DEFAULT_MAX_PIXELS = 100_000_000  # larger images are refused: decompression bombs
# A width or height a record may state: beyond any real image, and small enough that coordinate arithmetic
# (areas, resizing) never overflows a float.
MAX_IMAGE_SIDE = 1_000_000
_TRANSPOSED = {5, 6, 7, 8}  # EXIF orientations that swap width and height
_EXIF_ORIENTATION = 0x0112


class AnswerFrames(Protocol):
    """What the ground-truth mapping needs of a model family (`groundrl.models.families.Family` is one).

    A protocol rather than the Family class itself: data/ sits below models/ and does not import it.
    """

    def frame(self, width: float, height: float) -> Frame:
        """The coordinate frame of the family's answers for an image of this original size."""
        ...


class ImageProblem(ValueError):
    """An image that cannot be used; `reason` is a stable key (missing_image, truncated_image, ...)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _open(path: str | Path, max_pixels: int) -> Image.Image:
    if not os.path.exists(path):
        raise ImageProblem("missing_image", f"image not found: {path}")
    if os.path.getsize(path) == 0:
        raise ImageProblem("empty_image", f"image file is empty (0 bytes): {path}")
    return open_header(path, max_pixels, path)


def open_header(source: str | Path | IO[bytes], max_pixels: int, path: str | Path) -> Image.Image:
    """The image opened from its header only (nothing decoded), refused when unreadable, of zero size or
    over `max_pixels`; `path` names it in errors.

    Raises:
        ImageProblem: unreadable_image, empty_image or image_too_large.
    """
    try:
        image = Image.open(source)  # reads the header only
    except Image.DecompressionBombError as e:
        raise ImageProblem("image_too_large", f"{path}: {e}") from e
    except (UnidentifiedImageError, OSError) as e:
        raise ImageProblem("unreadable_image", f"not a readable image: {path}") from e
    width, height = image.size
    if width == 0 or height == 0:
        raise ImageProblem("empty_image", f"image has zero size ({width}x{height}): {path}")
    if width * height > max_pixels:
        raise ImageProblem("image_too_large", f"{width}x{height} image exceeds the {max_pixels:,}-pixel limit: {path}")
    return image


def _oriented_size(image: Image.Image, path: str | Path) -> tuple[int, int]:
    width, height = image.size
    try:
        orientation = image.getexif().get(_EXIF_ORIENTATION)  # may read past the header (PNG)
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageProblem("truncated_image", f"image is truncated or corrupt ({e}): {path}") from e
    return (height, width) if orientation in _TRANSPOSED else (width, height)


def image_size(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[int, int]:
    """(width, height) as displayed (EXIF orientation applied), read from the header without decoding.

    Raises:
        ImageProblem: missing, empty, unreadable or too large.
    """
    with _open(path, max_pixels) as image:
        return _oriented_size(image, path)


def check_image(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[int, int]:
    """Decode the whole image to prove it is intact; returns its displayed (width, height).

    Raises:
        ImageProblem: missing, empty, unreadable, too large or truncated.
    """
    with _open(path, max_pixels) as image:
        size = _oriented_size(image, path)
        try:
            image.load()
        except (OSError, SyntaxError, ValueError) as e:
            raise ImageProblem("truncated_image", f"image is truncated or corrupt ({e}): {path}") from e
    return size


def load_image(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """The image as RGB, EXIF orientation applied. Opened only when called: records stay lazy.

    Raises:
        ImageProblem: as check_image.
    """
    with _open(path, max_pixels) as image:
        return decode_oriented(image, path)


def decode_oriented(image: Image.Image, path: str | Path) -> Image.Image:
    """An opened image (`open_header`) decoded as RGB with its EXIF orientation applied: the frame every
    reader of images (files, the server's uploads) gives the model; `path` names it in errors.

    Raises:
        ImageProblem: truncated_image.
    """
    try:
        return ImageOps.exif_transpose(image).convert("RGB")
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageProblem("truncated_image", f"image is truncated or corrupt ({e}): {path}") from e


def to_model_coords(coords: Sequence[float], width: int, height: int, family: AnswerFrames) -> list[float]:
    """Ground truth in original pixels -> the family's answer convention (resized pixels or 0-1000);
    the input size for `resized` is the family's smart resize (`Family.input_size`)."""
    return family.frame(width, height).from_original(coords)


def to_original_coords(coords: Sequence[float], width: int, height: int, family: AnswerFrames) -> list[float]:
    """The family's answer convention -> original pixels."""
    return family.frame(width, height).to_original(coords)
