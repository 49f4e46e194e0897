"""The ViGoRL multi-turn recipe through `groundrl grpo`: a policy that zooms trains on its own tokens only.

The tiny model is random, so its generation is replaced by a scripted policy (through the model class, so
that the real CLI, recipe and trainer run): every trajectory calls the zoom tool once at a point of its own,
half of them call a second time at a distinct point, then each answers a box of its own size. TRL runs the
environment, appends each crop, masks the tool turns; the rewards read the turns it parsed.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoTokenizer, Qwen2_5_VLForConditionalGeneration
from trl import GRPOTrainer

from groundrl.config import ConfigError, load_config
from groundrl.synth import SynthOptions, generate
from groundrl.train.grpo import GRPORunConfig
from groundrl.train.preflight import check_config
from helpers import run_cli

RECIPE = Path(__file__).parents[2] / "configs" / "recipes" / "vigorl-multiturn-grpo.yaml"
CALL = (
    '<think>look</think>\n<tool_call>\n{{"name": "search_coordinate", "arguments": {{"coordinate": [{x}, {y}]}}}}'
    "\n</tool_call><|im_end|>"
)
ANSWER = "<think>seen</think><answer>[0, 0, {k}, {k}]</answer><|im_end|>"


@pytest.fixture
def config(tmp_path):
    """The recipe's config over a model folder with only a config.json and one record (nothing loads)."""
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"model_type": "qwen2_5_vl"}))
    data = tmp_path / "train.jsonl"
    data.write_text(json.dumps({"id": "0", "images": ["a.png"], "question": "Which?", "answer": "B"}) + "\n")
    base = [f"model={model}", f"data={data}", "format=groundrl", f"output_dir={tmp_path / 'out'}"]
    return lambda *overrides: load_config(GRPORunConfig, RECIPE, [*base, *overrides])


def test_the_recipes_settings_reach_trl(config):
    args = check_config(config())
    assert args.max_tool_calling_iterations == 5 and args.reward_weights == [0.6, 0.4]
    assert (args.beta, args.epsilon, args.epsilon_high, args.max_grad_norm) == (0.01, 0.2, 0.28, 0.2)
    assert check_config(config("zoom.max_turns=3")).max_tool_calling_iterations == 3


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["tools=zom"], "tools: unknown value 'zom'; did you mean 'zoom'?"),
        (["zoom.preset=wbe"], "zoom.preset: unknown value 'wbe'; did you mean 'web'?"),
        (["zoom.max_images=1"], "zoom.max_images: the full image and at least one crop need 2, got 1"),
        (["zoom.max_turns=0"], "zoom.max_turns: expected at least 1 tool call, got 0"),
        (["zoom.size=0"], "zoom.size: expected a positive number of pixels, got 0"),
        (
            ['rewards=[{"name": "multiturn_format"}, {"name": "iou"}]'],
            "rewards[1] iou: reads the completion's text only, which tools=zoom splits into reasoning_content",
        ),
        (["difficulty=exp"], "difficulty_reward: 'iou' cannot read a tools=zoom run; use multiturn_format or"),
    ],
)
def test_bad_tool_settings_are_one_line_errors(config, overrides, message):
    with pytest.raises(ConfigError) as error:
        check_config(config(*overrides))
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


def test_text_rewards_are_fine_without_tools(config):
    assert check_config(config("tools=none", 'rewards=[{"name": "answer_match"}]')).reward_weights == [1.0]


class ScriptedPolicy:
    """Replaces `generate`. Round 1: the i-th trajectory calls at (4 + 10 i, 10); round 2: it answers (i even)
    or calls 20 px further (i odd); round 3: it answers. The answer's box grows with the first call's x, so
    the rewards differ within the group."""

    def __init__(self, tokenizer_dir: Path) -> None:
        self.tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
        self.started = 0

    def reply(self, seen: str) -> str:
        calls = [int(x) for x in re.findall(r'"coordinate": \[(\d+), \d+\]', seen)]
        if not calls:
            self.started += 1
            return CALL.format(x=4 + 10 * (self.started - 1), y=10)
        if len(calls) == 1 and (calls[0] // 10) % 2 == 1:
            return CALL.format(x=calls[0] + 20, y=30)
        return ANSWER.format(k=10 + calls[0])

    def generate(self, input_ids, **kwargs):
        tokenizer = self.tokenizer
        rows = [tokenizer(self.reply(tokenizer.decode(ids)), add_special_tokens=False).input_ids for ids in input_ids]
        width = max(len(r) for r in rows)
        padded = [r + [tokenizer.pad_token_id] * (width - len(r)) for r in rows]  # after <|im_end|>: cut by TRL
        return torch.cat([input_ids, torch.tensor(padded, dtype=input_ids.dtype)], dim=1)


@pytest.fixture
def captured(monkeypatch):
    """The first batch TRL generated and scored (completion ids, masks), kept for inspection."""
    outputs = []
    produce = GRPOTrainer._generate_and_score_completions

    def keep(self, inputs):
        outputs.append(produce(self, inputs))
        return outputs[-1]

    monkeypatch.setattr(GRPOTrainer, "_generate_and_score_completions", keep)
    return outputs


def test_the_recipe_zooms_and_trains_on_its_own_tokens(tiny_models, tmp_path, monkeypatch, captured):
    model_dir = tiny_models["qwen2.5-vl"]
    policy = ScriptedPolicy(model_dir)
    monkeypatch.setattr(Qwen2_5_VLForConditionalGeneration, "generate", policy.generate)  # a bound method: not rebound
    data = generate("rec", 4, tmp_path / "data", seed=0, opts=SynthOptions(min_size=56, max_size=84))
    out = tmp_path / "run"
    tiny = [f"model={model_dir}", f"data={data}", "format=groundrl", "image_root=null", f"output_dir={out}"]
    steps = ["trl.max_steps=1", "trl.per_device_train_batch_size=4", "trl.gradient_accumulation_steps=1"]
    steps += ["trl.num_generations=4", "trl.bf16=false", "trl.max_completion_length=600"]
    steps += ["zoom.size=112"]  # 16 image tokens a crop instead of the preset's 576: the same path, 3x faster
    run_cli("grpo", str(RECIPE), *tiny, *steps, check=True)

    log = next(json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if "loss" in line)
    assert math.isfinite(log["loss"]) and log["grad_norm"] > 0
    assert log["tools/call_frequency"] == 1.5 and log["tools/failure_frequency"] == 0.0  # 6 calls, 4 rollouts
    assert log["rewards/multiturn_format/mean"] == pytest.approx(1.3)  # 1 + 0.2 per distinct point: 1.2, 1.4
    assert log["rewards/multiturn_accuracy/std"] > 0

    before, after = load_file(model_dir / "model.safetensors"), load_file(out / "model.safetensors")
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    assert changed and not any(".visual." in name or name.startswith("visual.") for name in changed)

    batch = captured[0]
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    assert batch["image_grid_thw"].shape[0] == 4 + 6  # each prompt's image and every crop
    for ids, mask, tool in zip(batch["completion_ids"], batch["completion_mask"], batch["tool_mask"], strict=True):
        own = tokenizer.decode(ids[(mask * tool).bool()])
        observed = tokenizer.decode(ids[(mask * (1 - tool)).bool()])
        calls = own.count("search_coordinate")
        assert calls in (1, 2) and own.count("<answer>") == 1 and "<|image_pad|>" not in own
        assert observed.count("<tool_response>") == calls and "<|image_pad|>" in observed
        assert "search_coordinate" not in observed and "<answer>" not in observed
