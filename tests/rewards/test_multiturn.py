"""Multi-turn rewards on hand-built completions in the shape TRL 1.16 passes with tools on: assistant turns
with `reasoning_content` and `tool_calls`, tool turns with typed parts (checked against TRL's own parser in
tests/models/test_templates.py)."""

import pytest
from PIL import Image

from groundrl.config import ConfigError
from groundrl.rewards import REWARDS, RewardSpec, build_rewards, check_rewards
from groundrl.rewards.multiturn import answer_text, multiturn_accuracy, multiturn_format, trajectory
from groundrl.tools.zoom import ANSWER_NOW, CROP_TEXT


def call(x, y, name="search_coordinate"):
    return {"type": "function", "function": {"name": name, "arguments": {"coordinate": [x, y]}}}


def turn(think=None, content="", calls=()):
    message = {"role": "assistant", "content": content}
    if think is not None:
        message["reasoning_content"] = think
    if calls:
        message["tool_calls"] = list(calls)
    return message


def crop(*extra):
    parts = [{"type": "text", "text": CROP_TEXT}, {"type": "image", "image": Image.new("RGB", (4, 4))}]
    return {
        "role": "tool",
        "name": "search_coordinate",
        "content": parts + [{"type": "text", "text": t} for t in extra],
    }


def zoomed(*points, answer="<answer>B</answer>"):
    """think -> (call -> crop -> think)* -> answer, one call per point."""
    steps = []
    for x, y in points:
        steps += [turn("look closer", calls=[call(x, y)]), crop()]
    return [*steps, turn("so it is", answer)]


def fmt(completions, **columns):
    return multiturn_format(completions, **columns)


def test_the_grammar_with_and_without_calls_and_the_point_bonus():
    assert fmt([zoomed(), zoomed((5, 7)), zoomed((5, 7), (50, 7)), zoomed((5, 7), (9, 7))]) == [1.0, 1.2, 1.4, 1.2]
    assert fmt([zoomed((5, 7), (50, 7), (5, 7))]) == [pytest.approx(1.4)]  # back to the first point: no bonus


@pytest.mark.parametrize(
    "completion",
    [
        zoomed((5.5, 7)),  # a coordinate that is not an integer
        [
            turn("look", calls=[{"type": "function", "function": {"name": "search_coordinate", "arguments": {}}}]),
            crop(),
            turn("so", "<answer>B</answer>"),
        ],  # no coordinate
        [turn("look", "I will zoom", calls=[call(5, 7)]), crop(), turn("so", "<answer>B</answer>")],  # text beside
        [turn(None, calls=[call(5, 7)]), crop(), turn("so", "<answer>B</answer>")],  # no think before the call
        [turn("look", calls=[call(5, 7), call(9, 9)]), crop(), crop(), turn("so", "<answer>B</answer>")],  # two
        [turn("look", calls=[call(5, 7, name="crop")]), crop(), turn("so", "<answer>B</answer>")],  # another tool
        zoomed((5, 7))[:2],  # ends on the observation: truncated
        zoomed((5, 7), answer="<answer>B"),  # no </answer>
        zoomed((5, 7), answer="<answer>B</answer> and more"),  # text after the answer
        [turn(None, '<tool_call>{"name": oops}</tool_call>')],  # TRL's fallback for a call it cannot parse
        "<answer>B</answer>",  # no think
    ],
)
def test_a_broken_trajectory_scores_zero(completion):
    assert fmt([completion]) == [0.0]


def test_the_distance_is_measured_in_the_seen_frame():
    """norm1000 points on an image seen at 2000 px (4000 px original): 4 units are 8 seen px, 6 are 12."""
    columns = {"convention": ["norm1000"] * 2, "width": [4000] * 2, "height": [4000] * 2}
    columns |= {"input_width": [2000] * 2, "input_height": [2000] * 2}
    assert fmt([zoomed((100, 100), (104, 100)), zoomed((100, 100), (106, 100))], **columns) == [1.2, 1.4]


def test_the_bonus_and_distance_are_options():
    assert multiturn_format([zoomed((5, 7), (30, 7))], bonus=0.5, min_distance=30) == [1.5]


def test_a_capped_trajectory_answers_after_the_prefilled_think():
    capped = [turn("look", calls=[call(5, 7)]), crop(ANSWER_NOW), turn(None, "B</answer>")]
    assert answer_text(trajectory(capped)).endswith("</think>\n<answer>B</answer>")
    assert fmt([capped]) == [1.2]
    assert multiturn_accuracy([capped], answer=["b"], task=["qa"]) == [1.0]


def test_single_turn_completions_read_as_trajectories_without_calls():
    """With tools off TRL keeps <think> in the content (or passes a string): the rewards read that too."""
    text = "<think>a</think><answer>B</answer>"
    assert fmt([text, [turn(None, text)]]) == [1.0, 1.0]


SIZE = {"width": 100, "height": 100, "convention": "abs", "input_width": 100, "input_height": 100}


def columns_of(rows):
    return {key: [row.get(key) for row in rows] for key in {k for row in rows for k in row}}


def test_accuracy_judges_the_final_answer_by_task():
    rows = [
        SIZE | {"task": "qa", "answer": "Blue"},
        SIZE | {"task": "qa", "answer": "blue", "choices": ["red", "blue"]},
        SIZE | {"task": "point", "gt_box": [40, 40, 60, 60]},
        SIZE | {"task": "rec", "gt_box": [0, 0, 10, 20]},
        SIZE | {"task": "detection", "gt_boxes": [[0, 0, 10, 10]]},
    ]
    completions = [
        zoomed((5, 7), answer="<answer>blue.</answer>"),
        zoomed((5, 7), answer="<answer>(B)</answer>"),
        zoomed((50, 50), answer="<answer>(10, 10)</answer>"),  # the call's point is in the box, the answer not
        zoomed((5, 7), answer="<answer>[0, 0, 10, 10]</answer>"),
        zoomed(answer="<answer>[0, 0, 10, 10]</answer>"),
    ]
    assert multiturn_accuracy(completions, **columns_of(rows)) == [1.0, 1.0, 0.0, 0.5, None]


def test_accuracy_agrees_with_the_single_turn_rewards_on_the_same_answer():
    rows = [SIZE | {"task": "rec", "gt_box": [0, 0, 10, 20]}, SIZE | {"task": "point", "gt_box": [40, 40, 60, 60]}]
    answers = ["<answer>[0, 0, 10, 12]</answer>", "<answer>(50, 45)</answer>"]
    columns = columns_of(rows)
    single = [REWARDS["iou"]([answers[0]], **columns_of(rows[:1]))[0]]
    single += [REWARDS["point_in_box"]([answers[1]], **columns_of(rows[1:]))[0]]
    multi = multiturn_accuracy([zoomed((3, 3), answer=a) for a in answers], **columns)
    assert multi == single and single == [pytest.approx(0.6), 1.0]


def test_vigorls_mix_is_the_two_rewards_weighted():
    funcs, weights = build_rewards([RewardSpec("multiturn_accuracy", 0.6), RewardSpec("multiturn_format", 0.4)])
    completion = zoomed((5, 7), answer="<answer>blue</answer>")
    values = [f([completion], answer=["blue"], task=["qa"])[0] for f in funcs]
    assert [f.__name__ for f in funcs] == ["multiturn_accuracy", "multiturn_format"]
    assert sum(w * v for w, v in zip(weights, values, strict=True)) == pytest.approx(0.6 * 1.0 + 0.4 * 1.2)


def test_options_are_checked_by_name():
    with pytest.raises(ConfigError, match="unknown option 'bonuss'; did you mean 'bonus'"):
        check_rewards([RewardSpec("multiturn_format", options={"bonuss": 0.1})])
