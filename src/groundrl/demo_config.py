"""The options of `groundrl demo`, apart from the recipe so that the CLI reads its defaults from here
without importing torch. Why each default: docs/synthetic-data.md, "The demo", with the measurements."""

from __future__ import annotations

from dataclasses import dataclass

from groundrl.synth.expressions import KINDS


@dataclass(frozen=True)
class DemoConfig:
    """Options of `groundrl demo`.

    Attributes:
        out: run folder.
        family: tiny model family: qwen3-vl, qwen2.5-vl or qwen2-vl.
        seed: seed of the data (seed + 1: SFT, + 2: held out, + 3: GRPO) and of training; the tiny
            model's initial weights do not depend on it (TinySpec.seed).
        n_train, n_grpo, n_eval: SFT records, GRPO prompts and held-out scenes.
        sft_kinds: expression kinds of the SFT records (GRPO's and the held-out ones have all kinds).
        balance_kinds: every data set draws its expression kinds in equal shares (SynthOptions.balance_kinds).
        cells: image side in vision patches.
        sft_steps, sft_lr, batch_size: SFT.
        sft_adam_beta2: AdamW's beta2 in SFT (0.95 damps the gradient spikes of lr 2e-3; GRPO keeps 0.999).
        grpo_steps, grpo_lr, grpo_prompts, num_generations, grpo_temperature: GRPO (prompts per step, each
            sampled num_generations times).
        grpo_reward: the one GRPO reward (groundrl.rewards), difficulty: UniVG-R1's weight (None: off).
        question_first: the family's grounding prompt with the image after it, not before (a tiny model from
            scratch learns which shape the words mean: SFT acc@0.5 0.531 -> 0.709, docs/synthetic-data.md).
        max_new_tokens: answer budget (Qwen3-VL's longest box answer is 27 tokens, digits one token each).
        scaling, scaling_scenes: run the test-time scaling grid, on this many held-out scenes.
    """

    out: str = "runs/demo"
    family: str = "qwen3-vl"
    seed: int = 0
    n_train: int = 12800
    n_grpo: int = 1024
    n_eval: int = 512
    sft_kinds: tuple[str, ...] = KINDS
    balance_kinds: bool = False
    cells: int = 4
    sft_steps: int = 1000
    sft_lr: float = 2e-3
    batch_size: int = 32
    sft_adam_beta2: float = 0.95
    grpo_steps: int = 80
    grpo_lr: float = 5e-5
    grpo_prompts: int = 8
    num_generations: int = 8
    grpo_temperature: float = 1.0
    grpo_reward: str = "iou_mix"
    difficulty: str | None = None
    question_first: bool = True
    max_new_tokens: int = 32
    scaling: bool = True
    scaling_scenes: int = 128
