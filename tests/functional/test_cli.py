"""The operator's `federation` command, run as a subprocess-free Click invocation."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from federation.cli import main
from tests.factories import bearer


@pytest.fixture
def cli(app, test_config, monkeypatch, clean_database):
    for name, value in test_config.items():
        monkeypatch.setenv(f"FEDERATION_{name}", str(value))
    runner = CliRunner()

    def run(*args):
        result = runner.invoke(main, list(args), catch_exceptions=False)
        return result
    return run


def test_partner_lifecycle(cli, client):
    added = cli("partners", "add", "acme", "--scopes", "feed:read", "--display-name", "Acme Video")
    assert added.exit_code == 0, added.output
    token = added.output.strip().splitlines()[-1]
    assert token.startswith("fpt_")
    assert client.get("/v1/feed", headers=bearer(token)).status_code == 200

    listed = cli("partners", "list").output
    assert "acme\tactive\tfeed:read\tAcme Video" in listed and token not in listed

    assert cli("partners", "suspend", "acme").exit_code == 0
    assert client.get("/v1/feed", headers=bearer(token)).status_code == 403
    assert cli("partners", "resume", "acme").exit_code == 0
    assert client.get("/v1/feed", headers=bearer(token)).status_code == 200

    new_token = cli("partners", "rotate-token", "acme").output.strip()
    assert client.get("/v1/feed", headers=bearer(token)).status_code == 401
    assert client.get("/v1/feed", headers=bearer(new_token)).status_code == 200


def test_partner_mistakes_are_clear(cli):
    assert cli("partners", "add", "acme").exit_code == 0
    again = cli("partners", "add", "acme")
    assert again.exit_code == 1 and "exists" in again.output
    bad_scope = cli("partners", "add", "other", "--scopes", "feed:write")
    assert bad_scope.exit_code == 1 and "scopes must be" in bad_scope.output
    missing = cli("partners", "suspend", "nobody")
    assert missing.exit_code == 1 and "no partner" in missing.output


def test_key_rotation(cli, client):
    before = {k["kid"] for k in client.get("/.well-known/federation-keys").get_json()["keys"]}
    rotated = cli("keys", "rotate")
    assert rotated.exit_code == 0
    new_kid = rotated.output.split()[-1]
    keys = {k["kid"]: k["status"] for k in client.get("/.well-known/federation-keys").get_json()["keys"]}
    assert keys[new_kid] == "active" and all(keys[kid] == "retired" for kid in before)
    assert new_kid in cli("keys", "list").output


def test_new_kek_is_usable(cli):
    from federation.crypto.keys import parse_kek

    assert len(parse_kek(cli("keys", "new-kek").output.strip())) == 32


def test_new_kek_needs_no_secret_and_no_database(tmp_path):
    """The tool that makes a KEK runs in production without one (it builds no app)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from federation.crypto.keys import parse_kek

    env = {k: v for k, v in os.environ.items() if not k.startswith("FEDERATION_")}
    env.update(FEDERATION_ENV="production", FEDERATION_INSTANCE_PATH=str(tmp_path / "instance"))
    federation = Path(sys.executable).with_name("federation")
    made = subprocess.run([str(federation), "keys", "new-kek"], env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert made.returncode == 0, made.stderr
    assert len(parse_kek(made.stdout.strip())) == 32
    assert not (tmp_path / "instance").exists()  # no database, no generated secrets
    # A command that needs the app still says what is missing.
    listed = subprocess.run([str(federation), "keys", "list"], env=env, capture_output=True, text=True,
                            timeout=60, check=False)
    assert listed.returncode == 1 and "FEDERATION_DATABASE_URL must be set in production" in listed.stderr
