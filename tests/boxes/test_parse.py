import pytest

from groundrl.boxes import answer_region, parse_box, parse_detections, parse_point


@pytest.mark.parametrize(
    ("text", "box"),
    [
        # 1. Qwen2.5-VL / Qwen3-VL JSON
        ('```json\n[{"bbox_2d": [10, 20, 30, 40], "label": "cat"}]\n```', [10, 20, 30, 40]),
        ('{"bbox_2d":[1.5,-2,3.25,4]}', [1.5, -2, 3.25, 4]),
        ("{'bbox_2d': [5, 6, 7, 8]}", [5, 6, 7, 8]),
        # bbox_2d wins over an earlier plain list
        ('[9, 9, 9, 9] then {"bbox_2d": [1, 2, 3, 4]}', [1, 2, 3, 4]),
        # 2. Qwen2-VL special tokens
        ("<|object_ref_start|>dog<|object_ref_end|><|box_start|>(100,200),(300,400)<|box_end|>", [100, 200, 300, 400]),
        ("<|box_start|>( 1 , 2 ), ( 3 , 4 )<|box_end|>", [1, 2, 3, 4]),
        # box tokens win over an earlier plain list
        ("[9, 9, 9, 9] <|box_start|>(1,2),(3,4)<|box_end|>", [1, 2, 3, 4]),
        # 3. bracketed list of exactly four numbers
        ("The box is [12, 34, 56, 78].", [12, 34, 56, 78]),
        ("[0.1, 0.2, 0.3, 0.4]", [0.1, 0.2, 0.3, 0.4]),
        ("[-5, -6.5, 7, 8]", [-5, -6.5, 7, 8]),
        ("[1, 2, 3, 4, 5] and [6, 7, 8, 9]", [6, 7, 8, 9]),
        ("[[11, 12, 13, 14]]", [11, 12, 13, 14]),
        # a list wins over an earlier pair
        ("(1,2),(3,4) or [5, 6, 7, 8]", [5, 6, 7, 8]),
        # 4. corner pair
        ("from (10,20),(30,40)", [10, 20, 30, 40]),
        ("(10, 20), (30, 40)", [10, 20, 30, 40]),
        # a pair wins over an earlier 4-tuple
        ("(9, 9, 9, 9) (1,2),(3,4)", [1, 2, 3, 4]),
        # 5. tuple of four
        ("box (1, 2, 3, 4)", [1, 2, 3, 4]),
        # where to look: last <answer> block only
        ("<answer>[1,2,3,4]</answer> <answer>[5,6,7,8]</answer>", [5, 6, 7, 8]),
        ("[9,9,9,9] <answer>[1,2,3,4]</answer>", [1, 2, 3, 4]),
        # think blocks are removed when there is no answer block
        ("<think>maybe [1,2,3,4]</think> final [5,6,7,8]", [5, 6, 7, 8]),
        ("<think>a [1,2,3,4]</think><think>b [2,3,4,5]</think>[6,7,8,9]", [6, 7, 8, 9]),
        # a think block inside the output does not matter when an answer block exists
        ("<think>[1,2,3,4]</think><answer>[5,6,7,8]</answer>", [5, 6, 7, 8]),
        ("x=[1e3, 2, 3, 4] y=[1, 2, 3, 4]", [1, 2, 3, 4]),
        ("[ .5 , 2. , 3 , +4 ]", [0.5, 2.0, 3.0, 4.0]),
    ],
)
def test_parse_box(text, box):
    assert parse_box(text) == pytest.approx(box)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "I cannot find it.",
        "[1, 2, 3]",
        "[1, 2, 3, 4, 5]",
        "(1, 2, 3)",
        "(1, 2)",
        "[x1, y1, x2, y2]",
        '{"bbox_2d": [1, 2, 3]}',
        "<think>[1,2,3,4]</think> no box after thinking",
        "<answer>nothing</answer> [1, 2, 3, 4]",  # only the last answer block counts
        "<answer>[1,2,3,4]</answer><answer></answer>",
        "1, 2, 3, 4",
        "[1; 2; 3; 4]",
    ],
)
def test_parse_box_none(text):
    assert parse_box(text) is None


@pytest.mark.parametrize(
    ("text", "point"),
    [
        ('{"point_2d": [12, 34]}', [12, 34]),
        ('[7, 8] {"point_2d": [1.5, -2]}', [1.5, -2]),  # point_2d first, wherever it is
        ("click (12, 34)", [12, 34]),
        ("click [56, 78]", [56, 78]),
        ("[5, 6] then (1, 2)", [5, 6]),  # whichever form comes first
        ("(1, 2) then [5, 6]", [1, 2]),
        ("(10,20),(30,40)", [10, 20]),
        ("<answer>(3, 4)</answer>", [3, 4]),
        ("<think>(1, 1)</think> (2, 2)", [2, 2]),
        ("[1, 2, 3] (0.5, 0.25)", [0.5, 0.25]),
    ],
)
def test_parse_point(text, point):
    assert parse_point(text) == pytest.approx(point)


@pytest.mark.parametrize("text", ["", "click it", "[1, 2, 3, 4]", "(1, 2, 3)", "[1]", "<think>(1, 2)</think>"])
def test_parse_point_none(text):
    assert parse_point(text) is None


def test_answer_region_unclosed_blocks_left_alone():
    assert answer_region("<answer>[1,2,3,4]") == "<answer>[1,2,3,4]"
    assert parse_box("<answer>[1,2,3,4]") == [1, 2, 3, 4]
    assert parse_box("<think>[1,2,3,4]") == [1, 2, 3, 4]


@pytest.mark.parametrize(
    ("text", "boxes", "labels"),
    [
        # VLM-R1's open-vocabulary answer: a JSON list in a ```json fence inside <answer>
        (
            '<think>two</think><answer>```json\n[{"bbox_2d": [1, 2, 3, 4], "label": "cat"},'
            ' {"bbox_2d": [5, 6, 7, 8], "label": "dog"}]\n```</answer>',
            [[1, 2, 3, 4], [5, 6, 7, 8]],
            ["cat", "dog"],
        ),
        (
            '[{"label": "a b", "bbox_2d": [1, 2, 3, 4]}, {"bbox_2d": [5, 6, 7, 8]}]',
            [[1, 2, 3, 4], [5, 6, 7, 8]],
            ["a b", None],
        ),
        # Qwen2-VL: each box after its object reference
        (
            "<|object_ref_start|>cat<|object_ref_end|><|box_start|>(1,2),(3,4)<|box_end|> and "
            "<|box_start|>(5,6),(7,8)<|box_end|>",
            [[1, 2, 3, 4], [5, 6, 7, 8]],
            ["cat", None],
        ),
        ("[1, 2, 3, 4], [5, 6, 7, 8]", [[1, 2, 3, 4], [5, 6, 7, 8]], [None, None]),
        # the first form that matches supplies every box: bbox_2d over plain lists
        ('[9, 9, 9, 9] {"bbox_2d": [1, 2, 3, 4]}', [[1, 2, 3, 4]], [None]),
        ("<think>[1, 2, 3, 4]</think> None", [], []),
    ],
)
def test_parse_detections(text, boxes, labels):
    found = parse_detections(text)
    assert [d.box for d in found] == boxes
    assert [d.label for d in found] == labels
    if found:
        assert parse_box(text) == found[0].box
