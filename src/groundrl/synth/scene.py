"""Scenes of coloured shapes: placement without overlap, drawing, and exact boxes in pixels."""

from __future__ import annotations

import random
from dataclasses import dataclass

from PIL import Image, ImageDraw

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (235, 200, 30),
    "purple": (140, 60, 180),
    "orange": (245, 130, 30),
}
SHAPES = ("circle", "square", "triangle")
BACKGROUNDS = ((255, 255, 255), (245, 245, 240), (235, 240, 245), (250, 245, 235))


@dataclass(frozen=True)
class Shape:
    """A drawn shape; `box` is its tight bounding box [x1, y1, x2, y2] in pixels (x2, y2 exclusive)."""

    kind: str
    colour: str
    box: tuple[int, int, int, int]

    @property
    def area(self) -> int:
        return (self.box[2] - self.box[0]) * (self.box[3] - self.box[1])

    @property
    def center(self) -> tuple[float, float]:
        return (self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2

    @property
    def name(self) -> str:
        return f"{self.colour} {self.kind}"


def place_shapes(
    rng: random.Random,
    width: int,
    height: int,
    count: int,
    min_frac: float = 0.12,
    max_frac: float = 0.35,
    colours: tuple[str, ...] = tuple(COLOURS),
    kinds: tuple[str, ...] = SHAPES,
    gap: int = 2,
) -> list[Shape]:
    """Place up to `count` non-overlapping shapes with sides between min_frac and max_frac of the
    shorter image side. Rejection sampling: a crowded image may get fewer shapes than asked."""
    short = min(width, height)
    lo, hi = max(4, int(short * min_frac)), max(5, int(short * max_frac))
    shapes: list[Shape] = []
    for _ in range(count * 30):
        if len(shapes) == count:
            break
        side = rng.randint(lo, hi)
        x1, y1 = rng.randint(0, width - side), rng.randint(0, height - side)
        box = (x1, y1, x1 + side, y1 + side)
        if all(apart(box, s.box, gap) for s in shapes):
            shapes.append(Shape(rng.choice(kinds), rng.choice(colours), box))
    return shapes


def apart(a: tuple[int, ...], b: tuple[int, ...], gap: int) -> bool:
    return a[2] + gap <= b[0] or b[2] + gap <= a[0] or a[3] + gap <= b[1] or b[3] + gap <= a[1]


def place_on_grid(
    rng: random.Random,
    width: int,
    height: int,
    count: int,
    cell: int,
    colours: tuple[str, ...] = tuple(COLOURS),
    kinds: tuple[str, ...] = SHAPES,
) -> list[Shape]:
    """Place up to `count` shapes on a grid of `cell`-pixel cells, each filling one cell or a 2 x 2 block.

    With `cell` equal to a model's patch size every shape covers whole patches, so a shape of one kind and
    colour looks the same to the vision tower wherever it stands (see docs/synthetic-data.md).
    """
    cols, rows = width // cell, height // cell
    taken: set[tuple[int, int]] = set()
    shapes: list[Shape] = []
    for _ in range(count * 30):
        if len(shapes) == count:
            break
        n = rng.choice((1, 2)) if min(cols, rows) >= 2 else 1
        c, r = rng.randint(0, cols - n), rng.randint(0, rows - n)
        cells = {(c + i, r + j) for i in range(n) for j in range(n)}
        if cells & taken:
            continue
        taken |= cells
        box = (c * cell, r * cell, (c + n) * cell, (r + n) * cell)
        shapes.append(Shape(rng.choice(kinds), rng.choice(colours), box))
    return shapes


def draw_shape(draw: ImageDraw.ImageDraw, shape: Shape, fill: tuple[int, int, int] | None = None) -> None:
    """Draw `shape` so that its pixels span exactly its box."""
    x1, y1, x2, y2 = shape.box
    colour = fill or COLOURS[shape.colour]
    inner = (x1, y1, x2 - 1, y2 - 1)  # Pillow's shapes include their last pixel
    if shape.kind == "circle":
        draw.ellipse(inner, fill=colour)
    elif shape.kind == "square":
        draw.rectangle(inner, fill=colour)
    else:
        draw.polygon([((x1 + x2 - 1) / 2, y1), (x2 - 1, y2 - 1), (x1, y2 - 1)], fill=colour)


def gradient_background(width: int, height: int) -> Image.Image:
    """A pale background whose colour changes with position (x in one channel, y in another): every
    patch then carries where it is, as real images' content does, which tiny models need to learn to
    localise (Qwen2.5-VL's vision tower has no absolute position embeddings)."""
    x = Image.linear_gradient("L").resize((width, height)).transpose(Image.Transpose.ROTATE_90)
    y = Image.linear_gradient("L").resize((width, height))
    pale = Image.new("L", (width, height), 230)
    return Image.merge("RGB", (Image.blend(pale, x, 0.35), Image.blend(pale, y, 0.35), pale))


def render(width: int, height: int, shapes: list[Shape], background: tuple[int, int, int] | str) -> Image.Image:
    """An RGB image of the shapes on a plain background (a colour) or the "gradient" background."""
    if background == "gradient":
        image = gradient_background(width, height)
    else:
        image = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(image)
    for shape in shapes:
        draw_shape(draw, shape)
    return image
