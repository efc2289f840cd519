"""Domain exceptions of the crypto package.

Callers catch these instead of library-specific ones (``cryptography.exceptions.InvalidSignature``,
``InvalidTag``), so the service and the partner kit never depend on the backend.
"""
from __future__ import annotations


class CryptoError(Exception):
    """Base class: a key, a sealed blob or a key document could not be used."""


class SignatureError(CryptoError):
    """A signature does not verify: bad signature, tampered bytes, or malformed input."""


class UnknownKeyError(SignatureError):
    """The ``kid`` names no key in the key set."""


class KeyStatusError(SignatureError):
    """The key exists but may not be used: revoked, or outside its validity window."""
