"""`groundrl demo` writes its run folder with numbers computed by the scoring core."""

import json

from helpers import run_cli


def test_demo_writes_run_folder(tmp_path):
    out = tmp_path / "run"
    run_cli("demo", "--out", str(out), "--n-eval", "8", check=True)
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["base"]) == {"acc@0.5", "miou", "seconds"}
    assert 0.0 <= summary["base"]["acc@0.5"] <= 1.0 and summary["base"]["seconds"] > 0
    predictions = (out / "predictions.jsonl").read_text().splitlines()
    assert len(predictions) == 8
    # the run folder's predictions score to the same numbers with the CLI
    proc = run_cli("score", str(out / "predictions.jsonl"), "--json", check=True)
    metrics = json.loads(proc.stdout.strip().splitlines()[-1])
    assert metrics["acc@0.5"] == summary["base"]["acc@0.5"]
    assert metrics["miou"] == summary["base"]["miou"]
    assert (out / "gallery.png").stat().st_size > 1000
    assert (out / "model" / "config.json").exists()
