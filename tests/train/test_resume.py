"""SIGKILL a training run after its first checkpoint and resume: the step count continues, the optimizer
state is restored (Adam's own step counter covers both halves), and no half-written checkpoint is used."""

import json
import os
import signal
import subprocess
import sys
import time

import torch
from safetensors.torch import load_file

from groundrl.synth import SynthOptions, generate
from groundrl.train.common import COMPLETE
from helpers import run_cli

STEPS = 16


def args(model, data, out):
    return [
        "sft",
        f"model={model}",
        f"data={data}",
        f"output_dir={out}",
        f"trl.max_steps={STEPS}",
        "trl.save_steps=2",
        "trl.per_device_train_batch_size=4",
        "trl.learning_rate=0.001",
        "trl.seed=3",
        "trl.data_seed=3",
    ]


def test_sigkill_then_resume_matches_an_uninterrupted_run(tiny_models, tmp_path):
    data = generate("rec", 24, tmp_path / "data", seed=4, opts=SynthOptions(min_size=56, max_size=70))
    model = tiny_models["qwen2.5-vl"]
    run_cli(*args(model, data, tmp_path / "clean"), check=True)

    out = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-m", "groundrl", *args(model, data, out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 300
    while time.time() < deadline and not (out / "checkpoint-2" / COMPLETE).exists():
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert (out / "checkpoint-2" / COMPLETE).exists()
    assert not (out / f"checkpoint-{STEPS}").exists(), "the kill should land before the end"
    half = out / "checkpoint-99"  # as if killed while writing a later checkpoint
    half.mkdir()
    (half / "config.json").write_text("{")

    run_cli(*args(model, data, out), "--resume", check=True)
    assert (out / "incomplete-checkpoint-99").exists() and not half.exists()
    state = json.loads((out / f"checkpoint-{STEPS}" / "trainer_state.json").read_text())
    assert state["global_step"] == STEPS
    losses = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert max(r["step"] for r in losses) == STEPS
    # A fresh optimizer would have counted only the resumed steps.
    optimizer = torch.load(out / f"checkpoint-{STEPS}" / "optimizer.pt", weights_only=False)
    assert {int(s["step"]) for s in optimizer["state"].values()} == {STEPS}
    clean = torch.load(tmp_path / "clean" / f"checkpoint-{STEPS}" / "optimizer.pt", weights_only=False)
    assert {int(s["step"]) for s in clean["state"].values()} == {STEPS}
    # The weights at the checkpoint the run resumed from are the uninterrupted run's, bit for bit.
    resumed_from = load_file(out / "checkpoint-2" / "model.safetensors")
    for name, tensor in load_file(tmp_path / "clean" / "checkpoint-2" / "model.safetensors").items():
        assert torch.equal(tensor, resumed_from[name]), name
