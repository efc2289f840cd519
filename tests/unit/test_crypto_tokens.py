"""Bearer tokens and their stored digest."""
from __future__ import annotations

import hashlib

import pytest

from federation.crypto.encoding import b64u_decode
from federation.crypto.tokens import new_token, token_digest


def test_token_has_prefix_and_256_random_bits():
    token = new_token("fpt_")
    assert token.startswith("fpt_")
    assert len(b64u_decode(token[len("fpt_"):])) == 32


def test_tokens_are_unique():
    assert len({new_token("fpt_") for _ in range(200)}) == 200


@pytest.mark.parametrize("prefix", ["", "fpt", "FPT_", "f pt_", "_", "1a_", None])
def test_rejects_bad_prefix(prefix):
    with pytest.raises(ValueError):
        new_token(prefix)


def test_digest_is_sha256_of_utf8():
    token = new_token("org_")
    assert token_digest(token) == hashlib.sha256(token.encode("utf-8")).digest()
    assert len(token_digest(token)) == 32
    assert token_digest(token) != token_digest(token + "x")


def test_digest_refuses_bytes():
    with pytest.raises(TypeError):
        token_digest(b"fpt_abc")
