"""Running the real ``punchd`` command in tests."""

from __future__ import annotations

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
