"""Visual search: a large image, a small target among distractors, a question answerable only up close.

Three kinds of question (`VisualSearchOptions.ask`):
- letter: every shape carries a letter. "What letter is on the red square?" The target is found at any size
  (its colour and kind are unique), but its letter must be read;
- colour: "What colour is the shape marked K?" The colours are seen at any size, but which shape carries
  the K must be read;
- dot: "What colour is the dot inside the black ring?" Small dots of every colour are strewn over the
  image; the target is the one a thin ring circles. A downscale shrinks the dot under a pixel, blended with
  the background, and a crop shows its colour filling a patch: a detail lost, not only a place to look.
  With `place="centre"` the ring is at the image's centre (within half a dot's side), so where to look is
  known and only whether to look is learned (the tiny-model GRPO benchmark, BENCHMARKS.md).

Once a model's pixel budget shrinks the image, the letters (or the dot) are a pixel or two: the answer is
lost, and a crop at the target (the zoom tool) restores it. Records carry the target's box, so point-in-box
and an oracle zoom point exist; `synth.chains.chain_example` turns a record into ViGoRL's multi-turn chain.
Images are drawn in palette mode with one flat colour per shape, so that a 2048 px PNG encodes in ~15 ms.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

from groundrl.boxes.geometry import box_center
from groundrl.data.records import Record
from groundrl.models.families import Family
from groundrl.synth.scene import BACKGROUNDS, COLOURS, Shape, apart, draw_shape, place_shapes
from groundrl.tools.zoom import ZoomPreset, zoom

Example = tuple[Record, list[Image.Image]]

ASKS = ("letter", "colour", "dot")
PLACES = ("anywhere", "centre")
KINDS = ("square", "circle")  # a letter fits inside both
# no A-F: an answer "B" would read as the option letter (B) (boxes.answers.choice_of)
LETTERS = "HKLMNPRTVXYZ"
LETTER_SCALE = 0.7  # letter height over the shape's side
DARK_TEXT = (20, 20, 20)
LIGHT_TEXT = (255, 255, 255)
RING_INK = (20, 20, 20)
RING_SCALE = 3  # the ring's radius over the dot's side


@dataclass(frozen=True)
class VisualSearchOptions:
    """Knobs of the visual-search task.

    Attributes:
        min_size, max_size: image sides are drawn from this range (pixels).
        min_target, max_target: side of every shape, target and distractors alike (pixels).
        min_distractors, max_distractors: shapes besides the target (fewer when the image is crowded).
        choices: options of the multiple-choice question (2 or more); 0 asks for a short answer.
        ask: "letter" (read the letter on a named shape), "colour" (the colour of the shape with a letter) or
            "dot" (the colour of the dot inside the ring; shapes are dots of side min_target..max_target).
        letters: the letters shapes carry (none of A-F, which read as option letters).
        gap: least distance between two shapes (pixels), so that a crop shows one shape whole.
        place: where the target is: "anywhere", or "centre" (within half a shape's side of the image's centre).
    """

    min_size: int = 1024
    max_size: int = 2048
    min_target: int = 16
    max_target: int = 24
    min_distractors: int = 12
    max_distractors: int = 24
    choices: int = 4
    ask: str = "letter"
    letters: str = LETTERS
    gap: int = 8
    place: str = "anywhere"

    def __post_init__(self) -> None:
        errors = [
            *(["min_size > max_size"] if self.min_size > self.max_size else []),
            *(["min_target > max_target"] if self.min_target > self.max_target else []),
            *([f"min_target must be at least {self.least_target} px"] if self.min_target < self.least_target else []),
            *([f"place must be one of {', '.join(PLACES)}"] if self.place not in PLACES else []),
            *(["max_target must be under a quarter of min_size"] if 4 * self.max_target > self.min_size else []),
            *(["min_distractors > max_distractors"] if self.min_distractors > self.max_distractors else []),
            *([f"ask must be one of {', '.join(ASKS)}"] if self.ask not in ASKS else []),
            *(["choices must be 0 (short answer) or 2 or more"] if self.choices == 1 or self.choices < 0 else []),
            *(["letters must be distinct and none of A-F"] if _bad_letters(self.letters) else []),
            *(self._too_many_choices()),
        ]
        if errors:
            raise ValueError(f"VisualSearchOptions: {'; '.join(errors)}")

    @property
    def least_target(self) -> int:
        """The smallest shape side the question allows: a letter needs 6 px of an 8 px shape, a dot 2 px."""
        return 2 if self.ask == "dot" else 8

    def _too_many_choices(self) -> list[str]:
        pool = len(self.letters) if self.ask == "letter" else len(COLOURS)
        if self.choices > pool:
            noun = "letter" if self.ask == "letter" else "colour"
            return [f"{self.choices} choices but only {pool} {noun}s to choose from"]
        if self.ask == "colour" and self.choices > self.min_distractors + 1:
            return [f"{self.choices} colour choices need at least {self.choices - 1} distractors"]
        return []


def _bad_letters(letters: str) -> bool:
    distinct = len(set(letters)) == len(letters) >= 2
    return not distinct or any(c in "ABCDEF" or not c.isalpha() for c in letters)


@dataclass(frozen=True)
class Item:
    """A shape and the letter drawn on it."""

    shape: Shape
    letter: str


@dataclass(frozen=True)
class Scene:
    """What an image shows; `target` indexes `items`."""

    width: int
    height: int
    background: tuple[int, int, int]
    items: tuple[Item, ...]
    target: int
    ring: int = 0  # radius of a ring around the target (pixels); 0: none

    @property
    def target_item(self) -> Item:
        return self.items[self.target]

    def with_target_letter(self, letter: str) -> Scene:
        """The same scene with another letter on the target (to measure what a resize keeps of it)."""
        items = list(self.items)
        items[self.target] = dataclasses.replace(self.target_item, letter=letter)
        return dataclasses.replace(self, items=tuple(items))


def make_scene(rng: random.Random, opts: VisualSearchOptions) -> Scene:
    """Place the shapes, choose the target and give every shape a letter (the target's own for `colour`);
    for `dot`, see `make_dot_scene`."""
    if opts.ask == "dot":
        return make_dot_scene(rng, opts)
    if opts.place == "centre":
        raise ValueError("place='centre' is implemented for ask='dot' only")
    while True:
        width, height = rng.randint(opts.min_size, opts.max_size), rng.randint(opts.min_size, opts.max_size)
        short = min(width, height)
        count = 1 + rng.randint(opts.min_distractors, opts.max_distractors)
        fracs = ((opts.min_target + 0.5) / short, (opts.max_target + 0.5) / short)
        shapes = place_shapes(rng, width, height, count, *fracs, kinds=KINDS, gap=opts.gap)
        if len(shapes) >= max(2, opts.choices if opts.ask == "colour" else 2):
            break
    target = rng.randrange(len(shapes))
    shapes = _distinct_target(rng, shapes, target, opts)
    target_letter = rng.choice(opts.letters)
    others = [c for c in opts.letters if c != target_letter] if opts.ask == "colour" else opts.letters
    letters = [target_letter if i == target else rng.choice(others) for i in range(len(shapes))]
    items = tuple(Item(s, c) for s, c in zip(shapes, letters, strict=True))
    return Scene(width, height, rng.choice(BACKGROUNDS), items, target)


def make_dot_scene(rng: random.Random, opts: VisualSearchOptions) -> Scene:
    """Dots of one side (`min_target`..`max_target`) and every colour, the target circled by a ring of radius
    `RING_SCALE` sides; no other dot comes within two sides of the ring, so a crop at the ring shows one dot."""
    width, height = rng.randint(opts.min_size, opts.max_size), rng.randint(opts.min_size, opts.max_size)
    side = rng.randint(opts.min_target, opts.max_target)
    ring = RING_SCALE * side
    if opts.place == "centre":
        x1 = width // 2 - side // 2 + rng.randint(-side // 2, side // 2)
        y1 = height // 2 - side // 2 + rng.randint(-side // 2, side // 2)
    else:
        x1 = rng.randint(ring + side, width - ring - 2 * side)
        y1 = rng.randint(ring + side, height - ring - 2 * side)
    target = Shape("circle", rng.choice(list(COLOURS)), (x1, y1, x1 + side, y1 + side))
    clear = ring + 2 * side + side / 2  # least distance between the target's centre and another dot's
    shapes = [target]
    count = 1 + rng.randint(opts.min_distractors, opts.max_distractors)
    for _ in range(count * 30):
        if len(shapes) == count:
            break
        x, y = rng.randint(0, width - side), rng.randint(0, height - side)
        box = (x, y, x + side, y + side)
        far = math.dist(target.center, (x + side / 2, y + side / 2)) >= clear
        if far and all(apart(box, s.box, opts.gap) for s in shapes[1:]):
            shapes.append(Shape("circle", rng.choice(list(COLOURS)), box))
    items = tuple(Item(s, "") for s in shapes)
    return Scene(width, height, rng.choice(BACKGROUNDS), items, 0, ring=ring)


def _distinct_target(rng: random.Random, shapes: list[Shape], target: int, opts: VisualSearchOptions) -> list[Shape]:
    """Recolour distractors so that the question has one answer: for `letter`, no other shape shares the
    target's colour and kind; for `colour`, every option colour is on some shape (so colours alone tell
    nothing)."""
    out = list(shapes)
    if opts.ask == "letter":
        name = out[target].name
        for i, s in enumerate(out):
            if i != target and s.name == name:
                out[i] = dataclasses.replace(s, colour=rng.choice([c for c in COLOURS if c != s.colour]))
        return out
    others = [i for i in range(len(out)) if i != target]
    shown = rng.sample([c for c in COLOURS if c != out[target].colour], max(opts.choices, 2) - 1)
    for i, colour in zip(rng.sample(others, len(shown)), shown, strict=True):
        out[i] = dataclasses.replace(out[i], colour=colour)
    return out


@functools.lru_cache(maxsize=64)
def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.load_default(size)


def render_scene(scene: Scene) -> Image.Image:
    """The scene as a palette image (flat colours, letters without anti-aliasing, the ring if any)."""
    image = Image.new("P", (scene.width, scene.height), scene.background)
    draw = ImageDraw.Draw(image)
    draw.fontmode = "1"
    if scene.ring:
        cx, cy = scene.target_item.shape.center
        r = scene.ring
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=RING_INK, width=max(1, r // 12))
    for item in scene.items:
        shape = item.shape
        draw_shape(draw, shape)
        r, g, b = COLOURS[shape.colour]
        ink = DARK_TEXT if 0.299 * r + 0.587 * g + 0.114 * b > 150 else LIGHT_TEXT
        side = shape.box[2] - shape.box[0]
        if not item.letter:
            continue
        draw.text(shape.center, item.letter, fill=ink, font=_font(round(side * LETTER_SCALE)), anchor="mm")
    return image


def question_for(rng: random.Random, scene: Scene, opts: VisualSearchOptions) -> tuple[str, str, list[str] | None]:
    """(question, answer, choices); choices is None for a short answer."""
    item = scene.target_item
    if opts.ask == "dot":
        text, answer = "What colour is the small dot inside the black ring?", item.shape.colour
        pool = list(COLOURS)
    elif opts.ask == "letter":
        text, answer, pool = f"What letter is on the {item.shape.name}?", item.letter, list(opts.letters)
    else:
        text, answer = f"What colour is the shape marked with the letter {item.letter}?", item.shape.colour
        pool = sorted({i.shape.colour for i in scene.items})
    if not opts.choices:
        return f"{text} Answer with one word.", answer, None
    choices = [answer, *rng.sample([c for c in pool if c != answer], opts.choices - 1)]
    rng.shuffle(choices)
    options = " ".join(f"({chr(65 + k)}) {c}" for k, c in enumerate(choices))
    return f"{text} {options}", answer, choices


def make_visual_search(rng: random.Random, rec_id: str, opts: VisualSearchOptions) -> Example:
    """One visual-search image and its question, with the target's box."""
    scene = make_scene(rng, opts)
    question, answer, choices = question_for(rng, scene, opts)
    target = scene.target_item
    record = Record(
        id=rec_id,
        images=[f"images/{rec_id}.png"],
        image_sizes=[[scene.width, scene.height]],
        task="qa",
        question=question,
        boxes=[list(target.shape.box)],
        answer=answer,
        choices=choices,
        source="synth/visual_search",
        meta={
            "ask": opts.ask,
            "place": opts.place,
            "target": target.shape.name,
            "letter": target.letter,
            "shapes": len(scene.items),
            "region_frac": target.shape.area / (scene.width * scene.height),
        },
    )
    return record, [render_scene(scene)]


def min_contrast(images: Sequence[Image.Image], box: Sequence[float]) -> float:
    """The smallest mean absolute difference (grey levels, 0-255, over RGB) between any two images of the
    same size inside `box` (pixels of those images, widened to whole pixels): how well the most alike pair
    can still be told apart there. Renders that differ only in the target's letter, resized to what a model
    sees, measure whether the letter survives the resize.

    >>> a, b = Image.new("RGB", (4, 4)), Image.new("RGB", (4, 4), (30, 0, 0))
    >>> min_contrast([a, b], (0, 0, 2, 2))
    10.0
    """
    window = (math.floor(box[0]), math.floor(box[1]), math.ceil(box[2]), math.ceil(box[3]))
    regions = [list(im.convert("RGB").crop(window).getdata()) for im in images]
    n = len(regions[0]) * 3
    return min(
        sum(abs(p - q) for u, v in zip(a, b, strict=True) for p, q in zip(u, v, strict=True)) / n
        for a, b in itertools.combinations(regions, 2)
    )


@dataclass(frozen=True)
class Legibility:
    """How well the target's letter can be told from other letters (`min_contrast`, grey levels) in the
    image at full resolution, in the image as the model sees it (resized to its family's input size) and in
    the zoom tool's crop at the target."""

    full: float
    seen: float
    crop: float


def legibility(scene: Scene, letters: Sequence[str], family: Family, preset: ZoomPreset) -> Legibility:
    """Render the scene once per letter on the target and measure, inside the target's box, how far apart
    the most alike two renders are at full resolution, after the family's resize and in the crop."""
    images = [render_scene(scene.with_target_letter(c)).convert("RGB") for c in letters]
    box = scene.target_item.shape.box
    seen_w, seen_h = family.input_size(scene.width, scene.height)
    seen = [im.resize((seen_w, seen_h), Image.Resampling.BICUBIC) for im in images]
    sx, sy = seen_w / scene.width, seen_h / scene.height
    point = family.frame(scene.width, scene.height).from_original(list(box_center(box)))
    crops = [zoom(im, point, family, preset) for im in images]
    x0, y0, x1, y1 = crops[0].window
    cx, cy = crops[0].image.width / (x1 - x0), crops[0].image.height / (y1 - y0)
    return Legibility(
        full=min_contrast(images, box),
        seen=min_contrast(seen, (box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy)),
        crop=min_contrast(
            [c.image for c in crops], ((box[0] - x0) * cx, (box[1] - y0) * cy, (box[2] - x0) * cx, (box[3] - y0) * cy)
        ),
    )
