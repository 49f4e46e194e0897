"""The GRPO recipe: grounding rewards on TRL's GRPOTrainer, with the difficulty-aware weight, single-turn or
multi-turn with the zoom tool (`tools: zoom`, ViGoRL's multi-turn GRPO; docs/zoom.md).

Reads top to bottom: config -> records -> dataset -> model (frozen vision, LoRA; the tool chat template) ->
rewards -> trainer (the zoom environment) -> train (resuming from the last complete checkpoint) -> save.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from trl import GRPOTrainer

from groundrl.models.templates import use_tool_template
from groundrl.rewards import REWARDS, RewardSpec, build_rewards, check_coverage
from groundrl.tools.env import ZoomOptions
from groundrl.train.common import RunLog, TrainCommon, start_run, train_and_save
from groundrl.train.data import (
    RowBuilder,
    planned_rows,
    processor_family,
    records_for,
    training_dataset,
)
from groundrl.train.difficulty import DifficultyWeightedGRPOTrainer, difficulty_phi
from groundrl.train.models import freeze_vision, load_for_training, peft_config
from groundrl.train.preflight import check_config

GRPO_DEFAULTS: dict[str, Any] = {
    "learning_rate": 1e-6,
    "per_device_train_batch_size": 8,
    "num_generations": 8,
    "max_completion_length": 256,
    "temperature": 1.0,
    "beta": 0.04,
    "logging_steps": 1,
    "save_steps": 100,
    "max_steps": -1,
    "num_train_epochs": 1,
}


@dataclass(frozen=True)
class GRPORunConfig(TrainCommon):
    """GRPO options on top of TrainCommon.

    Attributes:
        rewards: reward names (see groundrl.rewards), weights and options; each is logged on its own.
        difficulty: UniVG-R1's difficulty weight phi: exp, pow or log; None: off.
        difficulty_w: the exponent of `pow`.
        difficulty_reward: the reward whose group mean is m (default: IoU).
        tools: "none" (single turn) or "zoom": rollouts call the zoom tool through TRL's environment_factory
            (rewards: multiturn_format, multiturn_accuracy; docs/zoom.md).
        zoom: the zoom tool's preset and limits (`zoom.max_turns` also caps TRL's tool-calling iterations).
    """

    output_dir: str = "runs/grpo"
    rewards: list[RewardSpec] = field(default_factory=lambda: [RewardSpec("format", 0.5), RewardSpec("iou", 1.0)])
    difficulty: str | None = None
    difficulty_w: float = 1.0
    difficulty_reward: str = "iou"
    tools: str = "none"
    zoom: ZoomOptions = field(default_factory=ZoomOptions)


def build_trainer(cfg: GRPORunConfig, callbacks: list | None = None) -> GRPOTrainer:
    """Everything but the training loop, so that tests and the demo can drive the trainer."""
    args = check_config(cfg)  # TRL's GRPOConfig with the rewards' weights, checked before anything loads
    out = start_run(cfg)
    table = records_for(cfg, out)
    check_coverage(cfg.rewards, planned_rows(table))
    model, processor, family = load_for_training(cfg.model)
    # TRL left-pads prompts; the processor must too, or multimodal token types misalign (TRL sets this
    # only when it loads the processor itself).
    processor.tokenizer.padding_side = "left"
    processor.tokenizer.truncation_side = "left"
    if cfg.tools == "zoom":
        use_tool_template(processor, family)
    no_vision_tokens(args, model.config)
    if cfg.freeze_vision:
        freeze_vision(model, family, projector=cfg.freeze_projector)
    seen_family = processor_family(family, processor)
    dataset = training_dataset(table, RowBuilder("grpo", seen_family, cfg.prompt))
    funcs, _ = build_rewards(cfg.rewards)
    kwargs = dict(
        model=model,
        reward_funcs=funcs,
        args=args,
        train_dataset=dataset,
        processing_class=processor,
        peft_config=peft_config(cfg.lora),
        callbacks=[RunLog(str(out)), *(callbacks or [])],
    )
    if cfg.tools == "zoom":
        kwargs["environment_factory"] = cfg.zoom.factory(seen_family)
    if cfg.difficulty is None:
        return GRPOTrainer(**kwargs)
    phi = difficulty_phi(cfg.difficulty, cfg.difficulty_w)
    return DifficultyWeightedGRPOTrainer(phi=phi, difficulty_reward=REWARDS[cfg.difficulty_reward], **kwargs)


def no_vision_tokens(args: Any, config: Any) -> None:
    """Rollouts never sample the image or video placeholder token (added to `generation_kwargs`, with the
    user's own): TRL suppresses the image one only, and on the transformers path only. A policy that samples
    `<|video_pad|>` after a tool turn gets it typed as a video, which the training forward cannot place (a
    crash, seen at step 59 of a tiny model's zoom run); an `<|image_pad|>` mismatches the image features."""
    ids = sorted(
        {i for i in (getattr(config, "image_token_id", None), getattr(config, "video_token_id", None)) if i is not None}
    )
    if not ids:
        return
    kwargs = dict(args.generation_kwargs or {})
    if args.use_vllm:  # vLLM's SamplingParams: a bias of -100 (its floor) keeps a token out
        kwargs["logit_bias"] = {**{i: -100.0 for i in ids}, **(kwargs.get("logit_bias") or {})}
    else:
        kwargs["suppress_tokens"] = sorted({*(kwargs.get("suppress_tokens") or []), *ids})
    args.generation_kwargs = kwargs


def run_grpo(cfg: GRPORunConfig, callbacks: list | None = None) -> GRPOTrainer:
    return train_and_save(build_trainer(cfg, callbacks), cfg)
