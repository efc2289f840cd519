"""GET /v1/feed: the signed log of adds and deletes, for member platforms."""
from __future__ import annotations

from flask import Response, request
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from federation import feed
from federation.api.auth import PARTNER
from federation.api.blueprint import ApiBlueprint
from federation.api.schemas import VPDQ_FRAME
from federation.db import db
from federation.feed_wait import MAX_WAIT_SECONDS
from federation.services import services

blp = ApiBlueprint("feed", __name__, access=PARTNER, url_prefix="/v1", description="The signed hash feed")


MAX_SEQ = 2**63 - 1  # a BIGINT


class FeedQuery(Schema):
    after = fields.Integer(load_default=0, strict=False, validate=validate.Range(min=0, max=MAX_SEQ),
                           metadata={"description": "the last seq you applied (0 to start); "
                                                    "past the newest entry: 400 checkpoint_ahead"})
    limit = fields.Integer(load_default=feed.DEFAULT_PAGE,
                           validate=validate.Range(min=1, max=feed.MAX_PAGE))
    wait = fields.Integer(load_default=0, strict=False, validate=validate.Range(min=0, max=MAX_WAIT_SECONDS),
                          metadata={"description": "seconds (at most 60) to hold the request while no "
                                                   "entry is above `after`: answered as soon as one is "
                                                   "committed, else with an empty page (long polling)"})


class FeedEntrySchema(Schema):
    seq = fields.Integer(required=True)
    op = fields.String(required=True, metadata={"description": "add or delete"})
    id = fields.String(required=True, metadata={"description": "opaque record id"})
    type = fields.String(required=True)
    value = fields.String(required=True)
    quality = fields.Integer(metadata={"description": "pdq only"})
    frames = fields.Raw(metadata={
        "description": "vpdq adds only: the video's canonical frames, whose SHA-256 is `value` "
                       "(docs/video.md)", "type": "array", "items": VPDQ_FRAME})
    v = fields.Integer(required=True)
    kid = fields.String(required=True)
    sig = fields.String(required=True, metadata={
        "description": "Ed25519 over the RFC 8785 JSON of the entry without kid and sig"})


class FeedPageSchema(Schema):
    entries = fields.List(fields.Nested(FeedEntrySchema), required=True)
    next = fields.Integer(required=True, metadata={"description": "pass as `after` next time"})
    has_more = fields.Boolean(required=True)


@blp.route("/feed", needs="feed:read")
class Feed(MethodView):
    @blp.arguments(FeedQuery(), location="query")
    @blp.response(200, FeedPageSchema)
    @blp.alt_response(304, description="Not modified (If-None-Match)")
    @blp.alt_response(409, description="`after` is past the newest entry (checkpoint_ahead, with `head`)")
    @blp.alt_response(422, description="`after`, `limit` or `wait` out of range (invalid_input)")
    def get(self, query):
        """A page of entries with seq > after, in order. Full pages never change (same ETag).

        With `wait`, the answer comes as soon as an entry above `after` is committed. When
        the server is holding as many waiting requests as it allows, it answers at once,
        with `Retry-After`: wait that long before asking again.
        """
        busy = {}
        if query["wait"]:
            if services().feed_waiters.wait(db.session, query["after"], query["wait"]) is None:
                busy = {"Retry-After": "2"}
        page = feed.read_page(db.session, query["after"], query["limit"])
        etag = page.etag
        # Pages carry hashes and answer a credential: never stored by a shared cache
        # (federation.web.secure_headers makes every authenticated answer no-store).
        cache = "private, no-store"
        if request.if_none_match.contains(etag):
            return Response(status=304, headers={"ETag": f'"{etag}"', "Cache-Control": cache})
        # The body is assembled from stored bytes, so it bypasses schema serialisation.
        # Feed-Head (the newest seq) lets a client show progress; it is not signed.
        # Log-Size: the tree size whose checkpoint covers this page (docs/log.md).
        return Response(page.body, mimetype="application/json",
                        headers={"ETag": f'"{etag}"', "Cache-Control": cache, "Feed-Head": str(page.head),
                                 "Log-Size": str(page.head), **busy})
