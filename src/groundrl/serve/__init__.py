"""An OpenAI-compatible `/v1/chat/completions` server over the transformers engine (FastAPI + uvicorn).

For machines without vLLM, and as the real server in tests. Concurrent requests are batched; every
request is bounded (body, prompt tokens, images, pixels, tokens, n, time) and a full queue answers 429.
Images are accepted only as base64 data URLs: the server never fetches anything.
"""

from groundrl.serve.app import create_app
from groundrl.serve.run import bound_generation_time, run_server
from groundrl.serve.schema import ServeLimits

__all__ = ["ServeLimits", "bound_generation_time", "create_app", "run_server"]
