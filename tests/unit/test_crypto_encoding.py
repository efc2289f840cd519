"""Strict base64url: one spelling per byte string."""
from __future__ import annotations

import os

import pytest

from federation.crypto.encoding import b64u_decode, b64u_encode


@pytest.mark.parametrize(("raw", "text"), [
    (b"", ""), (b"f", "Zg"), (b"fo", "Zm8"), (b"foo", "Zm9v"),
    (b"\xfb\xff", "-_8"),  # the url-safe characters, not + and /
])
def test_round_trip_without_padding(raw, text):
    assert b64u_encode(raw) == text
    assert b64u_decode(text) == raw


def test_random_round_trip():
    for length in range(40):
        raw = os.urandom(length)
        assert b64u_decode(b64u_encode(raw)) == raw


@pytest.mark.parametrize("text", [
    "Zg==", "Zg=",            # padding
    "Zm8+", "Zm8/",           # standard alphabet
    "Zm 9v", "Zm9v\n", " Zg",  # whitespace
    "Z", "Zm9vY",             # impossible lengths
    "Zh", "Zm9",              # non-zero trailing bits ("Zg" / "Zm8" are canonical)
    "Zm9v!", "é",
])
def test_rejects_non_canonical_input(text):
    with pytest.raises(ValueError):
        b64u_decode(text)


@pytest.mark.parametrize("value", [None, b"Zg", 12])
def test_rejects_non_strings(value):
    with pytest.raises(ValueError):
        b64u_decode(value)
