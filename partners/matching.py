"""Match a platform's uploads against the federation's active signals.

A :class:`MatchIndex` holds every active signal the partner has synced, keyed by the
opaque record id the feed gives each (case, signal). The feed client calls ``add`` for
an ``add`` entry and ``remove`` for a ``delete`` entry; upload handling calls
``match_photo`` (with :func:`partners.hashing.hash_photo`'s output) or ``match_file``
(with :func:`partners.hashing.hash_file`'s output, for videos and other files).

Signal types and their rules:

* ``pdq``: within ``pdq_max_distance`` bits (31, the federation's rule), exact search
  through :class:`partners.index.PDQIndex`. An upload whose PDQ quality is below
  ``min_pdq_quality`` (50, as the federation refuses to store) is not PDQ-matched: a
  featureless image would match too much.
* ``phash``: within ``phash_max_distance`` bits of 64 (8 by default: the same fraction
  of the hash, about 12%, as PDQ's 31 of 256).
* ``md5``, ``sha256``: equal values.
* ``vpdq`` (a video as the PDQ of about one frame a second): every frame of every
  reported video goes into a second :class:`partners.index.PDQIndex`; an upload's
  frames are searched there, and each video they touch is a candidate to which the
  vPDQ rule is applied (:meth:`MatchIndex.match_video`, docs/video.md).

Memory: under 128 bytes per PDQ hash, record ids included. The PDQ index is sized
for it (``reserved_bytes``), and record ids of pHash and PDQ rows are held in numpy
arrays (partners.records: 20 bytes per row for the federation's ids). MD5 and SHA-256
records are few next to photos and stay in dicts.

Threads: one writer at a time (``add``, ``add_many``, ``remove``, ``remove_many`` take
a lock), and any number of matching threads, which take none: a removal is seen by
the next match, and no match waits for an index rebuild (partners.index).
"""
from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from federation.rules import (
    HEX_LENGTHS,
    MIN_PDQ_QUALITY,
    PHASH_MATCH_DISTANCE,
    VPDQ_MATCH_DISTANCE,
    VPDQ_MIN_QUALITY,
    VPDQ_QUERY_MATCH_PERCENT,
    VPDQ_REPORTED_MATCH_PERCENT,
)
from partners.hashing import FileHashes, PhotoHashes
from partners.index import PDQ_MAX_DISTANCE, PDQIndex, PHashIndex, pdq_words, phash_values
from partners.records import ID_CHARS, RecordIds, compact_id_block

SIGNAL_PATTERNS = {kind: re.compile(rf"[0-9a-f]{{{n}}}") for kind, n in HEX_LENGTHS.items()}
_HEX_DIGITS = b"0123456789abcdef"
PHASH_MAX_DISTANCE = PHASH_MATCH_DISTANCE


@dataclass(frozen=True, slots=True)
class Match:
    record_id: str
    signal_type: str
    distance: int  # Hamming distance in bits; 0 for md5 / sha256


@dataclass(frozen=True, slots=True)
class VideoRule:
    """The vPDQ rule's thresholds, the reference's by default (docs/video.md).

    Two frames match at Hamming distance <= `max_distance` (the reference's README and
    Python; its C++ tool counts < 31: pass 30 for that). Frames below `min_quality` take
    no part on either side. A query matches a reported video when at least
    `query_percent` of its frames found a match among the video's, and at least
    `reported_percent` of the video's frames found one among the query's.
    """

    max_distance: int = VPDQ_MATCH_DISTANCE
    min_quality: int = VPDQ_MIN_QUALITY
    query_percent: float = VPDQ_QUERY_MATCH_PERCENT
    reported_percent: float = VPDQ_REPORTED_MATCH_PERCENT


@dataclass(frozen=True, slots=True)
class VideoMatch:
    record_id: str
    query_percent: float     # of the upload's usable frames, those found in the reported video
    reported_percent: float  # of the reported video's frames, those found in the upload
    signal_type: str = "vpdq"


class MatchIndex:
    """Active signals by record id, searchable by an upload's hashes."""

    def __init__(self, pdq_max_distance: int = PDQ_MAX_DISTANCE,
                 phash_max_distance: int = PHASH_MAX_DISTANCE,
                 min_pdq_quality: int = MIN_PDQ_QUALITY, background: bool = True,
                 video_rule: VideoRule | None = None) -> None:
        self.min_pdq_quality = min_pdq_quality
        # 20 bytes per hash go to its record id (partners.records): the index leaves them.
        self.pdq = PDQIndex(max_distance=pdq_max_distance, background=background, reserved_bytes=20)
        self.phash = PHashIndex(max_distance=phash_max_distance)
        # value -> record ids holding it (a tuple: replaced, never changed, so readers need no lock)
        self._exact: dict[str, dict[str, tuple[str, ...]]] = {"md5": {}, "sha256": {}}
        self._exact_records: dict[str, tuple[str, str]] = {}  # record id -> (type, value)
        self._row_records: dict[str, RecordIds] = {"pdq": RecordIds(), "phash": RecordIds()}
        self.video_rule = video_rule or VideoRule()
        # Every frame of every reported video; row -> record id, record -> its rows
        # (replaced, never changed in place, so readers need no lock).
        self.video_frames = PDQIndex(max_distance=self.video_rule.max_distance, background=background)
        self._video_row_records: list[str] = []
        self._video_rows: dict[str, np.ndarray] = {}
        self._count = 0
        self._write = threading.Lock()

    def __len__(self) -> int:
        return self._count

    def __contains__(self, record_id: object) -> bool:
        return isinstance(record_id, str) and (
            record_id in self._exact_records or record_id in self._video_rows
            or any(self._live_rows(t, [record_id])[0] for t in self._row_records))

    def add(self, record_id: str, signal_type: str, value: str) -> None:
        """Start matching a signal. Adding a record id again replaces its signal."""
        self.add_many(signal_type, [record_id], [value])

    def add_many(self, signal_type: str, record_ids: Sequence[str], values: Sequence[str]) -> None:
        """Add many signals of one type at once (one index append, not one per signal).

        Raises ValueError for an unknown type or a malformed value; nothing is added then.
        """
        if len(record_ids) != len(values):
            raise ValueError("record_ids and values differ in length")
        if len(set(record_ids)) != len(record_ids):
            raise ValueError("a record id appears twice")
        values = [_normalised(signal_type, value) for value in values]
        with self._write:
            if self._count:
                self._remove_many(record_ids)
            if signal_type in self._exact:
                table = self._exact[signal_type]
                for record_id, value in zip(record_ids, values, strict=True):
                    table[value] = (*table.get(value, ()), record_id)
                    self._exact_records[record_id] = (signal_type, value)
            else:
                # Ids first: a search that finds the new rows must be able to name them.
                self._row_records[signal_type].append(record_ids)
                if signal_type == "pdq":
                    self.pdq.add(pdq_words(values))
                else:
                    self.phash.add(phash_values(values))
            self._count += len(record_ids)

    def add_packed(self, signal_type: str, count: int, pieces: Iterable[tuple[bytes, bytes]]) -> bool:
        """:meth:`add_many` for `count` pdq or phash signals given as columns: pieces of
        record ids and values, each concatenated (ASCII), as
        :meth:`partners.store.LocalStore.packed` reads them. No Python object is made
        per signal: building a 10M index from a store takes seconds, not minutes.

        Only for the common case, checked first: every id in the federation's format,
        every value lowercase hex, no id repeated or already held. Returns False, having
        added nothing, otherwise; :meth:`add_many` then handles it (and names the error).
        """
        width = HEX_LENGTHS.get(signal_type)
        if signal_type not in self._row_records or width is None:
            raise ValueError(f"add_packed takes pdq or phash, not {signal_type!r}")
        ids = np.empty((count, 2), dtype=np.uint64)
        raw = bytearray(count * width // 2)
        filled = 0
        for id_text, values in pieces:
            n = len(values) // width
            if (filled + n > count or len(values) != n * width or len(id_text) != n * ID_CHARS
                    or values.translate(None, _HEX_DIGITS)):  # anything but lowercase hex left
                return False
            words, compact = compact_id_block(id_text)
            if not compact.all():
                return False
            ids[filled:filled + n] = words
            raw[filled * width // 2:(filled + n) * width // 2] = bytes.fromhex(values.decode("ascii"))
            filled += n
        if filled != count:
            return False
        if signal_type == "pdq":
            hashes = np.frombuffer(raw, dtype=np.uint64).reshape(-1, 4)
        else:  # a pHash is its 16 digits read as one big-endian number (phash_values)
            hashes = np.frombuffer(raw, dtype=">u8").astype(np.uint64)
        # Two ids with the same first word are almost surely the same id: leave it to add_many.
        first = np.sort(ids[:, 0])
        if count > 1 and (first[1:] == first[:-1]).any():
            return False
        with self._write:
            if self._exact_records or self._video_rows or any(
                    records.holds_any(first) for records in self._row_records.values()):
                return False  # replacing a held id is add_many's work
            self._row_records[signal_type].append_words(ids)  # ids first, as in add_many
            (self.pdq if signal_type == "pdq" else self.phash).add(hashes)
            self._count += count
        return True

    def add_video(self, record_id: str, frames: Sequence[tuple[str, int]]) -> None:
        """Start matching a reported video, given its frames as (PDQ hex, quality).
        Adding a record id again replaces it. Raises ValueError for a malformed frame."""
        self.add_videos([record_id], [frames])

    def add_videos(self, record_ids: Sequence[str], videos: Sequence[Sequence[tuple[str, int]]]) -> None:
        """Add many reported videos at once (one index append)."""
        if len(record_ids) != len(videos) or len(set(record_ids)) != len(record_ids):
            raise ValueError("record ids must be distinct, one per video")
        hashes, owners = [], []
        for record_id, frames in zip(record_ids, videos, strict=True):
            # The rule compares each video's distinct usable frames, as a set.
            usable = {_normalised("pdq", pdq) for pdq, quality in frames
                      if quality >= self.video_rule.min_quality}
            hashes += sorted(usable)
            owners += [record_id] * len(usable)
        with self._write:
            if self._count:
                self._remove_many(record_ids)
            # Ids first: a search that finds the new rows must be able to name them.
            self._video_row_records.extend(owners)
            rows = self.video_frames.add(pdq_words(hashes)) if hashes else np.empty(0, dtype=np.int64)
            by_record: dict[str, list[int]] = {record_id: [] for record_id in record_ids}
            for owner, row in zip(owners, rows.tolist(), strict=True):
                by_record[owner].append(row)
            for record_id, video_rows in by_record.items():
                self._video_rows[record_id] = np.asarray(video_rows, dtype=np.int64)
            self._count += len(record_ids)

    def match_video(self, frames: Sequence[tuple[str, int]]) -> list[VideoMatch]:
        """Reported videos an upload matches by the vPDQ rule, best first.

        `frames` are the upload's (PDQ hex, quality), about one a second
        (partners.video.hash_video). Every frame hash of every reported video is in one
        PDQ index, searched exactly; a video any query frame reached is a candidate, and
        both shares are counted from those search results: the same counts as the
        reference's pairwise comparison, since the index finds every pair within the
        distance.
        """
        rule = self.video_rule
        query = sorted({pdq.lower() for pdq, quality in frames if quality >= rule.min_quality})
        if not query or not len(self.video_frames):
            return []
        owners, rows_of = self._video_row_records, self._video_rows
        query_hits: dict[str, int] = {}
        reported_hits: dict[str, set[int]] = {}
        for rows, _ in self.video_frames.search_batch(pdq_words(query)):
            reached = set()
            for row in rows.tolist():
                record_id = owners[row]
                reported_hits.setdefault(record_id, set()).add(row)
                reached.add(record_id)
            for record_id in reached:
                query_hits[record_id] = query_hits.get(record_id, 0) + 1
        matches = []
        for record_id, hits in query_hits.items():
            video_rows = rows_of.get(record_id)
            if video_rows is None:  # removed while this search ran
                continue
            total, found = len(video_rows), len(reported_hits[record_id])
            # Whole-number comparisons: 4 of 5 frames is 80%, never 79.99999.
            if hits * 100 >= rule.query_percent * len(query) and found * 100 >= rule.reported_percent * total:
                matches.append(VideoMatch(record_id, round(100 * hits / len(query), 1),
                                          round(100 * found / total, 1)))
        matches.sort(key=lambda m: (-m.query_percent, -m.reported_percent, m.record_id))
        return matches

    def remove(self, record_id: str) -> bool:
        """Stop matching a record from the next match on (a withdrawal). Returns whether it was there."""
        return self.remove_many([record_id]) == 1

    def remove_many(self, record_ids: Sequence[str]) -> int:
        """:meth:`remove` for many records at once; returns how many were there."""
        with self._write:
            return self._remove_many(record_ids)

    def _remove_many(self, record_ids: Sequence[str]) -> int:
        removed = 0
        for record_id in record_ids:
            entry = self._exact_records.pop(record_id, None)
            if entry is not None:
                signal_type, value = entry
                holders = tuple(r for r in self._exact[signal_type][value] if r != record_id)
                if holders:
                    self._exact[signal_type][value] = holders
                else:
                    del self._exact[signal_type][value]
                removed += 1
            video_rows = self._video_rows.pop(record_id, None)
            if video_rows is not None:
                if len(video_rows):
                    self.video_frames.remove(video_rows)
                removed += 1
        for signal_type, index in (("pdq", self.pdq), ("phash", self.phash)):
            rows = [r for found in self._live_rows(signal_type, record_ids) for r in found]
            if rows:
                removed += index.remove(rows)
        self._count -= removed
        return removed

    def _live_rows(self, signal_type: str, record_ids: Sequence[str]) -> list[list[int]]:
        index = self.pdq if signal_type == "pdq" else self.phash
        found = self._row_records[signal_type].rows_of(record_ids)
        return [[r for r, live in zip(rows, index.is_alive(rows).tolist(), strict=True) if live] if rows else []
                for rows in found]

    def match_photo(self, hashes: PhotoHashes) -> list[Match]:
        """Records matching an upload's PDQ or pHash, nearest first."""
        return self.match_photos([hashes])[0]

    def match_photos(self, many: Sequence[PhotoHashes]) -> list[list[Match]]:
        """:meth:`match_photo` for many uploads, searched as one batch."""
        results: list[list[Match]] = [[] for _ in many]
        usable = [i for i, h in enumerate(many) if h.pdq_quality >= self.min_pdq_quality]
        if usable and len(self.pdq):
            found = self.pdq.search_batch(pdq_words(many[i].pdq.lower() for i in usable))
            for i, (rows, distances) in zip(usable, found, strict=True):
                results[i].extend(self._row_matches("pdq", rows, distances))
        if len(self.phash):
            found = self.phash.search_batch(phash_values(h.phash.lower() for h in many))
            for i, (rows, distances) in enumerate(found):
                results[i].extend(self._row_matches("phash", rows, distances))
        for matches in results:
            matches.sort(key=lambda m: (m.distance, m.signal_type, m.record_id))
        return results

    def match_values(self, signal_type: str, values: Sequence[str],
                     pdq_qualities: Sequence[int | None] | None = None) -> list[list[Match]]:
        """Records matching each hash of one type (nearest first), searched as one batch.

        A PDQ whose quality is given and below ``min_pdq_quality`` matches nothing.
        Raises ValueError for an unknown type or a malformed value.
        """
        values = [_normalised(signal_type, value) for value in values]
        results: list[list[Match]] = [[] for _ in values]
        if signal_type in self._exact:
            table = self._exact[signal_type]
            return [[Match(r, signal_type, 0) for r in sorted(table.get(v, ()))] for v in values]
        if signal_type == "pdq":
            qualities = pdq_qualities or [None] * len(values)
            usable = [i for i, q in enumerate(qualities) if q is None or q >= self.min_pdq_quality]
            if usable and len(self.pdq):
                found = self.pdq.search_batch(pdq_words(values[i] for i in usable))
                for i, (rows, distances) in zip(usable, found, strict=True):
                    results[i].extend(self._row_matches("pdq", rows, distances))
        elif len(self.phash):
            for i, (rows, distances) in enumerate(self.phash.search_batch(phash_values(values))):
                results[i].extend(self._row_matches("phash", rows, distances))
        for matches in results:
            matches.sort(key=lambda m: (m.distance, m.record_id))
        return results

    def match_file(self, hashes: FileHashes) -> list[Match]:
        """Records whose MD5 or SHA-256 equals the file's."""
        matches = []
        for signal_type, value in (("md5", hashes.md5), ("sha256", hashes.sha256)):
            for record_id in sorted(self._exact[signal_type].get(value.lower(), ())):
                matches.append(Match(record_id, signal_type, 0))
        return matches

    def _row_matches(self, signal_type: str, rows: np.ndarray,
                     distances: np.ndarray) -> Iterable[Match]:
        names = self._row_records[signal_type].ids_of(rows) if len(rows) else []
        return (Match(name, signal_type, distance)
                for name, distance in zip(names, distances.tolist(), strict=True))


def _normalised(signal_type: str, value: str) -> str:
    pattern = SIGNAL_PATTERNS.get(signal_type)
    if pattern is None:
        raise ValueError(f"unknown signal type {signal_type!r}")
    value = value.strip().lower()
    if not pattern.fullmatch(value):
        raise ValueError(f"malformed {signal_type} value")
    return value
