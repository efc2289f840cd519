"""Shared fixtures. Service fixtures (app, session, client) live in tests/fixtures/."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    # In CI a skip is a failure: every service the tests need is installed there,
    # so a skip can only mean something is missing that should not be.
    report = yield
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"skipped in CI (a skip is a failure there): {reason}"
    return report


def _find_corpus() -> Path | None:
    candidates = [os.environ.get("FEDERATION_CORPUS"),
                  Path(__file__).resolve().parents[2] / "shared" / "corpus"]
    for candidate in candidates:
        if candidate and Path(candidate, "pdq-reference", "expected.csv").is_file():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """The shared test corpus, read in place (never copied into the project)."""
    found = _find_corpus()
    if found is None:
        pytest.skip("test corpus not found: set FEDERATION_CORPUS or place it at ../shared/corpus")
    return found
