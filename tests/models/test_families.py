import re

import pytest

from groundrl.boxes import parse_box, parse_point
from groundrl.models.families import FAMILIES, UnknownFamilyError, get_family


def test_lookup_by_name_and_model_type():
    assert get_family("qwen2.5-vl") is get_family("qwen2_5_vl")
    assert get_family("qwen3_vl_moe").name == "qwen3-vl"
    with pytest.raises(UnknownFamilyError, match=re.escape("known: qwen2-vl, qwen2.5-vl, qwen3-vl")):
        get_family("llava")


def test_conventions_as_published():
    assert get_family("qwen2.5-vl").convention == "resized"
    assert get_family("qwen2-vl").convention == "norm1000"
    assert get_family("qwen3-vl").convention == "norm1000"
    assert get_family("qwen3-vl").factor == 32 and get_family("qwen2.5-vl").factor == 28


@pytest.mark.parametrize("name", list(FAMILIES))
def test_formatted_answers_parse_back(name):
    family = FAMILIES[name]
    assert parse_box(family.format_box([1, 22, 333, 444])) == [1, 22, 333, 444]
    assert parse_point(family.format_point([5, 66])) == [5, 66]
    assert "{expression}" in family.prompt


def test_frame_of_resized_family_uses_smart_resize():
    frame = get_family("qwen2.5-vl").frame(640, 480)
    assert frame.to_original([644, 476]) == pytest.approx([640, 480])


def test_prompt_keeps_every_turn_before_the_answer():
    from groundrl.data.records import Record
    from groundrl.models.prompts import prompt_messages

    record = Record(
        id=1,
        images=["a.png"],
        messages=[
            {"role": "system", "content": "You ground things."},
            {"role": "user", "content": "<image>Where is the cat?"},
            {"role": "assistant", "content": "[1, 2, 3, 4]"},
        ],
    )
    turns = prompt_messages(record, FAMILIES["qwen2.5-vl"])
    assert [t["role"] for t in turns] == ["system", "user"]
    assert turns[1]["content"] == [{"type": "image"}, {"type": "text", "text": "Where is the cat?"}]
    bare = prompt_messages(Record(id=2, images=["a.png"], question="the cat"), FAMILIES["qwen2.5-vl"])
    assert bare[0]["content"][-1]["text"] == FAMILIES["qwen2.5-vl"].prompt.format(expression="the cat")


def test_prompt_template_places_the_images_at_its_marker():
    """A template's `<image>` puts every image there, in order (the demo asks its question first)."""
    from groundrl.data.records import Record
    from groundrl.models.prompts import ImagePlacementError, count_images, prompt_messages

    record = Record(id=3, images=["a.png", "b.png"], task="rec", question="the cat")
    family = FAMILIES["qwen3-vl"]
    parts = prompt_messages(record, family, "Find {expression}.<image> Answer in JSON.")[0]["content"]
    assert parts == [
        {"type": "text", "text": "Find the cat."},
        {"type": "image"},
        {"type": "image"},
        {"type": "text", "text": " Answer in JSON."},
    ]
    with pytest.raises(ImagePlacementError, match="2 <image> markers"):
        prompt_messages(record, family, "Find {expression}.<image><image>")
    default = prompt_messages(record, family)[0]["content"]
    assert [p["type"] for p in default] == ["image", "image", "text"] and count_images([{"content": parts}]) == 2


@pytest.mark.parametrize(("name", "patch"), [("qwen2-vl", 14), ("qwen2.5-vl", 14), ("qwen3-vl", 16)])
def test_patch_size_is_the_published_one(name, patch):
    assert get_family(name).patch_size == patch  # Qwen2/2.5-VL: 14 px patches; Qwen3-VL: 16 px
