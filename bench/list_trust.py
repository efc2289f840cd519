"""bench/list_trust.py: what trust in the list adds to the two hot write paths, on PostgreSQL.

A. A person's report (`cases.create_case`, 3 signals, PIN hash included) with an empty deny
   list vs a deny list of --denied PDQs (each report's PDQ is compared with all of them).
B. A feedback batch of 1000 `match_pending_review` items (`feedback.submit_feedback`) with
   the dispute and flood checks (`review=`) vs without.

Interleaved A B A B for --rounds rounds of --reports reports (or --batches batches) each;
per-call wall time and this process's CPU time, medians of the rounds. One process: the
database is PostgreSQL on loopback, whose CPU is not counted (the statements added are
one SELECT per report and, for B, one grouped SELECT per batch).
Run: `.venv/bin/python -m bench.list_trust [--rounds 5]`.
"""
from __future__ import annotations

import argparse
import datetime as dt
import secrets
import statistics
import time

from sqlalchemy.orm import Session

from bench.harness import machine, postgres_database
from tests.factories import random_hash


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--reports", type=int, default=100)
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--denied", type=int, default=1000)
    args = parser.parse_args()

    from federation import cases, feedback, list_trust, partner_registry, signing_keys
    from federation.case_access import PinPolicy
    from federation.db import make_engine
    from federation.feedback import FeedbackItem
    from federation.idempotency import IdempotencyPolicy
    from federation.models import DeniedSignal
    from federation.referrals import ReferralPolicy
    from federation.signals import SignalValue

    kek, pepper = secrets.token_bytes(32), secrets.token_bytes(32)
    pins, signers = PinPolicy(pepper=pepper), signing_keys.Signers(kek)
    review = list_trust.Review(list_trust.TrustPolicy(), signers)
    consent = cases.Consent(True, True, True)
    print(machine())
    with postgres_database() as url:
        engine = make_engine(url)
        with Session(engine, expire_on_commit=False) as session:
            signing_keys.ensure_key(session, kek)
            partner_id = partner_registry.add_partner(session, "bench", partner_registry.SCOPES, "Bench").partner.id
            session.rollback()

            def report() -> list[SignalValue]:
                signals = [SignalValue("pdq", random_hash("pdq"), 100), SignalValue("md5", random_hash("md5")),
                           SignalValue("sha256", random_hash("sha256"))]
                cases.create_case(session, pins, signers, IdempotencyPolicy(), signals, consent,
                                  referrals_policy=ReferralPolicy(pepper))
                return signals

            known = [s for _ in range(1000 // 3 + 1) for s in report()][:1000]

            def set_denied(count: int) -> None:
                session.query(DeniedSignal).delete()
                session.add_all(DeniedSignal(type="pdq", value=random_hash("pdq"), reason="bench", added_by="bench")
                                for _ in range(count))
                session.commit()

            def time_reports() -> tuple[float, float]:
                wall, cpu = time.perf_counter(), time.process_time()
                for _ in range(args.reports):
                    report()
                return ((time.perf_counter() - wall) / args.reports * 1000,
                        (time.process_time() - cpu) / args.reports * 1000)

            clock = [dt.datetime(2026, 1, 1, tzinfo=dt.UTC)]

            def time_batches(with_review: bool) -> tuple[float, float]:
                wall, cpu = time.perf_counter(), time.process_time()
                for _ in range(args.batches):
                    clock[0] += dt.timedelta(seconds=1)  # every item a fresh event
                    items = [FeedbackItem(SignalValue(s.type, s.value), "match_pending_review", clock[0], 1)
                             for s in known]
                    feedback.submit_feedback(session, IdempotencyPolicy(), partner_id, items,
                                             review=review if with_review else None)
                return ((time.perf_counter() - wall) / args.batches * 1000,
                        (time.process_time() - cpu) / args.batches * 1000)

            results: dict[str, list[tuple[float, float]]] = {name: [] for name in (
                "report, deny list empty", f"report, {args.denied} denied PDQs",
                "feedback batch, no review", "feedback batch, review")}
            names = list(results)
            for _ in range(args.rounds):
                set_denied(0)
                results[names[0]].append(time_reports())
                set_denied(args.denied)
                results[names[1]].append(time_reports())
                results[names[2]].append(time_batches(False))
                results[names[3]].append(time_batches(True))
        engine.dispose()
    print(f"{args.rounds} rounds interleaved; medians of per-call means (ms)")
    for name, runs in results.items():
        print(f"{name:34} wall {statistics.median(r[0] for r in runs):7.2f}   "
              f"process CPU {statistics.median(r[1] for r in runs):7.2f}")
    for a, b in ((0, 1), (2, 3)):
        ratio = statistics.median(r[0] for r in results[names[b]]) / statistics.median(r[0] for r in results[names[a]])
        print(f"{names[b]} / {names[a]}: {ratio:.2f}x wall")


if __name__ == "__main__":
    main()
