"""The shipped web console unit is valid and hardened like the daemon's."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .test_systemd import settings

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "systemd" / "punchd-web.service"
DAEMON = ROOT / "systemd" / "punchd.service"


def test_unit_runs_the_console() -> None:
    s = settings(UNIT.read_text())
    assert s["Type"] in (["simple"], ["exec"])
    assert "WatchdogSec" not in s and "NotifyAccess" not in s  # the console sends no notify
    assert s["ExecStart"][0].endswith("punchd --config /etc/punchd/punchd.toml web")
    assert s["Restart"] == ["on-failure"]
    assert s["StateDirectory"] == ["punchd"]  # shared with the daemon
    assert "SupplementaryGroups" not in s  # no dialout: no serial ports
    assert "DeviceAllow" not in s and s["PrivateDevices"] == ["yes"]


def test_hardened_like_the_daemon() -> None:
    web, daemon = settings(UNIT.read_text()), settings(DAEMON.read_text())
    for key in (
        "DynamicUser",
        "StateDirectoryMode",
        "ConfigurationDirectory",
        "EnvironmentFile",
        "UMask",
        "NoNewPrivileges",
        "ProtectSystem",
        "ProtectHome",
        "PrivateTmp",
        "ProtectKernelTunables",
        "ProtectKernelModules",
        "ProtectKernelLogs",
        "ProtectControlGroups",
        "ProtectClock",
        "ProtectHostname",
        "ProtectProc",
        "RestrictAddressFamilies",
        "RestrictNamespaces",
        "RestrictRealtime",
        "RestrictSUIDSGID",
        "LockPersonality",
        "SystemCallArchitectures",
        "SystemCallFilter",
        "CapabilityBoundingSet",
    ):
        assert web.get(key) == daemon.get(key), key


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_analyze_verify(tmp_path: Path) -> None:
    punchd = Path(sys.executable).with_name("punchd")
    assert punchd.exists()
    unit = tmp_path / "punchd-web.service"
    unit.write_text(UNIT.read_text().replace("/opt/punchd/.venv/bin/punchd", str(punchd)))
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "punchd-web.service" not in result.stderr, result.stderr
