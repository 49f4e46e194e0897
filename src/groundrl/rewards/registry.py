"""The one reward registry: names -> reward functions; checking a run's rewards before anything loads; which
records a reward applies to; building TRL's reward functions and weights.

A run configures its rewards as a list of RewardSpec (YAML: `- {name: iou_mix, weight: 1.0, options: {tau: 0.5}}`).
`check_rewards` checks names and options in microseconds, with no model; `reward_coverage` / `check_coverage`
count, from the reward columns alone, the records each reward will score, so that a recipe can refuse a run
whose rewards would score nothing.
"""

from __future__ import annotations

import difflib
import inspect
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from groundrl.config import ConfigError
from groundrl.rewards.columns import any_row
from groundrl.rewards.detection import (
    detection_f1,
    detection_map,
    od_ap,
    od_ap50,
    od_length,
    weighted_sum,
)
from groundrl.rewards.functions import (
    answer_match,
    format_reward,
    iou_mix,
    iou_reward,
    iou_threshold,
    length_penalty,
    point_in_box_reward,
    repetition_penalty,
)
from groundrl.rewards.multiturn import multiturn_accuracy, multiturn_format

REWARDS: dict[str, Callable] = {
    "format": format_reward,
    "iou": iou_reward,
    "iou_threshold": iou_threshold,
    "iou_mix": iou_mix,
    "point_in_box": point_in_box_reward,
    "detection": detection_f1,
    "detection_map": detection_map,
    "od_ap": od_ap,
    "od_ap50": od_ap50,
    "odLength": od_length,
    "weighted_sum": weighted_sum,
    "answer_match": answer_match,
    "length_penalty": length_penalty,
    "repetition_penalty": repetition_penalty,
    "multiturn_format": multiturn_format,
    "multiturn_accuracy": multiturn_accuracy,
}
# The rewards that read a tool run's turns (reasoning_content, tool_calls, tool turns): the only ones a run
# with tools on may use, since TRL moves <think> and the calls out of the text the others read.
MULTITURN_REWARDS = ("multiturn_format", "multiturn_accuracy")

MAX_SKIPPED = 0.5  # check_coverage: the largest share of records that no target reward may skip


@dataclass(frozen=True)
class RewardSpec:
    """One reward of a run: its registry name, weight, and keyword options (tau, alpha, pattern, ...)."""

    name: str
    weight: float = 1.0
    options: dict[str, Any] = field(default_factory=dict)


def _closest(word: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(known), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def reward_options(name: str) -> dict[str, Any]:
    """The options reward `name` takes, with their defaults.

    >>> reward_options("iou_mix")
    {'alpha': 0.5, 'tau': 0.5}
    """
    params = inspect.signature(REWARDS[name]).parameters.values()
    return {p.name: p.default for p in params if p.kind is p.KEYWORD_ONLY or (p.default is not p.empty)}


def _check_value(where: str, value: Any, default: Any) -> None:
    numeric = isinstance(default, int | float) and not isinstance(default, bool)
    if numeric and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if isinstance(default, int) and not isinstance(default, bool) and not float(value).is_integer():
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    if isinstance(default, str) and not isinstance(value, str):
        raise ConfigError(f"{where}: expected a string, got {value!r}")


def check_rewards(specs: Iterable[RewardSpec]) -> None:
    """Check each spec's name, weight and options against the registry, without loading anything.

    Raises:
        ConfigError: an unknown reward or option (naming the closest one), a non-numeric weight, or an option
            of the wrong type.

    >>> check_rewards([RewardSpec("iou_mix", options={"taus": 0.5})])
    Traceback (most recent call last):
    ...
    groundrl.config.ConfigError: rewards[0] iou_mix: unknown option 'taus'; did you mean 'tau'? (options: alpha, tau)
    """
    for k, spec in enumerate(specs):
        where = f"rewards[{k}]"
        if spec.name not in REWARDS:
            raise ConfigError(
                f"{where}: unknown reward {spec.name!r}{_closest(spec.name, REWARDS)} (known: {', '.join(REWARDS)})"
            )
        if isinstance(spec.weight, bool) or not isinstance(spec.weight, int | float):
            raise ConfigError(f"{where} {spec.name}: weight: expected a number, got {spec.weight!r}")
        known = reward_options(spec.name)
        for option, value in spec.options.items():
            if option not in known:
                listed = ", ".join(known) or "none"
                raise ConfigError(
                    f"{where} {spec.name}: unknown option {option!r}{_closest(option, known)} (options: {listed})"
                )
            _check_value(f"{where} {spec.name}.options.{option}", value, known[option])


def reward_applies(name: str, row: Mapping[str, Any]) -> bool:
    """Whether reward `name` scores a row of reward columns (see groundrl.rewards.columns) at all.

    >>> reward_applies("iou", {"task": "rec", "gt_box": [0, 0, 5, 5], "width": 10, "height": 10})
    True
    >>> reward_applies("iou", {"task": "qa", "answer": "B"})
    False
    """
    return REWARDS[name].applies(row)


def reward_coverage(
    specs: Iterable[RewardSpec], rows: Iterable[Mapping[str, Any]]
) -> tuple[dict[str, int], int, Counter]:
    """How many rows each reward applies to, how many rows no target reward applies to, and the rows' tasks.

    A target reward is one that reads a target (not format, length or repetition, which score every row).
    The rows are streamed: any number of them is checked in flat memory.
    """
    specs = list(specs)
    targeted = [s.name for s in specs if REWARDS[s.name].applies is not any_row]
    counts, skipped, tasks = dict.fromkeys((s.name for s in specs), 0), 0, Counter()
    for row in rows:
        tasks[row.get("task") or "rec"] += 1
        applying = [s.name for s in specs if reward_applies(s.name, row)]
        for name in applying:
            counts[name] += 1
        skipped += bool(targeted) and not any(name in targeted for name in applying)
    return counts, skipped, tasks


def check_coverage(
    specs: Iterable[RewardSpec], rows: Iterable[Mapping[str, Any]], max_skipped: float = MAX_SKIPPED
) -> dict[str, int]:
    """Refuse a run whose rewards would score nothing: a reward that applies to no row, or target rewards that
    together skip more than `max_skipped` of the rows. Returns the per-reward counts.

    Raises:
        ConfigError: one line that counts the rows each reward applies to, and the rows' tasks.

    >>> rows = [{"task": "qa", "answer": "B"}] * 3
    >>> check_coverage([RewardSpec("format"), RewardSpec("iou")], rows)
    Traceback (most recent call last):
    ...
    groundrl.config.ConfigError: rewards: 'iou' applies to 0 of 3 records (format: 3, iou: 0; tasks: qa 3)
    """
    counts, skipped, tasks = reward_coverage(specs, rows)
    n = sum(tasks.values())
    by_task = ", ".join(f"{t} {c}" for t, c in tasks.most_common())
    summary = f"({', '.join(f'{k}: {v}' for k, v in counts.items())}; tasks: {by_task})"
    for name, count in counts.items():
        if n and count == 0:
            raise ConfigError(f"rewards: {name!r} applies to 0 of {n} records {summary}")
    if n and skipped > max_skipped * n:
        raise ConfigError(f"rewards: no target reward applies to {skipped} of {n} records {summary}")
    return counts


def _named(spec: RewardSpec) -> Callable:
    base = REWARDS[spec.name]

    def reward(completions, **columns):
        return base(completions, **(columns | spec.options))

    reward.__name__ = spec.name  # TRL logs rewards/<name>/mean
    reward.applies = base.applies
    return reward


def build_rewards(specs: list[RewardSpec]) -> tuple[list[Callable], list[float]]:
    """TRL reward functions (each named after its spec, so each is logged on its own) and their weights.

    Raises:
        ConfigError: as check_rewards.
    """
    check_rewards(specs)
    return [_named(spec) for spec in specs], [float(spec.weight) for spec in specs]
