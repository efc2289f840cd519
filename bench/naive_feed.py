"""The baseline for bench/feed.py: a feed endpoint written the obvious way, which loads
ORM objects and re-serialises every entry on every request. Not part of the service."""
from __future__ import annotations

from flask import jsonify, request
from sqlalchemy import select

from federation import partner_registry
from federation.api.auth import bearer_token
from federation.app import create_app
from federation.db import db
from federation.models import FeedEntry, Signal

app = create_app()


@app.get("/naive/feed")
def naive_feed():
    partner_registry.authenticate(db.session, bearer_token(), "feed:read")
    after, limit = int(request.args.get("after", 0)), int(request.args.get("limit", 1000))
    rows = db.session.execute(select(FeedEntry, Signal).join(Signal, FeedEntry.signal_id == Signal.id)
                              .where(FeedEntry.seq > after).order_by(FeedEntry.seq).limit(limit)).all()
    entries = []
    for entry, signal in rows:
        item = {"seq": entry.seq, "op": entry.op, "id": entry.record_id, "type": signal.type,
                "value": signal.value, "v": 1, "kid": entry.kid, "sig": entry.signature}
        if signal.quality is not None:
            item["quality"] = signal.quality
        entries.append(item)
    head = db.session.execute(select(FeedEntry.seq).order_by(FeedEntry.seq.desc()).limit(1)).scalar()
    next_seq = after + len(entries)
    return jsonify(entries=entries, next=next_seq, has_more=next_seq < (head or 0))
