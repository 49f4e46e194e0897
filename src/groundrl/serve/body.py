"""A pure ASGI middleware that reads the request body under a byte cap and a time limit.

Counting the bytes as they arrive is what holds for chunked bodies too (they declare no length); once the
body crosses the cap it is refused with 413 and no more of it is kept, so the server never holds more than
the cap.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from groundrl.serve.schema import error_body

# A body that declares a length a little over the cap is read on (and thrown away), up to this many more
# bytes and for up to DRAIN_S seconds, so that a client that sends its whole body before reading reads the
# 413 instead of a reset. Any other body over the cap (far over, or chunked) gets the 413 and the
# connection is closed at once: draining those would spend the server's CPU on hostile bytes.
DRAIN_BYTES = 4 * 2**20
DRAIN_S = 1.0


class BodyLimit:
    """Wraps an ASGI app: 413 over `max_bytes`, 408 when the body takes longer than `timeout_s` to arrive."""

    def __init__(self, app: Any, max_bytes: int, timeout_s: float) -> None:
        self.app, self.max_bytes, self.timeout_s = app, max_bytes, timeout_s

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        too_large = f"request body over {self.max_bytes:,} bytes"
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes + DRAIN_BYTES:
            return await self._refuse(send, 413, too_large, "body_too_large", close=True)
        try:
            async with asyncio.timeout(self.timeout_s):
                body, drained = await self._read(receive, drain=declared.isdigit())
        except TimeoutError:
            msg = f"request body not received within {self.timeout_s:g} s"
            return await self._refuse(send, 408, msg, "timeout", close=True)
        if body is None:
            return await self._refuse(send, 413, too_large, "body_too_large", close=not drained)
        sent = False

        async def replay() -> dict:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _read(self, receive: Any, drain: bool) -> tuple[bytes | None, bool]:
        """The whole body and True; or, once it exceeds the cap, None and whether its rest was drained."""
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b"", True
            chunk, more = message.get("body", b""), message.get("more_body", False)
            size += len(chunk)
            if size > self.max_bytes:
                return None, not more or (drain and await self._drain(receive, size))
            chunks.append(chunk)
            if not more:
                return b"".join(chunks), True

    async def _drain(self, receive: Any, size: int) -> bool:
        """Read and drop the rest of a refused body, within DRAIN_BYTES and DRAIN_S; True if it ended."""
        try:
            async with asyncio.timeout(DRAIN_S):
                while size <= self.max_bytes + DRAIN_BYTES:
                    message = await receive()
                    size += len(message.get("body", b""))
                    if message["type"] == "http.disconnect" or not message.get("more_body", False):
                        return True
        except TimeoutError:
            return False
        return False

    @staticmethod
    async def _refuse(send: Any, status: int, message: str, code: str, close: bool) -> None:
        payload = json.dumps(error_body(status, message, code)).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
        if close:
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
