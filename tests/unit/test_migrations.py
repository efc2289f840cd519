"""Alembic is the only way the schema changes: the models must match what it builds."""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from federation.models import Base


def test_models_and_migrations_agree(engine):
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_db_upgrade_works_from_an_installed_wheel(tmp_path):
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path / "dist"), root], check=True, capture_output=True)
    wheel = next((tmp_path / "dist").glob("ncii_federation-*.whl"))
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    env = dict(os.environ, PYTHONPATH=str(site), FEDERATION_INSTANCE_PATH=str(tmp_path / "instance"),
               FEDERATION_DATABASE_URL=f"sqlite:///{tmp_path / 'wheel.db'}")
    probe = subprocess.run([sys.executable, "-c", "import federation; print(federation.__file__)"],
                           env=env, cwd=tmp_path, capture_output=True, text=True, check=True)
    assert probe.stdout.startswith(str(site))  # the wheel's copy, not the checkout
    done = subprocess.run([sys.executable, "-c", "from federation.cli import main; main()", "db", "upgrade"],
                          env=env, cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "database at head" in done.stdout
