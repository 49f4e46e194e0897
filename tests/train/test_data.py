"""Training data is streamed: records are read once into a cached table, images are decoded per batch, and a
run whose rewards apply to nothing refuses before it loads the model."""

import json

import pytest

import groundrl.train.data as train_data
from groundrl.config import ConfigError
from groundrl.data.pipeline import split_sources
from groundrl.data.records import Record
from groundrl.models.families import get_family
from groundrl.rewards import RewardSpec, reward_applies
from groundrl.synth import SynthOptions, generate
from groundrl.train import grpo, sft
from groundrl.train.data import RowBuilder, iter_records, record_table, training_dataset


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("stream-data")
    return generate("rec", 12, root, seed=3, opts=SynthOptions(min_size=56, max_size=84))


def test_record_table_is_read_once_and_cached_until_the_file_changes(data, tmp_path):
    images = data.parent
    data = tmp_path / "records.jsonl"  # a copy: this test changes it
    data.write_text((images / "records.jsonl").read_text())
    sources = split_sources(str(data), "groundrl", str(images))
    table = record_table(sources, tmp_path)
    assert len(table) == 12
    assert [r.id for r in iter_records(table, batch=5)] == [
        Record.from_json(x).id for x in data.read_text().splitlines()
    ]
    assert len(list(tmp_path.glob("*.arrow"))) == 1
    assert len(record_table(sources, tmp_path, limit=4)) == 4  # another key: another table
    first = data.read_text().splitlines()[0]
    data.write_text(data.read_text() + first.replace('"id": 0', '"id": 99') + "\n")
    assert len(record_table(sources, tmp_path)) == 13  # the file changed: read again


def test_no_image_is_decoded_before_training(tiny_models, data, tmp_path, monkeypatch):
    decoded = []
    real = train_data.load_image
    monkeypatch.setattr(train_data, "load_image", lambda p: decoded.append(p) or real(p))
    cfg = sft.SFTRunConfig(
        model=str(tiny_models["qwen2.5-vl"]),
        data=str(data),
        output_dir=str(tmp_path),
        trl={"max_steps": 1, "per_device_train_batch_size": 2},
    )
    trainer = sft.build_trainer(cfg)
    assert len(decoded) <= 1  # TRL peeks at one row to see that the data set has images
    decoded.clear()
    trainer.train()
    assert 2 <= len(decoded) <= 4 < 12  # the step's batch of 2 (and the one accelerate reads ahead), not all 12


def test_images_are_resized_to_the_processors_input_and_rewards_keep_original_pixels(tmp_path):
    family = get_family("qwen2.5-vl")
    small = train_data.dataclasses.replace(family, max_pixels=56 * 56)
    data = generate("rec", 2, tmp_path, seed=0, opts=SynthOptions(min_size=200, max_size=200))
    rows = training_dataset(record_table(split_sources(str(data), "groundrl"), tmp_path), RowBuilder("grpo", small))
    row = rows[0]
    assert row["images"][0].size == small.input_size(200, 200) == (56, 56)
    record = Record.from_json(data.read_text().splitlines()[0])
    assert (row["width"], row["height"]) == (200, 200) and row["gt_box"] == record.boxes[0]
    assert (row["input_width"], row["input_height"]) == (56, 56)


def test_a_chain_shows_each_image_in_the_turn_that_marks_it(tmp_path):
    from PIL import Image

    for name in ("a.png", "b.png"):
        Image.new("RGB", (28, 28)).save(tmp_path / name)
    chain = {
        "messages": [
            {"role": "user", "content": "<image>Who is it?"},
            {"role": "assistant", "content": "A player."},
            {"role": "user", "content": "And here?<image>"},
            {"role": "assistant", "content": "Celebrating."},
        ],
        "images": ["a.png", "b.png"],
    }
    path = tmp_path / "chain.json"
    path.write_text(json.dumps([chain]))
    table = record_table(split_sources(str(path), "sharegpt"), tmp_path / "cache")
    family = get_family("qwen2.5-vl")
    sft_row = training_dataset(table, RowBuilder("sft", family))[0]
    kinds = [[p["type"] for p in m["content"]] for m in sft_row["messages"]]
    assert kinds == [["image", "text"], ["text"], ["text", "image"], ["text"]]
    assert len(sft_row["images"]) == 2
    grpo_row = training_dataset(table, RowBuilder("grpo", family))[0]
    assert [m["role"] for m in grpo_row["prompt"]] == ["user", "assistant", "user"]  # answer: the last turn
    assert len(grpo_row["images"]) == 2 and grpo_row["answer"] == "Celebrating."


def test_grpo_refuses_rewards_that_apply_to_no_record_before_loading(data, tmp_path, monkeypatch):
    qa = tmp_path / "qa.jsonl"
    rows = [json.loads(line) | {"task": "qa", "answer": "red"} for line in data.read_text().splitlines()]
    qa.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "boxes"}) + "\n" for r in rows))
    monkeypatch.setattr(grpo, "load_for_training", lambda *a: pytest.fail("the model was loaded"))
    cfg = grpo.GRPORunConfig(
        model=str(data.parent),  # never loaded: the check comes first
        data=str(qa),
        output_dir=str(tmp_path / "out"),
        rewards=[RewardSpec("format", 0.5), RewardSpec("iou", 1.0)],
    )
    monkeypatch.setattr(grpo, "check_config", lambda cfg: None)
    with pytest.raises(ConfigError, match=r"'iou' applies to 0 of 12 records.*tasks: qa 12"):
        grpo.build_trainer(cfg)


def test_empty_data_is_an_error_not_a_run(tiny_models, tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    cfg = sft.SFTRunConfig(model=str(tiny_models["qwen2.5-vl"]), data=str(empty), output_dir=str(tmp_path / "o"))
    with pytest.raises(ConfigError, match=r"is empty|holds no records"):
        sft.build_trainer(cfg)


def test_planned_rows_stand_for_every_record_in_the_coverage_check(tmp_path):
    rows = [
        {"id": 0, "images": ["a.png"], "image_sizes": [[10, 10]], "question": "x", "boxes": [[0, 0, 5, 5]]},
        {"id": 1, "images": ["a.png"], "image_sizes": [[10, 10]], "task": "qa", "question": "q", "answer": "B"},
        {"id": 2, "images": ["a.png"], "image_sizes": [[20, 10]], "question": "y", "boxes": [[1, 1, 5, 5]]},
        {"id": 3, "images": ["a.png"], "image_sizes": [[10, 10]], "task": "point", "question": "z", "point": [2, 2]},
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    table = record_table(split_sources(str(path), "groundrl"), tmp_path / "cache")
    planned = list(train_data.planned_rows(table))
    exact = [train_data.planned_columns(r) for r in iter_records(table)]
    assert len(planned) == 4
    for name in ("format", "iou", "answer_match", "point_in_box"):
        assert sum(reward_applies(name, r) for r in planned) == sum(reward_applies(name, r) for r in exact)
    assert sorted(r["task"] for r in planned) == ["point", "qa", "rec", "rec"]
