"""Trees -> SFT chains in ViGoRL's published SFT format (`vigorl-sft`): single-turn chains, or multi-turn
zoom-in chains (docs/zoom.md) that `groundrl sft format=vigorl-sft` trains on as they are.

Multi-turn: the image is resized to the published frame (about 2.7-2.85 MP, sides multiples of 28) and
every point, the answer's included, is moved into that frame through the family's convention. Walking a
chain, the first mention of each new point ends an assistant turn with a tool call (up to `max_calls`),
and a user turn shows the crop (`groundrl.tools.zoom`); the reasoning after the last call stays in the
final turn, before the fixed "Based on all the information ..." think and the answer. With probability
`move_first_call` the first call moves to the end of the next sentence (order augmentation, seeded).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from PIL import Image

from groundrl.boxes import frame_for, smart_resize
from groundrl.data.images import load_image
from groundrl.data.pipeline import write_records
from groundrl.data.records import Record
from groundrl.jsonio import complete_lines
from groundrl.models.families import Family
from groundrl.search.chains import Chain, tree_chains
from groundrl.search.mcts import derive_seed
from groundrl.search.prompts import FINAL_THINK, multiturn_system_prompt
from groundrl.search.steps import POINT_RE, same_point
from groundrl.search.store import row_family
from groundrl.search.tree import Node
from groundrl.tools.zoom import CROP_TEXT, PRESETS, TOOL_NAME, Observation, ZoomPreset, zoom

MODES = ("single", "multi")
_BOX_RE = re.compile(r"\[\s*([-+\d.]+)\s*,\s*([-+\d.]+)\s*,\s*([-+\d.]+)\s*,\s*([-+\d.]+)\s*\]")
_SENTENCE_END = re.compile(r"[.!?](\s|$)")


@dataclass(frozen=True)
class LinearizeConfig:
    """How trees become chains.

    Attributes:
        mode: single or multi.
        cap: chains per tree at most.
        min_pixels, max_pixels: area of the multi-turn frame (sides multiples of 28).
        max_calls: tool calls per multi-turn chain at most (the zoom tool's 5 images: 4 crops).
        move_first_call: chance that the first call moves a sentence later (order augmentation).
        preset: the zoom preset of the crops (qa or web).
        crop_size: the crops' side instead of the preset's (smaller models, quick tests); None: the preset's.
        seed: of the order augmentation.
    """

    mode: str = "single"
    cap: int = 10_000
    min_pixels: int = 2_700_000
    max_pixels: int = 2_850_000
    max_calls: int = 4
    move_first_call: float = 0.2
    preset: str = "qa"
    crop_size: int | None = None
    seed: int = 0

    def zoom_preset(self) -> ZoomPreset:
        """The preset of the crops, with `crop_size` when given."""
        preset = PRESETS[self.preset]
        return replace(preset, size=self.crop_size) if self.crop_size else preset


def safe_name(tree_id: str) -> str:
    """A file name for an id: its safe characters and a short hash (ids `a/b` and `a_b` stay apart)."""
    digest = hashlib.blake2b(tree_id.encode(), digest_size=4).hexdigest()
    return re.sub(r"[^A-Za-z0-9_.-]", "_", tree_id)[:60] + "-" + digest


def _target(row: dict[str, Any], scale: Callable[[list[float]], list[float]] | None = None) -> dict[str, Any]:
    """The record fields of a tree's ground truth: the answer for qa, else the box (rescaled)."""
    if row["task"] == "qa" or not row.get("boxes"):
        return {"task": "qa", "answer": row.get("answer") or ""}
    box = row["boxes"][0]
    return {"task": "point", "boxes": [scale(box) if scale else box]}


def single_records(row: dict[str, Any], cfg: LinearizeConfig) -> Iterator[Record]:
    """One record per single-turn chain of a tree line."""
    for k, chain in enumerate(tree_chains(Node.from_dict(row["tree"]), cfg.cap)):
        messages = [
            {"role": "system", "content": row["system_prompt"]},
            {"role": "user", "content": "<image>" + row["question"]},
            {"role": "assistant", "content": chain.text()},
        ]
        yield Record(id=f"{row['id']}-{k}", images=[row["image"]], messages=messages, **_target(row))


@dataclass(frozen=True)
class ChainFrame:
    """The multi-turn frame of one tree: the resized image, and the map of a point in the search's frame
    (the family's convention over the original image) to the chain's (the same convention over it)."""

    image: Image.Image
    family: Family
    width: int
    height: int

    def point(self, xy: list[float]) -> list[float]:
        w, h = self.image.size
        original = self.family.frame(self.width, self.height).to_original(xy)
        resized = frame_for("resized", self.width, self.height, w, h).from_original(original)
        return self.family.frame(w, h).from_original(resized)

    def box(self, box: list[float]) -> list[float]:
        """A box in original pixels -> pixels of the resized image."""
        w, h = self.image.size
        return frame_for("resized", self.width, self.height, w, h).from_original(box)

    def rewrite(self, text: str) -> str:
        """Every inline (x, y) and [x1, y1, x2, y2] of a text moved into the chain's frame, as integers."""

        def point(m: re.Match) -> str:
            x, y = (round(v) for v in self.point([float(m.group(1)), float(m.group(2))]))
            return f"({x}, {y})"

        def box(m: re.Match) -> str:
            a = self.point([float(m.group(1)), float(m.group(2))])
            b = self.point([float(m.group(3)), float(m.group(4))])
            return "[" + ", ".join(str(round(v)) for v in (*a, *b)) + "]"

        return _BOX_RE.sub(box, POINT_RE.sub(point, text))


def chain_frame(row: dict[str, Any], cfg: LinearizeConfig) -> ChainFrame:
    """The tree's image resized to the published frame."""
    image = load_image(row["image"])
    width, height = image.size
    h, w = smart_resize(height, width, 28, cfg.min_pixels, cfg.max_pixels)
    return ChainFrame(image.resize((w, h), Image.Resampling.BICUBIC), row_family(row), width, height)


def _cuts(text: str, max_calls: int, move_first: bool) -> list[tuple[int, list[float]]]:
    """(end of turn, point) for each tool call: right after the first mention of each new point."""
    cuts: list[tuple[int, list[float]]] = []
    for m in POINT_RE.finditer(text):
        xy = [float(m.group(1)), float(m.group(2))]
        if len(cuts) >= max_calls or any(same_point(xy, p) for _, p in cuts):
            continue
        end = m.end() + (1 if text[m.end() : m.end() + 1] in (".", "!", "?") else 0)
        if end <= (cuts[-1][0] if cuts else 0):
            continue  # two new points in one place: one call per turn
        cuts.append((end, xy))
    if move_first and cuts:
        later = _SENTENCE_END.search(text, cuts[0][0] + 1)
        limit = cuts[1][0] if len(cuts) > 1 else len(text)
        if later and later.start() + 1 < limit:
            cuts[0] = (later.start() + 1, cuts[0][1])
    return cuts


def multi_turns(chain: Chain, frame: ChainFrame, cfg: LinearizeConfig, rng: random.Random) -> tuple[list, list]:
    """The assistant, tool-call and observation turns of one chain, and its crops in order."""
    text = frame.rewrite(" ".join(chain.steps))
    answer = frame.rewrite(chain.answer)
    turns: list[dict[str, str]] = []
    crops: list[Image.Image] = []
    start = 0
    for end, xy in _cuts(text, cfg.max_calls, rng.random() < cfg.move_first_call):
        call = json.dumps({"name": TOOL_NAME, "arguments": {"coordinate": [round(v) for v in xy]}})
        turns.append(
            {
                "role": "assistant",
                "content": f"<think>\n{text[start:end].strip()}\n</think>\n<tool_call>\n{call}\n</tool_call>",
            }
        )
        crop = zoom(frame.image, (xy[0], xy[1]), frame.family, cfg.zoom_preset()).image
        turns.append(Observation(CROP_TEXT, crop).as_message())
        crops.append(crop)
        start = end
    rest = text[start:].strip()  # the reasoning after the last call stays (ViGoRL dropped it)
    final = f"{rest} {FINAL_THINK}" if rest else FINAL_THINK
    turns.append({"role": "assistant", "content": f"<think>\n{final}\n</think>\n<answer> {answer} </answer>"})
    return turns, crops


def multi_records(row: dict[str, Any], cfg: LinearizeConfig, image_dir: Path) -> Iterator[Record]:
    """One record per multi-turn chain of a tree line; the resized image and the crops are written to
    `image_dir/<tree>/` under names no other tree or chain shares."""
    chains = tree_chains(Node.from_dict(row["tree"]), cfg.cap)
    if not chains:
        return
    frame = chain_frame(row, cfg)
    folder = image_dir / safe_name(str(row["id"]))
    folder.mkdir(parents=True, exist_ok=True)
    full = folder / "full.png"
    frame.image.save(full)
    w, h = frame.image.size
    system = multiturn_system_prompt(frame.family, w, h)
    for k, chain in enumerate(chains):
        rng = random.Random(derive_seed(cfg.seed, str(row["id"]), k))
        turns, crops = multi_turns(chain, frame, cfg, rng)
        paths = [str(full)]
        for j, crop in enumerate(crops):
            paths.append(str(folder / f"{k}-{j}.png"))
            crop.save(paths[-1])
        head = [{"role": "system", "content": system}, {"role": "user", "content": "<image>" + row["question"]}]
        sizes = [[w, h]] + [list(c.size) for c in crops]
        yield Record(f"{row['id']}-{k}", paths, sizes, messages=head + turns, **_target(row, frame.box))


def linearize(trees: Path, out: Path, cfg: LinearizeConfig) -> int:
    """Write every chain of every tree in `trees` to `out` (vigorl-sft); returns how many.

    Raises:
        ValueError: an unknown mode.
    """
    if cfg.mode not in MODES:
        raise ValueError(f"--mode {cfg.mode!r}: expected one of {', '.join(MODES)}")
    if cfg.preset not in PRESETS:
        raise ValueError(f"preset={cfg.preset!r}: expected one of {', '.join(PRESETS)}")
    rows = complete_lines(trees)
    image_dir = out.with_name(out.stem + "-images")
    make = single_records if cfg.mode == "single" else lambda row, c: multi_records(row, c, image_dir)
    return write_records((r for row in rows for r in make(row, cfg)), "vigorl-sft", out)
