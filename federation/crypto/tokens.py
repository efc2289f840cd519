"""Random bearer tokens (partner and organisation credentials) and their stored digest."""
from __future__ import annotations

import hashlib
import re
import secrets

from federation.crypto.encoding import b64u_encode

TOKEN_BYTES = 32  # 256 bits of randomness
_PREFIX = re.compile(r"[a-z][a-z0-9_]*_")


def new_token(prefix: str) -> str:
    """Return ``prefix`` followed by 256 random bits as base64url, e.g. ``fpt_3q2...``.

    The prefix (lower-case letters, digits, underscores, ending in ``_``) lets secret
    scanners and people recognise a leaked token. Raises ValueError for another prefix.
    """
    if not isinstance(prefix, str) or not _PREFIX.fullmatch(prefix):
        raise ValueError("token prefix must be lower-case letters/digits/underscores ending in '_'")
    return prefix + b64u_encode(secrets.token_bytes(TOKEN_BYTES))


def token_digest(token: str) -> bytes:
    """SHA-256 of the UTF-8 token: the only form in which a token is stored.

    Raises TypeError if ``token`` is not a str.
    """
    # A fast, unsalted hash is right here: the token holds 256 random bits, so guessing it
    # from its digest takes ~2**256 tries whatever the hash speed, and no table can be
    # precomputed. It also lets the server find a token by an indexed digest lookup.
    # A PIN is the opposite: a few digits are enumerated in microseconds with a fast hash,
    # so PINs need a slow salted hash plus a server-side pepper (see pins.py).
    if not isinstance(token, str):
        raise TypeError("token must be a str")
    return hashlib.sha256(token.encode("utf-8")).digest()
