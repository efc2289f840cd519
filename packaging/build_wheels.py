#!/usr/bin/env python3
"""Build both distributions' wheels into dist/ (or the folder given):

- `ncii-federation`: the service (the repository's pyproject.toml; it contains the kit too);
- `ncii-federation-partner`: the partner kit alone, from a staging copy of partners/ and the
  pure modules it imports (packaging/partner-kit/pyproject.toml says which and why).

    python packaging/build_wheels.py [OUTDIR]

Each is built with `python -m build --wheel` (isolated, as CI does). Refuses to stage a kit
module that imports the server's stack.
"""
from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KIT_CONFIG = ROOT / "packaging" / "partner-kit"
# What the kit ships besides partners/: the modules it imports from federation.
SHARED = ["federation/__init__.py", "federation/rules.py", "federation/crypto"]
SERVER_STACK = {"flask", "flask_smorest", "sqlalchemy", "alembic", "gunicorn", "marshmallow", "werkzeug"}


def build(source: Path, outdir: Path) -> None:
    # Our own interpreter and paths: nothing here comes from outside.
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(outdir), str(source)],  # noqa: S603
                   check=True)


def stage_kit(stage: Path) -> None:
    shutil.copytree(ROOT / "partners", stage / "partners", ignore=shutil.ignore_patterns("__pycache__"))
    for item in SHARED:
        source, target = ROOT / item, stage / item
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target)
    shutil.copy2(KIT_CONFIG / "pyproject.toml", stage / "pyproject.toml")
    shutil.copy2(ROOT / "docs" / "partner-kit.md", stage / "README.md")
    for path in stage.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            for name in names:
                top = name.split(".")[0]
                if top in SERVER_STACK:
                    sys.exit(f"{path.relative_to(stage)} imports {name}: the kit must not need the server")
                if name.startswith("federation.") and not (stage / (name.replace(".", "/") + ".py")).exists() \
                        and not (stage / name.replace(".", "/")).is_dir():
                    sys.exit(f"{path.relative_to(stage)} imports {name}, which the kit does not ship: "
                             "add it to SHARED if it is pure")


def main() -> int:
    outdir = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "dist"
    outdir = outdir.resolve()
    build(ROOT, outdir)
    with tempfile.TemporaryDirectory(prefix="kit-") as stage:
        stage_kit(Path(stage))
        build(Path(stage), outdir)
    for wheel in sorted(outdir.glob("*.whl")):
        print(wheel)
    return 0


if __name__ == "__main__":
    sys.exit(main())
