"""Checks that every record must pass, each failing with an InputError naming file, line and field."""

from __future__ import annotations

import math
from dataclasses import dataclass

from groundrl.data.images import DEFAULT_MAX_PIXELS, MAX_IMAGE_SIDE, ImageProblem, check_image
from groundrl.data.records import IMAGE_TOKEN, TASKS, Record
from groundrl.errors import InputError

BOX_TOLERANCE = 1.0  # pixels a box may stick out of its image (rounding in published annotations)


@dataclass(frozen=True)
class CheckOptions:
    """What `validate_record` checks beyond the record itself.

    Attributes:
        images: decode every image (missing, unreadable, truncated, empty, too large, size mismatch).
        max_pixels: refuse images with more pixels than this (decompression bombs).
        box_tolerance: pixels a box may extend beyond the image before it is an error.
    """

    images: bool = False
    max_pixels: int = DEFAULT_MAX_PIXELS
    box_tolerance: float = BOX_TOLERANCE


class RecordChecker:
    """Validates records of one source; errors carry its path and each record's line (or index)."""

    def __init__(self, path: str, options: CheckOptions, index: bool = False) -> None:
        self.path = path
        self.options = options
        self.index = index

    def error(self, line: int, field: str | None, message: str, reason: str) -> InputError:
        return InputError(self.path, line, field, message, reason, index=self.index)

    def check(self, record: Record, line: int) -> Record:
        """Return the record if it passes every check.

        Raises:
            InputError: the first failed check.
        """
        try:
            return self._check(record, line)
        except InputError:
            raise
        except (TypeError, ValueError, KeyError, IndexError, AttributeError, OverflowError) as e:
            # a field of a type no check anticipated (a record built by a reader that trusts its source)
            raise self.error(line, None, f"malformed record ({type(e).__name__}: {e})", "malformed") from e

    def _check(self, record: Record, line: int) -> Record:
        self._check_images_field(record, line)
        self._check_text(record, line)
        if record.boxes is not None:
            for k, box in enumerate(record.boxes):
                self._check_box(record, box, line, f"boxes[{k}]")
        if record.labels is not None:
            self._check_labels(record, line)
        if record.point is not None:
            self._check_point(record, line)
        self._check_target(record, line)
        if self.options.images:
            self._check_image_files(record, line)
        return record

    def _check_images_field(self, record: Record, line: int) -> None:
        images = record.images
        if type(images) is not list or not all(type(p) is str and p for p in images):
            raise self.error(line, "images", f"expected a list of paths, got {record.images!r}", "bad_type")
        if not record.images:
            raise self.error(line, "images", "no images", "missing_field")
        sizes = record.image_sizes
        if sizes is not None:
            if type(sizes) is not list or len(sizes) != len(record.images):
                raise self.error(
                    line, "image_sizes", f"{len(sizes)} sizes for {len(record.images)} images", "bad_image_size"
                )
            for w_h in sizes:
                if not (isinstance(w_h, list | tuple) and len(w_h) == 2 and all(_side(v) for v in w_h)):
                    raise self.error(
                        line,
                        "image_sizes",
                        f"expected [width, height], each > 0 and <= {MAX_IMAGE_SIDE:,}, got {w_h!r}",
                        "bad_image_size",
                    )
        if not 0 <= record.image_index < len(record.images):
            raise self.error(
                line,
                "image_index",
                f"{record.image_index} is not an index into {len(record.images)} images",
                "bad_index",
            )

    def _check_text(self, record: Record, line: int) -> None:
        if record.task not in TASKS:
            raise self.error(line, "task", f"expected one of {', '.join(TASKS)}, got {record.task!r}", "bad_task")
        field = "question" if record.question is not None or not record.messages else "messages"
        if record.messages is None and isinstance(record.question, str):  # the common case, kept cheap
            text, tokens = record.question, record.question.count(IMAGE_TOKEN)
        else:
            text, tokens = record.user_text(), record.image_token_count()
        if not text.replace(IMAGE_TOKEN, "").strip():
            raise self.error(line, field, "empty expression", "empty_expression")
        if tokens and tokens != len(record.images):  # none: the images go before the first user turn's text
            raise self.error(
                line,
                field,
                f"{tokens} <image> placeholders for {len(record.images)} images (expected none or one per image)",
                "image_count_mismatch",
            )

    def _check_box(self, record: Record, box: object, line: int, field: str) -> None:
        if (
            type(box) is not list
            or len(box) != 4
            or not (_finite(box[0]) and _finite(box[1]) and _finite(box[2]) and _finite(box[3]))
        ):
            raise self.error(line, field, f"expected 4 finite numbers [x1, y1, x2, y2], got {box!r}", "bad_box")
        x1, y1, x2, y2 = box
        if x2 < x1 or y2 < y1:
            raise self.error(line, field, f"inverted box {list(box)} (x2 < x1 or y2 < y1)", "inverted_box")
        if x2 == x1 or y2 == y1:
            raise self.error(line, field, f"zero-area box {list(box)}", "zero_area_box")
        if record.image_sizes is not None:
            w, h = record.image_sizes[record.image_index]
            tol = self.options.box_tolerance
            if x1 < -tol or y1 < -tol or x2 > w + tol or y2 > h + tol:
                raise self.error(line, field, f"box {list(box)} lies outside the {w}x{h} image", "box_outside_image")

    def _check_labels(self, record: Record, line: int) -> None:
        labels = record.labels
        if type(labels) is not list or not all(type(label) is str for label in labels):
            raise self.error(line, "labels", f"expected a list of strings, got {labels!r}", "bad_type")
        if len(labels) != len(record.boxes or []):
            raise self.error(
                line, "labels", f"{len(labels)} labels for {len(record.boxes or [])} boxes", "label_count_mismatch"
            )

    def _check_point(self, record: Record, line: int) -> None:
        point = record.point
        if not (isinstance(point, list | tuple) and len(point) == 2 and all(_finite(v) for v in point)):
            raise self.error(line, "point", f"expected 2 finite numbers [x, y], got {point!r}", "bad_point")
        if record.image_sizes is not None:
            w, h = record.image_sizes[record.image_index]
            if not (0 <= point[0] <= w and 0 <= point[1] <= h):
                raise self.error(
                    line, "point", f"point {list(point)} lies outside the {w}x{h} image", "point_outside_image"
                )

    def _check_target(self, record: Record, line: int) -> None:
        has_box, has_answer = bool(record.boxes), bool(record.answer and record.answer.strip())
        needs = {
            "rec": has_box,
            "multi_image": has_box,
            "detection": record.boxes is not None,
            "point": has_box or record.point is not None,
            "qa": has_answer,
        }
        if not needs[record.task]:
            field = "answer" if record.task == "qa" else "boxes"
            raise self.error(line, field, f"a {record.task} record needs a target", "missing_field")

    def _check_image_files(self, record: Record, line: int) -> None:
        for k, image_path in enumerate(record.images):
            field = f"images[{k}]"
            try:
                size = check_image(image_path, self.options.max_pixels)
            except ImageProblem as e:
                raise self.error(line, field, str(e), e.reason) from e
            if record.image_sizes is not None and list(size) != list(record.image_sizes[k]):
                raise self.error(
                    line,
                    f"image_sizes[{k}]",
                    f"record says {record.image_sizes[k]}, image is {list(size)}",
                    "image_size_mismatch",
                )


_NUMBERS = (int, float)  # exact types: a bool is not a coordinate


def _finite(v: object) -> bool:
    return type(v) in _NUMBERS and math.isfinite(v)


def _positive(v: object) -> bool:
    return _finite(v) and v > 0


def _side(v: object) -> bool:
    return _positive(v) and v <= MAX_IMAGE_SIDE
