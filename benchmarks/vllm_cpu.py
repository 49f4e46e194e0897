"""vLLM on CPU for the benchmarks: the `.venv-vllm` interpreter (`make vllm-env`), the environment its
processes run with, and a vLLM OpenAI server for a local checkpoint, started and stopped around a block."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VLLM_PYTHON = ROOT / ".venv-vllm" / "bin" / "python"
VLLM_ENV = {"VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_HOST_IP": "127.0.0.1", "HF_HUB_OFFLINE": "1"}
READY_TIMEOUT_S = 900


@contextlib.contextmanager
def vllm_server(model: Path, log: Path, port: int, extra: Sequence[str] = ()) -> Iterator[tuple[str, float]]:
    """A vLLM OpenAI server for `model` (served as "tiny", float32) on 127.0.0.1:`port`, logging to `log`;
    yields its base URL (ending in /v1) and the seconds it took to answer /v1/models.

    Raises:
        RuntimeError: the server exited or did not answer within READY_TIMEOUT_S (with its log's tail).
    """
    args = [str(VLLM_PYTHON), "-m", "vllm.entrypoints.openai.api_server", "--model", str(model)]
    args += ["--served-model-name", "tiny", "--host", "127.0.0.1", "--port", str(port), "--dtype", "float32"]
    started = time.perf_counter()
    with open(log, "wb") as f:
        proc = subprocess.Popen([*args, *extra], stdout=f, stderr=subprocess.STDOUT, env=os.environ | VLLM_ENV)
    try:
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.perf_counter() - started > READY_TIMEOUT_S:
                    raise RuntimeError(log.read_text()[-4000:]) from None
                time.sleep(1)
        yield f"http://127.0.0.1:{port}/v1", time.perf_counter() - started
    finally:
        proc.terminate()
        proc.wait(timeout=60)
