"""Properties that must hold for any input: parsing never raises, IoU is symmetric and bounded,
converting to a convention and back is the identity."""

import math

from hypothesis import given
from hypothesis import strategies as st

from groundrl.boxes import CONVENTIONS, frame_for, iou, order_box, parse_box, parse_point, score_output

coord = st.floats(min_value=-1e4, max_value=1e4, allow_nan=False, allow_infinity=False)
box = st.tuples(coord, coord, coord, coord).map(order_box)
side = st.integers(min_value=1, max_value=10_000)
pieces = st.sampled_from(
    [
        "<answer>",
        "</answer>",
        "<think>",
        "</think>",
        "[",
        "]",
        "(",
        ")",
        ",",
        " ",
        '"bbox_2d":',
        "-",
        ".",
        "1",
        "42",
        "<|box_start|>",
        "<|box_end|>",
        '"point_2d":',
    ]
)


@given(st.text())
def test_parse_never_raises_on_text(text):
    for parse in (parse_box, parse_point):
        result = parse(text)
        assert result is None or all(isinstance(v, float) for v in result)


@given(st.lists(pieces, max_size=40).map("".join))
def test_parse_never_raises_on_near_misses(text):
    b, p = parse_box(text), parse_point(text)
    assert b is None or len(b) == 4
    assert p is None or len(p) == 2


@given(box, box)
def test_iou_symmetric_and_bounded(a, b):
    assert iou(a, b) == iou(b, a)
    assert 0.0 <= iou(a, b) <= 1.0


@given(box)
def test_iou_with_itself(a):
    area = (a[2] - a[0]) * (a[3] - a[1])
    assert iou(a, a) == (1.0 if area > 0 else 0.0)


@given(
    st.sampled_from(CONVENTIONS),
    side,
    side,
    side,
    side,
    st.lists(st.floats(min_value=0, max_value=1e4, allow_nan=False), min_size=2, max_size=4),
)
def test_convention_round_trip(convention, w, h, in_w, in_h, coords):
    frame = frame_for(convention, w, h, in_w, in_h)
    back = frame.to_original(frame.from_original(coords))
    assert all(math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-6) for x, y in zip(back, coords, strict=True))


@given(st.text(), box, side, side, st.sampled_from(["box", "point"]))
def test_score_output_is_total(text, gt, w, h, task):
    result = score_output(text, gt, frame_for("abs", w, h), w, h, task)
    assert result.hit in (True, False)
    if task == "box":
        assert 0.0 <= result.iou <= 1.0
    if result.pred is not None:
        xs, ys = result.pred[0::2], result.pred[1::2]
        assert all(0 <= x <= w for x in xs) and all(0 <= y <= h for y in ys)
