"""Request bodies parsed strictly: what Python's json module lets through and our code
must not see.

- A key given twice in one object is refused: which value counts would depend on the
  parser, and a proxy or a client library may have read the other one.
- Integers are at most 20 digits (past any count, seq or timestamp of ours). Python
  refuses to parse a 4,301-digit integer with a ValueError that used to become a 500.
- NaN and Infinity are not JSON.
- Nesting deeper than Python's recursion limit is refused, not a 500.
- No string may hold a NUL (PostgreSQL's text cannot store one) or a lone UTF-16
  surrogate (no UTF-8 encoding exists for one); both can only arrive as `\\u` escapes.
Each is a 400 problem+json with its own code.
"""
from __future__ import annotations

import json
import re
from typing import Any

from federation.errors import FederationError

MAX_INT_DIGITS = 20
BAD_CHARACTER = re.compile("[\x00\ud800-\udfff]")


class MalformedJson(FederationError):
    status = 400
    code = "malformed_json"
    title = "The body is not valid JSON"


def loads(data: bytes) -> Any:
    """Parse a request body, or raise MalformedJson with a specific code."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedJson("the body is not UTF-8") from None
    try:
        value = json.loads(text, object_pairs_hook=_object, parse_int=_int, parse_constant=_constant)
    except RecursionError:
        raise MalformedJson("the body is nested too deeply", code="too_deeply_nested") from None
    except json.JSONDecodeError as error:
        raise MalformedJson(f"not valid JSON at character {error.pos}") from None
    if "\\u" in text:
        _check_strings(value)
    return value


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise MalformedJson(f"the key {key[:40]!r} is given twice in one object",
                                    code="duplicate_key")
            seen.add(key)
    return result


def _int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INT_DIGITS:
        raise MalformedJson(f"a number has more than {MAX_INT_DIGITS} digits", code="number_too_large")
    return int(digits)


def _constant(name: str) -> Any:
    raise MalformedJson(f"{name} is not JSON")


def _check_strings(value: Any) -> None:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if BAD_CHARACTER.search(item):
                raise MalformedJson("a string holds a NUL or an unpaired surrogate",
                                    code="invalid_characters")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
