import pytest

from groundrl.boxes.answers import choice_of
from groundrl.data.records import Record
from groundrl.eval.judge import consensus_box, fused_box, judge, medoid_point
from groundrl.models.families import get_family

QWEN25 = get_family("qwen2.5-vl")
QWEN2 = get_family("qwen2-vl")


def rec(**kw):
    base = {"id": 1, "images": ["x.png"], "image_sizes": [[640, 480]], "question": "q", "boxes": [[100, 100, 200, 200]]}
    return Record(**(base | kw))


def test_consensus_and_fusion():
    boxes = [[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]]
    assert consensus_box(boxes) in ([0, 0, 10, 10], [1, 1, 11, 11])
    fused = fused_box(boxes)
    assert fused == pytest.approx([0.5, 0.5, 10.5, 10.5])  # the outlier is left out
    assert medoid_point([[0, 0], [1, 1], [100, 100]]) == [1, 1]


def test_box_judgement_in_each_convention():
    # the same target written as Qwen2.5-VL (pixels of the 644x476 input) and Qwen2-VL (0-1000 grid)
    resized = QWEN25.format_box([100 * 644 / 640, 100 * 476 / 480, 200 * 644 / 640, 200 * 476 / 480])
    assert judge(rec(), [resized], QWEN25).iou == pytest.approx(1.0, abs=0.02)
    grid = QWEN2.format_box([1000 * 100 / 640, 1000 * 100 / 480, 1000 * 200 / 640, 1000 * 200 / 480])
    assert judge(rec(), [grid], QWEN2).hit


def test_samples_aggregate_by_consensus():
    outputs = ['{"bbox_2d": [100, 100, 200, 200]}'] * 2 + ['{"bbox_2d": [400, 400, 500, 470]}', "no box"]
    verdict = judge(rec(image_sizes=[[644, 476]]), outputs, QWEN25)
    assert verdict.parsed == 3 and verdict.hit


def test_point_task_accepts_points_and_box_centres():
    r = rec(task="point", image_sizes=[[644, 476]])  # 644x476 is its own smart resize: pixels map 1:1
    assert judge(r, ['{"point_2d": [150, 150]}'], QWEN25).hit
    assert not judge(r, ['{"point_2d": [250, 150]}'], QWEN25).hit
    assert judge(r, ['{"bbox_2d": [140, 140, 160, 160]}'], QWEN25).pred == [150, 150]


@pytest.mark.parametrize(
    ("text", "choice"),
    [("<answer>B</answer>", "B"), ("(C) green", "C"), ("It is green.", "C"), ("red or blue", None), ("A.", "A")],
)
def test_choice_of(text, choice):
    assert choice_of(text, ["red", "blue", "green"]) == choice


def test_majority_vote_of_choices():
    r = rec(task="qa", answer="blue", choices=["red", "blue"], boxes=None)
    assert judge(r, ["A", "B", "(B) blue"], QWEN25).hit
    assert not judge(r, ["A", "A", "B"], QWEN25).hit


def test_detection_samples_aggregate_by_agreement():
    r = rec(task="detection", boxes=[[0, 0, 100, 100], [200, 200, 300, 300]], image_sizes=[[1000, 1000]])
    qwen3 = get_family("qwen3-vl")  # 0-1000 grid on a 1000-pixel image: 1:1
    both = '[{"bbox_2d": [0, 0, 100, 100], "label": "a"}, {"bbox_2d": [200, 200, 300, 300], "label": "b"}]'
    one = '[{"bbox_2d": [0, 0, 100, 100], "label": "a"}]'
    off = '[{"bbox_2d": [600, 600, 700, 700], "label": "a"}]'
    verdict = judge(r, [one, both, both, off, "none"], qwen3)
    assert verdict.hit and verdict.parsed == 4
    assert verdict.pred == [[0.0, 0.0, 100.0, 100.0], [200.0, 200.0, 300.0, 300.0]]
    assert not judge(r, [one], qwen3).hit
