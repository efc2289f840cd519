"""POST /v1/cases, /status, /withdraw: the person's flow and its bad input."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import threading
import time

import pytest
from sqlalchemy import select, update

from federation.cases import open_sealed_pin
from federation.crypto.encoding import b64u_encode
from federation.models import Case, IdempotencyRecord
from federation.services import services
from tests.factories import CONSENT, case_payload, random_signal, snapshot

PROBLEM = "application/problem+json"


def report(client, payload=None, **kwargs):
    return client.post("/v1/cases", json=payload if payload is not None else case_payload(), **kwargs)


def test_report_returns_reference_and_pin_once(client):
    response = report(client)
    assert response.status_code == 201
    body = response.get_json()
    assert body["status"] == "active" and body["signal_count"] == 1 and body["replayed"] is False
    assert len(body["pin"]) == 8 and body["pin"].isdigit()
    groups = body["reference"].split("-")
    assert [len(g) for g in groups] == [4, 4, 4]
    assert response.headers["Cache-Control"] == "no-store"


def test_status_then_withdraw_then_withdraw_again(client):
    receipt = report(client).get_json()
    credentials = {"reference": receipt["reference"], "pin": receipt["pin"]}

    status = client.post("/v1/cases/status", json=credentials)
    assert status.status_code == 200
    assert status.get_json()["status"] == "active" and status.get_json()["signal_count"] == 1

    first = client.post("/v1/cases/withdraw", json=credentials)
    assert first.status_code == 200 and first.get_json()["status"] == "withdrawn"
    again = client.post("/v1/cases/withdraw", json=credentials)
    assert again.status_code == 200
    assert again.get_json()["withdrawn_at"] == first.get_json()["withdrawn_at"]


def test_reference_is_forgiving_of_typing(client):
    receipt = report(client).get_json()
    typed = receipt["reference"].lower().replace("-", " ").replace("1", "l").replace("0", "o")
    response = client.post("/v1/cases/status", json={"reference": typed, "pin": receipt["pin"]})
    assert response.status_code == 200


def test_same_signal_twice_is_deduplicated(client):
    signal = random_signal("md5")
    upper = dict(signal, value=signal["value"].upper())
    response = report(client, case_payload([signal, upper]))
    assert response.status_code == 201 and response.get_json()["signal_count"] == 1


def test_the_edges_of_what_is_allowed_are_accepted(client):
    most = case_payload([random_signal("md5") for _ in range(500)])
    assert report(client, most).get_json()["signal_count"] == 500
    lowest = case_payload([dict(random_signal("pdq"), quality=50)])
    assert report(client, lowest).status_code == 201


def test_every_signal_type_is_accepted(client):
    signals = [random_signal(kind) for kind in ("pdq", "phash", "md5", "sha256")]
    assert report(client, case_payload(signals)).get_json()["signal_count"] == 4


@pytest.mark.parametrize("payload, code", [
    (case_payload([]), "signal_count"),
    (case_payload([random_signal("md5") for _ in range(501)]), "signal_count"),
    (case_payload([{"type": "md5", "value": "abc"}]), "invalid_signal"),
    (case_payload([{"type": "md5", "value": "g" * 32}]), "invalid_signal"),
    (case_payload([{"type": "md5", "value": "a" * 31 + "\u0660"}]), "invalid_signal"),
    (case_payload([{"type": "pdq", "value": "a" * 62, "quality": 100}]), "invalid_signal"),
    (case_payload([{"type": "phash", "value": "a" * 15}]), "invalid_signal"),
    (case_payload([{"type": "sha256", "value": "a" * 65}]), "invalid_signal"),
    (case_payload([{"type": "md5", "value": 12345678901234567890}]), "invalid_input"),
    (case_payload([{"type": "sha1", "value": "a" * 40}]), "invalid_input"),
    (case_payload([{"type": "pdq", "value": "a" * 64}]), "pdq_quality_missing"),
    (case_payload([{"type": "pdq", "value": "a" * 64, "quality": 101}]), "invalid_signal"),
    (case_payload([{"type": "pdq", "value": "a" * 64, "quality": -1}]), "invalid_signal"),
    (case_payload([{"type": "pdq", "value": "a" * 64, "quality": 49}]), "pdq_quality_too_low"),
    (case_payload([{"type": "pdq", "value": "a" * 64, "quality": "80"}]), "invalid_input"),
    (case_payload([{"type": "md5", "value": "a" * 32, "quality": 80}]), "invalid_signal"),
    (case_payload(unexpected="field"), "invalid_input"),
    (case_payload([dict(random_signal(), extra=1)]), "invalid_input"),
    ({"signals": [random_signal()], "consent": dict(CONSENT, adult=False)}, "consent_required"),
    ({"signals": [random_signal()], "consent": dict(CONSENT, adult="yes")}, "invalid_input"),
    ({"signals": [random_signal()]}, "invalid_input"),
    (case_payload(referral_code="x'; DROP TABLE cases; --"), "invalid_input"),
    ([1, 2, 3], "invalid_input"),
])
def test_bad_reports_are_refused_and_change_nothing(client, engine, payload, code):
    before = snapshot(engine)
    response = report(client, payload)
    assert response.status_code == 422, response.get_json()
    assert response.mimetype == PROBLEM
    assert response.get_json()["code"] == code
    assert snapshot(engine) == before


@pytest.mark.parametrize("path", ["/v1/cases", "/v1/cases/status", "/v1/cases/withdraw"])
def test_malformed_json(client, engine, path):
    before = snapshot(engine)
    response = client.post(path, data=b'{"signals": [', content_type="application/json")
    assert response.status_code == 400 and response.mimetype == PROBLEM
    assert response.get_json()["code"] == "malformed_json"
    assert snapshot(engine) == before


@pytest.mark.parametrize("path", ["/v1/cases/status", "/v1/cases/withdraw"])
def test_unknown_fields_beside_the_credentials(client, engine, path):
    receipt = report(client).get_json()
    before = snapshot(engine)
    response = client.post(path, json={"reference": receipt["reference"], "pin": receipt["pin"],
                                       "status": "withdrawn"})
    assert response.status_code == 422 and response.get_json()["code"] == "invalid_input"
    assert snapshot(engine) == before


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "image/jpeg", None])
def test_wrong_content_type(client, engine, content_type):
    before = snapshot(engine)
    kwargs = {"content_type": content_type} if content_type else {}
    response = client.post("/v1/cases", data=json.dumps(case_payload()), **kwargs)
    assert response.status_code == 415 and response.get_json()["code"] == "unsupported_media_type"
    assert snapshot(engine) == before


def test_multipart_image_upload_is_refused_and_not_stored(client, engine, corpus_dir):
    before = snapshot(engine)
    photo = corpus_dir / "pdq-reference" / "bridge-mods" / "aaa-orig.jpg"
    with open(photo, "rb") as handle:
        response = client.post("/v1/cases", data={"photo": (handle, "photo.jpg")},
                               content_type="multipart/form-data")
    assert response.status_code == 415 and response.mimetype == PROBLEM
    assert response.get_json()["code"] == "unsupported_media_type"
    assert snapshot(engine) == before


def test_body_over_the_cap(client, engine):
    before = snapshot(engine)
    body = b'{"signals": [], "pad": "' + b"a" * (1024 * 1024) + b'"}'
    response = client.post("/v1/cases", data=body, content_type="application/json")
    assert response.status_code == 413 and response.get_json()["code"] == "body_too_large"
    assert snapshot(engine) == before


WEIRD_STRINGS = ["' OR 1=1 --", "\"; DROP TABLE cases; --", "\u0000", "\u202e1234-5678-9ABC",
                 "🙂🙂🙂", "ℌ𝔢𝔩𝔩𝔬", "A" * 10000, "\ud800"]


@pytest.mark.parametrize("weird", WEIRD_STRINGS)
@pytest.mark.parametrize("field", ["reference", "pin"])
@pytest.mark.parametrize("path", ["/v1/cases/status", "/v1/cases/withdraw"])
def test_weird_strings_in_credentials(client, engine, weird, field, path):
    receipt = report(client).get_json()
    credentials = {"reference": receipt["reference"], "pin": receipt["pin"], field: weird}
    before = snapshot(engine)
    body = json.dumps(credentials).encode() if weird != "\ud800" else (
        b'{"reference": "x", "pin": "\\ud800"}')
    response = client.post(path, data=body, content_type="application/json")
    assert response.status_code in (400, 404, 422), response.get_json()
    assert response.mimetype == PROBLEM
    tables = {k: v for k, v in snapshot(engine).items() if k != "audit_events"}
    assert tables == {k: v for k, v in before.items() if k != "audit_events"}


@pytest.mark.parametrize("weird", WEIRD_STRINGS)
@pytest.mark.parametrize("field", ["type", "value"])
def test_weird_strings_in_signals(client, engine, weird, field):
    before = snapshot(engine)
    signal = dict(random_signal("md5"), **{field: weird})
    response = client.post("/v1/cases", data=json.dumps(case_payload([signal])),
                           content_type="application/json")
    assert response.status_code in (400, 422) and response.mimetype == PROBLEM
    assert snapshot(engine) == before


@pytest.mark.parametrize("weird", WEIRD_STRINGS)
def test_weird_strings_in_the_referral_code(client, engine, weird):
    """None of these has a referral code's shape: refused before anything is stored."""
    before = snapshot(engine)
    body = json.dumps(case_payload(referral_code=weird)).encode() if weird != "\ud800" else (
        json.dumps(case_payload()).encode()[:-1] + b', "referral_code": "\\ud800"}')
    response = client.post("/v1/cases", data=body, content_type="application/json")
    assert response.status_code in (400, 422) and response.mimetype == PROBLEM
    assert snapshot(engine) == before


@pytest.mark.parametrize("key", ["' OR 1=1 --" * 3, '"; DROP TABLE idempotency_records; --',
                                 "\u00e9" * 30, "k" * 129, " " * 40])
def test_weird_idempotency_keys_are_refused(client, engine, key):
    before = snapshot(engine)
    response = report(client, headers={"Idempotency-Key": key})
    assert response.status_code == 422 and response.get_json()["code"] == "invalid_idempotency_key"
    assert snapshot(engine) == before


def test_unknown_reference_and_wrong_pin_look_the_same(client):
    receipt = report(client).get_json()
    wrong_pin = client.post("/v1/cases/status",
                            json={"reference": receipt["reference"], "pin": "00000000"
                                  if receipt["pin"] != "00000000" else "11111111"})
    unknown = client.post("/v1/cases/status", json={"reference": "ZZZZ-ZZZZ-ZZZZ", "pin": receipt["pin"]})
    assert wrong_pin.status_code == unknown.status_code == 404
    assert wrong_pin.get_json() == unknown.get_json()
    assert set(wrong_pin.headers.keys()) == set(unknown.headers.keys())


def test_six_wrong_pins_lock_the_network_not_the_owner(client, engine):
    receipt = report(client).get_json()
    wrong = "00000000" if receipt["pin"] != "00000000" else "11111111"
    stranger = {"REMOTE_ADDR": "198.51.100.7"}
    for _ in range(5):
        response = client.post("/v1/cases/status", json={"reference": receipt["reference"], "pin": wrong},
                               environ_base=stranger)
        assert response.status_code == 404
    sixth = client.post("/v1/cases/status", json={"reference": receipt["reference"], "pin": wrong},
                        environ_base=stranger)
    assert sixth.status_code == 429 and sixth.get_json()["code"] == "locked"
    assert 1 <= int(sixth.headers["Retry-After"]) <= 60
    # Locked means locked for that network: the right PIN is refused there too...
    right = {"reference": receipt["reference"], "pin": receipt["pin"]}
    assert client.post("/v1/cases/status", json=right, environ_base=stranger).status_code == 429
    # ...and only there: the owner, elsewhere, gets in.
    assert client.post("/v1/cases/status", json=right,
                       environ_base={"REMOTE_ADDR": "203.0.113.20"}).status_code == 200


class _Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def test_a_second_lock_lasts_twice_as_long(app, client, monkeypatch):
    locks = services(app).pins.network_locks
    clock = _Clock()
    monkeypatch.setattr(locks.store, "clock", clock)
    receipt = report(client).get_json()
    wrong = {"reference": receipt["reference"],
             "pin": "00000000" if receipt["pin"] != "00000000" else "11111111"}

    def lock() -> int:
        for _ in range(5):
            assert client.post("/v1/cases/status", json=wrong).status_code == 404
        locked = client.post("/v1/cases/status", json=wrong)
        assert locked.status_code == 429 and locked.mimetype == PROBLEM
        return int(locked.headers["Retry-After"])

    assert lock() == 60
    clock.now += 60  # the first lock runs out
    assert lock() == 120


def test_replayed_idempotency_key_returns_same_case_with_sealed_pin(client, engine):
    key = "k-" + "a1b2c3d4" * 4
    payload = case_payload()
    first = report(client, payload, headers={"Idempotency-Key": key})
    second = report(client, payload, headers={"Idempotency-Key": key})
    assert first.status_code == second.status_code == 201
    a, b = first.get_json(), second.get_json()
    assert b["reference"] == a["reference"] and b["replayed"] is True
    assert b["pin"] is None and second.headers["Idempotent-Replayed"] == "true"
    assert open_sealed_pin(key, b["pin_sealed"]) == a["pin"]
    with engine.connect() as conn:
        from sqlalchemy import text
        assert conn.execute(text("SELECT count(*) FROM cases")).scalar_one() == 1


def test_idempotency_key_reused_with_other_body_is_409(client, engine):
    key = "k-" + "e5f6a7b8" * 4
    report(client, headers={"Idempotency-Key": key})
    before = snapshot(engine)
    response = report(client, case_payload(), headers={"Idempotency-Key": key})
    assert response.status_code == 409 and response.get_json()["code"] == "idempotency_key_reused"
    assert snapshot(engine) == before


def test_an_expired_idempotency_key_opens_a_new_case(client, engine):
    """A key older than the TTL whose record is not purged yet is a new request (found in
    review: it answered 500, the new record colliding with the old one)."""
    key, payload = "k-" + "9a8b7c6d" * 4, case_payload()
    first = report(client, payload, headers={"Idempotency-Key": key}).get_json()
    with engine.begin() as conn:
        conn.execute(update(IdempotencyRecord).values(
            created_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=2)))
    again = report(client, payload, headers={"Idempotency-Key": key})
    assert again.status_code == 201 and again.get_json()["replayed"] is False
    assert again.get_json()["reference"] != first["reference"] and again.get_json()["pin"]
    replay = report(client, payload, headers={"Idempotency-Key": key}).get_json()
    assert replay["replayed"] is True and replay["reference"] == again.get_json()["reference"]


def test_a_pin_hash_made_with_older_settings_is_replaced_by_the_right_pin(app, client, engine):
    """Hashes stored as scrypt (before Argon2id) or with a lower cost still open the case,
    and the right PIN replaces them, so every case comes to cost the same to check."""
    receipt = report(client).get_json()
    credentials = {"reference": receipt["reference"], "pin": receipt["pin"]}
    salt = b"s" * 16
    peppered = hmac.new(app.config["PEPPER_BYTES"], receipt["pin"].encode(), hashlib.sha256).digest()
    legacy = (f"scrypt$1024$8$1${b64u_encode(salt)}$"
              f"{b64u_encode(hashlib.scrypt(peppered, salt=salt, n=1024, r=8, p=1, dklen=32))}")
    with engine.begin() as conn:
        conn.execute(update(Case).values(pin_hash=legacy))
    assert client.post("/v1/cases/status", json=credentials).status_code == 200
    with engine.connect() as conn:
        assert conn.execute(select(Case.pin_hash)).scalar_one().startswith("$argon2id$v=19$m=4096,t=3,p=1$")
    assert client.post("/v1/cases/status", json=credentials).status_code == 200
    wrong = {**credentials, "pin": "00000000" if receipt["pin"] != "00000000" else "11111111"}
    assert client.post("/v1/cases/status", json=wrong).status_code == 404


def test_short_idempotency_key_is_refused(client):
    response = report(client, headers={"Idempotency-Key": "abc"})
    assert response.status_code == 422 and response.get_json()["code"] == "invalid_idempotency_key"


def test_concurrent_retries_with_one_key_make_one_case(app, engine, clean_database):
    key, payload = "k-" + "0f1e2d3c" * 4, case_payload()
    results, barrier = [], threading.Barrier(4)

    def send():
        with app.test_client() as client:
            barrier.wait()
            results.append(report(client, payload, headers={"Idempotency-Key": key}))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.status_code for r in results] == [201] * 4
    assert len({r.get_json()["reference"] for r in results}) == 1
    assert sum(r.get_json()["pin"] is not None for r in results) == 1


def test_reports_sharing_new_signals_in_opposite_orders_do_not_deadlock(app, clean_database):
    """Reports insert their new signals before the feed head lock, so two reports with the
    same new hashes wait on each other's rows; in opposite orders they would deadlock
    (PostgreSQL then aborts one: a 500) unless rows go in one order."""
    statuses, rounds = [], 15
    barrier = threading.Barrier(2)

    def send(pairs, reverse):
        with app.test_client() as client:
            for pair in pairs:
                barrier.wait()
                signals = list(reversed(pair)) if reverse else pair
                statuses.append(report(client, case_payload(signals)).status_code)

    pairs = [[random_signal("md5") for _ in range(40)] for _ in range(rounds)]
    threads = [threading.Thread(target=send, args=(pairs, reverse)) for reverse in (False, True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [201] * (2 * rounds)


def test_withdraw_and_status_racing(app, clean_database):
    with app.test_client() as client:
        receipt = report(client).get_json()
    credentials = {"reference": receipt["reference"], "pin": receipt["pin"]}
    results, barrier = {}, threading.Barrier(6)

    def call(name, path):
        with app.test_client() as client:
            barrier.wait()
            results[name] = client.post(path, json=credentials)

    threads = [threading.Thread(target=call, args=(f"w{i}", "/v1/cases/withdraw")) for i in range(3)]
    threads += [threading.Thread(target=call, args=(f"s{i}", "/v1/cases/status")) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(r.status_code == 200 for r in results.values()), {k: r.get_json() for k, r in results.items()}
    assert {results[f"w{i}"].get_json()["status"] for i in range(3)} == {"withdrawn"}
    withdrawn_at = {results[f"w{i}"].get_json()["withdrawn_at"] for i in range(3)}
    assert len(withdrawn_at) == 1
    with app.test_client() as client:
        assert client.post("/v1/cases/status", json=credentials).get_json()["status"] == "withdrawn"
