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
        container: "jsonl" (one object per line), "json" (one array), "parquet" or "refcoco" (a folder).
        to_record: one item -> a record (jsonl and json containers).
        from_record: a record -> one item, for formats GroundRL writes.
        summary: one line for `groundrl data formats`.
    """

    name: str
    container: str
    summary: str
    to_record: Callable[[dict[str, Any], ReadContext], Record] | None = None
    from_record: Callable[[Record, WriteContext], dict[str, Any]] | None = None


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("groundrl", "jsonl", "GroundRL's unified records", native.to_record, native.from_record),
        Format(
            "vlm-r1", "jsonl", "VLM-R1 jsonl: id, image(s), conversations", vlmr1.vlmr1_to_record, vlmr1.from_record
        ),
        Format(
            "vigorl-eval",
            "jsonl",
            "ViGoRL evaluation / MCTS jsonl (conversations)",
            vlmr1.vigorl_eval_to_record,
            vlmr1.from_record,
        ),
        Format(
            "vigorl-rl", "jsonl", "ViGoRL RL jsonl: problem, answer, images", vigorl.rl_to_record, vigorl.rl_from_record
        ),
        Format(
            "vigorl-sft",
            "jsonl",
            "ViGoRL SFT chains: messages, images, gt_answer",
            vigorl.sft_to_record,
            vigorl.sft_from_record,
        ),
        Format(
            "egm-eval",
            "jsonl",
            "EGM RefCOCO evaluation: image, sent, bbox, height, width",
            egm.eval_to_record,
            egm.eval_from_record,
        ),
        Format(
            "egm-train",
            "jsonl",
            "EGM training: conversations with <box>[...]</box> on the 0-1000 grid",
            egm.train_to_record,
            egm.train_from_record,
        ),
        Format(
            "univg-rl",
            "json",
            "UniVG-R1 stage2_rl.json: question, answer (0-1000), images",
            univg.rl_to_record,
            univg.rl_from_record,
        ),
        Format(
            "sharegpt",
            "json",
            "ShareGPT / LLaMA-Factory SFT json: messages, images",
            univg.sharegpt_to_record,
            univg.sharegpt_from_record,
        ),
        Format(
            "screenspot",
            "json",
            "ScreenSpot v1/v2/Pro annotations: instruction, bbox",
            screenspot.to_record,
            screenspot.from_record,
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
