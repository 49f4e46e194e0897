"""The zoom tool: window geometry at every edge, the family's frame, the red dot, limits and bad calls."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from groundrl.models.families import FAMILIES
from groundrl.tools.zoom import (
    ANSWER_NOW,
    CROP_TEXT,
    DOT_COLOUR,
    PRESETS,
    ToolCall,
    ToolCallError,
    ZoomLimits,
    ZoomPreset,
    ZoomSession,
    crop_window,
    parse_tool_call,
    zoom,
)


def call(x, y, name="search_coordinate") -> str:
    payload = {"name": name, "arguments": {"coordinate": [x, y]}}
    return f"<think>Look closer.</think>\n<tool_call>\n{json.dumps(payload)}\n</tool_call>"


@pytest.mark.parametrize(
    ("x", "y", "expected"),
    [
        (500, 400, (318, 218, 682, 582)),  # inside: centred
        (10, 400, (0, 218, 364, 582)),  # left edge: shifted right
        (995, 400, (636, 218, 1000, 582)),  # right edge
        (500, 3, (318, 0, 682, 364)),  # top edge
        (500, 799, (318, 436, 682, 800)),  # bottom edge
        (0, 0, (0, 0, 364, 364)),  # corners
        (1000, 0, (636, 0, 1000, 364)),
        (0, 800, (0, 436, 364, 800)),
        (1000, 800, (636, 436, 1000, 800)),
        (-50, 5000, (0, 436, 364, 800)),  # outside the image: clamped first
    ],
)
def test_window_is_shifted_inside_not_shrunk(x, y, expected):
    assert crop_window(x, y, 1000, 800, 182) == expected


def test_window_shrinks_only_along_a_side_shorter_than_it():
    assert crop_window(50, 40, 300, 80, 100) == (0, 0, 200, 80)
    assert crop_window(50, 40, 120, 80, 100) == (0, 0, 120, 80)


@settings(max_examples=200, deadline=None)
@given(
    x=st.floats(-2000, 5000, allow_nan=False),
    y=st.floats(-2000, 5000, allow_nan=False),
    width=st.integers(1, 3000),
    height=st.integers(1, 3000),
    half=st.integers(1, 400),
)
def test_window_always_lies_inside_the_image_with_the_full_side_when_it_fits(x, y, width, height, half):
    x0, y0, x1, y1 = crop_window(x, y, width, height, half)
    assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
    assert x1 - x0 == min(2 * half, width) and y1 - y0 == min(2 * half, height)


@settings(max_examples=40, deadline=None)
@given(
    fx=st.floats(0, 1),
    fy=st.floats(0, 1),
    width=st.integers(60, 1500),
    height=st.integers(60, 1500),
    family=st.sampled_from(sorted(FAMILIES)),
)
def test_crop_window_in_original_pixels_lies_inside_the_image(fx, fy, width, height, family):
    fam = FAMILIES[family]
    frame = fam.frame(width, height)
    point = frame.from_original([fx * width, fy * height])
    crop = zoom(Image.new("RGB", (width, height)), point, fam, ZoomPreset(half=50, size=64))
    x0, y0, x1, y1 = crop.window
    assert -1e-6 <= x0 < x1 <= width + 1e-6 and -1e-6 <= y0 < y1 <= height + 1e-6
    assert max(crop.image.size) == 64


def test_qa_crop_is_a_364_px_window_of_the_seen_image_resized_to_672():
    # Qwen2.5-VL sees 2000 x 1000 as 1988 x 1008: the window is 364 seen px, 366.2 x 361.1 original px
    fam = FAMILIES["qwen2.5-vl"]
    assert fam.input_size(2000, 1000) == (1988, 1008)
    crop = zoom(Image.new("RGB", (2000, 1000)), (994, 504), fam, PRESETS["qa"])
    assert crop.seen_window == (812, 322, 1176, 686)
    assert crop.window == pytest.approx((812 * 2000 / 1988, 322 * 1000 / 1008, 1176 * 2000 / 1988, 686 * 1000 / 1008))
    assert crop.image.size == (672, 672)
    assert crop.point == pytest.approx((1000.0, 500.0))


def test_crop_shows_the_window_of_the_original():
    # left half black, right half white: a window centred on the border shows both halves
    image = Image.new("RGB", (1000, 800), "white")
    image.paste((0, 0, 0), (0, 0, 500, 800))
    crop = zoom(image, (500, 500), FAMILIES["qwen3-vl"], PRESETS["qa"])  # norm1000: (500, 400) px
    assert crop.image.getpixel((100, 336)) == (0, 0, 0) and crop.image.getpixel((572, 336)) == (255, 255, 255)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_web_crop_has_a_red_dot_at_the_point(family):
    fam = FAMILIES[family]
    width, height = 1400, 900
    target = (1330.0, 120.0)  # near the top-right corner: the window is shifted, the dot is not centred
    point = fam.frame(width, height).from_original(target)
    crop = zoom(Image.new("RGB", (width, height), "white"), point, fam, PRESETS["web"])
    assert crop.image.size == (512, 512)
    assert crop.point == pytest.approx(target)
    cx, cy = crop.point_in_crop()
    assert cx > 300 and cy < 300  # off centre, towards the corner
    assert crop.image.getpixel((round(cx), round(cy))) == DOT_COLOUR
    radius = 7 * 512 / 200
    assert crop.image.getpixel((round(cx + radius + 2), round(cy))) == (255, 255, 255)
    assert crop.image.getpixel((round(cx + radius - 2), round(cy))) == DOT_COLOUR


def test_qa_crop_has_no_dot():
    crop = zoom(Image.new("RGB", (1000, 800), "white"), (500, 500), FAMILIES["qwen3-vl"], PRESETS["qa"])
    assert crop.image.getcolors() == [(672 * 672, (255, 255, 255))]


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_a_point_in_the_family_frame_maps_to_the_same_original_pixel_from_original_or_seen_image(family):
    fam = FAMILIES[family]
    width, height = 1280, 720
    seen_w, seen_h = fam.input_size(width, height)
    target = (311.0, 577.0)
    point = fam.frame(width, height).from_original(target)
    if fam.convention == "norm1000":
        assert point == pytest.approx([311 * 1000 / 1280, 577 * 1000 / 720])
    else:  # pixels of the resized input
        assert point == pytest.approx([311 * seen_w / width, 577 * seen_h / height])
    from_original = zoom(Image.new("RGB", (width, height)), point, fam, PRESETS["qa"])
    from_seen = zoom(Image.new("RGB", (seen_w, seen_h)), point, fam, PRESETS["qa"])
    assert from_original.point == pytest.approx(target)
    assert from_seen.point == pytest.approx((311 * seen_w / width, 577 * seen_h / height))
    assert from_original.seen_window == from_seen.seen_window


def test_parse_tool_call_reads_the_first_call():
    text = call(12, 34) + call(56, 78)
    assert parse_tool_call(text) == ToolCall((12.0, 34.0))
    assert parse_tool_call('<tool_call>{"name": "search_coordinate", "arguments": {"coordinate": [1.5, 2]}}') == (
        ToolCall((1.5, 2.0))
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<answer>B</answer>", "Error: no <tool_call> found."),
        ("<tool_call>{not json}</tool_call>", "Error: the tool call is not valid JSON."),
        ("<tool_call>[1, 2]</tool_call>", 'must be {"name": "search_coordinate"'),
        (call(1, 2, name="crop"), 'must be {"name": "search_coordinate"'),
        ('<tool_call>{"name": "search_coordinate", "arguments": [1, 2]}</tool_call>', '"coordinate" must be'),
        ('<tool_call>{"name": "search_coordinate", "arguments": {"coordinate": [1]}}</tool_call>', "two numbers"),
        ('<tool_call>{"name": "search_coordinate", "arguments": {"coordinate": [1, "2"]}}', "two numbers"),
        ('<tool_call>{"name": "search_coordinate", "arguments": {"coordinate": [true, 2]}}', "two numbers"),
        ('<tool_call>{"name": "search_coordinate", "arguments": {"coordinate": [NaN, 2]}}', "two numbers"),
    ],
)
def test_a_call_that_does_not_parse_gets_a_short_error(text, message):
    result = parse_tool_call(text)
    assert isinstance(result, ToolCallError) and message in result.message and len(result.message) < 90


def session(**limits) -> ZoomSession:
    return ZoomSession(Image.new("RGB", (800, 600)), FAMILIES["qwen3-vl"], PRESETS["qa"], ZoomLimits(**limits))


def test_session_answers_four_crops_then_tells_the_model_to_answer():
    s = session()
    observations = [s.step(call(100 * k, 100 * k)) for k in range(1, 5)]
    assert [o.image.size for o in observations] == [(672, 672)] * 4
    assert [o.final for o in observations] == [False, False, False, True]
    assert (s.images_used, s.turns_used, s.done) == (5, 4, True)
    last = observations[-1].as_message()["content"]
    assert last == f"<tool_response>\n{CROP_TEXT}\n<image>\n{ANSWER_NOW}\n</tool_response>"
    assert last.endswith("final answer.\n</think>\n<answer>\n</tool_response>")
    after = s.step(call(1, 1))
    assert after.image is None and after.final and s.images_used == 5 and s.turns_used == 4


def test_errors_use_turns_but_no_images_and_the_turn_limit_also_ends_it():
    s = session(max_turns=3)
    first, second = s.step("<tool_call>{"), s.step(call(500, 500))
    assert first.image is None and first.text.startswith("Error") and not first.final
    assert first.as_message() == {"role": "user", "content": f"<tool_response>\n{first.text}\n</tool_response>"}
    assert second.image is not None and (s.turns_used, s.images_used) == (2, 2)
    third = s.step("no call at all")
    assert third.final and third.image is None and s.done and (s.turns_used, s.images_used) == (3, 2)
    assert third.as_message()["content"].endswith(ANSWER_NOW + "\n</tool_response>")
