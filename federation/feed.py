"""The signed feed: an ordered, gap-free log of adds and deletes to the active set.

Entries are appended inside the transaction that causes them, after the caller has
taken the feed head lock, so sequence numbers follow commit order (DESIGN invariant 2).
Each entry is signed once, at append; serving splices the stored bytes into the page.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from federation.crypto.canonical import canonical_json, leaf_hash
from federation.crypto.encoding import b64u_encode
from federation.models import CaseSignal, FeedEntry
from federation.signing_keys import active_signer

ENTRY_VERSION = 1
MAX_PAGE = 5000
DEFAULT_PAGE = 1000


def publish(session: Session, kek: bytes, changes: list[tuple[str, CaseSignal]]) -> list[int]:
    """Append one signed entry per (op, link); return their sequence numbers.

    The caller holds the feed head lock (federation.db.lock_feed_head) in this transaction.
    For `add` the link's record id becomes the signal's; a `delete` repeats that id.
    """
    if not changes:
        return []
    signer = active_signer(session, kek)
    last = session.execute(
        text("UPDATE feed_head SET last_seq = last_seq + :n WHERE id = 1 RETURNING last_seq"),
        {"n": len(changes)}).scalar_one()
    first = last - len(changes) + 1
    rows = []
    for seq, (op, link) in enumerate(changes, start=first):
        signal = link.signal
        if op == "add":
            signal.active_record_id = link.record_id
        record_id = signal.active_record_id
        entry = {"seq": seq, "op": op, "id": record_id, "type": signal.type, "value": signal.value,
                 "v": ENTRY_VERSION}
        if signal.quality is not None:
            entry["quality"] = signal.quality
        body = canonical_json(entry)
        rows.append({"seq": seq, "op": op, "signal_id": signal.id, "record_id": record_id,
                     "body": body, "signature": b64u_encode(signer.sign(body)), "kid": signer.kid,
                     "leaf_hash": leaf_hash(body)})
    session.execute(FeedEntry.__table__.insert(), rows)
    return list(range(first, last + 1))


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
    every seq below it does too, and entries are never rewritten.
    """
    newest = head(session)
    # Core, not ORM loading: this is the hottest path of the service.
    rows = session.connection().execute(
        select(FeedEntry.body, FeedEntry.kid, FeedEntry.signature)
        .where(FeedEntry.seq > after).order_by(FeedEntry.seq).limit(limit)).all()
    # The stored canonical bytes are spliced, not re-serialised: `{...}` becomes
    # `{...,"kid":"…","sig":"…"}`. Verifiers drop kid and sig and re-canonicalise.
    entries = b",".join(body[:-1] + b',"kid":"' + kid.encode() + b'","sig":"' + sig.encode() + b'"}'
                        for body, kid, sig in rows)
    count = len(rows)
    next_seq = after + count
    has_more = next_seq < newest
    body = (b'{"entries":[' + entries + b'],"next":' + str(next_seq).encode()
            + b',"has_more":' + (b"true" if has_more else b"false") + b"}")
    return Page(body, newest, count, next_seq, has_more, immutable=count == limit)


def head(session: Session) -> int:
    return session.execute(text("SELECT last_seq FROM feed_head WHERE id = 1")).scalar_one()
