"""The console is a front door: it calls the application layer, never SQL, storage or
drivers (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

WEB = Path(__file__).resolve().parents[2] / "src" / "punchd" / "web"
ALLOWED = ("punchd.app", "punchd.config", "punchd.errors", "punchd.clock", "punchd.safetext",
           "punchd.logs", "punchd.proxies", "punchd.web")  # fmt: skip
FORBIDDEN_TOP = {"sqlalchemy"}


def test_web_imports_only_the_application_layer() -> None:
    found = []
    for path in sorted(WEB.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top == "punchd" and name != "punchd" and not name.startswith(ALLOWED):
                    found.append(f"{path.name}: {name}")
                if top in FORBIDDEN_TOP:
                    found.append(f"{path.name}: {name}")
    assert found == []
