"""What the SFT and GRPO recipes share: their typed configs' common part, records, model setup, the run
folder (metrics.jsonl, resolved config) and checkpoints that are only resumed from when complete."""

from __future__ import annotations

import dataclasses
import difflib
import json
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback, TrainerState

from groundrl.config import ConfigError, to_dict
from groundrl.data.pipeline import read_sources, split_sources
from groundrl.data.records import Record
from groundrl.train.checkpoints import RestoreWeights, restore_weights, saved_weights
from groundrl.train.models import LoraOptions

log = logging.getLogger(__name__)
COMPLETE = "GROUNDRL_COMPLETE"
TOKENS = "groundrl_tokens.json"  # in a checkpoint: the tokens trained on so far (TRL's SFT `num_tokens`)
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


@dataclass(frozen=True)
class TrainCommon:
    """Options every training recipe has.

    Attributes:
        model: checkpoint folder to start from.
        family: the model's family, for `--tiny` when the model's name does not say it.
        data: training records (any readable format), VLM-R1 style `a.jsonl:b.jsonl` for several;
            format, image_root (`A:B` for several): as for `groundrl data`.
        limit: use the first N records.
        output_dir: run folder: checkpoints, metrics.jsonl, config.json, the final model.
        prompt: grounding prompt template with `{expression}` (default: the model family's).
        freeze_vision: keep the vision tower's parameters bit-identical; freeze_projector: its merger too.
        lora: LoRA options; the final model is then an adapter (see `groundrl export --merge`).
        resume: continue from the last complete checkpoint in output_dir.
        trl: any field of TRL's SFTConfig / GRPOConfig (learning_rate, max_steps, loss_type, beta, ...).
    """

    model: str = ""
    family: str | None = None
    data: str = ""
    format: str = "groundrl"
    image_root: str | None = None
    limit: int | None = None
    output_dir: str = "runs/train"
    prompt: str | None = None
    freeze_vision: bool = False
    freeze_projector: bool = True
    lora: LoraOptions = field(default_factory=LoraOptions)
    resume: bool = False
    trl: dict[str, Any] = field(default_factory=dict)


def load_records(cfg: TrainCommon) -> list[Record]:
    if not cfg.data:
        raise ConfigError("data: a file of training records is required")
    records = list(read_sources(split_sources(cfg.data, cfg.format, cfg.image_root)))
    return records[: cfg.limit] if cfg.limit else records


def trl_args(config_cls: type, cfg: TrainCommon, defaults: dict[str, Any]) -> Any:
    """TRL's config from recipe defaults and the user's `trl:` mapping, every key checked by name."""
    valid = {f.name for f in dataclasses.fields(config_cls)}
    for key in cfg.trl:
        if key not in valid:
            close = difflib.get_close_matches(key, sorted(valid), n=1)
            hint = f"; did you mean 'trl.{close[0]}'?" if close else ""
            raise ConfigError(f"unknown config key 'trl.{key}' ({config_cls.__name__} has no such field){hint}")
    user = {k: _number(v) for k, v in cfg.trl.items()}
    options = defaults | {"output_dir": cfg.output_dir, "report_to": "none", "save_strategy": "steps"} | user
    if not torch.cuda.is_available():
        options |= {"use_cpu": True, "bf16": False}
    return config_cls(**options)


def _number(value: Any) -> Any:
    """YAML 1.1 reads 1e-3 as a string; TRL's numeric options want the number."""
    if isinstance(value, str):
        try:
            return float(value) if any(c in value.lower() for c in ".e") else int(value)
        except ValueError:
            return value
    return value


class RunLog(TrainerCallback):
    """Appends every log to output_dir/metrics.jsonl and marks each checkpoint complete once written, after
    writing into it the token count that `tokens` reads (when set: see `keep_token_count`)."""

    def __init__(self, output_dir: str) -> None:
        self.path = Path(output_dir) / "metrics.jsonl"
        self.tokens: Callable[[], int] | None = None

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and state.is_world_process_zero:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps({"step": state.global_step, **logs}) + "\n")

    def on_save(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if folder.is_dir():
                if self.tokens is not None:
                    (folder / TOKENS).write_text(json.dumps({"num_tokens": self.tokens()}))
                (folder / COMPLETE).write_text(str(state.global_step))
                os.sync()


def last_complete_checkpoint(output_dir: str | Path) -> str | None:
    """The newest checkpoint whose save finished; half-written ones are moved aside, never resumed."""
    root = Path(output_dir)
    if not root.is_dir():
        return None
    found = sorted((int(m.group(1)), p) for p in root.iterdir() if (m := _CHECKPOINT.match(p.name)) and p.is_dir())
    complete = None
    for _step, path in found:
        if (path / COMPLETE).exists():
            complete = path
        else:
            aside = root / f"incomplete-{path.name}"
            log.warning("checkpoint %s was not finished; moving it to %s", path, aside)
            path.rename(aside)
    return str(complete) if complete else None


def start_run(cfg: Any) -> Path:
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    # run_config.json: config.json in a run folder is the saved model's
    (out / "run_config.json").write_text(json.dumps(to_dict(cfg), indent=2, default=str))
    return out


def train_and_save(trainer: Any, cfg: TrainCommon) -> Any:
    """Train (resuming when asked: weights, optimizer, scheduler, step, data position, RNG), then save the final
    model and its processor to output_dir.

    Raises:
        ResumeError: the checkpoint to resume from holds no weights that fit the model (before any step).
    """
    checkpoint = resume_point(cfg)
    keep_token_count(trainer, checkpoint)
    if checkpoint is not None and finished(trainer, checkpoint):
        # transformers trains one step before it checks max_steps: resumed at the end, it went one step past it
        log.info("resume: %s is the run's last step; nothing left to train, the final model is saved", checkpoint)
        restore_weights(trainer.model, saved_weights(trainer.model, checkpoint))
        trainer.state = TrainerState.load_from_json(str(Path(checkpoint) / "trainer_state.json"))  # step, log
    else:
        if checkpoint is not None:
            # transformers' own resume misses save_pretrained's names: restore the weights by them (checkpoints.py)
            trainer.add_callback(RestoreWeights(checkpoint, saved_weights(trainer.model, checkpoint)))
            drop_logs_after(Path(cfg.output_dir) / "metrics.jsonl", checkpoint_step(checkpoint))
        trainer.train(resume_from_checkpoint=checkpoint)
    trainer.save_model(cfg.output_dir)
    trainer.processing_class.save_pretrained(cfg.output_dir)
    return trainer


def finished(trainer: Any, checkpoint: str) -> bool:
    """Whether the checkpoint holds the run's last step: `trl.max_steps` reached, or, with no max_steps set, the
    step count the run planned when it saved (its trainer_state.json), for as many epochs as asked now."""
    step = checkpoint_step(checkpoint)
    if trainer.args.max_steps > 0:
        return step >= trainer.args.max_steps
    path = Path(checkpoint) / "trainer_state.json"
    state = json.loads(path.read_text()) if path.exists() else {}
    same_epochs = state.get("num_train_epochs") == trainer.args.num_train_epochs
    return same_epochs and 0 < state.get("max_steps", 0) <= step


def keep_token_count(trainer: Any, checkpoint: str | None) -> None:
    """TRL's SFTTrainer counts the tokens it has trained on (`num_tokens` in the logs) outside the Trainer's
    state, so a resumed run counted from 0 again. Each checkpoint now keeps the count (RunLog writes TOKENS)
    and a resume starts from it, so the resumed log reads as an uninterrupted run's. A checkpoint without
    the file (written before this), or with an unreadable one (logged), resumes with the count at 0."""
    if not hasattr(trainer, "_total_train_tokens"):
        return
    for callback in trainer.callback_handler.callbacks:
        if isinstance(callback, RunLog):
            callback.tokens = lambda: int(trainer._total_train_tokens)
    saved = Path(checkpoint) / TOKENS if checkpoint is not None else None
    if saved is None or not saved.exists():
        return
    try:
        trainer._total_train_tokens = int(json.loads(saved.read_text())["num_tokens"])
    except (OSError, ValueError, KeyError, TypeError) as e:  # a metric: it never stops a resume
        log.warning("resume: %s is unreadable (%s); num_tokens counts from 0 again", saved, e)


def resume_point(cfg: TrainCommon) -> str | None:
    """The checkpoint to resume from: None when not resuming, or (logged) when output_dir has no complete one."""
    if not cfg.resume:
        return None
    checkpoint = last_complete_checkpoint(cfg.output_dir)
    if checkpoint is None:
        log.warning(
            "resume: no complete checkpoint in %s; training starts at step 0 from %s", cfg.output_dir, cfg.model
        )
    else:
        log.info("resume: continuing from %s", checkpoint)
    return checkpoint


def checkpoint_step(checkpoint: str | Path) -> int:
    """The global step of a `checkpoint-N` folder: N."""
    match = _CHECKPOINT.match(Path(checkpoint).name)
    if match is None:
        raise ValueError(f"not a checkpoint folder: {checkpoint}")
    return int(match.group(1))


def drop_logs_after(path: Path, step: int) -> int:
    """Remove the log lines of steps after `step`: a killed run logged them, the resumed run logs them again
    (and a line cut short by the kill).

    Returns:
        The number of lines removed.
    """
    if not path.exists():
        return 0
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [line for line in lines if line.endswith("\n") and json.loads(line)["step"] <= step]
    if len(kept) < len(lines):
        path.write_text("".join(kept), encoding="utf-8")
    return len(lines) - len(kept)
