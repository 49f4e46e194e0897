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
    max_body_mb: Annotated[float, typer.Option(min=0.001, help="Largest request body.")] = 20.0,
    max_image_pixels: Annotated[int, typer.Option(min=1, help="Largest image, in pixels.")] = 16_777_216,
) -> None:
    """Serve /v1/chat/completions and /v1/models (OpenAI's API) with batching and input limits."""
    import uvicorn

    from groundrl.engines.hf import TransformersEngine
    from groundrl.serve import ServeLimits, create_app

    limits = ServeLimits(
        max_body_bytes=int(max_body_mb * 1024 * 1024),
        max_image_pixels=max_image_pixels,
        max_tokens=max_tokens,
        batch_size=batch_size,
    )
    engine = TransformersEngine(model, batch_size=batch_size)
    app = create_app(engine, served_name or model, limits)
    uvicorn.run(app, host=host, port=port, log_level="warning")
