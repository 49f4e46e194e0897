"""Every published recipe loads, validates, and runs one step on a tiny model of its family (--tiny)."""

import json
from pathlib import Path

import pytest

from groundrl.config import load_config
from groundrl.train.grpo import GRPORunConfig
from groundrl.train.sft import SFTRunConfig
from helpers import run_cli

RECIPES = Path(__file__).parents[2] / "configs" / "recipes"
CASES = [
    ("grpo", "vlm-r1-refcoco-grpo.yaml", "qwen2_5_vl"),
    ("sft", "univg-r1-stage1-sft.yaml", "qwen2_vl"),
    ("grpo", "univg-r1-stage2-grpo.yaml", "qwen2_vl"),
    ("grpo", "egm-qwen3-vl-8b-grpo.yaml", "qwen3_vl"),
    ("grpo", "vigorl-multiturn-grpo.yaml", "qwen2_5_vl"),  # tool calls: tests/train/test_multiturn_grpo.py
]


def test_every_recipe_is_covered():
    assert {p.name for p in RECIPES.glob("*.yaml")} == {c[1] for c in CASES}


@pytest.mark.parametrize(("kind", "name", "model_type"), CASES)
def test_recipe_runs_one_step_on_a_tiny_model(tmp_path, kind, name, model_type):
    cfg = load_config(GRPORunConfig if kind == "grpo" else SFTRunConfig, RECIPES / name)
    assert cfg.trl, "a recipe carries its published hyperparameters"
    out = tmp_path / "run"
    run_cli(kind, str(RECIPES / name), "--tiny", f"output_dir={out}", check=True)
    assert json.loads((out / "config.json").read_text())["model_type"] == model_type
    logs = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert logs and logs[-1]["step"] == 1
    resolved = json.loads((out / "run_config.json").read_text())
    assert published(resolved["trl"]) == published(cfg.trl)  # --tiny keeps every other setting


TINY_KEYS = {
    "max_steps",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "bf16",
    "num_generations",
    "max_completion_length",
}


def published(trl: dict) -> dict:
    """A recipe's TRL settings without the ones --tiny shrinks."""
    return {k: v for k, v in trl.items() if k not in TINY_KEYS}
