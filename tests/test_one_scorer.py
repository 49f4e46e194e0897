"""One scorer: the same model outputs, through `groundrl score` (its library function), `groundrl eval`'s judge
and the rewards, give the same boxes, points, IoUs, F1s and hits, in every coordinate convention."""

import dataclasses

import pytest

from groundrl.data.records import Record
from groundrl.eval.judge import judge
from groundrl.eval.scoring import score_row
from groundrl.models.families import get_family
from groundrl.rewards import (
    box_predictions,
    detection_f1,
    detection_predictions,
    iou_reward,
    iou_threshold,
    point_in_box_reward,
    point_predictions,
)

W, H = 640, 480
GT = [64, 96, 320, 288]
GTS = [[64, 96, 320, 288], [400, 50, 600, 200]]


@dataclasses.dataclass
class Case:
    """One model output. `family` names a model family; `coords` a bare convention (no family emits it)."""

    name: str
    output: str
    task: str = "rec"
    family: str | None = None
    coords: str | None = None
    hit: bool = True
    sizes: tuple = ((W, H),)
    image_index: int = 0

    def model(self):
        if self.family:
            return get_family(self.family)
        return dataclasses.replace(get_family("qwen3-vl"), convention=self.coords)

    @property
    def size(self):
        return self.sizes[self.image_index]

    @property
    def targets(self):
        return GTS if self.task == "detection" else [GT]


CASES = [
    # Qwen2.5-VL: pixels of the 644x476 smart-resized input
    Case("resized", '<think>the dog</think><answer>{"bbox_2d": [64, 95, 322, 286]}</answer>', family="qwen2.5-vl"),
    Case("resized-miss", '{"bbox_2d": [330, 250, 640, 470]}', family="qwen2.5-vl", hit=False),
    # Qwen2-VL: 0-1000 grid in its special tokens (the form the old reward regex missed)
    Case(
        "qwen2-tokens",
        "<|object_ref_start|>dog<|object_ref_end|><|box_start|>(100,200),(500,600)<|box_end|>",
        family="qwen2-vl",
    ),
    Case("qwen2-swapped", "<|box_start|>(500,600),(100,200)<|box_end|>", family="qwen2-vl"),  # corners reordered
    Case("qwen3-json", '```json\n[{"bbox_2d": [110, 210, 480, 590], "label": "dog"}]\n```', family="qwen3-vl"),
    Case("norm1", "<answer>[0.1, 0.2, 0.5, 0.6]</answer>", coords="norm1"),
    Case("abs", "The box is (64, 96), (320, 288).", coords="abs"),
    Case(
        "abs-clamped", "[-40, 90, 330, 700]", coords="abs", hit=False
    ),  # clamped to the image: IoU 0.38, centre inside
    Case("unparsed", "I cannot find it.", coords="abs", hit=False),
    # multi-image: the target on the second image, whose size the frame uses
    Case(
        "multi-image",
        '{"bbox_2d": [100, 200, 500, 600]}',
        task="multi_image",
        family="qwen3-vl",
        sizes=((320, 240), (W, H)),
        image_index=1,
    ),
    # points: a point, a box's centre, a miss, nothing
    Case("point-json", '{"point_2d": [190, 190]}', task="point", family="qwen2.5-vl"),
    Case("point-grid", "(300, 400)", task="point", family="qwen2-vl"),
    Case("point-box-centre", "<|box_start|>(100,200),(500,600)<|box_end|>", task="point", family="qwen2-vl"),
    Case("point-miss", '{"point_2d": [600, 20]}', task="point", family="qwen3-vl", hit=False),
    Case("point-none", "somewhere on the left", task="point", coords="abs", hit=False),
    # multi-box detection answers
    Case(
        "ovd-json",
        '[{"bbox_2d": [64, 96, 320, 288], "label": "dog"}, {"bbox_2d": [400, 50, 600, 200], "label": "cat"}]',
        task="detection",
        coords="abs",
    ),
    Case(
        "ovd-tokens",
        "<|box_start|>(100,200),(500,600)<|box_end|><|box_start|>(625,104),(938,417)<|box_end|>",
        task="detection",
        family="qwen2-vl",
    ),
    Case(
        "ovd-extra",
        "[64, 96, 320, 288] [400, 50, 600, 200] [10, 10, 20, 20]",
        task="detection",
        coords="abs",
        hit=False,
    ),
    Case("ovd-none", "nothing here", task="detection", coords="abs", hit=False),
]


def via_score(case):
    row = {"id": case.name, "output": case.output, "width": case.size[0], "height": case.size[1]}
    row |= {"gt": case.targets if case.task == "detection" else GT}
    row |= {"task": {"rec": "box", "multi_image": "box"}.get(case.task, case.task)}
    row |= {"family": case.family} if case.family else {"coords": case.coords}
    return score_row(row, "preds.jsonl", 1).result


def via_eval(case):
    sizes = [list(s) for s in case.sizes]
    images = [f"{k}.png" for k in range(len(sizes))]
    record = Record(
        id=case.name,
        images=images,
        image_sizes=sizes,
        question="q",
        boxes=case.targets,
        task=case.task,
        image_index=case.image_index,
    )
    return judge(record, [case.output], case.model())


def reward_columns(case):
    width, height = case.size
    in_w, in_h = case.model().input_size(width, height)
    detection = case.task == "detection"
    row = {
        "gt_box": None if detection else GT,
        "gt_boxes": case.targets if detection else None,
        "gt_labels": None,
        "gt_point": None,
        "answer": None,
        "choices": None,
        "width": width,
        "height": height,
        "convention": case.model().convention,
        "input_width": in_w,
        "input_height": in_h,
        "task": case.task,
        "image_index": case.image_index,
        "record_id": case.name,
    }
    return {k: [v] for k, v in row.items()}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_score_eval_and_rewards_agree(case):
    scored, judged, columns = via_score(case), via_eval(case), reward_columns(case)
    outputs = [case.output]
    if case.task == "point":
        (rewarded,) = point_predictions(outputs, columns)
        assert point_in_box_reward(outputs, **columns) == [float(case.hit)]
    elif case.task == "detection":
        (rewarded,) = detection_predictions(outputs, columns)
        assert detection_f1(outputs, **columns) == [scored.f1]
    else:
        (rewarded,) = box_predictions(outputs, columns)
        assert iou_reward(outputs, **columns) == [scored.iou]
        assert iou_threshold(outputs, **columns) == [float(case.hit)]
    assert scored.pred == judged.pred == rewarded.pred
    assert scored.iou == judged.iou == rewarded.iou
    assert scored.hit == judged.hit == rewarded.hit == case.hit
    assert scored.center_hit == judged.center_hit == rewarded.center_hit


def test_the_agreement_is_about_real_numbers():
    """The cases above judge what they say: exact conversions, not three copies of the same None."""
    by_name = {c.name: via_score(c) for c in CASES}
    assert by_name["resized"].pred == pytest.approx([63.6, 95.8, 320.0, 288.4], abs=0.01)  # 644x476 -> 640x480
    assert by_name["qwen2-tokens"].pred == [64.0, 96.0, 320.0, 288.0]
    assert by_name["qwen2-swapped"].pred == [64.0, 96.0, 320.0, 288.0]
    assert by_name["abs-clamped"].pred == [0.0, 90.0, 330.0, 480.0]
    assert by_name["abs-clamped"].iou == pytest.approx(256 * 192 / (330 * 390))
    assert by_name["point-grid"].pred == [192.0, 192.0]
    assert by_name["point-box-centre"].pred == [192.0, 192.0]
    assert by_name["ovd-tokens"].f1 == 1.0 and by_name["ovd-extra"].f1 == pytest.approx(0.8)
    assert by_name["ovd-none"].pred is None and by_name["ovd-none"].f1 == 0.0
    assert by_name["unparsed"] == (None, 0.0, False, False, None)
