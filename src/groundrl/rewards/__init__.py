"""Reward functions with TRL's signature, `f(completions, **columns) -> list[float | None]`, built on the
scoring core so that training and evaluation parse and convert boxes identically.

The dataset columns they read (one value per completion; `groundrl.train.data` fills them):
- `gt`: the target box [x1, y1, x2, y2] (or a list of boxes for detection) in original pixels;
- `width`, `height`: the original image size; `convention`, `input_width`, `input_height`: the model's frame;
- `answer`, `choices`: for choice and text answers; `task`: rec, point, qa, detection, multi_image.

A reward returns None for a completion it does not apply to (TRL then leaves it out of that reward).
`build_rewards` turns a config's {name: weight} (and options) into functions and weights.
"""

from __future__ import annotations

from groundrl.rewards.functions import (
    REWARDS,
    answer_match,
    detection_f1,
    detection_map,
    format_reward,
    iou_mix,
    iou_reward,
    iou_threshold,
    length_penalty,
    point_in_box_reward,
    repetition_penalty,
)
from groundrl.rewards.registry import RewardSpec, build_rewards

__all__ = [
    "REWARDS",
    "RewardSpec",
    "answer_match",
    "build_rewards",
    "detection_f1",
    "detection_map",
    "format_reward",
    "iou_mix",
    "iou_reward",
    "iou_threshold",
    "length_penalty",
    "point_in_box_reward",
    "repetition_penalty",
]
