"""Collection against a lying ZK terminal (tests/hostile_zk.py) over real loopback sockets,
into a real database: every attack ends in a clear error kind, stores nothing wrong, and
leaves the device enabled. Bounds are asserted on outcomes; time only loosely (memory and
wall-clock figures are measured by bench/hostile.py)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.engine import Engine

from punchd.collector.collect import RunResult, collect_device
from punchd.collector.status import device_findings
from punchd.drivers.records import punch_flag
from punchd.drivers.zk import protocol as p
from punchd.drivers.zk.driver import ZKConfig
from punchd.drivers.zk.simulator import generate
from punchd.processing.runner import load_punches
from punchd.reports.build import detail_report
from punchd.reports.export import csv_text
from punchd.storage import collection as store
from punchd.storage import schema

from .cli_helpers import punchd, subprocess_env
from .hostile_zk import HostileZK, raw_record, raw_time

USERS, PUNCHES = generate(users=60, punches=3_000, seed=17, start=datetime(2026, 3, 2))
TRANSPORTS = pytest.mark.parametrize("udp", [False, True], ids=["tcp", "udp"])


@pytest.fixture
def hostile() -> Iterator[Callable[..., HostileZK]]:
    started: list[HostileZK] = []

    def make(attack: str | None = None, **kwargs: object) -> HostileZK:
        kwargs.setdefault("users", USERS)
        kwargs.setdefault("punches", PUNCHES)
        sim = HostileZK(attack, port=0, **kwargs).start()  # type: ignore[arg-type]
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


def device(sim: HostileZK, **kw: object) -> ZKConfig:
    cfg: dict[str, object] = dict(
        name="gate-1",
        driver="zk",
        host="127.0.0.1",
        port=sim.port,
        protocol="udp" if sim.udp else "tcp",
        timeout=1.0,
        max_run_seconds=20,
    )
    cfg.update(kw)
    return ZKConfig(**cfg)  # type: ignore[arg-type]


def cli_env(tmp_path: Path, db_url: str, sim: HostileZK, **kw: object) -> dict[str, str]:
    """Environment for ``punchd`` subprocesses with ``sim`` as device gate-1."""
    config = tmp_path / "punchd.toml"
    lines = [
        "[[devices]]",
        'name = "gate-1"',
        'driver = "zk"',
        'host = "127.0.0.1"',
        f"port = {sim.port}",
        f'protocol = "{"udp" if sim.udp else "tcp"}"',
        "timeout = 5",
    ]
    lines += [f"{k} = {json.dumps(v)}" for k, v in kw.items()]
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return subprocess_env(
        XDG_DATA_HOME=str(tmp_path / "data"),
        COLUMNS="250",
        NO_COLOR="1",
        PUNCHD_DATABASE_URL=db_url,
        PUNCHD_CONFIG=str(config),
    )


def punch_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(schema.att_punch)).scalar_one()


def disabled_at(engine: Engine) -> datetime | None:
    with engine.connect() as conn:
        return conn.execute(select(schema.att_device.c.disabled_at)).scalar_one()


def run_row(engine: Engine, run_id: int | None) -> dict:
    t = schema.att_collection_run
    with engine.connect() as conn:
        return dict(conn.execute(select(t).where(t.c.id == run_id)).mappings().one())


def assert_refused_cleanly(
    engine: Engine, sim: HostileZK, result: RunResult, kind: str, text: str
) -> None:
    """Failed with ``kind`` and ``text``, nothing stored, the device enabled again."""
    assert result.status == "failed" and result.error_kind == kind, result
    assert text in (result.error or ""), result.error
    assert "another client" not in (result.error or "")
    assert punch_count(engine) == 0
    assert sim.enabled and sim.enable_count >= sim.disable_count, "the device is left disabled"
    assert disabled_at(engine) is None
    row = run_row(engine, result.run_id)
    assert (row["status"], row["error_kind"], row["records_new"]) == ("failed", kind, 0)


# ------------------------------------------------------------------ 1. declared sizes


@TRANSPORTS
@pytest.mark.parametrize("attack", ["announce-huge", "count-huge"])
def test_an_implausible_transfer_size_is_refused_before_reading(
    engine: Engine, hostile: Callable[..., HostileZK], udp: bool, attack: str
) -> None:
    sim = hostile(attack, udp=udp)
    result = collect_device(engine, device(sim))
    assert_refused_cleanly(engine, sim, result, "transfer_broken", "at most")
    assert "refused" in (result.error or "")
    assert sim.attack_bytes == 0, "not one chunk of the announced transfer was asked for"


@TRANSPORTS
def test_the_transfer_ceiling_holds_for_a_device_that_tells_the_truth(
    engine: Engine, hostile: Callable[..., HostileZK], udp: bool
) -> None:
    sim = hostile(udp=udp)  # 3,000 40-byte records: 120,004 bytes
    result = collect_device(engine, device(sim, max_transfer_bytes=100_000))
    assert_refused_cleanly(engine, sim, result, "transfer_broken", "max_transfer_bytes = 100000")
    ok = collect_device(engine, device(sim, max_transfer_bytes=130_000))
    assert ok.ok and ok.records_new == len(PUNCHES)


# ------------------------------------------------------------------ 2. overall deadline


@TRANSPORTS
def test_a_dripping_device_is_cut_off_at_max_run_seconds(
    engine: Engine, hostile: Callable[..., HostileZK], udp: bool
) -> None:
    # Every piece arrives well within the 1 s read timeout; only the run deadline ends it.
    sim = hostile("drip", udp=udp, drip_every=0.2)
    started = time.monotonic()
    result = collect_device(engine, device(sim, max_run_seconds=2))
    took = time.monotonic() - started
    assert_refused_cleanly(engine, sim, result, "timeout", "max_run_seconds = 2 s")
    assert took < 2 + 10, took  # loose: the point is that it ends


@TRANSPORTS
def test_an_endless_flood_of_data_ends_the_run(
    engine: Engine, hostile: Callable[..., HostileZK], udp: bool
) -> None:
    sim = hostile("flood", udp=udp)
    result = collect_device(engine, device(sim))
    assert_refused_cleanly(engine, sim, result, "transfer_broken", "more than the")


def test_a_transfer_started_in_time_stops_at_the_deadline_not_the_read_timeout(
    engine: Engine, hostile: Callable[..., HostileZK]
) -> None:
    # The read timeout (30 s) would never fire: the deadline (2 s) must, inside the read.
    sim = hostile("drip", drip_every=0.2)
    result = collect_device(engine, device(sim, timeout=30, max_run_seconds=2))
    assert_refused_cleanly(engine, sim, result, "timeout", "max_run_seconds")
    assert result.duration_s < 30


# ------------------------------------------------------------------ 3. implausible punches


def bad_records() -> list[bytes]:
    """31 February, a power-loss date, and two dates far beyond the device's clock."""
    return [
        raw_record(40, "100001", 2, raw_time(2026, 2, 31)),
        raw_record(40, "100002", 3, raw_time(2000, 1, 1)),
        raw_record(40, "100003", 4, raw_time(2099, 6, 1)),
        raw_record(40, "100004", 5, raw_time(2133, 1, 1)),
    ]


def add_employee(engine: Engine, enroll_no: str) -> None:
    now = datetime(2026, 1, 1)
    with engine.begin() as conn:
        dept = conn.execute(
            insert(schema.att_department).values(
                code="D", name="D", created_at=now, updated_at=now, updated_by="t"
            )
        ).inserted_primary_key[0]
        conn.execute(
            insert(schema.att_employee).values(
                employee_no="E1",
                name="Flagged Person",
                department_id=dept,
                enroll_no=enroll_no,
                hire_date=date(2000, 1, 1),
                created_at=now,
                updated_at=now,
                updated_by="t",
            )
        )


@TRANSPORTS
def test_undecodable_and_implausible_records_are_counted_flagged_and_never_attendance(
    engine: Engine, hostile: Callable[..., HostileZK], udp: bool
) -> None:
    sim = hostile(udp=udp, extra_records=bad_records())
    result = collect_device(engine, device(sim))
    # The record dated 31 February is skipped and reported; it blocks nothing.
    assert result.ok, result
    assert result.undecodable == 1
    assert result.records_read == result.records_new == len(PUNCHES) + 3
    assert result.flagged == {"power_loss": 1, "future": 2}
    assert "1 record(s) did not decode" in (result.error or "")
    assert "user '100001'" in (result.error or "")
    row = run_row(engine, result.run_id)
    assert row["status"] == "ok" and "did not decode" in row["error"]
    assert "2 future, 1 power_loss" in row["error"]
    t = schema.att_punch
    with engine.connect() as conn:
        flagged = conn.execute(
            select(t.c.enroll_no, t.c.punched_at, t.c.flag)
            .where(t.c.flag.is_not(None))
            .order_by(t.c.punched_at)
        ).all()
        unflagged = conn.execute(select(func.count()).where(t.c.flag.is_(None))).scalar_one()
    assert [tuple(r) for r in flagged] == [
        ("100002", datetime(2000, 1, 1, 8, 0), "power_loss"),
        ("100003", datetime(2099, 6, 1, 8, 0), "future"),
        ("100004", datetime(2133, 1, 1, 8, 0), "future"),
    ]
    assert unflagged == len(PUNCHES)
    # Ignored by processing (and never queued for it: tests/test_collect_batches.py).
    for enroll_no in ("100002", "100004"):
        with engine.begin() as conn:
            conn.execute(schema.att_employee.delete())
            conn.execute(schema.att_department.delete())
        add_employee(engine, enroll_no)
        with engine.connect() as conn:
            loaded, _n = load_punches(conn, datetime(1999, 1, 1), datetime(2200, 1, 1))
        times = [at for ats in loaded.values() for at in ats]
        assert not {datetime(2000, 1, 1, 8, 0), datetime(2133, 1, 1, 8, 0)} & set(times)
    # Listed for HR: status, and the detail report of the day they were collected.
    with engine.connect() as conn:
        collected_at = conn.execute(select(func.max(t.c.collected_at))).scalar_one()
        findings = device_findings(conn, {"gate-1"}, collected_at + timedelta(hours=1))
        a_week_on = device_findings(conn, {"gate-1"}, collected_at + timedelta(days=8))
        collected = collected_at.date()
        report = detail_report(conn, collected, collected)
    assert any("2 future, 1 power_loss" in f for f in findings), findings
    assert a_week_on == []  # no longer "needs attention"; still in the detail report
    status = [c.header for c in report.columns].index("Status")
    rows = [r for r in report.rows if r[status] == "flagged"]
    assert len(rows) == 3
    assert rows[0][0:2] == ("", "(device user 100002)")  # nobody on the roster
    assert rows[-1][0:2] == ("E1", "Flagged Person")  # the employee of enroll no 100004
    assert any("power_loss" in r[-1] and "user 100002" in r[-1] for r in rows)
    assert "flagged punch (future: dated more than a day ahead" in csv_text(report)


def test_the_run_summary_of_collect_names_the_bad_records(
    db_url: str, hostile: Callable[..., HostileZK], tmp_path: Path
) -> None:
    sim = hostile(extra_records=bad_records())
    env = cli_env(tmp_path, db_url, sim, max_run_seconds=60)
    done = punchd("collect", env=env, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    note = " ".join(done.stdout.split())  # the table wraps long lines
    assert "note: gate-1: 1 record(s) did not decode and were skipped" in note, done.stdout
    assert "new implausible punches stored flagged (2 future, 1 power_loss)" in note


def test_the_plausibility_rule() -> None:
    now = datetime(2026, 5, 1, 12, 0)
    assert punch_flag(datetime(2000, 12, 31, 23, 59), now) == "power_loss"
    assert punch_flag(datetime(2001, 1, 1), now) is None
    assert punch_flag(now + timedelta(days=1), now) is None
    assert punch_flag(now + timedelta(days=1, seconds=1), now) == "future"
    assert punch_flag(datetime(2133, 1, 1), now) == "future"


@TRANSPORTS
def test_a_record_count_that_implies_another_record_size_fails_and_stores_nothing(
    engine: Engine, hostile: Callable[..., HostileZK], udp: bool
) -> None:
    # 16-byte records counted twice: the count says 8-byte records, the data disagrees.
    sim = hostile("wrong-count", udp=udp, record_size=16, count_factor=2)
    result = collect_device(engine, device(sim))
    assert_refused_cleanly(engine, sim, result, "transfer_broken", "count and data disagree")
    assert "16-byte records" in (result.error or "")


def test_a_record_count_that_fits_no_record_size_fails_and_stores_nothing(
    engine: Engine, hostile: Callable[..., HostileZK]
) -> None:
    sim = hostile("wrong-count", count_factor=3)
    result = collect_device(engine, device(sim))
    assert_refused_cleanly(engine, sim, result, "transfer_broken", "fits no known record size")


# ------------------------------------------------------------------ 4. garbage, left disabled


@TRANSPORTS
def test_garbage_replies_are_reported_as_garbage_not_busy(
    engine: Engine, hostile: Callable[..., HostileZK], udp: bool
) -> None:
    sim = hostile("garbage", udp=udp)
    result = collect_device(engine, device(sim))
    assert result.status == "failed" and result.error_kind == "transfer_broken", result
    assert "garbage reply" in (result.error or "")
    assert "busy" not in (result.error or "") and "another client" not in (result.error or "")
    assert punch_count(engine) == 0


@TRANSPORTS
def test_a_device_left_disabled_is_re_enabled_first_and_shown_by_status(
    engine: Engine, hostile: Callable[..., HostileZK], udp: bool
) -> None:
    sim = hostile(udp=udp)
    # What a collection killed while it held the device leaves behind.
    with engine.begin() as conn:
        device_id = store.upsert_device(conn, name="gate-1", driver="zk", address="x")
        store.set_disabled(conn, device_id, datetime(2026, 3, 1, 7, 0))
    sim.enabled = False
    with engine.connect() as conn:
        (finding,) = device_findings(conn, {"gate-1"}, datetime(2026, 3, 1, 8, 0))
    assert "left disabled by an interrupted run since 2026-03-01 07:00 UTC" in finding
    sim.commands.clear()
    result = collect_device(engine, device(sim))
    assert result.ok and sim.enabled
    commands = list(sim.commands)
    assert commands.index(p.CMD_ENABLEDEVICE) < commands.index(p.CMD_DISABLEDEVICE)
    assert disabled_at(engine) is None
    with engine.connect() as conn:
        assert device_findings(conn, {"gate-1"}, datetime(2026, 3, 1, 8, 0)) == []


def test_a_killed_collection_is_repaired_by_the_next_run(
    db_url: str, engine: Engine, hostile: Callable[..., HostileZK], tmp_path: Path
) -> None:
    sim = hostile("drip", drip_every=0.5)
    env = cli_env(tmp_path, db_url, sim, max_run_seconds=120)
    proc = subprocess.Popen(
        [sys.executable, "-m", "punchd", "collect"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        limit = time.monotonic() + 60
        while (sim.enabled or disabled_at(engine) is None) and time.monotonic() < limit:
            assert proc.poll() is None, "collect ended before it held the device"
            time.sleep(0.1)
        assert not sim.enabled and disabled_at(engine) is not None
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert not sim.enabled, "killed while holding the device: it stays disabled"
    status = punchd("status", env=env, timeout=60)
    assert "gate-1: left disabled by an interrupted run" in status.stdout, status.stdout
    sim.attack = None
    again = punchd("collect", env=env, timeout=120)
    assert again.returncode == 0, again.stdout + again.stderr
    assert sim.enabled and disabled_at(engine) is None
    events = [json.loads(x) for x in again.stderr.splitlines() if x.startswith("{")]
    assert any(e["event"].startswith("re-enabled the device") for e in events), events
    status = punchd("status", env=env, timeout=60)
    assert "left disabled" not in status.stdout
