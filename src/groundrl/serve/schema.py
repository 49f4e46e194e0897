"""The request schema of `/v1/chat/completions`: what is accepted, what is refused, and the error shape.

Every field OpenAI's API defines that this server cannot honour is refused with a 400 naming the field,
never silently ignored: unknown fields are refused by the schema (`extra="forbid"`), and the few that are
accepted only at their no-op value (penalties of 0, `logprobs` false) say so in their error.
"""

from __future__ import annotations

import base64
import binascii
import io
from dataclasses import dataclass
from typing import Any

from fastapi.responses import JSONResponse
from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from groundrl.data.images import ImageProblem, decode_oriented, open_header
from groundrl.engines.base import Prompt, Sampling

MAX_STOP_STRINGS = 4
# No token of the tokenizers served here spans more than this many characters; a text longer than
# this many characters per allowed token is refused before it is tokenized.
CHARS_PER_TOKEN_BOUND = 16


@dataclass(frozen=True)
class ServeLimits:
    """What one request may ask for, and how the server queues and batches requests.

    Attributes:
        max_body_bytes: largest request body, counted while it is read (chunked or not); 413 above.
        max_prompt_tokens: largest prompt, images' tokens included; 400 above.
        max_images: images per request; 400 above.
        max_image_pixels: pixels per image, read from the image's header before it is decoded.
        max_tokens: largest `max_tokens` a request may ask for.
        max_n: largest `n`.
        batch_size: requests per `generate` call.
        batch_wait_s: how long the first request of a batch waits for others.
        max_queue: requests admitted beyond a running batch (being prepared or queued); one more: 429.
        request_timeout_s: from queueing to answer; 504 after it.
        body_timeout_s: time to send the whole body (a slow-loris client gets 408).
    """

    max_body_bytes: int = 20 * 1024 * 1024
    max_prompt_tokens: int = 8192
    max_images: int = 8
    max_image_pixels: int = 16_777_216
    max_tokens: int = 2048
    max_n: int = 16
    batch_size: int = 8
    batch_wait_s: float = 0.02
    max_queue: int = 64
    request_timeout_s: float = 120.0
    body_timeout_s: float = 30.0


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    include_usage: bool = False


class ChatRequest(BaseModel):
    """The fields of OpenAI's chat completion request that this server reads."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = None
    messages: list[dict[str, Any]] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    n: int = Field(default=1, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = Field(default=None, ge=-(2**63), lt=2**64)
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: str | None = None
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    logprobs: bool = False


class BadRequest(Exception):
    """A request refused with a 4xx (or 5xx) status and an OpenAI-shaped error."""

    def __init__(self, message: str, status: int = 400, code: str = "invalid_request", param: str | None = None):
        super().__init__(message)
        self.status, self.code, self.param = status, code, param


def error_body(status: int, message: str, code: str, param: str | None = None) -> dict:
    """OpenAI's error object: `{"error": {"message", "type", "param", "code"}}`."""
    kind = {404: "not_found_error", 429: "rate_limit_error"}.get(status, "invalid_request_error")
    if status >= 500:
        kind = "server_error"
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def error_response(status: int, message: str, code: str, param: str | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content=error_body(status, message, code, param))


def to_sampling(body: ChatRequest, limits: ServeLimits) -> tuple[Sampling, int]:
    """The engine's Sampling for `body`, and how many copies of each answer greedy decoding returns.

    Greedy decoding gives one answer; `n > 1` at temperature 0 returns that answer `n` times (as OpenAI's
    API does in effect), so the engine is asked for one.

    Raises:
        BadRequest: a field outside this server's limits or one it cannot honour.
    """
    max_tokens = body.max_completion_tokens or body.max_tokens or min(256, limits.max_tokens)
    if max_tokens > limits.max_tokens:
        raise BadRequest(
            f"max_tokens {max_tokens} exceeds this server's limit of {limits.max_tokens}",
            400,
            "max_tokens",
            "max_tokens",
        )
    if body.n > limits.max_n:
        raise BadRequest(f"n {body.n} exceeds this server's limit of {limits.max_n}", 400, "n_too_large", "n")
    for name in ("presence_penalty", "frequency_penalty", "logprobs"):
        if getattr(body, name):
            raise BadRequest(f"{name} is not supported by this server", 400, "unsupported_parameter", name)
    stop = (body.stop,) if isinstance(body.stop, str) else tuple(body.stop or ())
    if len(stop) > MAX_STOP_STRINGS or not all(stop):
        raise BadRequest(f"stop takes 1 to {MAX_STOP_STRINGS} non-empty strings", 400, "invalid_stop", "stop")
    greedy = body.temperature == 0
    sampling = Sampling(
        max_new_tokens=max_tokens,
        temperature=body.temperature,
        top_p=body.top_p,
        n=1 if greedy else body.n,
        stop=stop,
        seed=body.seed or 0,
    )
    return sampling, body.n if greedy else 1


def decode_image(url: str, max_pixels: int) -> Image.Image:
    """An image from a base64 data URL, refused from its header (before decoding) when it has too many pixels;
    RGB with its EXIF orientation applied by the decoder files go through (`data.images.decode_oriented`), so
    that a phone photo's answer is in the frame evaluation and training use."""
    if not url.startswith("data:image/") or ";base64," not in url:
        raise BadRequest("images must be base64 data URLs (data:image/...;base64,...)", code="bad_image")
    try:
        raw = base64.b64decode(url.split(";base64,", 1)[1], validate=True)
    except (binascii.Error, ValueError) as e:
        raise BadRequest(f"unreadable image: {e}", code="bad_image") from e
    try:
        image = open_header(io.BytesIO(raw), max_pixels, "data URL")
    except ImageProblem as e:
        raise BadRequest(str(e), code="image_too_large" if e.reason == "image_too_large" else "bad_image") from e
    try:
        return decode_oriented(image, "data URL")
    except ImageProblem as e:
        raise BadRequest(str(e), code="bad_image") from e
    except Image.DecompressionBombError as e:
        raise BadRequest(f"image too large to decode: {e}", code="bad_image") from e


def check_sizes(messages: list[dict[str, Any]], limits: ServeLimits) -> None:
    """Refuse too many images, or text far beyond the prompt cap, before any image is decoded or text tokenized."""
    parts = [p for m in messages if isinstance(m.get("content"), list) for p in m["content"] if isinstance(p, dict)]
    images = sum(1 for p in parts if p.get("type") == "image_url")
    if images > limits.max_images:
        raise BadRequest(f"{images} images exceed this server's limit of {limits.max_images}", code="too_many_images")
    chars = sum(len(m["content"]) for m in messages if isinstance(m.get("content"), str))
    chars += sum(len(p["text"]) for p in parts if isinstance(p.get("text"), str))
    if chars > limits.max_prompt_tokens * CHARS_PER_TOKEN_BOUND:
        raise BadRequest(
            f"prompt of {chars:,} characters exceeds this server's limit of {limits.max_prompt_tokens:,} tokens",
            code="prompt_too_long",
            param="messages",
        )


def to_prompt(messages: list[dict[str, Any]], limits: ServeLimits) -> Prompt:
    """OpenAI chat messages -> a Prompt with image parts and decoded images.

    Raises:
        BadRequest: a malformed message, too many images, an image too large or unreadable.
    """
    check_sizes(messages, limits)
    out, images = [], []
    for k, message in enumerate(messages):
        role, content = message.get("role"), message.get("content")
        if role not in ("system", "user", "assistant"):
            raise BadRequest(f"messages[{k}].role must be system, user or assistant", param=f"messages[{k}].role")
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
                images.append(decode_image(str(part["image_url"].get("url", "")), limits.max_image_pixels))
                parts.append({"type": "image"})
            else:
                raise BadRequest(f"messages[{k}].content: parts must be text or image_url")
        out.append({"role": role, "content": parts})
    return Prompt(out, images)
