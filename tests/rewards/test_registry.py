"""The registry answers, with no model, which rewards exist, which options they take and which rows they score;
and a reward returns a value exactly where `reward_applies` says it does."""

import time

import pytest

from groundrl.config import ConfigError
from groundrl.rewards import COLUMNS, REWARDS, RewardSpec, check_coverage, check_rewards, reward_applies, reward_options

BLANK = dict.fromkeys(COLUMNS)
SIZE = {"width": 640, "height": 480, "convention": "abs", "input_width": 644, "input_height": 476}
ROWS = {
    "rec": BLANK | SIZE | {"task": "rec", "gt_box": [10, 10, 50, 50]},
    "multi_image": BLANK | SIZE | {"task": "multi_image", "gt_box": [10, 10, 50, 50], "image_index": 1},
    "point": BLANK | SIZE | {"task": "point", "gt_box": [10, 10, 50, 50], "gt_point": [30, 30]},
    "detection": BLANK | SIZE | {"task": "detection", "gt_boxes": [[10, 10, 50, 50]], "gt_labels": ["cat"]},
    "qa": BLANK | SIZE | {"task": "qa", "answer": "blue", "choices": ["red", "blue"]},
}
EXPECTED = {  # reward -> the tasks it scores
    "iou": {"rec", "multi_image"},
    "iou_threshold": {"rec", "multi_image"},
    "iou_mix": {"rec", "multi_image"},
    "point_in_box": {"point"},
    "detection": {"detection"},
    "detection_map": {"detection"},
    "od_ap": {"detection"},
    "od_ap50": {"detection"},
    "odLength": {"detection"},
    "weighted_sum": {"detection"},
    "answer_match": {"qa"},
    "format": set(ROWS),
    "length_penalty": set(ROWS),
    "repetition_penalty": set(ROWS),
    "multiturn_format": set(ROWS),
    "multiturn_accuracy": {"rec", "multi_image", "point", "qa"},
}


def test_every_reward_declares_where_it_applies():
    assert set(EXPECTED) == set(REWARDS)
    for name, tasks in EXPECTED.items():
        assert {task for task, row in ROWS.items() if reward_applies(name, row)} == tasks, name


@pytest.mark.parametrize("name", sorted(REWARDS))
def test_a_reward_returns_none_exactly_where_it_does_not_apply(name):
    completion = '<think>x</think><answer>[{"bbox_2d": [10, 10, 50, 50], "label": "cat"}] B</answer>'
    rows = list(ROWS.values())
    columns = {key: [row[key] for row in rows] for key in COLUMNS}
    values = REWARDS[name]([completion] * len(rows), **columns)
    assert [v is not None for v in values] == [reward_applies(name, row) for row in rows]


def test_missing_targets_or_sizes_do_not_apply():
    assert not reward_applies("iou", ROWS["rec"] | {"gt_box": None})
    assert not reward_applies("iou", ROWS["rec"] | {"width": None})
    assert not reward_applies("point_in_box", ROWS["point"] | {"gt_box": None})  # a point alone: nothing to hit
    assert not reward_applies("od_ap", ROWS["detection"] | {"gt_boxes": None})
    assert reward_applies("od_ap", ROWS["detection"] | {"gt_boxes": []})  # nothing to find is a target too
    assert reward_applies("iou", ROWS["rec"] | {"task": None})  # no task: rec


def test_options_are_the_functions_keyword_parameters():
    assert reward_options("iou_mix") == {"alpha": 0.5, "tau": 0.5}
    assert reward_options("weighted_sum") == {"alpha": 0.7, "beta": 0.0, "gamma": 0.3, "tau": 0.5}
    assert reward_options("iou") == {}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (RewardSpec("iuo"), "rewards[0]: unknown reward 'iuo'; did you mean 'iou'?"),
        (RewardSpec("odlength"), "did you mean 'odLength'?"),
        (RewardSpec("iou_mix", options={"alhpa": 0.3}), "iou_mix: unknown option 'alhpa'; did you mean 'alpha'?"),
        (RewardSpec("iou", options={"tau": 0.3}), "iou: unknown option 'tau' (options: none)"),
        (RewardSpec("iou_mix", options={"tau": "high"}), "iou_mix.options.tau: expected a number, got 'high'"),
        (RewardSpec("length_penalty", options={"max_chars": 10.5}), "expected an integer"),
        (RewardSpec("format", options={"pattern": 3}), "format.options.pattern: expected a string"),
        (RewardSpec("format", weight="one"), "format: weight: expected a number"),
    ],
)
def test_bad_specs_are_one_line_config_errors(spec, message):
    with pytest.raises(ConfigError, match=None) as info:
        check_rewards([RewardSpec("format"), spec])
    text = str(info.value).replace("rewards[1]", "rewards[0]")
    assert message in text and "\n" not in text


def test_checking_the_shipped_recipes_is_instant():
    specs = [
        RewardSpec("iou_mix", 1.0, {"alpha": 0.5, "tau": 0.5}),
        RewardSpec("format", 1.0, {"pattern": r"<think>.*?</think>\s*<answer>.*?</answer>"}),
        RewardSpec("weighted_sum", 1.0, {"gamma": 0.5}),
        RewardSpec("length_penalty", 0.1, {"max_chars": 512}),
    ]
    start = time.perf_counter()
    for _ in range(100):
        check_rewards(specs)
    assert time.perf_counter() - start < 0.5


def test_coverage_refuses_rewards_that_would_score_nothing():
    rows = [ROWS["rec"]] * 3 + [ROWS["qa"]]
    assert check_coverage([RewardSpec("format"), RewardSpec("iou")], rows) == {"format": 4, "iou": 3}
    with pytest.raises(ConfigError, match=r"'point_in_box' applies to 0 of 4 records .*tasks: rec 3, qa 1\)"):
        check_coverage([RewardSpec("iou"), RewardSpec("point_in_box")], rows)
    mostly_qa = [ROWS["rec"]] + [ROWS["qa"]] * 3
    with pytest.raises(ConfigError, match="no target reward applies to 3 of 4 records"):
        check_coverage([RewardSpec("format"), RewardSpec("iou")], mostly_qa)
    # a mixed set is fine when each record has its own target reward
    assert check_coverage([RewardSpec("iou"), RewardSpec("answer_match")], mostly_qa) == {"iou": 1, "answer_match": 3}
    # rewards of the completion alone skip nothing
    assert check_coverage([RewardSpec("length_penalty")], mostly_qa) == {"length_penalty": 4}
