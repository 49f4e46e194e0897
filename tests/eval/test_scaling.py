"""`groundrl eval scaling` from the demo configuration: a grid of resumable runs and the scaling plot."""

import json
from pathlib import Path

from groundrl.synth import SynthOptions, generate
from helpers import run_cli

CONFIG = Path(__file__).parents[2] / "configs" / "eval" / "scaling-demo.yaml"


def test_scaling_grid_from_the_demo_config(tiny_models, tmp_path):
    data = generate("rec", 4, tmp_path / "data", seed=2, opts=SynthOptions(min_size=64, max_size=96))
    models = f"models={tiny_models['qwen2.5-vl']},{tiny_models['qwen2-vl']}"
    args = [
        "eval",
        "scaling",
        "--config",
        str(CONFIG),
        "--out",
        str(tmp_path / "grid"),
        models,
        f"base.data={data}",
        "base.max_new_tokens=10",
        "thinking=null,4",
    ]
    run_cli(*args, check=True)
    points = json.loads((tmp_path / "grid" / "scaling.json").read_text())
    assert len(points) == 2 * 2 * 2  # models x samples x thinking
    by = {(p["model"], p["samples"], p["thinking"]): p for p in points}
    assert by[("grpo", 4, None)]["tokens_per_query"] > by[("grpo", 1, None)]["tokens_per_query"]
    assert all(0.0 <= p["accuracy"] <= 1.0 and p["n"] == 4 for p in points)
    assert (tmp_path / "grid" / "scaling.png").stat().st_size > 10_000
    runs = sorted(p.name for p in (tmp_path / "grid" / "base").iterdir())
    assert runs == ["n1-think4", "n1-thinknone", "n4-think4", "n4-thinknone"]
    # a second call resumes every cell instead of generating again
    first = (tmp_path / "grid" / "grpo" / "n4-thinknone" / "predictions.jsonl").read_text()
    run_cli(*args, check=True)
    assert (tmp_path / "grid" / "grpo" / "n4-thinknone" / "predictions.jsonl").read_text() == first


def test_unknown_scaling_key_names_the_closest(tmp_path):
    proc = run_cli("eval", "scaling", "--out", str(tmp_path), "sample=1,4")
    assert proc.returncode == 2 and "did you mean 'samples'" in proc.stderr
