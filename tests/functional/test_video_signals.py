"""vpdq signals over HTTP: reported, refused, signed into the feed, paged by bytes, withdrawn."""
from __future__ import annotations

import base64
import hashlib
import json
import random

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from federation import feed
from tests.factories import add_partner, bearer, case_payload, random_signal, read_feed, snapshot


def balanced(rng: random.Random) -> str:
    bits = [1] * 120 + [0] * 136
    rng.shuffle(bits)
    return f"{int(''.join(map(str, bits)), 2):064x}"


def video(count: int, seed: int) -> dict:
    rng = random.Random(seed)
    return {"type": "vpdq", "frames": [{"pdq": balanced(rng), "quality": 80 + i % 20, "time_ms": 1000 * i}
                                       for i in range(count)]}


@pytest.fixture
def token(app, clean_database):
    return add_partner(app, "acme", scopes="feed:read signals:write")


def _b64u(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def verify_independently(client, entry: dict) -> None:
    """Ed25519 over RFC 8785 bytes of the entry less kid and sig, from the published JWK."""
    keys = {k["kid"]: k for k in client.get("/.well-known/federation-keys").get_json()["keys"]}
    body = {k: v for k, v in entry.items() if k not in ("kid", "sig")}
    data = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    Ed25519PublicKey.from_public_bytes(_b64u(keys[entry["kid"]]["x"])).verify(_b64u(entry["sig"]), data)


def test_a_reported_video_is_a_signed_add_with_its_frames_and_a_withdrawal_deletes_it(client, token):
    sent = video(30, seed=1)
    response = client.post("/v1/cases", json=case_payload([sent, random_signal("md5")]))
    assert response.status_code == 201, response.get_json()
    credentials = {k: response.get_json()[k] for k in ("reference", "pin")}

    add = next(e for e in read_feed(client, token) if e["type"] == "vpdq")
    verify_independently(client, add)
    expected = sorted(sent["frames"], key=lambda f: f["time_ms"])
    assert add["frames"] == expected
    canonical = json.dumps(expected, sort_keys=True, separators=(",", ":")).encode()
    assert add["value"] == hashlib.sha256(canonical).hexdigest()
    assert "quality" not in add

    # The same video reported again is the same signal: no second add.
    client.post("/v1/cases", json=case_payload([video(30, seed=1)]))
    assert sum(e["type"] == "vpdq" for e in read_feed(client, token)) == 1

    assert client.post("/v1/cases/withdraw", json=credentials).status_code == 200
    # Still held by the second case: no delete yet.
    assert not [e for e in read_feed(client, token) if e["op"] == "delete" and e["type"] == "vpdq"]


def test_withdrawing_the_last_case_deletes_the_video_by_id_and_value(client, token):
    response = client.post("/v1/cases", json=case_payload([video(10, seed=2)])).get_json()
    client.post("/v1/cases/withdraw", json={"reference": response["reference"], "pin": response["pin"]})
    add, delete = read_feed(client, token)
    verify_independently(client, delete)
    assert delete["op"] == "delete" and (delete["id"], delete["value"]) == (add["id"], add["value"])
    assert "frames" not in delete


def test_a_platform_can_submit_a_video(client, token):
    response = client.post("/v1/signals", json={"signals": [video(5, seed=3)]}, headers=bearer(token))
    assert response.status_code == 201, response.get_json()
    assert [e["type"] for e in read_feed(client, token)] == ["vpdq"]


def _bad(index: int, **change) -> dict:
    signal = video(4, seed=9)
    signal["frames"][index] = {**signal["frames"][index], **change}
    return signal


@pytest.mark.parametrize(("signal", "code"), [
    ({"type": "vpdq", "frames": []}, "vpdq_no_frames"),
    ({"type": "vpdq"}, "vpdq_no_frames"),
    (video(3601, seed=4), "vpdq_too_many_frames"),
    (_bad(1, pdq="ab" * 31), "vpdq_frame_invalid"),
    (_bad(1, time_ms=0), "vpdq_duplicate_timestamp"),
    (_bad(2, pdq="0" * 64), "vpdq_frame_degenerate"),
    (_bad(3, quality=101), "vpdq_frame_quality"),
    ({"type": "vpdq", "frames": [{"pdq": "0" * 64, "quality": 3, "time_ms": 0}]}, "vpdq_no_usable_frames"),
])
def test_bad_videos_are_refused_with_problem_json_and_nothing_written(client, engine, signal, code):
    before = snapshot(engine)
    response = client.post("/v1/cases", json=case_payload([random_signal("md5"), signal]))
    assert response.status_code == 422
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert response.get_json()["code"] == code
    assert snapshot(engine) == before


def test_pages_are_bounded_in_bytes_as_well_as_entries(client, token, monkeypatch):
    monkeypatch.setattr(feed, "MAX_PAGE_BYTES", 20_000)
    for seed in range(5):   # each add is about 8 kB
        assert client.post("/v1/signals", json={"signals": [video(80, seed=10 + seed), random_signal("md5")]},
                           headers=bearer(token)).status_code == 201
    seen, after, pages = [], 0, 0
    while True:
        response = client.get(f"/v1/feed?after={after}&limit=5000", headers=bearer(token))
        page = response.get_json()
        assert len(response.data) <= 20_000 + 100   # the envelope around the entries
        assert page["entries"], "a page always carries at least one entry"
        seen += page["entries"]
        pages += 1
        after = page["next"]
        if not page["has_more"]:
            break
    assert [e["seq"] for e in seen] == list(range(1, 11)) and pages >= 3


def test_a_single_entry_larger_than_the_budget_still_comes_alone(client, token, monkeypatch):
    client.post("/v1/signals", json={"signals": [video(80, seed=30)]}, headers=bearer(token))
    client.post("/v1/signals", json={"signals": [random_signal("md5")]}, headers=bearer(token))
    monkeypatch.setattr(feed, "MAX_PAGE_BYTES", 1_000)
    page = client.get("/v1/feed?after=0&limit=10", headers=bearer(token)).get_json()
    assert [e["seq"] for e in page["entries"]] == [1] and page["has_more"] is True
