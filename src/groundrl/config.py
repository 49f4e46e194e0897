"""Typed configs: dataclasses filled from YAML and `key.sub=value` overrides.

An unknown key or a value of the wrong type fails at load, naming the key (and the closest valid one).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

C = TypeVar("C")


class ConfigError(ValueError):
    """A config key that does not exist, or a value that does not fit its field."""


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


_WORDS = {"true": True, "false": False, "null": None, "none": None}


def parse_scalar(raw: str) -> Any:
    """A command-line value as JSON (1e-3, 4, true, null, [1, 2]); anything else stays a string, so that
    `save_strategy=no` is not YAML 1.1's boolean false."""
    if raw.lower() in _WORDS:
        return _WORDS[raw.lower()]
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def coerce(value: Any, annotation: Any, key: str) -> Any:
    """`value` as `annotation`; strings from the command line are parsed as scalars first.

    Raises:
        ConfigError: `key: expected TYPE, got VALUE`.
    """
    if isinstance(value, str) and annotation is not str:
        value = parse_scalar(value)
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return coerce(value, arg, key)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"{key}: cannot be {value!r}")
    if dataclasses.is_dataclass(annotation):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return from_dict(annotation, value, prefix=f"{key}.")
    if origin in (list, tuple):
        if isinstance(value, str):
            value = [v for v in value.split(",") if v]
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        inner = args[0] if args else Any
        items = [coerce(v, inner, key) for v in value]
        return tuple(items) if origin is tuple else items
    if origin is dict or annotation is Any:
        return value
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if annotation is Path and isinstance(value, str):
        return Path(value)
    if (isinstance(annotation, type) and not isinstance(value, annotation)) or (
        annotation is int and isinstance(value, bool)
    ):
        name = getattr(annotation, "__name__", str(annotation))
        raise ConfigError(f"{key}: expected {name}, got {value!r}")
    return value


def _free_form(raw: str) -> Any:
    """A value for a free-form mapping (`trl:`), read as YAML reads it: `none` stays the word, which TRL
    takes as a value (`report_to=none`); `null` is None."""
    return raw if raw.lower() == "none" else parse_scalar(raw)


def _unknown(key: str, valid: list[str], prefix: str) -> ConfigError:
    close = difflib.get_close_matches(key, valid, n=1)
    hint = f"; did you mean '{prefix}{close[0]}'?" if close else f"; valid keys: {', '.join(valid)}"
    return ConfigError(f"unknown config key '{prefix}{key}'{hint}")


def from_dict(cls: type[C], data: dict[str, Any], prefix: str = "") -> C:
    """Build dataclass `cls` from a (nested) dict, checking every key and type.

    Raises:
        ConfigError: unknown key (with the closest valid one) or a wrong type.
    """
    fields = _field_types(cls)
    values = {}
    for key, value in data.items():
        if key not in fields:
            raise _unknown(key, list(fields), prefix)
        values[key] = coerce(value, fields[key], f"{prefix}{key}")
    return cls(**values)


def apply_overrides(config: C, overrides: list[str]) -> C:
    """A copy of `config` with `key.sub=value` overrides applied (values parsed as YAML scalars).

    Raises:
        ConfigError: malformed override, unknown key or wrong type.
    """
    for override in overrides:
        if "=" not in override:
            raise ConfigError(f"override {override!r}: expected key=value")
        dotted, raw = override.split("=", 1)
        config = _set(config, dotted.strip().split("."), raw, "")
    return config


def _set(config: Any, path: list[str], raw: str, prefix: str) -> Any:
    fields = _field_types(type(config))
    key = path[0]
    if key not in fields:
        raise _unknown(key, list(fields), prefix)
    if len(path) == 1:
        return dataclasses.replace(config, **{key: coerce(raw, fields[key], prefix + key)})
    child = getattr(config, key)
    if isinstance(child, dict) and len(path) == 2:  # free-form mappings, e.g. trl.max_steps=10
        return dataclasses.replace(config, **{key: {**child, path[1]: _free_form(raw)}})
    if not dataclasses.is_dataclass(child):
        raise ConfigError(f"{prefix}{key} has no sub-keys")
    return dataclasses.replace(config, **{key: _set(child, path[1:], raw, f"{prefix}{key}.")})


def load_config(cls: type[C], path: str | Path | None = None, overrides: list[str] | None = None) -> C:
    """`cls` from a YAML file (or its defaults), then the overrides.

    Raises:
        ConfigError: unreadable YAML, unknown keys, wrong types.
    """
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as e:
            raise ConfigError(f"{path}: cannot read the config ({e})") from e
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a mapping of config keys")
    return apply_overrides(from_dict(cls, data), overrides or [])


def to_dict(config: Any) -> dict[str, Any]:
    """The config as plain data (for the run folder's resolved config)."""
    return {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(config).items()}
