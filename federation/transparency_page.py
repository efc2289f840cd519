"""GET /transparency: the public transparency report as a page, with SVG charts drawn on
the server (no script; the portal's security headers, CSP included, apply: the
blueprint's name starts with "portal")."""
from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, Flask, Response, render_template, request

from federation import transparency
from federation.db import db

bp = Blueprint("portal_transparency", __name__)

CHART_WIDTH, CHART_HEIGHT, AXIS = 640, 200, 28


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str  # the month, e.g. "Nov"
    text: str  # the value as shown: a number, or "<10"
    suppressed: bool


def bars(values: list[tuple[str, int | None]]) -> tuple[list[Bar], int]:
    """Bars for (label, count) pairs, scaled to the chart; a suppressed count is drawn as
    an outline at the threshold's height. Returns the bars and the scale's top."""
    threshold = transparency.SUPPRESS_BELOW
    top = max([count for _, count in values if count is not None] + [threshold])
    slot = CHART_WIDTH / max(1, len(values))
    plot = CHART_HEIGHT - 2 * AXIS
    drawn = []
    for index, (label, count) in enumerate(values):
        shown = threshold - 1 if count is None else count
        height = plot * shown / top
        drawn.append(Bar(x=round(index * slot + slot * 0.15, 1), y=round(AXIS + plot - height, 1),
                         width=round(slot * 0.7, 1), height=round(height, 1), label=label,
                         text=f"<{threshold}" if count is None else str(count), suppressed=count is None))
    return drawn, top


@bp.get("/transparency")
def page() -> Response:
    months = transparency.recent_months()
    chosen = request.args.get("month")
    selected = transparency.parse_month(chosen) if chosen else months[-1]
    reports = [transparency.month_report(db.session, first) for first in months]
    detail = next((m for m, first in zip(reports, months, strict=True) if first == selected), None) \
        or transparency.month_report(db.session, selected)
    charts = {
        "reports": bars([(f"{first:%b}", m.reports) for first, m in zip(months, reports, strict=True)]),
        "withdrawals": bars([(f"{first:%b}", m.withdrawals) for first, m in zip(months, reports, strict=True)]),
    }
    html = render_template("transparency.html", months=reports, detail=detail, charts=charts,
                           width=CHART_WIDTH, height=CHART_HEIGHT, axis=AXIS,
                           threshold=transparency.SUPPRESS_BELOW)
    return Response(html, mimetype="text/html", headers={"Cache-Control": "public, max-age=3600"})


def init_transparency_page(app: Flask) -> None:
    app.register_blueprint(bp)
