"""The FastAPI app: `/v1/chat/completions` (plain or streamed), `/v1/models`, `/health`.

A request passes, in order: the body cap (while reading), the schema, the model name, the sampling
limits, the image count and a character bound on the text, the images' headers, the exact prompt-token
count (the processor's own, in a thread), and only then the queue. Nothing reaches the model that a
cheaper check could refuse.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from groundrl.engines.base import Engine, Generation, Prompt, Sampling
from groundrl.serve.batcher import Batcher
from groundrl.serve.body import BodyLimit
from groundrl.serve.schema import BadRequest, ChatRequest, ServeLimits, error_response, to_prompt, to_sampling

log = logging.getLogger(__name__)

TokenCounter = Callable[[Prompt], int]


def processor_token_counter(engine: Engine) -> TokenCounter:
    """The prompt's length in tokens as the engine's processor will make it, images' tokens included."""
    processor = engine.processor

    def count(prompt: Prompt) -> int:
        text = processor.apply_chat_template(prompt.messages, add_generation_prompt=True, tokenize=False)
        batch = processor(text=[text], images=prompt.images or None, return_tensors="pt")
        return int(batch["input_ids"].shape[1])

    return count


async def prepare(body: ChatRequest, limits: ServeLimits, count_tokens: TokenCounter) -> tuple[Prompt, int]:
    """The decoded prompt and its token count, refused with 400 beyond the limits.

    Raises:
        BadRequest: too long a prompt, or one the chat template or processor cannot take.
    """
    prompt = to_prompt(body.messages, limits)
    try:
        tokens = await asyncio.to_thread(count_tokens, prompt)
    except Exception as e:  # the processor's errors on odd input are the request's fault, not the server's
        raise BadRequest(f"the prompt could not be prepared: {e}", code="bad_prompt", param="messages") from e
    if tokens > limits.max_prompt_tokens:
        raise BadRequest(
            f"prompt of {tokens:,} tokens exceeds this server's limit of {limits.max_prompt_tokens:,}",
            code="prompt_too_long",
            param="messages",
        )
    return prompt, tokens


def completion(model: str, generations: list[Generation], sampling: Sampling, prompt_tokens: int) -> dict:
    """A `chat.completion` object."""
    tokens = sum(g.num_tokens for g in generations)
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": i, "message": {"role": "assistant", "content": g.text}, "finish_reason": finish(g, sampling)}
            for i, g in enumerate(generations)
        ],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": tokens, "total_tokens": prompt_tokens + tokens},
    }


def finish(generation: Generation, sampling: Sampling) -> str:
    """ "stop" at a stop string or the end of the answer, "length" at `max_tokens`."""
    if any(generation.text.endswith(s) for s in sampling.stop):
        return "stop"
    return "length" if generation.num_tokens >= sampling.max_new_tokens else "stop"


async def chunks(response: dict, include_usage: bool) -> AsyncIterator[str]:
    """A finished completion as server-sent `chat.completion.chunk` events, ending with `[DONE]`.

    The engine answers whole texts, so each choice's content comes as one delta.
    """
    head = {k: response[k] for k in ("id", "created", "model")} | {"object": "chat.completion.chunk"}

    def event(choices: list, **extra) -> str:
        return f"data: {json.dumps(head | {'choices': choices} | extra)}\n\n"

    for c in response["choices"]:
        i = c["index"]
        yield event([{"index": i, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
        yield event([{"index": i, "delta": {"content": c["message"]["content"]}, "finish_reason": None}])
        yield event([{"index": i, "delta": {}, "finish_reason": c["finish_reason"]}])
    if include_usage:
        yield event([], usage=response["usage"])
    yield "data: [DONE]\n\n"


def create_app(
    engine: Engine,
    model_name: str,
    limits: ServeLimits | None = None,
    count_tokens: TokenCounter | None = None,
) -> FastAPI:
    """The ASGI app serving `engine` under `model_name`.

    Args:
        engine: answers batches of prompts.
        model_name: the only name `/v1/chat/completions` accepts and `/v1/models` lists.
        limits: request caps, queue and batching.
        count_tokens: a prompt's length in tokens; default: the engine's processor.

    Returns:
        The app behind the body cap; while `app.state.is_draining()` is true it answers 503.
    """
    limits = limits or ServeLimits()
    count_tokens = count_tokens or processor_token_counter(engine)
    batcher = Batcher(engine, limits)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI):
        worker = asyncio.create_task(batcher.run())
        yield
        worker.cancel()

    app = FastAPI(title="GroundRL server", lifespan=lifespan)
    app.state.batcher = batcher
    app.state.is_draining = lambda: False
    add_error_handlers(app)

    @app.get("/v1/models")
    async def models() -> dict:
        return {"object": "list", "data": [{"id": model_name, "object": "model", "owned_by": "groundrl"}]}

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok", "requests": batcher.requests, "batches": batcher.batches}

    @app.post("/v1/chat/completions")
    async def chat(body: ChatRequest):
        if app.state.is_draining():
            raise BadRequest("the server is shutting down", 503, "shutting_down")
        if body.model is not None and body.model != model_name:
            raise BadRequest(
                f"model {body.model!r} is not served here; this server serves {model_name!r}",
                404,
                "model_not_found",
                "model",
            )
        sampling, copies = to_sampling(body, limits)
        with batcher.admission():
            prompt, prompt_tokens = await prepare(body, limits, count_tokens)
            generations = (await batcher.submit(prompt, sampling)) * copies
        response = completion(model_name, generations, sampling, prompt_tokens)
        if not body.stream:
            return response
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return StreamingResponse(chunks(response, include_usage), media_type="text/event-stream")

    app.add_middleware(BodyLimit, max_bytes=limits.max_body_bytes, timeout_s=limits.body_timeout_s)
    return app


def add_error_handlers(app: FastAPI) -> None:
    """Every failure as an OpenAI-shaped JSON error; never a traceback in a response."""

    @app.exception_handler(BadRequest)
    async def bad_request(_: Request, e: BadRequest) -> JSONResponse:
        return error_response(e.status, str(e), e.code, e.param)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, e: RequestValidationError) -> JSONResponse:
        first = e.errors()[0] if e.errors() else {}
        where = ".".join(str(x) for x in first.get("loc", ()) if x != "body")
        return error_response(400, f"{where}: {first.get('msg', 'invalid request')}", "invalid_request", where or None)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, e: StarletteHTTPException) -> JSONResponse:
        return error_response(e.status_code, str(e.detail), "invalid_request" if e.status_code == 400 else "http_error")

    @app.exception_handler(Exception)
    async def crashed(_: Request, e: Exception) -> JSONResponse:
        log.error("request failed: %s", e)
        return error_response(500, "internal error while generating", "internal_error")
