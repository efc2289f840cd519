"""The withdrawal proof: downloaded with the reference and PIN, it holds no image hash, and
the offline script in docs/verify-withdrawal.md (run here as a separate Python process,
exactly as the doc prints it) accepts it and refuses altered copies."""
from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from partners.client import FederationClient
from partners.receipts import register_key, send_receipts
from partners.store import LocalStore
from partners.sync import sync
from tests.factories import add_partner, case_payload, random_signal

DOC = Path(__file__).resolve().parents[2] / "docs" / "verify-withdrawal.md"


@pytest.fixture(scope="module")
def script(tmp_path_factory) -> Path:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) == 1
    path = tmp_path_factory.mktemp("doc") / "verify_withdrawal.py"
    path.write_text(blocks[0])
    return path


def check(script: Path, proof: dict, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    path = tmp_path / f"proof-{abs(hash(json.dumps(proof, sort_keys=True)))}.json"
    path.write_text(json.dumps(proof))
    return subprocess.run([sys.executable, "-I", str(script), str(path), *extra], capture_output=True, text=True,
                          timeout=60)


@pytest.fixture
def withdrawn(app, client, live_server, tmp_path):
    """A person's 3-hash case, withdrawn; platform Acme's kit synced and sent receipts,
    platform Other did neither. Returns (credentials, the hashes)."""
    acme = add_partner(app, "acme", scopes="feed:read feedback:write", display_name="Acme")
    add_partner(app, "other", scopes="feed:read", display_name="Other")
    client.post("/v1/cases", json=case_payload([random_signal("md5")]))  # someone else's report
    signals = [random_signal("pdq"), random_signal("md5"), random_signal("sha256")]
    made = client.post("/v1/cases", json=case_payload(signals)).get_json()
    credentials = {"reference": made["reference"], "pin": made["pin"]}
    assert client.post("/v1/cases/withdraw", json=credentials).status_code == 200
    kit = FederationClient(live_server, acme)
    with LocalStore(tmp_path / "acme.db") as store:
        register_key(kit, store)
        sync(kit, store, workers=1)
        assert send_receipts(kit, store) == 3
    kit.close()
    return credentials, signals


def test_the_documented_script_accepts_a_real_proof(client, withdrawn, script, tmp_path):
    credentials, signals = withdrawn
    response = client.post("/v1/cases/withdrawal-proof", json=credentials)
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    proof = response.get_json()
    text = json.dumps(proof)
    assert not any(s["value"] in text for s in signals), "an image hash is in the proof"
    assert [d["seq"] for d in proof["deletes"]] == [5, 6, 7]
    vkey = next(k["note_vkey"] for k in client.get("/.well-known/federation-keys").get_json()["keys"]
                if k["status"] == "active")
    done = check(script, proof, tmp_path, "--vkey", vkey)
    assert done.returncode == 0, done.stderr
    assert "checkpoint: federation.example/log, 7 entries" in done.stdout
    assert "Acme: deleted, with a signed receipt for every delete" in done.stdout
    assert "Other: not yet confirmed" in done.stdout
    assert done.stdout.strip().endswith("OK: every signature and proof in the file checks")


def _flip(b64: str) -> str:
    raw = bytearray(base64.b64decode(b64))
    raw[0] ^= 1
    return base64.b64encode(bytes(raw)).decode()


@pytest.mark.parametrize("alteration", ["leaf hash", "inclusion proof", "checkpoint root", "receipt seq",
                                        "receipt time", "receipt key", "log key"])
def test_the_documented_script_refuses_an_altered_proof(client, withdrawn, script, tmp_path, alteration):
    credentials, _ = withdrawn
    proof = client.post("/v1/cases/withdrawal-proof", json=credentials).get_json()
    if alteration == "leaf hash":
        proof["deletes"][1]["leaf_hash"] = _flip(proof["deletes"][1]["leaf_hash"])
    elif alteration == "inclusion proof":
        proof["deletes"][0]["inclusion"][0] = _flip(proof["deletes"][0]["inclusion"][0])
    elif alteration == "checkpoint root":
        lines = proof["checkpoint"].split("\n")
        lines[2] = _flip(lines[2])
        proof["checkpoint"] = "\n".join(lines)
    elif alteration == "receipt seq":  # a receipt moved onto another delete
        proof["receipts"][0]["receipt"]["seq"] = proof["deletes"][2]["seq"]
    elif alteration == "receipt time":
        proof["receipts"][0]["receipt"]["deleted_at"] = "2020-01-01T00:00:00Z"
    elif alteration == "receipt key":
        proof["receipts"][0]["public_key"] = proof["log_key"]["public_key"]
    else:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        proof["log_key"]["public_key"] = base64.b64encode(
            Ed25519PrivateKey.generate().public_key().public_bytes_raw()).decode()
    done = check(script, proof, tmp_path)
    assert done.returncode != 0 and "OK" not in done.stdout


def test_the_proof_needs_the_reference_and_pin(client, withdrawn):
    credentials, _ = withdrawn
    wrong = client.post("/v1/cases/withdrawal-proof", json=credentials | {"pin": "00000000"})
    assert wrong.status_code == 404 and wrong.get_json()["code"] == "case_not_found"


def test_the_status_page_shows_receipts_and_downloads_the_proof(portal, withdrawn, script, tmp_path):
    from tests.functional.browser_support import expect

    credentials, signals = withdrawn
    portal.credentials("/status", credentials["reference"], credentials["pin"])
    deletion = portal.page.locator("#deletion")
    expect(deletion).to_contain_text("Acme: deleted, with a signed receipt, on")
    expect(deletion).to_contain_text("Other: not yet confirmed.")
    with portal.page.expect_download() as download:
        portal.page.click("#download-proof")
    saved = tmp_path / "downloaded.json"
    download.value.save_as(saved)
    expect(portal.page.locator("#proof-message")).to_contain_text("withdrawal-proof.json")
    assert download.value.suggested_filename == "withdrawal-proof.json"
    proof = json.loads(saved.read_text())
    assert not any(s["value"] in saved.read_text() for s in signals)
    done = check(script, proof, tmp_path)
    assert done.returncode == 0 and "Acme: deleted, with a signed receipt" in done.stdout, done.stderr
    assert portal.errors == []
