"""Holding under attack: limits per client network on the person's endpoints, shared
through Redis; wrong PINs that lock the guesser's network, not the owner; the daily cap
per case; and no address stored anywhere."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text

from federation.services import services
from tests.factories import case_payload

PROBLEM = "application/problem+json"
PERSON_PATHS = ["/v1/cases/status", "/v1/cases/withdraw", "/v1/cases/stop-sharing"]


def at(address: str) -> dict:
    return {"environ_base": {"REMOTE_ADDR": address}}


def report(client, address: str = "192.0.2.1"):
    return client.post("/v1/cases", json=case_payload(), **at(address))


def wrong_pin(receipt: dict) -> dict:
    return {"reference": receipt["reference"],
            "pin": "00000000" if receipt["pin"] != "00000000" else "11111111"}


def assert_rate_limited(response) -> None:
    assert response.status_code == 429 and response.mimetype == PROBLEM
    assert response.get_json()["code"] == "rate_limited"
    assert 1 <= int(response.headers["Retry-After"]) <= 3600


@pytest.fixture
def limited_app(make_app, clean_database):
    return make_app(REPORT_LIMIT=2, CASE_ACCESS_LIMIT=3)


def test_reports_are_limited_per_client(limited_app):
    client = limited_app.test_client()
    assert [report(client).status_code for _ in range(2)] == [201, 201]
    assert_rate_limited(report(client))
    assert report(client, "192.0.2.2").status_code == 201  # another client is not affected


@pytest.mark.parametrize("path", PERSON_PATHS)
def test_each_person_endpoint_is_limited_per_client(limited_app, path):
    client = limited_app.test_client()
    receipt = report(client, "192.0.2.50").get_json()
    credentials = {"reference": receipt["reference"], "pin": receipt["pin"]}
    for _ in range(3):
        assert client.post(path, json=credentials, **at("192.0.2.1")).status_code == 200
    assert_rate_limited(client.post(path, json=credentials, **at("192.0.2.1")))
    assert client.post(path, json=credentials, **at("192.0.2.2")).status_code == 200


def test_status_withdraw_and_stop_sharing_share_one_limit(limited_app):
    client = limited_app.test_client()
    receipt = report(client, "192.0.2.50").get_json()
    credentials = {"reference": receipt["reference"], "pin": receipt["pin"]}
    for path in PERSON_PATHS:
        assert client.post(path, json=credentials, **at("192.0.2.1")).status_code == 200
    assert_rate_limited(client.post("/v1/cases/status", json=credentials, **at("192.0.2.1")))


def test_ipv6_clients_are_counted_per_64(make_app, clean_database):
    client = make_app(REPORT_LIMIT=1).test_client()
    assert report(client, "2001:db8:1:2::1").status_code == 201
    assert_rate_limited(report(client, "2001:db8:1:2:ffff:ffff:ffff:9"))  # the same /64
    assert report(client, "2001:db8:1:3::1").status_code == 201  # the next /64


def test_limits_are_shared_through_redis_by_two_app_instances(make_app, clean_database, redis_space):
    url, prefix = redis_space.url, redis_space.prefix
    first, second = (make_app(REDIS_URL=url, REDIS_PREFIX=prefix, REPORT_LIMIT=3).test_client()
                     for _ in range(2))
    assert [report(first).status_code, report(second).status_code, report(first).status_code] == [201] * 3
    assert_rate_limited(report(second))
    assert report(second, "192.0.2.2").status_code == 201


def test_network_pin_locks_are_shared_through_redis(make_app, clean_database, redis_space):
    url, prefix = redis_space.url, redis_space.prefix
    first, second = (make_app(REDIS_URL=url, REDIS_PREFIX=prefix).test_client() for _ in range(2))
    receipt = report(first).get_json()
    for worker in (first, second, first, second, first):
        wrong = worker.post("/v1/cases/status", json=wrong_pin(receipt), **at("198.51.100.7"))
        assert wrong.status_code == 404
    locked = second.post("/v1/cases/status", json=wrong_pin(receipt), **at("198.51.100.7"))
    assert locked.status_code == 429 and locked.get_json()["code"] == "locked"


def test_a_stranger_cannot_lock_the_owner_out(client, engine):
    receipt = report(client).get_json()
    right = {"reference": receipt["reference"], "pin": receipt["pin"]}
    for _ in range(4):  # one short of a lock, from the stranger's network
        assert client.post("/v1/cases/status", json=wrong_pin(receipt),
                           **at("198.51.100.7")).status_code == 404
    # The owner's own typo counts for the owner's network only: no lock for them.
    assert client.post("/v1/cases/status", json=wrong_pin(receipt), **at("203.0.113.20")).status_code == 404
    assert client.post("/v1/cases/status", json=right, **at("203.0.113.20")).status_code == 200
    for _ in range(8):  # the stranger's fifth locks the stranger's network; the rest are refused
        client.post("/v1/cases/status", json=wrong_pin(receipt), **at("198.51.100.7"))
    stranger = client.post("/v1/cases/status", json=right, **at("198.51.100.7"))
    assert stranger.status_code == 429 and stranger.get_json()["code"] == "locked"
    owner = client.post("/v1/cases/status", json=right, **at("203.0.113.20"))
    assert owner.status_code == 200 and owner.get_json()["status"] == "active"
    # The stranger's IPv6 neighbour in another /64 is another network too.
    assert client.post("/v1/cases/withdraw", json=right, **at("2001:db8:9:9::1")).status_code == 200
    with engine.connect() as conn:  # the audit table holds no address
        rows = conn.execute(text("SELECT event, actor, detail FROM audit_events")).all()
    assert rows and not any(address in repr(row) for row in rows
                            for address in ("198.51.100.7", "203.0.113.20", "2001:db8"))


class _Day:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 12, 3, 22, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


def test_the_daily_cap_stops_a_distributed_guesser(make_app, clean_database):
    app = make_app(PIN_DAILY_CAP=6)
    clock = _Day()
    object.__setattr__(services(app).pins, "clock", clock)  # the app is this test's own
    client = app.test_client()
    receipt = report(client).get_json()
    right = {"reference": receipt["reference"], "pin": receipt["pin"]}
    for n in range(6):  # each guess from another address: no network is ever locked
        assert client.post("/v1/cases/status", json=wrong_pin(receipt),
                           **at(f"198.51.100.{n}")).status_code == 404
    refused = client.post("/v1/cases/status", json=wrong_pin(receipt), **at("198.51.100.99"))
    assert refused.status_code == 429 and refused.get_json()["code"] == "locked"
    assert int(refused.headers["Retry-After"]) == 2 * 3600  # until the UTC day rolls
    # Until then the owner is refused too: the one delay a distributed guesser can cause.
    assert client.post("/v1/cases/status", json=right, **at("203.0.113.20")).status_code == 429
    clock.now += dt.timedelta(hours=2)
    assert client.post("/v1/cases/status", json=right, **at("203.0.113.20")).status_code == 200
    # A new day: the count starts again.
    assert client.post("/v1/cases/status", json=wrong_pin(receipt), **at("198.51.100.1")).status_code == 404
