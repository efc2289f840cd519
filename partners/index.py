"""Exact near-duplicate search for PDQ (256-bit) and pHash (64-bit) hashes.

PDQ: multi-index hashing with the generalised pigeonhole principle
-------------------------------------------------------------------
Split the 256 bits into ``m`` disjoint chunks (m = 11 by default). If two hashes differ
in at most ``t`` bits (t = 31), their chunk distances ``d_i`` sum to at most ``t``;
so for any per-chunk radii ``r_i`` with ``sum(r_i) >= t - m + 1`` some chunk has
``d_i <= r_i`` (otherwise ``sum(d_i) >= sum(r_i) + m > t``). With m = 11 that is ten
chunks at radius 2 and one at radius 1. A query therefore probes, in each chunk's
table, its own chunk value and every value within the chunk's radius (277 probes for
a 23-bit chunk at radius 2), collects the rows stored under those values, and checks
the full Hamming distance of each candidate. Every true match is found: this is a
guarantee, not a probability, and the tests cross-check it against brute force.

Each chunk table is CSR: ``buckets`` (``2**bits + 1`` offsets, each packed with its
bucket's size so that a probe is one memory access) into ``postings`` (the row ids,
sorted by chunk value). Chunks may leave bits unindexed (11 x 23 = 253 of
256): the pigeonhole argument only needs the chunks to be disjoint. The chunk width
is chosen from the number of hashes so that a probe finds about one row (few
candidates) while the buckets stay within the memory budget (``MAX_BYTES_PER_HASH``):

=========  =====  ==================================================================
hashes     bits   bytes per hash: 32 hash + 44 postings + 44 * 2**bits / N buckets + 1
=========  =====  ==================================================================
1 M        20     123
10 M       23     114
=========  =====  ==================================================================

Searching is vectorised over a batch of queries, so Python's per-call overhead is
paid once per batch rather than once per probe.

Adds and deletes, without stalling a search
-------------------------------------------
A rebuild sorts every chunk (1.5-6 s per chunk per 10 M hashes), far too slow to
do per change, and far too slow to do inside a search, so:

* ``add`` appends rows. The newest (up to ``tail_rows``, more while a large delta
  exists) are scanned by brute force; past that, a *delta* index over all rows added
  since the last full rebuild is rebuilt (it is small, so this is cheap);
* ``remove`` clears the row's bit in ``alive``; every result is filtered by it, so a
  withdrawn hash stops matching in the very next search;
* when the rows added, or those removed, since the last full rebuild pass
  ``merge_fraction`` of the main index (and ``min_merge``), the main index is rebuilt
  over the live rows: removed rows then stop costing probe time.

Both rebuilds run in a background thread (``background=True``, the default) over a
snapshot of the rows, and the finished tables are swapped in with one assignment: a
search reads the current tables, the row count and the arrays once, and never waits
for a build, and a change is visible to the next search whatever is being built.
While a full rebuild runs (20-70 s at 10 M on two cores) the thread keeps the delta
fresh between chunks, so the brute-force tail stays short. With ``background=False``
the same work runs inside ``add`` and ``remove`` instead (tests, batch jobs).
Builds hold the GIL only briefly (large numpy operations release it), so searches in
other threads keep running; the cost is memory: during a full rebuild the old and new
tables coexist (about 80 bytes per hash more, for its duration).

Row ids are stable for the index's life (removed rows are never reused), so callers
can key their own records by them.

pHash and exact hashes
----------------------
``PHashIndex`` is a brute-force scan (64-bit XOR + popcount over a contiguous array):
pHash lists are small next to PDQ and the threshold is configurable, so no pigeonhole
set-up is needed. MD5 and SHA-256 match exactly: a dict (see partners.matching).
"""
from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from federation.rules import PDQ_MATCH_DISTANCE

PDQ_BITS = 256
PDQ_MAX_DISTANCE = PDQ_MATCH_DISTANCE
MAX_BYTES_PER_HASH = 128
_WORDS = PDQ_BITS // 64

_COUNT_BITS = 4  # low bits of a bucket entry holding its size (see _ChunkTables)
_COUNT_ESCAPE = (1 << _COUNT_BITS) - 1

SearchResult = tuple[np.ndarray, np.ndarray]  # (row ids int64, distances int64), by row


def pdq_words(values: Iterable[str]) -> np.ndarray:
    """PDQ hex strings (64 digits each) to an (n, 4) uint64 array, the index's format."""
    values = list(values)
    if not values:
        return np.zeros((0, _WORDS), dtype=np.uint64)
    try:
        raw = bytes.fromhex("".join(values))
    except ValueError as exc:
        raise ValueError("PDQ hashes must be 64 hex digits") from exc
    if len(raw) != 32 * len(values) or any(len(v) != 64 for v in values):
        raise ValueError("PDQ hashes must be 64 hex digits")
    return np.frombuffer(raw, dtype=np.uint64).reshape(-1, _WORDS).copy()


def words_to_hex(words: np.ndarray) -> list[str]:
    """Inverse of :func:`pdq_words`."""
    raw = np.ascontiguousarray(words, dtype=np.uint64).tobytes()
    return [raw[i:i + 32].hex() for i in range(0, len(raw), 32)]


def chunk_radii(chunks: int, max_distance: int) -> list[int]:
    """Per-chunk probe radii summing to ``max_distance - chunks + 1`` (the pigeonhole bound).

    The larger radii go first. E.g. 11 chunks, distance 31: ten 2s and one 1.
    """
    total = max_distance - chunks + 1
    if total < 0:
        return [-1] * chunks  # only possible with more chunks than distance + 1: no-op
    base, extra = divmod(total, chunks)
    return [base + 1 if i < extra else base for i in range(chunks)]


def choose_chunk_bits(count: int, chunks: int, max_bits: int | None = None, reserved_bytes: int = 0) -> int:
    """Widest chunk whose offsets fit the memory budget for ``count`` hashes.

    Budget per hash: 128 bytes minus the hash (32), the postings (4 per chunk), the
    tombstone (1) and ``reserved_bytes`` the caller keeps per hash (MatchIndex: 20 for
    its record ids); the offsets cost ``4 * chunks * 2**bits / count``.
    """
    max_bits = max_bits or PDQ_BITS // chunks
    budget = (MAX_BYTES_PER_HASH - 32 - 4 * chunks - 1 - reserved_bytes) * max(count, 1)
    bits = 1
    while bits < max_bits and 4 * chunks * 2 ** (bits + 1) <= budget:
        bits += 1
    return max(bits, 4)


def _chunk_column(words: np.ndarray, chunk: int, bits: int, rows: np.ndarray | None = None) -> np.ndarray:
    """Bits ``[chunk * bits, (chunk + 1) * bits)`` of each row (or of ``rows``) as uint32.

    Bit p is bit ``p % 64`` (least significant first) of word ``p // 64``.
    """
    start = chunk * bits
    word, offset = divmod(start, 64)
    value = (words[:, word] if rows is None else words[rows, word]) >> np.uint64(offset)
    if offset + bits > 64:
        value |= (words[:, word + 1] if rows is None else words[rows, word + 1]) << np.uint64(64 - offset)
    value &= np.uint64((1 << bits) - 1)
    return value.astype(np.uint32)


def _flip_masks(bits: int, radius: int) -> np.ndarray:
    """Every ``bits``-wide XOR mask of at most ``radius`` set bits (0 first)."""
    masks = [sum(1 << b for b in combo)
             for r in range(radius + 1) for combo in combinations(range(bits), r)]
    return np.array(masks, dtype=np.uint32)


_TAIL_PAIRS = 1 << 18  # (query, tail row) pairs compared per numpy call
_SLICE = 1 << 20  # rows per numpy call in a build that would otherwise hold the GIL long


class _ChunkTables:
    """Immutable multi-index over a fixed set of rows of a word array."""

    def __init__(self, words: np.ndarray, rows: np.ndarray, chunks: int, max_distance: int,
                 bits: int | None = None, reserved_bytes: int = 0,
                 between_chunks: Callable[[], None] | None = None) -> None:
        count = len(rows)
        self.bits = bits or choose_chunk_bits(count, chunks, reserved_bytes=reserved_bytes)
        if self.bits * chunks > PDQ_BITS:
            raise ValueError(f"{chunks} chunks of {self.bits} bits exceed {PDQ_BITS} bits")
        if chunks * count >= 2 ** 32 or count >= 2 ** (32 - _COUNT_BITS):
            raise ValueError("too many hashes for 32-bit postings")
        self.chunks = chunks
        self.count = count
        table = (1 << self.bits) + 1
        self.postings = np.empty(chunks * count, dtype=np.uint32)
        # One uint32 per bucket: the bucket's first posting (relative to its chunk) in
        # the high bits and its size, capped at _COUNT_ESCAPE, in the low bits. A probe
        # then costs one random memory access instead of two (start and next start);
        # the rare bucket at the cap reads the next entry's start for its true size.
        self.buckets = np.empty(chunks * table, dtype=np.uint32)
        for chunk in range(chunks):
            # Gathered per word from the full array: no (count, 4) copy of the hashes.
            values = _chunk_column(words, chunk, self.bits, rows)
            # Sorted by (value, row), so rows ascend within a bucket and gathers walk memory
            # forward: one sort of unique 64-bit keys (vectorised, ~10x a stable argsort).
            keys = values.astype(np.uint64)
            keys <<= np.uint64(32)
            keys |= rows
            keys.sort()
            self.postings[chunk * count:(chunk + 1) * count] = keys  # the low 32 bits: the row
            del keys
            # bincount holds the GIL for its whole run: in slices, so that searches in
            # other threads wait milliseconds at most while a large index is built.
            sizes = np.zeros(1 << self.bits, dtype=np.int64)
            for first in range(0, count, _SLICE):
                sizes += np.bincount(values[first:first + _SLICE], minlength=1 << self.bits)
            starts = np.zeros(table, dtype=np.uint32)
            _cumsum_in_slices(sizes, starts[1:])
            packed = starts << np.uint32(_COUNT_BITS)
            packed[:-1] |= np.minimum(sizes, _COUNT_ESCAPE).astype(np.uint32)
            self.buckets[chunk * table:(chunk + 1) * table] = packed
            del values, sizes, starts, packed
            if between_chunks is not None:
                between_chunks()
        # Where each chunk lies in a row's four words, to cut every chunk of a batch of
        # queries at once (a few numpy calls, not four per chunk).
        first_bits = np.arange(chunks) * self.bits
        self._word = first_bits // 64
        self._offset = (first_bits % 64).astype(np.uint64)
        spills = (first_bits % 64) + self.bits > 64
        self._next_word = np.where(spills, self._word + 1, self._word)
        self._back = np.where(spills, 64 - first_bits % 64, 0).astype(np.uint64)
        self._spill_mask = np.where(spills, np.uint64(2 ** 64 - 1), np.uint64(0)).astype(np.uint64)
        self._chunk_mask = np.uint64((1 << self.bits) - 1)
        radii = chunk_radii(chunks, max_distance)
        masks = [_flip_masks(self.bits, r) if r >= 0 else np.zeros(0, np.uint32) for r in radii]
        self.probe_chunk = np.concatenate(
            [np.full(len(m), c, dtype=np.intp) for c, m in enumerate(masks)])
        self.probe_mask = np.concatenate(masks)
        self.probe_base = (self.probe_chunk * table).astype(np.int64)
        self.probe_posting_base = (self.probe_chunk * count).astype(np.int64)

    @property
    def nbytes(self) -> int:
        return self.postings.nbytes + self.buckets.nbytes

    def chunk_values(self, query_words: np.ndarray) -> np.ndarray:
        """(queries, chunks) uint32: each chunk's value, as ``_chunk_column`` cuts it."""
        low = query_words[:, self._word] >> self._offset
        high = (query_words[:, self._next_word] << self._back) & self._spill_mask
        return ((low | high) & self._chunk_mask).astype(np.uint32)

    def candidates(self, query_words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows sharing a probed chunk value with each query: (rows, count per query).

        The rows of query 0 come first, then those of query 1, and so on.
        """
        queries = len(query_words)
        values = self.chunk_values(query_words)
        probes = np.take(values, self.probe_chunk, axis=1)
        probes ^= self.probe_mask
        probes = probes.astype(np.int64).ravel()
        probes += np.tile(self.probe_base, queries) if queries > 1 else self.probe_base
        packed = np.take(self.buckets, probes)
        counts = (packed & np.uint32(_COUNT_ESCAPE)).astype(np.int64)
        starts = (packed >> np.uint32(_COUNT_BITS)).astype(np.int64)
        escaped = np.flatnonzero(counts == _COUNT_ESCAPE)
        if escaped.size:
            following = np.take(self.buckets, probes[escaped] + 1) >> np.uint32(_COUNT_BITS)
            counts[escaped] = following.astype(np.int64) - starts[escaped]
        starts += np.tile(self.probe_posting_base, queries) if queries > 1 else self.probe_posting_base
        ends = np.cumsum(counts)
        per_query = np.diff(ends.reshape(queries, -1)[:, -1], prepend=0)
        total = int(ends[-1]) if len(ends) else 0
        # Expand each [start, start + count) range: position = start + (i - range's first i).
        positions = np.repeat(starts - (ends - counts), counts)
        positions += np.arange(total)
        return np.take(self.postings, positions), per_query


class _TombstonedRows:
    """Append-only rows of hashes with a liveness mask: the storage both indexes share.

    Rows keep their number for life; removing one clears its bit (a tombstone), so a
    withdrawn hash stops matching at once without moving any other row.

    One writer at a time (callers serialise ``_append`` and ``_tombstone``); readers
    need no lock: a reader takes ``_size`` first, then the arrays, and a writer
    publishes grown arrays before the size that needs them.
    """

    def __init__(self, empty: np.ndarray) -> None:
        self._data = empty
        self._alive = np.zeros(0, dtype=bool)
        self._size = 0  # rows in use in _data / _alive (capacity may be larger)
        self._live = 0  # live rows, kept by the writer: len() is asked on every search

    def __len__(self) -> int:
        return self._live

    def is_alive(self, rows: Sequence[int] | np.ndarray) -> np.ndarray:
        """Whether each row still matches (False for a removed row)."""
        return self._alive[np.asarray(rows, dtype=np.int64)]

    def _append(self, values: np.ndarray) -> np.ndarray:
        """Store values (one per row) and return their row ids."""
        start, end = self._size, self._size + len(values)
        if end > len(self._data):
            # Grow by 1/16, not more: spare capacity counts against the bytes per hash.
            capacity = max(end, len(self._data) + len(self._data) // 16, 1024)
            data, alive = _grown(self._data, capacity), _grown(self._alive, capacity)
            data[start:end] = values
            alive[start:end] = True
            self._data, self._alive = data, alive
        else:
            self._data[start:end] = values
            self._alive[start:end] = True
        self._size = end
        self._live += len(values)
        return np.arange(start, end, dtype=np.int64)

    def _tombstone(self, rows: Sequence[int] | np.ndarray) -> int:
        """Clear these rows' live bits; returns how many were live. IndexError if out of range."""
        rows = np.asarray(rows, dtype=np.int64).ravel()
        if rows.size and (rows.min() < 0 or rows.max() >= self._size):
            raise IndexError("row id out of range")
        alive = self._alive
        live = np.unique(rows[alive[rows]])
        alive[live] = False
        self._live -= len(live)
        return len(live)


@dataclass(frozen=True)
class _Tables:
    """What a search reads: rows [0, main_end) through ``main`` (some may be newer than
    it: a full rebuild ran meanwhile), [main_end, delta_end) through ``delta``, and the
    rest by brute force. Replaced whole, never changed."""

    main: _ChunkTables | None = None
    main_end: int = 0
    delta: _ChunkTables | None = None
    delta_end: int = 0


class PDQIndex(_TombstonedRows):
    """All stored PDQ hashes within ``max_distance`` bits of a query, exactly.

    Rows are numbered from 0 in the order added and keep their number. Searches may
    run in any number of threads alongside one writer (``add``, ``remove``); they never
    build tables (see the module docstring).
    """

    def __init__(self, max_distance: int = PDQ_MAX_DISTANCE, chunks: int = 11,
                 merge_fraction: float = 0.05, min_merge: int = 100_000,
                 tail_rows: int = 1024, background: bool = True, reserved_bytes: int = 0) -> None:
        if not 0 <= max_distance < PDQ_BITS:
            raise ValueError("max_distance must be in 0..255")
        self.max_distance = max_distance
        self.chunks = chunks
        self.merge_fraction = merge_fraction
        self.min_merge = min_merge
        self.tail_rows = tail_rows  # newest rows scanned by brute force, not yet in a table
        self.background = background
        self.reserved_bytes = reserved_bytes
        super().__init__(np.zeros((0, _WORDS), dtype=np.uint64))
        _keep_large_arrays_out_of_the_heap()
        self._tables = _Tables()
        self._removed_since_rebuild = 0
        self._lock = threading.Lock()  # guards the counters and the builder's hand-over
        self._build_lock = threading.Lock()  # one build at a time
        self._builder: threading.Thread | None = None
        self.build_error: BaseException | None = None  # the last background build's failure
        self._rebuild_asked = False
        self._holds = 0
        self.builds = {"full": 0, "delta": 0}  # tables built so far (for benchmarks, monitoring)

    @classmethod
    def from_words(cls, words: np.ndarray, **options) -> PDQIndex:
        """Build at once from an (n, 4) uint64 array: rows 0..n-1, exactly sized."""
        index = cls(**options)
        index._data = np.ascontiguousarray(words, dtype=np.uint64).reshape(-1, _WORDS).copy()
        index._alive = np.ones(len(index._data), dtype=bool)
        index._size = index._live = len(index._data)
        index.rebuild()
        return index

    @property
    def nbytes(self) -> int:
        """Bytes held: hashes, tombstones, and both indexes' postings and buckets."""
        tables = self._tables
        return self._data.nbytes + self._alive.nbytes + sum(
            t.nbytes for t in (tables.main, tables.delta) if t is not None)

    @property
    def main_count(self) -> int:
        """Rows in the main tables (live when they were built)."""
        return self._tables.main.count if self._tables.main else 0

    @property
    def delta_count(self) -> int:
        return self._tables.delta.count if self._tables.delta else 0

    def add(self, words: np.ndarray) -> np.ndarray:
        """Append (n, 4) uint64 hashes (see :func:`pdq_words`); returns their row ids.

        They match from the next search on."""
        with self._lock:
            rows = self._append(np.asarray(words, dtype=np.uint64).reshape(-1, _WORDS))
        self._maintain()
        return rows

    def remove(self, rows: Sequence[int] | np.ndarray) -> int:
        """Stop matching these rows from the next search on; returns how many were live."""
        with self._lock:
            removed = self._tombstone(rows)
            self._removed_since_rebuild += removed
        self._maintain()
        return removed

    def words(self, rows: Sequence[int] | np.ndarray) -> np.ndarray:
        return self._data[np.asarray(rows, dtype=np.int64)]

    # --- building ----------------------------------------------------------------------

    def rebuild(self) -> None:
        """Index every live row in the main tables now, in this thread (drops removed
        rows from them). Searches in other threads go on meanwhile."""
        with self._build_lock:
            self._full_rebuild(between_chunks=None)

    @contextmanager
    def builds_held(self) -> Iterator[None]:
        """Postpone building while loading many batches, then build once (in the
        background if so configured). Searches meanwhile scan the new rows by brute force."""
        with self._lock:
            self._holds += 1
        try:
            yield
        finally:
            with self._lock:
                self._holds -= 1
            self._maintain()

    def rebuild_in_background(self) -> None:
        """Start a full rebuild now (say, when idle) in the background; searches go on."""
        with self._lock:
            self._rebuild_asked = True
        self._maintain()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for background building to finish; True if none is running."""
        builder = self._builder
        if builder is not None:
            builder.join(timeout)
        return self._builder is None or not self._builder.is_alive()

    def _work(self) -> str | None:
        """What the tables need now: "rebuild", "delta" or None. Caller holds _lock."""
        tables = self._tables
        threshold = max(self.min_merge, self.merge_fraction * self.main_count)
        if self._holds:
            return None
        if self._rebuild_asked:
            return "rebuild"
        if self._size - tables.main_end > threshold or self._removed_since_rebuild > threshold:
            return "rebuild"
        if self._size - tables.delta_end > self._tail_limit(tables):
            return "delta"
        return None

    def _tail_limit(self, tables: _Tables) -> int:
        # A large delta is rebuilt less often: a longer tail costs microseconds per search,
        # rebuilding a 500 k-row delta every thousand adds would cost a core.
        delta = tables.delta.count if tables.delta else 0
        return max(self.tail_rows, min(4 * self.tail_rows, delta // 8))

    def _maintain(self) -> None:
        if not self.background:
            with self._build_lock:
                self._run_work()
            return
        with self._lock:
            if self._builder is not None or self._work() is None:
                return
            self._builder = threading.Thread(target=self._build_in_background, name="pdq-index-build",
                                             daemon=True)
            self._builder.start()

    def _build_in_background(self) -> None:
        # Not at a lower CPU priority: a niced builder holding the GIL for a few
        # milliseconds of Python is then descheduled on a busy machine, and every search
        # waits for it (priority inversion through the GIL: a 63 s stall, measured).
        try:
            with self._build_lock:
                self._run_work()
        except BaseException as error:  # noqa: BLE001 - kept for the owner; searches go on with the old tables
            self.build_error = error
        finally:
            with self._lock:
                self._builder = None
                again = self._work() is not None and self.build_error is None
            if again:  # work that arrived after the last check
                self._maintain()

    def _run_work(self) -> None:
        """Do what the tables need until nothing is left. Caller holds _build_lock."""
        while True:
            with self._lock:
                work = self._work()
            if work is None:
                return
            if work == "rebuild":
                self._full_rebuild(between_chunks=self._refresh_small_delta if self.background else None)
            else:
                self._refresh_delta()

    def _full_rebuild(self, between_chunks: Callable[[], None] | None) -> None:
        with self._lock:
            size, data = self._size, self._data
            removed_before = self._removed_since_rebuild
            self._rebuild_asked = False
            live = np.flatnonzero(self._alive[:size]).astype(np.uint32)
        main = _ChunkTables(data, live, self.chunks, self.max_distance,
                            reserved_bytes=self.reserved_bytes, between_chunks=between_chunks)
        del live
        # Rows added while it was built get a delta of their own before the swap, so that
        # the first searches on the new tables do not brute-force a long tail.
        end = self._size
        delta = self._delta_over(size, end) if end - size > self.tail_rows else None
        with self._lock:
            self._tables = _Tables(main, size, delta, end if delta is not None else size)
            self._removed_since_rebuild -= removed_before
            self.builds["full"] += 1

    def _refresh_small_delta(self) -> None:
        """Between a full rebuild's chunks: keep the delta fresh, but not before the first
        main tables exist. Then the delta would cover every row being built (an index
        loaded in bulk: twice the work, measured), and searches go on over the tail."""
        if self._tables.main is not None:
            self._refresh_delta()

    def _refresh_delta(self) -> None:
        """Rebuild the delta over every row since the main tables, if the tail is long."""
        tables = self._tables
        end = self._size
        if end - tables.delta_end <= self._tail_limit(tables):
            return
        delta = self._delta_over(tables.main_end, end)
        with self._lock:
            if self._tables is tables:  # not replaced by a full rebuild meanwhile
                self._tables = _Tables(tables.main, tables.main_end, delta, end)
                self.builds["delta"] += 1

    def _delta_over(self, start: int, end: int) -> _ChunkTables | None:
        data = self._data
        rows = (start + np.flatnonzero(self._alive[start:end])).astype(np.uint32)
        if not len(rows):
            return None
        return _ChunkTables(data, rows, self.chunks, self.max_distance, reserved_bytes=self.reserved_bytes)

    # --- searching ---------------------------------------------------------------------

    def search(self, query: np.ndarray | str) -> SearchResult:
        """Rows within ``max_distance`` of one hash (hex or (4,) uint64), with distances."""
        if isinstance(query, str):
            query = pdq_words([query])
        return self.search_batch(np.asarray(query, dtype=np.uint64).reshape(1, _WORDS))[0]

    def search_batch(self, queries: np.ndarray, batch: int = 256) -> list[SearchResult]:
        """For each (4,) uint64 query row: (row ids, distances) of all stored matches.

        Rows come sorted ascending. Queries are processed ``batch`` at a time to
        bound temporary memory (about 100 KB per query at 10 M hashes).
        """
        queries = np.ascontiguousarray(queries, dtype=np.uint64).reshape(-1, _WORDS)
        # One consistent view: tables, then the size, then the arrays (see _TombstonedRows).
        tables = self._tables
        size = self._size
        data, alive = self._data, self._alive
        results: list[SearchResult] = []
        for first in range(0, len(queries), batch):
            block = queries[first:first + batch]
            query_index, rows, distances = self._matches(block, tables, size, data, alive)
            if len(block) == 1:
                results.append((rows, distances))
                continue
            bounds = np.searchsorted(query_index, np.arange(len(block) + 1)).tolist()
            results.extend((rows[bounds[q]:bounds[q + 1]], distances[bounds[q]:bounds[q + 1]])
                           for q in range(len(block)))
        return results

    def _matches(self, block: np.ndarray, tables: _Tables, size: int, data: np.ndarray,
                 alive: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(query index, row, distance) of every live match, deduplicated, sorted."""
        found_q, found_rows, found_distances = [], [], []
        for table in (tables.main, tables.delta):
            if table is None:
                continue
            rows, per_query = table.candidates(block)
            rows = rows.astype(np.intp)
            distances = _distances(np.take(data, rows, axis=0),
                                   np.repeat(block, per_query, axis=0) if len(block) > 1 else block)
            keep = np.flatnonzero(distances <= self.max_distance)
            keep = keep[alive[rows[keep]]]
            found_q.append(np.searchsorted(np.cumsum(per_query), keep, side="right"))
            found_rows.append(rows[keep])
            found_distances.append(distances[keep])
        if size > tables.delta_end:  # the newest rows: brute force, a few queries at a time
            tail = data[tables.delta_end:size]
            by_word = np.ascontiguousarray(tail.T)
            step = max(1, _TAIL_PAIRS // len(tail))  # bounds the (queries x tail) temporaries
            for first in range(0, len(block), step):
                part = block[first:first + step]
                distances = _tail_distances(part, by_word)
                keep = np.flatnonzero(distances <= self.max_distance)
                query_index, offset = np.divmod(keep, len(tail))
                live = alive[tables.delta_end + offset]
                found_q.append(first + query_index[live])
                found_rows.append(tables.delta_end + offset[live])
                found_distances.append(distances[keep][live])
        if not found_q:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty
        # A true match is usually found through several chunks: keep it once.
        pairs = np.concatenate(found_q) * (1 << 40) + np.concatenate(found_rows)
        pairs, firsts = np.unique(pairs, return_index=True)
        return pairs >> 40, pairs & ((1 << 40) - 1), np.concatenate(found_distances)[firsts]


def _distances(stored: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Row-wise Hamming distance of two (n, 4) uint64 arrays, as int64.

    ``bitwise_count`` gives four bytes per row; summing a 4-wide last axis with
    ``.sum`` is slow in numpy, so the bytes are added as 16-bit lanes of a uint32.
    """
    np.bitwise_xor(stored, queries, out=stored)
    lanes = np.bitwise_count(stored).view(np.uint32).ravel()
    lanes = (lanes & 0x00FF00FF) + ((lanes >> 8) & 0x00FF00FF)
    return ((lanes & 0xFFFF) + (lanes >> 16)).astype(np.int64)


def _tail_distances(queries: np.ndarray, by_word: np.ndarray) -> np.ndarray:
    """Hamming distance of every (query, row) pair, query-major, as int64: ``by_word`` is
    the rows' (4, n) transpose. Each word is compared by broadcasting, with no (pairs, 4)
    copies of the queries and rows (10x faster for a batch of 16 against 2,000 rows)."""
    total = np.bitwise_count(queries[:, 0:1] ^ by_word[0]).astype(np.uint16)  # up to 256: not uint8
    for word in range(1, _WORDS):
        total += np.bitwise_count(queries[:, word:word + 1] ^ by_word[word])
    return total.ravel().astype(np.int64)


def _cumsum_in_slices(values: np.ndarray, out: np.ndarray) -> None:
    """``np.cumsum(values, out=out)``, in slices: cumsum holds the GIL for its whole run."""
    carry = 0
    for first in range(0, len(values), _SLICE):
        part = out[first:first + _SLICE]
        np.cumsum(values[first:first + _SLICE], out=part)
        part += carry
        carry = int(part[-1]) if len(part) else carry


_MMAP_THRESHOLD = 1 << 20
_malloc_tuned = False


def _keep_large_arrays_out_of_the_heap() -> None:
    """Have glibc map every allocation of 1 MiB or more on its own (once per process).

    By default glibc raises that threshold to 32 MiB after the first large free, so a
    build's temporaries (4-80 MB each) land in the heap, which fragments and keeps them:
    the process grew by 208 bytes per hash at 1 M hashes, against 123 with this. The
    MALLOC_MMAP_THRESHOLD_ environment variable, if set, wins.
    """
    global _malloc_tuned
    if _malloc_tuned or os.environ.get("MALLOC_MMAP_THRESHOLD_"):
        return
    _malloc_tuned = True
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, _MMAP_THRESHOLD)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):  # not glibc: its allocator's own policy applies
        pass


def _grown(array: np.ndarray, capacity: int) -> np.ndarray:
    grown = np.zeros((capacity, *array.shape[1:]), dtype=array.dtype)
    grown[:len(array)] = array
    return grown


class PHashIndex(_TombstonedRows):
    """pHash (64-bit) near-duplicates within ``max_distance`` bits, by brute force.

    A scan is one XOR and popcount per stored hash (about 1 ms per query per
    million hashes); deletes clear a tombstone. Rows keep their number.
    """

    def __init__(self, max_distance: int = 8) -> None:
        if not 0 <= max_distance < 64:
            raise ValueError("max_distance must be in 0..63")
        self.max_distance = max_distance
        super().__init__(np.zeros(0, dtype=np.uint64))

    @property
    def nbytes(self) -> int:
        return self._data.nbytes + self._alive.nbytes

    def add(self, values: Iterable[str] | np.ndarray) -> np.ndarray:
        """Append 16-hex-digit pHashes (or uint64s); returns their row ids."""
        return self._append(phash_values(values))

    def remove(self, rows: Sequence[int] | np.ndarray) -> int:
        """Stop matching these rows at once; returns how many were live."""
        return self._tombstone(rows)

    def search(self, query: str | int) -> SearchResult:
        return self.search_batch(phash_values([query]))[0]

    def search_batch(self, queries: Iterable[str] | np.ndarray) -> list[SearchResult]:
        values, alive = self._data[:self._size], self._alive[:self._size]
        results = []
        for query in phash_values(queries):
            distances = np.bitwise_count(values ^ query).astype(np.int64)
            rows = np.flatnonzero((distances <= self.max_distance) & alive)
            results.append((rows, distances[rows]))
        return results


def phash_values(values: Iterable[str | int] | np.ndarray) -> np.ndarray:
    """16-hex-digit pHashes (or ints) to a uint64 array."""
    if isinstance(values, np.ndarray):
        return values.astype(np.uint64)
    out = []
    for value in values:
        if isinstance(value, str):
            if len(value) != 16:
                raise ValueError("pHash must be 16 hex digits")
            value = int(value, 16)
        out.append(value)
    return np.array(out, dtype=np.uint64)
