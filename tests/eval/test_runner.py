"""`groundrl eval` on every suite layout, exact metrics through a scripted engine, and kill-and-resume."""

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
from groundrl.eval.runner import EvalConfig, run_eval
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
