#!/usr/bin/env python3
"""Bootstrap for a fresh clone: needs only Python 3.11+ and pip.

    python3 dev.py demo        # venv + pinned install, then `punchd demo`
    python3 dev.py test [ARGS] # venv + pinned install, then pytest ARGS (one worker a core)
    python3 dev.py punchd ARGS # any punchd command inside the venv

The virtual environment lives in .venv; it is (re)installed from requirements.lock
whenever the lock file or pyproject.toml changes.
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
STAMP = VENV / ".punchd-installed"


def _fingerprint() -> str:
    h = hashlib.sha256()
    for name in ("requirements.lock", "pyproject.toml"):
        h.update((ROOT / name).read_bytes())
    return h.hexdigest()


def ensure_venv() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py runs on whatever python3 is
        sys.exit(f"punchd needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    if not (BIN / "python").exists():
        print(f"creating virtual environment in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    want = _fingerprint()
    if STAMP.exists() and STAMP.read_text() == want:
        return
    pip = [str(BIN / "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    print("installing pinned dependencies from requirements.lock", flush=True)
    subprocess.run([*pip, "-r", str(ROOT / "requirements.lock")], check=True)
    subprocess.run([*pip, "--no-deps", "-e", str(ROOT)], check=True)
    STAMP.write_text(want)


def _workers(args: list[str]) -> list[str]:
    """One pytest worker per core (pytest-xdist), unless ARGS choose (``-n 0``: one
    process). Most tests wait on subprocesses, sockets and databases: one process leaves a
    core idle."""
    chosen = any(a.startswith(("-n", "--numprocesses", "--dist")) or a == "no:xdist" for a in args)
    return [] if chosen else ["-n", "auto"]


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"demo", "test", "punchd"}:
        print(__doc__)
        return 2
    ensure_venv()
    cmd, rest = argv[0], argv[1:]
    if cmd == "demo":
        args = [str(BIN / "punchd"), "demo", *rest]
    elif cmd == "test":
        args = [str(BIN / "python"), "-m", "pytest", *_workers(rest), *rest]
    else:
        args = [str(BIN / "punchd"), *rest]
    return subprocess.call(args, cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
