"""One prompt for a tool run: SFT on zoom chains (`tools: zoom`), multi-turn GRPO's rollouts and
`groundrl eval ... tools=zoom` give the model the same tokens before its first turn, when the chains and
evaluation carry the tool's system turn (`tool_system_text`). A model trained on one prompt and rolled out
or judged on another is trained for a behaviour it is never asked for."""

from __future__ import annotations

import dataclasses

import pytest
from transformers import AutoProcessor

from groundrl.eval.multiturn import start_trajectory
from groundrl.eval.runner import _prompt
from groundrl.eval.suites import load_data
from groundrl.models.families import FAMILIES
from groundrl.models.templates import use_tool_template
from groundrl.rewards import RewardSpec
from groundrl.synth import ChainOptions, VisualSearchOptions, generate
from groundrl.tools.env import ZoomOptions, tool_system_text
from groundrl.tools.zoom import ZoomLimits, ZoomPreset
from groundrl.train import grpo, sft
from groundrl.train.data import processor_family

OPTS = VisualSearchOptions(min_size=256, max_size=320, min_target=4, max_target=4, min_distractors=5, max_distractors=9,
                           ask="dot", place="centre")  # fmt: skip
PRESET = ZoomPreset(8, 56)


@pytest.mark.parametrize("family", ["qwen2.5-vl", "qwen3-vl"])
def test_sft_chains_grpo_rollouts_and_evaluation_share_the_first_prompt(tiny_models, tmp_path, family):
    processor = use_tool_template(AutoProcessor.from_pretrained(tiny_models[family]), FAMILIES[family])
    seen = processor_family(FAMILIES[family], processor)
    system = tool_system_text(FAMILIES[family])
    assert '"name": "search_coordinate"' in system
    chains = ChainOptions(seen, PRESET, system=system, look="centre")
    generate("visual_search", 2, tmp_path / "data", seed=1, opts=OPTS, chains=chains)

    data = str(tmp_path / "data" / "chains.jsonl")
    cfg = sft.SFTRunConfig(model=str(tiny_models[family]), data=data, output_dir=str(tmp_path / "sft"), tools="zoom")
    trainer = sft.run_sft(dataclasses.replace(cfg, trl={"max_steps": 1}))
    chain_ids = trainer.data_collator([trainer.train_dataset[0]])["input_ids"][0].tolist()
    saved = AutoProcessor.from_pretrained(tmp_path / "sft")
    assert saved.chat_template == processor.chat_template  # the SFT model keeps the tool template

    rl_trainer = grpo.build_trainer(
        grpo.GRPORunConfig(
            model=str(tmp_path / "sft"),
            data=str(tmp_path / "data" / "records.jsonl"),
            output_dir=str(tmp_path / "grpo"),
            tools="zoom",
            zoom=ZoomOptions(half=PRESET.half, size=PRESET.size, max_turns=1),
            rewards=[RewardSpec("multiturn_accuracy", 0.6), RewardSpec("multiturn_format", 0.4)],
            trl={"max_steps": 1, "per_device_train_batch_size": 2, "num_generations": 2, "max_completion_length": 8},
        )
    )
    out = rl_trainer._generate_and_score_completions([rl_trainer.train_dataset[0]] * 2)
    rollout_ids = out["prompt_ids"][0][out["prompt_mask"][0].bool()].tolist()
    assert chain_ids[: len(rollout_ids)] == rollout_ids  # SFT's chain opens with the rollout's prompt

    record = load_data(tmp_path / "data" / "records.jsonl")[0].records[0]
    trajectory = start_trajectory(0, _prompt(record, seen, None), 0, seen, PRESET, ZoomLimits(), system)
    text = saved.apply_chat_template(trajectory.messages, add_generation_prompt=True, tokenize=False)
    assert saved(text=[text], images=trajectory.images)["input_ids"][0] == rollout_ids  # evaluation's too
