"""The published grounding formats, each read into (and some written from) the unified record.

`FORMATS` maps a format's name to how it is stored and converted; docs/data-formats.md documents each.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from groundrl.data.formats import egm, native, screenspot, univg, vigorl, vlmr1
from groundrl.data.formats.base import ReadContext, WriteContext
from groundrl.data.records import Record


@dataclass(frozen=True)
class Format:
    """How one published format is stored and converted.

    Attributes:
        name: what `--from` / `--to` take.
        container: what GroundRL writes: "jsonl" (one object per line), "json" (one array), "parquet" or
            "refcoco" (a folder). Readers of jsonl and json formats take either, whichever the file holds.
        to_record: one item -> a record (jsonl and json containers).
        from_record: a record -> one item, for formats GroundRL writes.
        summary: one line for `groundrl data formats`.
        keys: the keys that mark an item of this format, for the hint on a file read in the wrong format;
            empty for a format that shares another's shape and is never suggested.
    """

    name: str
    container: str
    summary: str
    to_record: Callable[[dict[str, Any], ReadContext], Record] | None = None
    from_record: Callable[[Record, WriteContext], dict[str, Any]] | None = None
    keys: tuple[str, ...] = ()


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format(
            "groundrl", "jsonl", "GroundRL's unified records", native.to_record, native.from_record, ("id", "images")
        ),
        Format(
            "vlm-r1",
            "jsonl",
            "VLM-R1 jsonl: id, image(s), conversations",
            vlmr1.vlmr1_to_record,
            vlmr1.from_record,
            ("image", "conversations"),
        ),
        Format(
            "qwen-vl",
            "json",
            "Qwen qwen-vl-finetune / EGM SFT json: VLM-R1's items in one array",
            vlmr1.vlmr1_to_record,
            vlmr1.from_record,
            ("image", "conversations"),
        ),
        Format(
            "vigorl-eval",
            "jsonl",
            "ViGoRL evaluation / MCTS jsonl (conversations)",
            vlmr1.vigorl_eval_to_record,
            vlmr1.vigorl_eval_from_record,
        ),
        Format(
            "vigorl-rl",
            "jsonl",
            "ViGoRL RL jsonl: problem, answer, images",
            vigorl.rl_to_record,
            vigorl.rl_from_record,
            ("problem", "answer", "images"),
        ),
        Format(
            "vigorl-sft",
            "jsonl",
            "ViGoRL SFT chains: messages, images, gt_answer",
            vigorl.sft_to_record,
            vigorl.sft_from_record,
            ("messages", "images", "gt_answer"),
        ),
        Format(
            "egm-eval",
            "jsonl",
            "EGM RefCOCO evaluation: image, sent, bbox, height, width",
            egm.eval_to_record,
            egm.eval_from_record,
            ("image", "sent", "bbox"),
        ),
        Format(
            "egm-train",
            "jsonl",
            "EGM training: conversations with <box>[...]</box> on the 0-1000 grid",
            egm.train_to_record,
            egm.train_from_record,
            ("image", "conversations", "height", "width"),
        ),
        Format(
            "univg-rl",
            "json",
            "UniVG-R1 stage2_rl.json: question, answer (0-1000), images",
            univg.rl_to_record,
            univg.rl_from_record,
            ("question", "answer", "images"),
        ),
        Format(
            "sharegpt",
            "json",
            "ShareGPT / LLaMA-Factory SFT json: messages, images",
            univg.sharegpt_to_record,
            univg.sharegpt_from_record,
            ("messages", "images"),
        ),
        Format(
            "screenspot",
            "json",
            "ScreenSpot v1/v2/Pro annotations: instruction, bbox",
            screenspot.to_record,
            screenspot.from_record,
            ("img_filename", "bbox", "instruction"),
        ),
        Format("refcoco", "refcoco", "RefCOCO/+/g raw annotations: refs(unc|umd).p + instances.json"),
        Format("parquet", "parquet", "Parquet of unified records, for datasets"),
    )
}
WRITABLE = (*(name for name, f in FORMATS.items() if f.from_record is not None), "parquet")


class UnknownFormatError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def get_format(name: str) -> Format:
    """Look a format up by name.

    Raises:
        UnknownFormatError: naming the known formats.
    """
    if name not in FORMATS:
        raise UnknownFormatError(f"unknown format {name!r}; known: {', '.join(FORMATS)}")
    return FORMATS[name]


def format_hint(item: Any, chosen: str, array: bool) -> str:
    """A hint naming the format an item (a file's first) looks like, or "" when it looks like `chosen`'s
    or like none: the format whose marking keys the item has, the most keys winning, then the one whose
    container the file has.

    >>> format_hint({"messages": [], "images": []}, "groundrl", array=True)
    'looks like a JSON array of sharegpt items (messages, images): try -f sharegpt'
    """
    if not isinstance(item, dict):
        return ""
    container = "json" if array else "jsonl"
    matches = [f for f in FORMATS.values() if f.keys and all(k in item for k in f.keys)]
    if not matches:
        return ""
    best = max(matches, key=lambda f: (len(f.keys), f.container == container))
    same_reader = FORMATS[chosen].to_record is best.to_record if chosen in FORMATS else False
    if best.name == chosen or same_reader:
        return ""
    holder = "a JSON array" if array else "JSONL"
    return f"looks like {holder} of {best.name} items ({', '.join(best.keys)}): try -f {best.name}"
