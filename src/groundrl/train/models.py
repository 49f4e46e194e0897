"""Loading a model for training: frozen vision tower (and projector), LoRA through peft."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import torch
from transformers import AutoModelForImageTextToText, AutoProcessor, PreTrainedModel

from groundrl.models.families import Family, get_family

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoraOptions:
    """LoRA through peft; `enabled: false` trains the full model.

    Attributes:
        r, alpha, dropout: the adapter's rank, scale and dropout.
        target_modules: language-model modules to adapt ("all-linear" or names).
    """

    enabled: bool = False
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])


def load_for_training(model_dir: str, dtype: str = "float32") -> tuple[PreTrainedModel, object, Family]:
    model = AutoModelForImageTextToText.from_pretrained(model_dir, dtype=getattr(torch, dtype))
    processor = AutoProcessor.from_pretrained(model_dir)
    return model, processor, get_family(model.config.model_type)


def freeze_vision(model: PreTrainedModel, family: Family, projector: bool = True) -> int:
    """Stop gradients into the vision tower (and the projector, which Qwen keeps inside it).

    Returns:
        The number of parameters frozen.
    """
    names = family.vision_modules + (family.projector_modules if projector else ())
    frozen = 0
    for name in names:
        for p in model.get_submodule(name).parameters():
            if p.requires_grad:
                p.requires_grad_(False)
                frozen += p.numel()
    if not projector:
        for name in family.projector_modules:
            for p in model.get_submodule(name).parameters():
                p.requires_grad_(True)
    log.info("froze %d vision parameters", frozen)
    return frozen


def peft_config(options: LoraOptions):
    """A peft LoraConfig for the language model, or None when LoRA is off."""
    if not options.enabled:
        return None
    from peft import LoraConfig

    targets = options.target_modules[0] if options.target_modules == ["all-linear"] else options.target_modules
    # Qwen-VL's vision tower has modules with the same names (qkv, proj): keep LoRA on the language model.
    pattern = targets if isinstance(targets, str) else r".*language_model.*\.(" + "|".join(targets) + ")$"
    return LoraConfig(
        r=options.r,
        lora_alpha=options.alpha,
        lora_dropout=options.dropout,
        target_modules=pattern,
        task_type="CAUSAL_LM",
    )
