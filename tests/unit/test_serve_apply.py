"""serve applies a store's changes to its index in a few calls, with the same end state
as applying the feed entry by entry."""
from __future__ import annotations

import random

import pytest

from partners.matching import MatchIndex
from partners.serve import _apply
from partners.store import LocalStore


@pytest.mark.parametrize("resolved", [True, False], ids=["resolved store", "store in bulk mode"])
def test_batched_changes_leave_the_index_the_feed_describes(tmp_path, resolved):
    rng = random.Random(5)
    ids = [f"r_{i}" for i in range(60)]
    with LocalStore(tmp_path / "store.db") as store:
        if resolved:
            store.count()  # as serve does on its first load: the store leaves bulk mode
        index = MatchIndex(background=False)
        active: dict[str, tuple[str, str]] = {}  # the feed, entry by entry: what should match
        seq = 0
        for _ in range(12):  # pages of interleaved adds, deletes and re-adds
            page = []
            for _ in range(40):
                seq += 1
                record = rng.choice(ids)
                if record in active:  # the federation re-adds a record only after deleting it (a restore)
                    kind, value = active.pop(record)
                    page.append({"seq": seq, "op": "delete", "id": record, "type": kind, "value": value,
                                 "quality": 90})
                else:
                    kind = rng.choice(["pdq", "md5"])
                    value = f"{rng.getrandbits(256):064x}" if kind == "pdq" else f"{rng.getrandbits(128):032x}"
                    active[record] = (kind, value)
                    page.append({"seq": seq, "op": "add", "id": record, "type": kind, "value": value, "quality": 90})
            indexed = store.checkpoint
            store.apply(page, indexed)
            _apply(index, store.changes_after(indexed))
            for record in ids:
                assert (record in index) == (record in active), record
            for record, (kind, value) in active.items():
                assert [m.record_id for m in index.match_values(kind, [value])[0] if m.distance == 0] == [record]
        assert len(index) == len(active)
