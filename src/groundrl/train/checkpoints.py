"""Resuming with the weights a checkpoint holds, read by the names `save_pretrained` wrote.

Why this exists: transformers' Trainer writes a checkpoint's model with `save_pretrained`, which (transformers
5) converts the module names back to the family's published checkpoint layout (Qwen2/2.5-VL: `visual.*`,
`model.layers.*`). On resume, `Trainer._load_from_checkpoint` reads that file with
`model.load_state_dict(..., strict=False)`, by the module's own names (`model.visual.*`,
`model.language_model.*`): it reports every key missing and training goes on from the base weights. Here the
checkpoint is read by `from_pretrained`, the loader that maps `save_pretrained`'s names back, and copied into
the model when training begins: after the Trainer's own load and its optimizer restore, before the first step.
LoRA adapters go through peft's own pair (`get_peft_model_state_dict` / `set_peft_model_state_dict`), which
write and read the same names. A checkpoint whose weights are missing, unreadable or do not fit the model
refuses to resume: it never trains on from the base.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from peft import PeftModel, get_peft_model_state_dict, load_peft_weights, set_peft_model_state_dict
from transformers import PreTrainedModel, TrainerCallback
from transformers.utils import (
    ADAPTER_SAFE_WEIGHTS_NAME,
    ADAPTER_WEIGHTS_NAME,
    SAFE_WEIGHTS_INDEX_NAME,
    SAFE_WEIGHTS_NAME,
    WEIGHTS_INDEX_NAME,
    WEIGHTS_NAME,
)

from groundrl.config import ConfigError

log = logging.getLogger(__name__)

MODEL_FILES = (SAFE_WEIGHTS_NAME, SAFE_WEIGHTS_INDEX_NAME, WEIGHTS_NAME, WEIGHTS_INDEX_NAME)
ADAPTER_FILES = (ADAPTER_SAFE_WEIGHTS_NAME, ADAPTER_WEIGHTS_NAME)
TRAINER_LOGGER = "transformers.trainer"
SUPERSEDED_REPORTS = (
    "There were missing keys in the checkpoint model loaded",
    "There were unexpected keys in the checkpoint model loaded",
)


class ResumeError(ConfigError):
    """A checkpoint to resume from whose weights cannot be restored; one line for the CLI."""


def saved_weights(model: torch.nn.Module, checkpoint: str | Path) -> dict[str, torch.Tensor]:
    """A checkpoint's weights, checked against `model`, under the names that restore_weights takes.

    Args:
        model: the model being trained (a PreTrainedModel, or a PeftModel for LoRA).
        checkpoint: a `checkpoint-N` folder written by the Trainer.

    Returns:
        The full model's state dict (module names), or a LoRA run's adapter state dict (peft's names).

    Raises:
        ResumeError: no weights file, an unreadable one, or weights that do not fit the model.
    """
    if isinstance(model, PeftModel):
        return _adapter_weights(model, Path(checkpoint))
    return _model_weights(model, Path(checkpoint))


def restore_weights(model: torch.nn.Module, weights: dict[str, torch.Tensor]) -> None:
    """Copy saved_weights' result into `model` in place, so that an optimizer built on it keeps its parameters."""
    if isinstance(model, PeftModel):
        set_peft_model_state_dict(model, weights)
        return
    model.load_state_dict(weights, strict=True)


class RestoreWeights(TrainerCallback):
    """Restores a checkpoint's weights when training begins, after whatever the Trainer itself loaded.

    Until then it hides transformers' missing/unexpected-keys report of that load: the report is about names
    the Trainer looked up by mistake, and this restore, strict on every key, supersedes it.
    """

    def __init__(self, checkpoint: str | Path, weights: dict[str, torch.Tensor]) -> None:
        self.checkpoint = str(checkpoint)
        self.weights: dict[str, torch.Tensor] | None = weights
        self.hidden = _SupersededLoadReport()
        logging.getLogger(TRAINER_LOGGER).addFilter(self.hidden)

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if self.weights is None:
            return
        logging.getLogger(TRAINER_LOGGER).removeFilter(self.hidden)
        restore_weights(model, self.weights)
        log.info("resume: restored %d weight tensors of %s", len(self.weights), self.checkpoint)
        self.weights = None


class _SupersededLoadReport(logging.Filter):
    """Drops the Trainer's report of keys its own checkpoint load missed (see RestoreWeights)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(SUPERSEDED_REPORTS)


def _model_weights(model: PreTrainedModel, checkpoint: Path) -> dict[str, torch.Tensor]:
    _require_file(checkpoint, MODEL_FILES, "model weights")
    dtype = next(model.parameters()).dtype
    try:
        saved, info = type(model).from_pretrained(checkpoint, dtype=dtype, output_loading_info=True)
    except Exception as e:  # safetensors, torch and transformers each raise their own kind for a bad file
        raise ResumeError(f"resume: cannot read the weights of {checkpoint}: {_first_line(e)}") from e
    problems = {k: sorted(info.get(k) or ()) for k in ("missing_keys", "unexpected_keys", "mismatched_keys")}
    if any(problems.values()):
        raise ResumeError(f"resume: the weights of {checkpoint} do not fit the model: {_describe(problems)}")
    return saved.state_dict()


def _adapter_weights(model: PeftModel, checkpoint: Path) -> dict[str, torch.Tensor]:
    _require_file(checkpoint, ADAPTER_FILES, "LoRA adapter weights")
    try:
        weights = load_peft_weights(str(checkpoint), device="cpu")
    except Exception as e:  # as above: the file's reader decides the kind
        raise ResumeError(f"resume: cannot read the adapter of {checkpoint}: {_first_line(e)}") from e
    expected = get_peft_model_state_dict(model)
    problems = {
        "missing_keys": sorted(set(expected) - set(weights)),
        "unexpected_keys": sorted(set(weights) - set(expected)),
        "mismatched_keys": sorted(k for k in set(expected) & set(weights) if expected[k].shape != weights[k].shape),
    }
    if any(problems.values()):
        raise ResumeError(f"resume: the adapter of {checkpoint} does not fit the model: {_describe(problems)}")
    return weights


def _require_file(checkpoint: Path, names: tuple[str, ...], what: str) -> None:
    if not any((checkpoint / name).is_file() for name in names):
        raise ResumeError(
            f"resume: {checkpoint} holds no {what} ({' or '.join(names[:2])}); "
            "move it aside to resume from an earlier checkpoint"
        )


def _describe(problems: dict[str, list[str]]) -> str:
    """`3 missing_keys (e.g. a.weight), 1 unexpected_keys (e.g. b)` for the non-empty lists."""
    return ", ".join(f"{len(keys)} {kind} (e.g. {keys[0]})" for kind, keys in problems.items() if keys)


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
