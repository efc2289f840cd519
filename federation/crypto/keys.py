"""Signing keys at rest (sealed with a KEK), the public JWKS, and verifying feed entries.

Sealed blob, version 1 (61 bytes)::

    0x01 | nonce (12 bytes) | AES-256-GCM(private seed, 32 bytes) + tag (16 bytes)

with associated data ``b"federation-signing-key\\x00" + version byte + kid``, so a blob
opens only under the kid it was sealed for: swapping blobs between key rows fails.

JWKS members (RFC 7517 / RFC 8037) per key: kty "OKP", crv "Ed25519", x, kid (the RFC 7638
thumbprint of x), use "sig", alg "EdDSA", plus ours: status ("active" | "retired" |
"revoked"), nbf and, once the key stopped signing, exp (integer epoch seconds); a revoked
key also has last_seq, the last feed entry it signed before it was revoked.

Revocation (docs/feed.md, "A revoked key"): the feed's order is its clock. Entries up to
a revoked key's last_seq were signed while it was trusted and stay verifiable (the log's
checkpoints, signed by other keys, bind their content); an entry it signs with a later
seq was signed after the revocation, by whoever holds the leaked key, and is refused. A
revoked key without last_seq (a key set from before this rule) is refused for every entry.
"""
from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from federation.crypto.canonical import canonical_json
from federation.crypto.encoding import b64u_decode, b64u_encode
from federation.crypto.errors import CryptoError, KeyStatusError, SignatureError, UnknownKeyError
from federation.crypto.signing import KEY_BYTES, Signer, key_id, verify

KEK_BYTES = 32
SEAL_VERSION = 1
_NONCE_BYTES = 12
_SEALED_BYTES = 1 + _NONCE_BYTES + KEY_BYTES + 16
_AAD_LABEL = b"federation-signing-key\x00"

class KeyStatus(StrEnum):
    """A signing key's state, as published in the JWKS."""

    ACTIVE = "active"
    RETIRED = "retired"  # signs nothing new; what it signed still verifies
    REVOKED = "revoked"  # nothing it signed is trusted any more

# RFC 9864 deprecates "EdDSA" for the fully specified "Ed25519"; we publish "EdDSA" (what
# today's JOSE libraries expect) and accept both so a later switch breaks no partner.
_ALGS = frozenset({"EdDSA", "Ed25519"})
ENTRY_UNSIGNED_FIELDS = ("sig", "kid")


# --- Key-encryption key and sealed private keys ---------------------------------------

def new_kek() -> str:
    """Return a new random 256-bit key-encryption key as base64url (for the operator's config)."""
    return b64u_encode(secrets.token_bytes(KEK_BYTES))


def parse_kek(text: str) -> bytes:
    """Decode a KEK given as base64url of 32 bytes; surrounding whitespace is ignored.

    Raises ValueError with a message that never repeats the (secret) input.
    """
    if not isinstance(text, str):
        raise ValueError("the key-encryption key must be a base64url string")
    try:
        kek = b64u_decode(text.strip())
    except ValueError:
        raise ValueError("the key-encryption key is not valid unpadded base64url "
                         "(generate one with `federation keys new-kek`)") from None
    if len(kek) != KEK_BYTES:
        raise ValueError(f"the key-encryption key must decode to {KEK_BYTES} bytes, "
                         f"not {len(kek)}")
    return kek


def seal_private_key(private_raw: bytes, kek: bytes, kid: str) -> bytes:
    """Encrypt a raw 32-byte private seed under ``kek`` for storage; see the module docstring.

    Raises ValueError for a private key or KEK of the wrong length.
    """
    if not isinstance(private_raw, bytes) or len(private_raw) != KEY_BYTES:
        raise ValueError("private key is not 32 bytes")
    nonce = secrets.token_bytes(_NONCE_BYTES)  # random: a KEK seals few keys, far from 2**32
    sealed = _aead(kek).encrypt(nonce, private_raw, _aad(kid))
    return bytes([SEAL_VERSION]) + nonce + sealed


def open_private_key(blob: bytes, kek: bytes, kid: str) -> bytes:
    """Decrypt a sealed private key. Raises CryptoError on a wrong KEK or kid, or any tampering.

    A KEK of the wrong length is a configuration bug (parse_kek prevents it): ValueError.
    """
    if not isinstance(blob, bytes) or len(blob) != _SEALED_BYTES:
        raise CryptoError("sealed private key has the wrong length")
    if blob[0] != SEAL_VERSION:
        raise CryptoError(f"sealed private key has unknown format version {blob[0]}")
    nonce, sealed = blob[1:1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES:]
    try:
        return _aead(kek).decrypt(nonce, sealed, _aad(kid))
    except InvalidTag:
        raise CryptoError("cannot open private key: wrong key-encryption key, "
                          "wrong kid, or the stored blob was altered") from None


def load_signer(blob: bytes, kek: bytes, kid: str) -> Signer:
    """Open a sealed key and return a Signer, checking the key really has this kid.

    Raises CryptoError if the blob cannot be opened or the key does not match ``kid``.
    """
    return Signer(open_private_key(blob, kek, kid), kid=kid)


def _aead(kek: bytes) -> AESGCM:
    if not isinstance(kek, bytes) or len(kek) != KEK_BYTES:
        raise ValueError("the key-encryption key must be 32 bytes")
    return AESGCM(kek)


def _aad(kid: str) -> bytes:
    if not isinstance(kid, str) or not kid:
        raise ValueError("kid must be a non-empty string")
    return _AAD_LABEL + bytes([SEAL_VERSION]) + kid.encode("utf-8")


# --- Public keys: JWKS ------------------------------------------------------------------

def public_jwk(kid: str, public_raw: bytes, status: str,
               not_before: datetime, not_after: datetime | None,
               last_seq: int | None = None) -> dict[str, Any]:
    """Return the JWK (RFC 8037) published for one signing key (with `last_seq` when revoked).

    Raises ValueError for an unknown status, naive datetimes, an active key with an end
    (``exp`` is absent while a key is active), or a retired/revoked key without one.
    """
    if status not in set(KeyStatus):
        raise ValueError(f"status must be one of {sorted(KeyStatus)}")
    if (status == KeyStatus.ACTIVE) != (not_after is None):
        raise ValueError("not_after must be None exactly while the key is active")
    jwk: dict[str, Any] = {
        "kty": "OKP", "crv": "Ed25519", "x": b64u_encode(public_raw), "kid": kid,
        "use": "sig", "alg": "EdDSA", "status": status, "nbf": _epoch(not_before),
    }
    if not_after is not None:
        jwk["exp"] = _epoch(not_after)
    if status == KeyStatus.REVOKED and last_seq is not None:
        jwk["last_seq"] = last_seq
    return jwk


def _epoch(moment: datetime) -> int:
    # A naive datetime would be read in the server's local zone: refuse the ambiguity.
    if not isinstance(moment, datetime) or moment.tzinfo is None:
        raise ValueError("validity times must be timezone-aware datetimes")
    return int(moment.timestamp())


@dataclass(frozen=True, slots=True)
class PublicKey:
    """One verification key from a JWKS."""

    kid: str
    public_raw: bytes
    status: str
    not_before: int
    not_after: int | None
    last_seq: int | None = None  # revoked keys: the last entry signed before the revocation


class KeySet:
    """The verification keys of a federation, as published at /.well-known/federation-keys."""

    def __init__(self, keys: Mapping[str, PublicKey]) -> None:
        self._keys = dict(keys)

    @classmethod
    def from_jwks(cls, doc: Mapping[str, Any]) -> KeySet:
        """Build a KeySet from a parsed JWKS document; raises CryptoError if it is malformed.

        Each key must be an OKP/Ed25519 signing key whose kid is its RFC 7638 thumbprint,
        with a known status; a document carrying a private member ("d") is refused.
        """
        if not isinstance(doc, Mapping) or not isinstance(doc.get("keys"), list):
            raise CryptoError("key set must be an object with a 'keys' array")
        keys: dict[str, PublicKey] = {}
        for index, jwk in enumerate(doc["keys"]):
            key = _parse_jwk(jwk, index)
            if key.kid in keys:
                raise CryptoError(f"key set lists kid {key.kid!r} twice")
            keys[key.kid] = key
        return cls(keys)

    def __contains__(self, kid: object) -> bool:
        return kid in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def get(self, kid: str) -> PublicKey:
        """Return the key with this kid; raises UnknownKeyError if there is none."""
        try:
            return self._keys[kid]
        except (KeyError, TypeError):
            raise UnknownKeyError(f"no key with kid {kid!r}") from None

    def verify(self, data: bytes, signature_b64u: str, kid: str,
               *, at: datetime | None = None, seq: int | None = None) -> None:
        """Check a base64url signature of ``data`` by key ``kid``. Returns None.

        Retired keys still verify: rotation must not invalidate older entries. A revoked
        key verifies only a feed entry (``seq`` given) at or before its ``last_seq``. With
        ``at``, the key must also have been valid at that moment.
        Raises UnknownKeyError, KeyStatusError (revoked, or outside its window at ``at``)
        or SignatureError (malformed or wrong signature); ValueError if ``at`` is naive.
        """
        key = self.get(kid)
        if key.status == KeyStatus.REVOKED:
            if seq is None or key.last_seq is None:
                raise KeyStatusError(f"key {kid!r} is revoked")
            if seq > key.last_seq:
                raise KeyStatusError(f"key {kid!r} was revoked after seq {key.last_seq}: "
                                     f"an entry at seq {seq} signed by it is forged")
        if at is not None:
            moment = _epoch(at)
            if moment < key.not_before or (key.not_after is not None and moment >= key.not_after):
                raise KeyStatusError(f"key {kid!r} was not valid at {at.isoformat()}")
        try:
            signature = b64u_decode(signature_b64u)
        except ValueError:
            raise SignatureError("signature is not valid base64url") from None
        verify(key.public_raw, data, signature)


def _parse_jwk(jwk: Any, index: int) -> PublicKey:
    where = f"key {index}"
    if not isinstance(jwk, Mapping):
        raise CryptoError(f"{where} is not an object")
    if "d" in jwk:
        raise CryptoError(f"{where} contains private key material ('d')")
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        raise CryptoError(f"{where} is not an OKP Ed25519 key")
    if jwk.get("use") != "sig" or jwk.get("alg") not in _ALGS:
        raise CryptoError(f"{where} is not an EdDSA signing key")
    try:
        public_raw = b64u_decode(str(jwk.get("x", "")))
    except ValueError:
        raise CryptoError(f"{where} has an 'x' that is not base64url") from None
    if len(public_raw) != KEY_BYTES:
        raise CryptoError(f"{where} has an 'x' that is not 32 bytes")
    # Binding kid to the key's thumbprint means a kid can never be re-pointed at another key.
    if jwk.get("kid") != key_id(public_raw):
        raise CryptoError(f"{where} has a kid that is not the thumbprint of its key")
    status = jwk.get("status")
    if status not in set(KeyStatus):
        raise CryptoError(f"{where} has an unknown status")
    not_before, not_after = jwk.get("nbf"), jwk.get("exp")
    if not isinstance(not_before, int) or not _is_int(not_before):
        raise CryptoError(f"{where} needs an integer 'nbf'")
    if (status == KeyStatus.ACTIVE) != (not_after is None):
        raise CryptoError(f"{where}: 'exp' must be present exactly when the key is not active")
    if not_after is not None and (not _is_int(not_after) or not_after < not_before):
        raise CryptoError(f"{where} has an 'exp' that is not an integer at or after 'nbf'")
    last_seq = jwk.get("last_seq") if status == KeyStatus.REVOKED else None
    if last_seq is not None and (not _is_int(last_seq) or last_seq < 0):
        raise CryptoError(f"{where} has a 'last_seq' that is not a non-negative integer")
    return PublicKey(jwk["kid"], public_raw, status, not_before, not_after, last_seq)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# --- Feed entries -----------------------------------------------------------------------

def entry_signing_bytes(entry: Mapping[str, Any]) -> bytes:
    """The bytes an entry's signature covers: canonical JSON of every field but sig and kid.

    Raises TypeError/ValueError (from canonical_json) for values JSON cannot hold canonically.
    """
    return canonical_json({k: v for k, v in entry.items() if k not in ENTRY_UNSIGNED_FIELDS})


def verify_entry(entry: Mapping[str, Any], keyset: KeySet) -> bytes:
    """Verify a feed entry as served (its fields plus ``sig`` and ``kid``).

    Returns the signed canonical bytes (for the caller's leaf hash or storage).
    Raises SignatureError (or its subclasses UnknownKeyError, KeyStatusError) if the entry
    is malformed, any field was changed, added or removed, or the key may not be used.
    """
    if not isinstance(entry, Mapping):
        raise SignatureError("entry is not an object")
    signature, kid = entry.get("sig"), entry.get("kid")
    if not isinstance(signature, str) or not isinstance(kid, str):
        raise SignatureError("entry lacks a string 'sig' and 'kid'")
    try:
        data = entry_signing_bytes(entry)
    except (TypeError, ValueError) as exc:
        # We never sign such values (floats, huge ints), so the entry was not ours as served.
        raise SignatureError(f"entry cannot be canonicalised: {exc}") from None
    seq = entry.get("seq")
    keyset.verify(data, signature, kid, seq=seq if _is_int(seq) else None)
    return data

