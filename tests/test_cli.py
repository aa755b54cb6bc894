"""The ``punchd`` command as a real subprocess, against the simulator and a real database."""

from __future__ import annotations

import csv
import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, timedelta
from importlib import resources
from pathlib import Path

import pytest
from sqlalchemy import func, select

from punchd.clock import host_zone, local_now
from punchd.drivers.zk.simulator import ZKSimulator, generate
from punchd.storage import schema
from punchd.storage.database import make_engine

from .cli_helpers import punchd, subprocess_env

KEY = 5550123
USERS, PUNCHES = generate(users=80, punches=5_000, seed=33)


@pytest.fixture
def base_env(tmp_path: Path) -> dict[str, str]:
    return subprocess_env(XDG_DATA_HOME=str(tmp_path / "data"), COLUMNS="200", NO_COLOR="1")


@pytest.fixture
def sim() -> Iterator[ZKSimulator]:
    with ZKSimulator(
        port=0, comm_key=KEY, users=USERS, punches=PUNCHES, serial_number="CLI-SN-1"
    ) as s:
        yield s


def write_config(tmp_path: Path, *devices: str, extra: str = "") -> Path:
    path = tmp_path / "punchd.toml"
    path.write_text(extra + "\n" + "\n".join(devices), encoding="utf-8")
    return path


def zk_device(name: str, port: int, key: int = KEY, **kw: object) -> str:
    lines = [
        "[[devices]]",
        f'name = "{name}"',
        'driver = "zk"',
        'host = "127.0.0.1"',
        f"port = {port}",
        f"comm_key = {key}",
        "timeout = 2",
    ]
    lines += [f"{k} = {json.dumps(v)}" for k, v in kw.items()]
    return "\n".join(lines) + "\n"


def test_collect_twice_then_devices(
    db_url: str, tmp_path: Path, base_env: dict[str, str], sim: ZKSimulator
) -> None:
    env = dict(
        base_env,
        PUNCHD_DATABASE_URL=db_url,
        PUNCHD_CONFIG=str(write_config(tmp_path, zk_device("gate-1", sim.port))),
    )
    first = punchd("collect", env=env)
    assert first.returncode == 0, first.stderr
    assert re.search(r"gate-1\s+│\s+ok\s+│\s+5000\s+│\s+5000\s+│\s+80", first.stdout)
    # not a terminal: JSON log lines on stderr, one collection event per device, and no
    # re-processing (nobody on the roster yet: the punches change no employee-day)
    events = [json.loads(line) for line in first.stderr.splitlines() if line.startswith("{")]
    assert [(e["event"], e["device"], e["records_new"]) for e in events if "records_new" in e] == [
        ("collection", "gate-1", 5000)
    ]
    assert [e for e in events if e["event"] == "re-processed"] == []
    second = punchd("collect", "--device", "gate-1", env=env)
    assert second.returncode == 0, second.stderr
    assert re.search(r"gate-1\s+│\s+ok\s+│\s+5000\s+│\s+0\s+│", second.stdout)
    engine = make_engine(db_url)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(schema.att_punch)).scalar() == 5000
    engine.dispose()
    listing = punchd("devices", env=env)
    assert listing.returncode == 0, listing.stderr
    row = next(line for line in listing.stdout.splitlines() if "gate-1" in line)
    assert "CLI-SN-1" in row and "5000" in row and "ok" in row and f":{sim.port}" in row
    assert str(KEY) not in first.stdout + first.stderr + listing.stdout


def test_failures_exit_non_zero_with_one_line_each(
    tmp_path: Path, base_env: dict[str, str], sim: ZKSimulator
) -> None:
    with ZKSimulator(port=0) as gone:
        dead_port = gone.port
    config = write_config(
        tmp_path,
        zk_device("good", sim.port),
        zk_device("wrongkey", sim.port, key=999111),
        zk_device("dead", dead_port),
    )
    result = punchd("collect", env=dict(base_env, PUNCHD_CONFIG=str(config)))
    assert result.returncode == 1
    failed = [line for line in result.stderr.splitlines() if line.startswith("FAILED")]
    assert len(failed) == 2
    assert "[auth_refused] wrongkey" in failed[0] and "refused the comm key" in failed[0]
    assert "[unreachable] dead" in failed[1] and "connection refused" in failed[1]
    assert re.search(r"good\s+│\s+ok\s+│\s+5000\s+│\s+5000", result.stdout)
    everything = result.stdout + result.stderr
    assert "999111" not in everything and str(KEY) not in everything


def test_bad_config_is_one_clear_line(tmp_path: Path, base_env: dict[str, str]) -> None:
    config = write_config(tmp_path, zk_device("a", 4370) + "port = 4371\n")
    result = punchd("--config", str(config), "collect", env=base_env)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "not valid TOML" in result.stderr and str(config) in result.stderr
    config.write_text(zk_device("a", 99999))
    result = punchd("--config", str(config), "collect", env=base_env)
    assert result.returncode == 2
    assert "devices[0] ('a'): port: Input should be less than or equal to 65535" in result.stderr
    assert str(KEY) not in result.stderr


def test_database_down_is_reported_without_the_password(
    tmp_path: Path, base_env: dict[str, str]
) -> None:
    config = write_config(tmp_path, zk_device("a", 4370))
    env = dict(
        base_env,
        PUNCHD_CONFIG=str(config),
        PUNCHD_DATABASE_URL="postgresql+psycopg://punchd:Sup3rSecretPw@127.0.0.1:1/x",
    )
    result = punchd("collect", env=env)
    assert result.returncode == 2
    assert "127.0.0.1:1" in result.stderr
    assert "Sup3rSecretPw" not in result.stderr + result.stdout


def test_schema_behind_without_auto_upgrade(
    tmp_path: Path, base_env: dict[str, str], sim: ZKSimulator
) -> None:
    config = write_config(tmp_path, zk_device("gate", sim.port), extra="auto_upgrade = false")
    env = dict(base_env, PUNCHD_CONFIG=str(config))
    refused = punchd("collect", env=env)
    assert refused.returncode == 2 and "punchd db upgrade" in refused.stderr
    upgraded = punchd("db", "upgrade", env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    assert punchd("collect", env=env).returncode == 0


def test_help_never_shows_secrets(
    tmp_path: Path, base_env: dict[str, str], sim: ZKSimulator
) -> None:
    config = write_config(tmp_path, zk_device("gate", sim.port))
    env = dict(
        base_env,
        PUNCHD_CONFIG=str(config),
        PUNCHD_DATABASE_URL="postgresql+psycopg://u:HelpPw123@127.0.0.1:1/x",
    )
    for args in (["--help"], ["collect", "--help"], ["devices", "--help"]):
        result = punchd(*args, env=env)
        assert result.returncode == 0
        assert str(KEY) not in result.stdout and "HelpPw123" not in result.stdout


def test_simulate_command_serves_until_sigterm(tmp_path: Path, base_env: dict[str, str]) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "punchd",
            "simulate",
            "zk",
            "--port",
            "0",
            "--users",
            "30",
            "--punches",
            "700",
            "--comm-key",
            "777",
            "--record-size",
            "49",
        ],
        env=base_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        banner = proc.stdout.readline()
        match = re.search(r"tcp://127\.0\.0\.1:(\d+)", banner)
        assert match, banner
        assert "777" not in banner and "comm_key=set" in banner
        config = write_config(tmp_path, zk_device("sim", int(match.group(1)), key=777))
        result = punchd("collect", env=dict(base_env, PUNCHD_CONFIG=str(config)))
        assert result.returncode == 0, result.stderr
        assert re.search(r"sim\s+│\s+ok\s+│\s+700\s+│\s+700\s+│\s+30", result.stdout)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


def _employed(first: date, last: date) -> int:
    """How many people of the example roster are employed on some day of [first, last]."""
    with resources.as_file(resources.files("punchd.examples") / "roster.example.csv") as path:
        rows = list(csv.DictReader(path.open(encoding="utf-8")))
    assert len(rows) == 164
    return sum(
        date.fromisoformat(r["hire_date"]) <= last
        and (not r["separation_date"] or date.fromisoformat(r["separation_date"]) >= first)
        for r in rows
    )


def _window(stdout: str) -> tuple[date, date, int]:
    """The demo's processing line: (from, to, employees)."""
    match = re.search(r"processed (\S+) … (\S+): (\d+) employees", stdout)
    assert match, stdout
    return date.fromisoformat(match[1]), date.fromisoformat(match[2]), int(match[3])


@pytest.mark.yearend
@pytest.mark.parametrize(
    ("today", "employed"),
    [
        # E1120 hired on 16 Nov, E1119 left on 13 Nov (still in the window), E3… hired 2027
        ("2026-11-25", 160),
        # E1119 has left the window; the 2027 hires start on 4 January
        ("2026-12-31", 159),
        ("2027-01-02", 159),
    ],
)
def test_demo_runs_on_a_fresh_machine(
    tmp_path: Path, base_env: dict[str, str], today: str, employed: int
) -> None:
    day = date.fromisoformat(today)
    assert _employed(day - timedelta(days=14), day) == employed  # the table above is right
    result = punchd("demo", "--today", today, env=base_env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert re.search(r"demo-zk\s+│\s+ok\s+│\s+12000\s+│\s+12000", result.stdout)
    assert re.search(r"demo-zk\s+│\s+ok\s+│\s+12005\s+│\s+5\s+│", result.stdout)
    # the simulated clocks moved with punchd's: no drift, nothing in the future
    assert re.search(r"demo-zk\s+│\s+ok\s+│\s+12000\s+│\s+12000\s+│\s+120\s+│[^│]+│\s+\+0 s",
                     result.stdout)  # fmt: skip
    assert (tmp_path / "data" / "punchd" / "punchd.db").is_file()
    assert "20261102" not in result.stdout + result.stderr  # the demo's comm key
    # Then the attendance part: the example roster and rules, processing, the reports.
    assert "roster: 164 created" in result.stdout
    assert _window(result.stdout) == (day - timedelta(days=14), day, employed)
    # the example follows China's calendar: a window reaching into 2027 says it is unofficial
    unconfirmed = "warning: calendar for 2027 not confirmed" in result.stdout
    assert unconfirmed == (day.year == 2027), result.stdout
    engine = make_engine(f"sqlite:///{tmp_path / 'data' / 'punchd' / 'punchd.db'}")
    with engine.connect() as conn:
        statuses = dict(
            conn.execute(
                select(schema.att_day.c.status, func.count()).group_by(schema.att_day.c.status)
            ).all()
        )
        dates = conn.execute(
            select(func.min(schema.att_day.c.work_date), func.max(schema.att_day.c.work_date))
        ).one()
        # the card clock's punches reach the employees holding those cards
        card_days = conn.execute(
            select(func.count())
            .select_from(schema.att_day.join(schema.att_employee))
            .where(
                schema.att_employee.c.employee_no == "E2001", schema.att_day.c.status == "present"
            )
        ).scalar()
        # the clocks' latest punches are those of "today": minutes before the demo's now
        latest = conn.execute(select(func.max(schema.att_punch.c.punched_at))).scalar()
    engine.dispose()
    assert tuple(dates) == (day - timedelta(days=14), day)
    assert latest.date() in (day, day + timedelta(days=1))  # (a run across midnight)
    assert statuses["present"] > 1000 and statuses["rest"] > 0
    assert card_days >= 5
    assert (tmp_path / "data" / "punchd" / "demo-report.xlsx").is_file()

    # Again, on the clock's own date (the real one, or the one libfaketime sets).
    before = local_now(host_zone()).date()
    again = punchd("demo", env=base_env, cwd=tmp_path)
    after = local_now(host_zone()).date()
    assert again.returncode == 0, again.stderr
    assert "roster: 0 created, 0 updated, 164 unchanged" in again.stdout
    first, last, count = _window(again.stdout)
    assert last in (before, after) and first == last - timedelta(days=14)
    assert count == _employed(first, last)
