"""Trust in the list (issue 13, docs/list-hygiene.md): the deny list, disputes and
floods that withhold a signal from the feed, the operator's review, and what platforms
and the person are told. Against the real database, the real CLI and the real kit.
"""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from partners.cli import main as partner_cli
from tests.factories import add_partner, bearer, case_payload, corpus_rows, random_hash, random_signal, read_feed

NOW = dt.datetime.now(dt.UTC)


@pytest.fixture
def operator(cli):
    """`federation ...` as the operator runs it; fails the test unless it succeeds."""
    def run(*args: str, ok: bool = True):
        result = cli(*args)
        if ok:
            assert result.exit_code == 0, result.output
        return result
    return run


@pytest.fixture
def platforms(app, clean_database):
    """Three member platforms' tokens."""
    return [add_partner(app, f"platform-{n}", display_name=f"Platform {n}") for n in range(3)]


def report(client, signals) -> dict:
    response = client.post("/v1/cases", json=case_payload(signals))
    assert response.status_code == 201, response.get_json()
    return {k: response.get_json()[k] for k in ("reference", "pin")}


def verdict(client, token, signal, value, *, count=1, at=None):
    item = {"type": signal["type"], "value": signal["value"], "verdict": value, "count": count,
            "occurred_at": (at or NOW).isoformat()}
    response = client.post("/v1/feedback", headers=bearer(token), json={"items": [item]})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def dispute(client, token, signal, *, at=None):
    return verdict(client, token, signal, "not_blocked", at=at)


def withheld(engine, signal) -> str | None:
    with engine.connect() as conn:
        return conn.execute(text("SELECT withheld FROM signals WHERE type = :t AND value = :v"),
                            {"t": signal["type"], "v": signal["value"]}).scalar_one()


def signal_id(engine, signal) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT id FROM signals WHERE type = :t AND value = :v"),
                            {"t": signal["type"], "v": signal["value"]}).scalar_one()


def _moved_bits(value: str, moves: int) -> str:
    """The PDQ with `moves` set bits moved to unset places: 2 x moves bits away, as balanced."""
    bits = int(value, 16)
    ones = [i for i in range(256) if bits >> i & 1][:moves]
    zeros = [i for i in range(256) if not bits >> i & 1][:moves]
    for one, zero in zip(ones, zeros, strict=True):
        bits ^= (1 << one) | (1 << zero)
    return f"{bits:064x}"


def stopncii_headers(operator, partner: str) -> dict:
    keys = dict(line.split(": ", 1) for line in operator("partners", "stopncii-keys", partner).output.splitlines()[1:])
    return {name: keys[name] for name in ("x-functions-key", "Ocp-Apim-Subscription-Key")}


def last_entry(client, token) -> dict:
    return read_feed(client, token)[-1]


# --- disputes ----------------------------------------------------------------------------

def test_two_platforms_disputing_withhold_the_signal_with_a_quarantine_delete(client, engine, platforms):
    signal = random_signal()
    report(client, [signal])
    dispute(client, platforms[0], signal)
    assert withheld(engine, signal) is None
    dispute(client, platforms[1], signal)
    assert withheld(engine, signal) == "disputed"
    delete = last_entry(client, platforms[2])
    assert (delete["op"], delete["value"], delete["reason"]) == ("delete", signal["value"], "quarantine")
    add = read_feed(client, platforms[2])[0]
    assert add["id"] == delete["id"] and "reason" not in add


def test_one_platform_disputing_twice_counts_once(client, engine, platforms):
    signal = random_signal()
    report(client, [signal])
    dispute(client, platforms[0], signal, at=NOW - dt.timedelta(minutes=2))
    dispute(client, platforms[0], signal, at=NOW - dt.timedelta(minutes=1))
    assert withheld(engine, signal) is None
    assert [e["op"] for e in read_feed(client, platforms[1])] == ["add"]


def test_a_suspended_platforms_dispute_does_not_count(client, engine, platforms, operator):
    signal = random_signal()
    report(client, [signal])
    dispute(client, platforms[0], signal)
    operator("partners", "suspend", "platform-0")
    dispute(client, platforms[1], signal)
    assert withheld(engine, signal) is None
    operator("partners", "resume", "platform-0")
    dispute(client, platforms[2], signal)  # platform-0's dispute counts again
    assert withheld(engine, signal) == "disputed"


def test_a_platform_disputing_a_hash_it_contributed_does_not_count(client, engine, platforms):
    signal = random_signal()
    assert client.post("/v1/signals", headers=bearer(platforms[0]), json={"signals": [signal]}).status_code == 201
    dispute(client, platforms[0], signal)
    dispute(client, platforms[1], signal)
    assert withheld(engine, signal) is None
    dispute(client, platforms[2], signal)
    assert withheld(engine, signal) == "disputed"


def test_a_confirmation_keeps_a_disputed_signal_shared(client, engine, platforms):
    signal = random_signal()
    report(client, [signal])
    verdict(client, platforms[2], signal, "blocked")
    dispute(client, platforms[0], signal)
    dispute(client, platforms[1], signal)
    assert withheld(engine, signal) is None


def test_disputes_through_stopncii_submit_feedback_count_too(app, client, engine, platforms, operator):
    signal = random_signal()
    report(client, [signal])
    dispute(client, platforms[0], signal)
    headers = stopncii_headers(operator, "platform-1")
    response = client.post("/stopncii/v1/SubmitFeedback", headers=headers, json={"count": 2, "hashFeedbacks": [
        {"hashValue": signal["value"], "feedbackValue": "Unknown", "tags": ["reviewed"]},
        {"hashValue": signal["value"], "feedbackValue": "NotBlocked"}]})
    assert response.status_code == 200, response.get_json()
    assert withheld(engine, signal) == "disputed"


# --- the person's status ---------------------------------------------------------------

def test_the_person_sees_paused_then_restored_never_which_platform(client, engine, platforms, operator):
    signal, other = random_signal(), random_signal("md5")
    credentials = report(client, [signal, other])
    verdict(client, platforms[2], other, "blocked")
    dispute(client, platforms[0], signal)
    dispute(client, platforms[1], signal)
    status = client.post("/v1/cases/status", json=credentials).get_json()
    assert (status["paused"], status["not_shared"], status["restored"]) == (1, 0, 0)
    named = json.dumps(status["platforms"])
    assert "Platform 0" not in named and "Platform 1" not in named and "not_blocked" not in named
    assert "Platform 2" in named  # its confirmation of the other hash is shown as before

    operator("review", "restore", str(signal_id(engine, signal)))
    status = client.post("/v1/cases/status", json=credentials).get_json()
    assert (status["paused"], status["restored"]) == (0, 1)


# --- the operator's review ----------------------------------------------------------------

def test_review_list_restore_and_reject(client, engine, platforms, operator):
    signal = random_signal()
    report(client, [signal])
    assert "nothing waits" in operator("review", "list").output
    dispute(client, platforms[0], signal)
    dispute(client, platforms[1], signal)
    sid = signal_id(engine, signal)
    [line] = operator("review", "list").output.splitlines()
    fields = line.split("\t")
    assert fields[0] == str(sid) and fields[3] == "disputed" and "disputed=2" in line and "cases=1" in line

    assert "feed adds: 1" in operator("review", "restore", str(sid)).output
    add = last_entry(client, platforms[2])
    assert add["op"] == "add" and add["value"] == signal["value"] and withheld(engine, signal) is None

    # A restored signal: the disputes already reviewed do not withhold it again.
    dispute(client, platforms[0], signal, at=NOW - dt.timedelta(minutes=3))
    assert withheld(engine, signal) is None

    again = operator("review", "restore", str(sid), ok=False)
    assert again.exit_code == 1 and "not waiting for review" in again.output
    assert operator("review", "reject", "999999", ok=False).exit_code == 1


def test_reject_puts_it_on_the_deny_list_and_a_new_report_is_refused(client, engine, platforms, operator):
    signal = random_signal()
    report(client, [signal])
    dispute(client, platforms[0], signal)
    dispute(client, platforms[1], signal)
    operator("review", "reject", str(signal_id(engine, signal)), "--reason", "a meme")
    assert withheld(engine, signal) == "denied"
    refused = client.post("/v1/cases", json=case_payload([signal]))
    assert refused.status_code == 422 and refused.get_json()["code"] == "denied_signal"
    assert refused.get_json()["denied"] == [{"type": "pdq", "value": signal["value"]}]
    assert "review\t" in operator("deny", "list").output.replace(signal["value"], "")
    assert operator("review", "restore", str(signal_id(engine, signal)), ok=False).exit_code == 1


# --- the deny list ---------------------------------------------------------------------------

def test_deny_refuses_at_every_entrance_and_takes_an_active_hash_out(client, engine, platforms, operator):
    pdq, md5 = random_signal(), random_signal("md5")
    report(client, [pdq])
    operator("deny", "add", "pdq", pdq["value"].upper(), "--reason", "stock photo")
    delete = last_entry(client, platforms[0])
    assert (delete["op"], delete["reason"]) == ("delete", "denied")
    operator("deny", "add", "md5", md5["value"], "--reason", "blank frame")

    near = dict(pdq, value=_moved_bits(pdq["value"], 2))  # 4 bits away: the same picture
    for body in ([pdq], [near], [random_signal(), md5]):
        refused = client.post("/v1/cases", json=case_payload(body))
        assert refused.status_code == 422 and refused.get_json()["code"] == "denied_signal", body
        refused = client.post("/v1/signals", headers=bearer(platforms[0]), json={"signals": body})
        assert refused.status_code == 422 and refused.get_json()["code"] == "denied_signal", body
    headers = stopncii_headers(operator, "platform-0")
    refused = client.post("/stopncii/v1/SubmitHashes", headers=headers, json={"count": 1, "hashRecords": [
        {"signalType": "VideoMD5", "hashValue": md5["value"], "CSPFeedbacks": []}]})
    assert refused.status_code == 422 and refused.get_json()["code"] == "denied_signal"

    assert "already denied" in operator("deny", "add", "md5", md5["value"], "--reason", "again").output
    assert "published again: 1" in operator("deny", "remove", "pdq", pdq["value"]).output
    assert last_entry(client, platforms[0])["op"] == "add"
    assert operator("deny", "remove", "pdq", pdq["value"], ok=False).exit_code == 1


@pytest.mark.parametrize("args", [["pdq", "xyz"], ["pdq", "a" * 63], ["md5", "a" * 64], ["phash", ""]])
def test_deny_listing_an_invalid_hash_is_refused(engine, operator, clean_database, args):
    result = operator("deny", "add", *args, "--reason", "r", ok=False)
    assert result.exit_code != 0
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM denied_signals")).scalar_one() == 0


def test_deny_a_file_by_hashing_it_with_the_kits_hasher(client, operator, corpus_dir, platforms):
    rows = {row["file"]: row for row in corpus_rows(corpus_dir)}
    row = rows["bridge-mods/aaa-orig.jpg"]
    path = corpus_dir / "pdq-reference" / "bridge-mods" / "aaa-orig.jpg"
    output = operator("deny", "add", "--file", str(path), "--reason", "test picture").output
    assert [line.split("\t")[0] for line in output.splitlines()] == ["pdq", "phash", "md5", "sha256"]
    refused = client.post("/v1/cases", json=case_payload([{"type": "md5", "value": row["md5"]}]))
    assert refused.get_json()["code"] == "denied_signal"
    # The shrunk copy's PDQ is within matching distance of the denied one.
    shrunk = {"type": "pdq", "value": rows["bridge-mods/shrink-a-lot.jpg"]["pdq_exif_oriented"], "quality": 100}
    assert client.post("/v1/cases", json=case_payload([shrunk])).get_json()["code"] == "denied_signal"


# --- floods ----------------------------------------------------------------------------------

def test_a_flood_of_matches_from_two_platforms_withholds_the_signal(client, engine, platforms):
    signal = random_signal()
    report(client, [signal])
    # Default policy: more than 10 x max(baseline, 100) = 1000 matches in the last hour.
    verdict(client, platforms[0], signal, "match_pending_review", count=900)
    verdict(client, platforms[1], signal, "match_pending_review", count=100, at=NOW - dt.timedelta(seconds=1))
    assert withheld(engine, signal) is None  # 1000 is not more than 1000
    verdict(client, platforms[1], signal, "match_pending_review", count=1)
    assert withheld(engine, signal) == "flood"
    assert last_entry(client, platforms[2])["reason"] == "quarantine"


def test_one_platform_alone_cannot_flood_a_signal_out(client, engine, platforms):
    signal = random_signal()
    report(client, [signal])
    verdict(client, platforms[0], signal, "match_pending_review", count=1_000_000)
    assert withheld(engine, signal) is None


def test_a_signal_matching_at_its_usual_high_rate_is_not_a_flood(client, engine, platforms):
    signal = random_signal()
    report(client, [signal])
    for day in range(1, 7):  # 24,000 a day for six days: 1,000 an hour is its baseline
        verdict(client, platforms[day % 2], signal, "match_pending_review", count=24_000,
                at=NOW - dt.timedelta(days=day))
    verdict(client, platforms[0], signal, "match_pending_review", count=3000)
    verdict(client, platforms[1], signal, "match_pending_review", count=3000, at=NOW - dt.timedelta(seconds=5))
    assert withheld(engine, signal) is None  # 6,000 < 10 x ~857
    verdict(client, platforms[1], signal, "match_pending_review", count=6000, at=NOW - dt.timedelta(seconds=9))
    assert withheld(engine, signal) == "flood"  # 12,000 > 8,571


def test_a_confirmed_signal_is_never_flooded_out(client, engine, platforms):
    signal = random_signal()
    report(client, [signal])
    verdict(client, platforms[2], signal, "blocked")
    verdict(client, platforms[0], signal, "match_pending_review", count=50_000)
    verdict(client, platforms[1], signal, "match_pending_review", count=50_000)
    assert withheld(engine, signal) is None


@pytest.mark.parametrize("count, code", [(-1, "invalid_input"), (0, "invalid_input"),
                                         (10**12, "invalid_input"), (True, "invalid_input")])
def test_flood_counts_negative_zero_or_huge_are_refused(client, platforms, count, code):
    signal = random_signal()
    report(client, [signal])
    response = client.post("/v1/feedback", headers=bearer(platforms[0]), json={"items": [
        {"type": "pdq", "value": signal["value"], "verdict": "match_pending_review", "count": count,
         "occurred_at": NOW.isoformat()}]})
    assert response.status_code == 422
    assert response.get_json()["code"] in (code, "invalid_count")


def test_flood_counts_for_unknown_signals_are_reported_per_item(client, engine, platforms):
    unknown = {"type": "pdq", "value": random_hash()}
    answer = verdict(client, platforms[0], unknown, "match_pending_review", count=1_000_000)
    assert answer["unknown_signal"] == 1
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM signals")).scalar_one() == 0


# --- what platforms see -------------------------------------------------------------------------

def test_standing_counts_confirmations_and_disputes_never_which(client, platforms):
    signal = random_signal()
    report(client, [signal])
    record = read_feed(client, platforms[0])[0]["id"]
    verdict(client, platforms[0], signal, "blocked")
    dispute(client, platforms[1], signal)
    response = client.post("/v1/signals/standing", headers=bearer(platforms[2]),
                           json={"records": [record, "r_unknown"]})
    assert response.status_code == 200
    assert response.get_json() == {"standing": [{"id": record, "confirmed": 1, "disputed": 1, "withheld": None}]}
    assert "Platform" not in response.get_data(as_text=True)
    too_many = client.post("/v1/signals/standing", headers=bearer(platforms[2]), json={"records": ["r_x"] * 1001})
    assert too_many.status_code == 422
    assert client.post("/v1/signals/standing", json={"records": [record]}).status_code == 401


# --- end to end, with the partner kit ----------------------------------------------------------

@pytest.fixture
def kits(app, live_server, tmp_path, clean_database):
    """Two platforms' kits against the live server, and the tokens of both."""
    runner = CliRunner()
    made = []
    for n in range(2):
        token = add_partner(app, f"kit-{n}", display_name=f"Kit {n}")
        env = {"FEDERATION_SERVER": live_server, "FEDERATION_PARTNER_TOKEN": token,
               "FEDERATION_PARTNER_STORE": str(tmp_path / f"store-{n}.db")}

        def run(*args, env=env):
            return runner.invoke(partner_cli, list(args), env=env, catch_exceptions=False)
        run.token = token
        made.append(run)
    return made


def _benign(corpus_dir: Path) -> tuple[dict, list[Path]]:
    rows = {row["file"]: row for row in corpus_rows(corpus_dir)}
    row = rows["bridge-mods/aaa-orig.jpg"]
    signal = {"type": "pdq", "value": row["pdq_exif_oriented"], "quality": int(row["pdq_quality"])}
    bridge = corpus_dir / "pdq-reference" / "bridge-mods"
    return signal, [bridge / "aaa-orig.jpg", bridge / "blur-a-lot.jpg", bridge / "shrink-a-lot.jpg"]


def _kit_matches(kit, paths, *extra) -> list[list[dict]]:
    found = kit("match", *extra, *map(str, paths))
    return [json.loads(line)["matches"] for line in found.stdout.splitlines()]


@pytest.mark.parametrize("decision", ["reject", "restore"])
def test_end_to_end_benign_hash_is_disputed_withheld_then_decided(client, engine, kits, corpus_dir,
                                                                  operator, decision):
    signal, files = _benign(corpus_dir)
    report(client, [signal])  # anonymous: what an attacker poisoning the list would do
    for kit in kits:
        assert kit("sync").exit_code == 0
    found = _kit_matches(kits[0], files)
    assert all(m and m[0]["confirmed"] == 0 and m[0]["disputed"] == 0 for m in found)

    # One platform reviews the matches: not NCII. The other's kit now shows the dispute.
    dispute(client, kits[0].token, signal)
    [[first]] = _kit_matches(kits[1], files[:1])
    assert (first["confirmed"], first["disputed"]) == (0, 1)
    assert _kit_matches(kits[1], files[:1], "--hide-disputed") == [[]]

    dispute(client, kits[1].token, signal)
    synced = kits[1]("sync")
    assert synced.exit_code == 0 and json.loads(synced.stdout.splitlines()[-1])["deletes"] == 1
    assert _kit_matches(kits[1], files) == [[], [], []]
    # A quarantine is not the person's withdrawal: the kit has no `deleted` to confirm.
    reported = kits[1]("sync", "--report-deleted")
    assert json.loads(reported.stdout.splitlines()[-1])["reported_deleted"] == 0

    operator("review", decision, str(signal_id(engine, signal)))
    assert kits[1]("sync").exit_code == 0
    again = _kit_matches(kits[1], files)
    if decision == "reject":
        assert again == [[], [], []]
        refused = client.post("/v1/cases", json=case_payload([signal]))
        assert refused.status_code == 422 and refused.get_json()["code"] == "denied_signal"
    else:
        assert all(m and m[0]["type"] == "pdq" for m in again)


def test_two_disputes_at_the_same_moment_still_withhold(app, live_server, engine, platforms):
    """Each dispute's count must see the other: without the lock, on PostgreSQL's READ
    COMMITTED, both transactions counted only their own and nothing was withheld."""
    import threading
    import urllib.request

    def post(token, body, barrier):
        request = urllib.request.Request(f"{live_server}/v1/feedback", data=json.dumps(body).encode(),
                                         headers={**bearer(token), "Content-Type": "application/json"})
        barrier.wait()
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200

    client = app.test_client()
    signals = [random_signal() for _ in range(8)]
    report(client, signals)
    for signal in signals:
        barrier = threading.Barrier(2)
        body = {"items": [{"type": "pdq", "value": signal["value"], "verdict": "not_blocked",
                           "occurred_at": NOW.isoformat()}]}
        threads = [threading.Thread(target=post, args=(token, body, barrier)) for token in platforms[:2]]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert [withheld(engine, s) for s in signals] == ["disputed"] * len(signals)


@pytest.mark.browser
def test_the_status_page_says_part_is_paused_in_kind_words_naming_no_platform(portal, client, app):
    from playwright.sync_api import expect

    signal = random_signal()
    receipt = client.post("/v1/cases", json=case_payload([signal, random_signal("md5")])).get_json()
    tokens = [add_partner(app, f"reviewer-{n}", display_name=f"Reviewer {n}") for n in range(2)]
    for token in tokens:
        dispute(client, token, signal)
    portal.credentials("/status", receipt["reference"], receipt["pin"])
    outcome = portal.page.locator("#outcome")
    expect(portal.page.locator("#checks")).to_contain_text("taking a careful look at 1 hash in your report")
    expect(outcome).not_to_contain_text("Reviewer")
    expect(outcome).not_to_contain_text("keep it up")
