"""GET /.well-known/federation-keys: the JWKS every feed entry verifies against."""
from __future__ import annotations

from flask.views import MethodView

from federation import signing_keys
from federation.api.auth import PUBLIC
from federation.api.blueprint import ApiBlueprint
from federation.db import db

blp = ApiBlueprint("wellknown", __name__, access=PUBLIC, url_prefix="/.well-known", description="Public keys")


@blp.route("/federation-keys")
class FederationKeys(MethodView):
    @blp.response(200)
    def get(self):
        """Every signing key ever used (RFC 8037 OKP/Ed25519) with kid, status and window."""
        # Short cache: a rotation must reach verifiers within minutes.
        return signing_keys.jwks(db.session), 200, {"Cache-Control": "public, max-age=300"}
