"""POST /v1/feedback: what a platform found, took down, kept up or deleted."""
from __future__ import annotations

from flask import g
from flask.views import MethodView

from federation import feedback
from federation.api.auth import PARTNER
from federation.api.blueprint import ApiBlueprint
from federation.api.schemas import FeedbackBatchSchema, FeedbackReceiptSchema
from federation.db import db
from federation.services import services

blp = ApiBlueprint("feedback", __name__, access=PARTNER, url_prefix="/v1",
                   description="Platforms report back")


@blp.route("/feedback", needs="feedback:write")
class Feedback(MethodView):
    @blp.arguments(FeedbackBatchSchema())
    @blp.response(200, FeedbackReceiptSchema)
    @blp.alt_response(422, description="Not valid: nothing of the batch is recorded")
    @blp.idempotent
    def post(self, body, idempotency_key):
        """Report verdicts on up to 1000 hashes; an unknown hash is reported in its item.

        Send an `Idempotency-Key` so a retry returns the first answer. Without one, a
        report already recorded (same hash, verdict and `occurred_at`) is not counted twice.
        """
        items = [feedback.FeedbackItem(feedback.signal_ref(i["type"], i["value"]), i["verdict"],
                                       i["occurred_at"], i["count"], i["note"])
                 for i in body["items"]]
        app = services()
        result, replayed = feedback.submit_feedback(db.session, app.idempotency, g.partner.id, items,
                                                    review=app.review, idempotency_key=idempotency_key)
        return result, 200, {"Idempotent-Replayed": "true"} if replayed else {}
