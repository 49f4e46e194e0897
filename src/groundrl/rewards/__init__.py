"""Reward functions with TRL's signature, `f(completions, **columns) -> list[float | None]`, judged by the one
scorer (`groundrl.boxes.score`), so that training, `groundrl eval` and `groundrl score` parse, convert and
judge boxes identically.

The typed columns they read (one value per completion; the GRPO data builder fills every one, None where it
does not apply; see `groundrl.rewards.columns` for the table): `gt_box`, `gt_boxes`, `gt_labels`, `gt_point`,
`answer`, `choices`, `width`, `height`, `convention`, `input_width`, `input_height`, `task`, `image_index`,
`record_id`. Boxes and points are in original pixels of image `image_index`, whose size is `width` x `height`;
`convention` and `input_width`/`input_height` give the model's frame.

Which reward reads what:
- `iou`, `iou_threshold`, `iou_mix`: `gt_box`, on rec and multi_image rows;
- `point_in_box`: `gt_box` (the target element), on point rows;
- `detection`, `detection_map`, `od_ap`, `od_ap50`, `odLength`, `weighted_sum`: `gt_boxes` (and `gt_labels`
  when given), on detection rows;
- `answer_match`: `answer` and `choices`, on rows with an answer;
- `format`, `length_penalty`, `repetition_penalty`: the completion alone, every row;
- `multiturn_format`, `multiturn_accuracy`: a tool run's trajectory (`reasoning_content`, `tool_calls`, tool
  turns; see `groundrl.rewards.multiturn`): the format on every row, the accuracy on point, box and answer rows.

A reward returns None exactly for the rows it does not apply to (TRL then leaves them out of that reward);
`reward_applies(name, row)` answers that from the columns alone, and `check_coverage` counts it over a data
set before training. `check_rewards` checks names and options (did-you-mean) with no model loaded;
`build_rewards` turns a run's RewardSpecs into TRL functions and weights.
"""

from __future__ import annotations

from groundrl.rewards.columns import COLUMNS, completion_text
from groundrl.rewards.detection import (
    detection_f1,
    detection_map,
    detection_predictions,
    od_ap,
    od_ap50,
    od_length,
    weighted_sum,
)
from groundrl.rewards.functions import (
    answer_match,
    box_predictions,
    format_reward,
    iou_mix,
    iou_reward,
    iou_threshold,
    length_penalty,
    point_in_box_reward,
    point_predictions,
    repetition_penalty,
)
from groundrl.rewards.multiturn import multiturn_accuracy, multiturn_format
from groundrl.rewards.registry import (
    MULTITURN_REWARDS,
    REWARDS,
    RewardSpec,
    build_rewards,
    check_coverage,
    check_rewards,
    reward_applies,
    reward_coverage,
    reward_options,
)

__all__ = [
    "COLUMNS",
    "MULTITURN_REWARDS",
    "REWARDS",
    "RewardSpec",
    "answer_match",
    "box_predictions",
    "build_rewards",
    "check_coverage",
    "check_rewards",
    "completion_text",
    "detection_f1",
    "detection_map",
    "detection_predictions",
    "format_reward",
    "iou_mix",
    "iou_reward",
    "iou_threshold",
    "length_penalty",
    "multiturn_accuracy",
    "multiturn_format",
    "od_ap",
    "od_ap50",
    "od_length",
    "point_in_box_reward",
    "point_predictions",
    "repetition_penalty",
    "reward_applies",
    "reward_coverage",
    "reward_options",
    "weighted_sum",
]
