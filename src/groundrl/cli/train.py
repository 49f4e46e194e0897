"""`groundrl sft` and `groundrl grpo`: training recipes from a YAML config and key=value overrides."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from groundrl.cli.common import console, fail
from groundrl.config import ConfigError, load_config
from groundrl.errors import InputError

ConfigArg = Annotated[Path | None, typer.Argument(help="YAML config (configs/); omit to use overrides only.")]
OverridesArg = Annotated[
    list[str] | None, typer.Argument(help="key=value overrides, e.g. trl.max_steps=10 freeze_vision=true.")
]


def _run(kind: str, config: Path | None, overrides: list[str] | None, resume: bool) -> None:
    if config is not None and "=" in str(config) and not config.exists():  # only overrides were given
        overrides, config = [str(config), *(overrides or [])], None
    if kind == "sft":
        from groundrl.train.sft import SFTRunConfig as Config
        from groundrl.train.sft import run_sft as run
    else:
        from groundrl.train.grpo import GRPORunConfig as Config
        from groundrl.train.grpo import run_grpo as run
    try:
        cfg = load_config(Config, config, [*(overrides or []), *(["resume=true"] if resume else [])])
        if not cfg.model:
            raise ConfigError("model: a checkpoint folder is required")
        trainer = run(cfg)
    except (ConfigError, InputError, KeyError, FileNotFoundError) as e:
        fail(e)
    last = trainer.state.log_history[-1] if trainer.state.log_history else {}
    console.print(json.dumps({"step": trainer.state.global_step, **{k: v for k, v in last.items() if k != "step"}}))
    console.print(f"model: {cfg.output_dir} (loads with from_pretrained); curves: {cfg.output_dir}/metrics.jsonl")


def sft(
    config: ConfigArg = None,
    overrides: OverridesArg = None,
    resume: Annotated[bool, typer.Option(help="Continue from the last complete checkpoint.")] = False,
) -> None:
    """Supervised fine-tuning on TRL's SFTTrainer (assistant tokens only; CoT and multi-turn chains)."""
    _run("sft", config, overrides, resume)


def grpo(
    config: ConfigArg = None,
    overrides: OverridesArg = None,
    resume: Annotated[bool, typer.Option(help="Continue from the last complete checkpoint.")] = False,
) -> None:
    """GRPO on TRL's GRPOTrainer with grounding rewards and the difficulty-aware weight."""
    _run("grpo", config, overrides, resume)


def export(
    run: Annotated[Path, typer.Argument(help="A training run folder (or checkpoint) holding a LoRA adapter.")],
    out: Annotated[Path, typer.Argument(help="Folder for the merged model.")],
    merge: Annotated[bool, typer.Option("--merge", help="Merge the adapter into its base model.")] = False,
    base: Annotated[str | None, typer.Option(help="Base model folder (default: the adapter's own record of it).")] = None,
) -> None:
    """Write a plain checkpoint folder that from_pretrained and vLLM load directly."""
    if not merge:
        fail("nothing to do: full-model runs are already plain checkpoints; use --merge for LoRA runs")
    from groundrl.train.export import merge_adapter

    try:
        path = merge_adapter(run, out, base)
    except FileNotFoundError as e:
        fail(e)
    console.print(f"merged model: {path}")
