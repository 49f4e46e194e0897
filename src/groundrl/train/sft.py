"""The SFT recipe on TRL's SFTTrainer: loss on assistant tokens only, single- or multi-turn chains.

Reads top to bottom: config -> records -> dataset -> model (frozen vision, LoRA) -> trainer -> train
(resuming from the last complete checkpoint) -> save.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trl import SFTTrainer

from groundrl.models.templates import use_tool_template
from groundrl.train.common import RunLog, TrainCommon, start_run, train_and_save
from groundrl.train.data import RowBuilder, processor_family, records_for, training_dataset
from groundrl.train.models import freeze_vision, load_for_training, peft_config
from groundrl.train.preflight import check_config

SFT_DEFAULTS: dict[str, Any] = {
    "learning_rate": 1e-5,
    "per_device_train_batch_size": 8,
    "assistant_only_loss": True,
    "logging_steps": 1,
    "save_steps": 100,
    "max_steps": -1,
    "num_train_epochs": 1,
    "max_length": None,
}


@dataclass(frozen=True)
class SFTRunConfig(TrainCommon):
    """SFT options on top of TrainCommon.

    Attributes:
        think: a reasoning text put in <think> before the answer of records without their own chain
            (None: answer only).
        tools: "zoom" renders the chains with the tool chat template that multi-turn GRPO renders its
            rollouts with (`models.templates`), and saves it as the model's template, so that the SFT model
            is trained, rolled out and evaluated on the same tokens (give the chains the tool's system
            turn, `tools.env.tool_system_text`); "none": the model's own template.
    """

    output_dir: str = "runs/sft"
    think: str | None = None
    tools: str = "none"


def build_trainer(cfg: SFTRunConfig, callbacks: list | None = None) -> SFTTrainer:
    args = check_config(cfg)  # TRL's SFTConfig, built and checked before anything loads
    out = start_run(cfg)
    table = records_for(cfg, out)
    model, processor, family = load_for_training(cfg.model)
    if cfg.tools == "zoom":
        use_tool_template(processor, family)
    if cfg.freeze_vision:
        freeze_vision(model, family, projector=cfg.freeze_projector)
    dataset = training_dataset(table, RowBuilder("sft", processor_family(family, processor), cfg.prompt, cfg.think))
    args.remove_unused_columns = False  # rows are built per batch from the record column: keep it
    return SFTTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        processing_class=processor,
        peft_config=peft_config(cfg.lora),
        callbacks=[RunLog(str(out)), *(callbacks or [])],
    )


def run_sft(cfg: SFTRunConfig, callbacks: list | None = None) -> SFTTrainer:
    return train_and_save(build_trainer(cfg, callbacks), cfg)
