"""Record ids by row, in 20 bytes per row instead of a Python string and a dict entry.

The federation's record ids are ``r_`` and 22 base64url characters: 16 random bytes
(``secrets.token_urlsafe(16)``). Those are held as two uint64 per row (16 bytes), and
looked up through a permutation of the rows sorted by their first word (4 bytes per
row), rebuilt when the unsorted newest rows pass 1/16 of the sorted ones; the newest
rows are searched by a vectorised scan. Any other id (a test's ``r_1``, another
federation's format) is kept in two dicts: correct for every id, compact for the
federation's.

Rows are appended, never removed: the caller (partners.matching.MatchIndex) tells a
live row from a removed one with its index's tombstones. One writer at a time; readers
(``ids_of``) need no lock, as in partners.index.
"""
from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence

import numpy as np

_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_SEXTET = np.full(256, 255, dtype=np.uint8)
_SEXTET[np.frombuffer(_ALPHABET, dtype=np.uint8)] = np.arange(64, dtype=np.uint8)
ID_CHARS = 24  # "r_" + 22
_URLSAFE_TO_STANDARD = bytes.maketrans(b"-_", b"+/")


def compact_ids(ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(n, 2) uint64 words of each id in the federation's format, and which ids were.

    An id is compact only if it is "r_" + 22 base64url characters whose decoding encodes
    back to the same text (the last character carries 2 bits and 4 zero bits).
    """
    count = len(ids)
    words = np.zeros((count, 2), dtype=np.uint64)
    ok = np.array([len(i) == ID_CHARS and i.startswith("r_") and i.isascii() for i in ids], dtype=bool)
    if not ok.any():
        return words, ok
    chosen = np.flatnonzero(ok)
    text = ("".join(ids) if ok.all() else "".join(ids[i] for i in chosen.tolist())).encode("ascii")
    words[chosen], valid = compact_id_block(text)
    ok[chosen[~valid]] = False
    return words, ok


def compact_id_block(text: bytes) -> tuple[np.ndarray, np.ndarray]:
    """:func:`compact_ids` for ids given concatenated, ``ID_CHARS`` bytes each: their
    words (zeros where not compact) and which were compact, without a Python string
    per id."""
    if len(text) % ID_CHARS:
        raise ValueError(f"{len(text)} bytes are not a whole number of {ID_CHARS}-character ids")
    chars = np.frombuffer(text, dtype=np.uint8).reshape(-1, ID_CHARS)
    fast = _decoded_by_binascii(chars)
    if fast is not None:
        return fast
    prefixed = (chars[:, 0] == ord("r")) & (chars[:, 1] == ord("_"))
    sextets = _SEXTET[chars[:, 2:]]
    valid = prefixed & (sextets != 255).all(axis=1) & (sextets[:, 21] & 15 == 0)
    groups = sextets[:, :20].reshape(-1, 5, 4).astype(np.uint32)
    triples = (groups[..., 0] << 18) | (groups[..., 1] << 12) | (groups[..., 2] << 6) | groups[..., 3]
    raw = np.empty((len(chars), 16), dtype=np.uint8)
    raw[:, :15] = np.stack([triples >> 16, (triples >> 8) & 255, triples & 255], axis=-1).reshape(-1, 15)
    raw[:, 15] = (sextets[:, 20] << 2) | (sextets[:, 21] >> 4)
    words = raw.view(np.uint64).copy()
    words[~valid] = 0
    return words, valid


def _decoded_by_binascii(chars: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """compact_id_block's answer when every id is compact, decoded by the C base64 decoder
    (several times faster than the numpy one below); None if some id is not."""
    if not ((chars[:, 0] == ord("r")) & (chars[:, 1] == ord("_"))).all():
        return None
    # Each id's 22 characters and "AA" make 24, a whole number of base64 quanta: 18 bytes,
    # the 16 of the id, then the last character's 4 low bits (zero for a compact id) and 0.
    quanta = np.full((len(chars), 24), ord("A"), dtype=np.uint8)
    quanta[:, :22] = chars[:, 2:]
    text = quanta.tobytes()
    if b"+" in text or b"/" in text or b"=" in text:  # standard base64, not base64url
        return None
    try:
        raw = binascii.a2b_base64(text.translate(_URLSAFE_TO_STANDARD), strict_mode=True)
    except binascii.Error:  # a character of neither alphabet
        return None
    raw_rows = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 18)
    if raw_rows[:, 16].any():
        return None
    return np.ascontiguousarray(raw_rows[:, :16]).view(np.uint64), np.ones(len(chars), dtype=bool)


def id_text(words: np.ndarray) -> str:
    """Inverse of :func:`compact_ids` for one row."""
    return "r_" + base64.urlsafe_b64encode(np.ascontiguousarray(words, dtype=np.uint64).tobytes()).rstrip(
        b"=").decode()


class RecordIds:
    """The record id of every row of one index, and the rows of each id."""

    def __init__(self) -> None:
        self._words = np.zeros((0, 2), dtype=np.uint64)
        self._size = 0
        self._order = np.zeros(0, dtype=np.uint32)  # rows [0, len(_order)) by their first word
        self._other: dict[int, str] = {}  # row -> id, for ids not in the compact format
        self._other_rows: dict[str, list[int]] = {}

    def __len__(self) -> int:
        return self._size

    @property
    def nbytes(self) -> int:
        return self._words.nbytes + self._order.nbytes

    def append(self, ids: Sequence[str]) -> None:
        """Give rows len(self).. these ids, in order."""
        words, ok = compact_ids(ids)
        start = self._size
        for offset in np.flatnonzero(~ok).tolist():
            self._other[start + offset] = ids[offset]
            self._other_rows.setdefault(ids[offset], []).append(start + offset)
        self.append_words(words)

    def append_words(self, words: np.ndarray) -> None:
        """Give rows len(self).. the ids of these (n, 2) words (:func:`compact_ids`), in order."""
        start, end = self._size, self._size + len(words)
        if end > len(self._words):
            grown = np.zeros((max(end, len(self._words) + len(self._words) // 16, 1024), 2), dtype=np.uint64)
            grown[:start] = self._words[:start]
            grown[start:end] = words
            self._words = grown
        else:
            self._words[start:end] = words
        self._size = end
        if end - len(self._order) > max(4096, len(self._order) // 16):
            self._sort()

    def holds_any(self, first_words: np.ndarray) -> bool:
        """Whether some row's id may be one of these (sorted first words of ids): True
        for a first word that is held (the second is not compared), or an id not in the
        compact format held at all."""
        if self._other:
            return True
        if not self._size or not len(first_words):
            return False
        held = self._words[:self._size, 0]
        slots = np.searchsorted(first_words, held)
        return bool((first_words[np.minimum(slots, len(first_words) - 1)] == held).any())

    def _sort(self) -> None:
        # argsort releases the GIL: searches in other threads carry on meanwhile. Not a
        # stable sort (4x slower): rows_of sorts the few rows of an id itself.
        self._order = np.argsort(self._words[:self._size, 0]).astype(np.uint32)

    def ids_of(self, rows: Sequence[int] | np.ndarray) -> list[str]:
        """The id of each row."""
        rows = np.asarray(rows, dtype=np.int64)
        words = self._words[rows]
        other = self._other
        return [other[row] if row in other else id_text(word)
                for row, word in zip(rows.tolist(), words, strict=True)]

    def rows_of(self, ids: Sequence[str]) -> list[list[int]]:
        """Every row ever given each id (removed ones too), ascending."""
        words, ok = compact_ids(ids)
        found: list[list[int]] = [list(self._other_rows.get(i, ())) if not k else []
                                  for i, k in zip(ids, ok.tolist(), strict=True)]
        wanted = np.flatnonzero(ok)
        if not wanted.size:
            return found
        order, size = self._order, self._size
        first = self._words[:, 0]
        keys = words[wanted]
        # Sorted rows: a vectorised binary search on the first word, then a walk over
        # equal first words (almost always one) comparing the second.
        if len(order):
            low = np.zeros(len(wanted), dtype=np.int64)
            high = np.full(len(wanted), len(order), dtype=np.int64)
            while (active := low < high).any():
                middle = (low + high) // 2
                below = first[order[np.minimum(middle, len(order) - 1)]] < keys[:, 0]
                low = np.where(active & below, middle + 1, low)
                high = np.where(active & ~below, middle, high)
            # Only ids whose first word is there are walked in Python (new ids are not).
            starts = order[np.minimum(low, len(order) - 1)]
            present = (low < len(order)) & (first[starts] == keys[:, 0])
            for slot, position in zip(wanted[present].tolist(), low[present].tolist(), strict=True):
                key = words[slot]
                while position < len(order) and first[order[position]] == key[0]:
                    row = int(order[position])
                    if self._words[row, 1] == key[1] and row not in self._other:
                        found[slot].append(row)
                    position += 1
        tail_start = len(order)
        if size > tail_start:  # the newest rows, not yet sorted: one vectorised pass
            tail = self._words[tail_start:size]
            hits = np.flatnonzero(np.isin(tail[:, 0], keys[:, 0]))
            if hits.size:
                slots: dict[tuple[int, int], list[int]] = {(int(k[0]), int(k[1])): [] for k in keys}
                for index, key in zip(wanted.tolist(), keys, strict=True):
                    slots[(int(key[0]), int(key[1]))].append(index)
                for hit in hits.tolist():
                    if tail_start + hit in self._other:  # held as text; its words are zeros
                        continue
                    pair = (int(tail[hit, 0]), int(tail[hit, 1]))
                    for slot in slots.get(pair, ()):
                        found[slot].append(tail_start + hit)
        for rows in found:
            rows.sort()
        return found

