"""The OpenAI-compatible chat engine: `vllm serve`, SGLang, or `groundrl serve`, one server or many.

Requests run asynchronously with a bounded number in flight, spread round-robin over several base URLs
(data parallel over servers or nodes). The official `openai` client retries 429, 5xx and connection errors
with exponential backoff and enforces the timeout. The API key comes from an environment variable, never
from the command line or a log.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from typing import Any

from groundrl.engines.base import Generation, Prompt, Sampling, image_data_url


def _content(message: dict[str, Any], images: list, counter: itertools.count) -> Any:
    content = message["content"]
    if isinstance(content, str):
        return content
    parts = []
    for part in content:
        if part.get("type") == "image":
            parts.append({"type": "image_url", "image_url": {"url": image_data_url(images[next(counter)])}})
        elif "text" in part:
            parts.append({"type": "text", "text": part["text"]})
    return parts


def to_openai_messages(prompt: Prompt) -> list[dict[str, Any]]:
    """Messages with image parts as base64 data URLs, in the order the images appear."""
    counter = itertools.count()
    return [{"role": m["role"], "content": _content(m, prompt.images, counter)} for m in prompt.messages]


class OpenAIEngine:
    """Chat completions against one or more OpenAI-compatible servers.

    Args:
        model: the served model name.
        base_urls: one or more `http://host:port/v1`; requests go round-robin.
        api_key_env: name of the environment variable holding the key (an absent variable sends "EMPTY",
            which vLLM and SGLang accept when they run without a key).
        max_in_flight: concurrent requests over all servers.
        timeout_s: per request; max_retries: retries on 429 / 5xx / connection errors, with backoff.
    """

    def __init__(
        self,
        model: str,
        base_urls: list[str],
        api_key_env: str = "OPENAI_API_KEY",
        max_in_flight: int = 64,
        timeout_s: float = 120.0,
        max_retries: int = 5,
    ) -> None:
        if not base_urls:
            raise ValueError("the openai engine needs at least one base URL")
        self.model = model
        self.base_urls = list(base_urls)
        self.api_key = os.environ.get(api_key_env) or "EMPTY"
        self.timeout_s, self.max_retries = timeout_s, max_retries
        self.max_in_flight = max_in_flight

    def generate(self, prompts: list[Prompt], sampling: Sampling | None = None) -> list[list[Generation]]:
        sampling = sampling or Sampling()
        if sampling.max_thinking_tokens is not None:
            raise ValueError("--max-thinking-tokens needs the transformers engine (budget forcing)")
        return asyncio.run(self.agenerate(prompts, sampling))

    async def agenerate(self, prompts: list[Prompt], sampling: Sampling) -> list[list[Generation]]:
        from openai import AsyncOpenAI

        # Clients live for one call: their connection pools belong to the event loop that made them, and
        # `generate` runs each batch in a new loop (a pooled connection of a closed loop fails the next batch).
        clients = [
            AsyncOpenAI(base_url=u, api_key=self.api_key, timeout=self.timeout_s, max_retries=self.max_retries)
            for u in self.base_urls
        ]
        try:
            gate = asyncio.Semaphore(self.max_in_flight)
            turns = itertools.cycle(clients)
            return list(await asyncio.gather(*(self._one(next(turns), p, sampling, gate) for p in prompts)))
        finally:
            await asyncio.gather(*(c.close() for c in clients))

    async def _one(self, client: Any, prompt: Prompt, sampling: Sampling, gate: asyncio.Semaphore) -> list[Generation]:
        kwargs: dict[str, Any] = {"model": self.model, "messages": to_openai_messages(prompt), "n": sampling.n}
        seed = sampling.seed if prompt.seed is None else prompt.seed
        kwargs |= {"max_tokens": sampling.max_new_tokens, "temperature": sampling.temperature, "seed": seed}
        if sampling.temperature > 0:
            kwargs["top_p"] = sampling.top_p
        if sampling.stop:
            kwargs["stop"] = list(sampling.stop)
        async with gate:
            started = time.perf_counter()
            response = await client.chat.completions.create(**kwargs)
            latency = time.perf_counter() - started
        tokens = response.usage.completion_tokens if response.usage else 0
        per_choice = max(1, round(tokens / max(1, len(response.choices))))
        return [Generation(c.message.content or "", per_choice, latency) for c in response.choices]
