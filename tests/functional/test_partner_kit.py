"""The partner kit against a live server: sync, match, withdraw, sync, report deleted.

And every bad feed: tampered entry, a key never published, gaps, going
backwards, a truncated body; and bad files for `match`.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from partners.cli import main as partner_cli
from partners.client import FederationClient
from partners.store import LocalStore
from partners.sync import SyncError, sync
from tests.factories import add_partner, case_payload, corpus_rows, random_signal, read_feed
from tests.functional.browser_support import serve_in_thread


@pytest.fixture
def kit(app, live_server, tmp_path):
    token = add_partner(app, display_name="Acme Video")
    env = {"FEDERATION_SERVER": live_server, "FEDERATION_PARTNER_TOKEN": token,
           "FEDERATION_PARTNER_STORE": str(tmp_path / "store.db")}
    runner = CliRunner()

    def run(*args, input=None):
        return runner.invoke(partner_cli, list(args), env=env, input=input, catch_exceptions=False)
    run.env, run.token = env, token
    return run


def corpus_case(client, corpus_dir, files):
    rows = {row["file"]: row for row in corpus_rows(corpus_dir)}
    signals = [{"type": "pdq", "value": rows[f]["pdq_exif_oriented"], "quality": int(rows[f]["pdq_quality"])}
               for f in files]
    receipt = client.post("/v1/cases", json=case_payload(signals)).get_json()
    return {"reference": receipt["reference"], "pin": receipt["pin"]}


def matches(output: str) -> dict[str, list]:
    return {Path(line["path"]).name: line["matches"] for line in map(json.loads, output.splitlines())}


def test_sync_match_withdraw_sync_report(kit, client, corpus_dir):
    bridge = corpus_dir / "pdq-reference" / "bridge-mods"
    credentials = corpus_case(client, corpus_dir, ["bridge-mods/aaa-orig.jpg"])
    other = corpus_case(client, corpus_dir, ["misc-images/c.png"])  # keeps the index non-trivial

    first = kit("sync")
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout.splitlines()[-1])["active"] == 2

    edits = [bridge / name for name in ("blur-a-lot.jpg", "high-contrast.jpg", "shrink-a-lot.jpg",
                                       "sharpen-a-lot.jpg")]
    unrelated = corpus_dir / "pdq-reference" / "misc-images" / "wee.jpg"
    found = kit("match", *map(str, edits), str(unrelated))
    assert found.exit_code == 0
    result = matches(found.stdout)
    for edit in edits:
        assert [m["type"] for m in result[edit.name]] == ["pdq"] and result[edit.name][0]["distance"] <= 31
    assert result["wee.jpg"] == []

    client.post("/v1/cases/withdraw", json=credentials)
    second = kit("sync", "--report-deleted")
    assert second.exit_code == 0, second.output
    summary = json.loads(second.stdout.splitlines()[-1])
    assert summary["deletes"] == 1 and summary["reported_deleted"] == 1 and summary["active"] == 1
    after = kit("match", *map(str, edits))
    assert after.exit_code == 1 and all(not m for m in matches(after.stdout).values())

    status = client.post("/v1/cases/status", json=credentials).get_json()
    assert "Acme Video" in json.dumps(status) and "deleted" in json.dumps(status)
    assert client.post("/v1/cases/status", json=other).get_json()["status"] == "active"


def test_report_sends_feedback_lines(kit, client, corpus_dir):
    credentials = corpus_case(client, corpus_dir, ["bridge-mods/aaa-orig.jpg"])
    row = next(r for r in corpus_rows(corpus_dir) if r["file"] == "bridge-mods/aaa-orig.jpg")
    line = json.dumps({"type": "pdq", "value": row["pdq_exif_oriented"], "verdict": "blocked",
                       "occurred_at": "2026-11-24T12:00:00+00:00"})
    sent = kit("report", "-", input=line + "\n")
    assert sent.exit_code == 0, sent.output
    assert json.loads(sent.stdout)["recorded"] == 1
    again = kit("report", "-", input=line + "\n")  # the same report: answered from the first time
    assert json.loads(again.stdout)["recorded"] == 1
    assert "blocked" in json.dumps(client.post("/v1/cases/status", json=credentials).get_json())


def test_trust_on_first_use_then_new_keys_need_trust(app, kit, client):
    from tests.factories import rotate_signing_key

    client.post("/v1/cases", json=case_payload([random_signal("md5")]))
    assert kit("sync").exit_code == 0
    rotate_signing_key(app)
    client.post("/v1/cases", json=case_payload([random_signal("md5")]))
    stopped = kit("sync")
    assert stopped.exit_code == 1 and "federation-partner trust" in stopped.output
    new_kid = client.get("/.well-known/federation-keys").get_json()["keys"]
    new_kid = next(k["kid"] for k in new_kid if k["status"] == "active")
    assert kit("trust", new_kid).exit_code == 0
    resumed = kit("sync")
    assert resumed.exit_code == 0 and json.loads(resumed.stdout.splitlines()[-1])["active"] == 2
    # One kid in 64 begins with "-": it is still a kid, not an unknown option.
    dashed = kit("trust", "-Fx9")
    assert dashed.exit_code == 1 and "-Fx9" in dashed.output


def test_a_killed_sync_resumes_with_nothing_lost_or_doubled(kit, client, app):
    for _ in range(30):
        credentials = client.post("/v1/cases", json=case_payload(
            [random_signal("md5") for _ in range(10)])).get_json()
    client.post("/v1/cases/withdraw", json={"reference": credentials["reference"], "pin": credentials["pin"]})
    command = [sys.executable, "-m", "partners.cli", "sync", "--limit", "5"]
    with subprocess.Popen(command, env={**os.environ, **kit.env}, stderr=subprocess.PIPE, text=True) as process:
        for line in process.stderr:  # wait for real progress, then kill without warning
            if "synced to seq 2" in line:
                process.send_signal(signal.SIGKILL)
                break
    assert process.returncode == -signal.SIGKILL
    with LocalStore(kit.env["FEDERATION_PARTNER_STORE"]) as store:
        assert 0 < store.checkpoint < 310
    resumed = kit("sync")
    assert resumed.exit_code == 0
    expected = {}
    for entry in read_feed(client, kit.token):
        if entry["op"] == "add":
            expected[entry["id"]] = entry["value"]
        else:
            expected.pop(entry["id"])
    with LocalStore(kit.env["FEDERATION_PARTNER_STORE"]) as store:
        assert store.checkpoint == 310
        assert {s.record_id: s.value for s in store.signals()} == expected


def test_sync_log_only_flag(app, kit, client):
    """`sync` checks each entry's signature by default; `--log-only` leaves entries to the
    signed checkpoint and the Merkle tree (which still refuse altered content:
    test_log_kit.py, test_a_page_whose_entry_was_altered_after_signing)."""
    from sqlalchemy import text

    client.post("/v1/cases", json=case_payload([random_signal("md5") for _ in range(3)]))
    engine = app.extensions["federation.db"].engine
    with engine.begin() as conn:  # a signature replaced in the database; the leaf is unchanged
        conn.execute(text("UPDATE feed_entries SET signature = :s WHERE seq = 2"), {"s": "A" * 86})
    refused = kit("sync", "--quiet")
    assert refused.exit_code == 1 and "seq 2" in refused.output and "does not verify" in refused.output
    applied = kit("sync", "--quiet", "--log-only")
    assert applied.exit_code == 0, applied.output
    assert json.loads(applied.stdout.splitlines()[-1])["applied"] == 3


# --- bad feeds, served by a fake federation built from real signed entries ----------------

class FakeFederation:
    """Serves a fixed JWKS and crafted feed pages (by `after`), to test what sync refuses."""

    def __init__(self, jwks: dict, pages: dict[int, bytes]) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path.startswith("/.well-known/"):
                    body = json.dumps(fake.jwks).encode()
                else:
                    after = int(self.path.split("after=")[1].split("&")[0])
                    body = fake.pages.get(after, b'{"entries":[],"next":%d,"has_more":false}' % after)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(fake.declared.get(len(body), len(body))))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.jwks, self.pages, self.declared = jwks, pages, {}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)


@pytest.fixture
def real_entries(app, client, clean_database):
    token = add_partner(app, scopes="feed:read")
    client.post("/v1/cases", json=case_payload([random_signal("md5") for _ in range(4)]))
    return client.get("/.well-known/federation-keys").get_json(), read_feed(client, token)


def page(entries, has_more=False) -> bytes:
    return json.dumps({"entries": entries, "next": entries[-1]["seq"], "has_more": has_more}).encode()


def run_fake(tmp_path, jwks, pages, declared=None):
    fake = FakeFederation(jwks, pages)
    fake.declared = declared or {}
    with serve_in_thread(fake.server) as base, LocalStore(tmp_path / "s.db") as store:
        client = FederationClient(base, "fpt_x")
        try:
            return sync(client, store, workers=1, verify_log=False), store.checkpoint
        finally:
            client.close()


def test_tampered_entry_stops_before_applying_and_names_the_seq(real_entries, tmp_path):
    jwks, entries = real_entries
    entries[2] = dict(entries[2], value="0" * 32)
    with pytest.raises(SyncError) as error:
        run_fake(tmp_path, jwks, {0: page(entries[:2], True), 2: page(entries[2:])})
    assert error.value.seq == 3 and "does not verify" in str(error.value)
    with LocalStore(tmp_path / "s.db") as store:
        assert store.checkpoint == 2  # the good page applied, the tampered one not at all


def test_a_key_the_federation_never_published(real_entries, tmp_path):
    jwks, entries = real_entries
    import datetime as dt

    from federation.crypto.encoding import b64u_encode
    from federation.crypto.keys import public_jwk
    from federation.crypto.signing import generate_keypair, key_id

    _, other = generate_keypair()
    jwks = {"keys": [public_jwk(key_id(other), other, "active", dt.datetime.now(dt.UTC), None)]}
    with pytest.raises(SyncError) as error:
        run_fake(tmp_path, jwks, {0: page(entries)})
    assert error.value.seq == 1 and b64u_encode(other) not in str(error.value)


@pytest.mark.parametrize("order, seq", [([0, 2, 3], 3), ([1, 0], 2), ([0, 0], 1)])
def test_gaps_and_going_backwards_are_refused(real_entries, tmp_path, order, seq):
    jwks, entries = real_entries
    with pytest.raises(SyncError) as error:
        run_fake(tmp_path, jwks, {0: page([entries[i] for i in order])})
    assert error.value.seq == seq


def test_a_truncated_response(real_entries, tmp_path):
    from partners.client import TruncatedResponse

    jwks, entries = real_entries
    body = page(entries)
    with pytest.raises(TruncatedResponse):
        run_fake(tmp_path, jwks, {0: body[: len(body) // 2]})
    with pytest.raises(TruncatedResponse):  # declared longer than sent: the connection ends early
        run_fake(tmp_path, jwks, {0: body}, declared={len(body): len(body) + 100})


def test_a_bad_page_fetched_ahead_stops_the_sync_where_it_belongs(real_entries, tmp_path):
    """Pages after the first are fetched ahead by another connection: a truncated one still
    stops the sync at its place, after the pages before it were applied, none after."""
    from partners.client import TruncatedResponse

    jwks, entries = real_entries
    body = page(entries[2:])
    with pytest.raises(TruncatedResponse):
        run_fake(tmp_path, jwks, {0: page(entries[:1], True), 1: page(entries[1:2], True),
                                  2: body[: len(body) // 2]})
    with LocalStore(tmp_path / "s.db") as store:
        assert store.checkpoint == 2


# --- bad files for `match` ----------------------------------------------------------------

def test_match_survives_bad_files_and_symlink_loops(kit, tmp_path, corpus_dir):
    folder = tmp_path / "uploads"
    (folder / "nested").mkdir(parents=True)
    (folder / "nested" / "loop").symlink_to(folder, target_is_directory=True)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (folder / "notes.txt").write_text("hello")
    bomb = folder / "bomb.png"
    from PIL import Image
    Image.new("1", (20000, 20000)).save(bomb)  # 400 MP, far over Pillow's limit; tiny on disk
    assert kit("sync").exit_code == 0
    result = kit("match", str(folder))
    assert result.exit_code == 1  # nothing matched, nothing crashed
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    by_name = {Path(line["path"]).name: line for line in lines}
    assert by_name["broken.jpg"]["error"] == "unreadable_image"
    assert by_name["bomb.png"]["error"] == "image_too_large"
    assert "error" not in by_name["notes.txt"]
    assert any("symbolic link loop" in line.get("error", "") for line in lines)
