"""punchd as users install it: a wheel in a fresh virtual environment, run from a directory
that has no source tree — the demo's example roster and rules come from the package."""

from __future__ import annotations

import filecmp
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ("roster.example.csv", "rules.example.toml")


@pytest.mark.parametrize("name", EXAMPLES)
def test_packaged_examples_are_configs_copies(name: str) -> None:
    """config/ is what people read; the package ships the same files for the demo."""
    assert filecmp.cmp(ROOT / "config" / name, ROOT / "src" / "punchd" / "examples" / name, False)


def _run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None, timeout: float = 180):
    result = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, f"{args}:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.mark.slow
def test_wheel_demo_runs_outside_the_source_tree(tmp_path: Path) -> None:
    # Build from a copy: building in place would leave build/ and egg-info in the checkout.
    src = tmp_path / "src-copy"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(
        ROOT / "src", src / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__")
    )
    dist = tmp_path / "dist"
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", dist, src, cwd=tmp_path)
    (wheel,) = dist.glob("punchd-*.whl")

    # A fresh venv with only the wheel; the dependencies come from this environment's
    # site-packages (a path in a .pth: its own .pth files, such as punchd's editable
    # install, are not read).
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    site = _run(
        python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=tmp_path
    )
    Path(site.stdout.strip(), "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    _run(
        sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "-q", wheel,
        cwd=tmp_path,
    )  # fmt: skip

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "XDG_DATA_HOME": str(elsewhere / "data"),
        "COLUMNS": "200",
        "NO_COLOR": "1",
    }
    where = _run(python, "-c", "import punchd; print(punchd.__file__)", cwd=elsewhere, env=env)
    assert where.stdout.startswith(str(env_dir)), where.stdout  # the wheel, not the checkout
    version = _run(env_dir / "bin" / "punchd", "--version", cwd=elsewhere, env=env)
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert version.stdout.strip() == f"punchd {pyproject['project']['version']}"
    demo = _run(env_dir / "bin" / "punchd", "demo", "--today", "2026-11-25", cwd=elsewhere, env=env)
    assert "roster: 164 created" in demo.stdout
    assert "processed 2026-11-11 … 2026-11-25: 160 employees" in demo.stdout
    assert (elsewhere / "data" / "punchd" / "demo-report.xlsx").is_file()
