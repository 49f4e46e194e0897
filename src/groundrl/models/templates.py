"""The chat template of a tool run (the zoom tool in GRPO rollouts): one that renders tool calls and tool
responses, and that TRL can parse back into `reasoning_content`, `content` and `tool_calls`.

Every family in `FAMILIES` writes ChatML with Qwen's vision tokens, and TRL 1.16 ships one tool-capable VLM
template of that kind, `trl.chat_template_utils.qwen3_vl_chat_template` (Qwen3-VL Instruct's own), with its
response parser. What each family ships:

| family | its own template | with tools |
| --- | --- | --- |
| qwen2-vl, qwen2.5-vl | TRL's `qwen2_5_vl_chat_template` (byte-identical): renders no tools | replaced |
| qwen3-vl (Instruct) | TRL's `qwen3_vl_chat_template` | kept (the same text) |
| the tiny models (`models/tiny.py`) | ChatML without tools | replaced |

So a tool run sets TRL's Qwen3-VL template on every family: the same turn markers each family was trained
on, and tool turns as `<|im_start|>user\\n<tool_response>...</tool_response><|im_end|>`, the turns the SFT
chains carry (docs/zoom.md). Only the system turn differs from Qwen2/2.5-VL's (the tool list instead of
"You are a helpful assistant.").
"""

from __future__ import annotations

from typing import Any

from trl.chat_template_utils import add_response_schema, qwen3_vl_chat_template, supports_tool_calling

from groundrl.models.families import Family

# family name -> its tool template (see the table above); a family added to FAMILIES needs its entry
TOOL_TEMPLATES: dict[str, str] = {
    "qwen2-vl": qwen3_vl_chat_template,
    "qwen2.5-vl": qwen3_vl_chat_template,
    "qwen3-vl": qwen3_vl_chat_template,
}


def use_tool_template(processor: Any, family: Family) -> Any:
    """Set the tool template on a processor and its tokenizer, and TRL's parser of it on the tokenizer
    (`response_template`), so that `GRPOTrainer(environment_factory=...)` renders and parses tool turns.

    Args:
        processor: a Qwen-VL processor, as loaded for training.
        family: the model's family.

    Returns:
        The same processor.

    Raises:
        ValueError: the template cannot render a tool call and its response (never for the known families).
    """
    template = TOOL_TEMPLATES[family.name]
    processor.chat_template = template
    processor.tokenizer.chat_template = template
    if not supports_tool_calling(processor):
        raise ValueError(f"{family.name}: the tool chat template does not render tool calls")
    return add_response_schema(processor)
