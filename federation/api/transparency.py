"""GET /v1/transparency: the public transparency report as JSON (federation/transparency.py)."""
from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from federation import transparency
from federation.api.auth import PUBLIC
from federation.api.blueprint import ApiBlueprint
from federation.db import db

blp = ApiBlueprint("transparency", __name__, access=PUBLIC, url_prefix="/v1",
                   description="Public transparency report")

_SUPPRESSED = {"description": f"null: between 1 and {transparency.SUPPRESS_BELOW - 1} (suppressed)"}


def _count() -> fields.Integer:
    return fields.Integer(required=True, allow_none=True, metadata=_SUPPRESSED)


class TransparencyQuery(Schema):
    month = fields.String(validate=validate.Regexp(r"^[1-9][0-9]{3}-(0[1-9]|1[0-2])$"), metadata={
        "description": "YYYY-MM (UTC); without it, the last 12 months"})


class PlatformMonthSchema(Schema):
    name = fields.String(required=True, metadata={"description": "the platform's display name"})
    matches = _count()
    takedowns = _count()


class MonthSchema(Schema):
    month = fields.String(required=True, metadata={"description": "YYYY-MM"})
    complete = fields.Boolean(required=True, metadata={"description": "false for the current month"})
    suppressed_below = fields.Integer(required=True)
    reports = _count()
    platform_reports = _count()
    hashes_by_type = fields.Dict(keys=fields.String(), values=fields.Integer(allow_none=True), required=True,
                                 metadata={"description": "new hashes first reported this month, by type"})
    withdrawals = _count()
    platforms = fields.List(fields.Nested(PlatformMonthSchema), required=True)
    median_hours_withdrawal_to_deleted = fields.Float(required=True, allow_none=True, metadata={
        "description": "median hours from a withdrawal to each platform's delete confirmation; "
                       "null below the threshold"})
    quarantines = fields.Integer(required=True, allow_none=True)


class TransparencySchema(Schema):
    suppressed_below = fields.Integer(required=True)
    months = fields.List(fields.Nested(MonthSchema), required=True)


@blp.route("/transparency")
class Transparency(MethodView):
    @blp.arguments(TransparencyQuery(), location="query")
    @blp.response(200, TransparencySchema())
    @blp.alt_response(404, description="A month that has not begun (month_in_future)")
    def get(self, query):
        """Counts by month; small counts suppressed so that no case can be recognised."""
        if "month" in query:
            months = [transparency.parse_month(query["month"])]
        else:
            months = transparency.recent_months()
        body = {"suppressed_below": transparency.SUPPRESS_BELOW,
                "months": [transparency.as_json(transparency.month_report(db.session, first)) for first in months]}
        return body, 200, {"Cache-Control": "public, max-age=3600"}
