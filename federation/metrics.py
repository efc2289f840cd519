"""Prometheus metrics at `/metrics`, for the operator only (docs/operations.md, "Metrics").

Two kinds:

- **Events**, counted in the process that saw them: requests and their latency by route
  template and status, rate-limit refusals, each platform's feed checkpoint, and the
  hooks below. Under gunicorn every worker writes its own files in
  `PROMETHEUS_MULTIPROC_DIR` (set by federation/gunicorn_conf.py before workers fork), and
  a scrape, answered by any worker, adds them up (prometheus-client's multiprocess mode).
- **State**, read from the database at scrape time: the feed head, cases by source and
  state (reports, withdrawals), held reports, feedback by verdict, and each platform's lag
  behind the head. Every worker reads the same database, so these agree whoever answers.

No label holds a secret, a reference, a hash, a token or an address: routes are URL
*templates* (`/r/<code>`, never a code), platforms are the operator's partner names,
statuses and verdicts come from fixed sets.

`/metrics` is off unless `FEDERATION_METRICS_TOKEN` is set, and then answers only
`Authorization: Bearer <that token>` (401 otherwise): it shows which platform is behind.

prometheus_client is imported on first use, not at import: the multiprocess directory
must be in the environment before prometheus_client is imported in a worker, and the
`federation` command builds an app in gunicorn's master before the workers fork.
"""
from __future__ import annotations

import functools
import hmac
import os
import time
from types import SimpleNamespace
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, request
from sqlalchemy import func, select
from sqlalchemy.orm import Session

bp = Blueprint("metrics", __name__)

# Request latency buckets (seconds): reports cost ~15-35 ms of CPU, feed pages less.
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_METHODS = frozenset({"GET", "POST", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})


@functools.cache
def _metrics() -> SimpleNamespace:
    from prometheus_client import Counter, Gauge, Histogram

    return SimpleNamespace(
        requests=Counter("federation_http_requests", "HTTP requests answered, by route template and status",
                         ["route", "method", "status"]),
        latency=Histogram("federation_http_request_duration_seconds",
                          "Time from the app receiving a request to its answer, by route template",
                          ["route", "method"], buckets=_BUCKETS),
        refusals=Counter("federation_rate_limit_refusals",
                         "Requests refused with 429 (rate limits, PIN locks, guess limits), by route", ["route"]),
        checkpoint=Gauge("federation_partner_checkpoint_seq",
                         "The last seq each platform says it applied (the `after` of its latest feed read)",
                         ["platform"], multiprocess_mode="max"),
        read_at=Gauge("federation_partner_last_read_timestamp_seconds",
                      "When each platform last read the feed (Unix seconds)", ["platform"],
                      multiprocess_mode="max"),
        # Hooks for features other issues add: call the functions below.
        quarantines=Counter("federation_quarantines", "Signals or cases quarantined, by reason code", ["reason"]),
        receipts=Counter("federation_receipts", "Receipts issued, by kind", ["kind"]),
    )


def count_quarantine(reason: str) -> None:
    """Hook (issue 13): count one quarantine. `reason` must be a code from a fixed set
    (e.g. "pdq_degenerate"), never a hash, a reference or anything a person typed."""
    _metrics().quarantines.labels(reason=reason).inc()


def count_receipt(kind: str) -> None:
    """Hook (issue 14): count one receipt issued; `kind` from a fixed set (e.g. "feedback")."""
    _metrics().receipts.labels(kind=kind).inc()


def init_metrics(app: Flask) -> None:
    """Serve /metrics, and count every request, when FEDERATION_METRICS_TOKEN is set
    (without it /metrics answers 404 and nothing is counted: no cost per request)."""
    if app.config.get("METRICS_TOKEN"):
        app.before_request(_start)
        app.after_request(_count)
    app.register_blueprint(bp)


def _start() -> None:
    g.metrics_started = time.perf_counter()


def _count(response: Response) -> Response:
    started = g.pop("metrics_started", None)
    if started is None or request.endpoint == "metrics.scrape":
        return response
    route = request.url_rule.rule if request.url_rule is not None else "unmatched"
    method = request.method if request.method in _METHODS else "other"
    metrics = _metrics()
    metrics.requests.labels(route=route, method=method, status=str(response.status_code)).inc()
    metrics.latency.labels(route=route, method=method).observe(time.perf_counter() - started)
    if response.status_code == 429:
        metrics.refusals.labels(route=route).inc()
    partner = getattr(g, "partner", None)
    if request.endpoint == "feed.Feed" and response.status_code in (200, 304) and partner is not None:
        after = request.args.get("after", "0")
        if after.isdigit():
            metrics.checkpoint.labels(platform=partner.name).set(int(after))
            metrics.read_at.labels(platform=partner.name).set(time.time())
    return response


@bp.get("/metrics")
def scrape() -> Response:
    token = current_app.config.get("METRICS_TOKEN") or ""
    if not token:
        return Response("metrics are off: set FEDERATION_METRICS_TOKEN\n", status=404, mimetype="text/plain")
    sent = request.headers.get("Authorization", "")
    if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
        return Response("send Authorization: Bearer <FEDERATION_METRICS_TOKEN>\n", status=401,
                        mimetype="text/plain", headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    _metrics()  # the event metrics exist (at zero) even before the first request
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        events = CollectorRegistry()
        MultiProcessCollector(events)
    else:
        events = REGISTRY
    checkpoints = {sample.labels["platform"]: sample.value for family in events.collect()
                   if family.name == "federation_partner_checkpoint_seq" for sample in family.samples}
    from federation.db import db

    state = CollectorRegistry()
    state.register(_StateCollector(db.session, checkpoints))
    body = generate_latest(events) + generate_latest(state)
    return Response(body, mimetype=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})


class _StateCollector:
    """Gauges read from the database at scrape time."""

    def __init__(self, session: Session, checkpoints: dict[str, float]) -> None:
        self._session, self._checkpoints = session, checkpoints

    def collect(self) -> Any:
        from prometheus_client.core import GaugeMetricFamily

        from federation.models import Case, FeedbackEvent, FeedHead, Partner, Signal

        session = self._session
        head = session.scalar(select(FeedHead.last_seq).where(FeedHead.id == 1)) or 0
        yield GaugeMetricFamily("federation_feed_head_seq", "The newest seq in the feed", value=head)
        cases = GaugeMetricFamily("federation_cases", "Cases (reports) by source and status: "
                                  "withdrawals are status=\"withdrawn\"", labels=["source", "status"])
        for source, status, count in session.execute(
                select(Case.source, Case.status, func.count()).group_by(Case.source, Case.status)):
            cases.add_metric([source, status], count)
        yield cases
        held = session.scalar(select(func.count()).select_from(Case).where(Case.held_at.is_not(None)))
        yield GaugeMetricFamily("federation_cases_held", "Reports held back by the feed's budget", value=held or 0)
        withheld = GaugeMetricFamily("federation_signals_withheld", "Signals kept out of the feed now, by "
                                     "why: disputed, flood (both waiting for review), denied", labels=["reason"])
        for reason, count in session.execute(select(Signal.withheld, func.count()).where(
                Signal.withheld.is_not(None)).group_by(Signal.withheld)):
            withheld.add_metric([str(reason)], count)
        yield withheld
        feedback = GaugeMetricFamily("federation_feedback_events", "Feedback platforms sent, by verdict",
                                     labels=["verdict"])
        for verdict, count in session.execute(
                select(FeedbackEvent.verdict, func.count()).group_by(FeedbackEvent.verdict)):
            feedback.add_metric([verdict], count)
        yield feedback
        lag = GaugeMetricFamily("federation_partner_lag_entries",
                                "Entries between the feed head and each active platform's checkpoint "
                                "(the whole feed for a platform that has not read since the service started)",
                                labels=["platform"])
        for (name,) in session.execute(select(Partner.name).where(Partner.status == "active")
                                       .order_by(Partner.name)):
            lag.add_metric([name], max(0, head - int(self._checkpoints.get(name, 0))))
        yield lag
        session.rollback()  # end the read
