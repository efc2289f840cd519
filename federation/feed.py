"""The signed feed: an ordered, gap-free log of adds and deletes to the active set.

Entries are appended inside the transaction that causes them, after the caller has
taken the feed head lock, so sequence numbers follow commit order (docs/architecture.md, invariant 2).
Each entry is signed once, at append; serving splices the stored bytes into the page.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, or_, select, text
from sqlalchemy.orm import Session

from federation import signing_keys, tlog, vpdq
from federation.crypto.canonical import canonical_json, leaf_hash
from federation.crypto.encoding import b64u_encode
from federation.errors import FederationError
from federation.models import FeedEntry, FeedOp, Signal, table
from federation.rules import VPDQ_TYPE
from federation.signals import SignalValue

ENTRY_VERSION = 1
MAX_PAGE = 5000
DEFAULT_PAGE = 1000
# A page's entries stop before this many bytes, whatever `limit` says. Above the largest
# entry (a vpdq add: federation.vpdq.MAX_FRAMES_BYTES plus its fields, under 300 kB), and
# above 5,000 hash entries (about 1.3 MB), so it only ever cuts pages carrying videos.
MAX_PAGE_BYTES = 4 * 1024 * 1024
_SPLICE_BYTES = len(b',"kid":"","sig":""')


class CheckpointAhead(FederationError):
    # 409: the position is well formed; it conflicts with the feed as it stands.
    status = 409
    code = "checkpoint_ahead"
    title = "This position is ahead of the feed; it is not a checkpoint we issued"


@dataclass(frozen=True)
class Change:
    """One entry to append: `add` carries the record id the signal now has, `delete`
    repeats the id its `add` carried (so partners may key by record id or by value).
    A `delete` that is not a withdrawal says why in `reason` (docs/list-hygiene.md)."""

    op: str
    signal_id: int
    record_id: str
    signal: SignalValue
    reason: str | None = None


# One statement moves the head and names the key to sign with: the active kid is read
# under the head lock that `keys rotate` also takes, so it cannot change under us.
_ADVANCE_HEAD = text(
    "UPDATE feed_head SET last_seq = last_seq + :n WHERE id = 1 "
    "RETURNING last_seq, (SELECT kid FROM signing_keys WHERE status = 'active' "
    "ORDER BY not_before DESC LIMIT 1)")
# On PostgreSQL the same statement tells long-polling readers (federation/feed_wait.py):
# a NOTIFY is delivered at commit, and not at all on rollback.
_ADVANCE_HEAD_AND_NOTIFY = text(
    str(_ADVANCE_HEAD) + ", pg_notify('federation_feed', CAST(last_seq AS TEXT))")


def publish(session: Session, signers: signing_keys.Signers, changes: Sequence[Change]) -> list[int]:
    """Append one signed entry per change, and its leaf to the log's Merkle tree;
    return their sequence numbers.

    The caller holds the feed head lock (federation.db.lock_feed_head) in this
    transaction and has already set each signal's `active` flag and record id.
    """
    if not changes:
        return []
    advance = _ADVANCE_HEAD_AND_NOTIFY if session.get_bind().dialect.name == "postgresql" else _ADVANCE_HEAD
    last, kid, *_ = session.execute(advance, {"n": len(changes)}).one()
    signer = signers.for_kid(session, kid)
    first = last - len(changes) + 1
    frames = _vpdq_frames(session, changes)
    rows, leaves = [], []
    for seq, change in enumerate(changes, start=first):
        signal = change.signal
        entry: dict = {"seq": seq, "op": change.op, "id": change.record_id, "type": signal.type,
                       "value": signal.value, "v": ENTRY_VERSION}
        if signal.quality is not None:
            entry["quality"] = signal.quality
        if change.signal_id in frames:
            entry["frames"] = frames[change.signal_id]
        if change.reason is not None:
            entry["reason"] = change.reason
        body = canonical_json(entry)
        leaves.append(leaf_hash(body))
        rows.append({"seq": seq, "op": change.op, "signal_id": change.signal_id,
                     "record_id": change.record_id, "body": body,
                     "signature": b64u_encode(signer.sign(body)), "kid": signer.kid,
                     "leaf_hash": leaves[-1]})
    session.execute(table(FeedEntry).insert(), rows)
    # The Merkle tree grows in the same transaction, under the same lock (docs/log.md).
    tlog.extend(session, first, leaves)
    return list(range(first, last + 1))


def _vpdq_frames(session: Session, changes: Sequence[Change]) -> dict[int, list]:
    """The frames each vpdq `add` carries, as stored (a `delete` names the value alone:
    a partner drops the record by its id or value, and needs no frames for that)."""
    ids = [c.signal_id for c in changes if c.op == FeedOp.ADD and c.signal.type == VPDQ_TYPE]
    if not ids:
        return {}
    rows = session.execute(select(Signal.id, Signal.frames).where(Signal.id.in_(ids)))
    return {id_: vpdq.frames_from_bytes(data) for id_, data in rows if data is not None}


@dataclass(frozen=True)
class Page:
    """One page of the feed, already serialised. `immutable` when it can never change.
    `head` (the newest seq when read) travels in a header, outside the immutable body."""

    body: bytes
    head: int
    count: int
    next: int
    has_more: bool
    immutable: bool

    @property
    def etag(self) -> str:
        # Entries never change, so the seq range names the content exactly.
        return f"v{ENTRY_VERSION}-{self.next - self.count}-{self.next}"


def read_page(session: Session, after: int, limit: int) -> Page:
    """Entries with seq > after, at most limit, in order, as the JSON body to send.

    A full page can never change: seqs are dense, so once the seq after+limit exists
    every seq below it does too, and entries are never rewritten. Raises
    CheckpointAhead (with the head) when `after` is past the newest entry: no client
    can have applied it, so echoing it back as `next` would hide its bug.
    """
    newest = head(session)
    if after > newest:
        raise CheckpointAhead(f"after={after} is past the newest entry, {newest}", head=newest)
    # Core, not ORM loading: this is the hottest path of the service.
    rows = session.connection().execute(_page_query(after, limit)).all()
    # The stored canonical bytes are spliced, not re-serialised: `{...}` becomes
    # `{...,"kid":"…","sig":"…"}`. Verifiers drop kid and sig and re-canonicalise.
    entries = b",".join(body[:-1] + b',"kid":"' + kid.encode() + b'","sig":"' + sig.encode() + b'"}'
                        for body, kid, sig in rows)
    count = len(rows)
    next_seq = after + count
    has_more = next_seq < newest
    body = (b'{"entries":[' + entries + b'],"next":' + str(next_seq).encode()
            + b',"has_more":' + (b"true" if has_more else b"false") + b"}")
    # Cut short by bytes, a page is as final as a full one: the entry after it exists.
    return Page(body, newest, count, next_seq, has_more, immutable=count == limit or has_more)


def _page_query(after: int, limit: int):
    """Entries after `after`, at most `limit`, and no more than MAX_PAGE_BYTES in all
    (always at least one: MAX_PAGE_BYTES is above the largest entry, a full vpdq).

    A running sum in the database, so an entry past the budget is never fetched: a page
    of 5,000 video entries would otherwise be over a gigabyte."""
    size = (func.length(FeedEntry.body) + func.length(FeedEntry.signature)
            + func.length(FeedEntry.kid) + _SPLICE_BYTES)
    window = (select(FeedEntry.seq, FeedEntry.body, FeedEntry.kid, FeedEntry.signature,
                     func.sum(size).over(order_by=FeedEntry.seq).label("running"))
              .where(FeedEntry.seq > after).order_by(FeedEntry.seq).limit(limit).subquery())
    return (select(window.c.body, window.c.kid, window.c.signature)
            .where(or_(window.c.running <= MAX_PAGE_BYTES, window.c.seq == after + 1))
            .order_by(window.c.seq))


def head(session: Session) -> int:
    return session.execute(text("SELECT last_seq FROM feed_head WHERE id = 1")).scalar_one()
