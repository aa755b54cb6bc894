"""The rules of the house (docs/architecture.md), checked on the source itself."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "punchd"
LINT = Path(sys.executable).with_name("lint-imports")

# What a module outside storage may take from SQLAlchemy: types to pass a connection or an
# engine through, and the exceptions that say the database is down. Nothing that builds SQL.
ALLOWED_OUTSIDE_STORAGE = {"sqlalchemy.engine": {"Connection", "Engine", "Row"}}
ALLOWED_MODULES = {"sqlalchemy.exc"}  # any exception: telling "database down" from a refusal


def _modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if "migrations" not in p.parts)


def test_import_contracts_hold() -> None:
    """import-linter: layers, drivers apart, a pure engine, the schema protected, no cycles."""
    done = subprocess.run(
        [str(LINT), "--config", str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_no_sql_outside_storage() -> None:
    """No module outside storage/ imports anything from SQLAlchemy that builds a statement."""
    found = []
    for path in _modules():
        rel = path.relative_to(SRC)
        if rel.parts[0] == "storage":
            continue
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found += [
                    f"{rel}: import {a.name}" for a in node.names if a.name.startswith("sqlalchemy")
                ]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
                if node.module in ALLOWED_MODULES:
                    continue
                allowed = ALLOWED_OUTSIDE_STORAGE.get(node.module or "", set())
                found += [
                    f"{rel}: from {node.module} import {a.name}"
                    for a in node.names
                    if a.name not in allowed
                ]
    assert found == []


def test_architecture_doc_names_every_package() -> None:
    """docs/architecture.md has a line for every package and top-level module (and no more)."""
    doc = (ROOT / "docs" / "architecture.md").read_text()
    named = set(re.findall(r"^\| `([a-z_]+)(?:/|\.py)` \|", doc, re.M))
    code = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    code |= {p.stem for p in SRC.glob("*.py") if p.stem not in {"__init__", "__main__"}}
    assert named == code
