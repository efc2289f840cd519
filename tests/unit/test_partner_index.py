"""The partner kit's match indexes: exact against brute force, deletes applied at once."""
from __future__ import annotations

from itertools import combinations
from pathlib import Path

import numpy as np
import pytest

from partners.hashing import FileHashes, PhotoHashes
from partners.index import (
    MAX_BYTES_PER_HASH,
    PDQIndex,
    PHashIndex,
    choose_chunk_bits,
    chunk_radii,
    pdq_words,
    words_to_hex,
)
from partners.matching import Match, MatchIndex

MAX_DISTANCE = 31


def random_words(rng: np.random.Generator, count: int) -> np.ndarray:
    return rng.integers(0, 2**64, size=(count, 4), dtype=np.uint64)


def flip_bits(words: np.ndarray, bits: np.ndarray | list[int]) -> np.ndarray:
    """A copy of one (4,) hash with the given bit positions (0..255) inverted."""
    out = words.copy()
    for bit in bits:
        out[bit // 64] ^= np.uint64(1) << np.uint64(bit % 64)
    return out


def brute_force(stored: np.ndarray, alive: np.ndarray, query: np.ndarray,
                max_distance: int = MAX_DISTANCE) -> tuple[list[int], list[int]]:
    distances = np.bitwise_count(stored ^ query).sum(axis=1).astype(np.int64)
    rows = np.flatnonzero((distances <= max_distance) & alive)
    return rows.tolist(), distances[rows].tolist()


def as_lists(result) -> tuple[list[int], list[int]]:
    rows, distances = result
    return rows.tolist(), distances.tolist()


def test_planted_near_duplicates_at_every_distance_are_found_and_no_further():
    rng = np.random.default_rng(11)
    stored = random_words(rng, 20_000)
    index = PDQIndex.from_words(stored)
    queries, expected_row = [], []
    for distance in range(0, 41):
        for _ in range(8):
            row = int(rng.integers(len(stored)))
            queries.append(flip_bits(stored[row], rng.choice(256, distance, replace=False)))
            expected_row.append((row, distance))
    results = index.search_batch(np.array(queries))
    for (row, distance), (rows, distances) in zip(expected_row, results, strict=False):
        if distance <= MAX_DISTANCE:
            assert row in rows.tolist(), f"missed a match at distance {distance}"
            assert distances[rows.tolist().index(row)] == distance
        else:
            assert row not in rows.tolist(), f"returned a hash at distance {distance}"
        assert (distances <= MAX_DISTANCE).all()


@pytest.mark.parametrize("pattern", ["contiguous-start", "contiguous-end",
                                     "unindexed-bits", "every-eighth"])
def test_adversarial_spreads_of_31_bits_are_found(pattern):
    # The pigeonhole guarantee must hold however the 31 differing bits fall across
    # the chunks, including spreads that put 3 bits in as many chunks as possible.
    rng = np.random.default_rng(5)
    stored = random_words(rng, 5_000)
    index = PDQIndex.from_words(stored)
    spreads = {
        "contiguous-start": list(range(31)),
        "contiguous-end": list(range(225, 256)),
        "unindexed-bits": list(range(256 - 31, 256)),
        "every-eighth": list(range(0, 248, 8)),
    }
    flips = spreads[pattern]
    assert len(flips) == 31
    for row in (0, 1234, 4999):
        rows, _distances = index.search(flip_bits(stored[row], flips))
        assert row in rows.tolist()


def test_worst_case_spreads_across_chunks_are_found():
    # 31 differing bits spread as evenly as possible over the 11 chunks: 3 in nine
    # chunks and 2 in two, or 3 in ten and 1 in one, in every arrangement. Each
    # leaves exactly one chunk within its probe radius, so a radius too small anywhere
    # loses a match here.
    rng = np.random.default_rng(6)
    stored = random_words(rng, 5_000)
    index = PDQIndex.from_words(stored)
    bits, chunks = index._tables.main.bits, 11
    arrangements = []
    for light in combinations(range(chunks), 2):
        arrangements.append([2 if c in light else 3 for c in range(chunks)])
    for light in range(chunks):
        arrangements.append([1 if c == light else 3 for c in range(chunks)])
    queries, rows = [], []
    for counts in arrangements:
        assert sum(counts) == MAX_DISTANCE
        flips = [c * bits + int(k) for c, n in enumerate(counts)
                 for k in rng.choice(bits, n, replace=False)]
        row = int(rng.integers(len(stored)))
        queries.append(flip_bits(stored[row], flips))
        rows.append(row)
    for row, (found, distances) in zip(rows, index.search_batch(np.array(queries)), strict=False):
        assert found.tolist() == [row] and distances.tolist() == [MAX_DISTANCE]


def test_clustered_hashes_match_brute_force_exactly():
    # Many hashes near a few centres: every query has dozens of true matches at all
    # distances, so the index must return exactly the brute-force set, no more or less.
    rng = np.random.default_rng(3)
    centres = random_words(rng, 40)
    stored = []
    for i in range(12_000):
        centre = centres[i % len(centres)]
        stored.append(flip_bits(centre, rng.choice(256, int(rng.integers(0, 24)), replace=False)))
    stored = np.array(stored)
    index = PDQIndex.from_words(stored)
    queries = np.array([flip_bits(c, rng.choice(256, int(rng.integers(0, 20)), replace=False))
                        for c in centres for _ in range(3)])
    alive = np.ones(len(stored), dtype=bool)
    total = 0
    for query, result in zip(queries, index.search_batch(queries, batch=17), strict=False):
        want = brute_force(stored, alive, query)
        assert as_lists(result) == want
        total += len(want[0])
    assert total > 1000  # the test really exercised many matches


def test_corpus_haystack_and_needles_match_brute_force(corpus_dir: Path):
    folder = corpus_dir / "pdq-reference" / "reg-test-input"
    haystack = pdq_words(folder.joinpath("haystack.txt").read_text().split())
    needles = pdq_words(folder.joinpath("needles.txt").read_text().split())
    assert len(haystack) > 1000 and len(needles) == 100
    index = PDQIndex.from_words(haystack)
    alive = np.ones(len(haystack), dtype=bool)
    found = 0
    for needle, result in zip(needles, index.search_batch(needles), strict=False):
        want = brute_force(haystack, alive, needle)
        assert as_lists(result) == want
        found += bool(want[0])
    assert found > 0


@pytest.mark.parametrize("count", [1, 2, 7])
def test_tiny_indexes_match(count):
    # HMA's faiss-based index never matches when it holds a single hash; ours must.
    rng = np.random.default_rng(count)
    stored = random_words(rng, count)
    for index in (PDQIndex.from_words(stored), _added_one_by_one(stored)):
        for row in range(count):
            rows, distances = index.search(flip_bits(stored[row], [3, 100, 200]))
            assert rows.tolist() == [row] and distances.tolist() == [3]


def _added_one_by_one(stored: np.ndarray) -> PDQIndex:
    index = PDQIndex()
    for words in stored:
        index.add(words)
    return index


def test_hex_queries_and_single_search_agree_with_batch():
    rng = np.random.default_rng(8)
    stored = random_words(rng, 3_000)
    index = PDQIndex.from_words(stored)
    query = flip_bits(stored[42], [1, 2, 3, 250])
    assert as_lists(index.search(query)) == ([42], [4])
    assert as_lists(index.search(words_to_hex(query[None])[0])) == ([42], [4])
    assert as_lists(index.search_batch(query[None])[0]) == ([42], [4])


def test_removed_hashes_stop_matching_at_once_in_every_tier():
    rng = np.random.default_rng(9)
    index = PDQIndex(min_merge=3_000, tail_rows=500, background=False)
    stored = random_words(rng, 6_000)
    index.add(stored[:4_000])  # 4000 pending > min_merge: builds the main tables over rows 0..3999
    index.add(stored[4_000:5_000])  # 1000 pending > tail_rows: builds the delta tables
    index.add(stored[5_000:5_400])  # 400 newest: within tail_rows, scanned by brute force
    index.add(stored[5_400:])  # ... then the delta is rebuilt over rows 4000..5999
    assert index.main_count == 4_000 and index.delta_count == 2_000
    index.add(stored[:0])

    victims = [10, 3_999, 4_000, 4_500, 5_000, 5_999]  # main, delta
    near = np.array([flip_bits(stored[v], [7, 77]) for v in victims])
    assert [r.tolist() for r, _ in index.search_batch(near)] == [[v] for v in victims]
    assert index.remove(victims) == len(victims)
    assert index.remove(victims) == 0  # already gone
    assert all(len(rows) == 0 for rows, _ in index.search_batch(near))
    assert len(index) == 6_000 - len(victims)

    # Re-reporting a withdrawn image adds a new row, which matches.
    (new_row,) = index.add(stored[10][None]).tolist()
    assert index.search(near[0])[0].tolist() == [new_row]

    # Enough removals trigger a full rebuild that drops removed rows from the tables.
    index.remove(np.arange(20, 3_020))
    alive = np.ones(index._size, dtype=bool)
    alive[victims] = False
    alive[20:3_020] = False
    everything = np.concatenate([stored, stored[10][None]])
    queries = np.array([flip_bits(everything[r], [5]) for r in (0, 19, 20, 3_019, 3_020, 5_500, new_row)])
    for query, result in zip(queries, index.search_batch(queries), strict=False):
        assert as_lists(result) == brute_force(everything, alive, query)
    assert index.main_count == int(alive.sum())


def test_a_complement_256_bits_away_is_not_a_match_in_the_newest_rows():
    """The newest rows are compared word by word; four words of 64 differing bits sum
    to 256, which must not wrap around to 0 in a narrow counter."""
    rng = np.random.default_rng(12)
    stored = random_words(rng, 40)
    index = PDQIndex(background=False)
    index.add(stored)  # 40 rows: all in the brute-forced tail
    assert index.main_count == index.delta_count == 0
    complements = ~stored[:8]
    batch = np.concatenate([complements, stored[:3]])
    assert [rows.tolist() for rows, _ in index.search_batch(batch)] == [[]] * 8 + [[0], [1], [2]]
    assert index.search(complements[0])[0].tolist() == []


def test_an_index_loaded_in_bulk_is_built_once():
    """Between a full rebuild's chunks the delta is kept fresh, but not on the first
    build: there the delta would cover every row being built, the same work twice."""
    rng = np.random.default_rng(13)
    index = PDQIndex(tail_rows=1024, min_merge=1_000)
    with index.builds_held():
        index.add(random_words(rng, 20_000))
    assert index.wait(timeout=120)
    assert index.builds == {"full": 1, "delta": 0}
    assert index.main_count == 20_000


def test_adds_in_many_batches_match_brute_force_throughout():
    rng = np.random.default_rng(13)
    centres = random_words(rng, 20)
    index = PDQIndex(min_merge=2_000, tail_rows=300, background=False)
    stored = np.zeros((0, 4), dtype=np.uint64)
    for _step in range(12):
        batch = np.array([flip_bits(centres[int(rng.integers(20))],
                                    rng.choice(256, int(rng.integers(0, 30)), replace=False))
                          for _ in range(int(rng.integers(1, 700)))])
        rows = index.add(batch)
        assert rows.tolist() == list(range(len(stored), len(stored) + len(batch)))
        stored = np.concatenate([stored, batch])
        alive = np.ones(len(stored), dtype=bool)
        for query, result in zip(centres[:5], index.search_batch(centres[:5]), strict=False):
            assert as_lists(result) == brute_force(stored, alive, query)


def test_memory_stays_within_128_bytes_per_hash():
    rng = np.random.default_rng(1)
    count = 300_000
    index = PDQIndex.from_words(random_words(rng, count))
    assert index.nbytes / count <= MAX_BYTES_PER_HASH
    for count in (1_000_000, 10_000_000):  # without building: the layout's arithmetic
        bits = choose_chunk_bits(count, 11)
        per_hash = 32 + 1 + 11 * 4 + 11 * 4 * (2**bits + 1) / count
        assert per_hash <= MAX_BYTES_PER_HASH
        assert bits >= 20  # wide enough that a probe finds about one hash


def test_chunk_radii_satisfy_the_pigeonhole_bound():
    assert chunk_radii(11, 31) == [2] * 10 + [1]
    for chunks in range(1, 20):
        for distance in range(chunks - 1, 64):
            assert sum(chunk_radii(chunks, distance)) == distance - chunks + 1


@pytest.mark.parametrize("bad", ["abc", "g" * 64, "0" * 63, "0" * 65])
def test_malformed_pdq_hex_is_refused(bad):
    with pytest.raises(ValueError):
        pdq_words([bad])


# ---- pHash ---------------------------------------------------------------------------

def test_phash_index_matches_brute_force_and_applies_deletes():
    rng = np.random.default_rng(21)
    stored = rng.integers(0, 2**64, size=5_000, dtype=np.uint64)
    stored[100:200] = stored[0] ^ (np.uint64(1) << rng.integers(0, 64, 100).astype(np.uint64))
    index = PHashIndex(max_distance=6)
    index.add(stored)
    query = stored[0] ^ np.uint64(0b101)
    want = np.flatnonzero(np.bitwise_count(stored ^ query) <= 6)
    rows, distances = index.search(int(query))
    assert rows.tolist() == want.tolist() and len(want) > 50
    assert distances.tolist() == np.bitwise_count(stored[want] ^ query).tolist()
    index.remove(want[:10])
    assert index.search(f"{int(query):016x}")[0].tolist() == want[10:].tolist()


# ---- MatchIndex ----------------------------------------------------------------------

PDQ_A = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
PDQ_A_EDIT = "f8f8f0cee0f4a84f0637022a038f67f0b36e26d596621e1d33e6b39c4e9c9b22"  # 4 bits off


def test_match_index_finds_each_signal_type_and_forgets_withdrawals():
    index = MatchIndex()
    index.add("r_pdq", "pdq", PDQ_A)
    index.add("r_pdq_twin", "pdq", PDQ_A.upper())  # the same image reported twice
    index.add("r_phash", "phash", "aca29c1c33dc23d7")
    index.add("r_md5", "md5", "d35c785545392755e7e4164457657269")
    index.add("r_sha", "sha256", "b5b0799616df52d475a3968dc7e54f1d0724c912244ffa6175bc786375dd7298")
    assert len(index) == 5

    photo = PhotoHashes(pdq=PDQ_A_EDIT, pdq_quality=100, phash="aca29c1c33dc23d6")
    assert index.match_photo(photo) == [
        Match("r_phash", "phash", 1), Match("r_pdq", "pdq", 4), Match("r_pdq_twin", "pdq", 4)]
    file = FileHashes(md5="d35c785545392755e7e4164457657269",
                      sha256="b5b0799616df52d475a3968dc7e54f1d0724c912244ffa6175bc786375dd7298")
    assert index.match_file(file) == [Match("r_md5", "md5", 0), Match("r_sha", "sha256", 0)]

    assert index.remove("r_pdq") and index.remove("r_md5") and index.remove("r_phash")
    assert not index.remove("r_pdq")
    assert index.match_photo(photo) == [Match("r_pdq_twin", "pdq", 4)]
    assert index.match_file(file) == [Match("r_sha", "sha256", 0)]
    assert "r_pdq" not in index and "r_pdq_twin" in index


def test_low_quality_uploads_are_not_pdq_matched():
    index = MatchIndex()
    index.add("r_1", "pdq", PDQ_A)
    featureless = PhotoHashes(pdq=PDQ_A, pdq_quality=49, phash="0000000000000000")
    assert index.match_photo(featureless) == []
    assert index.match_photo(PhotoHashes(PDQ_A, 50, "0000000000000000")) == [Match("r_1", "pdq", 0)]


def test_adding_a_record_again_replaces_its_signal():
    index = MatchIndex()
    index.add("r_1", "pdq", PDQ_A)
    index.add("r_1", "pdq", "0" * 64)
    assert index.match_photo(PhotoHashes(PDQ_A, 100, "ffffffffffffffff")) == []
    assert len(index) == 1


@pytest.mark.parametrize("signal_type, value", [
    ("pdq", "xyz"), ("phash", "aca29c1c33dc23d"), ("md5", "0" * 31), ("sha1", "0" * 40)])
def test_bad_signals_are_refused_and_nothing_is_added(signal_type, value):
    index = MatchIndex()
    with pytest.raises(ValueError):
        index.add_many(signal_type, ["r_ok", "r_bad"], ["0" * 64 if signal_type == "pdq" else value, value])
    assert len(index) == 0


def test_batched_photo_matching_equals_one_by_one():
    rng = np.random.default_rng(4)
    stored = words_to_hex(random_words(rng, 2_000))
    index = MatchIndex()
    index.add_many("pdq", [f"r_{i}" for i in range(len(stored))], stored)
    uploads = [PhotoHashes(stored[i], 100, f"{i:016x}") for i in (0, 5, 1999)]
    uploads.append(PhotoHashes(words_to_hex(random_words(rng, 1))[0], 100, "0" * 16))
    batched = index.match_photos(uploads)
    assert batched == [index.match_photo(u) for u in uploads]
    assert [len(m) for m in batched] == [1, 1, 1, 0]


# ---- building in the background ------------------------------------------------------

def test_searches_go_on_while_a_full_rebuild_is_built():
    rng = np.random.default_rng(30)
    stored = random_words(rng, 300_000)
    index = PDQIndex.from_words(stored)
    queries = np.array([flip_bits(stored[r], [1, 90, 180]) for r in (0, 123_456, 299_999)])
    before = index._tables
    index.rebuild_in_background()
    during = 0
    while index._tables is before:  # bounded by the build: it swaps in when done
        results = index.search_batch(queries)
        assert [r.tolist() for r, _ in results] == [[0], [123_456], [299_999]]
        during += index._tables is before
    assert during >= 1, "no search finished while the rebuild was being built"
    assert index.wait(timeout=60) and index.build_error is None
    assert index.main_count == 300_000 and index.builds["full"] == 2


def test_changes_are_seen_by_the_next_search_whatever_is_being_built():
    rng = np.random.default_rng(31)
    centres = random_words(rng, 30)
    index = PDQIndex(min_merge=1_500, tail_rows=200)  # background builds, often
    stored = np.zeros((0, 4), dtype=np.uint64)
    alive = np.zeros(0, dtype=bool)
    for _step in range(40):
        batch = np.array([flip_bits(centres[int(rng.integers(30))],
                                    rng.choice(256, int(rng.integers(0, 30)), replace=False))
                          for _ in range(int(rng.integers(50, 400)))])
        index.add(batch)
        stored = np.concatenate([stored, batch])
        alive = np.concatenate([alive, np.ones(len(batch), dtype=bool)])
        victims = rng.choice(len(stored), 60, replace=False)
        index.remove(victims)
        alive[victims] = False
        for query, result in zip(centres[:6], index.search_batch(centres[:6]), strict=True):
            assert as_lists(result) == brute_force(stored, alive, query)
    assert index.wait(timeout=60) and index.build_error is None
    assert index.builds["full"] >= 2 and index.builds["delta"] >= 2


# ---- MatchIndex at scale: record ids in numpy, one writer and many readers -------------

def federation_ids(rng: np.random.Generator, count: int) -> list[str]:
    import base64

    raw = rng.integers(0, 256, size=(count, 16), dtype=np.uint8).tobytes()
    return ["r_" + base64.urlsafe_b64encode(raw[i:i + 16]).rstrip(b"=").decode() for i in range(0, 16 * count, 16)]


def test_match_index_holds_record_ids_within_128_bytes_per_hash():
    rng = np.random.default_rng(40)
    count = 300_000
    ids = federation_ids(rng, count)
    stored = random_words(rng, count)
    index = MatchIndex()
    index.add_many("pdq", ids, words_to_hex(stored))
    assert index.pdq.wait(timeout=120)
    held = index.pdq.nbytes + index._row_records["pdq"].nbytes
    assert held / count <= MAX_BYTES_PER_HASH
    for row in (0, 4_242, count - 1):
        near = words_to_hex(flip_bits(stored[row], [3, 33, 133])[None])[0]
        assert index.match_photo(PhotoHashes(near, 100, "0" * 16)) == [Match(ids[row], "pdq", 3)]
    assert ids[7] in index and index.remove(ids[7]) and ids[7] not in index
    assert index.remove_many([ids[8], ids[9], "r_unknown"]) == 2 and len(index) == count - 3


def test_other_id_formats_still_work_beside_the_compact_ones():
    index = MatchIndex()
    odd = ["r_1", "abc", "r_" + "A" * 21 + "B", "r_" + "é" * 22]  # the last two: 24 chars, not compact
    compact = "r_" + "A" * 21 + "Q"
    values = [words_to_hex(random_words(np.random.default_rng(i), 1))[0] for i in range(5)]
    index.add_many("pdq", [*odd, compact], values)
    for record_id, value in zip([*odd, compact], values, strict=True):
        assert index.match_photo(PhotoHashes(value, 100, "0" * 16)) == [Match(record_id, "pdq", 0)]
    index.add("r_1", "pdq", values[4])  # re-adding an id moves it
    assert {m.record_id for m in index.match_photo(PhotoHashes(values[4], 100, "0" * 16))} == {"r_1", compact}
    assert index.match_photo(PhotoHashes(values[0], 100, "0" * 16)) == []


def test_one_writer_and_many_readers_at_once():
    import threading

    rng = np.random.default_rng(41)
    ids = federation_ids(rng, 60_000)
    stored = random_words(rng, 60_000)
    index = MatchIndex()
    index.pdq.min_merge = 5_000  # background rebuilds while the readers read
    index.add_many("pdq", ids[:20_000], words_to_hex(stored[:20_000]))
    known = set(ids)
    errors: list[BaseException] = []
    stop = threading.Event()

    def read() -> None:
        queries = [PhotoHashes(h, 100, "0" * 16) for h in words_to_hex(stored[::997])]
        try:
            while not stop.is_set():
                for matches in index.match_photos(queries):
                    assert all(m.record_id in known for m in matches)
        except BaseException as error:  # noqa: BLE001 - handed to the test thread
            errors.append(error)

    readers = [threading.Thread(target=read) for _ in range(3)]
    for reader in readers:
        reader.start()
    try:
        for first in range(20_000, 60_000, 2_000):
            index.add_many("pdq", ids[first:first + 2_000], words_to_hex(stored[first:first + 2_000]))
            index.remove_many(ids[first - 20_000:first - 19_000])
    finally:
        stop.set()
        for reader in readers:
            reader.join()
    assert not errors, errors
    assert index.pdq.wait(timeout=120) and index.pdq.build_error is None
    removed = {i for first in range(20_000, 60_000, 2_000) for i in range(first - 20_000, first - 19_000)}
    assert len(index) == 60_000 - len(removed)
    for row in (0, 1_500, 25_000, 59_999):
        found = index.match_photo(PhotoHashes(words_to_hex(stored[row][None])[0], 100, "0" * 16))
        assert found == ([] if row in removed else [Match(ids[row], "pdq", 0)])


def test_record_ids_find_every_row_of_an_id_sorted_or_not():
    from partners.records import RecordIds

    rng = np.random.default_rng(42)
    ids = federation_ids(rng, 9_000)
    records = RecordIds()
    records.append(ids[:8_000])  # sorted (past 4096 unsorted rows)
    records.append([ids[5], "r_1", ids[8_500]])  # rows 8000-8002: the unsorted tail
    records.append(ids[8_000:])
    assert len(records._order) == 8_000
    assert records.rows_of([ids[5], "r_1", ids[8_500], ids[7_999], "r_" + "A" * 22]) == [
        [5, 8_000], [8_001], [8_002, 8_503], [7_999], []]
    assert records.ids_of([5, 8_000, 8_001, 8_502]) == [ids[5], ids[5], "r_1", ids[8_499]]
    index = MatchIndex()
    values = words_to_hex(random_words(rng, 2))
    index.add(ids[0], "pdq", values[0])
    index.add(ids[0], "pdq", values[1])  # the same compact id again: replaces
    assert index.match_photo(PhotoHashes(values[0], 100, "0" * 16)) == []
    assert index.match_photo(PhotoHashes(values[1], 100, "0" * 16)) == [Match(ids[0], "pdq", 0)]
    assert len(index) == 1
