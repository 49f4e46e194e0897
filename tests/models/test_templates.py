"""Every family's tool template renders a zoom call and its crop, and TRL parses the model's turn back."""

import pytest
from PIL import Image
from transformers import AutoProcessor
from trl.chat_template_utils import (
    is_chat_template_prefix_preserving,
    parse_response,
    qwen2_5_vl_chat_template,
    qwen3_vl_chat_template,
    supports_tool_calling,
)

from groundrl.models.families import FAMILIES
from groundrl.models.templates import TOOL_TEMPLATES, use_tool_template
from groundrl.tools.env import ZoomEnvironment
from groundrl.tools.zoom import CROP_TEXT, Observation

TOOLS = [ZoomEnvironment.search_coordinate]
CALL = {"type": "function", "function": {"name": "search_coordinate", "arguments": {"coordinate": [12, 34]}}}
# the parts the zoom environment returns to TRL, the crop as a bare image part (its pixels go in separately)
TOOL_PARTS = [
    {"type": "text", "text": p["text"]} if p["type"] == "text" else {"type": "image"}
    for p in Observation(CROP_TEXT, Image.new("RGB", (4, 4))).as_parts()
]
CONVERSATION = [
    {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What colour is the sign?"}]},
    {"role": "assistant", "content": "", "tool_calls": [CALL]},
    {"role": "tool", "name": "search_coordinate", "content": TOOL_PARTS},
]


def test_every_family_has_a_tool_template():
    assert set(TOOL_TEMPLATES) == set(FAMILIES)


def test_qwen2_vl_templates_render_no_tools_and_qwen3_vls_does(tiny_models):
    """TRL's copies of the shipped templates: Qwen2-VL / Qwen2.5-VL's (byte-identical) drops tool calls, which
    is why a tool run replaces it; Qwen3-VL Instruct's is the tool template itself."""
    processor = AutoProcessor.from_pretrained(tiny_models["qwen2.5-vl"])
    processor.chat_template = qwen2_5_vl_chat_template
    assert not supports_tool_calling(processor)
    processor.chat_template = qwen3_vl_chat_template
    assert supports_tool_calling(processor)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_the_template_renders_a_zoom_and_trl_parses_the_call(tiny_models, family):
    processor = use_tool_template(AutoProcessor.from_pretrained(tiny_models[family]), FAMILIES[family])
    tokenizer = processor.tokenizer
    assert is_chat_template_prefix_preserving(processor)  # what TRL's tool-suffix slicing relies on
    text = processor.apply_chat_template(CONVERSATION, tools=TOOLS, add_generation_prompt=True, tokenize=False)
    assert '"name": "search_coordinate"' in text.split("<|im_end|>")[0]  # the system turn lists the tool
    assert '<tool_call>\n{"name": "search_coordinate", "arguments": {"coordinate": [12, 34]}}\n</tool_call>' in text
    # the chain's observation turn (Observation.as_message), token for token: SFT, GRPO and eval agree
    crop_turn = f"<|im_start|>user\n<tool_response>\n{CROP_TEXT}\n<|vision_start|><|image_pad|><|vision_end|>\n"
    assert crop_turn + "</tool_response><|im_end|>\n<|im_start|>assistant\n" in text
    images = [Image.new("RGB", (64, 64)), Image.new("RGB", (64, 64))]
    batch = processor.apply_chat_template(
        CONVERSATION, tools=TOOLS, tokenize=True, return_dict=True, processor_kwargs={"images": images}
    )
    assert batch["image_grid_thw"].shape[0] == 2  # the image and the crop, each expanded

    prefix = tokenizer(text, add_special_tokens=False).input_ids
    turn = '<think>the sign is small</think>\n<tool_call>\n{"name": "search_coordinate", "arguments": '
    turn += '{"coordinate": [7, 9]}}\n</tool_call><|im_end|>'
    parsed = parse_response(tokenizer, tokenizer(turn, add_special_tokens=False).input_ids, prefix=prefix, tools=TOOLS)
    assert parsed["reasoning_content"] == "the sign is small" and parsed["content"] == ""
    assert parsed["tool_calls"] == [
        {"type": "function", "function": {"name": "search_coordinate", "arguments": {"coordinate": [7, 9]}}}
    ]
    answer = tokenizer("<think>red</think><answer>red</answer><|im_end|>", add_special_tokens=False).input_ids
    assert parse_response(tokenizer, answer, prefix=prefix, tools=TOOLS) == {
        "role": "assistant",
        "reasoning_content": "red",
        "content": "<answer>red</answer>",
    }
