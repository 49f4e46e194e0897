"""Batching with bounded admission: concurrent requests with the same sampling share one `generate` call.

A request is admitted (before its prompt is prepared) only while fewer than `batch_size + max_queue` are in
the server; the next one is answered 429 at once rather than making every client wait. A request that is
not answered within the timeout gets a 504 and, if it had not started, is dropped from its batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator

from groundrl.engines.base import Engine, Generation, Prompt, Sampling
from groundrl.serve.schema import BadRequest, ServeLimits

log = logging.getLogger(__name__)


class Batcher:
    """Collects queued requests into batches for one worker that runs `engine.generate` in a thread."""

    def __init__(self, engine: Engine, limits: ServeLimits) -> None:
        self.engine, self.limits = engine, limits
        self.queue: asyncio.Queue = asyncio.Queue()
        self.admitted = 0
        self.requests = 0
        self.batches = 0

    @contextlib.contextmanager
    def admission(self) -> Iterator[None]:
        """Hold one of the server's places for a request while it is prepared, queued and answered.

        Raises:
            BadRequest: 429 when every place is taken.
        """
        if self.admitted >= self.limits.batch_size + self.limits.max_queue:
            raise BadRequest(
                f"the server's queue of {self.limits.max_queue} requests is full; retry later", 429, "queue_full"
            )
        self.admitted += 1
        try:
            yield
        finally:
            self.admitted -= 1

    async def submit(self, prompt: Prompt, sampling: Sampling) -> list[Generation]:
        """The engine's answers for `prompt`.

        Raises:
            BadRequest: 504 when no answer came within the timeout.
        """
        future = asyncio.get_running_loop().create_future()
        self.queue.put_nowait((prompt, sampling, future))
        self.requests += 1
        try:
            return await asyncio.wait_for(asyncio.shield(future), self.limits.request_timeout_s)
        except TimeoutError:
            future.cancel()
            raise BadRequest(
                f"no answer within the server's timeout of {self.limits.request_timeout_s:g} s", 504, "timeout"
            ) from None

    async def run(self) -> None:
        """Forever: take a batch from the queue and answer it."""
        while True:
            batch = await self._next_batch()
            for sampling in {s for _, s, _ in batch}:
                group = [(p, f) for p, s, f in batch if s == sampling and not f.done()]
                if group:
                    await self._generate(group, sampling)

    async def _next_batch(self) -> list:
        batch = [await self.queue.get()]
        deadline = time.monotonic() + self.limits.batch_wait_s
        while len(batch) < self.limits.batch_size and (left := deadline - time.monotonic()) > 0:
            try:
                batch.append(await asyncio.wait_for(self.queue.get(), left))
            except TimeoutError:
                break
        return batch

    async def _generate(self, group: list, sampling: Sampling) -> None:
        self.batches += 1
        try:
            results = await asyncio.to_thread(self.engine.generate, [p for p, _ in group], sampling)
        except Exception as e:
            log.exception("generation failed")
            for _, future in group:
                if not future.done():
                    future.set_exception(e)
            return
        for (_, future), result in zip(group, results, strict=True):
            if not future.done():
                future.set_result(result)
