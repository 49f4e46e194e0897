"""Running the app under uvicorn with a clean shutdown: SIGTERM (or Ctrl-C) drains, then exits 0.

On the signal uvicorn stops accepting connections and waits for the requests in flight; the app answers
503 to any request that still arrives on an open connection. Every request in flight ends within the
request timeout (an answer or a 504), so the drain is bounded by it.
"""

from __future__ import annotations

import logging
import signal

import uvicorn
from fastapi import FastAPI

from groundrl.engines.base import Engine
from groundrl.serve.schema import ServeLimits

log = logging.getLogger(__name__)


def bound_generation_time(engine: Engine, seconds: float) -> None:
    """Stop any `generate` call of a transformers engine after `seconds` (its `max_time`), so that a batch
    whose clients have timed out does not hold the model; other engines are left as they are."""
    model = getattr(engine, "model", None)
    if model is not None and getattr(model, "generation_config", None) is not None:
        model.generation_config.max_time = seconds


def run_server(app: FastAPI, host: str, port: int, limits: ServeLimits) -> None:
    """Serve `app` until SIGTERM or SIGINT, then finish the requests in flight and return."""
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=int(limits.request_timeout_s) + 5
    )
    server = uvicorn.Server(config)
    app.state.is_draining = lambda: server.should_exit

    def drained(sig: int, _frame: object) -> None:
        log.info("stopped by signal %d after finishing the requests in flight", sig)

    # uvicorn catches the signal while it serves, drains, then re-raises it; with these handlers in place
    # the re-raised signal is a no-op, so a requested shutdown exits 0 instead of dying by the signal.
    signal.signal(signal.SIGTERM, drained)
    signal.signal(signal.SIGINT, drained)
    server.run()
