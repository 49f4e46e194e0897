"""`groundrl demo` writes its run folder with numbers computed by the scoring core."""

import json

from helpers import run_cli


def test_demo_writes_run_folder(tmp_path):
    out = tmp_path / "run"
    run_cli("demo", "--out", str(out), "--n-eval", "6", check=True)
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["base"]) == {"acc@0.5", "miou", "seconds"}
    assert 0.0 <= summary["base"]["acc@0.5"] <= 1.0 and summary["base"]["seconds"] > 0
    base = out / "eval" / "base"
    assert len((base / "predictions.jsonl").read_text().splitlines()) == 6
    metrics = json.loads((base / "metrics.json").read_text())["overall"]
    assert metrics["acc@0.5"] == summary["base"]["acc@0.5"] and metrics["miou"] == summary["base"]["miou"]
    assert (base / "report.html").stat().st_size > 1000
    assert (out / "model" / "config.json").exists()
    points = json.loads((out / "scaling" / "scaling.json").read_text())
    assert {p["model"] for p in points} == {"tiny", "tinier"} and len(points) == 8
    assert (out / "scaling" / "scaling.png").exists()
