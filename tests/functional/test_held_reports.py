"""The feed's budget for people's reports: past it, reports are stored and answered but
held; held reports are published later, oldest first, exactly once; withdrawing one
publishes nothing; platforms' own cases are not bounded."""
from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from federation import cases
from federation.cases import Consent, FeedBudget
from federation.models import Case, CaseSignal, FeedEntry, Signal
from federation.services import services
from federation.signals import parse_signal
from tests.factories import add_partner, bearer, case_payload, random_signal


class _Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


def signals(n: int):
    return [parse_signal("md5", random_signal("md5")["value"], None) for _ in range(n)]


def create(session, app, budget, n):
    s = services(app)
    receipt = cases.create_case(session, s.pins, s.signers, s.idempotency, signals(n),
                                Consent(True, True, True), referrals_policy=s.referrals, budget=budget)
    return receipt


def feed(session) -> list[tuple[int, str, int]]:
    rows = session.execute(select(FeedEntry.seq, FeedEntry.op, FeedEntry.signal_id)
                           .order_by(FeedEntry.seq)).all()
    session.rollback()
    return [tuple(row) for row in rows]


def case_ids(session) -> list[int]:
    ids = list(session.scalars(select(Case.id).order_by(Case.id)))
    session.rollback()
    return ids


def signal_ids_of(session, case_id: int) -> list[int]:
    ids = list(session.scalars(select(CaseSignal.signal_id).where(CaseSignal.case_id == case_id)
                               .order_by(CaseSignal.id)))
    session.rollback()
    return ids


def test_a_flood_is_held_then_published_in_order_exactly_once(app, session):
    clock = _Clock()
    budget = FeedBudget(per_minute=60, burst=500, clock=clock)
    for n in (200, 200, 200, 10):
        create(session, app, budget, n)
    first, second, third, fourth = case_ids(session)
    published = feed(session)
    # 500 to spend: two reports fit (400); the third does not; the fourth would fit in
    # the 100 left, but waits its turn behind the third.
    assert len(published) == 400
    assert {sid for _, _, sid in published} == \
        set(signal_ids_of(session, first) + signal_ids_of(session, second))
    held = session.execute(select(Case.id).where(Case.held_at.is_not(None)).order_by(Case.id)).scalars().all()
    session.rollback()
    assert held == [third, fourth]
    assert not session.scalar(select(Signal.id).where(Signal.id.in_(signal_ids_of(session, third)),
                                                      Signal.active.is_(True)).limit(1))
    session.rollback()

    # Not enough yet (100 + 60 < 200): nothing moves, the order holds.
    clock.now += dt.timedelta(minutes=1)
    drained = cases.publish_held(session, services(app).signers, budget)
    assert (drained.released, drained.entries, drained.still_held) == (0, 0, 2)
    clock.now += dt.timedelta(minutes=1)  # 220: the third (200), then the fourth (10)
    drained = cases.publish_held(session, services(app).signers, budget)
    assert (drained.released, drained.entries, drained.still_held) == (2, 210, 0)
    after = feed(session)
    new = [sid for _, op, sid in after[400:]]
    assert [op for _, op, _ in after] == ["add"] * 610
    assert new == signal_ids_of(session, third) + signal_ids_of(session, fourth)  # in order
    assert len({sid for _, _, sid in after}) == 610  # each exactly once
    again = cases.publish_held(session, services(app).signers, dataclasses.replace(
        budget, per_minute=10_000))
    assert (again.released, again.entries) == (0, 0) and len(feed(session)) == 610


def test_a_report_with_budget_drains_the_held_ones_first(app, session):
    clock = _Clock()
    budget = FeedBudget(per_minute=60, burst=500, clock=clock)
    for n in (500, 100):
        create(session, app, budget, n)
    second = case_ids(session)[1]
    clock.now += dt.timedelta(minutes=2)  # 120 tokens: the held one (100) goes first
    create(session, app, budget, 10)
    third = case_ids(session)[-1]
    entries = [sid for _, _, sid in feed(session)]
    assert entries[500:] == signal_ids_of(session, second) + signal_ids_of(session, third)


def test_withdrawing_a_held_report_publishes_nothing(app, session):
    clock = _Clock()
    budget = FeedBudget(per_minute=60, burst=500, clock=clock)
    create(session, app, budget, 500)
    receipt = create(session, app, budget, 50)
    before = feed(session)
    status = cases.case_status(session, services(app).pins, receipt.reference, receipt.pin)
    assert status.held is True and status.status == "active"
    withdrawn = cases.withdraw_case(session, services(app).pins, services(app).signers,
                                    receipt.reference, receipt.pin)
    assert withdrawn.status == "withdrawn" and withdrawn.held is False
    assert feed(session) == before  # no add, no delete
    clock.now += dt.timedelta(days=1)
    drained = cases.publish_held(session, services(app).signers, budget)
    assert (drained.released, drained.still_held) == (0, 0) and feed(session) == before


def test_over_the_api_the_person_is_told_and_platforms_are_not_bounded(make_app, clean_database):
    app = make_app(FEED_PERSON_ENTRIES_PER_MINUTE=1, FEED_PERSON_BURST=500)
    client = app.test_client()
    big = case_payload([random_signal("md5") for _ in range(500)])
    first = client.post("/v1/cases", json=big).get_json()
    second = client.post("/v1/cases", json=case_payload())
    assert second.status_code == 201 and second.get_json()["pin"]  # held, answered as usual
    credentials = {"reference": second.get_json()["reference"], "pin": second.get_json()["pin"]}
    status = client.post("/v1/cases/status", json=credentials).get_json()
    assert status["held"] is True and status["status"] == "active"
    done = client.post("/v1/cases/status", json={"reference": first["reference"], "pin": first["pin"]})
    assert done.get_json()["held"] is False
    # A platform's own hashes go out at once, budget or not.
    token = add_partner(app, scopes="feed:read signals:write")
    platform = client.post("/v1/signals", json={"signals": [random_signal("md5")]},
                           headers={**bearer(token), "Idempotency-Key": "k" * 30})
    assert platform.status_code in (200, 201), platform.get_json()
    with app.app_context():
        session = app.extensions["federation.db"].sessions()
        assert len(feed(session)) == 501
        session.close()


@pytest.fixture
def cli_env(test_config, monkeypatch):
    for name, value in test_config.items():
        monkeypatch.setenv(f"FEDERATION_{name}", str(value))
    monkeypatch.setenv("FEDERATION_FEED_PERSON_ENTRIES_PER_MINUTE", "1")
    monkeypatch.setenv("FEDERATION_FEED_PERSON_BURST", "500")
    return monkeypatch


def test_the_operator_command_reports_and_drains(cli_env, make_app, clean_database):
    app = make_app(FEED_PERSON_ENTRIES_PER_MINUTE=1, FEED_PERSON_BURST=500)
    client = app.test_client()
    client.post("/v1/cases", json=case_payload([random_signal("md5") for _ in range(500)]))
    client.post("/v1/cases", json=case_payload())
    from federation.cli import main

    result = CliRunner().invoke(main, ["feed", "publish-held"], catch_exceptions=False)
    assert result.exit_code == 0
    assert result.output.startswith("published 0 held reports (0 feed entries); still held: 1")
    cli_env.setenv("FEDERATION_FEED_PERSON_ENTRIES_PER_MINUTE", "100000")
    result = CliRunner().invoke(main, ["feed", "publish-held"], catch_exceptions=False)
    assert "published 1 held reports (1 feed entries); still held: 0" in result.output
