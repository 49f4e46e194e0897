"""`groundrl sft` and `groundrl grpo`: training recipes from a YAML config and key=value overrides."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from groundrl.cli.common import console, fail
from groundrl.config import ConfigError, load_config
from groundrl.errors import InputError

ConfigArg = Annotated[Path | None, typer.Argument(help="YAML config (configs/); omit to use overrides only.")]
OverridesArg = Annotated[
    list[str] | None, typer.Argument(help="key=value overrides, e.g. trl.max_steps=10 freeze_vision=true.")
]


def guess_family(model: str, family: str | None) -> str:
    """The family of a recipe's model: its `family`, its saved config, or its name."""
    from groundrl.models.families import FAMILIES

    if family:
        return family
    config = Path(model) / "config.json"
    if config.exists():
        from groundrl.models.families import get_family

        return get_family(json.loads(config.read_text())["model_type"]).name
    name = model.lower().replace("_", "-")
    for candidate in sorted(FAMILIES, key=len, reverse=True):
        if candidate in name:
            return candidate
    raise ConfigError(f"--tiny: cannot tell the family of {model!r}; set family=qwen2.5-vl (or another)")


def tiny_overrides(kind: str, model: str, family: str | None, out: Path) -> list[str]:
    """Swap a recipe's model and data for a tiny model of its family and synthetic data, and make the
    run one quick step; every other setting of the recipe stays (smoke test of a recipe on CPU)."""
    from groundrl.models.tiny import make_tiny
    from groundrl.synth import SynthOptions, generate

    tiny = make_tiny(guess_family(model, family), out / "tiny-model")
    data = generate("rec", 8, out / "tiny-data", seed=0, opts=SynthOptions(min_size=56, max_size=84))
    common = [f"model={tiny}", f"data={data}", "format=groundrl", "image_root=null", f"output_dir={out}"]
    common += [
        "trl.max_steps=1",
        "trl.per_device_train_batch_size=4",
        "trl.gradient_accumulation_steps=1",
        "trl.bf16=false",
    ]
    if kind == "grpo":
        common += ["trl.num_generations=4", "trl.max_completion_length=16"]
    return common


def _load(kind: str, config_cls: type, config: Path | None, overrides: list[str], tiny: bool) -> Any:
    """The recipe's config from the YAML file and the overrides; with `tiny`, its model and data swapped
    for a tiny model of its family and synthetic data."""
    cfg = load_config(config_cls, config, overrides)
    if not tiny:
        return cfg
    given_out = any(o.startswith("output_dir=") for o in overrides)
    out = Path(cfg.output_dir if given_out else f"{cfg.output_dir}-tiny")
    return load_config(config_cls, config, [*overrides, *tiny_overrides(kind, cfg.model, cfg.family, out)])


def _run(kind: str, config: Path | None, overrides: list[str] | None, resume: bool, tiny: bool = False) -> None:
    """Load and check the config (any error: one line, exit 2) before the recipe loads anything, then train."""
    if config is not None and "=" in str(config) and not config.exists():  # only overrides were given
        overrides, config = [str(config), *(overrides or [])], None
    if kind == "sft":
        from groundrl.train.sft import SFTRunConfig as Config
        from groundrl.train.sft import run_sft as run
    else:
        from groundrl.train.grpo import GRPORunConfig as Config
        from groundrl.train.grpo import run_grpo as run
    from groundrl.train.preflight import check_config

    try:
        cfg = _load(kind, Config, config, [*(overrides or []), *(["resume=true"] if resume else [])], tiny)
        check_config(cfg)
        trainer = run(cfg)
    except (ConfigError, InputError, KeyError, FileNotFoundError) as e:
        fail(e.args[0] if isinstance(e, KeyError) and e.args else e)
    last = trainer.state.log_history[-1] if trainer.state.log_history else {}
    console.print(json.dumps({"step": trainer.state.global_step, **{k: v for k, v in last.items() if k != "step"}}))
    console.print(f"model: {cfg.output_dir} (loads with from_pretrained); curves: {cfg.output_dir}/metrics.jsonl")


TinyOpt = Annotated[bool, typer.Option(help="Smoke-test the recipe: tiny model of its family, synthetic data, 1 step.")]


def sft(
    config: ConfigArg = None,
    overrides: OverridesArg = None,
    resume: Annotated[bool, typer.Option(help="Continue from the last complete checkpoint.")] = False,
    tiny: TinyOpt = False,
) -> None:
    """Supervised fine-tuning on TRL's SFTTrainer (assistant tokens only; CoT and multi-turn chains)."""
    _run("sft", config, overrides, resume, tiny)


def grpo(
    config: ConfigArg = None,
    overrides: OverridesArg = None,
    resume: Annotated[bool, typer.Option(help="Continue from the last complete checkpoint.")] = False,
    tiny: TinyOpt = False,
) -> None:
    """GRPO on TRL's GRPOTrainer with grounding rewards and the difficulty-aware weight."""
    _run("grpo", config, overrides, resume, tiny)


def export(
    run: Annotated[Path, typer.Argument(help="A training run folder (or checkpoint) holding a LoRA adapter.")],
    out: Annotated[Path, typer.Argument(help="Folder for the merged model.")],
    merge: Annotated[bool, typer.Option("--merge", help="Merge the adapter into its base model.")] = False,
    base: Annotated[
        str | None, typer.Option(help="Base model folder (default: the adapter's own record of it).")
    ] = None,
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
