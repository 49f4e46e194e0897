"""`groundrl serve` as a real server on 127.0.0.1, driven by the official openai client and raw HTTP."""

import asyncio
import base64
import contextlib
import io
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from urllib.error import HTTPError

import psutil
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from groundrl.eval.metrics import read_predictions
from helpers import run_cli

MAX_PROMPT_TOKENS = 400


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server_proc(tiny_models):
    """`groundrl serve` on the tiny model in its own process: (base URL, process)."""
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
        "--max-prompt-tokens",
        str(MAX_PROMPT_TOKENS),
        "--max-images",
        "2",
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
    yield url, proc
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def server(server_proc):
    return server_proc[0]


def data_url(size=(64, 48), colour=(200, 30, 30)) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


IMAGE_URLS = [
    data_url(),
    data_url(size=(1000, 1000)),
    "data:image/png;base64,bm90IGFuIGltYWdl",
    "data:image/png;base64,!!",
    "http://example.com/x.png",
    "",
]


def message(text="Locate the red square", url=None):
    return [
        {
            "role": "user",
            "content": [{"type": "image_url", "image_url": {"url": url or data_url()}}, {"type": "text", "text": text}],
        }
    ]


def test_openai_client_round_trip(server, tiny_models):
    from openai import OpenAI

    client = OpenAI(base_url=server + "/v1", api_key="unused")
    assert [m.id for m in client.models.list().data] == ["tiny"]
    response = client.chat.completions.create(
        model="tiny", messages=message(), max_tokens=8, n=2, temperature=0.9, seed=3
    )
    assert len(response.choices) == 2 and all(isinstance(c.message.content, str) for c in response.choices)
    assert 0 < response.usage.completion_tokens <= 16
    assert response.usage.prompt_tokens == prompt_tokens(tiny_models, message())
    assert response.usage.total_tokens == response.usage.prompt_tokens + response.usage.completion_tokens


def prompt_tokens(tiny_models, messages) -> int:
    """The prompt's length as the model's own processor makes it, image tokens included."""
    from transformers import AutoProcessor

    from groundrl.serve.schema import ServeLimits, to_prompt

    processor = AutoProcessor.from_pretrained(tiny_models["qwen2.5-vl"])
    prompt = to_prompt(messages, ServeLimits())
    text = processor.apply_chat_template(prompt.messages, add_generation_prompt=True, tokenize=False)
    return processor(text=[text], images=prompt.images, return_tensors="pt")["input_ids"].shape[1]


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
        ({"messages": [{"role": "user", "content": [*message()[0]["content"]] * 3}]}, 400, "too_many_images"),
        ({"messages": message("x" * 16 * MAX_PROMPT_TOKENS + "x")}, 400, "prompt_too_long"),
        ({"messages": message(" ".join(f"w{i}" for i in range(MAX_PROMPT_TOKENS)))}, 400, "prompt_too_long"),
        ({"messages": message(), "presence_penalty": 0.5}, 400, "unsupported_parameter"),
        ({"messages": message(), "tools": []}, 400, "invalid_request"),
        ({"messages": message(), "stop": ["a", "b", "c", "d", "e"]}, 400, "invalid_stop"),
        ({"messages": message(), "stop": ""}, 400, "invalid_stop"),
        ({"messages": message(), "n": 17}, 400, "n_too_large"),
        ({"messages": message(), "seed": 2**70}, 400, "invalid_request"),
        ({"messages": message("<|image_pad|>")}, 400, "bad_prompt"),
        ({"messages": message(), "model": "gpt-4o"}, 404, "model_not_found"),
    ],
)
def test_bad_input_is_a_4xx_json_error(server, body, status, code):
    got, payload = post(server, body)
    assert got == status and payload["error"]["code"] == code
    assert set(payload["error"]) == {"message", "type", "param", "code"}
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
        "batch_size=2",  # three batches: each runs in its own event loop, with clients of its own
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


def test_unknown_model_is_a_404_through_the_openai_client(server):
    from openai import NotFoundError, OpenAI

    client = OpenAI(base_url=server + "/v1", api_key="unused", max_retries=0)
    with pytest.raises(NotFoundError) as caught:
        client.chat.completions.create(model="gpt-4o", messages=message(), max_tokens=4)
    assert caught.value.body["code"] == "model_not_found" and caught.value.body["param"] == "model"


def test_stream_with_the_sync_openai_client(server):
    from openai import OpenAI

    client = OpenAI(base_url=server + "/v1", api_key="unused")
    whole = client.chat.completions.create(model="tiny", messages=message(), max_tokens=8, temperature=0)
    stream = client.chat.completions.create(
        model="tiny",
        messages=message(),
        max_tokens=8,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    events = list(stream)
    assert all(e.object == "chat.completion.chunk" for e in events)
    assert events[0].choices[0].delta.role == "assistant"
    text = "".join(e.choices[0].delta.content or "" for e in events if e.choices)
    assert text == whole.choices[0].message.content
    assert events[-2].choices[0].finish_reason == whole.choices[0].finish_reason
    assert events[-1].choices == [] and events[-1].usage.total_tokens == whole.usage.total_tokens


def test_stream_with_the_async_openai_client(server):
    from openai import AsyncOpenAI

    async def collect(k: int) -> tuple[str, str]:
        client = AsyncOpenAI(base_url=server + "/v1", api_key="unused")
        stream = await client.chat.completions.create(
            model="tiny", messages=message(f"shape {k}"), max_tokens=6, temperature=0, stream=True
        )
        chunks = [c async for c in stream]
        text = "".join(c.choices[0].delta.content or "" for c in chunks)
        await client.close()
        return text, chunks[-1].choices[0].finish_reason

    async def both():
        return await asyncio.gather(collect(0), collect(1))

    results = asyncio.run(both())
    assert len(results) == 2 and all(reason in ("stop", "length") for _, reason in results)


def test_stream_ends_with_done(server):
    request = urllib.request.Request(
        server + "/v1/chat/completions",
        data=json.dumps({"messages": message(), "max_tokens": 4, "n": 2, "temperature": 0.8, "stream": True}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in r.read().decode().split("\n\n") if line]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]
    assert {c["choices"][0]["index"] for c in chunks} == {0, 1}
    assert sum(1 for c in chunks if c["choices"][0]["finish_reason"]) == 2


def test_sampling_fields_are_honoured(server):
    from openai import OpenAI

    client = OpenAI(base_url=server + "/v1", api_key="unused")
    greedy = client.chat.completions.create(model="tiny", messages=message(), max_tokens=12, temperature=0, n=3)
    assert len({c.message.content for c in greedy.choices}) == 1 and len(greedy.choices) == 3
    assert greedy.choices[0].finish_reason == "length" and greedy.usage.completion_tokens == 3 * 12
    text = greedy.choices[0].message.content
    assert len(text) > 3
    stopped = client.chat.completions.create(
        model="tiny", messages=message(), max_tokens=12, temperature=0, stop=text[:3]
    )
    assert stopped.choices[0].message.content == text[:3]
    assert stopped.choices[0].finish_reason == "stop"
    sampled = [
        client.chat.completions.create(model="tiny", messages=message(), max_tokens=12, temperature=1.0, seed=7)
        for _ in range(2)
    ]
    assert sampled[0].choices[0].message.content == sampled[1].choices[0].message.content


def rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


def read_reply(s: socket.socket) -> str:
    """What the server sent until it closed the connection (or reset it)."""
    reply = b""
    with contextlib.suppress(OSError):
        while chunk := s.recv(4096):
            reply += chunk
    return reply.decode(errors="replace")


def test_chunked_body_over_the_cap_is_413_without_reading_it(server_proc):
    url, proc = server_proc
    port = int(url.rsplit(":", 1)[1])
    before = rss_mb(proc.pid)
    sent = {"bytes": 0}
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        head = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        s.sendall((head + "Transfer-Encoding: chunked\r\n\r\n").encode())

        def flood() -> None:
            block = b"%x\r\n%s\r\n" % (2**20, b"A" * 2**20)
            with contextlib.suppress(OSError):
                for _ in range(256):
                    s.sendall(block)
                    sent["bytes"] += 2**20

        sender = threading.Thread(target=flood)
        sender.start()
        reply = read_reply(s)
        sender.join(timeout=60)
    assert reply.startswith("HTTP/1.1 413"), reply[:200]
    assert '"body_too_large"' in reply
    assert sent["bytes"] < 64 * 2**20
    assert rss_mb(proc.pid) - before < 32


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
PART = st.one_of(
    st.fixed_dictionaries({"type": st.just("text"), "text": st.text(max_size=40) | JSON}),
    st.fixed_dictionaries(
        {"type": st.just("image_url"), "image_url": st.fixed_dictionaries({"url": st.sampled_from(IMAGE_URLS)}) | JSON}
    ),
    JSON,
)
MESSAGE = st.fixed_dictionaries(
    {
        "role": st.sampled_from(["user", "system", "assistant", "tool", ""]) | JSON,
        "content": st.text(max_size=40) | st.lists(PART, max_size=3) | JSON,
    }
)
FIELDS = {
    "model": st.sampled_from(["tiny", "other"]) | JSON,
    "max_tokens": st.integers(-2, 6) | JSON,
    "max_completion_tokens": st.integers(-2, 6),
    "temperature": st.floats(-1, 3) | JSON,
    "top_p": st.floats(-1, 2),
    "n": st.integers(-1, 20),
    "stop": st.text(max_size=3) | st.lists(st.text(max_size=3), max_size=6) | JSON,
    "seed": st.integers(),
    "stream": st.booleans() | JSON,
    "stream_options": JSON,
    "presence_penalty": st.floats(-2, 2),
    "logprobs": JSON,
    "tools": JSON,
}
BODY = st.fixed_dictionaries({"messages": st.lists(MESSAGE, max_size=2) | JSON}, optional=FIELDS).map(json.dumps).map(
    str.encode
) | st.binary(max_size=64)


@settings(max_examples=50, deadline=10_000, database=None)
@given(body=BODY)
def test_fuzzed_requests_get_an_answer_or_a_4xx_never_a_500(server, body):
    request = urllib.request.Request(
        server + "/v1/chat/completions", data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            status, payload = r.status, r.read()
    except HTTPError as e:
        status, payload = e.code, e.read()
    assert status in (200, 400, 404), (status, payload[:300])
    if status != 200:
        assert set(json.loads(payload)["error"]) == {"message", "type", "param", "code"}


def test_a_phone_photo_is_read_upright_as_files_are():
    """EXIF orientation is applied to uploaded images as `load_image` applies it to files: the stored 30 x 20
    JPEG (orientation 6) reaches the model as the displayed 20 x 30 image, so answers share eval's frame."""
    from pathlib import Path

    from groundrl.data.images import load_image
    from groundrl.serve.schema import decode_image

    path = Path(__file__).parent / "data" / "fixtures" / "img" / "c.jpg"
    url = "data:image/jpeg;base64," + base64.b64encode(path.read_bytes()).decode()
    image = decode_image(url, max_pixels=10_000)
    assert Image.open(path).size == (30, 20) and image.size == (20, 30) and image.mode == "RGB"
    assert image.tobytes() == load_image(path).tobytes()
