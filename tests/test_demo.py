"""`groundrl demo` runs SFT then GRPO and writes its run folder; its numbers come from the scoring core."""

import json

from helpers import run_cli


def test_demo_trains_and_writes_its_run_folder(tmp_path):
    out = tmp_path / "run"
    run_cli(
        "demo",
        "--out",
        str(out),
        "--n-train",
        "32",
        "--n-eval",
        "6",
        "--sft-steps",
        "3",
        "--grpo-steps",
        "2",
        check=True,
    )
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary) == {"base", "sft", "grpo"}
    for stage in summary.values():
        assert 0.0 <= stage["acc@0.5"] <= 1.0 and 0.0 <= stage["miou"] <= 1.0 and stage["seconds"] > 0
    for stage in ("base", "sft", "grpo"):
        metrics = json.loads((out / "eval" / stage / "metrics.json").read_text())["overall"]
        assert metrics["acc@0.5"] == summary[stage]["acc@0.5"] and metrics["n"] == 6
        assert (out / "eval" / stage / "report.html").stat().st_size > 1000
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    sft_losses = [r["loss"] for r in rows if r["stage"] == "sft" and "loss" in r]
    grpo_steps = [r for r in rows if r["stage"] == "grpo" and "rewards/iou/mean" in r]
    assert sft_losses and len(grpo_steps) == 2
    assert (out / "curves.png").stat().st_size > 10_000
    assert (out / "sft" / "model.safetensors").exists() and (out / "grpo" / "model.safetensors").exists()
    points = json.loads((out / "scaling" / "scaling.json").read_text())
    assert {p["model"] for p in points} == {"grpo", "base"} and len(points) == 8
