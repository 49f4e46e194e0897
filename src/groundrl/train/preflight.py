"""Check a training run's whole config in milliseconds, before any model, processor or image loads.

The recipes and `groundrl sft|grpo` call `check_config` first, so a typo costs a one-line error instead of
minutes of loading. It checks the paths (model folder, data files, output_dir), the `trl:` keys and the
types of their values, then builds TRL's own SFTConfig / GRPOConfig exactly as the recipe will (its
checks run too), the rewards and their options, the difficulty weight, and that `num_generations`
divides GRPO's generation batch. Every problem is a `ConfigError` of one line that names the key.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import json
import os
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from huggingface_hub import try_to_load_from_cache
from huggingface_hub.errors import HFValidationError
from trl import GRPOConfig, SFTConfig

from groundrl.config import ConfigError, coerce
from groundrl.data.formats import FORMATS
from groundrl.data.pipeline import split_sources
from groundrl.errors import InputError
from groundrl.models.families import FAMILIES, UnknownFamilyError, get_family
from groundrl.models.prompts import template_problem
from groundrl.rewards import MULTITURN_REWARDS, REWARDS, build_rewards
from groundrl.tools.zoom import PRESETS
from groundrl.train.common import TrainCommon, trl_args
from groundrl.train.difficulty import PHI

TOOLS = ("none", "zoom")


def check_config(cfg: TrainCommon) -> Any:
    """Check everything a training run needs before it loads anything heavy.

    Args:
        cfg: an SFTRunConfig or a GRPORunConfig.

    Returns:
        TRL's SFTConfig or GRPOConfig for the run (GRPO's with the rewards' weights), which the recipe uses.

    Raises:
        ConfigError: one line naming the key that is wrong, with the closest valid value when it is a typo.
    """
    check_model(cfg.model, cfg.family)
    check_data(cfg.data, cfg.format, cfg.image_root)
    check_output_dir(cfg.output_dir)
    if cfg.limit is not None and cfg.limit < 1:
        raise ConfigError(f"limit: expected a positive number of records, got {cfg.limit}")
    if problem := template_problem(cfg.prompt):
        raise ConfigError(f"prompt: {problem}")
    config_cls, defaults = _recipe(cfg)
    user = check_trl_types(config_cls, cfg.trl)
    if hasattr(cfg, "rewards"):
        defaults = defaults | {"reward_weights": check_grpo(cfg)}
        if cfg.tools == "zoom":
            defaults = defaults | {"max_tool_calling_iterations": cfg.zoom.max_turns}
        check_generation_batch(_field_defaults(config_cls) | defaults | user)
    elif cfg.tools not in TOOLS:
        raise _choice("tools", cfg.tools, TOOLS)
    return _build_trl_config(config_cls, cfg, defaults)


def _recipe(cfg: TrainCommon) -> tuple[type, dict[str, Any]]:
    """TRL's config class and the recipe's defaults for `cfg`. Imported here, not at the top: the recipes
    import this module."""
    from groundrl.train.grpo import GRPO_DEFAULTS, GRPORunConfig
    from groundrl.train.sft import SFT_DEFAULTS

    return (GRPOConfig, GRPO_DEFAULTS) if isinstance(cfg, GRPORunConfig) else (SFTConfig, SFT_DEFAULTS)


def _choice(key: str, value: object, valid: Iterable[str]) -> ConfigError:
    """`key: unknown value; did you mean ...?` (or the valid values when none is close)."""
    valid = sorted(valid)
    close = difflib.get_close_matches(str(value), valid, n=1)
    hint = f"did you mean {close[0]!r}?" if close else f"expected one of {', '.join(valid)}"
    return ConfigError(f"{key}: unknown value {value!r}; {hint}")


def check_model(model: str, family: str | None) -> None:
    """`model` is a saved checkpoint folder (or a hub id already in the local hub cache) of a known family:
    its config.json is read, no weights.

    Raises:
        ConfigError: missing, not a folder, no or unreadable config.json, unknown family.
    """
    if not model:
        raise ConfigError("model: a checkpoint folder is required")
    path = Path(model)
    if not path.exists():
        config = _cached_hub_config(model)
        if config is None:
            raise ConfigError(f"model: no such folder {model!r} (a checkpoint folder, or a hub id downloaded first)")
    elif not path.is_dir():
        raise ConfigError(f"model: {model!r} is a file, not a checkpoint folder")
    else:
        config = path / "config.json"
        if not config.exists():
            raise ConfigError(f"model: {model!r} has no config.json; it is not a saved checkpoint")
    try:
        model_type = json.loads(config.read_text()).get("model_type")
    except (OSError, ValueError, AttributeError) as e:
        raise ConfigError(f"model: cannot read {str(config)!r} ({type(e).__name__})") from e
    if family is not None and family not in FAMILIES:
        raise _choice("family", family, FAMILIES)
    try:
        get_family(str(model_type))
    except UnknownFamilyError as e:
        raise ConfigError(f"model: {model!r} has model_type {model_type!r}, not a supported family") from e


def _cached_hub_config(repo_id: str) -> Path | None:
    """The config.json of hub model `repo_id` in the local hub cache (never the network), or None."""
    try:
        found = try_to_load_from_cache(repo_id, "config.json")
    except HFValidationError:
        return None
    return Path(found) if isinstance(found, str) else None


def check_data(data: str, fmt: str, image_root: str | None) -> None:
    """Every file of `data` (`a.jsonl:b.jsonl`) exists, is a file (a folder only for format=refcoco), is
    readable and not empty; every image folder exists. Nothing is parsed.

    Raises:
        ConfigError: naming `data`, `format` or `image_root` and the path.
    """
    if not data:
        raise ConfigError("data: a file of training records is required")
    if fmt not in FORMATS:
        raise _choice("format", fmt, FORMATS)
    try:
        sources = split_sources(data, fmt, image_root)
    except InputError as e:
        raise ConfigError(f"image_root: {e.message} (data={data!r}, image_root={image_root!r})") from e
    if not sources:
        raise ConfigError(f"data: no file in {data!r}")
    folder = FORMATS[fmt].container == "refcoco"
    for source in sources:
        _check_source(source.path, folder)
        if source.image_root is not None and not source.image_root.is_dir():
            raise ConfigError(f"image_root: no such folder {str(source.image_root)!r}")


def _check_source(path: Path, folder: bool) -> None:
    if not path.exists():
        raise ConfigError(f"data: no such file {str(path)!r}")
    if folder:
        if not path.is_dir():
            raise ConfigError(f"data: {str(path)!r} is not a folder (format=refcoco reads a RefCOCO folder)")
        return
    if path.is_dir():
        raise ConfigError(f"data: {str(path)!r} is a folder; give a file of records (only format=refcoco reads one)")
    try:
        with open(path, "rb") as f:
            empty = not f.read(1)
    except OSError as e:
        raise ConfigError(f"data: cannot read {str(path)!r} ({e.strerror or type(e).__name__})") from e
    if empty:
        raise ConfigError(f"data: {str(path)!r} is empty")


def check_output_dir(output_dir: str) -> None:
    """`output_dir` can be a folder: neither it nor any folder above it is an existing file.

    Raises:
        ConfigError: naming the file in the way.
    """
    if not output_dir:
        raise ConfigError("output_dir: a run folder is required")
    path = Path(output_dir)
    for above in (path, *path.parents):
        if above.exists():
            if not above.is_dir():
                raise ConfigError(f"output_dir: {str(above)!r} is a file, not a folder")
            return


def _field_defaults(config_cls: type) -> dict[str, Any]:
    return {f.name: f.default for f in dataclasses.fields(config_cls) if f.default is not dataclasses.MISSING}


def check_trl_types(config_cls: type, trl: dict[str, Any]) -> dict[str, Any]:
    """The user's `trl:` values checked against the types of TRL's config fields (unknown keys are left to
    `trl_args`, which names the closest field).

    Returns:
        the known values, coerced to their fields' types.

    Raises:
        ConfigError: `trl.KEY: expected TYPE, got VALUE`, or an unknown choice with a did-you-mean.
    """
    hints = typing.get_type_hints(config_cls)
    checked = {}
    for key, value in trl.items():
        if key not in hints:
            continue
        annotation = hints[key]
        args = typing.get_args(annotation) or (annotation,)
        choices = next((a for a in args if isinstance(a, type) and issubclass(a, enum.Enum)), None)
        if choices is not None and isinstance(value, str) and value not in {c.value for c in choices}:
            raise _choice(f"trl.{key}", value, (str(c.value) for c in choices))
        if value == "none" and type(None) in args and str not in args:
            raise ConfigError(f"trl.{key}: got 'none'; write null for no value")
        checked[key] = coerce(value, annotation, f"trl.{key}")
    return checked


def check_grpo(cfg: Any) -> list[float]:
    """GRPO's rewards (names, weights, options: the registry's own check), the difficulty weight and the
    reward it reads.

    Returns:
        the rewards' weights, as the recipe gives them to TRL.

    Raises:
        ConfigError: naming `rewards[i]`, `difficulty` or `difficulty_reward`.
    """
    if not cfg.rewards:
        raise ConfigError("rewards: at least one reward is required")
    _, weights = build_rewards(cfg.rewards)
    if cfg.difficulty is not None and cfg.difficulty not in PHI:
        raise _choice("difficulty", cfg.difficulty, PHI)
    if cfg.difficulty_reward not in REWARDS:
        raise _choice("difficulty_reward", cfg.difficulty_reward, REWARDS)
    check_tools(cfg)
    return weights


def check_tools(cfg: Any) -> None:
    """A multi-turn run's tool, its zoom options, and rewards that read its turns: with tools on, TRL moves
    `<think>` into `reasoning_content` and the calls into `tool_calls`, so a reward that reads the text alone
    would score every trajectory as if it had neither.

    Raises:
        ConfigError: naming `tools`, `zoom.*`, `rewards[i]` or `difficulty_reward`.
    """
    if cfg.tools not in TOOLS:
        raise _choice("tools", cfg.tools, TOOLS)
    zoom = cfg.zoom
    if zoom.preset not in PRESETS:
        raise _choice("zoom.preset", zoom.preset, PRESETS)
    for key in ("half", "size"):
        value = getattr(zoom, key)
        if value is not None and value < 1:
            raise ConfigError(f"zoom.{key}: expected a positive number of pixels, got {value}")
    if zoom.max_images < 2:
        raise ConfigError(f"zoom.max_images: the full image and at least one crop need 2, got {zoom.max_images}")
    if zoom.max_turns < 1:
        raise ConfigError(f"zoom.max_turns: expected at least 1 tool call, got {zoom.max_turns}")
    if cfg.tools == "none":
        return
    wanted = " or ".join(MULTITURN_REWARDS)
    for k, spec in enumerate(cfg.rewards):
        if spec.name not in MULTITURN_REWARDS:
            raise ConfigError(
                f"rewards[{k}] {spec.name}: reads the completion's text only, which tools=zoom splits into "
                f"reasoning_content and tool_calls; use {wanted}"
            )
    if cfg.difficulty is not None and cfg.difficulty_reward not in MULTITURN_REWARDS:
        raise ConfigError(f"difficulty_reward: {cfg.difficulty_reward!r} cannot read a tools=zoom run; use {wanted}")


def check_generation_batch(options: dict[str, Any]) -> None:
    """`num_generations` divides GRPO's generation batch, computed as TRL does: generation_batch_size, or
    per_device_train_batch_size x (steps_per_generation or gradient_accumulation_steps) x processes.

    Raises:
        ConfigError: naming `trl.num_generations` and how the batch was counted.
    """
    num = options.get("num_generations")
    if num is None:
        return
    if num < 2:
        raise ConfigError(f"trl.num_generations: GRPO needs at least 2 completions per prompt, got {num}")
    if options.get("generation_batch_size"):
        batch, how = options["generation_batch_size"], "trl.generation_batch_size"
    else:
        per_device = options["per_device_train_batch_size"]
        steps_key = "steps_per_generation" if options.get("steps_per_generation") else "gradient_accumulation_steps"
        processes = int(os.environ.get("WORLD_SIZE", "1"))
        batch = per_device * options[steps_key] * processes
        how = f"per_device_train_batch_size {per_device} x {steps_key} {options[steps_key]} x {processes} process(es)"
    if batch % num:
        raise ConfigError(f"trl.num_generations: {num} does not divide the generation batch of {batch} ({how})")


def _build_trl_config(config_cls: type, cfg: TrainCommon, defaults: dict[str, Any]) -> Any:
    """TRL's config, built as the recipe uses it, so that its own checks run now; their errors become one line."""
    try:
        return trl_args(config_cls, cfg, defaults)
    except ConfigError:
        raise
    except (ValueError, TypeError) as e:
        raise ConfigError(f"trl: {_one_line(e)}") from e


def _one_line(error: Exception) -> str:
    """An exception's message on one line."""
    return " ".join(str(error).split())
