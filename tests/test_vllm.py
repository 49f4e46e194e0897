"""vLLM as a real component, on CPU: `groundrl eval engine=vllm` run by the vLLM venv's Python, and a real
vLLM OpenAI server driven by GroundRL's openai engine, the scaling grid and the official openai client.

vLLM lives in `.venv-vllm` (`make vllm-env`), so everything vLLM runs in a subprocess of that venv's Python;
the openai-engine side runs in this test process, as a user's `groundrl eval` would. One server per module.
Marked `vllm` (deselected by default; `make test-vllm` runs them).
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from openai import OpenAI

from groundrl.data.images import load_image
from groundrl.engines.base import image_data_url
from groundrl.engines.hf import TransformersEngine
from groundrl.engines.openai_engine import OpenAIEngine
from groundrl.eval.metrics import compute_metrics, read_predictions
from groundrl.eval.runner import EvalConfig, run_eval
from groundrl.models.tiny import make_tiny
from groundrl.synth import SynthOptions, generate
from helpers import CallsFirst, run_cli

ROOT = Path(__file__).resolve().parents[1]
VLLM_PYTHON = ROOT / ".venv-vllm" / "bin" / "python"
FAMILY = "qwen2.5-vl"  # of the server tests
FAMILIES = ["qwen2-vl", "qwen2.5-vl", "qwen3-vl"]
SERVED = "tiny-vllm"
MAX_NEW_TOKENS = 16
VSTAR = ROOT / "tests" / "eval" / "fixtures" / "vstar"
SERVER_READY_S = 600  # a first start compiles (53-107 s measured); a loaded CI machine may take longer

pytestmark = [
    pytest.mark.vllm,
    pytest.mark.skipif(not VLLM_PYTHON.exists(), reason="needs the vLLM venv: run `make vllm-env` (issue 12)"),
]


def vllm_env() -> dict[str, str]:
    """The environment vLLM's CPU build ran in (issue 12): a small KV cache, loopback, no hub."""
    env = dict(os.environ, VLLM_CPU_KVCACHE_SPACE="1", VLLM_HOST_IP="127.0.0.1", HF_HUB_OFFLINE="1")
    env.pop("VIRTUAL_ENV", None)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen, log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url + "/v1/models", timeout=2)
            return
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited {proc.returncode}:\n{log.read_text()[-4000:]}") from None
            time.sleep(1)
    raise TimeoutError(f"{url} not ready after {timeout_s} s:\n{log.read_text()[-4000:]}")


def start_server(args: list[str], port: int, log: Path, env: dict, timeout_s: float):
    """Start a server process logging to `log`; (base URL without /v1, process) once /v1/models answers."""
    with open(log, "wb") as f:
        proc = subprocess.Popen(args, stdout=f, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc, log, timeout_s)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return url, proc


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return make_tiny(FAMILY, tmp_path_factory.mktemp("tiny") / FAMILY)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return generate("rec", 6, tmp_path_factory.mktemp("data"), seed=1, opts=SynthOptions(min_size=64, max_size=96))


@pytest.fixture(scope="module")
def vllm_server(tiny, tmp_path_factory):
    """A real vLLM OpenAI server on the tiny model, on loopback: its base URL (http://127.0.0.1:P/v1)."""
    port = free_port()
    args = [str(VLLM_PYTHON), "-m", "vllm.entrypoints.openai.api_server", "--model", str(tiny)]
    args += ["--served-model-name", SERVED, "--host", "127.0.0.1", "--port", str(port)]
    args += ["--limit-mm-per-prompt", json.dumps({"image": 5})]  # multi-turn zoom: the image and 4 crops
    log = tmp_path_factory.mktemp("vllm-server") / "server.log"
    url, proc = start_server(args, port, log, vllm_env(), SERVER_READY_S)
    yield url + "/v1"
    stop(proc)


@pytest.fixture(scope="module")
def groundrl_server(tiny, tmp_path_factory):
    """`groundrl serve` on the same tiny model: its base URL."""
    port = free_port()
    args = [sys.executable, "-m", "groundrl", "serve", "--model", str(tiny), "--port", str(port)]
    args += ["--served-name", SERVED, "--max-tokens", "64"]
    log = tmp_path_factory.mktemp("groundrl-serve") / "server.log"
    url, proc = start_server(args, port, log, dict(os.environ), 120)
    yield url + "/v1"
    stop(proc)


def vllm_eval(model: Path, data: Path, out: Path, *overrides: str) -> subprocess.CompletedProcess:
    """`groundrl eval engine=vllm` in the vLLM venv."""
    args = [str(VLLM_PYTHON), "-m", "groundrl", "eval", "--model", str(model), "--data", str(data), "--out", str(out)]
    args += ["engine=vllm", f"max_new_tokens={MAX_NEW_TOKENS}", *overrides]
    proc = subprocess.run(args, capture_output=True, text=True, env=vllm_env(), timeout=900, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    return proc


def outputs_by_id(run: Path) -> dict[str, list[str]]:
    return {r["id"]: r["outputs"] for r in read_predictions(run / "predictions.jsonl")}


@pytest.mark.parametrize("family", FAMILIES)
def test_eval_engine_vllm_per_family(family, data, tmp_path):
    """For each family's tiny checkpoint: `groundrl eval engine=vllm` writes predictions that parse and
    metrics, and greedy answers equal the transformers engine's on every record; for Qwen2.5-VL, a second
    run with a larger limit resumes the first.

    Equal because the vLLM engine runs a CPU checkpoint in its saved float32, as the transformers engine does
    (`vllm_engine.saved_dtype`). vLLM's own default there, bfloat16, parts from transformers after 9 of 16
    tokens on some records, at near-ties of a random-initialised model's logits: a margin of at most 0.0025
    against a spread of 0.22 (benchmarks/engine_parity.py, BENCHMARKS.md). vLLM's detokenizer leaves out a
    trailing run of incomplete UTF-8 bytes that transformers decodes as U+FFFD, so those are not compared."""
    tiny = make_tiny(family, tmp_path / family)
    run = tmp_path / "vllm"
    if family == FAMILY:  # resume is the runner's, whatever the family: one family keeps CI's vLLM starts down
        vllm_eval(tiny, data, run, "limit=3")
        first = read_predictions(run / "predictions.jsonl")
        assert len(first) == 3
    vllm_eval(tiny, data, run)  # a larger limit extends the same run: only the 3 missing records are generated
    rows = read_predictions(run / "predictions.jsonl")
    assert sorted(r["id"] for r in rows) == sorted(f"rec-1-{i:06d}" for i in range(6))
    if family == FAMILY:
        assert rows[:3] == first
    assert all(len(r["outputs"]) == 1 and 0 < r["num_tokens"][0] <= MAX_NEW_TOKENS for r in rows)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["overall"]["n"] == 6
    assert 0.0 <= metrics["overall"]["acc@0.5"] <= 1.0

    run_cli("eval", "--model", str(tiny), "--data", str(data), "--out", str(tmp_path / "hf"),
            f"max_new_tokens={MAX_NEW_TOKENS}", check=True)  # fmt: skip
    got, want = outputs_by_id(run), outputs_by_id(tmp_path / "hf")
    assert got.keys() == want.keys()
    differ = {k: (got[k][0], want[k][0]) for k in got if got[k][0].rstrip("\ufffd") != want[k][0].rstrip("\ufffd")}
    assert not differ, differ


def test_eval_openai_engine_against_vllm_server(vllm_server, data, tmp_path):
    run = tmp_path / "run"
    run_cli("eval", "--model", SERVED, "--data", str(data), "--out", str(run), "engine=openai",
            f"base_urls={vllm_server}", f"family={FAMILY}", f"max_new_tokens={MAX_NEW_TOKENS}", check=True)  # fmt: skip
    rows = read_predictions(run / "predictions.jsonl")
    assert sorted(r["id"] for r in rows) == sorted(f"rec-1-{i:06d}" for i in range(6))
    assert all(len(r["outputs"]) == 1 and 0 < r["num_tokens"][0] <= MAX_NEW_TOKENS for r in rows)
    assert all(r["latency_s"] > 0 for r in rows)
    assert json.loads((run / "metrics.json").read_text())["overall"]["n"] == 6


def test_scaling_grid_with_samples_through_vllm_server(vllm_server, data, tmp_path):
    out = tmp_path / "grid"
    run_cli("eval", "scaling", "--out", str(out), f"models={SERVED}", "samples=1,3", "base.engine=openai",
            f"base.base_urls={vllm_server}", f"base.data={data}", f"base.family={FAMILY}",
            f"base.max_new_tokens={MAX_NEW_TOKENS}", check=True)  # fmt: skip
    points = json.loads((out / "scaling.json").read_text())
    assert [(p["samples"], p["n"]) for p in points] == [(1, 6), (3, 6)]
    assert points[1]["tokens_per_query"] > points[0]["tokens_per_query"] > 0
    rows = read_predictions(out / SERVED / "n3-thinknone" / "predictions.jsonl")
    assert all(len(r["outputs"]) == 3 for r in rows)


def test_groundrl_serve_and_vllm_answer_the_same_request(vllm_server, groundrl_server, data):
    """One request shape (an image as a data URL, n > 1, seed) parses from both with the official client."""
    record = json.loads(data.read_text().splitlines()[0])
    url = image_data_url(load_image(data.parent / record["images"][0]))
    messages = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}},
                                             {"type": "text", "text": "Locate the object."}]}]  # fmt: skip
    prompt_tokens = []
    for base_url in (vllm_server, groundrl_server):
        client = OpenAI(base_url=base_url, api_key="EMPTY", max_retries=0)
        assert [m.id for m in client.models.list().data] == [SERVED]
        response = client.chat.completions.create(
            model=SERVED, messages=messages, max_tokens=8, n=2, temperature=0.9, seed=3
        )
        assert len(response.choices) == 2, base_url
        assert all(isinstance(c.message.content, str) for c in response.choices), base_url
        assert 0 < response.usage.completion_tokens <= 16, base_url
        assert response.usage.total_tokens == response.usage.prompt_tokens + response.usage.completion_tokens
        prompt_tokens.append(response.usage.prompt_tokens)
    assert prompt_tokens[0] == prompt_tokens[1]  # one processor, one chat template: the same prompt, image included


# Multi-turn zoom evaluation (issue 13) through vLLM. A random tiny model does not call the tool, so the first
# two turns' text is replaced by a call (`CallsFirst`); vLLM still generates every turn from prompts that
# carry the crops, and the answer forced at the cap is generated too.
ZOOM = {"suite": "vstar", "root": str(VSTAR), "tools": "zoom", "max_tool_calls": 2, "max_new_tokens": 8}
VLLM_ZOOM_WORKER = """
import json
import sys
from pathlib import Path

sys.path.insert(0, "tests")
from helpers import CallsFirst
from groundrl.engines.vllm_engine import VLLMEngine
from groundrl.eval.runner import EvalConfig, run_eval

model, out, zoom = sys.argv[1], Path(sys.argv[2]), json.loads(sys.argv[3])
engine = CallsFirst(VLLMEngine(model, max_images=5), calls=2)
run_eval(EvalConfig(model=model, **zoom), out, engine=engine)
print("images per round:", engine.images_per_round)
"""


def zoom_rows(run: Path) -> list[dict]:
    rows = read_predictions(run / "predictions.jsonl")
    assert len(rows) == 2 and compute_metrics(rows)["overall"]["n"] == 2
    for row in rows:
        trajectory = row["trajectories"][0]
        assert len(trajectory["looks"]) == 2 and trajectory["forced"] and len(trajectory["turns"]) == 3
        assert 0 < row["num_tokens"][0] <= 3 * ZOOM["max_new_tokens"]
    return rows


def test_multiturn_zoom_with_the_vllm_engine_equals_transformers(tiny, tmp_path):
    """`tools=zoom` with vLLM offline: every round one batch with the crops; greedy answers of every turn
    equal the transformers engine's on the same checkpoint."""
    proc = subprocess.run(
        [str(VLLM_PYTHON), "-c", VLLM_ZOOM_WORKER, str(tiny), str(tmp_path / "vllm"), json.dumps(ZOOM)],
        capture_output=True, text=True, env=vllm_env(), timeout=900, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    assert "images per round: [[1, 1], [2, 2], [3, 3]]" in proc.stdout
    engine = CallsFirst(TransformersEngine(str(tiny)), calls=2)
    run_eval(EvalConfig(model=str(tiny), **ZOOM), tmp_path / "hf", engine=engine)
    got, want = zoom_rows(tmp_path / "vllm"), zoom_rows(tmp_path / "hf")

    def turns(rows):  # trailing incomplete UTF-8: see test_eval_engine_vllm_per_family
        return {r["id"]: [t.rstrip("\ufffd") for t in r["trajectories"][0]["turns"]] for r in rows}

    assert turns(got) == turns(want)


def test_multiturn_zoom_through_the_vllm_server(vllm_server, tmp_path):
    """`tools=zoom` with the openai engine against a real vLLM server: the crops travel as data URLs."""
    engine = CallsFirst(OpenAIEngine(SERVED, [vllm_server]), calls=2)
    run_eval(EvalConfig(model=SERVED, engine="openai", family=FAMILY, **ZOOM), tmp_path / "run", engine=engine)
    assert engine.images_per_round == [[1, 1], [2, 2], [3, 3]]
    zoom_rows(tmp_path / "run")
