"""How a data file holds its items, whatever its format says: one JSON array or one object per line.

Published tools write both for the same item shape (VLM-R1's jsonl and Qwen's JSON array), so readers look
at the file rather than trust the format's usual container. JSON arrays are read leniently in one way
only: a trailing comma before `]` or `}` (EGM's published SFT demo has one) is dropped with a warning
naming file and line; anything else that is not JSON fails with the parser's own message.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

from groundrl import jsonio
from groundrl.errors import InputError

log = logging.getLogger(__name__)

_SNIFF_BYTES = 4096
_WHITESPACE = b" \t\r\n"
_BOM = b"\xef\xbb\xbf"
# A JSON string (skipped as a whole, so commas inside strings are never touched) or a trailing comma.
_STRING_OR_TRAILING_COMMA = re.compile(r'"(?:[^"\\]|\\.)*"|,(\s*)([\]}])', re.DOTALL)


def is_json_array(path: Path) -> bool:
    """Whether the file's first character (after whitespace and a UTF-8 BOM) opens a JSON array."""
    with open(path, "rb") as f:
        head = f.read(_SNIFF_BYTES).removeprefix(_BOM).lstrip(_WHITESPACE)
        while not head:
            chunk = f.read(_SNIFF_BYTES)
            if not chunk:
                return False
            head = chunk.lstrip(_WHITESPACE)
    return head.startswith(b"[")


def load_json_array(path: Path) -> list[Any]:
    """The items of a file holding one JSON array.

    Raises:
        InputError: the file is not JSON (a trailing comma aside) or not an array.
    """
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise InputError(str(path), line, None, f"not UTF-8 text ({e.reason} at byte {e.start})", "not_utf8") from e
    try:
        data = jsonio.loads(text)
    except json.JSONDecodeError as e:
        data = _without_trailing_commas(text, str(path), e)
    if not isinstance(data, list):
        raise InputError(str(path), None, None, f"expected a JSON array, got {type(data).__name__}", "not_array")
    return data


def _without_trailing_commas(text: str, path: str, error: json.JSONDecodeError) -> Any:
    """`text` parsed with its trailing commas dropped, each one warned about.

    Raises:
        InputError: with the original error, when dropping trailing commas does not make it JSON.
    """
    commas: list[tuple[int, str]] = []
    counted = [0, 1]  # (offset, line) up to which newlines are counted: one pass over the text in all

    def drop(match: re.Match) -> str:
        if match.group(2) is None:
            return match.group(0)
        counted[1] += text.count("\n", counted[0], match.start())
        counted[0] = match.start()
        commas.append((counted[1], match.group(2)))
        return match.group(1) + match.group(2)

    fixed = _STRING_OR_TRAILING_COMMA.sub(drop, text)
    try:
        if not commas:
            raise error
        data = jsonio.loads(fixed)
    except json.JSONDecodeError:
        raise InputError(
            path, error.lineno, None, f"not valid JSON ({error.msg} at column {error.colno})", "not_json"
        ) from error
    for line, closer in commas:
        log.warning("warning: %s:%d: trailing comma before '%s' ignored (not valid JSON)", path, line, closer)
    return data
