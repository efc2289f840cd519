"""Strict base64url (RFC 4648 section 5) without padding, as JOSE uses it (RFC 7515 section 2)."""
from __future__ import annotations

import base64
import re

_ALPHABET = re.compile(r"[A-Za-z0-9_-]*")


def b64u_encode(data: bytes) -> str:
    """Encode bytes as base64url without ``=`` padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64u_decode(text: str) -> bytes:
    """Decode unpadded base64url, accepting exactly one spelling per byte string.

    Raises ValueError for a non-str, padding, whitespace, characters outside the url-safe
    alphabet, an impossible length, or non-zero trailing bits.
    """
    # Strictness matters because these strings are keys and signatures: if two spellings
    # decoded to the same bytes, a signed document could be altered without detection.
    if not isinstance(text, str):
        raise ValueError("base64url input must be a string")
    if not _ALPHABET.fullmatch(text):
        raise ValueError("base64url input has padding or characters outside the alphabet")
    if len(text) % 4 == 1:
        raise ValueError("base64url input has an impossible length")
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    # The standard decoder ignores the unused low bits of the last character; re-encoding
    # and comparing rejects "non-canonical" spellings such as "AB" next to "AA".
    if b64u_encode(data) != text:
        raise ValueError("base64url input has non-zero trailing bits")
    return data
