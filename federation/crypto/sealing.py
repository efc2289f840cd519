"""Sealing small secrets under a key derived from a client-held value.

Used for idempotent case creation: the server keeps the first response (and the PIN in
it) only in a form that the retrying client's Idempotency-Key opens. The server stores a
digest of that key, never the key, so the database alone cannot open what it holds.
"""
from __future__ import annotations

import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from federation.crypto.errors import CryptoError

PIN_SEAL_INFO = b"federation/pin-seal/v1"
_NONCE = 12


def derive_key(secret: str, *, info: bytes, salt: bytes | None = None) -> bytes:
    """A 256-bit key from a high-entropy client secret (HKDF-SHA256)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(secret.encode())


def seal(key: bytes, plaintext: bytes, *, aad: bytes = b"") -> bytes:
    """nonce || AES-256-GCM(plaintext)."""
    nonce = secrets.token_bytes(_NONCE)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def unseal(key: bytes, blob: bytes, *, aad: bytes = b"") -> bytes:
    """Open a sealed blob, or raise CryptoError if the key is wrong or it was altered."""
    try:
        return AESGCM(key).decrypt(blob[:_NONCE], blob[_NONCE:], aad)
    except (InvalidTag, ValueError):
        raise CryptoError("sealed data does not open with this key") from None
