"""`federation-partner serve` against a live federation: ready only after the first
verified sync, lookups by hash and by path, withdrawals followed, bad lookups refused."""
from __future__ import annotations

import email.utils
import hashlib
import http.client
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from partners.client import FederationClient
from partners.serve import Matcher, make_server
from partners.store import LocalStore
from partners.sync import sync
from tests.factories import add_partner, case_payload, random_signal, read_feed
from tests.functional.browser_support import serve_in_thread

DEADLINE = 30.0


def call(base: str, method: str, path: str, body: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, str, dict]:
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), json.loads(response.read() or b"null")
    finally:
        connection.close()


def lookup(base: str, payload) -> tuple[int, str, dict]:
    return call(base, "POST", "/v1/lookup", json.dumps(payload).encode(), {"Content-Type": "application/json"})


def until(predicate, what: str):
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)  # polling with a deadline
    raise AssertionError(f"not within {DEADLINE} s: {what}")


def flipped(hex_value: str, bits: list[int]) -> str:
    number = int(hex_value, 16)
    for bit in bits:
        number ^= 1 << bit
    return f"{number:0{len(hex_value)}x}"


@pytest.fixture
def service(app, live_server, client, tmp_path):
    """A lookup server whose sync thread is started by the test (`start()`)."""
    token = add_partner(app)
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    matcher = Matcher(str(tmp_path / "store.db"), (os.path.realpath(uploads),))
    federation = FederationClient(live_server, token)
    stop = threading.Event()
    syncer = threading.Thread(target=matcher.run_sync,
                              args=(lambda store: sync(federation, store), 0.1, stop), daemon=True)
    with serve_in_thread(make_server(matcher, "127.0.0.1", 0)) as base:
        yield {"base": base, "start": syncer.start, "uploads": uploads, "matcher": matcher, "token": token}
        stop.set()
        if syncer.is_alive():
            syncer.join(timeout=DEADLINE)
    federation.close()


@pytest.fixture
def ready(service, client):
    """The service after its first sync, with one case of a PDQ and a file's MD5."""
    upload = service["uploads"] / "clip.mp4"
    upload.write_bytes(secrets.token_bytes(4096))
    pdq = random_signal("pdq")
    md5 = {"type": "md5", "value": hashlib.md5(upload.read_bytes()).hexdigest()}
    receipt = client.post("/v1/cases", json=case_payload([pdq, md5])).get_json()
    service.update(pdq=pdq["value"], md5=md5["value"], upload=upload,
                   credentials={"reference": receipt["reference"], "pin": receipt["pin"]})
    service["start"]()
    until(lambda: call(service["base"], "GET", "/readyz")[0] == 200, "ready")
    return service


def test_not_ready_until_the_first_sync_is_verified_and_indexed(service, client):
    client.post("/v1/cases", json=case_payload([random_signal("pdq")]))
    base = service["base"]
    assert call(base, "GET", "/healthz")[:2] == (200, "application/json")
    status, _, body = call(base, "GET", "/readyz")
    assert status == 503 and body["ready"] is False
    status, kind, problem = lookup(base, {"type": "pdq", "value": "0" * 64})
    assert (status, kind, problem["code"]) == (503, "application/problem+json", "not_ready")

    service["start"]()
    until(lambda: call(base, "GET", "/readyz")[0] == 200, "ready after the first sync")
    _, _, body = call(base, "GET", "/readyz")
    assert body["ready"] is True and body["active"] == 1 and body["checkpoint"] == body["indexed"] >= 1
    assert body["sync_error"] is None


def test_lookups_by_hash_and_path_single_and_batched_follow_withdrawals(ready, client):
    base = ready["base"]
    entries = read_feed(client, ready["token"])
    record = {e["type"]: e["id"] for e in entries}
    near = flipped(ready["pdq"], [0, 77, 200])

    status, kind, body = lookup(base, {"type": "pdq", "value": near, "quality": 90})
    assert (status, kind) == (200, "application/json")
    assert body == {"matches": [{"record_id": record["pdq"], "type": "pdq", "distance": 3}]}
    assert lookup(base, {"type": "pdq", "value": near, "quality": 20})[2] == {"matches": []}  # featureless upload

    items = [{"type": "pdq", "value": near}, {"type": "md5", "value": ready["md5"].upper()},
             {"type": "pdq", "value": secrets.token_hex(32)}, {"path": str(ready["upload"])},
             {"type": "sha256", "value": secrets.token_hex(32)}]
    status, _, body = lookup(base, {"items": items})
    assert status == 200
    assert [[(m["type"], m["distance"]) for m in r["matches"]] for r in body["results"]] == [
        [("pdq", 3)], [("md5", 0)], [], [("md5", 0)], []]
    assert body["results"][3]["matches"][0]["record_id"] == record["md5"]

    client.post("/v1/cases/withdraw", json=ready["credentials"])
    until(lambda: lookup(base, {"items": items[:2]})[2]["results"] == [{"matches": []}] * 2,
          "the withdrawal applied to the index")
    assert call(base, "GET", "/readyz")[2]["active"] == 0


def test_a_full_batch_is_answered(ready):
    values = [secrets.token_hex(32) for _ in range(100_000)]
    values[54_321] = flipped(ready["pdq"], [5])
    status, _, body = lookup(ready["base"], {"items": [{"type": "pdq", "value": v} for v in values]})
    assert status == 200 and len(body["results"]) == 100_000
    assert [i for i, r in enumerate(body["results"]) if r["matches"]] == [54_321]


@pytest.mark.parametrize("payload, status, code", [
    ({"type": "pdq", "value": "f" * 63}, 422, "malformed_hash"),
    ({"type": "pdq", "value": "g" * 64}, 422, "malformed_hash"),
    ({"type": "pdq", "value": 12345}, 422, "malformed_hash"),
    ({"type": "md5", "value": "0" * 64}, 422, "malformed_hash"),
    ({"type": "sha1", "value": "0" * 40}, 422, "unknown_type"),
    ({"value": "0" * 64}, 422, "unknown_type"),
    ({"type": "pdq", "value": "0" * 64, "quality": "high"}, 422, "malformed_quality"),
    ({"items": []}, 422, "empty_batch"),
    ({"items": "pdq"}, 422, "malformed_request"),
    ({"items": [{"type": "md5", "value": "0" * 32}] * 100_001}, 413, "batch_too_large"),
    ({"items": [{"type": "md5", "value": "0" * 32}, {"type": "md5", "value": "xyz"}]}, 422, "malformed_hash"),
    (["pdq", "0" * 64], 422, "malformed_request"),
    ({"path": "/etc/passwd"}, 403, "path_not_allowed"),
    ({"path": "relative/file.jpg"}, 422, "malformed_path"),
    ({"path": ""}, 422, "malformed_path"),
])
def test_bad_lookups_are_refused_with_a_problem(ready, payload, status, code):
    got_status, kind, problem = lookup(ready["base"], payload)
    assert (got_status, kind, problem["code"], problem["status"]) == (status, "application/problem+json", code, status)
    if "items" in payload and code == "malformed_hash":
        assert problem["detail"].startswith("item 1:")


def test_paths_that_leave_the_allowed_folder_are_refused(ready, tmp_path):
    base, uploads = ready["base"], ready["uploads"]
    outside = tmp_path / "private.jpg"
    outside.write_bytes(b"not for the matcher")
    (uploads / "link.jpg").symlink_to(outside)
    for path in (str(outside), str(uploads / "link.jpg"), str(uploads / ".." / "private.jpg"),
                 str(uploads) + "-sibling/x.jpg"):
        status, _, problem = lookup(base, {"path": path})
        assert (status, problem["code"]) == (403, "path_not_allowed"), path
    status, _, problem = lookup(base, {"path": str(uploads / "missing.jpg")})
    assert (status, problem["code"]) == (422, "not_a_file")
    status, _, problem = lookup(base, {"path": str(uploads)})
    assert (status, problem["code"]) == (422, "not_a_file")


def test_malformed_bodies_and_unknown_routes(ready):
    base = ready["base"]
    for body in (b"{not json", b"{", b"\xff\xfe"):
        status, kind, problem = call(base, "POST", "/v1/lookup", body)
        assert (status, kind, problem["code"]) == (400, "application/problem+json", "malformed_json")
    status, _, problem = call(base, "POST", "/v1/lookup", b"x" * 16, {"Content-Length": str(17 * 1024 * 1024)})
    assert (status, problem["code"]) == (413, "body_too_large")
    assert call(base, "GET", "/v1/lookup?value=" + "0" * 64)[2]["code"] == "not_found"  # never by URL
    assert call(base, "POST", "/nope", b"{}")[2]["code"] == "not_found"


def test_every_response_carries_the_current_date(service):
    """The Date header is formatted once a second, and must move on with the clock."""
    host, port = service["base"].removeprefix("http://").split(":")

    def served_date() -> tuple[float, float, float]:
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        try:
            before = time.time()
            connection.request("GET", "/healthz")
            response = connection.getresponse()
            response.read()
            return before, email.utils.parsedate_to_datetime(response.getheader("Date")).timestamp(), time.time()
        finally:
            connection.close()

    first = served_date()
    until(lambda: time.time() >= first[2] + 1.5, "the clock to move on")  # polling the clock
    for before, date, after in (first, served_date()):
        assert int(before) <= date <= after  # whole seconds, as HTTP dates are


def test_the_cli_serves_a_synced_store_on_loopback(app, live_server, client, tmp_path):
    token = add_partner(app)
    client.post("/v1/cases", json=case_payload([random_signal("pdq")]))
    store = tmp_path / "store.db"
    federation = FederationClient(live_server, token)
    with LocalStore(store) as local:
        sync(federation, local)
    federation.close()
    env = {**os.environ, "FEDERATION_PARTNER_STORE": str(store), "PYTHONPATH": str(Path(__file__).parents[2])}
    process = subprocess.Popen([sys.executable, "-m", "partners.cli", "serve", "--no-sync", "--port", "0"],
                               stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = process.stderr.readline()
        assert line.startswith("serving on http://127.0.0.1:"), line
        base = line.split()[2]
        until(lambda: call(base, "GET", "/readyz")[0] == 200, "the CLI server ready")
        assert call(base, "GET", "/readyz")[2]["active"] == 1
    finally:
        process.terminate()
        process.wait(timeout=DEADLINE)
        process.stderr.close()


def test_a_reencoded_video_is_matched_by_path_and_its_feedback_names_it(service, client, tmp_path):
    """serve takes videos too (issue 16): the reported video's vPDQ frames are indexed, a
    lower-bitrate copy under the allowed folder matches by path, and a platform can then
    report a verdict on the vpdq record by its value."""
    from partners.video import hash_video
    from tests.videos import make, transcode

    original = make(tmp_path / "original.mp4", seed=11, seconds=6)
    frames = [{"pdq": f.pdq, "quality": f.quality, "time_ms": f.time_ms} for f in hash_video(original).frames]
    receipt = client.post("/v1/cases", json=case_payload([{"type": "vpdq", "frames": frames}]))
    assert receipt.status_code == 201, receipt.get_json()
    copy = transcode(original, service["uploads"] / "copy.mp4", bit_rate=150_000)
    unrelated = make(service["uploads"] / "other.mp4", seed=12, seconds=6)
    service["start"]()
    until(lambda: call(service["base"], "GET", "/readyz")[0] == 200, "ready")
    [entry] = read_feed(client, service["token"])
    status, _, body = lookup(service["base"], {"items": [{"path": str(copy)}, {"path": str(unrelated)}]})
    assert status == 200
    [found], others = body["results"][0]["matches"], body["results"][1]["matches"]
    assert (found["record_id"], found["type"]) == (entry["id"], "vpdq") and found["query_percent"] >= 80
    assert others == []
    verdict = client.post("/v1/feedback", headers={"Authorization": f"Bearer {service['token']}"}, json={"items": [
        {"type": "vpdq", "value": entry["value"], "verdict": "blocked", "occurred_at": "2026-01-01T00:00:00Z"}]})
    assert verdict.status_code == 200 and verdict.get_json()["recorded"] == 1, verdict.get_json()


def worker_pids(parent: int) -> set[int]:
    with open(f"/proc/{parent}/task/{parent}/children") as children:
        return {int(pid) for pid in children.read().split()}


def test_several_workers_share_the_port_and_each_follows_syncs_and_withdrawals(app, live_server, client, tmp_path):
    """`serve --workers 2`: both workers answer on one port, each ready only after the
    parent's first verified sync; a withdrawal reaches both; a killed worker is replaced."""
    import signal

    token = add_partner(app)
    pdq = random_signal("pdq")
    receipt = client.post("/v1/cases", json=case_payload([pdq])).get_json()
    env = {**os.environ, "FEDERATION_PARTNER_STORE": str(tmp_path / "store.db"), "FEDERATION_SERVER": live_server,
           "FEDERATION_PARTNER_TOKEN": token, "PYTHONPATH": str(Path(__file__).parents[2])}
    process = subprocess.Popen([sys.executable, "-m", "partners.cli", "serve", "--port", "0", "--workers", "2",
                                "--interval", "0.2"], stderr=subprocess.PIPE, text=True, env=env)

    def workers_say() -> dict[int, dict]:
        """Each worker's /readyz, gathered over new connections (the kernel picks the worker)."""
        seen: dict[int, dict] = {}
        for _ in range(40):
            status, _, body = call(base, "GET", "/readyz")
            if status == 200:
                seen[body["worker"]] = body
            if len(seen) == 2:
                break
        return seen

    try:
        line = process.stderr.readline()
        assert line.startswith("serving on http://127.0.0.1:") and "with 2 workers" in line, line
        base = line.split()[2]
        until(lambda: {n: b["active"] for n, b in workers_say().items()} == {1: 1, 2: 1}, "both workers indexed")
        for body in workers_say().values():
            assert body["ready"] and body["sync_error"] is None and body["last_sync"]
        for _ in range(10):  # whichever worker answers, it matches
            assert [m["distance"] for m in lookup(base, {"type": "pdq", "value": pdq["value"]})[2]["matches"]] == [0]

        client.post("/v1/cases/withdraw", json={"reference": receipt["reference"], "pin": receipt["pin"]})
        until(lambda: {n: b["active"] for n, b in workers_say().items()} == {1: 0, 2: 0}, "both applied the withdrawal")
        for _ in range(10):
            assert lookup(base, {"type": "pdq", "value": pdq["value"]})[2] == {"matches": []}

        first = worker_pids(process.pid)
        assert len(first) == 2
        os.kill(min(first), signal.SIGKILL)
        until(lambda: len(worker_pids(process.pid) - first) == 1 and len(worker_pids(process.pid)) == 2,
              "the killed worker replaced")
        until(lambda: {n: b["active"] for n, b in workers_say().items()} == {1: 0, 2: 0}, "the new worker indexed")
        workers = worker_pids(process.pid)
        process.terminate()  # SIGTERM, as a service manager stops it: the workers go too
        process.wait(timeout=DEADLINE)
        until(lambda: not any(os.path.exists(f"/proc/{pid}") for pid in workers), "the workers stopped")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=DEADLINE)
        process.stderr.close()


def test_workers_stop_when_their_parent_is_killed(app, live_server, tmp_path):
    token = add_partner(app)
    env = {**os.environ, "FEDERATION_PARTNER_STORE": str(tmp_path / "store.db"), "FEDERATION_SERVER": live_server,
           "FEDERATION_PARTNER_TOKEN": token, "PYTHONPATH": str(Path(__file__).parents[2])}
    process = subprocess.Popen([sys.executable, "-m", "partners.cli", "serve", "--port", "0", "--workers", "2"],
                               stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert "with 2 workers" in process.stderr.readline()
        workers = until(lambda: len(found := worker_pids(process.pid)) == 2 and found, "two workers")
        process.kill()  # SIGKILL: the parent runs no code of its own
        process.wait(timeout=DEADLINE)
        until(lambda: not any(os.path.exists(f"/proc/{pid}") and "zombie" not in status(pid) for pid in workers),
              "the orphaned workers stopped")
    finally:
        if process.poll() is None:
            process.kill()
        process.stderr.close()


def status(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/status") as lines:
            return next(line for line in lines if line.startswith("State:")).lower()
    except OSError:
        return "gone"


def test_workers_must_be_one_to_sixty_four(tmp_path):
    env = {**os.environ, "FEDERATION_PARTNER_STORE": str(tmp_path / "store.db"),
           "PYTHONPATH": str(Path(__file__).parents[2])}
    done = subprocess.run([sys.executable, "-m", "partners.cli", "serve", "--no-sync", "--workers", "0"],
                          capture_output=True, text=True, env=env, timeout=DEADLINE)
    assert done.returncode == 2 and "--workers" in done.stderr
