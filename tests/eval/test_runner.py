"""`groundrl eval` on every suite layout, exact metrics through a scripted engine, and kill-and-resume."""

import dataclasses
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from groundrl.engines.base import Generation
from groundrl.eval.metrics import compute_metrics, read_predictions
from groundrl.eval.runner import EvalConfig, RunMismatchError, run_eval
from groundrl.eval.suites import load_suite
from groundrl.models.families import get_family
from helpers import run_cli

FIX = Path(__file__).parent / "fixtures"
SUITES = [
    ("refcoco", "refcoco", {"refcoco/val", "refcoco+/testA", "refcocog/val"}),
    ("screenspot", "screenspot_v2", {"screenspot_mobile_v2", "screenspot_web_v2"}),
    ("screenspot", "screenspot_pro", {"photoshop_windows"}),
    ("vstar", "vstar", {"direct_attributes", "relative_position"}),
    ("mig-bench", "mig_bench", {"common", "static_diff"}),
    ("lisa-grounding", "lisa", {"val"}),
]


@pytest.mark.parametrize(("suite", "folder", "splits"), SUITES)
def test_suite_layouts_load(suite, folder, splits):
    loaded = load_suite(suite, FIX / folder)
    assert {s.name for s in loaded} == splits
    for split in loaded:
        for record in split.records:
            assert all(Path(p).exists() for p in record.images)


@pytest.mark.parametrize(("suite", "folder", "splits"), SUITES)
def test_eval_cli_runs_each_suite_with_the_tiny_model(tiny_models, tmp_path, suite, folder, splits):
    out = tmp_path / "run"
    run_cli(
        "eval",
        "--model",
        str(tiny_models["qwen2.5-vl"]),
        "--suite",
        suite,
        "--root",
        str(FIX / folder),
        "--out",
        str(out),
        "max_new_tokens=8",
        check=True,
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["splits"]) == splits
    assert (out / "report.md").read_text().count("\n|") >= len(splits) + 2
    if suite == "screenspot":
        assert set(next(iter(metrics["groups"].values()))) == {"platform", "element"}


class ScriptedEngine:
    """Answers each prompt from a script keyed by the pixels of its first image."""

    def __init__(self, answers):
        self.answers = answers

    def generate(self, prompts, sampling):
        return [[Generation(a, 5, 0.01) for a in self.answers(pixels(p.images[0]), sampling.n)] for p in prompts]


def pixels(image) -> str:
    return hashlib.md5(image.convert("RGB").tobytes()).hexdigest()


def test_exact_metrics_through_conventions(tmp_path):
    from groundrl.synth import SynthOptions, generate

    data = generate("rec", 12, tmp_path / "data", seed=3, opts=SynthOptions(min_size=100, max_size=300))
    rows = [json.loads(line) for line in data.read_text().splitlines()]
    records = {pixels(Image.open(data.parent / r["images"][0])): r for r in rows}
    assert len(records) == 12
    family = get_family("qwen2-vl")

    def answers(key, n):
        r = records[key]
        (w, h), box = r["image_sizes"][0], r["boxes"][0]
        grid = [box[0] * 1000 / w, box[1] * 1000 / h, box[2] * 1000 / w, box[3] * 1000 / h]
        right = family.format_box(grid)
        return [right if r["id"].endswith(("0", "2", "4", "6")) else "I do not know"] * n

    cfg = EvalConfig(model="scripted", data=str(data), family="qwen2-vl", batch_size=5)
    run_eval(cfg, tmp_path / "run", engine=ScriptedEngine(answers))
    m = compute_metrics(read_predictions(tmp_path / "run" / "predictions.jsonl"))["overall"]
    expected = sum(1 for r in records.values() if r["id"].endswith(("0", "2", "4", "6"))) / 12
    assert m["acc@0.5"] == pytest.approx(expected) and m["acc@0.7"] == pytest.approx(expected)
    assert m["parse_failures"] == 12 - round(expected * 12) and m["miou"] > 0.95 * expected


def _metrics_without_timing(path):
    metrics = compute_metrics(read_predictions(path))
    for m in [*metrics["splits"].values(), metrics["overall"]]:
        for key in ("latency_p50_s", "latency_p90_s", "samples_per_s"):
            m.pop(key)
    return metrics


def test_sigkill_and_resume_gives_the_same_metrics(tiny_models, tmp_path):
    from groundrl.synth import SynthOptions, generate

    data = generate("rec", 24, tmp_path / "data", seed=5, opts=SynthOptions(min_size=64, max_size=96))
    model = str(tiny_models["qwen2.5-vl"])
    args = ["--model", model, "--data", str(data), "max_new_tokens=12", "batch_size=2"]
    run_cli("eval", *args, "--out", str(tmp_path / "clean"), check=True)

    resumed = tmp_path / "resumed"
    preds = resumed / "predictions.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "groundrl", "eval", *args, "--out", str(resumed)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    while time.time() < deadline and (not preds.exists() or preds.read_text().count("\n") < 6):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    written = preds.read_text().count("\n")
    assert 6 <= written < 24, "the kill should land mid-run"
    with open(preds, "a") as f:  # as if killed mid-write
        f.write('{"split": "records", "id": "half')
    run_cli("eval", *args, "--out", str(resumed), check=True)
    rows = read_predictions(preds)
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)) == 24
    assert _metrics_without_timing(preds) == _metrics_without_timing(tmp_path / "clean" / "predictions.jsonl")


@pytest.fixture
def scripted_run(tmp_path):
    """A finished 6-record run made with a scripted engine, and the config that made it."""
    from groundrl.synth import SynthOptions, generate

    data = generate("rec", 6, tmp_path / "data", seed=7, opts=SynthOptions(min_size=64, max_size=96))
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"model_type": "qwen2_vl"}))
    cfg = EvalConfig(model=str(model), data=str(data), family="qwen2-vl", batch_size=4)
    out = tmp_path / "run"
    run_eval(cfg, out, engine=ScriptedEngine(lambda key, n: ["first"] * n))
    return cfg, out


class CountingEngine(ScriptedEngine):
    """A scripted engine that counts the prompts it answered."""

    def __init__(self, answer: str):
        super().__init__(lambda key, n: [answer] * n)
        self.prompts = 0

    def generate(self, prompts, sampling):
        self.prompts += len(prompts)
        return super().generate(prompts, sampling)


def _outputs(out: Path) -> list[str]:
    return [r["outputs"][0] for r in read_predictions(out / "predictions.jsonl")]


def test_a_different_run_refuses_and_names_what_differs(scripted_run):
    cfg, out = scripted_run
    before = (out / "predictions.jsonl").read_text()
    other = dataclasses.replace(cfg, temperature=0.7, max_new_tokens=64)
    with pytest.raises(RunMismatchError) as error:
        run_eval(other, out, engine=CountingEngine("second"))
    message = str(error.value)
    assert "temperature: was 0.0, now 0.7" in message and "max_new_tokens: was 256, now 64" in message
    assert "model:" not in message and "\n" not in message
    assert (out / "predictions.jsonl").read_text() == before
    assert json.loads((out / "config.json").read_text())["temperature"] == 0.0


def test_the_same_run_resumes_whatever_its_batch_size_and_path_spelling(scripted_run, monkeypatch):
    cfg, out = scripted_run
    lines = (out / "predictions.jsonl").read_text().splitlines(keepends=True)
    (out / "predictions.jsonl").write_text("".join(lines[:2]))
    monkeypatch.chdir(Path(cfg.data).parent)
    same = dataclasses.replace(cfg, data=Path(cfg.data).name, batch_size=1, max_in_flight=3)
    engine = CountingEngine("resumed")
    run_eval(same, out, engine=engine)
    assert engine.prompts == 4
    assert _outputs(out) == ["first"] * 2 + ["resumed"] * 4
    assert json.loads((out / "config.json").read_text())["batch_size"] == 1


def test_overwrite_replaces_another_run(scripted_run):
    cfg, out = scripted_run
    (out / "metrics.json").write_text("{}")
    other = dataclasses.replace(cfg, seed=1)
    engine = CountingEngine("second")
    run_eval(other, out, engine=engine, overwrite=True)
    assert engine.prompts == 6 and _outputs(out) == ["second"] * 6
    assert not (out / "metrics.json").exists()
    assert json.loads((out / "config.json").read_text())["seed"] == 1


def test_predictions_of_an_unknown_run_are_not_resumed(scripted_run):
    cfg, out = scripted_run
    (out / "config.json").unlink()
    with pytest.raises(RunMismatchError, match="holds predictions of an unknown run"):
        run_eval(cfg, out, engine=CountingEngine("second"))
    run_eval(cfg, out, engine=CountingEngine("second"), overwrite=True)
    assert _outputs(out) == ["second"] * 6


def test_a_model_folder_is_never_taken_for_a_run_folder(scripted_run):
    cfg, _ = scripted_run
    model = Path(cfg.model)
    config = (model / "config.json").read_text()
    for overwrite in (False, True):
        with pytest.raises(RunMismatchError, match="not an evaluation run's"):
            run_eval(cfg, model, engine=CountingEngine("x"), overwrite=overwrite)
    assert (model / "config.json").read_text() == config and not (model / "predictions.jsonl").exists()


def test_cli_refuses_another_run_with_one_line_and_resumes_the_same(scripted_run):
    from typer.testing import CliRunner

    from groundrl.cli.app import app

    cfg, out = scripted_run
    args = ["eval", "--model", cfg.model, "--data", cfg.data, "--out", str(out), "family=qwen2-vl"]
    refused = CliRunner().invoke(app, [*args, "--temperature", "0.5"])
    assert refused.exit_code == 2, refused.output
    assert refused.stderr.strip().splitlines() == [
        f"groundrl: error: --out: {out} holds another run (temperature: was 0.0, now 0.5); --overwrite replaces it"
    ]
    resumed = CliRunner().invoke(app, [*args, "batch_size=2"])
    assert resumed.exit_code == 0, resumed.output
    assert _outputs(out) == ["first"] * 6 and (out / "metrics.json").exists()


def test_a_missing_model_is_one_line_before_any_run_folder(tmp_path):
    from groundrl.synth import generate

    data = generate("rec", 2, tmp_path / "data", seed=1)
    with pytest.raises(ValueError, match=r"^model: cannot read the config of '.*nowhere'; give a checkpoint folder$"):
        run_eval(EvalConfig(model=str(tmp_path / "nowhere"), data=str(data)), tmp_path / "run")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("layout", ["processor_config.json", "preprocessor_config.json"])
def test_the_family_takes_the_checkpoints_own_pixel_bounds(tmp_path, layout):
    """A checkpoint's processor bounds decide the frame a Qwen2.5-VL answers in and the zoom tool's window:
    they are read from a transformers 5 checkpoint (processor_config.json, what every GroundRL run saves) as
    from an older one (preprocessor_config.json); before, the first was missed and the defaults used."""
    from transformers import AutoProcessor

    from groundrl.eval.runner import resolve_family
    from groundrl.models.tiny import TinySpec, make_tiny

    path = make_tiny("qwen2.5-vl", tmp_path / "new", TinySpec(min_pixels=56 * 56, max_pixels=112 * 112))
    if layout == "preprocessor_config.json":
        old = tmp_path / "old"
        old.mkdir()
        (old / "config.json").write_bytes((path / "config.json").read_bytes())
        AutoProcessor.from_pretrained(path).image_processor.save_pretrained(old)
        path = old
    assert (path / layout).exists()
    family = resolve_family(EvalConfig(model=str(path)))
    assert (family.min_pixels, family.max_pixels) == (56 * 56, 112 * 112)
    assert family.input_size(1120, 1120) == (112, 112)  # what the model sees, and the frame it answers in
