"""Building the match index from the store's columns (LocalStore.packed, MatchIndex.add_packed)
gives the same index as adding signal by signal, and falls back whenever the columns are
not in the common form."""
from __future__ import annotations

import base64
import random

import numpy as np
import pytest

from partners.matching import MatchIndex
from partners.records import ID_CHARS
from partners.scan import load_index
from partners.store import LocalStore
from tests.feeds import replay

LENGTHS = {"pdq": 64, "phash": 16, "md5": 32, "sha256": 64}


def federation_id(rng: random.Random) -> str:
    return "r_" + base64.urlsafe_b64encode(rng.getrandbits(128).to_bytes(16, "big")).rstrip(b"=").decode()


def balanced_hex(rng: random.Random, digits: int) -> str:
    return f"{rng.getrandbits(4 * digits):0{digits}x}"


def random_feed(seed: int, count: int, odd_ids: bool = False) -> list[dict]:
    """Adds of every type, a third of them deleted later (some re-added under a new id)."""
    rng = random.Random(seed)
    entries, active = [], {}
    for seq in range(1, count + 1):
        if active and rng.random() < 0.3:
            (kind, value), record = active.popitem()
            entries.append({"seq": seq, "op": "delete", "id": record, "type": kind, "value": value})
            continue
        kind = rng.choice(["pdq", "pdq", "pdq", "phash", "md5", "sha256"])
        value = balanced_hex(rng, LENGTHS[kind])
        record = f"r_{seq}" if odd_ids and rng.random() < 0.1 else federation_id(rng)
        active[(kind, value)] = record
        entries.append({"seq": seq, "op": "add", "id": record, "type": kind, "value": value,
                        **({"quality": 90} if kind == "pdq" else {})})
    return entries


def active_set(entries: list[dict]) -> dict[tuple[str, str], str]:
    return {(kind, value): record for record, kind, value in replay(entries)}


def store_of(tmp_path, entries: list[dict]) -> LocalStore:
    store = LocalStore(tmp_path / "store.db")
    for first in range(0, len(entries), 500):
        store.apply(entries[first:first + 500], first)
    return store


def assert_index_is(index: MatchIndex, entries: list[dict]) -> None:
    """Every active signal matches its own record at distance 0; nothing deleted does."""
    active = active_set(entries)
    assert len(index) == len(active)
    by_type: dict[str, list[tuple[str, str]]] = {}
    for (kind, value), record in active.items():
        by_type.setdefault(kind, []).append((value, record))
    for kind, pairs in by_type.items():
        found = index.match_values(kind, [value for value, _ in pairs])
        for (value, record), matches in zip(pairs, found, strict=True):
            assert (record, 0) in {(m.record_id, m.distance) for m in matches}, (kind, value)
    gone = [(e["type"], e["value"]) for e in entries if e["op"] == "delete" and (e["type"], e["value"]) not in active]
    for kind, value in gone[:200]:
        assert all(m.distance > 0 for m in index.match_values(kind, [value])[0])


@pytest.mark.parametrize("odd_ids", [False, True])
def test_an_index_built_from_columns_holds_the_active_set(tmp_path, odd_ids):
    entries = random_feed(1, 6_000, odd_ids)
    with store_of(tmp_path, entries) as store:
        assert_index_is(load_index(store), entries)


def test_the_columns_are_used_and_pieces_stay_paired(tmp_path):
    entries = random_feed(2, 3_000)
    with store_of(tmp_path, entries) as store:
        count, pieces = store.packed("pdq", ID_CHARS, 64, rows=97)  # many small pieces
        pieces = list(pieces)
        assert len(pieces) > 10
        ids = b"".join(i for i, _ in pieces).decode()
        values = b"".join(v for _, v in pieces).decode()
        expected = [(s.record_id, s.value) for s in store.signals() if s.type == "pdq"]
        assert count == len(expected)
        assert [(ids[i * 24:(i + 1) * 24], values[i * 64:(i + 1) * 64]) for i in range(count)] == expected
        index = MatchIndex(background=False)
        assert index.add_packed("pdq", count, pieces)
        assert len(index) == count


def test_a_store_with_an_odd_length_id_or_value_is_not_read_as_columns(tmp_path):
    entries = random_feed(3, 200)
    entries.append({"seq": 201, "op": "add", "id": "r_short", "type": "pdq", "value": "ab" * 32, "quality": 90})
    with store_of(tmp_path, entries) as store:
        assert store.packed("pdq", ID_CHARS, 64) is None
        assert store.packed("md5", ID_CHARS, 32) is not None
        assert_index_is(load_index(store), entries)


def test_an_id_of_24_characters_but_more_bytes_is_left_to_add_many(tmp_path):
    """SQLite counts characters: an id with a non-ASCII character passes the store's
    length check, and its bytes must then not shift every later id and value."""
    entries = random_feed(7, 300)
    entries.insert(5, {"seq": 0, "op": "add", "id": "r_" + "é" * 22, "type": "pdq", "value": "cd" * 32,
                       "quality": 90})
    for seq, entry in enumerate(entries, start=1):
        entry["seq"] = seq
    with store_of(tmp_path, entries) as store:
        count, pieces = store.packed("pdq", ID_CHARS, 64)
        assert not MatchIndex(background=False).add_packed("pdq", count, pieces)
        assert_index_is(load_index(store), entries)


def pieces_of(pairs: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [("".join(i for i, _ in pairs).encode(), "".join(v for _, v in pairs).encode())]


def test_columns_not_in_the_common_form_are_left_to_add_many():
    rng = random.Random(4)
    good = [(federation_id(rng), balanced_hex(rng, 64)) for _ in range(50)]
    cases = {
        "an id not in the federation's format": [*good, ("r_" + "!" * 22, balanced_hex(rng, 64))],
        "an id without its prefix": [*good, ("x_" + federation_id(rng)[2:], balanced_hex(rng, 64))],
        "uppercase hex": [*good, (federation_id(rng), balanced_hex(rng, 64).upper())],
        "not hex": [*good, (federation_id(rng), "g" * 64)],
        "an id twice": [*good, (good[0][0], balanced_hex(rng, 64))],
    }
    for why, pairs in cases.items():
        index = MatchIndex(background=False)
        assert not index.add_packed("pdq", len(pairs), pieces_of(pairs)), why
        assert len(index) == 0 and len(index.pdq) == 0, why
    index = MatchIndex(background=False)
    assert not index.add_packed("pdq", len(good) + 1, pieces_of(good)), "a count that does not add up"
    held = MatchIndex(background=False)
    held.add("r_" + "A" * 22, "md5", "ab" * 16)
    assert not held.add_packed("pdq", len(good), pieces_of(good)), "another id held: replacing is add_many's"
    held = MatchIndex(background=False)
    held.add_many("pdq", [good[0][0]], [good[0][1]])
    assert not held.add_packed("phash", 1, pieces_of([(good[0][0], "0f" * 8)])), "the same id held as pdq"
    assert len(held) == 1


def test_phash_columns_read_the_value_as_add_many_does():
    rng = random.Random(5)
    pairs = [(federation_id(rng), balanced_hex(rng, 16)) for _ in range(300)]
    packed, one_by_one = MatchIndex(background=False), MatchIndex(background=False)
    assert packed.add_packed("phash", len(pairs), pieces_of(pairs))
    one_by_one.add_many("phash", [i for i, _ in pairs], [v for _, v in pairs])
    assert np.array_equal(packed.phash._data[:300], one_by_one.phash._data[:300])
    query = f"{int(pairs[7][1], 16) ^ 0b1011:016x}"  # 3 bits away
    assert packed.match_values("phash", [query]) == one_by_one.match_values("phash", [query])
    assert packed.match_values("phash", [query])[0][0].record_id == pairs[7][0]


def test_ids_read_in_bulk_are_exactly_the_compact_ones():
    """The bulk decoder (C base64 when every id is compact) against base64url by hand."""
    from partners.records import compact_id_block, id_text

    def compact(text: str) -> bool:
        body = text[2:]
        return (text.startswith("r_") and len(body) == 22
                and all(c.isascii() and (c.isalnum() or c in "-_") for c in body)
                and base64.urlsafe_b64encode(base64.urlsafe_b64decode(body + "==")).rstrip(b"=").decode() == body)

    rng = random.Random(6)
    good = [federation_id(rng) for _ in range(40)]
    one = good[0]
    odd = ["r_+" + one[3:], "r_/" + one[3:], "r_A=" + one[4:], "r_\n" + one[3:], one[:-1] + "B",
           "s_" + one[2:], "r-" + one[2:], "r_" + "~" * 22, one[:-1] + "w"]
    assert all(len(i) == ID_CHARS for i in odd)
    assert [compact(i) for i in good] == [True] * 40
    # Each odd id alone among good ones too: one bad id must not pass with the block.
    for block in (good, good + odd, odd, *([*good[:5], i, *good[5:]] for i in odd)):
        words, ok = compact_id_block("".join(block).encode())
        assert ok.tolist() == [compact(i) for i in block]
        assert [id_text(w) for w, k in zip(words, ok, strict=True) if k] == [i for i in block if compact(i)]
