"""The public transparency report: /v1/transparency (JSON) and /transparency (a page with
server-drawn SVG charts, no script, the portal's CSP)."""
from __future__ import annotations

import datetime as dt
import statistics
import uuid

import pytest
from sqlalchemy import update

from federation.models import Case, FeedbackEvent, Signal, utcnow
from federation.web import PORTAL_CSP
from tests.factories import add_partner, bearer, case_payload, random_signal

THIS_MONTH = f"{utcnow():%Y-%m}"
LAST_MONTH_START = (utcnow().replace(day=1) - dt.timedelta(days=1)).replace(day=1, hour=12)
LAST_MONTH = f"{LAST_MONTH_START:%Y-%m}"


def report(client, kind="md5") -> dict:
    response = client.post("/v1/cases", json=case_payload([random_signal(kind)]))
    assert response.status_code == 201
    return response.get_json()


def withdraw(client, case) -> None:
    assert client.post("/v1/cases/withdraw", json={"reference": case["reference"], "pin": case["pin"]}) \
        .status_code == 200


def feedback(client, token, signals, verdict) -> None:
    items = [{"type": s["type"], "value": s["value"], "verdict": verdict,
              "occurred_at": utcnow().isoformat()} for s in signals]
    response = client.post("/v1/feedback", json={"items": items},
                           headers={**bearer(token), "Idempotency-Key": str(uuid.uuid4())})
    assert response.status_code == 200, response.get_json()


def month(client, which: str) -> dict:
    response = client.get(f"/v1/transparency?month={which}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()["months"][0]


def test_an_empty_federation(client):
    body = client.get("/v1/transparency").get_json()
    assert body["suppressed_below"] == 10 and len(body["months"]) == 12
    assert body["months"][-1]["month"] == THIS_MONTH and body["months"][-1]["complete"] is False
    assert body["months"][0]["complete"] is True
    assert body["months"][-1]["reports"] == 0 and body["months"][-1]["withdrawals"] == 0


def test_counts_at_and_below_the_threshold(client, app, engine):
    cases = [report(client) for _ in range(10)] + [report(client, "pdq")]
    withdraw(client, cases[0])  # one withdrawal: suppressed
    now = month(client, THIS_MONTH)
    assert now["reports"] == 11 and now["withdrawals"] is None
    assert now["hashes_by_type"] == {"md5": 10, "pdq": None, "phash": 0, "sha256": 0}
    assert now["platform_reports"] == 0 and now["quarantines"] == 0


def test_a_month_with_a_single_case_is_suppressed(client, engine):
    case = report(client)
    with engine.begin() as conn:
        conn.execute(update(Case).values(created_at=LAST_MONTH_START))
        conn.execute(update(Signal).values(created_at=LAST_MONTH_START))
    last = month(client, LAST_MONTH)
    assert last["complete"] is True and last["reports"] is None and last["hashes_by_type"]["md5"] is None
    assert month(client, THIS_MONTH)["reports"] == 0
    page = client.get(f"/transparency?month={LAST_MONTH}").get_data(as_text=True)
    assert "&lt;10" in page and case["reference"] not in page


def test_a_future_or_malformed_month_is_refused(client):
    future = (utcnow().replace(day=28) + dt.timedelta(days=7)).strftime("%Y-%m")
    response = client.get(f"/v1/transparency?month={future}")
    assert response.status_code == 404 and response.get_json()["code"] == "month_in_future"
    assert response.mimetype == "application/problem+json"
    for bad in ("2026-13", "2026-00", "0000-01", "26-01", "2026-1", "next"):
        assert client.get(f"/v1/transparency?month={bad}").status_code == 422, bad
    assert client.get(f"/transparency?month={future}").status_code == 404


def test_platforms_by_display_name_and_the_median_time_to_delete(client, app, engine):
    acme = add_partner(app, "acme", scopes="feed:read feedback:write", display_name="Acme Video")
    beta = add_partner(app, "beta", scopes="feed:read feedback:write", display_name="Beta Social")
    cases = [client.post("/v1/cases", json=case_payload([s := random_signal("md5")])).get_json() | {"signal": s}
             for _ in range(12)]
    signals = [c["signal"] for c in cases]
    feedback(client, acme, signals, "blocked")
    feedback(client, beta, signals[:3], "match_pending_review")
    for case in cases:
        withdraw(client, case)
    feedback(client, acme, signals, "deleted")
    hours = [1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233]  # acme's delays, one per case
    with engine.begin() as conn:
        withdrawn_at = {c.id: c.withdrawn_at for c in conn.execute(Case.__table__.select())}
        links = conn.execute(Case.__table__.select().with_only_columns(Case.id)).scalars().all()
        from federation.models import CaseSignal
        by_signal = dict(conn.execute(CaseSignal.__table__.select()
                                      .with_only_columns(CaseSignal.signal_id, CaseSignal.case_id)).all())
        deleted = conn.execute(FeedbackEvent.__table__.select().where(FeedbackEvent.verdict == "deleted")
                               .with_only_columns(FeedbackEvent.id, FeedbackEvent.signal_id)).all()
        for (event_id, signal_id), delay in zip(deleted, hours, strict=True):
            conn.execute(update(FeedbackEvent).where(FeedbackEvent.id == event_id)
                         .values(received_at=withdrawn_at[by_signal[signal_id]] + dt.timedelta(hours=delay)))
    assert len(links) == 12
    now = month(client, THIS_MONTH)
    assert now["withdrawals"] == 12
    assert {p["name"]: (p["matches"], p["takedowns"]) for p in now["platforms"]} == \
        {"Acme Video": (12, 12), "Beta Social": (None, 0)}
    assert now["median_hours_withdrawal_to_deleted"] == statistics.median(hours)  # 17.0


def test_the_median_needs_enough_confirmations(client, app):
    acme = add_partner(app, "acme", scopes="feed:read feedback:write", display_name="Acme Video")
    case = client.post("/v1/cases", json=case_payload([s := random_signal("md5")])).get_json()
    withdraw(client, case)
    feedback(client, acme, [s], "deleted")
    assert month(client, THIS_MONTH)["median_hours_withdrawal_to_deleted"] is None


def test_the_page_has_charts_and_no_script(client):
    for _ in range(12):
        report(client)
    response = client.get("/transparency")
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert response.headers["Content-Security-Policy"] == PORTAL_CSP
    html = response.get_data(as_text=True)
    assert "<script" not in html and " style=" not in html and "<style" not in html
    assert html.count("<svg") == 2 and ">12</text>" in html


@pytest.mark.browser
def test_the_page_in_chromium(browser, base_url, clean_database, tmp_path, app, engine):
    add_partner(app, "acme", display_name="Acme Video")
    client = app.test_client()
    for age, count in ((3, 11), (2, 25), (1, 3), (0, 14)):  # reports in earlier months, then this one
        for _ in range(count):
            report(client)
        if age:
            with engine.begin() as conn:
                moved = utcnow().replace(day=15) - dt.timedelta(days=31 * age)
                conn.execute(update(Case).where(Case.created_at > utcnow() - dt.timedelta(minutes=5))
                             .values(created_at=moved))
    page = browser.new_page()
    violations = []
    page.on("console", lambda message: violations.append(message.text) if "Content Security" in message.text
            else None)
    try:
        page.goto(f"{base_url}/transparency")
        page.screenshot(path=str(tmp_path / "transparency.png"), full_page=True)
        bars = page.locator("svg rect")
        assert bars.count() == 24
        assert page.locator("svg").first.bounding_box()["height"] > 100
        assert page.get_by_text("Acme Video").is_visible()
        labels = page.locator("svg").first.locator("text").all_text_contents()
        assert labels.count("<10") == 1, labels  # the month of 3
        heights = [float(bars.nth(i).get_attribute("height")) for i in range(12)]
        assert heights[-3] > heights[-1] > heights[-4] > heights[-2] > 0  # 25 > 14 > 11 > the outline of <10
        assert not violations
    finally:
        page.close()


def test_quarantines_come_from_the_withholdings_of_the_month(client, app, session):
    from federation import list_trust
    from federation.db import write_transaction
    from federation.models import Withheld
    from federation.services import services

    for _ in range(12):
        report(client)
    ids = sorted(session.scalars(Signal.__table__.select().with_only_columns(Signal.id)).all())
    session.rollback()
    with write_transaction(session):
        list_trust.withhold(session, services(app).signers, ids[:10], Withheld.DISPUTED, actor="test")
    with write_transaction(session):
        list_trust.withhold(session, services(app).signers, ids[10:], Withheld.DENIED, actor="test")
    assert month(client, THIS_MONTH)["quarantines"] == 10  # the deny list is not a quarantine
    assert month(client, LAST_MONTH)["quarantines"] == 0


def test_a_single_quarantine_is_suppressed(client, app, session):
    from federation import list_trust
    from federation.db import write_transaction
    from federation.models import Withheld
    from federation.services import services

    report(client)
    [signal_id] = session.scalars(Signal.__table__.select().with_only_columns(Signal.id)).all()
    session.rollback()
    with write_transaction(session):
        list_trust.withhold(session, services(app).signers, [signal_id], Withheld.FLOOD, actor="test")
    assert month(client, THIS_MONTH)["quarantines"] is None
