"""The shipped systemd unit is valid and asks for what the daemon relies on."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parent.parent / "systemd" / "punchd.service"


def settings(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            out.setdefault(key.strip(), []).append(value.strip())
    return out


def test_unit_has_the_daemon_contract() -> None:
    s = settings(UNIT.read_text())
    assert s["Type"] == ["notify"] and s["WatchdogSec"] and s["Restart"] == ["on-failure"]
    assert s["DynamicUser"] == ["yes"] and s["StateDirectory"] == ["punchd"]
    assert "dialout" in s["SupplementaryGroups"][0]
    assert s["ProtectSystem"] == ["strict"] and s["NoNewPrivileges"] == ["yes"]
    assert s["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert "PrivateDevices" not in s  # would hide serial ports
    assert s["ExecStart"][0].endswith("punchd --config /etc/punchd/punchd.toml run")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_analyze_verify(tmp_path: Path) -> None:
    # verify checks that ExecStart exists: point it at this environment's punchd.
    punchd = Path(sys.executable).with_name("punchd")
    assert punchd.exists()
    unit = tmp_path / "punchd.service"
    unit.write_text(UNIT.read_text().replace("/opt/punchd/.venv/bin/punchd", str(punchd)))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "punchd.service" not in result.stderr, result.stderr  # no warnings about it
