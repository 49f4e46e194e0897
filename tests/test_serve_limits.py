"""The server's queue, timeouts and shutdown, over an engine that only sleeps: what holds when the model is slow."""

import contextlib
import json
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.error import HTTPError

import uvicorn

from groundrl.engines.base import Generation, Prompt, Sampling
from groundrl.serve import ServeLimits, create_app


class SlowEngine:
    """Answers "ok" after `delay_s` per batch."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s

    def generate(self, prompts: list[Prompt], sampling: Sampling) -> list[list[Generation]]:
        time.sleep(self.delay_s)
        return [[Generation("ok", 1, self.delay_s)] * sampling.n for _ in prompts]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serving(engine, limits: ServeLimits, draining: bool = False):
    """The app on a free port, in a thread of this process (told it is shutting down when `draining`)."""
    port = free_port()
    app = create_app(engine, "fake", limits, count_tokens=lambda p: 1)
    app.state.is_draining = lambda: draining
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def post(url: str, body: dict | None = None) -> tuple[int, dict]:
    body = body or {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
    request = urllib.request.Request(
        url + "/v1/chat/completions", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, json.loads(r.read())
    except HTTPError as e:
        return e.code, json.loads(e.read())


def timed_post(url: str) -> tuple[int, float]:
    started = time.perf_counter()
    status, _ = post(url)
    return status, time.perf_counter() - started


def test_a_full_queue_answers_429_at_once():
    limits = ServeLimits(batch_size=1, max_queue=2, batch_wait_s=0.0)
    with serving(SlowEngine(0.5), limits) as url, ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: timed_post(url), range(8)))
    refused = [t for status, t in results if status == 429]
    assert sorted({status for status, _ in results}) == [200, 429]
    assert len(refused) >= 4 and max(refused) < 0.4


def test_a_request_not_answered_in_time_gets_504():
    limits = ServeLimits(request_timeout_s=0.3)
    with serving(SlowEngine(1.0), limits) as url:
        started = time.perf_counter()
        status, payload = post(url)
        elapsed = time.perf_counter() - started
    assert status == 504 and payload["error"]["code"] == "timeout"
    assert elapsed < 0.9


def test_a_slow_loris_body_gets_408_and_others_are_served():
    limits = ServeLimits(body_timeout_s=0.5)
    with serving(SlowEngine(0.0), limits) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
            assert post(url)[0] == 200
            reply = s.recv(4096).decode()
    assert reply.startswith("HTTP/1.1 408")


def test_sigterm_finishes_the_requests_in_flight_and_exits_0(tmp_path):
    script = tmp_path / "serve_slow.py"
    script.write_text(
        textwrap.dedent(f"""
            import sys

            sys.path.insert(0, {str(Path(__file__).parent)!r})
            from test_serve_limits import SlowEngine

            from groundrl.serve import ServeLimits, create_app, run_server

            limits = ServeLimits(batch_size=1, batch_wait_s=0.0, request_timeout_s=20)
            app = create_app(SlowEngine(0.5), "fake", limits, count_tokens=lambda p: 1)
            run_server(app, "127.0.0.1", int(sys.argv[1]), limits)
        """)
    )
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(script), str(port)], stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    for _ in range(400):
        with contextlib.suppress(OSError):
            urllib.request.urlopen(url + "/health", timeout=1)
            break
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.05)
    with ThreadPoolExecutor(3) as pool:
        in_flight = [pool.submit(post, url) for _ in range(3)]
        time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        statuses = [f.result()[0] for f in in_flight]
    assert statuses == [200, 200, 200]
    assert proc.wait(timeout=20) == 0, proc.stderr.read().decode()
    with contextlib.suppress(OSError):
        urllib.request.urlopen(url + "/health", timeout=1)
        raise AssertionError("the server still answers after SIGTERM")


def test_a_request_arriving_while_draining_gets_503():
    with serving(SlowEngine(0.0), ServeLimits(), draining=True) as url:
        status, payload = post(url)
    assert status == 503 and payload["error"]["code"] == "shutting_down"


def test_the_engine_sees_only_requests_that_passed_every_check():
    seen: list[Prompt] = []

    class Recording(SlowEngine):
        def generate(self, prompts: list[Prompt], sampling: Sampling) -> list[list[Generation]]:
            seen.extend(prompts)
            return super().generate(prompts, sampling)

    with serving(Recording(0.0), ServeLimits(max_prompt_tokens=10)) as url:
        long = {"messages": [{"role": "user", "content": "x" * 161}]}
        assert post(url, long)[0] == 400
        assert post(url, {"messages": [{"role": "user", "content": "hi"}], "model": "other"})[0] == 404
        assert post(url)[0] == 200
    assert len(seen) == 1


def test_the_timeout_also_stops_a_running_generate(tiny_models):
    from groundrl.engines.hf import TransformersEngine
    from groundrl.serve import bound_generation_time

    engine = TransformersEngine(tiny_models["qwen2.5-vl"], device="cpu")
    bound_generation_time(engine, 0.2)
    started = time.perf_counter()
    [[answer]] = engine.generate([Prompt([{"role": "user", "content": "hi"}])], Sampling(max_new_tokens=2000))
    assert time.perf_counter() - started < 3 and answer.num_tokens < 2000
