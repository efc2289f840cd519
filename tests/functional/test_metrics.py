"""/metrics: Prometheus text for the operator only; counts add up across gunicorn workers;
no secret, reference, hash or address in any label."""
from __future__ import annotations

import http.client
import re
import secrets
import time
import uuid
from pathlib import Path

import pytest

from tests.factories import add_partner, bearer, case_payload, random_signal, read_feed
from tests.functional.served import serve

TOKEN = "metrics-" + secrets.token_urlsafe(16)


def parse(text: str) -> dict[tuple[str, frozenset], float]:
    """Prometheus text exposition format 0.0.4, read here from its spec: `name{l="v",...} value`."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = re.fullmatch(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \d+)?', line)
        assert match, line
        labels = frozenset(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
        samples[(match.group(1), labels)] = float(match.group(3))
    return samples


def value(samples, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture(scope="module")
def metrics_app(make_app):
    from tests.databases import ensure_signing_key

    app = make_app(METRICS_TOKEN=TOKEN)
    ensure_signing_key(app)
    return app


def scrape(client) -> dict:
    response = client.get("/metrics", headers=bearer(TOKEN))
    assert response.status_code == 200 and response.mimetype == "text/plain"
    return parse(response.get_data(as_text=True))


def test_refused_without_the_token_and_off_without_one(metrics_app, app, clean_database):
    client = metrics_app.test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=bearer("wrong")).status_code == 401
    assert client.get("/metrics", headers={"Authorization": TOKEN}).status_code == 401
    partner = add_partner(metrics_app)  # a partner's token is not the operator's
    assert client.get("/metrics", headers=bearer(partner)).status_code == 401
    assert app.test_client().get("/metrics", headers=bearer(TOKEN)).status_code == 404  # no token set: off


def test_what_it_counts(metrics_app, clean_database):
    client = metrics_app.test_client()
    before = scrape(client)
    token = add_partner(metrics_app, name="acme")
    case = client.post("/v1/cases", json=case_payload([random_signal("md5") for _ in range(3)])).get_json()
    client.post("/v1/cases", json=case_payload())
    client.post("/v1/cases/withdraw", json={"reference": case["reference"], "pin": case["pin"]})
    entries = read_feed(client, token)  # after=0
    client.get(f"/v1/feed?after={len(entries) - 2}", headers=bearer(token))
    client.post("/v1/feedback", headers={**bearer(token), "Idempotency-Key": str(uuid.uuid4())},
                json={"items": [{"type": entries[0]["type"], "value": entries[0]["value"],
                                 "verdict": "blocked", "occurred_at": "2026-12-01T10:00:00+00:00"}]})
    client.get("/r/ABCD-EFGH-JKMN")  # an unknown referral code
    after = scrape(client)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("federation_http_requests_total", route="/v1/cases", method="POST", status="201") == 2
    assert delta("federation_http_requests_total", route="/v1/cases/withdraw", method="POST", status="200") == 1
    assert delta("federation_http_request_duration_seconds_count", route="/v1/cases", method="POST") == 2
    assert value(after, "federation_feed_head_seq") == 4 + 3  # 4 adds, 3 deletes
    assert value(after, "federation_cases", source="person", status="active") == 1
    assert value(after, "federation_cases", source="person", status="withdrawn") == 1
    assert value(after, "federation_partner_checkpoint_seq", platform="acme") == len(entries) - 2
    assert value(after, "federation_partner_lag_entries", platform="acme") == 2
    assert value(after, "federation_feedback_events", verdict="blocked") == 1
    # The referral link is counted by its template; no code, reference, PIN, hash or token anywhere.
    text = client.get("/metrics", headers=bearer(TOKEN)).get_data(as_text=True)
    assert delta("federation_http_requests_total", route="/r/<code>", method="GET", status="404") == 1 \
        or delta("federation_http_requests_total", route="/r/<code>", method="GET", status="200") == 1
    for secret in ("ABCD-EFGH-JKMN", case["reference"], case["pin"], token, entries[0]["value"], "127.0.0.1"):
        assert secret not in text


def test_rate_limit_refusals(make_app, clean_database):
    app = make_app(METRICS_TOKEN=TOKEN, REPORT_LIMIT=1)
    client = app.test_client()
    before = value(scrape(client), "federation_rate_limit_refusals_total", route="/v1/cases")
    client.post("/v1/cases", json=case_payload())
    assert client.post("/v1/cases", json=case_payload()).status_code == 429
    assert value(scrape(client), "federation_rate_limit_refusals_total", route="/v1/cases") == before + 1


# --- through real gunicorn, two workers --------------------------------------------------------

def raw_get(served, path: str, headers: dict | None = None) -> tuple[int, str]:
    conn = http.client.HTTPConnection(served.host, served.port, timeout=30)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def test_two_gunicorn_workers_add_up(app, test_config, tmp_path, clean_database, monkeypatch):
    token = add_partner(app, name="acme", scopes="feed:read")
    # No PROMETHEUS_MULTIPROC_DIR: federation/gunicorn_conf.py makes one (under TMPDIR).
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {"FEDERATION_FRONT": "none", "FEDERATION_WORKERS": "2", "FEDERATION_METRICS_TOKEN": TOKEN,
           "TMPDIR": str(scratch)}
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    with serve(tmp_path, test_config, env=env) as served:
        [multiproc] = scratch.glob("federation-metrics-*")
        _scrape_both_workers(served, multiproc, token)
    assert not multiproc.exists()  # removed when gunicorn stopped


def _scrape_both_workers(served, multiproc: Path, token: str) -> None:
    assert raw_get(served, "/metrics")[0] == 401  # not without the token, whichever worker answers
    healthz = {"route": "/healthz", "method": "GET", "status": "200"}
    baseline = value(parse(raw_get(served, "/metrics", bearer(TOKEN))[1]), "federation_http_requests_total",
                     **healthz)
    sent = 0
    deadline = time.monotonic() + 120
    # Each request on its own connection, so both workers take some; until both have.
    while sent < 40 or len(_worker_files(multiproc)) < 2:
        assert time.monotonic() < deadline and sent < 2000, "one worker took every connection"
        assert raw_get(served, "/healthz")[0] == 200
        sent += 1
    assert raw_get(served, "/v1/feed?after=0", bearer(token))[0] == 200
    for _ in range(8):  # any worker may answer a scrape: each must see the sum of both
        status, text = raw_get(served, "/metrics", bearer(TOKEN))
        assert status == 200
        samples = parse(text)
        assert value(samples, "federation_http_requests_total", **healthz) == baseline + sent
        assert value(samples, "federation_partner_checkpoint_seq", platform="acme") == 0
        assert value(samples, "federation_partner_lag_entries", platform="acme") == 0




def _worker_files(directory: Path) -> set[str]:
    return {path.stem.rsplit("_", 1)[-1] for path in directory.glob("counter_*.db")}


def test_the_dashboard_reads_metrics_we_serve(metrics_app, clean_database):
    """Every metric the Grafana dashboard (docs/) queries is one /metrics declares."""
    import json

    dashboard = json.loads((Path(__file__).parents[2] / "docs" / "grafana-dashboard.json").read_text())
    queried = {name for panel in dashboard["panels"] for target in panel["targets"]
               for name in re.findall(r"federation_[a-z_]+", target["expr"])}
    client = metrics_app.test_client()
    client.get("/healthz")
    text = client.get("/metrics", headers=bearer(TOKEN)).get_data(as_text=True)
    declared = set(re.findall(r"^# TYPE (\S+) ", text, re.M))
    served = declared | {f"{name}_{suffix}" for name in declared for suffix in ("total", "bucket", "count", "sum")}
    assert queried and queried <= served, queried - served


def test_signals_withheld_by_reason(metrics_app, clean_database):
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from federation import list_trust
    from federation.db import write_transaction
    from federation.models import Signal, Withheld
    from federation.services import services

    client = metrics_app.test_client()
    client.post("/v1/cases", json=case_payload([random_signal("md5") for _ in range(3)]))
    with Session(metrics_app.extensions["federation.db"].engine) as session:
        ids = sorted(session.scalars(select(Signal.id)).all())
        session.rollback()
        with write_transaction(session):
            list_trust.withhold(session, services(metrics_app).signers, ids[:2], Withheld.DISPUTED, actor="test")
    samples = scrape(client)
    assert value(samples, "federation_signals_withheld", reason="disputed") == 2
    assert value(samples, "federation_signals_withheld", reason="flood") == 0
