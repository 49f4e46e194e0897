import pytest

from groundrl.config import ConfigError
from groundrl.models.families import get_family
from groundrl.rewards import RewardSpec, build_rewards
from groundrl.rewards.detection import detection_f1, detection_map
from groundrl.rewards.functions import (
    answer_match,
    format_reward,
    iou_mix,
    iou_reward,
    point_in_box_reward,
)

Q25 = get_family("qwen2.5-vl")


def columns(n=1, **kw):
    base = {
        "gt_box": [100, 100, 200, 200],
        "width": 640,
        "height": 480,
        "convention": "resized",
        "input_width": 644,
        "input_height": 476,
        "task": "rec",
    }
    base |= kw
    return {k: [v] * n for k, v in base.items()}


def test_iou_in_the_models_frame():
    right = Q25.format_box(Q25.frame(640, 480).from_original([100, 100, 200, 200]))
    half = '{"bbox_2d": [0, 0, 1, 1]}'
    assert iou_reward([right, half, "nothing"], **columns(3)) == pytest.approx(
        [1.0, 0.0, 0.0], abs=0.02
    )  # integer pixels
    grid = iou_reward(["[156, 208, 312, 417]"], **columns(convention="norm1000"))[0]
    assert grid == pytest.approx(1.0, abs=0.02)


def test_rewards_skip_what_they_do_not_apply_to():
    qa = columns(task="qa", gt_box=None, answer="blue", choices=["red", "blue"])
    assert iou_reward(["B"], **qa) == [None]
    assert answer_match(["B"], **qa) == [1.0]
    assert answer_match(["[1, 2, 3, 4]"], **columns()) == [None]
    assert point_in_box_reward(["(150, 150)"], **columns()) == [None]  # a rec record, not a point task


def test_conversational_completions_from_trl():
    completion = [{"role": "assistant", "content": '<think>x</think><answer>{"bbox_2d": [101, 99, 201, 198]}</answer>'}]
    assert iou_reward([completion], **columns())[0] > 0.9
    assert format_reward([completion]) == [1.0]


def test_mix_threshold_and_options_through_the_registry():
    (mix,), _ = build_rewards([RewardSpec("iou_mix", options={"alpha": 0.8, "tau": 0.3})])
    assert mix.__name__ == "iou_mix"
    box = Q25.format_box(Q25.frame(640, 480).from_original([100, 100, 200, 140]))  # IoU 0.4
    assert mix([box], **columns())[0] == pytest.approx(0.8 * 1 + 0.2 * 0.4, abs=0.02)
    assert iou_mix([box], alpha=0.8, tau=0.5, **columns())[0] == pytest.approx(0.2 * 0.4, abs=0.02)
    funcs, weights = build_rewards([RewardSpec("format", 0.25), RewardSpec("iou")])
    assert [f.__name__ for f in funcs] == ["format", "iou"] and weights == [0.25, 1.0]
    with pytest.raises(ConfigError, match="unknown reward 'iuo'; did you mean 'iou'"):
        build_rewards([RewardSpec("iuo")])


def test_point_rewards_take_box_centres():
    cols = columns(task="point", convention="abs")
    assert point_in_box_reward(
        ['{"point_2d": [150, 150]}', "[140, 140, 160, 160]", "(10, 10)"], **columns(3, task="point", convention="abs")
    ) == [1.0, 1.0, 0.0]
    assert point_in_box_reward(["nothing"], **cols) == [0.0]


def test_detection_rewards():
    cols = columns(task="detection", convention="abs", gt_box=None, gt_boxes=[[0, 0, 10, 10], [50, 50, 70, 70]])
    assert detection_f1(["[0, 0, 10, 10] [50, 50, 70, 70]"], **cols) == [1.0]
    assert detection_f1(["[0, 0, 10, 10]"], **cols) == [pytest.approx(2 / 3)]
    assert detection_map(["[0, 0, 10, 10] [50, 50, 70, 70]"], **cols) == [pytest.approx(1.0)]
    assert detection_map(["[300, 300, 310, 310]"], **cols) == [0.0]
