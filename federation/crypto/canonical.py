"""Canonical JSON bytes (RFC 8785, JCS) and the RFC 9162 leaf hash of those bytes."""
from __future__ import annotations

import hashlib
from typing import Any

# I-JSON (RFC 7493) numbers are IEEE 754 doubles: integers beyond 2**53 - 1 cannot be
# represented exactly, so a JavaScript or Go partner would parse and re-serialise them
# differently and the signature would no longer match.
MAX_SAFE_INTEGER = 2**53 - 1

# JCS (like ECMAScript's JSON.stringify) has short escapes for these, \u00xx for the other
# control characters, and writes everything else, including U+2028 and U+2029, as is.
_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t",
                  "\n": "\\n", "\f": "\\f", "\r": "\\r"}
_ESCAPES = {chr(c): f"\\u{c:04x}" for c in range(0x20)} | _SHORT_ESCAPES


def canonical_json(value: Any) -> bytes:
    """Serialise ``value`` as RFC 8785 canonical JSON, UTF-8 encoded.

    Accepts dict (str keys only), list, tuple, str, int, bool and None.
    Raises TypeError for floats and any other type, and for non-str keys; ValueError
    for integers beyond +/-(2**53 - 1) and for strings holding lone surrogates.
    """
    parts: list[str] = []
    _write(value, parts)
    return "".join(parts).encode("utf-8")


def leaf_hash(data: bytes) -> bytes:
    """RFC 9162 Merkle leaf hash: SHA-256(0x00 || data)."""
    # The 0x00 prefix (0x01 for interior nodes) keeps a leaf from being passed off as a node.
    return hashlib.sha256(b"\x00" + data).digest()


def _write(value: Any, parts: list[str]) -> None:
    # bool before int: True is an int in Python but must serialise as true.
    if value is None:
        parts.append("null")
    elif value is True:
        parts.append("true")
    elif value is False:
        parts.append("false")
    elif isinstance(value, int):
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise ValueError(f"integer {value} is outside the I-JSON range +/-(2**53 - 1)")
        parts.append(str(int(value)))
    elif isinstance(value, float):
        # JCS serialises numbers with ECMAScript's shortest round-trip algorithm, whose
        # corner cases (exponents, -0, precision) differ between languages. Our entries hold
        # only strings, ints, bools and null, so refusing floats removes that risk entirely.
        raise TypeError("floats are not allowed in canonical JSON here; use an int or a string")
    elif isinstance(value, str):
        parts.append(_string(value))
    elif isinstance(value, (list, tuple)):
        parts.append("[")
        for index, item in enumerate(value):
            if index:
                parts.append(",")
            _write(item, parts)
        parts.append("]")
    elif isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise TypeError(f"object keys must be str, not {type(key).__name__}")
        parts.append("{")
        for index, key in enumerate(sorted(value, key=_utf16_sort_key)):
            if index:
                parts.append(",")
            parts.append(_string(key))
            parts.append(":")
            _write(value[key], parts)
        parts.append("}")
    else:
        raise TypeError(f"{type(value).__name__} cannot be serialised as canonical JSON")


def _utf16_sort_key(key: str) -> bytes:
    # JCS sorts by UTF-16 code units, not code points: big-endian UTF-16 bytes compare in
    # exactly that order, so U+1F600 (D83D DE00) sorts before U+FB33.
    try:
        return key.encode("utf-16-be")
    except UnicodeEncodeError as exc:
        raise ValueError("object key holds a lone surrogate") from exc


def _string(text: str) -> str:
    # Fast path for what feed entries hold (hex, ids, op names): printable ASCII with
    # nothing to escape serialises as itself. It is exact, not an approximation: JCS
    # escapes only '"', '\\' and control characters, none of which such text has.
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return '"' + text + '"'
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("string holds a lone surrogate, which is not Unicode text") from exc
    return '"' + "".join(_ESCAPES.get(char, char) for char in text) + '"'
