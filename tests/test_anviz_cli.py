"""``punchd simulate anviz``, ``punchd collect`` (incl. ``--all-records``), ``punchd devices``
and ``punchd demo`` as real subprocesses."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .cli_helpers import punchd, subprocess_env


@pytest.fixture
def base_env(tmp_path: Path) -> dict[str, str]:
    return subprocess_env(XDG_DATA_HOME=str(tmp_path / "data"), COLUMNS="200", NO_COLOR="1")


def write_config(tmp_path: Path, *devices: str) -> Path:
    path = tmp_path / "punchd.toml"
    path.write_text("\n".join(devices), encoding="utf-8")
    return path


def anviz_device(name: str, device_id: int, **where: object) -> str:
    lines = ["[[devices]]", f'name = "{name}"', 'driver = "anviz"', f"device_id = {device_id}"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in where.items()]
    lines.append("timeout = 2")
    return "\n".join(lines) + "\n"


@pytest.fixture
def simulator(base_env: dict[str, str]) -> Iterator:
    procs: list[subprocess.Popen[str]] = []

    def start(*args: str) -> str:
        proc = subprocess.Popen(
            [sys.executable, "-m", "punchd", "simulate", "anviz", *args],
            env=base_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        procs.append(proc)
        assert proc.stdout is not None
        return proc.stdout.readline()

    yield start
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


def test_a_bus_of_two_clocks_on_a_pty(
    db_url: str, tmp_path: Path, base_env: dict[str, str], simulator
) -> None:
    link = tmp_path / "ttyUSB-bus"
    banner = simulator("--pty", str(link), "--ids", "1,2", "--punches", "700")
    assert f"on pty {link} -> /dev/pts/" in banner and "ids=1,2 punches=700" in banner
    config = write_config(
        tmp_path,
        anviz_device("door-1", 1, port=str(link)),
        anviz_device("door-2", 2, port=str(link), user_code="card"),
    )
    env = dict(base_env, PUNCHD_DATABASE_URL=db_url, PUNCHD_CONFIG=str(config))
    first = punchd("collect", env=env)
    assert first.returncode == 0, first.stderr
    for name in ("door-1", "door-2"):
        assert re.search(rf"{name}\s+│\s+ok\s+│\s+700\s+│\s+700\s+│\s+0\s+│.*│\s+yes", first.stdout)
    nothing_new = punchd("collect", "--device", "door-1", env=env)
    assert re.search(r"door-1\s+│\s+ok\s+│\s+0\s+│\s+0\s+│", nothing_new.stdout)
    recovery = punchd("collect", "--device", "door-2", "--all-records", env=env)
    assert recovery.returncode == 0, recovery.stderr
    assert re.search(r"door-2\s+│\s+ok\s+│\s+700\s+│\s+0\s+│", recovery.stdout)
    listing = punchd("devices", env=dict(env, COLUMNS="400"))  # the whole (temporary) path
    assert listing.returncode == 0, listing.stderr
    row = next(line for line in listing.stdout.splitlines() if "door-2" in line)
    assert "anviz" in row and "ANVSIM000002" in row and "700" in row and f"{link}#2" in row


def test_tcp_clock_with_faults_and_a_dead_one(
    tmp_path: Path, base_env: dict[str, str], simulator
) -> None:
    banner = simulator("--tcp", "0", "--punches", "300", "--fault", "garbage", "--fault", "crc:4")
    match = re.search(r"tcp://127\.0\.0\.1:(\d+)", banner)
    assert match and "faults=garbage,crc:4" in banner, banner
    config = write_config(
        tmp_path,
        anviz_device("gate", 1, host="127.0.0.1", tcp_port=int(match.group(1))),
        anviz_device("gone", 1, port=str(tmp_path / "ttyUSB7")),
    )
    result = punchd("collect", env=dict(base_env, PUNCHD_CONFIG=str(config)))
    assert result.returncode == 1
    assert re.search(r"gate\s+│\s+ok\s+│\s+300\s+│\s+300", result.stdout)
    failed = [line for line in result.stderr.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 1 and "[unreachable] gone" in failed[0]
    assert "ttyUSB7 does not exist" in failed[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tcp", "0", "--pty", "/tmp/x"], "exactly one of --pty LINK or --tcp PORT"),
        ([], "exactly one of --pty LINK or --tcp PORT"),
        (["--tcp", "0", "--ids", "1,x"], "--ids must be comma-separated numbers"),
        (["--tcp", "0", "--ids", "2,2"], "--ids must be distinct device ids"),
        (["--tcp", "0", "--fault", "melt"], "unknown fault 'melt'"),
    ],
)
def test_simulate_refuses_bad_arguments(
    base_env: dict[str, str], args: list[str], message: str
) -> None:
    result = punchd("simulate", "anviz", *args, env=base_env, timeout=30)
    assert result.returncode == 2 and message in result.stderr


def test_demo_collects_the_anviz_clock_too(tmp_path: Path, base_env: dict[str, str]) -> None:
    result = punchd("demo", "--punches", "600", "--users", "20", env=base_env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert re.search(r"demo-anviz\s+│\s+ok\s+│\s+2000\s+│\s+2000\s+│\s+0\s+│.*yes", result.stdout)
    assert re.search(r"demo-anviz\s+│\s+ok\s+│\s+3\s+│\s+3\s+│", result.stdout)
    assert re.search(r"demo-zk\s+│\s+ok\s+│\s+600\s+│\s+600", result.stdout)
