"""UniVG-R1's difficulty-aware weight, computed per prompt group across devices.

Each group of G completions of one prompt gets phi(m), where m is the group's mean of a reward (IoU by
default): hard prompts (low m) weigh more. UniVG-R1's code averages over whatever completions sit on one
device; here m is computed from the rewards TRL gathers across all processes, group by group.

This is the one documented TRL hook (a small subclass of GRPOTrainer). It overrides two methods:
`_calculate_rewards` (to gather the chosen reward of every completion, all processes) and
`_generate_and_score_completions` (to multiply the advantages TRL computed by each row's phi). A test
checks that a group's gradient is scaled by exactly phi(m), so a TRL upgrade that changes what these
methods do fails loudly.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from trl import GRPOTrainer

Phi = Callable[[torch.Tensor], torch.Tensor]

PHI: dict[str, Callable[[float], Phi]] = {
    "exp": lambda w: lambda m: torch.exp(1.0 - m),
    "pow": lambda w: lambda m: (1.05 - m).clamp(min=0.0) ** w,
    "log": lambda w: lambda m: -torch.log(0.02 + m),
}


def difficulty_phi(name: str, w: float = 1.0) -> Phi:
    """phi(m) by name: `exp` exp(1 - m), `pow` (1.05 - m) ** w, `log` -log(0.02 + m).

    >>> round(float(difficulty_phi("exp")(torch.tensor(0.0))), 4) == round(math.e, 4)
    True
    """
    if name not in PHI:
        raise KeyError(f"unknown difficulty weight {name!r}; known: {', '.join(PHI)}")
    return PHI[name](w)


class DifficultyWeightedGRPOTrainer(GRPOTrainer):
    """GRPOTrainer whose advantages are scaled per prompt group by phi(group mean of a reward).

    Args:
        phi: the weight function (difficulty_phi).
        difficulty_reward: the reward whose group mean is m: f(completions, **columns) -> list[float | None];
            completions it returns None for do not count (a group with none gets phi = 1).
        *args, **kwargs: as GRPOTrainer.
    """

    def __init__(self, *args, phi: Phi, difficulty_reward: Callable, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.phi = phi
        self.difficulty_reward = difficulty_reward
        self._gathered_m: torch.Tensor | None = None
        self.last_unweighted_advantages: torch.Tensor | None = None
        self.last_phi: torch.Tensor | None = None

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        keys = [k for k in inputs[0] if k not in ("prompt", "completion", "completion_ids")]
        columns = {k: [example[k] for example in inputs] for k in keys}
        values = self.difficulty_reward(completions, **columns)
        local = torch.tensor([math.nan if v is None else float(v) for v in values], device=rewards_per_func.device)
        self._gathered_m = self.accelerator.gather(local)  # rows in the same order as rewards_per_func
        return rewards_per_func

    def _generate_and_score_completions(self, inputs):
        output = super()._generate_and_score_completions(inputs)
        if not self.model.training or self._gathered_m is None:
            return output
        g = self.num_generations
        m_per_group = torch.nanmean(self._gathered_m.view(-1, g), dim=1)
        phi = self.phi(torch.nan_to_num(m_per_group, nan=0.0))
        phi = torch.where(torch.isnan(m_per_group), torch.ones_like(phi), phi).repeat_interleave(g)
        n_local = output["advantages"].shape[0]
        start = self.accelerator.process_index * n_local
        local_phi = phi[start : start + n_local].to(output["advantages"].device)
        self.last_unweighted_advantages = output["advantages"].clone()
        self.last_phi = local_phi
        shape = (-1,) + (1,) * (output["advantages"].dim() - 1)
        output["advantages"] = output["advantages"] * local_phi.view(shape)
        self._metrics["train"]["difficulty/phi_mean"].append(phi.mean().item())
        return output
