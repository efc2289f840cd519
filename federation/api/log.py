"""The verifiable log (docs/log.md): the signed checkpoint for anyone, and inclusion and
consistency proofs (RFC 9162 2.1.3, 2.1.4) for partners that read the feed."""
from __future__ import annotations

import base64

from flask import Response, g
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from federation import tlog
from federation.api.auth import PARTNER, PUBLIC
from federation.api.blueprint import ApiBlueprint
from federation.api.feed import MAX_SEQ
from federation.api.schemas import JsonInteger
from federation.db import db
from federation.services import services

public = ApiBlueprint("log_public", __name__, access=PUBLIC, url_prefix="/v1/log",
                      description="The verifiable log: signed checkpoints")
blp = ApiBlueprint("log", __name__, access=PARTNER, url_prefix="/v1/log",
                   description="The verifiable log: inclusion and consistency proofs")

_SIZE = validate.Range(min=1, max=MAX_SEQ)  # 0: invalid_input, like any value out of range
_HASHES = fields.List(fields.String(metadata={"description": "a SHA-256 node hash, standard base64"}),
                      required=True)


def _b64(hashes: list[bytes]) -> list[str]:
    return [base64.b64encode(h).decode() for h in hashes]


@public.route("/checkpoint")
class Checkpoint(MethodView):
    @public.response(200, content_type="text/plain", description=(
        "The latest checkpoint: a C2SP tlog-checkpoint (origin, tree size, base64 root) in a "
        "C2SP signed note, signed with the active feed key (its `note_vkey` in the JWKS)"))
    def get(self):
        """The log's latest signed checkpoint, as text (c2sp.org/tlog-checkpoint)."""
        size, note = tlog.checkpoint(db.session, services().log, services().signers)
        # Short cache: the tree grows with every report; a stale one is still valid.
        return Response(note, mimetype="text/plain", headers={
            "Cache-Control": "public, max-age=5", "Log-Size": str(size)})


class ConsistencyQuery(Schema):
    first = fields.Integer(required=True, strict=False, validate=_SIZE,
                           metadata={"description": "the older tree size, at least 1"})
    second = fields.Integer(required=True, strict=False, validate=_SIZE,
                            metadata={"description": "the newer tree size, at most the log's"})


class ConsistencyProof(Schema):
    first = fields.Integer(required=True)
    second = fields.Integer(required=True)
    proof = _HASHES


class InclusionQuery(Schema):
    seq = fields.Integer(required=True, strict=False, validate=_SIZE,
                         metadata={"description": "the entry's seq (its leaf index is seq - 1)"})
    size = fields.Integer(required=True, strict=False, validate=_SIZE,
                          metadata={"description": "the tree size, at least seq and at most the log's"})


class InclusionProof(Schema):
    leaf_index = fields.Integer(required=True)
    tree_size = fields.Integer(required=True)
    proof = _HASHES


_RANGE_422 = "a value below 1 (invalid_input); first > second, or seq > size (invalid_log_range)"
_AHEAD_409 = "a size past the log's (log_size_ahead, with `head`)"


@blp.route("/consistency", needs="feed:read")
class Consistency(MethodView):
    @blp.arguments(ConsistencyQuery(), location="query")
    @blp.response(200, ConsistencyProof())
    @blp.alt_response(409, description=_AHEAD_409)
    @blp.alt_response(422, description=_RANGE_422)
    def get(self, query):
        """RFC 9162 consistency proof from tree size `first` to `second` (empty if equal)."""
        proof = tlog.consistency(db.session, query["first"], query["second"])
        return {"first": query["first"], "second": query["second"], "proof": _b64(proof)}


@blp.route("/inclusion", needs="feed:read")
class Inclusion(MethodView):
    @blp.arguments(InclusionQuery(), location="query")
    @blp.response(200, InclusionProof())
    @blp.alt_response(409, description=_AHEAD_409)
    @blp.alt_response(422, description=_RANGE_422)
    def get(self, query):
        """RFC 9162 audit path of the entry `seq` in the tree of `size` leaves."""
        proof = tlog.inclusion(db.session, query["seq"], query["size"])
        return {"leaf_index": query["seq"] - 1, "tree_size": query["size"], "proof": _b64(proof)}


class CosignatureBody(Schema):
    tree_size = JsonInteger(required=True, validate=_SIZE,
                               metadata={"description": "the size of the checkpoint you cosigned"})
    cosignature = fields.String(required=True, validate=validate.Length(1, 400), metadata={
        "description": "your C2SP tlog-cosignature line: an em dash, your witness name (your partner "
                       "name), base64(key id || 8-byte timestamp || Ed25519 signature)"})


class CosignatureAnswer(Schema):
    tree_size = fields.Integer(required=True)
    witness = fields.String(required=True)
    timestamp = fields.Integer(required=True)


@blp.route("/cosignatures", needs="feed:read")
class Cosignatures(MethodView):
    @blp.arguments(CosignatureBody())
    @blp.response(200, CosignatureAnswer())
    @blp.alt_response(409, description=_AHEAD_409)
    @blp.alt_response(422, description="not a valid cosignature by your registered key of this log's "
                                       "checkpoint of that size (invalid_cosignature)")
    @blp.idempotent
    def post(self, body, idempotency_key):
        """Cosign a checkpoint you verified (and found consistent with the last one you held);
        the served checkpoint carries the cosignatures gathered for its size."""
        return tlog.record_cosignature(db.session, services().idempotency, services().log, g.partner.id,
                                       body["tree_size"], body["cosignature"], idempotency_key=idempotency_key)
