"""Running the real ``punchd`` command in tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def punchd(
    *args: str, env: dict[str, str], timeout: float = 120, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m punchd ARGS`` as a subprocess; output captured as text, never raises."""
    return subprocess.run(
        [sys.executable, "-m", "punchd", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def subprocess_env(**values: str) -> dict[str, str]:
    """Environment for a ``punchd`` subprocess: this process's, without any ``PUNCHD_*``
    variable (a developer's own settings must not reach the test), plus ``values``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUNCHD_")}
    env.update(values)
    return env
