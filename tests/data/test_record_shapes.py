"""Every record shape (REC, multi-image with the box on image k, points, open-vocabulary detection, region
QA and multiple choice) survives GroundRL's and VLM-R1's formats; labels and <image> markers are checked."""

import json
from dataclasses import replace
from pathlib import Path

import pytest

from groundrl.data.pipeline import Source, read_sources, write_records
from groundrl.data.records import Record
from groundrl.errors import InputError

IMG = Path(__file__).parent / "fixtures" / "img"
A, B = str(IMG / "a.png"), str(IMG / "b.png")  # 64x48 and 40x40

SHAPES = {
    "rec": Record(id="rec", images=[A], question="the red square", boxes=[[4, 6, 30, 40]]),
    "multi_image": Record(
        id="mi", images=[A, B], task="multi_image", question="the green one", boxes=[[0, 0, 20, 40]], image_index=1
    ),
    "point_element": Record(id="ss", images=[A], task="point", question="search", boxes=[[10, 12, 30, 20]]),
    "point": Record(id="pt", images=[B], task="point", question="click the button", point=[12, 14]),
    "detection": Record(
        id="od",
        images=[A],
        task="detection",
        question="Detect: [red square, blue square].",
        boxes=[[4, 6, 30, 40], [40, 2, 60, 20]],
        labels=["red square", "blue square"],
        reward_method="od_ap",
    ),
    "region_qa": Record(
        id="rq", images=[A], task="qa", question="What is inside [4, 6, 30, 40]?", answer="a red square"
    ),
    "choice": Record(
        id=7,
        images=[B],
        task="qa",
        question="What colour is it? (A) red (B) green",
        answer="B",
        choices=["red", "green"],
        meta={"difficulty": "easy"},
    ),
}
TARGET = ("id", "images", "task", "boxes", "labels", "point", "answer", "choices", "image_index", "reward_method")


def target(record: Record) -> dict:
    return {name: getattr(record, name) for name in TARGET} | {"meta": record.meta}


def through(records: list[Record], fmt: str, path: Path) -> list[Record]:
    write_records(records, fmt, path, image_root=IMG)
    return list(read_sources([Source(path, fmt, IMG)]))


@pytest.mark.parametrize("shape", list(SHAPES))
def test_shape_survives_groundrl_and_vlmr1(tmp_path, shape):
    record = replace(SHAPES[shape], image_sizes=[[64, 48]] if SHAPES[shape].images == [A] else None)
    (native,) = through([record], "groundrl", tmp_path / "r.jsonl")
    assert native == record
    (vlmr1,) = through([native], "vlm-r1", tmp_path / "r.vlm-r1.jsonl")
    assert target(vlmr1) == target(record)
    assert vlmr1.messages[0]["content"].startswith("<image>" * len(record.images))
    (again,) = through([vlmr1], "groundrl", tmp_path / "again.jsonl")
    assert target(again) == target(record)


def test_vlmr1_items_name_only_what_the_answer_cannot_say(tmp_path):
    write_records(list(SHAPES.values()), "vlm-r1", tmp_path / "v.jsonl", image_root=IMG)
    items = {item["id"]: item for item in map(json.loads, (tmp_path / "v.jsonl").read_text().splitlines())}
    extra = {
        k: {key: v for key, v in item.items() if key not in ("id", "image", "conversations")}
        for k, item in items.items()
    }
    assert extra == {
        "rec": {},
        "mi": {"image_index": 1},
        "ss": {"task": "point"},
        "pt": {"task": "point"},
        "od": {"accu_reward_method": "od_ap"},
        "rq": {},
        7: {"choices": ["red", "green"], "difficulty": "easy"},
    }
    assert items["od"]["conversations"][1]["value"] == (
        '```json\n[{"bbox_2d": [4, 6, 30, 40], "label": "red square"}, '
        '{"bbox_2d": [40, 2, 60, 20], "label": "blue square"}]\n```'
    )


def test_labels_are_left_out_of_json_when_absent():
    assert "labels" not in json.loads(SHAPES["rec"].to_json())
    assert json.loads(SHAPES["detection"].to_json())["labels"] == ["red square", "blue square"]


def test_parquet_keeps_labels(tmp_path):
    records = [SHAPES["detection"], SHAPES["rec"]]
    back = through(records, "parquet", tmp_path / "r.parquet")
    assert [r.labels for r in back] == [["red square", "blue square"], None]


def read_error(tmp_path: Path, fmt: str, text: str, name: str = "bad.jsonl") -> str:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InputError) as info:
        list(read_sources([Source(path, fmt, IMG)]))
    return str(info.value).removeprefix(str(path))


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (["a"], ":1: field 'labels': 1 labels for 2 boxes"),
        (["a", 3], ":1: field 'labels': expected a list of strings"),
    ],
)
def test_labels_are_checked(tmp_path, labels, message):
    row = {"id": 1, "images": ["a.png"], "task": "detection", "question": "x", "boxes": [[1, 1, 2, 2], [3, 3, 4, 4]]}
    assert read_error(tmp_path, "groundrl", json.dumps(row | {"labels": labels}) + "\n").startswith(message)


def vlmr1_line(human: str, gpt: str, image: str | list = "a.png") -> str:
    turns = [{"from": "human", "value": human}, {"from": "gpt", "value": gpt}]
    return json.dumps({"id": 1, "image": image, "conversations": turns}) + "\n"


@pytest.mark.parametrize(
    ("gpt", "message"),
    [
        ('```json\n[{"bbox_2d": [1, 2, 3, 4], "label": "a"},]\n```', ":1: field 'conversations[1]': expected a JSON"),
        ('[{"bbox_2d": [1, 2, 3], "label": "a"}]', ":1: field 'conversations[1][0].bbox_2d': expected 4 finite"),
        (
            '[{"bbox_2d": [1, 2, 3, 4], "label": "a"}, {"bbox_2d": [5, 6, 7, 8]}]',
            ":1: field 'conversations[1][1].label': expected a string label, got None",
        ),
        ('[{"bbox_2d": [1, 2, 3, 4]}, 5]', ":1: field 'conversations[1]': expected a JSON list of {\"bbox_2d\""),
    ],
)
def test_malformed_detection_answers_are_one_line_errors(tmp_path, gpt, message):
    assert read_error(tmp_path, "vlm-r1", vlmr1_line("<image>Detect: [a].", gpt)).startswith(message)


def test_detection_without_labels_and_a_single_bbox_object(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text(
        vlmr1_line("<image>Detect.", '[{"bbox_2d": [1, 2, 3, 4]}, {"bbox_2d": [5, 6, 7, 8]}]')
        + vlmr1_line("<image>Find the cup.", '<answer>{"bbox_2d": [1, 2, 3, 4], "label": "cup"}</answer>')
    )
    unlabelled, single = read_sources([Source(path, "vlm-r1", IMG)])
    assert (unlabelled.task, unlabelled.boxes, unlabelled.labels) == ("detection", [[1, 2, 3, 4], [5, 6, 7, 8]], None)
    assert (single.task, single.boxes, single.labels) == ("rec", [[1, 2, 3, 4]], None)  # one object: a REC box
    (back,) = through([unlabelled], "vlm-r1", tmp_path / "back.jsonl")
    assert (back.task, back.boxes, back.labels) == ("detection", [[1, 2, 3, 4], [5, 6, 7, 8]], None)


@pytest.mark.parametrize(
    ("human", "image", "ok"),
    [
        ("Which differs?", ["a.png", "b.png"], True),  # no marker: the images go first
        ("<image>Which differs?<image>", ["a.png", "b.png"], True),
        ("Is it red?\n<image>", "a.png", True),  # after the question, as qwen-vl-finetune writes it
        ("<image><image>Is it red?", "a.png", False),
        ("<image>Which differs?", ["a.png", "b.png"], False),
    ],
)
def test_image_markers_are_none_or_one_per_image(tmp_path, human, image, ok):
    line = vlmr1_line(human, "yes", image)
    if ok:
        (tmp_path / "ok.jsonl").write_text(line)
        assert len(list(read_sources([Source(tmp_path / "ok.jsonl", "vlm-r1", IMG)]))) == 1
    else:
        markers, images = human.count("<image>"), 1 if isinstance(image, str) else len(image)
        assert read_error(tmp_path, "vlm-r1", line) == (
            f":1: field 'messages': {markers} <image> placeholders for {images} images (expected none or one per image)"
        )


def test_marker_error_in_an_array_names_the_index(tmp_path):
    rows = [
        {
            "messages": [{"role": "user", "content": "<image>a"}, {"role": "assistant", "content": "b"}],
            "images": ["a.png"],
        },
        {
            "messages": [{"role": "user", "content": "<image>a"}, {"role": "assistant", "content": "b"}],
            "images": ["a.png", "b.png"],
        },
    ]
    message = read_error(tmp_path, "sharegpt", json.dumps(rows), "rows.json")
    assert message == "[1]: field 'messages': 1 <image> placeholders for 2 images (expected none or one per image)"
