"""Meta's real `threatexchange` 1.2.17 (its StopNCIIAPI client and its CLI) against a live
server on 127.0.0.1: platforms running Meta's tools join with our URL and their keys only."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import threading

import pytest
from sqlalchemy.orm import Session
from threatexchange.exchanges.clients.stopncii.api import (
    StopNCIIAPI,
    StopNCIICaseStatus,
    StopNCIICSPFeedbackValue,
    StopNCIIEndpoint,
    StopNCIISignalType,
)
from werkzeug.serving import make_server

from federation import stopncii
from tests.factories import add_partner, bearer, case_payload, corpus_rows, random_signal


@pytest.fixture
def live_url(app, clean_database):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/stopncii/v1"
    server.shutdown()
    thread.join(10)


@pytest.fixture
def keys(app, clean_database):
    add_partner(app, "acme", scopes="feed:read feedback:write signals:write", display_name="Acme Video")
    with Session(app.extensions["federation.db"].engine) as session:
        issued = stopncii.issue_keys(session, "acme")
        session.commit()
    return issued.function_key, issued.subscription_key


@pytest.fixture
def api(live_url, keys) -> StopNCIIAPI:
    function_key, subscription_key = keys
    return StopNCIIAPI(subscription_key, function_key, base_url_override=live_url, additional_function_keys={
        StopNCIIEndpoint.SubmitFeedback: function_key, StopNCIIEndpoint.SubmitHashes: function_key})


def report(client, signals):
    receipt = client.post("/v1/cases", json=case_payload(signals)).get_json()
    return {"reference": receipt["reference"], "pin": receipt["pin"]}


def fetch_every_page(api: StopNCIIAPI, start: int, page_size: int):
    pages, token = [], ""
    while True:
        page = api.fetch_hashes(page_size=page_size, start_timestamp=start, next_page=token)
        pages.append(page)
        token = page.nextPageToken or ""
        if not page.hasMoreRecords:
            return pages


def test_client_fetches_every_page_and_sees_withdrawals(client, api):
    signals = [random_signal("pdq") for _ in range(5)] + [random_signal("md5") for _ in range(4)]
    first = report(client, signals[:6])
    report(client, [*signals[6:], random_signal("sha256")])

    pages = fetch_every_page(api, StopNCIIAPI.DEFAULT_START_TIME, page_size=2)
    assert [p.count for p in pages] == [2, 2, 2, 2, 1]
    records = [r for p in pages for r in p.hashRecords]
    assert [(r.signalType, r.hashValue) for r in records] == [
        (StopNCIISignalType.ImagePDQ if s["type"] == "pdq" else StopNCIISignalType.VideoMD5, s["value"])
        for s in signals]
    assert all(r.hashStatus == StopNCIICaseStatus.Active for r in records)
    checkpoint = pages[-1].nextSetTimestamp
    # the client's own iterator agrees, page size 800
    assert sum(len(p.hashRecords) for p in api.fetch_hashes_iter()) == 9

    client.post("/v1/cases/withdraw", json=first)
    changed = [r for p in fetch_every_page(api, checkpoint, page_size=4) for r in p.hashRecords]
    assert {r.hashValue for r in changed} == {s["value"] for s in signals[:6]}
    assert all(r.hashStatus == StopNCIICaseStatus.Withdrawn for r in changed)
    assert all(set(r.caseNumbers.values()) == {StopNCIICaseStatus.Withdrawn} for r in changed)


def test_client_submits_feedback_and_the_person_sees_it(client, api):
    signal = random_signal("pdq")
    credentials = report(client, [signal])
    api.submit_feedback(StopNCIISignalType.ImagePDQ, signal["value"], StopNCIICSPFeedbackValue.Blocked)

    [platform] = client.post("/v1/cases/status", json=credentials).get_json()["platforms"]
    assert platform["platform"] == "Acme Video"
    assert [o["outcome"] for o in platform["outcomes"]] == ["taken down"]
    # Meta's client reads the counts, never which platform: one item per verdict.
    [record] = api.fetch_hashes().hashRecords
    assert [(f.feedbackValue, f.source, list(f.tags)) for f in record.CSPFeedbacks] == [
        (StopNCIICSPFeedbackValue.Blocked, "federation:aggregate", ["platforms:1"])]


def test_client_submits_hashes_that_enter_the_feed(app, client, api):
    token = add_partner(app, scopes="feed:read")
    pdq, md5 = random_signal("pdq"), random_signal("md5")
    api.submit_hash(StopNCIISignalType.ImagePDQ, pdq["value"], tags={"quality:100"})
    api.submit_hash(StopNCIISignalType.VideoMD5, md5["value"])

    entries = client.get("/v1/feed", headers=bearer(token)).get_json()["entries"]
    assert [(e["op"], e["type"], e["value"]) for e in entries] == [
        ("add", "pdq", pdq["value"]), ("add", "md5", md5["value"])]
    records = {r.hashValue: r for r in api.fetch_hashes().hashRecords}
    assert records[pdq["value"]].CSPFeedbacks[0].feedbackValue == StopNCIICSPFeedbackValue.Blocked


def test_cli_fetches_and_matches_a_corpus_image_then_sees_it_withdrawn(client, api, live_url, keys,
                                                                       corpus_dir, tmp_path):
    rows = [row for row in corpus_rows(corpus_dir) if int(row["pdq_quality"]) >= 50]
    target = next(row for row in rows if row["file"] == "misc-images/c.png")
    # Several distinct hashes: threatexchange 1.2.17's PDQ index never matches when it
    # holds exactly one (its issue #1318).
    others = list({row["pdq"]: row for row in rows if row["file"].startswith("reg-test-input/")}.values())[:4]
    target_case = report(client, [{"type": "pdq", "value": target["pdq"], "quality": int(target["pdq_quality"])}])
    report(client, [{"type": "pdq", "value": row["pdq"], "quality": int(row["pdq_quality"])}
                    for row in others])

    env = {**os.environ, "TX_STATEDIR": str(tmp_path / "tx"),
           "TX_STOPNCII_KEYS": f"{keys[0]},{keys[1]},{live_url}"}

    def tx(*args: str) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-m", "threatexchange.cli.main", *args], env=env,
                              cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done

    tx("config", "collab", "edit", "stop_ncii", "--create", "StopNCII")
    tx("fetch")
    dataset = tx("dataset", "-P").stdout
    assert all(row["pdq"] in dataset for row in [target, *others])
    matched = tx("match", "photo", str(corpus_dir / "pdq-reference" / target["file"])).stdout
    assert re.search(r"^pdq\s+0\s+\(StopNCII\)", matched, re.MULTILINE), matched  # distance 0
    checkpoint = api.fetch_hashes().nextSetTimestamp

    client.post("/v1/cases/withdraw", json=target_case)
    [record] = api.fetch_hashes(start_timestamp=checkpoint).hashRecords
    assert record.hashValue == target["pdq"] and record.hashStatus == StopNCIICaseStatus.Withdrawn
    # The CLI fetches the change from its checkpoint, but 1.2.17 tests hashValue, not
    # hashStatus, for a withdrawal, so its dataset keeps the hash (docs/stopncii-compat.md).
    tx("fetch")
    assert target["pdq"] in tx("dataset", "-P").stdout


def test_cli_with_unknown_keys_fails_loudly(live_url, keys, tmp_path):
    env = {**os.environ, "TX_STATEDIR": str(tmp_path / "tx"),
           "TX_STOPNCII_KEYS": f"fsf_wrong,{keys[1]},{live_url}"}
    run = [sys.executable, "-m", "threatexchange.cli.main"]
    subprocess.run([*run, "config", "collab", "edit", "stop_ncii", "--create", "StopNCII"], env=env,
                   cwd=tmp_path, check=True, capture_output=True, timeout=120)
    done = subprocess.run([*run, "fetch"], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode != 0 and "failed to fetch" in done.stderr
