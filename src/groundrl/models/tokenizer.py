"""A small byte-level BPE tokenizer trained offline, in code, on a fixed corpus.

It is a real `Qwen2Tokenizer` (the class Qwen2-VL, Qwen2.5-VL and Qwen3-VL ship), with Qwen's special
tokens and pre-tokenizer, so each digit is its own token and coordinates are learnable. Training is
deterministic: the same corpus and vocabulary size give the same vocabulary and merges.
"""

from __future__ import annotations

import itertools
import json

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import Qwen2Tokenizer

# Qwen's special tokens, in the order the Qwen-VL tokenizers add them.
SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
# Reasoning and answer tags: whole tokens so that format rewards are cheap to learn.
TAG_TOKENS = ("<think>", "</think>", "<answer>", "</answer>", "<tool_call>", "</tool_call>")

# Qwen2's pre-tokenizer split: letters runs, single digits (\p{N}), punctuation runs, whitespace.
_SPLIT = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
)

_COLOURS = ("red", "green", "blue", "yellow", "purple", "orange", "white", "black", "gray", "pink")
_SHAPES = ("circle", "square", "triangle", "star", "rectangle", "button", "field", "icon", "region")
_WORDS = (
    "the left of right above below next to largest smallest biggest tiniest top bottom middle locate find "
    "click output its bbox coordinates in json format image images which where what is are a an of and or "
    "this that point box answer question color colour shape size option first then think reason zoom crop "
    "tool call look closer sign text label submit cancel search name email password login settings menu "
    "open close save help ok yes no you assistant user system"
)


def _corpus() -> list[str]:
    """Fixed training text: the phrasing of grounding prompts, answers and chat turns."""
    lines = [_WORDS]
    for colour, shape in itertools.product(_COLOURS, _SHAPES):
        lines.append(f"Locate the {colour} {shape} in the image and output its bbox coordinates in JSON format.")
        lines.append(f"the {shape} left of the {colour} {shape}; the largest {colour} {shape}")
    lines.append('{"bbox_2d": [12, 345, 678, 90]} {"point_2d": [12, 34]} [1, 2, 3, 4] (1,2),(3,4)')
    lines.append("<think> The target is near the top left. </think> <answer> [0, 1, 2, 3] </answer>")
    lines.append("Which image? Image 1, image 2, image 3. Answer with the option's letter: (A) (B) (C) (D)")
    return lines


def train_tokenizer(vocab_size: int = 512) -> Qwen2Tokenizer:
    """Train a byte-level BPE on the fixed corpus and wrap it as a Qwen2Tokenizer.

    Args:
        vocab_size: target size of the BPE vocabulary, special tokens included.

    Returns:
        A Qwen2Tokenizer with Qwen's special tokens, eos `<|im_end|>` and pad `<|endoftext|>`.
    """
    bpe = Tokenizer(models.BPE())
    bpe.normalizer = normalizers.NFC()
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_SPLIT), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(_corpus(), trainer=trainer)
    tokenizer = Qwen2Tokenizer(
        vocab=bpe.get_vocab(with_added_tokens=True),
        merges=_merges(bpe),
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        unk_token=None,
        additional_special_tokens=list(SPECIAL_TOKENS[1:]),
        model_max_length=32768,
    )
    tokenizer.add_tokens(list(TAG_TOKENS))
    return tokenizer


def _merges(bpe: Tokenizer) -> list[tuple[str, str]]:
    """The learned merges, read from the serialised model (the Python API does not expose them)."""
    state = json.loads(bpe.to_str())
    return [tuple(m) if isinstance(m, list) else tuple(m.split(" ", 1)) for m in state["model"]["merges"]]
