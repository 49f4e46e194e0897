"""An OpenAI-compatible `/v1/chat/completions` server over the transformers engine (FastAPI + uvicorn).

For machines without vLLM, and as the real server in tests. Concurrent requests are batched: a collector
gathers the requests that arrive within a short window (or until the batch is full) and runs them as one
`generate`. Limits: request body size, image pixels, `max_tokens`, `n`. Bad input gets a 4xx JSON error
in OpenAI's shape; an unexpected failure a 500 JSON error without a traceback. Images are accepted only as
base64 data URLs: the server never fetches anything.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import io
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from PIL import Image, UnidentifiedImageError
from pydantic import BaseModel, Field

from groundrl.engines.base import Engine, Generation, Prompt, Sampling

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServeLimits:
    max_body_bytes: int = 20 * 1024 * 1024
    max_image_pixels: int = 16_777_216
    max_tokens: int = 2048
    max_n: int = 16
    batch_size: int = 8
    batch_wait_s: float = 0.02


class ChatRequest(BaseModel):
    model: str | None = None
    messages: list[dict[str, Any]] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    n: int = Field(default=1, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = None


class BadRequest(Exception):
    def __init__(self, message: str, status: int = 400, code: str = "invalid_request") -> None:
        super().__init__(message)
        self.status, self.code = status, code


def _error(status: int, message: str, code: str) -> JSONResponse:
    kind = "invalid_request_error" if status < 500 else "server_error"
    return JSONResponse(status_code=status, content={"error": {"message": message, "type": kind, "code": code}})


def decode_image(url: str, max_pixels: int) -> Image.Image:
    """An image from a base64 data URL, refused before decoding when it has too many pixels."""
    if not url.startswith("data:image/") or ";base64," not in url:
        raise BadRequest("images must be base64 data URLs (data:image/...;base64,...)", code="bad_image")
    try:
        raw = base64.b64decode(url.split(";base64,", 1)[1], validate=True)
        image = Image.open(io.BytesIO(raw))
    except (binascii.Error, ValueError, UnidentifiedImageError, OSError) as e:
        raise BadRequest(f"unreadable image: {e}", code="bad_image") from e
    if image.width * image.height > max_pixels:
        raise BadRequest(f"image of {image.width}x{image.height} exceeds {max_pixels:,} pixels", code="image_too_large")
    try:
        return image.convert("RGB")
    except OSError as e:
        raise BadRequest(f"truncated image: {e}", code="bad_image") from e


def to_prompt(messages: list[dict[str, Any]], max_pixels: int) -> Prompt:
    """OpenAI chat messages -> a Prompt with image parts and decoded images."""
    out, images = [], []
    for k, message in enumerate(messages):
        role, content = message.get("role"), message.get("content")
        if role not in ("system", "user", "assistant"):
            raise BadRequest(f"messages[{k}].role must be system, user or assistant")
        if isinstance(content, str):
            out.append({"role": role, "content": content})
            continue
        if not isinstance(content, list):
            raise BadRequest(f"messages[{k}].content must be a string or a list of parts")
        parts = []
        for part in content:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text" and isinstance(part.get("text"), str):
                parts.append({"type": "text", "text": part["text"]})
            elif kind == "image_url" and isinstance(part.get("image_url"), dict):
                images.append(decode_image(str(part["image_url"].get("url", "")), max_pixels))
                parts.append({"type": "image"})
            else:
                raise BadRequest(f"messages[{k}].content: parts must be text or image_url")
        out.append({"role": role, "content": parts})
    return Prompt(out, images)


class Batcher:
    """Collects concurrent requests with the same sampling into one `generate` call."""

    def __init__(self, engine: Engine, limits: ServeLimits) -> None:
        self.engine, self.limits = engine, limits
        self.queue: asyncio.Queue = asyncio.Queue()
        self.requests = 0
        self.batches = 0

    async def submit(self, prompt: Prompt, sampling: Sampling) -> list[Generation]:
        future = asyncio.get_running_loop().create_future()
        await self.queue.put((prompt, sampling, future))
        self.requests += 1
        return await future

    async def run(self) -> None:
        while True:
            first = await self.queue.get()
            batch = [first]
            deadline = time.monotonic() + self.limits.batch_wait_s
            while len(batch) < self.limits.batch_size and (left := deadline - time.monotonic()) > 0:
                try:
                    batch.append(await asyncio.wait_for(self.queue.get(), left))
                except TimeoutError:
                    break
            for sampling in {s for _, s, _ in batch}:
                group = [(p, f) for p, s, f in batch if s == sampling]
                await self._generate(group, sampling)

    async def _generate(self, group: list, sampling: Sampling) -> None:
        self.batches += 1
        try:
            results = await asyncio.to_thread(self.engine.generate, [p for p, _ in group], sampling)
        except Exception as e:
            log.exception("generation failed")
            for _, future in group:
                future.set_exception(e)
            return
        for (_, future), result in zip(group, results, strict=True):
            future.set_result(result)


def create_app(engine: Engine, model_name: str, limits: ServeLimits | None = None) -> FastAPI:
    """The FastAPI app serving `engine` under `model_name`."""
    limits = limits or ServeLimits()
    batcher = Batcher(engine, limits)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI):
        worker = asyncio.create_task(batcher.run())
        yield
        worker.cancel()

    app = FastAPI(title="GroundRL server", lifespan=lifespan)
    app.state.batcher = batcher

    @app.middleware("http")
    async def cap_body(request: Request, call_next):
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > limits.max_body_bytes:
            return _error(413, f"request body over {limits.max_body_bytes:,} bytes", "body_too_large")
        return await call_next(request)

    @app.exception_handler(BadRequest)
    async def bad_request(_: Request, e: BadRequest) -> JSONResponse:
        return _error(e.status, str(e), e.code)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, e: RequestValidationError) -> JSONResponse:
        first = e.errors()[0] if e.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()) if x != "body")
        return _error(400, f"{where}: {first.get('msg', 'invalid request')}", "invalid_request")

    @app.exception_handler(Exception)
    async def crashed(_: Request, e: Exception) -> JSONResponse:
        log.error("request failed: %s", e)
        return _error(500, "internal error while generating", "internal_error")

    @app.get("/v1/models")
    async def models() -> dict:
        return {"object": "list", "data": [{"id": model_name, "object": "model", "owned_by": "groundrl"}]}

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok", "requests": batcher.requests, "batches": batcher.batches}

    @app.post("/v1/chat/completions")
    async def chat(body: ChatRequest) -> dict:
        max_tokens = body.max_completion_tokens or body.max_tokens or min(256, limits.max_tokens)
        if max_tokens > limits.max_tokens:
            raise BadRequest(
                f"max_tokens {max_tokens} exceeds this server's limit of {limits.max_tokens}", code="max_tokens"
            )
        if body.n > limits.max_n:
            raise BadRequest(f"n {body.n} exceeds this server's limit of {limits.max_n}", code="n_too_large")
        stop = (body.stop,) if isinstance(body.stop, str) else tuple(body.stop or ())
        sampling = Sampling(
            max_new_tokens=max_tokens,
            temperature=body.temperature,
            top_p=body.top_p,
            n=body.n,
            stop=stop,
            seed=body.seed or 0,
        )
        generations = await batcher.submit(to_prompt(body.messages, limits.max_image_pixels), sampling)
        tokens = sum(g.num_tokens for g in generations)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model_name,
            "choices": [
                {
                    "index": i,
                    "message": {"role": "assistant", "content": g.text},
                    "finish_reason": "length" if g.num_tokens >= max_tokens else "stop",
                }
                for i, g in enumerate(generations)
            ],
            "usage": {"prompt_tokens": 0, "completion_tokens": tokens, "total_tokens": tokens},
        }

    return app
