"""The options of `groundrl demo`, apart from the recipe so that the CLI reads its defaults from here
without importing torch."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DemoConfig:
    """Options of `groundrl demo`."""

    out: str = "runs/demo"
    family: str = "qwen3-vl"
    seed: int = 0
    n_train: int = 12800
    n_eval: int = 128
    cells: int = 4  # image side in vision patches
    sft_steps: int = 1000
    sft_lr: float = 2e-3
    grpo_steps: int = 60
    grpo_lr: float = 5e-5
    grpo_prompts: int = 8  # prompts per step, each sampled num_generations times
    grpo_temperature: float = 0.7
    batch_size: int = 32
    num_generations: int = 8
    max_new_tokens: int = 32  # Qwen3-VL's longest box answer is 27 tokens with single-digit tokens
    scaling: bool = True
