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

Memory: the PDQ index itself stays under 128 bytes per hash; on top of it this class
keeps, per record, its id string and a dict entry (roughly 150 bytes in CPython).
"""
from __future__ import annotations

import re
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

SIGNAL_PATTERNS = {kind: re.compile(rf"[0-9a-f]{{{n}}}") for kind, n in HEX_LENGTHS.items()}
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
                 min_pdq_quality: int = MIN_PDQ_QUALITY,
                 video_rule: VideoRule | None = None) -> None:
        self.min_pdq_quality = min_pdq_quality
        self.pdq = PDQIndex(max_distance=pdq_max_distance)
        self.phash = PHashIndex(max_distance=phash_max_distance)
        self.video_rule = video_rule or VideoRule()
        # Every frame of every reported video; row -> record id, record -> its rows.
        self.video_frames = PDQIndex(max_distance=self.video_rule.max_distance)
        self._video_row_records: list[str] = []
        self._video_rows: dict[str, np.ndarray] = {}
        self._exact: dict[str, dict[str, set[str]]] = {"md5": {}, "sha256": {}}
        # record id -> (signal type, row in its index, or the value for exact types)
        self._records: dict[str, tuple[str, int | str]] = {}
        self._row_records: dict[str, list[str]] = {"pdq": [], "phash": []}

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, record_id: object) -> bool:
        return record_id in self._records

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
        for record_id in record_ids:
            self.remove(record_id)
        if signal_type in self._exact:
            table = self._exact[signal_type]
            for record_id, value in zip(record_ids, values, strict=True):
                table.setdefault(value, set()).add(record_id)
                self._records[record_id] = (signal_type, value)
            return
        if signal_type == "pdq":
            rows = self.pdq.add(pdq_words(values))
        else:
            rows = self.phash.add(phash_values(values))
        self._row_records[signal_type].extend(record_ids)
        for record_id, row in zip(record_ids, rows.tolist(), strict=True):
            self._records[record_id] = (signal_type, row)

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
        for record_id in record_ids:
            self.remove(record_id)
        rows = self.video_frames.add(pdq_words(hashes)) if hashes else np.empty(0, dtype=np.int64)
        self._video_row_records.extend(owners)
        by_record: dict[str, list[int]] = {record_id: [] for record_id in record_ids}
        for owner, row in zip(owners, rows.tolist(), strict=True):
            by_record[owner].append(row)
        for record_id, video_rows in by_record.items():
            self._video_rows[record_id] = np.asarray(video_rows, dtype=np.int64)
            self._records[record_id] = ("vpdq", -1)

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
        query_hits: dict[str, int] = {}
        reported_hits: dict[str, set[int]] = {}
        for rows, _ in self.video_frames.search_batch(pdq_words(query)):
            reached = set()
            for row in rows.tolist():
                record_id = self._video_row_records[row]
                reported_hits.setdefault(record_id, set()).add(row)
                reached.add(record_id)
            for record_id in reached:
                query_hits[record_id] = query_hits.get(record_id, 0) + 1
        matches = []
        for record_id, hits in query_hits.items():
            total = len(self._video_rows[record_id])
            found = len(reported_hits[record_id])
            # Whole-number comparisons: 4 of 5 frames is 80%, never 79.99999.
            if hits * 100 >= rule.query_percent * len(query) and found * 100 >= rule.reported_percent * total:
                matches.append(VideoMatch(record_id, round(100 * hits / len(query), 1),
                                          round(100 * found / total, 1)))
        matches.sort(key=lambda m: (-m.query_percent, -m.reported_percent, m.record_id))
        return matches

    def remove(self, record_id: str) -> bool:
        """Stop matching a record at once (a withdrawal). Returns whether it was there."""
        entry = self._records.pop(record_id, None)
        if entry is None:
            return False
        if entry[0] == "vpdq":
            rows = self._video_rows.pop(record_id)
            if len(rows):
                self.video_frames.remove(rows)
            return True
        signal_type, key = entry
        if isinstance(key, str):  # md5, sha256: the value itself
            holders = self._exact[signal_type][key]
            holders.discard(record_id)
            if not holders:
                del self._exact[signal_type][key]
        elif signal_type == "pdq":  # a row of an index
            self.pdq.remove([key])
        else:
            self.phash.remove([key])
        return True

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

    def match_file(self, hashes: FileHashes) -> list[Match]:
        """Records whose MD5 or SHA-256 equals the file's."""
        matches = []
        for signal_type, value in (("md5", hashes.md5), ("sha256", hashes.sha256)):
            for record_id in sorted(self._exact[signal_type].get(value.lower(), ())):
                matches.append(Match(record_id, signal_type, 0))
        return matches

    def _row_matches(self, signal_type: str, rows: np.ndarray,
                     distances: np.ndarray) -> Iterable[Match]:
        records = self._row_records[signal_type]
        return (Match(records[row], signal_type, distance)
                for row, distance in zip(rows.tolist(), distances.tolist(), strict=True))


def _normalised(signal_type: str, value: str) -> str:
    pattern = SIGNAL_PATTERNS.get(signal_type)
    if pattern is None:
        raise ValueError(f"unknown signal type {signal_type!r}")
    value = value.strip().lower()
    if not pattern.fullmatch(value):
        raise ValueError(f"malformed {signal_type} value")
    return value
