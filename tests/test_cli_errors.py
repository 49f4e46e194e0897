"""Every case of issue 11's CLI list ends as one `groundrl: error:` line on stderr and an exit status (2: bad
input, 1: a failed run), never a traceback; `--debug` shows the traceback; `data convert` never leaves a
half-written output under its final name."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from PIL import Image

import groundrl.data.pipeline
import groundrl.train.grpo
import groundrl.train.sft
from helpers import run_cli, write_jsonl

PREDICTION = {"id": "a", "output": "[0, 0, 10, 10]", "gt": [0, 0, 10, 10], "width": 100, "height": 100, "coords": "abs"}
DEEP = "[" * 100_000 + "]" * 100_000
HUGE_INT = "9" * 5_000


@pytest.fixture
def root(tmp_path):
    """A model folder (config.json only), an image, a good record file and the inputs of the issue's list."""
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text(json.dumps({"model_type": "qwen2_vl"}))
    Image.new("RGB", (64, 48)).save(tmp_path / "a.png")
    record = {"id": "r1", "images": ["a.png"], "task": "rec", "question": "the cat", "boxes": [[4, 6, 30, 40]]}
    write_jsonl(tmp_path / "good.jsonl", [record])
    write_jsonl(tmp_path / "deep.jsonl", [DEEP])
    write_jsonl(tmp_path / "huge_int.jsonl", [json.dumps(record).replace("[[4,", f"[[{HUGE_INT},")])
    write_jsonl(tmp_path / "huge_int_pred.jsonl", [json.dumps(PREDICTION).replace('"gt": [0,', f'"gt": [{HUGE_INT},')])
    write_jsonl(tmp_path / "wide.jsonl", [{**record, "image_sizes": [[1e300, 48]]}])
    write_jsonl(tmp_path / "wide_pred.jsonl", [{**PREDICTION, "width": 1e300}])
    write_jsonl(tmp_path / "wide_pred_family.jsonl", [{**PREDICTION, "width": 1e300, "coords": "resized"}])
    (tmp_path / "blank.jsonl").write_text("  \n\n\t\n")
    (tmp_path / "empty.jsonl").write_text("")
    write_jsonl(tmp_path / "no_image.jsonl", [record, {**record, "id": "r2", "images": ["gone.png"]}])
    (tmp_path / "file.txt").write_text("x")
    return tmp_path


@pytest.fixture
def no_training(monkeypatch):
    """The recipes fail the test if reached: each of these errors must stop the command before training."""

    def boom(cfg):
        raise AssertionError("the recipe ran")

    monkeypatch.setattr(groundrl.train.sft, "run_sft", boom)
    monkeypatch.setattr(groundrl.train.grpo, "run_grpo", boom)


def one_error_line(result, code: int) -> str:
    """The single stderr line of a failed command, checked: its exit status, no traceback, the prefix."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == code, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr and len(lines) == 1, result.stderr
    assert lines[0].startswith("groundrl: error: "), lines[0]
    return lines[0].removeprefix("groundrl: error: ")


def _train(root, *overrides):
    return [f"model={root / 'model'}", f"data={root / 'good.jsonl'}", f"output_dir={root / 'out'}", *overrides]


CONFIG_CASES = [
    ("grpo", "trl.max_steps=abc", "trl.max_steps: expected int, got 'abc'"),
    ("grpo", "output_dir={root}/file.txt", "output_dir: '{root}/file.txt' is a file, not a folder"),
    ("sft", "data={root}", "data: '{root}' is a folder"),
    ("sft", "model={root}/nowhere", "model: no such folder '{root}/nowhere'"),
    ("grpo", "trl.num_generations=3", "trl.num_generations: 3 does not divide the generation batch of 8"),
    ("sft", "data={root}/empty.jsonl", "data: '{root}/empty.jsonl' is empty"),
    ("grpo", "data={root}/empty.jsonl", "data: '{root}/empty.jsonl' is empty"),
]


@pytest.mark.parametrize(("command", "override", "message"), CONFIG_CASES)
def test_config_errors(root, no_training, command, override, message):
    result = run_cli(command, *_train(root, override.format(root=root)))
    assert one_error_line(result, 2).startswith(message.format(root=root))
    assert not (root / "out").exists()  # nothing saved, least of all an untrained "final" model


def test_report_to_none_is_accepted(root, monkeypatch):
    given = []

    class Trainer:
        state = type("State", (), {"log_history": [], "global_step": 0})()

    monkeypatch.setattr(groundrl.train.grpo, "run_grpo", lambda cfg: given.append(cfg) or Trainer())
    result = run_cli("grpo", *_train(root, "trl.report_to=none", "trl.num_generations=4"))
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert given[0].trl["report_to"] == "none"


def _data_commands(path: str, root) -> dict[str, list[str]]:
    evaluate = ["eval", "--model", str(root / "model"), "--data", path, "--out", str(root / "run"), "family=qwen2-vl"]
    return {
        "score": ["score", path],
        "validate": ["data", "validate", path],
        "stats": ["data", "stats", path],
        "eval": evaluate,
    }


INPUT_CASES = [
    ("deep.jsonl", ("score", "validate", "stats", "eval"), "{path}:1: not valid JSON (nested deeper than about 1000"),
    ("huge_int.jsonl", ("validate", "stats", "eval"), "{path}:1: not valid JSON (an integer of 5,000 digits"),
    ("huge_int_pred.jsonl", ("score",), "{path}:1: not valid JSON (an integer of 5,000 digits"),
    ("wide.jsonl", ("validate", "stats", "eval"), "{path}:1: field 'image_sizes': expected [width, height], each > 0"),
    ("wide_pred.jsonl", ("score",), "{path}:1: field 'width': expected a positive number <= 1,000,000, got 1e+300"),
    ("blank.jsonl", ("validate", "stats", "eval"), "{path}:1: empty line"),
    ("blank.jsonl", ("score",), "{path}: no predictions: the file is empty or holds only blank lines"),
    ("empty.jsonl", ("validate", "stats", "eval"), "{path}: holds no records"),
    ("empty.jsonl", ("score",), "{path}: no predictions"),
]


@pytest.mark.parametrize(("name", "commands", "message"), INPUT_CASES)
def test_hostile_and_empty_inputs(root, name, commands, message):
    path = str(root / name)
    for command in commands:
        result = run_cli(*_data_commands(path, root)[command])
        assert one_error_line(result, 2).startswith(message.format(path=path)), command


def test_an_extreme_width_with_a_family_resize_is_one_line(root):
    path = root / "wide_pred_family.jsonl"
    write_jsonl(path, [{**PREDICTION, "width": 900_000, "height": 10, "coords": None, "family": "qwen2.5-vl"}])
    message = one_error_line(run_cli("score", str(path)), 2)
    assert message.startswith(f"{path}:1: field 'width': qwen2.5-vl cannot resize this image:")


@pytest.mark.parametrize("command", ["sft", "grpo"])
def test_training_on_blank_data_stops_before_any_model_is_saved(root, command, tiny_model):
    extra = ["trl.num_generations=2", "trl.max_completion_length=8"] if command == "grpo" else []
    args = [f"model={tiny_model}", f"data={root / 'blank.jsonl'}", f"output_dir={root / 'out'}", "trl.max_steps=1"]
    result = run_cli(command, *args, "trl.report_to=none", "trl.per_device_train_batch_size=2", *extra)
    assert one_error_line(result, 2) == f"{root / 'blank.jsonl'}:1: empty line"
    assert not list((root / "out").glob("**/*.safetensors"))


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from groundrl.models.tiny import make_tiny

    return make_tiny("qwen2-vl", tmp_path_factory.mktemp("tiny") / "qwen2-vl")


def test_a_missing_image_during_eval_names_the_record_file_and_line(root):
    path = root / "no_image.jsonl"
    result = run_cli(*_data_commands(str(path), root)["eval"])
    assert one_error_line(result, 2) == f"{path}:2: field 'images[0]': image not found: {root / 'gone.png'}"


def test_a_click_without_its_target_box_is_refused_before_eval_not_a_traceback(root):
    path = root / "bare_point.jsonl"
    click = {"id": "c1", "images": ["a.png"], "task": "point", "question": "the button", "point": [10, 10]}
    write_jsonl(path, [click])
    result = run_cli(*_data_commands(str(path), root)["eval"])
    assert one_error_line(result, 2) == f"{path}:1: field 'boxes': a point record needs its target box to be judged"


def test_an_unexpected_error_is_one_line_with_its_type_and_exit_1(root, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("groundrl.cli.score.score_jsonl", broken)
    message = one_error_line(run_cli("score", str(root / "good.jsonl")), 1)
    assert message == "RuntimeError: disk on fire (rerun with --debug for the traceback)"


@pytest.mark.parametrize("how", ["flag", "env"])
def test_debug_shows_the_traceback(root, monkeypatch, how):
    if how == "env":
        monkeypatch.setenv("GROUNDRL_DEBUG", "1")
    args = ["--debug"] if how == "flag" else []
    result = run_cli(*args, "score", str(root / "deep.jsonl"))
    assert result.returncode == 2
    assert "Traceback (most recent call last)" in result.stderr and "InputError" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(f"groundrl: error: {root / 'deep.jsonl'}:1:")
    monkeypatch.setattr("groundrl.cli.score.score_jsonl", None)
    result = run_cli(*args, "score", str(root / "good.jsonl"))
    assert result.returncode == 1 and "Traceback (most recent call last)" in result.stderr
    assert result.stderr.strip().splitlines()[-1] == "groundrl: error: TypeError: 'NoneType' object is not callable"


def test_convert_that_fails_midway_leaves_no_output(root, monkeypatch):
    write_jsonl(root / "many.jsonl", [json.loads((root / "good.jsonl").read_text())] * 50)
    out = root / "converted.jsonl"
    out.write_text("an earlier, complete output\n")
    real = groundrl.data.pipeline.get_format
    written = []

    def failing_after_ten(name):
        fmt = real(name)
        if name != "vlm-r1":
            return fmt

        def from_record(record, ctx):
            written.append(record.id)
            if len(written) > 10:
                raise RuntimeError("killed mid-way")
            return fmt.from_record(record, ctx)

        return dataclasses.replace(fmt, from_record=from_record)

    monkeypatch.setattr(groundrl.data.pipeline, "get_format", failing_after_ten)
    result = run_cli("data", "convert", str(root / "many.jsonl"), str(out), "--from", "groundrl", "--to", "vlm-r1")
    assert one_error_line(result, 1) == "RuntimeError: killed mid-way (rerun with --debug for the traceback)"
    assert len(written) == 11
    assert out.read_text() == "an earlier, complete output\n"  # untouched: the new file never took its name
    assert sorted(p.name for p in root.iterdir() if "converted" in p.name) == ["converted.jsonl"]


def test_convert_killed_by_a_signal_leaves_nothing_under_the_final_name(root):
    record = json.loads((root / "good.jsonl").read_text())
    record["images"] = [str(root / "a.png")]
    with open(root / "big.jsonl", "w") as f:
        for i in range(300_000):
            f.write(json.dumps({**record, "id": f"r{i}"}) + "\n")
    out = root / "big_out.jsonl"
    script = os.path.join(os.path.dirname(sys.executable), "groundrl")
    args = [script, "data", "convert", str(root / "big.jsonl"), str(out), "--from", "groundrl", "--workers", "1"]
    proc = subprocess.Popen([*args, "--to", "vlm-r1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        # Kill once writing has begun, whatever name the output is written under meanwhile.
        while not any("big_out" in p.name and p.stat().st_size > 0 for p in root.iterdir()):
            assert proc.poll() is None and time.monotonic() < deadline, "convert ended before writing began"
            time.sleep(0.02)
        time.sleep(0.2)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists()


def test_predict_with_a_missing_model_folder_names_it(root):
    result = run_cli("predict", "--model", str(root / "nowhere"), "--image", str(root / "a.png"), "the cat")
    assert one_error_line(result, 2).startswith(f"--model: no such folder '{root / 'nowhere'}'")
