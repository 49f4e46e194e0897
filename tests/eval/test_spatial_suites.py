"""SAT and BLINK (multiple choice, one pass) on their published Parquet layouts: records, images written
once from the files, exact accuracy through a scripted engine, bad rows named, and the CLI with a tiny model."""

import dataclasses
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from groundrl.engines.base import Generation
from groundrl.errors import InputError
from groundrl.eval.judge import expected_choice
from groundrl.eval.metrics import compute_metrics, read_predictions
from groundrl.eval.runner import EvalConfig, run_eval
from groundrl.eval.suites import load_suite
from helpers import run_cli

FIX = Path(__file__).parent / "fixtures"


@pytest.mark.parametrize("folder", ["sat", "sat_v2"])
def test_sat_layouts(tmp_path, folder):
    (split,) = load_suite("sat", FIX / folder, image_root=tmp_path)
    assert split.name == "test" and split.group_keys == ("question_type",)
    first, second = split.records
    assert (
        first.question == "Is the red box to the left of the camera? Choose between the following options: yes, or no."
    )
    assert [expected_choice(r) for r in split.records] == ["B", "B"]
    assert [len(r.images) for r in split.records] == [1, 2] and first.meta["question_type"] == "obj_rel"
    assert all(Path(p).is_relative_to(tmp_path) and Path(p).suffix == ".png" for p in second.images)


def test_blink_layout_and_images_written_once(tmp_path):
    splits = load_suite("blink", FIX / "blink", image_root=tmp_path)
    assert [s.name for s in splits] == ["Counting", "Multi-view_Reasoning"]  # val only: test answers are hidden
    counting, views = splits
    assert [r.id for r in counting.records] == ["val_Counting_1", "val_Counting_2"]
    assert [len(r.images) for r in counting.records + views.records] == [1, 1, 2]  # a null image is no image
    assert [expected_choice(r) for r in counting.records + views.records] == ["B", "A", "A"]
    assert views.records[0].question.endswith("(A) left\n(B) right") and views.records[0].choices == ["left", "right"]
    written = {p: Path(p).stat().st_mtime_ns for r in views.records for p in r.images}
    load_suite("blink", FIX / "blink", image_root=tmp_path)
    assert {p: Path(p).stat().st_mtime_ns for p in written} == written


class Letters:
    """Answers every prompt with the letter of its question's position in `answers`."""

    def __init__(self, answers: dict[str, str]):
        self.answers = answers

    def generate(self, prompts, sampling):
        texts = ["".join(p.get("text", "") for p in m["content"]) for pr in prompts for m in pr.messages[:1]]
        return [[Generation(f"<answer>{self.answers.get(t, 'Z')}</answer>", 2, 0.01)] for t in texts]


def test_one_pass_accuracy_is_exact(tmp_path):
    splits = load_suite("blink", FIX / "blink", image_root=tmp_path / "img")
    questions = [r.question for s in splits for r in s.records]
    engine = Letters({questions[0]: "(B)", questions[1]: "B", questions[2]: "right"})  # right, wrong, wrong
    cfg = EvalConfig(model="scripted", suite="blink", root=str(FIX / "blink"), image_root=str(tmp_path / "img"))
    run_eval(dataclasses.replace(cfg, family="qwen2.5-vl"), tmp_path / "run", engine=engine)
    metrics = compute_metrics(read_predictions(tmp_path / "run" / "predictions.jsonl"))
    assert (
        metrics["splits"]["Counting"]["accuracy"] == 0.5 and metrics["splits"]["Multi-view_Reasoning"]["accuracy"] == 0
    )
    assert metrics["overall"]["accuracy"] == pytest.approx(1 / 3)


def test_a_row_without_its_image_is_named(tmp_path):
    table = pq.read_table(FIX / "sat" / "SAT_test.parquet").to_pylist()
    table[1]["image_bytes"] = [{"bytes": None, "path": None}]
    schema = pq.read_schema(FIX / "sat" / "SAT_test.parquet")
    pq.write_table(pa.Table.from_pylist(table, schema=schema), tmp_path / "SAT_test.parquet")
    with pytest.raises(InputError, match=r"SAT_test.parquet.*1.*image_bytes.*no embedded image bytes"):
        load_suite("sat", tmp_path)


def test_eval_cli_on_sat_with_the_tiny_model(tiny_models, tmp_path):
    out = tmp_path / "run"
    args = ["--model", str(tiny_models["qwen2.5-vl"]), "--suite", "sat", "--root", str(FIX / "sat"), "--out", str(out)]
    run_cli("eval", *args, f"image_root={tmp_path / 'img'}", "max_new_tokens=4", check=True)
    assert json.loads((out / "metrics.json").read_text())["splits"]["test"]["n"] == 2
