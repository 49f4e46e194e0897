"""Benchmark: `groundrl serve` under attack. Normal clients (one small image, 8 tokens) alone, then alongside
hostile ones (oversized, chunked, slow-loris, many images, long prompt, invalid JSON, unknown model), on the
tiny Qwen2.5-VL on CPU. Records the normal clients' requests/s and p50/p99 latency, the server's peak RSS,
and every hostile request's status. Targets: >= 80% of the calm throughput under attack, peak RSS within
1.5x of the calm run, every hostile request its 4xx.

    python benchmarks/serve_load.py [--seconds 8] [--clients 8] [--repeats 3] [--hostile-rate 10]

Each hostile client sends `--hostile-rate` requests a second (0: back to back, a flood that measures how
much CPU the refusals themselves cost on this machine, where clients and server share the cores).
"""

from __future__ import annotations

import argparse
import base64
import http.client
import io
import json
import multiprocessing
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path

import psutil
from PIL import Image

from groundrl.models.tiny import make_tiny

PATH = "/v1/chat/completions"
EXPECTED = {
    "oversized": 413,
    "chunked": 413,
    "slow_loris": 408,
    "many_images": 400,
    "long_prompt": 400,
    "invalid_json": 400,
    "unknown_model": 404,
}
SERVE_FLAGS = ["--max-body-mb", "1", "--max-images", "2", "--max-prompt-tokens", "512", "--body-timeout", "2"]


def data_url(size: tuple[int, int] = (64, 48)) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def chat_body(text: str = "Locate the red square", images: int = 1, **extra) -> bytes:
    parts = [{"type": "image_url", "image_url": {"url": data_url()}}] * images + [{"type": "text", "text": text}]
    return json.dumps({"model": "tiny", "messages": [{"role": "user", "content": parts}], **extra}).encode()


def status_of(conn: http.client.HTTPConnection, body: bytes) -> int:
    conn.request("POST", PATH, body=body, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    response.read()
    return response.status


def normal_client(port: int, until: float, latencies: list[float], errors: list[int]) -> None:
    """One client with a keep-alive connection, asking for 8 greedy tokens about one small image."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    body = chat_body(max_tokens=8, temperature=0)
    while time.monotonic() < until:
        started = time.perf_counter()
        status = status_of(conn, body)
        (latencies if status == 200 else errors).append(time.perf_counter() - started if status == 200 else status)


def raw_status(port: int, head: bytes, body_chunks, pause_s: float = 0.0) -> int:
    """Send a request by hand (headers, then body pieces) and read the status line the server answers."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(head)
        try:
            for chunk in body_chunks:
                s.sendall(chunk)
                time.sleep(pause_s)
        except OSError:
            pass  # the server refused the body and closed: its answer is already waiting
        reply = b""
        try:
            while b"\r\n" not in reply and (data := s.recv(1024)):
                reply += data
        except OSError:
            return 0
    return int(reply.split()[1]) if reply.startswith(b"HTTP/1.1") else 0


def hostile_request(kind: str, port: int) -> int:
    """One hostile request of `kind`; returns the status the server answered (0: none)."""
    base = b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" % PATH.encode()
    if kind == "oversized":
        return raw_status(port, base + b"Content-Length: 67108864\r\n\r\n", [b"A" * 2**20] * 64)
    if kind == "chunked":
        chunk = b"%x\r\n%s\r\n" % (2**20, b"A" * 2**20)
        return raw_status(port, base + b"Transfer-Encoding: chunked\r\n\r\n", [chunk] * 64)
    if kind == "slow_loris":
        return raw_status(port, base + b"Content-Length: 1000\r\n\r\n", [b"{"] * 20, pause_s=0.5)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    bodies = {
        "many_images": lambda: chat_body(images=40),
        "long_prompt": lambda: chat_body(text="word " * 5000),
        "invalid_json": lambda: b'{"model": "tiny", "messages": [',
        "unknown_model": lambda: chat_body().replace(b'"tiny"', b'"gpt-4o"'),
    }
    return status_of(conn, bodies[kind]())


def hostile_worker(kind: str, port: int, until: float, rate: float, results) -> None:
    """Repeat `kind` until `until`, `rate` times a second (0: back to back), reporting each status."""
    slot = time.monotonic()
    while (now := time.monotonic()) < until:
        if rate and slot > now:
            time.sleep(slot - now)
        slot += 1 / rate if rate else 0
        try:
            results.put((kind, hostile_request(kind, port)))
        except OSError:
            results.put((kind, 0))


def hostile_process(port: int, until: float, rate: float, kinds: list[str], results) -> None:
    """The hostile kinds at once (slow-loris with three connections), in threads of one process."""
    kinds = kinds + ["slow_loris"] * 2 * ("slow_loris" in kinds)
    threads = [threading.Thread(target=hostile_worker, args=(k, port, until, rate, results)) for k in kinds]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def start_server(model_dir: Path, port: int) -> subprocess.Popen:
    args = [sys.executable, "-m", "groundrl", "serve", "--model", str(model_dir), "--port", str(port)]
    proc = subprocess.Popen([*args, "--served-name", "tiny", "--max-tokens", "16", *SERVE_FLAGS])
    for _ in range(600):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=1)
            return proc
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not start")


def phase(port: int, pid: int, seconds: float, clients: int, attack: list[str], rate: float = 0.0) -> dict:
    """Normal clients for `seconds` (with the hostile process when `attack`): throughput, latency, RSS, statuses."""
    until = time.monotonic() + seconds
    latencies: list[float] = []
    errors: list[int] = []
    results = multiprocessing.Queue()
    attacker = None
    if attack:
        attacker = multiprocessing.Process(target=hostile_process, args=(port, until, rate, attack, results))
        attacker.start()
    server = psutil.Process(pid)
    cpu_before = sum(server.cpu_times()[:2])
    peak = [0]
    sampler = threading.Thread(target=sample_rss, args=(pid, until, peak))
    threads = [threading.Thread(target=normal_client, args=(port, until, latencies, errors)) for _ in range(clients)]
    for t in [sampler, *threads]:
        t.start()
    for t in [sampler, *threads]:
        t.join()
    cpu_s = sum(server.cpu_times()[:2]) - cpu_before
    hostile: list[tuple[str, int]] = []
    if attacker:
        while attacker.is_alive() or not results.empty():
            try:
                hostile.append(results.get(timeout=1))
            except Exception:  # queue.Empty: the attacker is finishing its last requests
                continue
        attacker.join()
    ordered = sorted(latencies)
    return {
        "rps": len(ordered) / seconds,
        "p50": ordered[len(ordered) // 2] if ordered else float("nan"),
        "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else float("nan"),
        "peak_rss_mb": peak[0] / 2**20,
        "server_cpu_s": cpu_s,
        "normal_errors": len(errors),
        "hostile": Counter(hostile),
    }


def sample_rss(pid: int, until: float, peak: list[int]) -> None:
    process = psutil.Process(pid)
    while time.monotonic() < until + 1:
        peak[0] = max(peak[0], process.memory_info().rss)
        time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--kinds", default=",".join(EXPECTED), help="hostile kinds, comma-separated")
    parser.add_argument("--hostile-rate", type=float, default=10.0, help="requests/s per hostile client; 0: flood")
    args = parser.parse_args()
    runs: dict[str, list[dict]] = {"calm": [], "attack": []}
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = make_tiny("qwen2.5-vl", Path(tmp) / "model")
        for _ in range(args.repeats):
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            proc = start_server(model_dir, port)
            try:
                phase(port, proc.pid, 2.0, args.clients, [])  # warm-up
                runs["calm"].append(phase(port, proc.pid, args.seconds, args.clients, []))
                runs["attack"].append(
                    phase(port, proc.pid, args.seconds, args.clients, args.kinds.split(","), args.hostile_rate)
                )
            finally:
                proc.terminate()
                proc.wait(timeout=60)
    report(runs, args)


def report(runs: dict[str, list[dict]], args: argparse.Namespace) -> None:
    """Medians per phase, as a markdown table, then the hostile requests' statuses and the targets."""
    print(f"{platform.machine()}, {psutil.cpu_count()} cores, Python {platform.python_version()}, ", end="")
    rate = f"{args.hostile_rate:g}/s each" if args.hostile_rate else "back to back"
    print(f"{args.clients} normal clients, 9 hostile ones ({rate}), {args.seconds:g} s per phase, ", end="")
    print(f"medians of {args.repeats}\n")
    print("| phase | normal req/s | p50 ms | p99 ms | peak RSS MB | server CPU s | normal non-200 |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    med = {}
    for name, rows in runs.items():
        med[name] = {
            k: statistics.median(r[k] for r in rows) for k in ("rps", "p50", "p99", "peak_rss_mb", "server_cpu_s")
        }
        errors = sum(r["normal_errors"] for r in rows)
        m = med[name]
        cells = [
            name,
            f"{m['rps']:.1f}",
            f"{m['p50'] * 1e3:.0f}",
            f"{m['p99'] * 1e3:.0f}",
            f"{m['peak_rss_mb']:,.0f}",
            f"{m['server_cpu_s']:.1f}",
        ]
        print("| " + " | ".join([*cells, str(errors)]) + " |")
    hostile = sum((r["hostile"] for r in runs["attack"]), Counter())
    print("\n| hostile kind | expected | answered (count) |")
    print("| --- | ---: | --- |")
    for kind, expected in EXPECTED.items():
        if kind not in args.kinds.split(","):
            continue
        got = ", ".join(f"{status} ({n})" for (k, status), n in sorted(hostile.items()) if k == kind)
        print(f"| {kind} | {expected} | {got} |")
    wrong = sum(n for (k, status), n in hostile.items() if status != EXPECTED[k])
    ratio = med["attack"]["rps"] / med["calm"]["rps"]
    rss = med["attack"]["peak_rss_mb"] / med["calm"]["peak_rss_mb"]
    print(
        f"\nthroughput under attack: {ratio:.0%} of calm (target >= 80%); peak RSS {rss:.2f}x (target <= 1.5x); ",
        end="",
    )
    print(f"hostile requests answered otherwise than expected: {wrong} of {sum(hostile.values())}")


if __name__ == "__main__":
    main()
