"""A pure ASGI middleware that reads the request body under a byte cap and a time limit.

Counting the bytes as they arrive is what holds for chunked bodies too (they declare no length); the
body is refused with 413 as soon as it crosses the cap, so the server never holds more than the cap.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from groundrl.serve.schema import error_body


class BodyLimit:
    """Wraps an ASGI app: 413 over `max_bytes`, 408 when the body takes longer than `timeout_s` to arrive."""

    def __init__(self, app: Any, max_bytes: int, timeout_s: float) -> None:
        self.app, self.max_bytes, self.timeout_s = app, max_bytes, timeout_s

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            return await self._refuse(send, 413, f"request body over {self.max_bytes:,} bytes", "body_too_large")
        try:
            async with asyncio.timeout(self.timeout_s):
                body = await self._read(receive)
        except TimeoutError:
            return await self._refuse(send, 408, f"request body not received within {self.timeout_s:g} s", "timeout")
        if body is None:
            return await self._refuse(send, 413, f"request body over {self.max_bytes:,} bytes", "body_too_large")
        sent = False

        async def replay() -> dict:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _read(self, receive: Any) -> bytes | None:
        """The whole body, or None as soon as it exceeds the cap (the rest is never read)."""
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b""
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    @staticmethod
    async def _refuse(send: Any, status: int, message: str, code: str) -> None:
        payload = json.dumps(error_body(status, message, code)).encode()
        headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
        headers.append((b"content-length", str(len(payload)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
