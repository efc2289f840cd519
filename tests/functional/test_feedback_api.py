"""POST /v1/feedback and what the person sees of it: feedback and its bad input."""
from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import uuid

import pytest
from sqlalchemy import func, select

from federation.models import FeedbackEvent, FeedbackLatest
from tests.factories import add_partner, bearer, case_payload, random_signal, snapshot

PROBLEM = "application/problem+json"


@pytest.fixture
def token(app, clean_database):
    return add_partner(app, "acme", scopes="feed:read feedback:write", display_name="Acme Video")


def report(client, signals):
    receipt = client.post("/v1/cases", json=case_payload(signals)).get_json()
    return {"reference": receipt["reference"], "pin": receipt["pin"]}


def when(minutes_ago: float = 0) -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=minutes_ago)).isoformat()


def item(signal, verdict="blocked", **extra):
    return {"type": signal["type"], "value": signal["value"], "verdict": verdict,
            "occurred_at": extra.pop("occurred_at", when()), **extra}


def send(client, token, items, key=None):
    headers = bearer(token) | ({"Idempotency-Key": key} if key else {})
    return client.post("/v1/feedback", json={"items": items}, headers=headers)


def test_takedown_shows_in_the_first_status_request_after_it_arrives(client, token):
    signal = random_signal("pdq")
    credentials = report(client, [signal, random_signal("md5")])
    before = client.post("/v1/cases/status", json=credentials).get_json()
    assert before["platforms"] == []

    assert send(client, token, [item(signal, "blocked", count=3)]).status_code == 200
    status = client.post("/v1/cases/status", json=credentials).get_json()
    [platform] = status["platforms"]
    assert platform["platform"] == "Acme Video"
    [outcome] = platform["outcomes"]
    assert outcome["outcome"] == "taken down" and outcome["verdict"] == "blocked"
    assert outcome["signals"] == 1 and outcome["count"] == 3 and outcome["last_at"]


def test_every_verdict_in_plain_words_per_platform(app, client, token):
    other = add_partner(app, "beta", scopes="feedback:write", display_name="Beta Social")
    a, b, c, d = (random_signal("pdq") for _ in range(4))
    credentials = report(client, [a, b, c, d])
    send(client, token, [item(a, "match_pending_review"), item(b, "blocked"), item(c, "not_blocked")])
    send(client, other, [item(d, "blocked", count=2)])
    client.post("/v1/cases/withdraw", json=credentials)
    send(client, other, [item(d, "deleted")])

    platforms = client.post("/v1/cases/status", json=credentials).get_json()["platforms"]
    words = {p["platform"]: [o["outcome"] for o in p["outcomes"]] for p in platforms}
    assert words == {"Acme Video": ["found", "taken down", "reviewed and kept up"],
                     "Beta Social": ["deleted after withdrawal"]}


def test_latest_verdict_is_kept_and_the_history_too(client, token, session):
    signal = random_signal("md5")
    report(client, [signal])
    send(client, token, [item(signal, "match_pending_review", occurred_at=when(30))])
    send(client, token, [item(signal, "blocked", occurred_at=when(20))])
    send(client, token, [item(signal, "blocked", occurred_at=when(10), count=4)])
    # An older report of another verdict arriving late goes to the history only.
    send(client, token, [item(signal, "not_blocked", occurred_at=when(25))])

    latest = session.scalars(select(FeedbackLatest)).all()
    assert [(row.verdict, row.count) for row in latest] == [("blocked", 5)]
    assert latest[0].first_at < latest[0].occurred_at
    history = session.scalars(select(FeedbackEvent).order_by(FeedbackEvent.occurred_at)).all()
    assert [row.verdict for row in history] == ["match_pending_review", "not_blocked", "blocked", "blocked"]


def test_unknown_signal_is_reported_per_item_without_failing_the_batch(client, token):
    known, unknown = random_signal("pdq"), random_signal("pdq")
    report(client, [known])
    response = send(client, token, [item(unknown), item(known)])
    assert response.status_code == 200
    body = response.get_json()
    assert body["results"] == [{"status": "unknown_signal"}, {"status": "recorded"}]
    assert body["recorded"] == 1 and body["unknown_signal"] == 1


def test_the_same_report_again_without_a_key_is_not_counted_twice(client, token, session):
    signal = random_signal("md5")
    report(client, [signal])
    batch = [item(signal, "blocked", occurred_at=when(1), count=2)]
    send(client, token, batch)
    again = send(client, token, batch).get_json()
    assert again["results"] == [{"status": "already_recorded"}]
    assert session.scalar(select(FeedbackLatest.count)) == 2
    assert session.scalar(select(func.count()).select_from(FeedbackEvent)) == 1


def test_idempotency_key_replays_the_first_answer(client, token, session):
    signal = random_signal("md5")
    report(client, [signal])
    key = str(uuid.uuid4())
    batch = [item(signal, "blocked", occurred_at=when(1))]
    first = send(client, token, batch, key)
    second = send(client, token, batch, key)
    assert first.get_json() == second.get_json() == {
        "results": [{"status": "recorded"}], "recorded": 1, "already_recorded": 0, "unknown_signal": 0}
    assert second.headers["Idempotent-Replayed"] == "true"
    assert session.scalar(select(FeedbackLatest.count)) == 1


def test_replayed_idempotency_key_with_a_different_body_is_409(client, token):
    signal = random_signal("md5")
    report(client, [signal])
    key = str(uuid.uuid4())
    send(client, token, [item(signal, "blocked", occurred_at=when(1))], key)
    response = send(client, token, [item(signal, "not_blocked", occurred_at=when(1))], key)
    assert response.status_code == 409 and response.get_json()["code"] == "idempotency_key_reused"


def test_idempotency_keys_of_two_partners_do_not_collide(app, client, token):
    other = add_partner(app, "beta", scopes="feedback:write")
    signal = random_signal("md5")
    report(client, [signal])
    key = str(uuid.uuid4())
    assert send(client, token, [item(signal, "blocked")], key).status_code == 200
    assert send(client, other, [item(signal, "not_blocked")], key).status_code == 200


def _refused(app, client, token, items, code, engine):
    before = snapshot(engine)
    response = send(client, token, items)
    assert response.status_code == 422, response.get_json()
    assert response.mimetype == PROBLEM
    assert response.get_json()["code"] == code
    assert snapshot(engine) == before  # nothing half-written
    return response.get_json()


def test_unknown_type_is_refused(app, client, token, engine):
    signal = random_signal("md5")
    report(client, [signal])
    body = _refused(app, client, token, [item(signal), dict(item(signal), type="tmk")],
                    "invalid_input", engine)
    assert "1" in body["errors"]["items"]


def test_malformed_value_is_refused(app, client, token, engine):
    signal = random_signal("md5")
    report(client, [signal])
    _refused(app, client, token, [item(signal), {**item(signal), "value": "zz" * 16}],
             "invalid_signal", engine)


@pytest.mark.parametrize("verdict", ["removed", "BLOCKED", "", None])
def test_verdict_not_in_the_list_is_refused(app, client, token, engine, verdict):
    signal = random_signal("md5")
    report(client, [signal])
    _refused(app, client, token, [item(signal, verdict)], "invalid_input", engine)


def test_occurred_at_days_in_the_future_is_refused(app, client, token, engine):
    signal = random_signal("md5")
    report(client, [signal])
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).isoformat()
    body = _refused(app, client, token, [item(signal, occurred_at=future)], "occurred_at_in_future",
                    engine)
    assert "5 minutes" in body["detail"]


def test_a_little_clock_skew_is_allowed(client, token):
    signal = random_signal("md5")
    report(client, [signal])
    ahead = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=2)).isoformat()
    assert send(client, token, [item(signal, occurred_at=ahead)]).status_code == 200


def test_occurred_at_without_a_time_zone_is_refused(app, client, token, engine):
    signal = random_signal("md5")
    report(client, [signal])
    _refused(app, client, token, [item(signal, occurred_at="2026-01-01T10:00:00")], "invalid_input",
             engine)


def test_batch_of_1001_is_refused_and_1000_accepted(app, client, token, engine):
    signal = random_signal("md5")
    report(client, [signal])
    unknown = [item(random_signal("md5")) for _ in range(1001)]
    body = _refused(app, client, token, unknown, "invalid_input", engine)
    assert "items" in body["errors"]
    assert send(client, token, unknown[:1000]).get_json()["unknown_signal"] == 1000


def test_empty_batch_is_refused(app, client, token, engine):
    _refused(app, client, token, [], "invalid_input", engine)


def test_the_same_item_twice_in_a_batch_is_refused(app, client, token, engine):
    signal = random_signal("md5")
    report(client, [signal])
    body = _refused(app, client, token, [item(signal, "blocked"), item(random_signal("md5")),
                                         item(signal, "not_blocked")], "duplicate_item", engine)
    assert body["indexes"] == [0, 2]
    # Upper-case hex is the same signal once normalised.
    shouting = dict(item(signal), value=signal["value"].upper())
    _refused(app, client, token, [item(signal), shouting], "duplicate_item", engine)


@pytest.mark.parametrize("count", [0, -1, 1_000_001, "3", 1.5])
def test_bad_count_is_refused(app, client, token, engine, count):
    signal = random_signal("md5")
    report(client, [signal])
    _refused(app, client, token, [item(signal, count=count)], "invalid_input", engine)


def test_note_is_capped_and_never_logged(app, client, token, engine, session, caplog):
    signal = random_signal("md5")
    report(client, [signal])
    secret_note = "reviewer-note-" + uuid.uuid4().hex
    with caplog.at_level(logging.DEBUG):
        _refused(app, client, token, [item(signal, note=secret_note + "x" * 500)], "invalid_input",
                 engine)
        assert send(client, token, [item(signal, note=secret_note)]).status_code == 200
    assert session.scalar(select(FeedbackEvent.note)) == secret_note
    assert secret_note not in caplog.text


def test_scope_and_credentials(app, client, token):
    feed_only = add_partner(app, scopes="feed:read")
    signal = random_signal("md5")
    assert send(client, "fpt_nope", [item(signal)]).status_code == 401
    refused = send(client, feed_only, [item(signal)])
    assert refused.status_code == 403 and refused.get_json()["code"] == "insufficient_scope"


def test_feedback_is_not_json_or_too_big(client, token):
    response = client.post("/v1/feedback", data=b"items=1", headers=bearer(token),
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    huge = client.post("/v1/feedback", data=b"{" + b" " * (1024 * 1024) + b"}", headers=bearer(token),
                       content_type="application/json")
    assert huge.status_code == 413


def test_concurrent_overlapping_batches_neither_deadlock_nor_lose_a_report(app, client, token, session):
    # Batches of the same signals in different orders once deadlocked on PostgreSQL.
    signals = [random_signal("md5") for _ in range(40)]
    report(client, signals)
    threads_n, batches = 6, 5
    statuses: list[int] = []

    def partner_client(seed: int) -> None:
        rng = random.Random(seed)
        with app.test_client() as own:
            for batch in range(batches):
                shuffled = rng.sample(signals, len(signals))
                at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seed * 100 + batch)
                statuses.append(send(own, token, [item(s, "blocked", occurred_at=at.isoformat())
                                                  for s in shuffled]).status_code)

    workers = [threading.Thread(target=partner_client, args=(seed,)) for seed in range(threads_n)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert statuses == [200] * threads_n * batches
    assert session.scalar(select(func.count()).select_from(FeedbackEvent)) == threads_n * batches * 40
    assert set(session.scalars(select(FeedbackLatest.count))) == {threads_n * batches}
