"""`groundrl search`: the published budget, batching across trees, results independent of batching (a
deterministic fake engine and the tiny transformers model), failures, resume and SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from groundrl.search.config import MCTSConfig, SearchConfig
from groundrl.search.report import chosen_path
from groundrl.search.run import run_search
from groundrl.search.tree import Node
from groundrl.synth import SynthOptions, generate
from helpers import run_cli
from search.fake_engine import FakeEngine

SMALL = SynthOptions(min_size=56, max_size=84)


def rows(out: Path) -> dict[str, dict]:
    """Tree lines by id, without the timing (the only field that may differ between equal runs)."""
    found = {}
    for line in (out / "trees.jsonl").read_text().splitlines():
        row = json.loads(line)
        row.pop("seconds")
        found[row["id"]] = row
    return found


@pytest.fixture(scope="module")
def records(tmp_path_factory) -> Path:
    return generate("rec", 6, tmp_path_factory.mktemp("data"), seed=2, opts=SMALL)


def config(records: Path, **kwargs) -> SearchConfig:
    return SearchConfig(model="fake", family="qwen2.5-vl", data=str(records), **kwargs)


def test_defaults_are_the_published_ones():
    cfg = MCTSConfig()
    published = (3, 10, 8, 2, 5, 2.0, 1.0, 1.0, 512, [3, 7])
    assert (cfg.width, cfg.max_depth, cfg.simulations, cfg.rollouts, cfg.rollout_len, cfg.c_uct) == published[:6]
    assert (cfg.temperature, cfg.top_p, cfg.max_new_tokens, cfg.min_thoughts) == published[6:]


def test_trees_are_the_same_for_any_number_in_flight_and_stay_within_the_budget(records, tmp_path):
    batches = {}
    for in_flight in (1, 3, 6):
        engine = FakeEngine()
        run_search(config(records, trees_in_flight=in_flight), tmp_path / str(in_flight), engine=engine)
        batches[in_flight] = engine.batches
    one, three, six = (rows(tmp_path / str(k)) for k in (1, 3, 6))
    assert one == three == six and len(one) == 6
    # one batch per round: more trees in flight, fewer and larger batches, the same calls in all
    assert sum(batches[1]) == sum(batches[3]) == sum(batches[6]) == sum(r["calls"] for r in one.values())
    assert len(batches[6]) < len(batches[3]) < len(batches[1]) and max(batches[6]) > max(batches[1])
    for row in one.values():
        root = Node.from_dict(row["tree"])
        rollouts = [r for n in _nodes(root) for r in n.rollouts]
        assert row["nodes"] <= 3 * 8 and len(rollouts) <= 2 * row["nodes"]
        # per simulation: 3 expansion calls, then up to 5 steps of each of up to 6 rollouts
        assert row["calls"] <= 8 * (3 + 3 * 2 * 5)
        # every backup passes through one child of the root; a node's own evaluation is its first visit
        assert root.visits == sum(c.visits for c in root.children) > 0
        inner = [n for n in _nodes(root)[1:] if not n.terminal]
        assert all(n.visits == 1 + sum(c.visits for c in n.children) for n in inner)
        assert all(0.0 <= n.value <= 1.0 for n in _nodes(root))
        leaves = [n for n in inner if not n.children]  # valued by their rollouts alone
        assert all(n.value == pytest.approx(sum(r.reward for r in n.rollouts) / 2) for n in leaves)
        assert 3 <= int(row["system_prompt"].split("at least ")[1].split()[0]) <= 7


def _nodes(node: Node) -> list[Node]:
    return [node] + [n for c in node.children for n in _nodes(c)]


def test_a_seed_changes_the_trees_and_a_rerun_with_another_one_is_refused(records, tmp_path):
    run_search(config(records, limit=2), tmp_path / "a", engine=FakeEngine())
    run_search(config(records, limit=2, seed=1), tmp_path / "b", engine=FakeEngine())
    assert rows(tmp_path / "a") != rows(tmp_path / "b")
    with pytest.raises(ValueError, match="seed: was 0, now 1"):
        run_search(config(records, limit=2, seed=1), tmp_path / "a", engine=FakeEngine())


def test_search_is_independent_of_batch_size_with_the_tiny_model(tiny_models, records, tmp_path):
    from groundrl.engines.hf import TransformersEngine

    mcts = MCTSConfig(width=2, simulations=2, rollouts=1, rollout_len=1, max_new_tokens=5)
    model = str(tiny_models["qwen2.5-vl"])
    engine = TransformersEngine(model, batch_size=1, device="cpu")
    cfg = replace(config(records, limit=2, mcts=mcts), model=model)
    run_search(replace(cfg, trees_in_flight=1), tmp_path / "one", engine=engine)
    engine.batch_size = 16
    stats = run_search(replace(cfg, trees_in_flight=2), tmp_path / "two", engine=engine)
    assert max(stats.batch_sizes) == 4  # both trees' calls shared a batch
    assert rows(tmp_path / "one") == rows(tmp_path / "two")
    texts = [n.text for r in rows(tmp_path / "one").values() for n in _nodes(Node.from_dict(r["tree"]))[1:]]
    assert len(set(texts)) > len(texts) // 2  # sampled, not one text repeated


def test_a_record_that_fails_goes_to_the_errors_file_and_is_not_searched_again(records, tmp_path):
    lines = records.read_text().splitlines()
    broken = json.loads(lines[1]) | {"images": ["images/missing.png"]}
    no_box = json.loads(lines[2]) | {"task": "detection"}  # no rule judge scores a detection
    data = tmp_path / "data.jsonl"
    data.write_text("\n".join([lines[0], json.dumps(broken), json.dumps(no_box)]) + "\n")
    (tmp_path / "images").symlink_to(records.parent / "images")
    out = tmp_path / "run"
    stats = run_search(config(data), out, engine=FakeEngine())
    errors = [json.loads(x) for x in (out / "errors.jsonl").read_text().splitlines()]
    assert (stats.trees, stats.failed) == (1, 2)
    assert [(e["id"], e["reason"]) for e in errors] == [(broken["id"], "missing_image"), (no_box["id"], "bad_record")]
    assert "no rule judge scores it" in errors[1]["message"]
    again = run_search(config(data), out, engine=FakeEngine())
    assert (again.trees, again.failed, again.calls) == (0, 0, 0)


KILLED = """
import sys
sys.path.insert(0, {tests!r})
from pathlib import Path
from search.fake_engine import FakeEngine
from groundrl.search.config import SearchConfig
from groundrl.search.report import chosen_path
from groundrl.search.run import run_search
cfg = SearchConfig(model="fake", family="qwen2.5-vl", data={data!r}, trees_in_flight=2)
run_search(cfg, Path({out!r}), engine=FakeEngine(delay_s={delay}))
"""


def test_sigkill_loses_at_most_the_trees_in_flight_and_the_resumed_run_is_the_clean_one(records, tmp_path):
    run_search(config(records, trees_in_flight=2), tmp_path / "clean", engine=FakeEngine())
    out = tmp_path / "killed"
    script = KILLED.format(tests=str(Path(__file__).parents[1]), data=str(records), out=str(out), delay=0.02)
    proc = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE)
    trees = out / "trees.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline and (not trees.exists() or trees.read_text().count("\n") < 2):
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    written = trees.read_text().count("\n")
    assert 2 <= written < 6, "the kill should land mid-run"
    with open(trees, "a") as f:  # as if killed mid-write
        f.write('{"id": "half')
    stats = run_search(config(records, trees_in_flight=2), out, engine=FakeEngine())
    assert stats.trees == 6 - written
    assert rows(out) == rows(tmp_path / "clean")


def test_the_command_line_searches_resumes_and_reports(records, tiny_models, tmp_path):
    out = tmp_path / "run"
    args = ["--model", str(tiny_models["qwen2-vl"]), "--data", str(records), "--out", str(out), "limit=2"]
    args += ["mcts.width=2", "mcts.simulations=1", "mcts.rollouts=1", "mcts.rollout_len=1", "mcts.max_new_tokens=4"]
    result = run_cli("search", *args, check=True)
    assert "2 trees, 0 failed, 8 calls in 2 batches" in result.stdout  # 2 x (2 expansions + 2 rollout steps)
    assert "0 trees, 0 failed, 0 calls" in run_cli("search", *args, check=True).stdout
    found = rows(out)
    assert {r["family"] for r in found.values()} == {"qwen2-vl"} and all(r["nodes"] <= 2 for r in found.values())
    report = run_cli("search", "--out", str(out), "--report", check=True)
    assert "report.html (2 trees)" in report.stdout
    page = (out / "report.html").read_text()
    assert page.count("<section>") == 2 and page.count("data:image/png;base64") == 2 and "Q=" in page
    chosen = sum(len(chosen_path(Node.from_dict(r["tree"]))) for r in found.values())
    assert page.count("<b>") == chosen and all(f"N={r['tree']['visits']}" in page for r in found.values())
    bad = run_cli("search", "--out", str(out), "--model", "m", "--data", str(records), "mcts.width=0")
    assert bad.returncode == 2 and "mcts.width=0: must be at least 1" in bad.stderr
