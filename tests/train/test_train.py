"""Training recipes on the tiny model: numbers move (or stay frozen), and the one TRL hook does exactly
what it says."""

import math

import pytest
import torch

from groundrl.config import ConfigError
from groundrl.models.families import get_family
from groundrl.rewards import RewardSpec
from groundrl.synth import SynthOptions, generate
from groundrl.train import grpo, sft
from groundrl.train.difficulty import difficulty_phi

VISION = ("model.visual.",)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("train-data")
    return generate("rec", 16, root, seed=11, opts=SynthOptions(min_size=56, max_size=84))


def snapshot(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def moved(before, model, prefix, inside=True):
    """Names of parameters (inside or outside `prefix`) that changed."""
    return [n for n, p in model.named_parameters() if n.startswith(prefix) == inside and not torch.equal(before[n], p)]


@pytest.mark.parametrize("freeze", [True, False])
def test_sft_trains_and_frozen_vision_stays_bit_identical(tiny_models, data, tmp_path, freeze):
    cfg = sft.SFTRunConfig(
        model=str(tiny_models["qwen2.5-vl"]),
        data=str(data),
        output_dir=str(tmp_path / "sft"),
        freeze_vision=freeze,
        trl={"max_steps": 3, "per_device_train_batch_size": 4, "learning_rate": 1e-3, "save_strategy": "no"},
    )
    trainer = sft.build_trainer(cfg)
    before = snapshot(trainer.model)
    trainer.train()
    losses = [log["loss"] for log in trainer.state.log_history if "loss" in log]
    assert len(losses) == 3 and all(math.isfinite(x) for x in losses)
    assert moved(before, trainer.model, "model.visual.", inside=False)  # the language model learned
    vision_moved = moved(before, trainer.model, "model.visual.")
    assert (vision_moved == []) if freeze else vision_moved


def test_sft_loss_is_on_assistant_tokens_only(tiny_models, data, tmp_path):
    cfg = sft.SFTRunConfig(
        model=str(tiny_models["qwen2.5-vl"]), data=str(data), output_dir=str(tmp_path / "sft"), trl={"max_steps": 1}
    )
    trainer = sft.build_trainer(cfg)
    batch = trainer.data_collator([trainer.train_dataset[0]])
    labels, ids = batch["labels"][0], batch["input_ids"][0]
    tokenizer = trainer.processing_class.tokenizer
    learned = tokenizer.decode(ids[labels != -100])
    assert learned.startswith('{"bbox_2d": [') and learned.rstrip().endswith("<|im_end|>")
    assert "Locate" not in learned and "<|image_pad|>" not in learned


def grpo_cfg(tiny_models, data, out, **kw):
    # length and repetition penalties vary between a random model's completions: a learning signal
    rewards = [RewardSpec("length_penalty", 1.0, {"max_chars": 8}), RewardSpec("repetition_penalty", 1.0, {"n": 1})]
    trl = {
        "max_steps": 2,
        "per_device_train_batch_size": 4,
        "num_generations": 4,
        "max_completion_length": 12,
        "learning_rate": 1e-2,
        "save_strategy": "no",
        "beta": 0.0,
    }
    return grpo.GRPORunConfig(
        model=str(tiny_models["qwen2.5-vl"]), data=str(data), output_dir=str(out), rewards=rewards, trl=trl, **kw
    )


def test_grpo_with_frozen_vision(tiny_models, data, tmp_path):
    trainer = grpo.build_trainer(grpo_cfg(tiny_models, data, tmp_path / "grpo", freeze_vision=True))
    before = snapshot(trainer.model)
    trainer.train()
    assert moved(before, trainer.model, "model.visual.", inside=False)
    assert moved(before, trainer.model, "model.visual.") == []
    logged = trainer.state.log_history[0]
    assert "rewards/length_penalty/mean" in logged and "rewards/repetition_penalty/mean" in logged


def test_difficulty_weight_scales_a_groups_gradient_by_phi(tiny_models, data, tmp_path):
    """Through TRL's own rollout and loss: the weighted advantages of group g are phi(m_g) times TRL's,
    and the gradient of the loss on group g alone is exactly phi(m_g) times the unweighted one."""
    cfg = grpo_cfg(tiny_models, data, tmp_path / "grpo", difficulty="exp", difficulty_reward="repetition_penalty")
    trainer = grpo.build_trainer(cfg)
    # m must lie in [0, 1] for phi's published forms; repetition_penalty is in [-1, 0]: shift it
    trainer.difficulty_reward = lambda completions, **c: [1 + v for v in trainer.reward_funcs[1](completions, **c)]
    trainer.model.train()
    g = trainer.args.num_generations
    rows = [trainer.train_dataset[i] for i in range(2) for _ in range(g)]
    out = trainer._generate_and_score_completions(rows)
    base, phi = trainer.last_unweighted_advantages, trainer.last_phi
    assert torch.allclose(out["advantages"], base * phi)
    texts = trainer.processing_class.batch_decode(out["completion_ids"], skip_special_tokens=True)
    m0 = sum(1 + v for v in trainer.reward_funcs[1](texts[:g])) / g
    assert phi[0].item() == pytest.approx(math.exp(1 - m0), rel=1e-5)
    assert base[:g].abs().sum() > 0, "the group needs a learning signal for the check to mean anything"

    trainer.current_gradient_accumulation_steps = 1  # set by the training loop, which this test stands in for

    def grad_of_group(advantages):
        trainer.model.zero_grad()
        mask = torch.zeros_like(advantages)
        mask[:g] = 1
        loss = trainer.compute_loss(trainer.model, {**out, "advantages": advantages * mask})
        loss.backward()
        return torch.cat([p.grad.flatten() for p in trainer.model.parameters() if p.grad is not None])

    weighted, unweighted = grad_of_group(out["advantages"]), grad_of_group(base)
    assert torch.allclose(weighted, phi[0] * unweighted, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize(
    ("name", "m", "expected"), [("exp", 0.25, math.exp(0.75)), ("pow", 0.25, 0.8**2), ("log", 0.25, -math.log(0.27))]
)
def test_phi_forms(name, m, expected):
    assert difficulty_phi(name, 2.0)(torch.tensor(m)).item() == pytest.approx(expected)


def test_unknown_trl_key_names_the_closest(tiny_models, data, tmp_path):
    cfg = sft.SFTRunConfig(
        model=str(tiny_models["qwen2.5-vl"]), data=str(data), output_dir=str(tmp_path), trl={"max_step": 3}
    )
    with pytest.raises(ConfigError, match=r"unknown config key 'trl.max_step'.*did you mean 'trl.max_steps'"):
        sft.build_trainer(cfg)


def test_family_of_the_tiny_model_is_known(tiny_models):
    assert get_family("qwen2_5_vl").vision_modules == ("model.visual",)


def test_lora_trains_adapters_only_and_exports_a_merged_model(tiny_models, data, tmp_path):
    from transformers import AutoModelForImageTextToText

    from groundrl.train.models import LoraOptions
    from helpers import run_cli

    cfg = sft.SFTRunConfig(
        model=str(tiny_models["qwen2.5-vl"]),
        data=str(data),
        output_dir=str(tmp_path / "lora"),
        lora=LoraOptions(enabled=True, r=4, alpha=8),
        trl={"max_steps": 3, "per_device_train_batch_size": 4, "learning_rate": 1e-2},
    )
    trainer = sft.run_sft(cfg)
    trainable = [n for n, p in trainer.model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert not any("visual" in n for n in trainable)  # LoRA stays on the language model
    assert (tmp_path / "lora" / "adapter_model.safetensors").exists()
    run_cli("export", str(tmp_path / "lora"), str(tmp_path / "merged"), "--merge", check=True)
    merged = AutoModelForImageTextToText.from_pretrained(tmp_path / "merged")
    base = AutoModelForImageTextToText.from_pretrained(tiny_models["qwen2.5-vl"])
    changed = [n for n, p in merged.state_dict().items() if not torch.equal(p, base.state_dict()[n])]
    assert changed and all("language_model" in n and "_proj" in n for n in changed)
