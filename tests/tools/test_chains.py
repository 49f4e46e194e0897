"""Multi-turn zoom chains as data: ViGoRL's published shape read, validated and written back, the zoom
tool's observation turn equal to the converted one, and SFT on a chain learning the assistant turns only."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from PIL import Image

from groundrl.data.formats.vigorl import _TOOL_WRAP, _VIGORL_WRAP, rewrap_observations
from groundrl.data.pipeline import Source, read_sources, write_records
from groundrl.errors import InputError
from groundrl.models.families import FAMILIES
from groundrl.tools.zoom import PRESETS, ZoomSession
from groundrl.train import sft

FIX = Path(__file__).parents[1] / "data" / "fixtures"
IMG = FIX / "img"
CHAINS = FIX / "multiturn" / "vigorl-sft.jsonl"  # ViGoRL multi-turn chains, read by vigorl-sft
ROLES = ("system", "user", "assistant", "tool")
TOOL_TURN = "<tool_response>\nHere is the crop of the image centered on the coordinate:\n<image>\n</tool_response>"


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_published_chains_read_as_tool_response_turns_and_write_back_unchanged(tmp_path):
    mt1, mt2 = read_sources([Source(CHAINS, "vigorl-sft", IMG)])
    assert [m["role"] for m in mt1.messages] == [
        "system",
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
        "assistant",
    ]
    assert [m["content"] for m in mt1.messages if m["content"].startswith("<tool_response>")] == [TOOL_TURN] * 2
    assert (mt1.task, mt1.answer, mt1.image_token_count(), len(mt1.images)) == ("qa", "B", 3, 3)
    assert (mt2.task, mt2.boxes, mt2.image_token_count()) == ("point", [[10, 12, 30, 20]], 2)
    assert all("<observation>" not in m["content"] for r in (mt1, mt2) for m in r.messages)
    out = tmp_path / "back.jsonl"
    assert write_records([mt1, mt2], "vigorl-sft", out, image_root=IMG) == 2
    assert lines(out) == lines(CHAINS)
    native = tmp_path / "native.jsonl"  # GroundRL's own records keep the tool_response turns
    write_records([mt1, mt2], "groundrl", native, image_root=IMG)
    again = list(read_sources([Source(native, "groundrl", IMG)]))
    assert [r.messages for r in again] == [mt1.messages, mt2.messages]


def test_a_chain_whose_markers_do_not_match_its_images_is_refused(tmp_path):
    row = lines(CHAINS)[0]
    row["images"] = row["images"][:2]  # 3 markers, 2 images
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(row) + "\n")
    with pytest.raises(InputError, match="3 <image> placeholders for 2 images"):
        list(read_sources([Source(bad, "vigorl-sft", IMG)]))


def test_only_whole_wrapped_observation_turns_are_rewrapped():
    messages = [
        {"role": "assistant", "content": "<observation>\nmine\n</observation>"},  # the model's own text: kept
        {"role": "user", "content": "<observation>\n<image>\n</observation> and more"},  # not wrapped whole
        {"role": "tool", "content": "<observation>x</observation>"},
    ]
    out = rewrap_observations(messages, _VIGORL_WRAP, _TOOL_WRAP)
    assert [m["content"] for m in out] == [
        messages[0]["content"],
        messages[1]["content"],
        "<tool_response>x</tool_response>",
    ]
    assert rewrap_observations(out, _TOOL_WRAP, _VIGORL_WRAP) == messages


def test_the_zoom_tool_writes_the_same_observation_turn_as_the_converted_chains():
    session = ZoomSession(Image.new("RGB", (64, 48)), FAMILIES["qwen2.5-vl"], PRESETS["qa"])
    obs = session.step(
        '<tool_call>\n{"name": "search_coordinate", "arguments": {"coordinate": [20, 16]}}\n</tool_call>'
    )
    assert obs.as_message() == {"role": "user", "content": TOOL_TURN}


def turns(ids: list[int], tokenizer) -> list[tuple[str, int, int, int]]:
    """The chat turns of a token sequence: (role, start, body start, end), `<|im_start|>` to the next one."""
    start = tokenizer.convert_tokens_to_ids("<|im_start|>")
    starts = [k for k, tok in enumerate(ids) if tok == start] + [len(ids)]
    out = []
    for lo, hi in itertools.pairwise(starts):
        # the header is the role's name (and a newline the tiny vocabulary lacks): the body starts past it
        body = next(k for k in range(lo + 1, hi + 1) if tokenizer.decode(ids[lo + 1 : k]).strip() in ROLES)
        out.append((tokenizer.decode(ids[lo + 1 : body]).strip(), lo, body, hi))
    return out


@pytest.mark.parametrize("family", ["qwen2.5-vl", "qwen3-vl"])
def test_sft_on_a_chain_learns_assistant_turns_only_never_a_tool_response(tiny_models, tmp_path, family):
    cfg = sft.SFTRunConfig(
        model=str(tiny_models[family]),
        data=str(CHAINS),
        format="vigorl-sft",
        image_root=str(IMG),
        output_dir=str(tmp_path / "sft"),
        trl={"max_steps": 1},
    )
    trainer = sft.build_trainer(cfg)
    batch = trainer.data_collator([trainer.train_dataset[0]])
    labels, ids = batch["labels"][0].tolist(), batch["input_ids"][0].tolist()
    tokenizer = trainer.processing_class.tokenizer
    learned = {k for k, label in enumerate(labels) if label != -100}
    assert learned and all(labels[k] == ids[k] for k in learned)
    chat = turns(ids, tokenizer)
    assert [role for role, *_ in chat] == ["system", "user", "assistant", "user", "assistant", "user", "assistant"]
    bodies = {k for role, _, body, end in chat if role == "assistant" for k in range(body, end)}
    assert learned <= bodies  # every trained token lies inside an assistant turn, past its header
    tool_turns = [(lo, end) for role, lo, _, end in chat if "<tool_response>" in tokenizer.decode(ids[lo:end])]
    assert len(tool_turns) == 2 and not any(k in learned for lo, end in tool_turns for k in range(lo, end))
    text = tokenizer.decode([ids[k] for k in learned])
    # all three assistant turns are learned, both tool calls included; no image token, no observation
    assert text.count('{"name": "search_coordinate"') == 2 and text.count("<|im_end|>") == 3
    assert "<answer> B </answer>" in text and "<|image_pad|>" not in text and "crop of the image" not in text
    image_pad = tokenizer.convert_tokens_to_ids("<|image_pad|>")
    assert ids.count(image_pad) == int(batch["image_grid_thw"].prod(-1).sum()) // 4  # 3 images placed, 2 x 2 merge
    assert batch["image_grid_thw"].shape[0] == 3
