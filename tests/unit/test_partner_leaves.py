"""The kit's leaf bytes and tree: `partners.sync.signed_bytes` must be the canonical
bytes the federation signed and hashed for every entry it can sign, and bind any other
entry one-to-one; `_extend` must grow the tree exactly as `merkle.append` does."""
from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from federation.crypto import merkle
from federation.crypto.canonical import MAX_SAFE_INTEGER, leaf_hash
from federation.crypto.keys import entry_signing_bytes
from partners.sync import _extend, signed_bytes

# Everything canonical JSON can hold: strings of any character (escapes, controls,
# U+2028, astral planes), integers in the I-JSON range, booleans, null, lists, objects.
safe_ints = st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER)
texts = st.text(st.characters(blacklist_categories=("Cs",)))  # no lone surrogates
values = st.recursive(st.none() | st.booleans() | safe_ints | texts,
                      lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(st.characters(max_codepoint=0x7F)), inner, max_size=4),
                      max_leaves=12)
entries = st.dictionaries(st.text(st.characters(max_codepoint=0x7F)), values, max_size=9)


def test_a_feed_entry_is_its_canonical_bytes():
    entry = {"seq": 7, "op": "add", "id": "r_abc", "type": "pdq", "value": "ab" * 32, "quality": 100, "v": 1,
             "kid": "k", "sig": "s"}
    assert signed_bytes(entry) == entry_signing_bytes(entry) == (
        b'{"id":"r_abc","op":"add","quality":100,"seq":7,"type":"pdq","v":1,"value":"' + b"ab" * 32 + b'"}')


def test_escapes_and_characters_as_rfc_8785_writes_them():
    entry = {"value": 'q"b\\n\n\t\b\f\r\x01\x1f\x7f\u2028\u2029é😀', "frames": [{"pdq": "a", "quality": 1}],
             "reason": None, "flag": True, "kid": "k"}
    assert signed_bytes(entry) == entry_signing_bytes(entry)


@settings(max_examples=300, deadline=None)
@given(entries)
def test_every_entry_canonical_json_can_hold(entry):
    assert signed_bytes(entry) == entry_signing_bytes(entry)


@pytest.mark.parametrize("entry", [{"quality": 1.0}, {"seq": MAX_SAFE_INTEGER + 1}, {"quality": 1.5}])
def test_what_the_federation_never_signs_is_still_bound_one_to_one(entry):
    """canonical_json refuses these; the kit's bytes differ from any entry the federation
    could sign, and parse back to exactly what would be applied."""
    parsed = json.loads(signed_bytes(entry))
    assert parsed == entry and [type(v) for v in parsed.values()] == [type(v) for v in entry.values()]
    with pytest.raises((TypeError, ValueError)):
        entry_signing_bytes(entry)


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_nan_and_infinity_are_refused(value):
    with pytest.raises(ValueError):
        signed_bytes({"quality": value})


def test_a_lone_surrogate_is_refused():
    with pytest.raises(ValueError):
        signed_bytes({"value": "\ud800"})


@pytest.mark.parametrize("size, count", [(0, 1), (0, 5000), (1, 7), (5000, 5000), (12345, 999), (2**16 - 1, 3)])
def test_extend_grows_the_tree_like_merkle_append(size, count):
    leaves = [leaf_hash(str(i).encode()) for i in range(size + count)]
    frontier, _ = merkle.append([], 0, leaves[:size])
    expected, _ = merkle.append(frontier, size, leaves[size:])
    assert _extend(frontier, size, leaves[size:]) == expected
    assert merkle.fold(expected) == merkle.fold(merkle.append([], 0, leaves)[0])
