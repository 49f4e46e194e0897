"""Multi-turn evaluation with the zoom tool (tools=zoom): batching across trajectories, the forced answer at
the cap, error observations, tool points through the families' conventions, resume, and the real
transformers engine with a tiny model."""

import dataclasses
import json
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from groundrl.engines.base import Generation
from groundrl.eval.metrics import compute_metrics, read_predictions
from groundrl.eval.multiturn import STOP
from groundrl.eval.runner import EvalConfig, RunMismatchError, run_eval
from groundrl.models.families import get_family
from groundrl.tools.zoom import ANSWER_NOW, CROP_TEXT
from helpers import CallsFirst, call, run_cli, turn_of, write_jsonl

FIX = Path(__file__).parent / "fixtures"
RED = (230, 20, 20)
SIZE, SQUARE = (1600, 1200), (180, 55, 220, 95)  # a small red square near (200, 75)


def text_of(message: dict) -> str:
    return "".join(p.get("text", "") for p in message["content"])


class ScriptedEngine:
    """Plays a script per question: `script[question][turn]` (the last entry repeats); after an answer-now
    observation it writes `forced[question]` (default: a continued answer A). Records every call's prompts
    and sampling; after `fail_after` calls, it raises."""

    def __init__(self, script: dict[str, list[str]], forced: dict[str, str] | None = None, fail_after=None):
        self.script, self.forced, self.fail_after = script, forced or {}, fail_after
        self.calls: list[list] = []
        self.samplings: list = []

    def generate(self, prompts, sampling):
        if self.fail_after is not None and len(self.calls) >= self.fail_after:
            raise RuntimeError("killed")
        self.calls.append(prompts)
        self.samplings.append(sampling)
        out = []
        for p in prompts:
            question = next(text_of(m) for m in p.messages if m["role"] == "user")
            steps = self.script[question]
            text = steps[min(turn_of(p), len(steps) - 1)]
            if ANSWER_NOW in text_of(p.messages[-1]):
                text = self.forced.get(question, " A </answer>")
            out.append([Generation(text, 3, 0.01)])
        return out


def qa_data(tmp_path: Path, script: dict[str, list[str]]) -> Path:
    """One multiple-choice record per question of the script (answer A, red), each on its own image."""
    rows = []
    for k, question in enumerate(script):
        image = Image.new("RGB", SIZE, "white")
        ImageDraw.Draw(image).rectangle(SQUARE, fill=RED)
        image.putpixel((k, 0), (k, k, k))  # a distinct image per record
        image.save(tmp_path / f"img{k}.png")
        rows.append(
            {"id": f"q{k}", "images": [f"img{k}.png"], "task": "qa", "question": question}
            | {"choices": ["red", "blue"], "answer": "red"}
        )
    return write_jsonl(tmp_path / "records.jsonl", rows)


ANSWER_A, ANSWER_B = "<think>\nIt is red.\n</think>\n<answer> A </answer>", "<answer> B </answer>"
SCRIPT = {
    "q0: direct": [ANSWER_A],
    "q1: one look": [call(500, 250), ANSWER_A],
    "q2: two looks": [call(100, 100), call(500, 250), ANSWER_A],
    "q3: one look, wrong": [call(900, 900), ANSWER_B],
}


def zoom_config(data: Path, **kw) -> EvalConfig:
    return EvalConfig(**({"model": "scripted", "data": str(data), "family": "qwen2-vl", "tools": "zoom"} | kw))


def rows_by_id(path: Path) -> dict[str, dict]:
    return {r["id"]: r for r in read_predictions(path)}


@pytest.mark.parametrize(("batch_size", "sizes"), [(8, [4, 3, 1]), (2, [2, 2, 2, 2])])
def test_one_engine_call_per_round_carries_every_trajectory_in_flight(tmp_path, batch_size, sizes):
    engine = ScriptedEngine(SCRIPT)
    run_eval(zoom_config(qa_data(tmp_path, SCRIPT), batch_size=batch_size), tmp_path / "run", engine=engine)
    assert [len(c) for c in engine.calls] == sizes  # refilled as trajectories finish, never one at a time
    assert all(s.stop == STOP and s.n == 1 for s in engine.samplings)
    rows = rows_by_id(tmp_path / "run" / "predictions.jsonl")
    assert [rows[f"q{k}"]["trajectories"][0]["tool_calls"] for k in range(4)] == [0, 1, 2, 1]
    assert [rows[f"q{k}"]["hit"] for k in range(4)] == [True, True, True, False]
    assert [len(rows[f"q{k}"]["trajectories"][0]["turns"]) for k in range(4)] == [1, 2, 3, 2]
    assert rows["q2"]["outputs"] == [ANSWER_A] and rows["q2"]["num_tokens"] == [9]
    # the second round of q2 showed the first crop after its call, in a <tool_response> user turn
    second = next(p for c in engine.calls for p in c if "two looks" in text_of(p.messages[1]) and turn_of(p) == 1)
    assert [m["role"] for m in second.messages] == ["system", "user", "assistant", "user"]
    assert text_of(second.messages[-1]) == f"<tool_response>\n{CROP_TEXT}\n\n</tool_response>"
    assert [p["type"] for p in second.messages[-1]["content"]] == ["text", "image", "text"]
    assert len(second.images) == 2 and second.images[1].size == (672, 672)


def test_the_answer_is_forced_at_the_cap_then_generated_and_parsed(tmp_path):
    script = {"always looks": [call(500, 250)], "looks again when told to answer": [call(500, 250)]}
    engine = ScriptedEngine(script, forced={"looks again when told to answer": call(1, 1)})
    run_eval(zoom_config(qa_data(tmp_path, script), max_tool_calls=4), tmp_path / "run", engine=engine)
    rows = rows_by_id(tmp_path / "run" / "predictions.jsonl")
    answered, ignored = rows["q0"], rows["q1"]
    trajectory = answered["trajectories"][0]
    assert trajectory["tool_calls"] == 4 and trajectory["forced"] and len(trajectory["turns"]) == 5
    assert answered["outputs"] == ["<answer> A </answer>"] and answered["pred"] == "A" and answered["hit"]
    last = engine.calls[4][0]
    assert len(last.images) == 5 and text_of(last.messages[-1]).endswith(ANSWER_NOW + "\n</tool_response>")
    # a model that calls again when told to answer ends there: one more turn, no answer, a parse failure
    assert len(ignored["trajectories"][0]["turns"]) == 5 and ignored["parsed"] == 0 and not ignored["hit"]
    assert len(engine.calls) == 5


def test_a_bad_call_gets_an_error_observation_and_counts_as_a_call(tmp_path):
    script = {"bad": ["<tool_call>{oops}</tool_call>", '<tool_call>{"name": "other"}</tool_call>', ANSWER_A]}
    engine = ScriptedEngine(script)
    run_eval(zoom_config(qa_data(tmp_path, script), max_tool_calls=2), tmp_path / "run", engine=engine)
    row = rows_by_id(tmp_path / "run" / "predictions.jsonl")["q0"]
    trajectory = row["trajectories"][0]
    assert (trajectory["errors"], trajectory["tool_calls"], trajectory["looks"]) == (2, 2, [])
    second = engine.calls[1][0]
    assert text_of(second.messages[-1]) == "<tool_response>\nError: the tool call is not valid JSON.\n</tool_response>"
    assert len(second.images) == 1  # no crop
    third = engine.calls[2][0]  # the second error reached the cap of 2 calls: the answer is forced
    assert ANSWER_NOW in text_of(third.messages[-1]) and row["outputs"] == ["<answer> A </answer>"] and row["hit"]


@pytest.mark.parametrize("family", ["qwen2-vl", "qwen2.5-vl", "qwen3-vl"])
def test_tool_points_go_through_the_family_convention(tmp_path, family):
    fam = get_family(family)
    seen_w, seen_h = fam.input_size(*SIZE)
    # (200, 75) in original pixels, written in the family's own frame
    point = (500 / 4, 250 / 4) if fam.convention == "norm1000" else (seen_w / 8, seen_h / 16)
    script = {"look": [call(*point), ANSWER_A]}
    engine = ScriptedEngine(script)
    run_eval(zoom_config(qa_data(tmp_path, script), family=family), tmp_path / "run", engine=engine)
    look = rows_by_id(tmp_path / "run" / "predictions.jsonl")["q0"]["trajectories"][0]["looks"][0]
    assert look["point"] == pytest.approx(list(point))
    assert look["original"] == pytest.approx([200, 75], abs=1e-6)
    x0, y0, x1, y1 = look["window"]
    assert (x1 - x0) == pytest.approx(364 * SIZE[0] / seen_w, abs=1.5) and y0 == 0  # shifted down at the edge
    crop = engine.calls[1][0].images[1]
    cx, cy = (200 - x0) * crop.width / (x1 - x0), (75 - y0) * crop.height / (y1 - y0)
    assert crop.getpixel((round(cx), round(cy))) == RED  # the crop shows the square at the point
    red = sum(1 for px in crop.getdata() if px == RED) / (crop.width * crop.height)
    assert red > 10 * (40 * 40) / (SIZE[0] * SIZE[1])  # ~9 times closer than the full image


def _metrics_without_timing(path: Path) -> dict:
    metrics = compute_metrics(read_predictions(path))
    for m in [*metrics["splits"].values(), metrics["overall"]]:
        for key in ("latency_p50_s", "latency_p90_s", "samples_per_s"):
            m.pop(key)
    return metrics


def test_an_interrupted_run_resumes_to_the_same_predictions(tmp_path):
    script = {f"{k}: {'look ' * (k % 3)}": [call(100 * k, 100)] * (k % 3) + [ANSWER_A] for k in range(7)}
    data = qa_data(tmp_path, script)
    clean = ScriptedEngine(script)
    run_eval(zoom_config(data, batch_size=3, samples=2), tmp_path / "clean", engine=clean)
    with pytest.raises(RuntimeError, match="killed"):
        run_eval(
            zoom_config(data, batch_size=3, samples=2), tmp_path / "run", engine=ScriptedEngine(script, fail_after=4)
        )
    partial = read_predictions(tmp_path / "run" / "predictions.jsonl")
    assert 1 <= len(partial) < 7
    resumed = ScriptedEngine(script)
    run_eval(zoom_config(data, batch_size=3, samples=2), tmp_path / "run", engine=resumed)
    rows, expected = (
        rows_by_id(tmp_path / "run" / "predictions.jsonl"),
        rows_by_id(tmp_path / "clean" / "predictions.jsonl"),
    )
    assert len(rows) == 7 and all(rows[i]["trajectories"] == expected[i]["trajectories"] for i in expected)
    assert _metrics_without_timing(tmp_path / "run" / "predictions.jsonl") == _metrics_without_timing(
        tmp_path / "clean" / "predictions.jsonl"
    )
    prompts = lambda engine: sum(len(c) for c in engine.calls)  # noqa: E731
    assert prompts(resumed) < prompts(clean)  # finished records were not generated again


def test_the_tool_settings_are_part_of_the_run_identity(tmp_path):
    data = qa_data(tmp_path, SCRIPT)
    run_eval(zoom_config(data), tmp_path / "run", engine=ScriptedEngine(SCRIPT))
    for change, named in [({"zoom_preset": "web"}, "zoom_preset"), ({"tools": "none"}, "tools")]:
        with pytest.raises(RunMismatchError, match=named):
            run_eval(zoom_config(data, **change), tmp_path / "run", engine=ScriptedEngine(SCRIPT))
    single = EvalConfig(model="scripted", data=str(data), family="qwen2-vl")
    run_eval(single, tmp_path / "single", engine=ScriptedEngine(SCRIPT))  # single-turn: one pass each
    run_eval(dataclasses.replace(single, zoom_preset="web"), tmp_path / "single", engine=ScriptedEngine(SCRIPT))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"tools": "crop"}, "tools='crop'; expected one of none, zoom"),
        ({"zoom_preset": "big"}, "zoom_preset='big'; expected one of qa, web"),
        ({"max_thinking_tokens": 8}, "max_thinking_tokens bounds one answer"),
        ({"zoom_half": 0}, "zoom_half=0: expected a positive number of pixels"),
        ({"prompt": "<image>{expression}<image>"}, "2 <image> markers; one places all the images"),
    ],
)
def test_bad_tool_settings_are_refused_in_one_line(tmp_path, change, message):
    with pytest.raises(ValueError, match=message):
        run_eval(zoom_config(qa_data(tmp_path, SCRIPT), **change), tmp_path / "run", engine=ScriptedEngine(SCRIPT))


def test_the_transformers_engine_runs_the_loop_with_a_tiny_model(tiny_models, tmp_path):
    from groundrl.engines.hf import TransformersEngine

    model = str(tiny_models["qwen2.5-vl"])
    engine = CallsFirst(TransformersEngine(model, batch_size=4), calls=2)
    cfg = EvalConfig(model=model, suite="vstar", root=str(FIX / "vstar"), tools="zoom", max_tool_calls=2)
    run_eval(dataclasses.replace(cfg, max_new_tokens=6), tmp_path / "run", engine=engine)
    rows = read_predictions(tmp_path / "run" / "predictions.jsonl")
    assert len(rows) == 2 and engine.images_per_round == [[1, 1], [2, 2], [3, 3]]
    for row in rows:
        trajectory = row["trajectories"][0]
        assert len(trajectory["looks"]) == 2 and trajectory["forced"] and len(trajectory["turns"]) == 3
        assert 0 < row["num_tokens"][0] <= 3 * 6  # every turn generated by the model, the forced one too


@pytest.mark.parametrize(
    ("suite", "folder", "preset"), [("vstar", "vstar", "qa"), ("screenspot", "screenspot_v2", "web")]
)
def test_eval_cli_with_tools_zoom(tiny_models, tmp_path, suite, folder, preset):
    out = tmp_path / "run"
    model = str(tiny_models["qwen2.5-vl"])
    args = ["--model", model, "--suite", suite, "--root", str(FIX / folder), "--out", str(out)]
    run_cli("eval", *args, "tools=zoom", f"zoom_preset={preset}", "max_new_tokens=6", check=True)
    rows = read_predictions(out / "predictions.jsonl")
    assert rows and all(len(r["trajectories"]) == 1 and r["trajectories"][0]["turns"] for r in rows)
    assert json.loads((out / "config.json").read_text())["zoom_preset"] == preset
    assert json.loads((out / "metrics.json").read_text())["overall"]["n"] == len(rows)


@pytest.mark.slow
def test_the_openai_engine_runs_the_loop_against_groundrl_serve(tiny_models, tmp_path):
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    from groundrl.engines.openai_engine import OpenAIEngine

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    model = str(tiny_models["qwen2.5-vl"])
    serve = [sys.executable, "-m", "groundrl", "serve", "--model", model, "--port", str(port), "--served-name", "tiny"]
    proc = subprocess.Popen(serve, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(1200):
            try:
                urllib.request.urlopen(url + "/v1/models", timeout=1)
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode()
                time.sleep(0.1)
        engine = CallsFirst(OpenAIEngine("tiny", [f"{url}/v1"]), calls=2)
        cfg = EvalConfig(model="tiny", engine="openai", family="qwen2.5-vl", suite="vstar", root=str(FIX / "vstar"))
        run_eval(
            dataclasses.replace(cfg, tools="zoom", max_tool_calls=2, max_new_tokens=4), tmp_path / "run", engine=engine
        )
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    rows = read_predictions(tmp_path / "run" / "predictions.jsonl")
    assert engine.images_per_round == [[1, 1], [2, 2], [3, 3]]  # the crops travel as data URLs
    assert all(len(r["trajectories"][0]["looks"]) == 2 and r["trajectories"][0]["forced"] for r in rows)
    assert all(r["num_tokens"][0] > 0 for r in rows)


def test_the_window_and_crop_size_can_be_set(tmp_path):
    script = {"look": [call(125, 62.5), ANSWER_A]}  # (200, 75) in original pixels
    engine = ScriptedEngine(script)
    run_eval(zoom_config(qa_data(tmp_path, script), zoom_half=40, zoom_size=96), tmp_path / "run", engine=engine)
    look = rows_by_id(tmp_path / "run" / "predictions.jsonl")["q0"]["trajectories"][0]["looks"][0]
    seen_w, _ = get_family("qwen2-vl").input_size(*SIZE)
    assert look["window"][2] - look["window"][0] == pytest.approx(80 * SIZE[0] / seen_w, abs=1.5)
    assert engine.calls[1][0].images[1].size == (96, 96)


def test_the_visual_search_task_runs_through_the_loop(tiny_models, tmp_path):
    """`groundrl synth --task visual_search` records through `tools=zoom` with the tiny Qwen3-VL: one look
    each (0-1000 frame, at the centre), the window cut from the large original, the answer judged."""
    from groundrl.engines.hf import TransformersEngine
    from groundrl.synth import generate
    from groundrl.synth.visual_search import VisualSearchOptions

    data = generate("visual_search", 2, tmp_path / "vs", seed=3, opts=VisualSearchOptions(1024, 1200))
    model = str(tiny_models["qwen3-vl"])
    engine = CallsFirst(TransformersEngine(model, batch_size=2), calls=1)
    cfg = EvalConfig(model=model, data=str(data), tools="zoom", max_new_tokens=6)
    run_eval(cfg, tmp_path / "run", engine=engine)
    assert engine.images_per_round == [[1, 1], [2, 2]]
    records = {r["id"]: r for r in map(json.loads, data.read_text().splitlines())}
    rows = read_predictions(tmp_path / "run" / "predictions.jsonl")
    assert sorted(r["id"] for r in rows) == sorted(records)
    for row in rows:
        width, height = records[row["id"]]["image_sizes"][0]
        (look,) = row["trajectories"][0]["looks"]
        assert look["original"] == pytest.approx([width / 2, height / 2], abs=width / 500)
        x0, y0, x1, y1 = look["window"]
        assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height and x1 - x0 < width / 2  # a closer look
    assert compute_metrics(rows)["overall"]["n"] == 2


@pytest.mark.parametrize("setting", ["tools", "", "Zoom when unsure."])
def test_the_system_turn_is_the_tools_schema_none_or_the_given_text(tmp_path, setting):
    """zoom_system=tools opens every trajectory with the tool's schema as multi-turn GRPO's rollouts show it
    (tool_system_text), so that a model trained with the zoom recipes is judged on its training prompt."""
    from groundrl.tools.env import tool_system_text

    engine = ScriptedEngine(SCRIPT)
    run_eval(zoom_config(qa_data(tmp_path, SCRIPT), zoom_system=setting), tmp_path / "run", engine=engine)
    first = engine.calls[0][0].messages
    if setting == "":
        assert first[0]["role"] == "user"
    else:
        expected = tool_system_text(get_family("qwen2-vl")) if setting == "tools" else setting
        assert first[0]["role"] == "system" and text_of(first[0]) == expected
