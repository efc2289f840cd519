"""A revoked key verifies feed entries up to its `last_seq` and refuses every later one
(docs/feed.md, "A revoked key"). Keys, kids and signatures are made here from the specs
(RFC 8037, RFC 7638, RFC 8785 for these ASCII entries), not with our signing code."""
from __future__ import annotations

import base64
import hashlib
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from federation.crypto.errors import CryptoError, KeyStatusError, SignatureError
from federation.crypto.keys import KeySet, verify_entry


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Key:
    def __init__(self) -> None:
        self.private = Ed25519PrivateKey.generate()
        self.x = b64u(self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
        members = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": self.x}, separators=(",", ":"))
        self.kid = b64u(hashlib.sha256(members.encode()).digest())

    def jwk(self, status: str, **extra) -> dict:
        jwk = {"kty": "OKP", "crv": "Ed25519", "x": self.x, "kid": self.kid, "use": "sig", "alg": "EdDSA",
               "status": status, "nbf": 1_700_000_000, **extra}
        if status != "active":
            jwk.setdefault("exp", 1_800_000_000)
        return jwk

    def entry(self, seq: int) -> dict:
        body = {"id": f"r_{seq}", "op": "add", "seq": seq, "type": "md5", "v": 1, "value": "ab" * 16}
        signed = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        return {**body, "kid": self.kid, "sig": b64u(self.private.sign(signed))}


def test_before_and_after_the_revocation():
    key = Key()
    keys = KeySet.from_jwks({"keys": [key.jwk("revoked", last_seq=41)]})
    verify_entry(key.entry(1), keys)
    verify_entry(key.entry(41), keys)
    with pytest.raises(KeyStatusError, match="revoked after seq 41"):
        verify_entry(key.entry(42), keys)


def test_a_forged_signature_before_the_boundary_still_fails():
    key, thief = Key(), Key()
    keys = KeySet.from_jwks({"keys": [key.jwk("revoked", last_seq=10)]})
    forged = {**thief.entry(5), "kid": key.kid}
    with pytest.raises(SignatureError):
        verify_entry(forged, keys)


def test_revoked_without_a_boundary_verifies_nothing():
    key = Key()
    keys = KeySet.from_jwks({"keys": [key.jwk("revoked")]})
    with pytest.raises(KeyStatusError):
        verify_entry(key.entry(1), keys)
    # Nor does a revoked key verify anything that is not a feed entry (no seq).
    keys = KeySet.from_jwks({"keys": [key.jwk("revoked", last_seq=9)]})
    with pytest.raises(KeyStatusError):
        keys.verify(b"data", b64u(key.private.sign(b"data")), key.kid)


def test_last_seq_is_ignored_unless_revoked():
    key = Key()
    keys = KeySet.from_jwks({"keys": [key.jwk("retired", last_seq=1)]})
    verify_entry(key.entry(5), keys)  # retired keys verify whatever they signed


@pytest.mark.parametrize("bad", [-1, "41", 4.5, True, None])
def test_a_malformed_boundary_is_refused(bad):
    key = Key()
    jwk = key.jwk("revoked", last_seq=bad)
    if bad is None:
        KeySet.from_jwks({"keys": [jwk]})  # null: as if absent, verifies nothing
        return
    with pytest.raises(CryptoError, match="last_seq"):
        KeySet.from_jwks({"keys": [jwk]})
