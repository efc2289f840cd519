"""Liveness and readiness probes for load balancers and orchestrators."""
from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, fields
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from federation.api.auth import PUBLIC
from federation.api.blueprint import ApiBlueprint
from federation.db import db
from federation.errors import FederationError

blp = ApiBlueprint("health", __name__, access=PUBLIC, description="Liveness and readiness")


class HealthSchema(Schema):
    status = fields.String(required=True, metadata={"enum": ["ok", "ready"]})


class NotReady(FederationError):
    status = 503
    code = "not_ready"
    title = "The database is not reachable"


@blp.route("/healthz")
class Health(MethodView):
    @blp.response(200, HealthSchema)
    def get(self):
        """The process is up."""
        return {"status": "ok"}


@blp.route("/readyz")
class Ready(MethodView):
    @blp.response(200, HealthSchema)
    @blp.alt_response(503, description="Database unreachable")
    def get(self):
        """The process can reach its database."""
        try:
            db.session.execute(text("SELECT 1"))
        except SQLAlchemyError:  # any driver error means "not ready"; the probe must not 500
            raise NotReady() from None
        finally:
            db.session.rollback()
        return {"status": "ready"}
