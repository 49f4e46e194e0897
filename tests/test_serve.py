"""`groundrl serve` as a real server on 127.0.0.1, driven by the official openai client and raw HTTP."""

import base64
import io
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from urllib.error import HTTPError

import pytest
from PIL import Image

from groundrl.eval.metrics import read_predictions
from helpers import run_cli


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tiny_models):
    port = free_port()
    args = [
        sys.executable,
        "-m",
        "groundrl",
        "serve",
        "--model",
        str(tiny_models["qwen2.5-vl"]),
        "--port",
        str(port),
        "--served-name",
        "tiny",
        "--max-tokens",
        "64",
        "--max-body-mb",
        "1",
        "--max-image-pixels",
        "200000",
        "--batch-size",
        "8",
    ]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            urllib.request.urlopen(url + "/v1/models", timeout=1)
            break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(proc.stderr.read().decode()) from None
            time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(timeout=30)


def data_url(size=(64, 48), colour=(200, 30, 30)) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def message(text="Locate the red square", url=None):
    return [
        {
            "role": "user",
            "content": [{"type": "image_url", "image_url": {"url": url or data_url()}}, {"type": "text", "text": text}],
        }
    ]


def test_openai_client_round_trip(server):
    from openai import OpenAI

    client = OpenAI(base_url=server + "/v1", api_key="unused")
    assert [m.id for m in client.models.list().data] == ["tiny"]
    response = client.chat.completions.create(
        model="tiny", messages=message(), max_tokens=8, n=2, temperature=0.9, seed=3
    )
    assert len(response.choices) == 2 and all(isinstance(c.message.content, str) for c in response.choices)
    assert 0 < response.usage.completion_tokens <= 16


def test_concurrent_requests_are_batched(server):
    from openai import OpenAI

    client = OpenAI(base_url=server + "/v1", api_key="unused")
    before = json.loads(urllib.request.urlopen(server + "/health").read())
    results = []
    threads = [
        threading.Thread(
            target=lambda i=i: results.append(
                client.chat.completions.create(model="tiny", messages=message(f"shape {i}"), max_tokens=8)
            )
        )
        for i in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    after = json.loads(urllib.request.urlopen(server + "/health").read())
    assert len(results) == 8 and after["requests"] - before["requests"] == 8
    assert after["batches"] - before["batches"] < 8


def post(server, body: bytes | dict):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(
        server + "/v1/chat/completions", data=data, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as r:
            return r.status, json.loads(r.read())
    except HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"model": "tiny"}, 400, "invalid_request"),
        ({"messages": []}, 400, "invalid_request"),
        ({"messages": message(), "max_tokens": 100000}, 400, "max_tokens"),
        ({"messages": message(url="http://example.com/x.png")}, 400, "bad_image"),
        ({"messages": message(url="data:image/png;base64,bm90IGFuIGltYWdl")}, 400, "bad_image"),
        ({"messages": message(url=data_url(size=(1000, 1000)))}, 400, "image_too_large"),
        ({"messages": [{"role": "wizard", "content": "hi"}]}, 400, "invalid_request"),
        (b"{not json", 400, "invalid_request"),
        ({"messages": message(url=data_url(size=(8, 8)) + "A" * 1_200_000)}, 413, "body_too_large"),
    ],
)
def test_bad_input_is_a_4xx_json_error(server, body, status, code):
    got, payload = post(server, body)
    assert got == status and payload["error"]["code"] == code
    assert "Traceback" not in json.dumps(payload)


def test_eval_through_the_openai_engine(server, tmp_path, tiny_models):
    from groundrl.synth import SynthOptions, generate

    data = generate("rec", 6, tmp_path / "data", seed=1, opts=SynthOptions(min_size=64, max_size=96))
    run_cli(
        "eval",
        "--model",
        "tiny",
        "--data",
        str(data),
        "--out",
        str(tmp_path / "run"),
        "engine=openai",
        f"base_urls={server}/v1,{server}/v1",
        "family=qwen2.5-vl",
        "max_new_tokens=8",
        check=True,
    )
    rows = read_predictions(tmp_path / "run" / "predictions.jsonl")
    assert sorted(r["id"] for r in rows) == sorted(f"rec-1-{i:06d}" for i in range(6))
    assert all(len(r["outputs"]) == 1 for r in rows)


def test_predict_cli(tiny_models, tmp_path):
    image = tmp_path / "shot.png"
    Image.new("RGB", (64, 48), (10, 200, 10)).save(image)
    proc = run_cli(
        "predict",
        "the green square",
        "--model",
        str(tiny_models["qwen2.5-vl"]),
        "--image",
        str(image),
        "--max-new-tokens",
        "8",
        check=True,
    )
    answer = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(answer) == {"box", "output"} and isinstance(answer["output"], str)
    assert Image.open(tmp_path / "shot.pred.png").size == (64, 48)
    missing = run_cli("predict", "x", "--model", str(tiny_models["qwen2.5-vl"]), "--image", str(tmp_path / "nope.png"))
    assert missing.returncode == 2 and "image not found" in missing.stderr
