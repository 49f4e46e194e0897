"""Training recipes on the tiny model: numbers move (or stay frozen), and the one TRL hook does exactly
what it says."""

import math
from dataclasses import replace

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


@pytest.mark.parametrize("family", ["qwen2.5-vl", "qwen3-vl"])
def test_rollouts_never_sample_a_vision_placeholder(tiny_models, data, tmp_path, family):
    """A sampled <|video_pad|> after a zoom turn crashed TRL's training forward (typed as a video with no
    video grid); TRL keeps out the image placeholder only. Both stay out, with the user's own suppressed tokens."""
    cfg = grpo_cfg(tiny_models, data, tmp_path / "grpo")
    cfg = replace(cfg, model=str(tiny_models[family]), trl=cfg.trl | {"generation_kwargs": {"suppress_tokens": [5]}})
    trainer = grpo.build_trainer(cfg)
    model, config = trainer.model, trainer.model.config
    placeholders = [config.image_token_id, config.video_token_id]
    assert {*placeholders, 5} <= set(trainer.generation_config.suppress_tokens)

    def prefer_placeholders(module, inputs, logits):  # a policy that wants them above every other token
        logits = logits.clone()
        logits[..., placeholders] += 1e4
        return logits

    model.get_output_embeddings().register_forward_hook(prefer_placeholders)
    prompt = trainer.processing_class.tokenizer("Where is it?", return_tensors="pt").input_ids
    torch.manual_seed(0)
    free = model.generate(prompt, do_sample=True, max_new_tokens=6)[0, prompt.shape[1] :]
    assert set(free.tolist()) <= set(placeholders)  # the hook works: unguarded sampling gives nothing else
    guarded = model.generate(prompt, generation_config=trainer.generation_config, max_new_tokens=6)
    assert not set(guarded[0, prompt.shape[1] :].tolist()) & set(placeholders)


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


@pytest.mark.parametrize("family", ["qwen2-vl", "qwen2.5-vl", "qwen3-vl"])
def test_grpo_scores_completions_as_evaluation_would(tiny_models, data, tmp_path, family):
    """What GRPO optimises is what evaluation decodes: TRL's loss-path log-probs (prompts of several image
    sizes, left-padded into one batch, completions right-padded) equal a forward of each prompt alone,
    unpadded, with the completion appended; and each prompt is token for token the one evaluation builds
    for the same record. A mismatch (padding, the 3-D rope positions, token types) would train a policy other
    than the one `groundrl eval` runs."""
    from groundrl.eval.runner import _prompt
    from groundrl.eval.suites import load_data
    from groundrl.train.data import processor_family

    cfg = grpo_cfg(tiny_models, data, tmp_path / "grpo")
    trainer = grpo.build_trainer(replace(cfg, model=str(tiny_models[family])))
    processor, model = trainer.processing_class, trainer.model
    seen = processor_family(get_family(family), processor)
    records = load_data(data)[0].records
    g = trainer.args.num_generations
    picks = [0, 1, 2, 3]
    assert len({tuple(records[i].image_sizes[0]) for i in picks}) > 1, "prompts of one length would not pad"
    trainer.model.train()
    out = trainer._generate_and_score_completions([trainer.train_dataset[i] for i in picks for _ in range(g)])
    ids_BT = torch.cat([out["prompt_ids"], out["completion_ids"]], 1)
    mask_BT = torch.cat([out["prompt_mask"], out["completion_mask"]], 1)
    forward = {k: out.get(k) for k in ("pixel_values", "image_grid_thw", "num_images", "mm_token_type_ids")}
    model.eval()
    with torch.no_grad():
        batched_BT = trainer._get_per_token_logps_and_entropies(
            model, ids_BT, mask_BT, out["completion_ids"].size(1), **forward
        )[0]
        for row, i in enumerate(p for p in picks for _ in range(g)):
            prompt_ids = out["prompt_ids"][row][out["prompt_mask"][row].bool()]
            evaluation = _prompt(records[i], seen, None)
            text = processor.apply_chat_template(evaluation.messages, add_generation_prompt=True, tokenize=False)
            assert processor(text=[text], images=evaluation.images)["input_ids"][0] == prompt_ids.tolist()
            row_data = trainer.train_dataset[i]
            text = processor.apply_chat_template(row_data["prompt"], add_generation_prompt=True, tokenize=False)
            alone = processor(text=[text], images=row_data["images"], return_tensors="pt")
            n = int(out["completion_mask"][row].sum())
            alone_ids = torch.cat([alone.pop("input_ids")[0], out["completion_ids"][row][:n]])[None]
            alone.pop("attention_mask")
            if "mm_token_type_ids" in alone:  # the completion's tokens are text
                alone["mm_token_type_ids"] = torch.nn.functional.pad(alone["mm_token_type_ids"], (0, n))
            logits_T = model(input_ids=alone_ids, **alone).logits[0, -n - 1 : -1].float()
            logps_T = torch.log_softmax(logits_T, -1).gather(1, alone_ids[0, -n:, None])[:, 0]
            assert torch.allclose(logps_T, batched_BT[row, :n], atol=1e-4), (family, row)
