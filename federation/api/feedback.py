"""POST /v1/feedback: what a platform found, took down, kept up or deleted."""
from __future__ import annotations

from flask import current_app, g, request
from flask.views import MethodView

from federation import feedback, idempotency
from federation.api import require_json_body
from federation.api.auth import PartnerBlueprint
from federation.api.schemas import FeedbackBatchSchema, FeedbackReceiptSchema
from federation.db import db

blp = PartnerBlueprint("feedback", __name__, url_prefix="/v1", description="Platforms report back")
blp.before_request(require_json_body)


@blp.route("/feedback", scope="feedback:write")
class Feedback(MethodView):
    @blp.arguments(FeedbackBatchSchema())
    @blp.doc(security=[{"bearer": []}])
    @blp.response(200, FeedbackReceiptSchema)
    @blp.alt_response(401, description="No or invalid token")
    @blp.alt_response(403, description="Suspended, or no feedback:write scope")
    @blp.alt_response(409, description="Idempotency-Key reused with a different batch")
    @blp.alt_response(422, description="Not valid: nothing of the batch is recorded")
    def post(self, body):
        """Report verdicts on up to 1000 hashes; an unknown hash is reported in its item.

        Send an `Idempotency-Key` so a retry returns the first answer. Without one, a
        report already recorded (same hash, verdict and `occurred_at`) is not counted twice.
        """
        key = request.headers.get("Idempotency-Key")
        items = [feedback.FeedbackItem(feedback.signal_ref(i["type"], i["value"]), i["verdict"],
                                       i["occurred_at"], i["count"], i["note"])
                 for i in body["items"]]
        result, replayed = feedback.submit_feedback(
            db.session, g.partner.id, items,
            idempotency_key=idempotency.check_key(key) if key is not None else None,
            idempotency_ttl=current_app.extensions["federation.case_policy"].idempotency_ttl)
        return result, 200, {"Idempotent-Replayed": "true"} if replayed else {}
