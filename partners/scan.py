"""Walk paths and match each file against the local store's active signals."""
from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

from federation.rules import HEX_LENGTHS
from partners.hashing import ImageTooLarge, UnreadableImage, hash_file, hash_photo
from partners.matching import MatchIndex, VideoRule
from partners.records import ID_CHARS
from partners.store import LocalStore
from partners.video import VIDEO_SUFFIXES, VideoError, hash_video

PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff"})


def load_index(store: LocalStore, *, phash_distance: int = 8, video_rule: VideoRule | None = None) -> MatchIndex:
    """A match index over every active signal in the store, added per type in bulk.

    PDQ and pHash, nearly all of a large list, are read as columns when they can be
    (MatchIndex.add_packed: about 1 µs per signal, not 10); anything else, and any type
    whose ids or values are not in the common form, signal by signal."""
    index = MatchIndex(phash_max_distance=phash_distance, video_rule=video_rule)
    packed: set[str] = set()
    with index.pdq.builds_held():  # one build after every type is in, not one per add
        for signal_type in ("pdq", "phash"):
            columns = store.packed(signal_type, ID_CHARS, HEX_LENGTHS[signal_type])
            if columns is not None and index.add_packed(signal_type, *columns):
                packed.add(signal_type)
        by_type: dict[str, tuple[list[str], list[str]]] = defaultdict(lambda: ([], []))
        video_ids, videos = [], []
        for signal in store.signals(packed):
            if signal.type == "vpdq":
                video_ids.append(signal.record_id)
                videos.append([(f["pdq"], f["quality"]) for f in json.loads(signal.frames or "[]")])
                continue
            ids, values = by_type[signal.type]
            ids.append(signal.record_id)
            values.append(signal.value)
        for signal_type, (ids, values) in by_type.items():
            index.add_many(signal_type, ids, values)
    if video_ids:
        index.add_videos(video_ids, videos)
    return index


def iter_files(paths: Iterable[str]) -> Iterator[tuple[str, str | None]]:
    """(path, None) for every regular file under `paths`, or (path, warning) for what is skipped.

    Symbolic links are followed, but each directory is entered once (by device and inode),
    so a link back to a parent cannot loop.
    """
    seen: set[tuple[int, int]] = set()
    for top in paths:
        if not os.path.exists(top):
            yield top, "not found"
        elif os.path.isdir(top):
            yield from _walk(top, seen)
        else:
            yield top, None


def _walk(top: str, seen: set[tuple[int, int]]) -> Iterator[tuple[str, str | None]]:
    for root, dirs, files in os.walk(top, followlinks=True):
        stat = os.stat(root)
        if (stat.st_dev, stat.st_ino) in seen:
            dirs.clear()
            yield root, "directory already visited (symbolic link loop?)"
            continue
        seen.add((stat.st_dev, stat.st_ino))
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            yield (path, None) if os.path.isfile(path) else (path, "not a regular file")


def match_path(index: MatchIndex, path: str, video_mode: str = "exact") -> dict[str, Any]:
    """One JSON-able line: the file's matches, and why a photo could not be hashed if so."""
    line: dict[str, Any] = {"path": path, "matches": []}
    matches = list(index.match_file(hash_file(path)))
    if os.path.splitext(path)[1].lower() in PHOTO_SUFFIXES:
        try:
            matches += index.match_photo(hash_photo(path))
        except ImageTooLarge:
            line["error"] = "image_too_large"  # a decompression bomb: not decoded
        except UnreadableImage:
            line["error"] = "unreadable_image"
    line["matches"] = [{"record_id": m.record_id, "type": m.signal_type, "distance": m.distance}
                       for m in matches]
    if os.path.splitext(path)[1].lower() in VIDEO_SUFFIXES:
        found = match_video(index, path, video_mode)
        line["matches"] += found.pop("matches", [])
        line.update(found)
    return line


def match_video(index: MatchIndex, path: str, mode: str) -> dict[str, Any]:
    """vPDQ matches of a video file, after its MD5 and SHA-256 ones (which always apply)."""
    try:
        hashes = hash_video(path, mode=mode)
    except VideoError as error:
        return {"error": error.code}
    found = index.match_video([(f.pdq, f.quality) for f in hashes.frames])
    extra: dict[str, Any] = {"frames": len(hashes.frames)}
    if not hashes.complete:
        extra["warning"] = "damaged_video"  # the frames before the damage were matched
    return extra | {"matches": [
        {"record_id": m.record_id, "type": m.signal_type, "query_percent": m.query_percent,
         "reported_percent": m.reported_percent} for m in found]}
