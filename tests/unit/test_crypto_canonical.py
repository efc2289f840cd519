"""RFC 8785 canonical JSON and the RFC 9162 leaf hash."""
from __future__ import annotations

import hashlib
import json

import pytest

from federation.crypto.canonical import canonical_json, leaf_hash


def test_rfc8785_section_3_2_3_property_order():
    # Sorted by UTF-16 code units: the emoji (D83D DE00) comes before U+FB33.
    value = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    expected = ('{"\\r":"Carriage Return","1":"One","\u0080":"Control",'
                '"\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign",'
                '"\U0001f600":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}')
    assert canonical_json(value) == expected.encode("utf-8")


def test_utf16_order_differs_from_code_point_order():
    # Python's own sort would put U+FB33 first; JCS must not.
    assert canonical_json({"\ufb33": 1, "\U0001f600": 2}) == '{"\U0001f600":2,"\ufb33":1}'.encode()


def test_rfc8785_section_3_2_2_strings_and_literals():
    # The RFC's sample without its "numbers" member (floats are refused here).
    value = {"string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"/",
             "literals": [None, True, False]}
    expected = r'{"literals":[null,true,false],"string":"€$\u000f\nA' + "'" + r'B\"\\\\\"/"}'
    assert canonical_json(value) == expected.encode("utf-8")


def test_every_control_character_is_escaped_as_jcs_says():
    short = {0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0C: "\\f", 0x0D: "\\r"}
    for code in range(0x20):
        expected = short.get(code, f"\\u{code:04x}")
        assert canonical_json(chr(code)) == f'"{expected}"'.encode(), hex(code)


@pytest.mark.parametrize("char", ["\u2028", "\u2029", "\u007f", "/", "\u00e9", "\U0001f600"])
def test_other_characters_are_written_as_utf8(char):
    assert canonical_json(char) == ('"' + char + '"').encode("utf-8")


def test_quote_and_backslash():
    assert canonical_json('a"b\\c') == b'"a\\"b\\\\c"'


def test_feed_entry_example_has_no_whitespace_and_sorted_keys():
    # "v" sorts before "value" (a prefix sorts first).
    entry = {"v": 1, "seq": 42, "op": "add", "type": "pdq", "value": "f8" * 32,
             "quality": 100, "id": "r_abc"}
    assert canonical_json(entry) == (
        b'{"id":"r_abc","op":"add","quality":100,"seq":42,"type":"pdq","v":1,"value":"'
        + b"f8" * 32 + b'"}')


def test_agrees_with_json_dumps_on_ascii_keys():
    value = {"b": [1, {"z": None, "a": "x\ty"}], "a": True, "c": "\u2028", "": -5}
    reference = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonical_json(value) == reference.encode("utf-8")


def test_nested_containers_and_tuples():
    assert canonical_json({"a": [[], {}, (1, "2")]}) == b'{"a":[[],{},[1,"2"]]}'


@pytest.mark.parametrize(("value", "text"), [
    (0, b"0"), (-1, b"-1"), (2**53 - 1, b"9007199254740991"), (-(2**53 - 1), b"-9007199254740991"),
    (True, b"true"), (False, b"false"), (None, b"null"),
])
def test_scalars(value, text):
    assert canonical_json(value) == text


@pytest.mark.parametrize("value", [2**53, -(2**53), 10**30])
def test_rejects_integers_beyond_ijson_range(value):
    with pytest.raises(ValueError):
        canonical_json({"n": value})


@pytest.mark.parametrize("value", [1.0, 0.5, float("nan"), float("inf"), -0.0])
def test_rejects_floats(value):
    with pytest.raises(TypeError):
        canonical_json([value])


@pytest.mark.parametrize("value", [{1: "a"}, {None: "a"}, {("a",): 1}])
def test_rejects_non_string_keys(value):
    with pytest.raises(TypeError):
        canonical_json(value)


@pytest.mark.parametrize("value", [b"bytes", {1, 2}, object(), 1j])
def test_rejects_other_types(value):
    with pytest.raises(TypeError):
        canonical_json(value)


@pytest.mark.parametrize("value", ["\ud800", {"\udc00": 1}, ["a\ud83d"]])
def test_rejects_lone_surrogates(value):
    with pytest.raises(ValueError):
        canonical_json(value)


def test_leaf_hash_is_rfc9162_leaf():
    # SHA-256 of the single byte 0x00: the RFC 9162 hash of an empty leaf.
    assert leaf_hash(b"").hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    data = b'{"a":1}'
    assert leaf_hash(data) == hashlib.sha256(b"\x00" + data).digest()
    assert leaf_hash(data) != hashlib.sha256(data).digest()


def test_plain_ascii_fast_path_matches_full_escaping():
    # Every ASCII character, between letters: the fast path (printable, nothing to
    # escape) and the escaping path must produce what ECMAScript's JSON.stringify does.
    for code in range(128):
        text = f"a{chr(code)}b"
        assert canonical_json(text) == json.dumps(text, ensure_ascii=False).encode()
