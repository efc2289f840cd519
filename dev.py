#!/usr/bin/env python3
"""The two commands of the Quick start. Needs only Python 3.11+ and pip.

    python3 dev.py serve   set up .venv, migrate, run the service on SQLite with demo keys
    python3 dev.py test    set up .venv, run ruff and mypy, then the whole suite on SQLite and on PostgreSQL

Setup is repeated only when pyproject.toml changes (a stamp in .venv records its hash).
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"


def setup() -> None:
    # Runs on whatever python3 a newcomer has, before .venv exists: say what is needed.
    if sys.version_info < (3, 11):  # noqa: UP036
        sys.exit(f"Python 3.11 or newer is needed, this is {sys.version.split()[0]}")
    if not PYTHON.exists():
        print("creating .venv ...", flush=True)
        venv.create(VENV, with_pip=True)
    stamp = VENV / ".federation-installed"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest:
        return
    print("installing federation and its test dependencies into .venv ...", flush=True)
    pip = [str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "--upgrade", "pip", "setuptools>=69", "wheel"], check=True)
    # The distribution was called `federation` until that name turned out to be taken on
    # PyPI; a .venv made before the rename holds both, with the same packages and scripts.
    subprocess.run([str(PYTHON), "-m", "pip", "uninstall", "-y", "-q", "federation"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    subprocess.run([*pip, "-e", f"{ROOT}[test,postgres,partner,redis]"], check=True)
    stamp.write_text(digest)


def serve(args: list[str]) -> int:
    setup()
    return subprocess.call([str(BIN / "federation"), "serve", "--demo", *args], cwd=ROOT)


def test(args: list[str]) -> int:
    setup()
    results = {}
    # Lint and types first (the rules are in pyproject.toml); a failure is reported with the rest.
    for name, command in (("ruff", [str(BIN / "ruff"), "check", "."]), ("mypy", [str(BIN / "mypy")])):
        print(f"\n=== {name} ===", flush=True)
        results[name] = subprocess.call(command, cwd=ROOT)
    for backend in ("sqlite", "postgres"):
        print(f"\n=== test suite on {backend} ===", flush=True)
        env = dict(os.environ, FEDERATION_TEST_DB=backend)
        results[backend] = subprocess.call([str(PYTHON), "-m", "pytest", *args], cwd=ROOT, env=env)
    print("\n" + ", ".join(f"{name}: {'passed' if code == 0 else f'FAILED ({code})'}"
                            for name, code in results.items()))
    return max(results.values())


def main() -> int:
    commands = {"serve": serve, "test": test}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print(__doc__)
        return 2
    return commands[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
