"""One generator per synthetic task. Each takes its own seeded RNG and returns a record and its images.

Every generator is deterministic for its RNG, so record i of a data set depends only on (seed, i).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

from groundrl.data.records import Record
from groundrl.synth.expressions import KINDS, attribute_expressions, choose_expression
from groundrl.synth.scene import (
    BACKGROUNDS,
    COLOURS,
    SHAPES,
    Shape,
    draw_shape,
    place_on_grid,
    place_shapes,
    render,
)

Example = tuple[Record, list[Image.Image]]
MAX_SCENE_DRAWS = 1000  # scenes drawn for one rec example before its options are called impossible


@dataclass(frozen=True)
class SynthOptions:
    """Knobs shared by the generators.

    Attributes:
        min_size, max_size: image sides are drawn from this range (pixels).
        min_shapes, max_shapes: shapes per scene.
        kinds: which kinds of referring expression to use for `rec`.
        background: "plain" (a light colour) or "gradient" (colour encodes position; see scene.py).
        grid: 0 places shapes freely; N snaps them to N-pixel cells (one cell or 2 x 2), for rec and
            multi_image. Use the model's patch size (16 for Qwen3-VL, 14 for Qwen2/2.5-VL).
        balance_kinds: rec draws the expression kind first (uniformly over `kinds`) and scenes until one
            allows it, so every kind is an equal share; False: a kind among those the scene allows, which
            makes kinds that need several shapes (superlatives) rare.
    """

    min_size: int = 192
    max_size: int = 384
    min_shapes: int = 3
    max_shapes: int = 6
    kinds: tuple[str, ...] = KINDS
    background: str = "plain"
    grid: int = 0
    balance_kinds: bool = False


def _shapes(rng: random.Random, width: int, height: int, opts: SynthOptions) -> list[Shape]:
    count = rng.randint(opts.min_shapes, opts.max_shapes)
    if opts.grid:
        return place_on_grid(rng, width, height, count, opts.grid)
    return place_shapes(rng, width, height, count)


def _size(rng: random.Random, opts: SynthOptions) -> tuple[int, int]:
    return rng.randint(opts.min_size, opts.max_size), rng.randint(opts.min_size, opts.max_size)


def make_rec(rng: random.Random, rec_id: str, opts: SynthOptions) -> Example:
    """A scene of shapes and one referring expression with its box."""
    kinds = (rng.choice(opts.kinds),) if opts.balance_kinds else opts.kinds
    for _ in range(MAX_SCENE_DRAWS):
        width, height = _size(rng, opts)
        shapes = _shapes(rng, width, height, opts)
        expression = choose_expression(rng, shapes, kinds)
        if expression is not None:
            break
    else:
        raise ValueError(f"no scene in {MAX_SCENE_DRAWS} draws allows a {'/'.join(kinds)} expression: {opts}")
    background = rng.choice(BACKGROUNDS)  # drawn either way: the same seed gives the same scenes
    image = render(width, height, shapes, "gradient" if opts.background == "gradient" else background)
    record = Record(
        id=rec_id,
        images=[f"images/{rec_id}.png"],
        image_sizes=[[width, height]],
        task="rec",
        question=expression.text,
        boxes=[list(shapes[expression.target].box)],
        source="synth/rec",
        meta={"kind": expression.kind, "shapes": len(shapes)},
    )
    return record, [image]


def make_multi_image(rng: random.Random, rec_id: str, opts: SynthOptions) -> Example:
    """Two to four scenes; the expression names a shape that exists in exactly one of them."""
    while True:
        count = rng.randint(2, 4)
        scenes = []
        for _ in range(count):
            width, height = _size(rng, opts)
            scenes.append((width, height, _shapes(rng, width, height, opts)))
        everywhere = [s.name for _, _, shapes in scenes for s in shapes]
        candidates = [
            (k, e)
            for k, (_, _, shapes) in enumerate(scenes)
            for e in attribute_expressions(shapes)
            if e.text == f"the {shapes[e.target].name}" and everywhere.count(shapes[e.target].name) == 1
        ]
        if candidates:
            break
    index, expression = rng.choice(candidates)
    images = [render(w, h, shapes, rng.choice(BACKGROUNDS)) for w, h, shapes in scenes]
    record = Record(
        id=rec_id,
        images=[f"images/{rec_id}-{k}.png" for k in range(count)],
        image_sizes=[[w, h] for w, h, _ in scenes],
        task="multi_image",
        question=expression.text,
        boxes=[list(scenes[index][2][expression.target].box)],
        image_index=index,
        source="synth/multi_image",
        meta={"kind": "attribute", "images": count},
    )
    return record, images


BUTTONS = ("Submit", "Cancel", "Search", "Login", "Save", "Help", "Settings", "Open", "Delete", "Next")
FIELDS = ("Email", "Name", "Password", "Phone", "Address", "City")
_FONT_SIZE = 14


def make_gui(rng: random.Random, rec_id: str, opts: SynthOptions) -> Example:
    """A screenshot-like form with labelled buttons and fields; the target is a point in one element."""
    width, height = rng.randint(320, 480), rng.randint(240, 360)
    image = Image.new("RGB", (width, height), (248, 248, 250))
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(_FONT_SIZE)
    draw.rectangle((0, 0, width - 1, 23), fill=(60, 90, 140))
    draw.text((8, 4), "GroundRL Form", fill=(255, 255, 255), font=font)
    labels = rng.sample(FIELDS, rng.randint(1, 3)) + rng.sample(BUTTONS, rng.randint(2, 4))
    elements = []
    y = 36
    for label in labels:
        is_field = label in FIELDS
        w = rng.randint(140, min(260, width - 20)) if is_field else rng.randint(70, 110)
        h = rng.randint(24, 30)
        x = rng.randint(10, width - w - 10)
        if y + h > height - 4:
            break
        box = (x, y, x + w, y + h)
        if is_field:
            draw.rectangle((x, y, x + w - 1, y + h - 1), fill=(255, 255, 255), outline=(150, 150, 160))
            draw.text((x + 6, y + 5), label, fill=(150, 150, 150), font=font)
        else:
            colour = rng.choice(list(COLOURS.values()))
            draw.rounded_rectangle((x, y, x + w - 1, y + h - 1), radius=6, fill=colour)
            draw.text((x + 8, y + 5), label, fill=(255, 255, 255), font=font)
        elements.append((label, "field" if is_field else "button", box))
        y += h + rng.randint(8, 20)
    label, kind, box = rng.choice(elements)
    instruction = f"click the {label} {kind}" if kind == "button" else f"click the {label} field"
    record = Record(
        id=rec_id,
        images=[f"images/{rec_id}.png"],
        image_sizes=[[width, height]],
        task="point",
        question=instruction,
        boxes=[list(box)],
        point=[(box[0] + box[2]) / 2, (box[1] + box[3]) / 2],
        source="synth/gui",
        meta={"ui_type": kind, "platform": "synthetic", "elements": len(elements)},
    )
    return record, [image]


QA_GRAY = (150, 150, 150)


def make_region_qa(rng: random.Random, rec_id: str, opts: SynthOptions) -> Example:
    """A large image of gray distractors and one small coloured shape; the question asks its colour,
    as a multiple choice. The answer needs a close look at a small region (V*Bench style)."""
    width, height = rng.randint(480, 640), rng.randint(360, 480)
    shapes = place_shapes(rng, width, height, rng.randint(8, 14), min_frac=0.03, max_frac=0.08)
    target_i = rng.randrange(len(shapes))
    target = shapes[target_i]
    image = Image.new("RGB", (width, height), rng.choice(BACKGROUNDS))
    draw = ImageDraw.Draw(image)
    for i, shape in enumerate(shapes):
        draw_shape(draw, shape, None if i == target_i else QA_GRAY)
    choices = [*rng.sample([c for c in COLOURS if c != target.colour], 3), target.colour]
    rng.shuffle(choices)
    options = " ".join(f"({chr(65 + k)}) {c}" for k, c in enumerate(choices))
    record = Record(
        id=rec_id,
        images=[f"images/{rec_id}.png"],
        image_sizes=[[width, height]],
        task="qa",
        question=f"What is the colour of the coloured {target.kind}? {options}",
        boxes=[list(target.box)],
        answer=target.colour,
        choices=choices,
        source="synth/region_qa",
        meta={"shape": target.kind, "region_frac": target.area / (width * height)},
    )
    return record, [image]


GENERATORS: dict[str, Callable[[random.Random, str, SynthOptions], Example]] = {
    "rec": make_rec,
    "multi_image": make_multi_image,
    "gui": make_gui,
    "region_qa": make_region_qa,
}

__all__ = ["GENERATORS", "SHAPES", "Shape", "SynthOptions"]
