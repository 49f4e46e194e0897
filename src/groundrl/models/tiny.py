"""Tiny random-initialised Qwen-VL models of the real architectures, built offline in code.

A tiny model is an ordinary checkpoint folder: `AutoModelForImageTextToText.from_pretrained(dir)` and
`AutoProcessor.from_pretrained(dir)` load it exactly as they load `Qwen/Qwen2.5-VL-3B-Instruct`. Only
the sizes are small; nothing downstream knows or asks whether a model is tiny.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import (
    AutoModelForImageTextToText,
    PretrainedConfig,
    PreTrainedModel,
    ProcessorMixin,
    Qwen2_5_VLConfig,
    Qwen2_5_VLProcessor,
    Qwen2VLConfig,
    Qwen2VLImageProcessor,
    Qwen2VLProcessor,
    Qwen2VLVideoProcessor,
    Qwen3VLConfig,
    Qwen3VLProcessor,
    Qwen3VLVideoProcessor,
)

from groundrl.models.families import get_family
from groundrl.models.tokenizer import train_tokenizer

log = logging.getLogger(__name__)

# ChatML with Qwen's vision tokens. `{% generation %}` marks assistant text so that trainers can
# compute the loss on assistant tokens only (return_assistant_tokens_mask).
CHAT_TEMPLATE = (
    "{%- macro render(content) -%}"
    "{%- if content is string -%}{{ content }}"
    "{%- else -%}{%- for part in content -%}"
    "{%- if part['type'] == 'image' or 'image' in part or 'image_url' in part -%}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{%- elif part['type'] == 'video' or 'video' in part -%}<|vision_start|><|video_pad|><|vision_end|>"
    "{%- elif 'text' in part -%}{{ part['text'] }}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
    "{%- endmacro -%}"
    "{%- for message in messages -%}"
    "<|im_start|>{{ message['role'] }}\n"
    "{%- if message['role'] == 'assistant' -%}"
    "{% generation %}{{ render(message['content']) }}<|im_end|>{% endgeneration %}\n"
    "{%- else -%}{{ render(message['content']) }}<|im_end|>\n{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}<|im_start|>assistant\n{%- endif -%}"
)


@dataclass(frozen=True)
class TinySpec:
    """Sizes of a tiny model. Defaults give about a million parameters and CPU-speed generation."""

    text_hidden: int = 128
    text_layers: int = 2
    text_heads: int = 4
    text_kv_heads: int = 2
    text_intermediate: int = 256
    vision_hidden: int = 64
    vision_depth: int = 2
    vision_heads: int = 4
    vision_intermediate: int = 128
    vocab_size: int = 512
    min_pixels: int | None = None  # None: the family's processor default
    max_pixels: int | None = None
    seed: int = 0
    # Qwen3-VL's vision position table: "random" (the library's N(0, 0.02) init) or "sincos", a fixed 2D
    # sine-cosine table of this scale, smooth as a trained table is: a visual token then carries where it
    # is in its own features (docs/training.md, the demo).
    vision_position_init: str = "random"
    vision_position_scale: float = 1.0


def _mrope_section(head_dim: int, interleaved: bool) -> list[int]:
    """Split head_dim / 2 rotary frequencies over (time, height, width) like the real configs."""
    half = head_dim // 2
    if interleaved:  # Qwen3-VL: [24, 20, 20] of 64
        hw = half * 5 // 16
        return [half - 2 * hw, hw, hw]
    t = half // 4  # Qwen2/2.5-VL: [16, 24, 24] of 64
    return [t, (half - t) // 2, half - t - (half - t) // 2]


def _text_config(spec: TinySpec, vocab: int, ids: dict[str, int], interleaved: bool) -> dict:
    head_dim = spec.text_hidden // spec.text_heads
    rope = {"rope_type": "default", "mrope_section": _mrope_section(head_dim, interleaved)}
    if interleaved:
        rope["mrope_interleaved"] = True
    return {
        "vocab_size": vocab,
        "hidden_size": spec.text_hidden,
        "intermediate_size": spec.text_intermediate,
        "num_hidden_layers": spec.text_layers,
        "num_attention_heads": spec.text_heads,
        "num_key_value_heads": spec.text_kv_heads,
        "head_dim": head_dim,
        "max_position_embeddings": 4096,
        "rope_parameters": rope,
        "bos_token_id": ids["<|endoftext|>"],
        "eos_token_id": ids["<|im_end|>"],
        "pad_token_id": ids["<|endoftext|>"],
    }


def build_config(family_name: str, spec: TinySpec, token_ids: dict[str, int], vocab: int) -> PretrainedConfig:
    """The model config of a tiny member of `family_name`, with token ids taken from its tokenizer."""
    family = get_family(family_name)
    special = {
        "image_token_id": token_ids["<|image_pad|>"],
        "video_token_id": token_ids["<|video_pad|>"],
        "vision_start_token_id": token_ids["<|vision_start|>"],
        "vision_end_token_id": token_ids["<|vision_end|>"],
    }
    vision = {"depth": spec.vision_depth, "num_heads": spec.vision_heads}
    if family.name == "qwen2-vl":
        vision |= {"embed_dim": spec.vision_hidden, "hidden_size": spec.text_hidden, "mlp_ratio": 2}
        return Qwen2VLConfig(text_config=_text_config(spec, vocab, token_ids, False), vision_config=vision, **special)
    vision |= {
        "hidden_size": spec.vision_hidden,
        "intermediate_size": spec.vision_intermediate,
        "out_hidden_size": spec.text_hidden,
    }
    if family.name == "qwen2.5-vl":
        vision |= {"window_size": 112, "fullatt_block_indexes": [spec.vision_depth - 1]}
        return Qwen2_5_VLConfig(
            text_config=_text_config(spec, vocab, token_ids, False), vision_config=vision, **special
        )
    vision |= {"num_position_embeddings": 256, "deepstack_visual_indexes": [0]}
    return Qwen3VLConfig(text_config=_text_config(spec, vocab, token_ids, True), vision_config=vision, **special)


def build_processor(family_name: str, spec: TinySpec) -> ProcessorMixin:
    """The real processor classes of `family_name` around the offline tokenizer."""
    family = get_family(family_name)
    tokenizer = train_tokenizer(spec.vocab_size)
    patch = family.patch_size
    size = {
        "shortest_edge": spec.min_pixels or family.min_pixels,
        "longest_edge": spec.max_pixels or family.max_pixels,
    }
    image_processor = Qwen2VLImageProcessor(size=size, patch_size=patch, merge_size=2, temporal_patch_size=2)
    if family.name == "qwen3-vl":
        video = Qwen3VLVideoProcessor(patch_size=patch, merge_size=2, temporal_patch_size=2)
        return Qwen3VLProcessor(image_processor, tokenizer, video, chat_template=CHAT_TEMPLATE)
    video = Qwen2VLVideoProcessor(patch_size=patch, merge_size=2, temporal_patch_size=2)
    processor_cls = Qwen2VLProcessor if family.name == "qwen2-vl" else Qwen2_5_VLProcessor
    return processor_cls(image_processor, tokenizer, video, chat_template=CHAT_TEMPLATE)


def sincos_table(side: int, dim: int) -> torch.Tensor:
    """A (side * side, dim) table, row-major over a side x side grid: sines and cosines of x and of y at
    dim // 4 frequencies each, from pi per cell down to about pi per side.

    >>> sincos_table(4, 8).shape
    torch.Size([16, 8])
    """
    quarter = dim // 4
    freq = torch.pi / side ** (torch.arange(quarter) / quarter)
    ys, xs = torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij")
    ax, ay = xs.flatten()[:, None] * freq, ys.flatten()[:, None] * freq
    table = torch.cat([ax.sin(), ax.cos(), ay.sin(), ay.cos()], dim=1)
    return torch.nn.functional.pad(table, (0, dim - table.shape[1]))


def _sincos_positions(model: PreTrainedModel, family_name: str, scale: float) -> None:
    if get_family(family_name).name != "qwen3-vl":
        raise ValueError(f"vision_position_init 'sincos': {family_name} has no vision position table")
    table = model.model.visual.pos_embed.weight
    with torch.no_grad():
        table.copy_(scale * sincos_table(int(table.shape[0] ** 0.5), table.shape[1]))


def build_tiny(family_name: str, spec: TinySpec | None = None) -> tuple[PreTrainedModel, ProcessorMixin]:
    """A random-initialised model of `family_name` (seeded) and its processor, in memory."""
    spec = spec or TinySpec()
    processor = build_processor(family_name, spec)
    tokenizer = processor.tokenizer
    token_ids = {t: tokenizer.convert_tokens_to_ids(t) for t in tokenizer.all_special_tokens}
    config = build_config(family_name, spec, token_ids, vocab=len(tokenizer))
    torch.manual_seed(spec.seed)
    model = AutoModelForImageTextToText.from_config(config)
    if spec.vision_position_init == "sincos":
        _sincos_positions(model, family_name, spec.vision_position_scale)
    elif spec.vision_position_init != "random":
        raise ValueError(f"vision_position_init: {spec.vision_position_init!r} is not 'random' or 'sincos'")
    model.generation_config.eos_token_id = token_ids["<|im_end|>"]
    model.generation_config.pad_token_id = token_ids["<|endoftext|>"]
    return model, processor


def make_tiny(family_name: str, out: str | Path, spec: TinySpec | None = None) -> Path:
    """Build a tiny model of `family_name` and save model and processor to `out` with save_pretrained."""
    out = Path(out)
    model, processor = build_tiny(family_name, spec)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    n_params = sum(p.numel() for p in model.parameters())
    log.info("saved tiny %s (%d parameters) to %s", family_name, n_params, out)
    return out
