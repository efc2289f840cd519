"""`federation serve` as the README runs it: bind and workers from the environment,
alone or behind nginx, on both databases; and `federation front-config`."""
from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import text

from tests.factories import case_payload
from tests.functional.served import FEDERATION, nginx_or_skip, serve

CONCURRENT, REPORTS = 48, 192  # a shared connection broke some of 40 at once; 4 rounds of it


@pytest.mark.slow
@pytest.mark.parametrize("front", ["none", "nginx"])
def test_serve_takes_bind_from_the_environment_and_every_concurrent_report_succeeds(
        front, tmp_path, test_config, engine, clean_database):
    """PostgreSQL gets 2 workers: a connection pooled before the fork and shared by both
    workers failed reports with 500 (DuplicatePreparedStatement)."""
    if front == "nginx":
        nginx_or_skip()
    # A busy host can queue a report past the default 2 s budget (503 overloaded, by
    # design); what this test is about is every report being served.
    # Nor about the per-network report limit: 192 reports come from one loopback network.
    settings = {"FEDERATION_FRONT": front, "FEDERATION_QUEUE_BUDGET_MS": "60000",
                "FEDERATION_REPORT_LIMIT": "100000"}
    with serve(tmp_path, test_config, settings) as served:
        with ThreadPoolExecutor(CONCURRENT) as pool:
            # From 16 addresses, as people are: nginx caps connections per address.
            results = list(pool.map(lambda i: served.request("POST", "/v1/cases", case_payload(),
                                                             source=f"127.0.0.{2 + i % 16}"),
                                    range(REPORTS)))
        stdout, _ = served.stop()
    statuses = [status for status, _, _ in results]
    assert statuses == [201] * REPORTS, statuses
    assert f"Federation serving on http://127.0.0.1:{served.port}" in stdout
    workers = 2 if test_config["DATABASE_URL"].startswith("postgresql") else 1
    assert f"front: {front}, workers: {workers})" in stdout
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM cases")).scalar_one() == REPORTS


def test_front_config_is_an_nginx_configuration_nginx_accepts(tmp_path):
    nginx_or_skip()
    from federation.front.nginx import find_nginx

    site = subprocess.run([str(FEDERATION), "front-config", "--listen", "127.0.0.1:8080",
                           "--upstream", "127.0.0.1:8001", "--access-log", str(tmp_path / "access.log")],
                          capture_output=True, text=True, check=True,
                          env={"FEDERATION_INSTANCE_PATH": str(tmp_path / "instance"),
                               "PATH": "/usr/bin:/bin"}).stdout
    assert "$remote_addr" not in site.split("log_format", 1)[1].split(";", 1)[0]
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid; events {{}} http {{ client_body_temp_path {tmp_path}/body; "
        f"proxy_temp_path {tmp_path}/proxy; include {tmp_path}/site.conf; }}")
    checked = subprocess.run([find_nginx(), "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"),
                              "-e", "stderr"], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
