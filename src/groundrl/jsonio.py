"""Fast JSON parsing with the standard library's semantics, within limits on depth and number size.

orjson parses several times faster than `json`, which dominates the cost of validating and scoring large
files. It refuses what `json` accepts (NaN, Infinity, integers beyond 64 bits), so those lines, and
malformed ones, go through `json.loads`: the results, and the error messages, are the standard library's.

Every reader of user JSON parses through `loads`, so hostile input fails the same way everywhere: nesting
deeper than MAX_DEPTH or an integer longer than MAX_INT_DIGITS is a `json.JSONDecodeError` (which readers
report as one line naming file and line), never a RecursionError or the interpreter's digit-limit ValueError.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger(__name__)

# orjson refuses nesting past 1,024 levels, and the standard library's parser (the fallback) runs out of
# recursion near 1,000: either way the document is refused, as one error.
MAX_DEPTH = 1000
MAX_INT_DIGITS = 400  # far beyond any coordinate or id; Python refuses int() of more than 4,300 digits


class _TooLarge(ValueError):
    def __init__(self, digits: str) -> None:
        super().__init__(f"an integer of {len(digits.lstrip('-')):,} digits (the limit is {MAX_INT_DIGITS})")
        self.digits = digits


def _parse_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INT_DIGITS:
        raise _TooLarge(digits)
    return int(digits)


def loads(text: str | bytes) -> Any:
    """Parse one JSON document.

    Raises:
        json.JSONDecodeError: with the standard library's message, line and column; or for a document
            nested deeper than about MAX_DEPTH levels or holding an integer of more than MAX_INT_DIGITS digits.
    """
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(text, parse_int=_parse_int)
    except _TooLarge as e:
        doc = _as_str(text)
        raise json.JSONDecodeError(str(e), doc, max(doc.find(e.digits), 0)) from None
    except RecursionError:
        doc = _as_str(text)
        raise json.JSONDecodeError(f"nested deeper than about {MAX_DEPTH} levels", doc, _too_deep_at(doc)) from None


def _as_str(text: str | bytes) -> str:
    return text.decode("utf-8", "replace") if isinstance(text, bytes) else text


def _too_deep_at(doc: str) -> int:
    """Where the nesting of `doc` first goes past MAX_DEPTH, strings skipped (0 if it never does: the parser
    ran out of stack a little earlier). Runs only on a document already refused."""
    depth, in_string, escaped = 0, False, False
    for position, char in enumerate(doc):
        if in_string:
            escaped, in_string = (False, True) if escaped else (char == "\\", char != '"')
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return position
        elif char in "]}":
            depth -= 1
    return 0


def complete_lines(path: Path) -> list[Any]:
    """The rows of a JSONL file that its writer appends whole lines to (eval predictions, search trees);
    a half-written last line, left by a crash, is cut off the file first. A missing file has no rows."""
    if not path.exists():
        return []
    data = path.read_bytes()
    good = data[: data.rfind(b"\n") + 1]
    if len(good) != len(data):
        log.warning("dropping a half-written last line of %s", path)
        with open(path, "r+b") as f:
            f.truncate(len(good))
    return [json.loads(line) for line in good.decode().splitlines() if line.strip()]
