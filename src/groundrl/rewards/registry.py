"""Rewards from a config: names, weights and options -> TRL reward functions and weights."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from groundrl.rewards.functions import REWARDS


@dataclass(frozen=True)
class RewardSpec:
    """One reward of a run: its registry name, weight, and keyword options (tau, alpha, pattern, ...)."""

    name: str
    weight: float = 1.0
    options: dict[str, Any] = field(default_factory=dict)


def _named(spec: RewardSpec) -> Callable:
    base = REWARDS[spec.name]

    def reward(completions, **columns):
        return base(completions, **(columns | spec.options))

    reward.__name__ = spec.name  # TRL logs rewards/<name>/mean
    return reward


def build_rewards(specs: list[RewardSpec]) -> tuple[list[Callable], list[float]]:
    """TRL reward functions (each named after its spec, so each is logged on its own) and their weights.

    Raises:
        KeyError: an unknown reward name, naming the known ones.
    """
    funcs, weights = [], []
    for spec in specs:
        if spec.name not in REWARDS:
            raise KeyError(f"unknown reward {spec.name!r}; known: {', '.join(REWARDS)}")
        funcs.append(_named(spec))
        weights.append(spec.weight)
    return funcs, weights
