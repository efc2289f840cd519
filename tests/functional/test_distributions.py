"""Both distributions, built as CI builds them (`python -m build`, packaging/build_wheels.py)
and each installed into a fresh venv: the service wheel serves, and the kit wheel, in a
venv where Flask cannot be imported, syncs from it and matches an image."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import venv
from pathlib import Path

import pytest

from tests.factories import case_payload, corpus_rows
from tests.functional.served import free_port

ROOT = Path(__file__).resolve().parents[2]
SERVER_STACK = ("flask", "sqlalchemy", "alembic", "gunicorn")

pytestmark = pytest.mark.slow


def run(*command, env=None, timeout=900, check=True) -> subprocess.CompletedProcess:
    done = subprocess.run([str(c) for c in command], env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)
    if check and done.returncode:
        raise AssertionError(f"{command} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


@pytest.fixture(scope="module")
def wheels(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("dist")
    run(sys.executable, ROOT / "packaging" / "build_wheels.py", out)
    found = {path.name.split("-")[0]: path for path in out.glob("*.whl")}
    assert set(found) == {"ncii_federation", "ncii_federation_partner"}, found
    return found


def fresh_venv(where: Path, wheel: Path) -> Path:
    """A new venv (no system site-packages) with only `wheel` and its dependencies."""
    venv.create(where, with_pip=True)
    python = where / "bin" / "python"
    run(python, "-m", "pip", "install", "--disable-pip-version-check", "-q", wheel)
    return python


def clean_env(**extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FEDERATION_", "VIRTUAL_ENV", "PYTHON"))}
    return {**env, **extra}


def test_the_kit_wheel_holds_only_the_kit(wheels):
    import zipfile

    names = zipfile.ZipFile(wheels["ncii_federation_partner"]).namelist()
    modules = {n for n in names if n.endswith(".py")}
    assert {"partners/sync.py", "federation/rules.py", "federation/crypto/keys.py"} <= modules
    assert not any(n.startswith(("federation/api/", "federation/portal/", "federation/migrations/"))
                   or n in ("federation/app.py", "federation/models.py") for n in names)
    metadata = next(n for n in names if n.endswith("METADATA"))
    requires = [line for line in zipfile.ZipFile(wheels["ncii_federation_partner"]).read(metadata).decode()
                .splitlines() if line.startswith("Requires-Dist:")]
    assert not any(stack in line.lower() for line in requires for stack in SERVER_STACK), requires


def test_service_wheel_serves_and_kit_wheel_syncs_and_matches(wheels, tmp_path, corpus_dir):
    # The service, from its own wheel in its own venv, on SQLite.
    service_python = fresh_venv(tmp_path / "service", wheels["ncii_federation"])
    federation = service_python.with_name("federation")
    port = free_port()
    env = clean_env(FEDERATION_INSTANCE_PATH=str(tmp_path / "instance"), FEDERATION_FRONT="none",
                    FEDERATION_BIND=f"127.0.0.1:{port}")
    log = open(tmp_path / "serve.log", "w")  # closed in the finally below
    server = subprocess.Popen([str(federation), "serve", "--demo"], env=env, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        token = wait_for_token(tmp_path / "serve.log", server)
        row = next(r for r in corpus_rows(corpus_dir) if r["file"] == "bridge-mods/aaa-orig.jpg")
        report = case_payload([{"type": "pdq", "value": row["pdq_exif_oriented"],
                                "quality": int(row["pdq_quality"])}])
        posted = http_post(f"{base}/v1/cases", report)
        assert "reference" in posted

        # The kit, from its own wheel, in a venv where the server's stack is absent.
        kit_python = fresh_venv(tmp_path / "kit", wheels["ncii_federation_partner"])
        for module in SERVER_STACK:
            assert run(kit_python, "-c", f"import {module}", check=False).returncode == 1, module
        kit = kit_python.with_name("federation-partner")
        kit_env = clean_env(FEDERATION_SERVER=base, FEDERATION_PARTNER_TOKEN=token,
                            FEDERATION_PARTNER_STORE=str(tmp_path / "store.db"))
        synced = run(kit, "sync", env=kit_env)
        assert json.loads(synced.stdout.splitlines()[-1])["active"] == 1
        edited = corpus_dir / "pdq-reference" / "bridge-mods" / "blur-a-lot.jpg"
        unrelated = corpus_dir / "pdq-reference" / "misc-images" / "wee.jpg"
        found = run(kit, "match", edited, unrelated, env=kit_env)
        result = {Path(line["path"]).name: line["matches"] for line in map(json.loads, found.stdout.splitlines())}
        assert [m["type"] for m in result["blur-a-lot.jpg"]] == ["pdq"] and result["wee.jpg"] == []
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()


def wait_for_token(log: Path, server: subprocess.Popen, timeout: float = 120) -> str:
    """The demo partner's token `serve --demo` prints, once the service answers."""
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert server.poll() is None, log.read_text()
        lines = log.read_text().splitlines()
        token = next((lines[i + 1].strip() for i, line in enumerate(lines[:-1]) if "token shown once" in line), None)
        serving = next((line for line in lines if line.startswith("Federation serving on ")), None)
        if token and serving:
            url = serving.split()[3]
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=5) as answer:
                    if answer.status == 200:
                        return token
            except OSError:
                pass
        time.sleep(0.2)  # polling the log and /healthz, bounded by the deadline
    raise AssertionError(f"serve not ready:\n{log.read_text()}")


def http_post(url: str, body: dict) -> dict:
    import urllib.request

    request = urllib.request.Request(url, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())
