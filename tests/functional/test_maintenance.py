"""`federation maintenance` keeps each lifetime the README promises, and two runs at once are safe."""
from __future__ import annotations

import datetime as dt
import threading
import uuid

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from federation import caseworker_sessions, maintenance, referrals
from federation.errors import FederationError
from federation.models import CaseworkerSession, IdempotencyRecord, Referral, utcnow
from federation.services import services
from tests.factories import add_organisation, bearer, case_payload

NOW = utcnow


def counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            "records": conn.execute(select(func.count()).select_from(IdempotencyRecord)).scalar_one(),
            "sessions": conn.execute(select(func.count()).select_from(CaseworkerSession)).scalar_one(),
            "codes": conn.execute(select(func.count()).select_from(Referral)
                                  .where(Referral.code_digest.is_not(None))).scalar_one(),
            "referrals": conn.execute(select(func.count()).select_from(Referral)).scalar_one(),
        }


def backdate(engine, model, seconds: float, **columns_where) -> None:
    """Move rows' timestamps `seconds` into the past (as if that much time had gone by)."""
    with engine.begin() as conn:
        for column in columns_where["columns"]:
            conn.execute(update(model).values({column: utcnow() - dt.timedelta(seconds=seconds)})
                         .where(*columns_where.get("where", ())))


def report_with_key(client) -> None:
    response = client.post("/v1/cases", json=case_payload(), headers={"Idempotency-Key": str(uuid.uuid4())})
    assert response.status_code == 201, response.get_json()


# --- README: "records expire after a day" (FEDERATION_IDEMPOTENCY_TTL_SECONDS = 86400) ------

def test_idempotency_records_go_after_a_day_and_not_before(cli, client, engine):
    report_with_key(client)
    report_with_key(client)
    with engine.begin() as conn:
        ids = conn.execute(select(IdempotencyRecord.id).order_by(IdempotencyRecord.id)).scalars().all()
    day = 24 * 3600
    backdate(engine, IdempotencyRecord, day + 60, columns=["created_at"], where=[IdempotencyRecord.id == ids[0]])
    backdate(engine, IdempotencyRecord, day - 60, columns=["created_at"], where=[IdempotencyRecord.id == ids[1]])
    result = cli("maintenance")
    assert result.exit_code == 0, result.output
    assert "purged: 1 idempotency records" in result.output
    with engine.connect() as conn:
        assert conn.execute(select(IdempotencyRecord.id)).scalars().all() == [ids[1]]


# --- README: caseworker sign-in idle timeout 900 s and maximum length 28800 s -----------------

def test_caseworker_sessions_go_when_idle_or_too_old(cli, app, engine):
    _, workers = add_organisation(app, "haven", caseworkers=("sam",))
    with Session(engine) as session:
        opened = [caseworker_sessions.sign_in(session, workers["sam"]) for _ in range(4)]
    ids = [row for row in Session(engine).scalars(select(CaseworkerSession.id).order_by(CaseworkerSession.id))]
    policy = services(app).caseworker_sessions
    assert (policy.idle_seconds, policy.max_seconds) == (900, 28800)  # the README's defaults
    backdate(engine, CaseworkerSession, 900 + 30, columns=["last_seen_at"], where=[CaseworkerSession.id == ids[0]])
    backdate(engine, CaseworkerSession, 900 - 30, columns=["last_seen_at"], where=[CaseworkerSession.id == ids[1]])
    backdate(engine, CaseworkerSession, 28800 + 30, columns=["created_at"], where=[CaseworkerSession.id == ids[2]])
    backdate(engine, CaseworkerSession, 28800 - 30, columns=["created_at"], where=[CaseworkerSession.id == ids[3]])
    result = cli("maintenance")
    assert "2 caseworker sessions" in result.output, result.output
    with engine.connect() as conn:
        assert conn.execute(select(CaseworkerSession.id).order_by(CaseworkerSession.id)).scalars().all() \
            == [ids[1], ids[3]]
    with Session(engine) as session:  # the kept ones still sign in; the purged ones never will
        assert caseworker_sessions.resume(session, policy, opened[1].session_id) is not None
        assert caseworker_sessions.resume(session, policy, opened[0].session_id) is None


# --- README / docs/organisations.md: a code "works once, and expires after 30 days" -----------

def test_referral_codes_are_forgotten_once_expired_or_spent(cli, app, client, engine):
    token, _ = add_organisation(app, "haven")
    made = [client.post("/v1/referrals", json={}, headers={**bearer(token), "Idempotency-Key": str(uuid.uuid4())})
            .get_json() for _ in range(3)]
    expired, spent, open_ = made
    assert services(app).referrals.ttl_days == 30
    with engine.begin() as conn:  # 30 days and a minute have gone by for the first
        conn.execute(update(Referral).where(Referral.public_id == expired["id"])
                     .values(expires_at=utcnow() - dt.timedelta(minutes=1),
                             created_at=utcnow() - dt.timedelta(days=30, minutes=1)))
    assert client.post("/v1/cases", json=case_payload(referral_code=spent["code"])).status_code == 201
    stats_before = client.get("/v1/referrals/stats", headers=bearer(token)).get_json()
    result = cli("maintenance")
    assert "2 referral codes" in result.output, result.output
    assert counts(engine)["codes"] == 1 and counts(engine)["referrals"] == 3
    with engine.connect() as conn:
        kept = conn.execute(select(Referral.public_id).where(Referral.code_digest.is_not(None))).scalars().all()
    assert kept == [open_["id"]]
    # The organisation's counts and list are unchanged; the open code still works.
    assert client.get("/v1/referrals/stats", headers=bearer(token)).get_json() == stats_before
    with Session(engine) as session:
        assert referrals.check_code(session, services(app).referrals, open_["code"])
        with pytest.raises(FederationError):
            referrals.check_code(session, services(app).referrals, expired["code"])


def test_a_second_pass_finds_nothing(cli, client, engine):
    report_with_key(client)
    backdate(engine, IdempotencyRecord, 2 * 24 * 3600, columns=["created_at"])
    assert "purged: 1 idempotency" in cli("maintenance").output
    assert "purged: 0 idempotency records, 0 caseworker sessions, 0 referral codes" in cli("maintenance").output


# --- two runs at once ----------------------------------------------------------------------

def test_two_runs_at_once_purge_each_row_once(app, client, engine):
    for _ in range(20):
        report_with_key(client)
    backdate(engine, IdempotencyRecord, 2 * 24 * 3600, columns=["created_at"])
    results, errors = [], []
    start = threading.Barrier(2)

    def one_pass():
        try:
            with Session(engine) as session:
                start.wait(timeout=10)
                results.append(maintenance.run(session, services(app).idempotency,
                                               services(app).caseworker_sessions))
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=one_pass) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors and len(results) == 2
    assert sum(r.idempotency_records for r in results) == 20
    assert counts(engine)["records"] == 0


def test_a_run_while_another_holds_the_lock(cli, client, engine):
    report_with_key(client)
    backdate(engine, IdempotencyRecord, 2 * 24 * 3600, columns=["created_at"])
    holder = engine.connect()
    try:
        if engine.dialect.name == "postgresql":
            holder.begin()
            holder.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": maintenance.LOCK_KEY})
            assert "another maintenance run holds the lock" in cli("maintenance").output
            assert counts(engine)["records"] == 1
            holder.rollback()
            assert "purged: 1 idempotency" in cli("maintenance").output
        else:
            holder = holder.execution_options(federation_write=True)
            holder.begin()  # BEGIN IMMEDIATE: what a running pass holds on SQLite
            outputs: list[str] = []
            waiting = threading.Thread(target=lambda: outputs.append(cli("maintenance").output))
            waiting.start()
            waiting.join(timeout=1)
            assert waiting.is_alive() and counts(engine)["records"] == 1  # it waits its turn
            holder.rollback()
            waiting.join(timeout=30)
            assert "purged: 1 idempotency" in outputs[0]
    finally:
        holder.close()
