"""`groundrl serve`: an OpenAI-compatible server over the transformers engine."""

from __future__ import annotations

from typing import Annotated

import typer


def serve(
    model: Annotated[str, typer.Option(help="Checkpoint folder.")],
    host: Annotated[str, typer.Option(help="Address to bind; 127.0.0.1 keeps it on this machine.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    served_name: Annotated[str | None, typer.Option(help="Model name clients ask for (default: the folder).")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Concurrent requests batched into one generate.")] = 8,
    max_tokens: Annotated[int, typer.Option(min=1, help="Largest max_tokens a request may ask for.")] = 2048,
    max_body_mb: Annotated[float, typer.Option(min=0.001, help="Largest request body, chunked or not (413).")] = 20.0,
    max_prompt_tokens: Annotated[int, typer.Option(min=1, help="Largest prompt, image tokens included (400).")] = 8192,
    max_images: Annotated[int, typer.Option(min=0, help="Images per request (400).")] = 8,
    max_image_pixels: Annotated[int, typer.Option(min=1, help="Largest image, in pixels (400).")] = 16_777_216,
    max_queue: Annotated[int, typer.Option(min=1, help="Requests admitted beyond one batch; beyond: 429.")] = 64,
    request_timeout: Annotated[float, typer.Option(min=0.1, help="Seconds from queueing to answer (504).")] = 120.0,
    body_timeout: Annotated[float, typer.Option(min=0.1, help="Seconds to send the whole body (408).")] = 30.0,
) -> None:
    """Serve /v1/chat/completions and /v1/models (OpenAI's API) with batching and input limits."""
    from groundrl.engines.hf import TransformersEngine
    from groundrl.serve import ServeLimits, bound_generation_time, create_app, run_server

    limits = ServeLimits(
        max_body_bytes=int(max_body_mb * 1024 * 1024),
        max_prompt_tokens=max_prompt_tokens,
        max_images=max_images,
        max_image_pixels=max_image_pixels,
        max_tokens=max_tokens,
        batch_size=batch_size,
        max_queue=max_queue,
        request_timeout_s=request_timeout,
        body_timeout_s=body_timeout,
    )
    engine = TransformersEngine(model, batch_size=batch_size)
    bound_generation_time(engine, request_timeout)
    run_server(create_app(engine, served_name or model, limits), host, port, limits)
