"""Bounded JSON parsing for every untrusted body: HTTP requests and Socket.IO payloads.

`json.loads` alone turns 1,000 nested arrays into a RecursionError and keeps lone UTF-16
surrogates (`"\\ud800"`) that later fail to encode; both must be refused as `invalid_input`.
"""

from __future__ import annotations

import json
import re
from typing import Any

from chat_service.errors import InvalidInput

MAX_BODY_BYTES = 64 * 1024
MAX_DEPTH = 32

# Strings (with their escapes) and the brackets between them: enough to measure nesting without
# parsing, so a deep document is refused before the recursive decoder sees it.
_STRUCTURE = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)
_SURROGATE = re.compile("[\ud800-\udfff]")


def _refuse_constant(name: str) -> Any:
    raise InvalidInput(f"{name} is not a JSON number.")


def _nesting_depth(text: str) -> int:
    depth = deepest = 0
    for token in _STRUCTURE.findall(text):
        if token in ("[", "{"):
            depth += 1
            deepest = max(deepest, depth)
        elif token in ("]", "}"):
            depth -= 1
    return deepest


def _check_strings(value: object) -> None:
    """Refuse lone surrogates anywhere (keys included), without recursion."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not item.isascii() and _SURROGATE.search(item):
                raise InvalidInput("The JSON holds an invalid character (a lone UTF-16 surrogate).")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def loads(raw: bytes | str) -> object:
    """Parse untrusted JSON: at most `MAX_DEPTH` levels, no NaN/Infinity, no lone surrogates."""
    if isinstance(raw, bytes | bytearray):
        try:
            text = bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidInput("The body is not UTF-8.") from None
    else:
        text = raw
    if (text.count("[") + text.count("{") > MAX_DEPTH) and _nesting_depth(text) > MAX_DEPTH:
        raise InvalidInput(f"The JSON is nested more than {MAX_DEPTH} levels deep.", details={"max_depth": MAX_DEPTH})
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        raise InvalidInput("The body is not valid JSON.") from None
    _check_strings(value)
    return value
