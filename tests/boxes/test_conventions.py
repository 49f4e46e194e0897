import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from groundrl.boxes import ConventionError, Frame, frame_for, iou, point_in_box, score_output, smart_resize


@pytest.mark.parametrize(
    ("convention", "coords", "expected"),
    [
        ("abs", [10, 20, 30, 40], [10, 20, 30, 40]),
        ("norm1000", [500, 500, 1000, 250], [320, 240, 640, 120]),
        ("norm1", [0.5, 0.5, 1.0, 0.25], [320, 240, 640, 120]),
        ("resized", [322, 238, 644, 119], [320, 240, 640, 120]),
    ],
)
def test_to_original(convention, coords, expected):
    frame = frame_for(convention, 640, 480, input_width=644, input_height=476)
    assert frame.to_original(coords) == pytest.approx(expected)


def test_resized_without_input_size_is_an_error():
    with pytest.raises(ConventionError, match="input_width"):
        frame_for("resized", 640, 480)
    with pytest.raises(ConventionError, match="unknown convention"):
        frame_for("pixels", 640, 480)


@pytest.mark.parametrize(
    ("h", "w", "expected"),
    [
        (480, 640, (476, 644)),
        (10, 10, (56, 56)),
        (28, 28, (56, 56)),
        (5000, 5000, (3556, 3556)),
        (1080, 1920, (1092, 1932)),
    ],
)
def test_smart_resize_known_values(h, w, expected):
    assert smart_resize(h, w) == expected


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 8000),
    st.integers(1, 8000),
    st.sampled_from([(28, 3136, 12845056), (32, 65536, 16777216), (28, 3136, 1003520)]),
)
def test_smart_resize_matches_transformers(h, w, params):
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize as reference

    factor, lo, hi = params
    if max(h, w) / min(h, w) > 200:
        with pytest.raises(ValueError):
            smart_resize(h, w, factor, lo, hi)
        return
    assert smart_resize(h, w, factor, lo, hi) == reference(h, w, factor, lo, hi)


def test_iou_and_hits():
    assert iou([0, 0, 10, 10], [0, 0, 10, 10]) == 1.0
    assert iou([0, 0, 10, 10], [10, 0, 20, 10]) == 0.0  # touching edges do not overlap
    assert iou([0, 0, 0, 0], [0, 0, 0, 0]) == 0.0  # zero-area union
    assert point_in_box([10, 10], [0, 0, 10, 10])  # edges included
    assert not point_in_box([10.01, 10], [0, 0, 10, 10])


def test_hit_threshold_is_inclusive():
    # IoU exactly 0.5 is a hit (RefCOCO convention), just below is not
    assert score_output("[0, 0, 10, 10]", [0, 0, 10, 20], Frame(1, 1), 100, 100).hit
    assert not score_output("[0, 0, 10, 9.99]", [0, 0, 10, 20], Frame(1, 1), 100, 100).hit


def test_swapped_corners_are_reordered_and_clamped():
    result = score_output("[120, 50, -10, 0]", [0, 0, 100, 50], Frame(1, 1), 100, 50)
    assert result.pred == [0, 0, 100, 50]
    assert result.iou == 1.0
