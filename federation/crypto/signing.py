"""Ed25519 signing and verification over raw 32-byte keys, and RFC 7638 key ids."""
from __future__ import annotations

import hashlib
from collections.abc import Callable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from federation.crypto.canonical import canonical_json
from federation.crypto.encoding import b64u_encode
from federation.crypto.errors import CryptoError, SignatureError

# Verification prefers libsodium (PyNaCl, installed with the [partner] extra) when it is
# present: measured here it verifies about 3x faster than OpenSSL's Ed25519, and a
# platform's first sync verifies millions of entries. Both implement RFC 8032; libsodium
# is the stricter (it also refuses non-canonical and small-order encodings), which can
# only refuse forgeries, never our own signatures. Signing always uses `cryptography`.
_sodium_open: Callable[[bytes, bytes], bytes] | None
_SodiumBadSignature: type[Exception]
try:
    from nacl.bindings import crypto_sign_open as _sodium_open
    from nacl.exceptions import BadSignatureError as _SodiumBadSignature
except ImportError:  # pragma: no cover - exercised by the backend test
    _sodium_open = None
    _SodiumBadSignature = ValueError  # never raised: libsodium is not there to raise it


KEY_BYTES = 32
SIGNATURE_BYTES = 64


def generate_keypair() -> tuple[bytes, bytes]:
    """Return a new ``(private_seed, public_key)``, both raw 32-byte strings."""
    private = Ed25519PrivateKey.generate()
    return private.private_bytes_raw(), private.public_key().public_bytes_raw()


def public_key_of(private_raw: bytes) -> bytes:
    """Return the raw public key of a raw 32-byte private seed. Raises CryptoError if malformed."""
    return _private_key(private_raw).public_key().public_bytes_raw()


def sign(private_raw: bytes, data: bytes) -> bytes:
    """Sign ``data`` with a raw 32-byte private seed; returns the 64-byte signature.

    Raises CryptoError if the private key is malformed, TypeError if ``data`` is not bytes.
    """
    return _private_key(private_raw).sign(_bytes(data))


def verify(public_raw: bytes, data: bytes, signature: bytes) -> None:
    """Check an Ed25519 signature. Returns None; raises SignatureError on any failure.

    Failure includes a malformed public key or a signature of the wrong length: callers
    must not be able to mistake a broken input for a valid one.
    """
    if not isinstance(signature, bytes) or len(signature) != SIGNATURE_BYTES:
        raise SignatureError("signature is not 64 bytes")
    if not isinstance(public_raw, bytes) or len(public_raw) != KEY_BYTES:
        raise SignatureError("public key is not 32 bytes")
    data = _bytes(data)
    if _sodium_open is not None:
        try:
            _sodium_open(signature + data, public_raw)
        except (_SodiumBadSignature, ValueError, TypeError):
            raise SignatureError("signature does not verify") from None
        return
    try:
        Ed25519PublicKey.from_public_bytes(public_raw).verify(signature, data)
    except InvalidSignature:
        raise SignatureError("signature does not verify") from None
    except ValueError as exc:  # not a valid curve point
        raise SignatureError("public key is malformed") from exc


def key_id(public_raw: bytes) -> str:
    """RFC 7638 JWK thumbprint of an Ed25519 public key, base64url (43 characters).

    Raises CryptoError if the key is not 32 bytes.
    """
    if not isinstance(public_raw, bytes) or len(public_raw) != KEY_BYTES:
        raise CryptoError("public key is not 32 bytes")
    # RFC 8037 section 2: the thumbprint covers exactly the required members crv, kty, x.
    members = {"crv": "Ed25519", "kty": "OKP", "x": b64u_encode(public_raw)}
    return b64u_encode(hashlib.sha256(canonical_json(members)).digest())


class Signer:
    """A loaded private key with its ``kid``, so the service signs without re-opening it.

    ``Signer(private_raw)`` derives the kid; passing ``kid=`` checks it and raises
    CryptoError on a mismatch (a key stored under the wrong id).
    """

    __slots__ = ("_private", "kid", "public_raw")

    def __init__(self, private_raw: bytes, *, kid: str | None = None) -> None:
        self._private = _private_key(private_raw)
        self.public_raw = self._private.public_key().public_bytes_raw()
        self.kid = key_id(self.public_raw)
        if kid is not None and kid != self.kid:
            raise CryptoError("private key does not belong to the given kid")

    def sign(self, data: bytes) -> bytes:
        """Return the 64-byte Ed25519 signature of ``data``."""
        return self._private.sign(_bytes(data))

    def __repr__(self) -> str:
        # Never let the private key reach a log line or a traceback.
        return f"Signer(kid={self.kid!r})"


def _private_key(private_raw: bytes) -> Ed25519PrivateKey:
    if not isinstance(private_raw, bytes) or len(private_raw) != KEY_BYTES:
        raise CryptoError("private key is not 32 bytes")
    return Ed25519PrivateKey.from_private_bytes(private_raw)


def _bytes(data: bytes) -> bytes:
    # Signing a str would silently pick an encoding; the signed bytes must be explicit.
    if not isinstance(data, bytes):
        raise TypeError("data to sign or verify must be bytes")
    return data
