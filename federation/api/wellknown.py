"""GET /.well-known/federation-keys: the JWKS every feed entry verifies against."""
from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, fields

from federation import signing_keys
from federation.api.auth import PUBLIC
from federation.api.blueprint import ApiBlueprint
from federation.crypto import note
from federation.crypto.encoding import b64u_decode
from federation.crypto.keys import KeyStatus
from federation.db import db
from federation.services import services

blp = ApiBlueprint("wellknown", __name__, access=PUBLIC, url_prefix="/.well-known", description="Public keys")


class JwkSchema(Schema):
    """RFC 8037 OKP key with the validity window and status this federation adds."""

    kty = fields.String(required=True, metadata={"enum": ["OKP"]})
    crv = fields.String(required=True, metadata={"enum": ["Ed25519"]})
    x = fields.String(required=True, metadata={"description": "the raw public key, base64url"})
    kid = fields.String(required=True, metadata={"description": "RFC 7638 thumbprint"})
    use = fields.String(required=True, metadata={"enum": ["sig"]})
    alg = fields.String(required=True, metadata={"enum": ["EdDSA"]})
    status = fields.String(required=True, metadata={"enum": list(KeyStatus)})
    nbf = fields.Integer(required=True, metadata={"description": "valid from (unix seconds)"})
    exp = fields.Integer(metadata={"description": "valid until (unix seconds); absent while active"})
    last_seq = fields.Integer(metadata={
        "description": "revoked keys only: the last feed entry signed before the revocation; an entry "
                       "it signs with a later seq is forged and refused (docs/feed.md)"})
    note_vkey = fields.String(required=True, metadata={
        "description": "the same key as a C2SP signed-note verifier key for the log's checkpoints: "
                       "origin+hex(key id)+base64(0x01 || x) (docs/log.md)"})


class JwksSchema(Schema):
    keys = fields.List(fields.Nested(JwkSchema), required=True)


@blp.route("/federation-keys")
class FederationKeys(MethodView):
    @blp.response(200, JwksSchema)
    def get(self):
        """Every signing key ever used (RFC 8037 OKP/Ed25519) with kid, status and window."""
        # Short cache: a rotation must reach verifiers within minutes.
        document = signing_keys.jwks(db.session)
        origin = services().log.origin
        for jwk in document["keys"]:  # what signs entries signs checkpoints (docs/log.md)
            jwk["note_vkey"] = note.vkey(origin, b64u_decode(jwk["x"]))
        return document, 200, {"Cache-Control": "public, max-age=300"}
