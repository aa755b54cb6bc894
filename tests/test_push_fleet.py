"""Acceptance of the push receiver (issue 12) with simulated clocks over real HTTP on loopback:

* a fleet of 20 clocks x 5,000 punches, every fault mode of the simulator spread over them,
  into the in-process receiver on every database: each punch stored exactly once, at the
  clock's own wall-clock time (Asia/Shanghai), power-loss punches flagged;
* ``punchd run`` SIGKILLed 20 times while 3 clocks upload 3,000 punches each: none lost, none
  twice;
* the database link of ``punchd run`` cut (a TCP proxy) while 20 clocks upload 2,000 punches
  each, and restored: none lost, none twice (PostgreSQL and MariaDB);
* a ``DATA DELETE USERINFO`` queued with the real CLI, delivered by the daemon, confirmed; an
  unknown serial refused and listed pending.

``PUNCHD_TEST_FLEET=small`` shrinks the sizes (2 clocks x 50 punches, 3 kills, 4 clocks x 400
punches through the cut) for a busy machine.
"""

from __future__ import annotations

import os
import random
import re
import signal
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine, make_url

from punchd.collector.push.service import queue_command
from punchd.drivers.adms.driver import ADMSConfig
from punchd.drivers.adms.simulator import PushClock, PushFleet, generate
from punchd.storage import push as push_store
from punchd.storage import schema

from .cli_helpers import punchd
from .helpers.daemon import (
    DaemonProcess,
    Daemons,
    Receivers,
    RunningReceiver,
    cli_env,
    daemon_table,
    free_port,
    stored,
    wait_until,
)
from .tcp_proxy import TcpProxy

SMALL = os.environ.get("PUNCHD_TEST_FLEET") == "small"
#: the fleet test: clocks x punches each
CLOCKS, PUNCHES = (2, 50) if SMALL else (20, 5_000)
#: the SIGKILL test: clocks x punches each, kills
KILL_CLOCKS, KILL_PUNCHES, KILLS = (2, 50, 3) if SMALL else (3, 3_000, 20)
#: the database cut: clocks x punches each
CUT_CLOCKS, CUT_PUNCHES = (4, 400) if SMALL else (20, 2_000)
#: the receiver's clock (naive UTC); the generated punches are from 2024
NOW = datetime(2026, 3, 10, 2, 0, 0)
ZONE = "Asia/Shanghai"  # UTC+8 all year: local - 8 h = UTC
#: every fault mode of the simulator, dealt out over the clocks in turn
FAULT_GROUPS = [
    ["lost-ack:3", "fields:5"],
    ["power-loss:50", "state-255", "fields:12"],
    ["gb2312", "batched-results", "bare-ok-resend"],
    ["lost-ack:2", "power-loss:97", "fields:7"],
    ["state-255", "gb2312", "fields:5", "batched-results"],
]


def clock_config(serial: str) -> ADMSConfig:
    return ADMSConfig(name=serial.lower(), serial=serial, timezone=ZONE)


@pytest.fixture
def receiver(engine: Engine, tmp_path: Path) -> Iterator[Callable[..., RunningReceiver]]:
    """The receiver in this process (uvicorn in a thread) on a real loopback port."""
    with Receivers(engine, tmp_path, now=lambda: NOW) as receivers:
        yield receivers.start


def stored_by_device(engine: Engine) -> dict[str, list[dict]]:
    t, d = schema.att_punch, schema.att_device
    rows: dict[str, list[dict]] = defaultdict(list)
    query = select(d.c.name, t.c.enroll_no, t.c.punched_at, t.c.punched_at_utc, t.c.state, t.c.flag)
    with engine.connect() as conn:
        for r in conn.execute(query.join(d, d.c.id == t.c.device_id)).mappings():
            rows[r["name"]].append(dict(r))
    return rows


# --------------------------------------------------------------------------- the fleet


def test_fleet_with_every_fault_stored_exactly_once(receiver, engine: Engine) -> None:
    serials = [f"PSIM{i:04d}" for i in range(1, CLOCKS + 1)]
    running = receiver(*map(clock_config, serials), delay=5, error_delay=1)
    # A command for every clock (INFO and a user update): batched-results clocks post both
    # results in one devicecmd request.
    service_devices = {s: clock_config(s) for s in serials}
    for device in service_devices.values():
        queue_command(engine, device, "INFO", created_by="test", now=NOW)
        queue_command(
            engine, device, "DATA UPDATE USERINFO PIN=900\tName=Temp", created_by="test", now=NOW
        )
    started = time.monotonic()
    with PushFleet(
        f"http://127.0.0.1:{running.port}",
        CLOCKS,
        punches=PUNCHES,
        groups=FAULT_GROUPS,
        seed=12,
        speed=20,  # ErrorDelay 1 s -> 50 ms; Delay 5 s -> a poll every 250 ms
        timeout=30,
    ) as fleet:
        assert fleet.wait_caught_up(900), [
            (c.serial, c.cursor, len(c.punches)) for c in fleet.clocks if not c.caught_up()
        ]
        wait_until(
            lambda: all(len(c.results) >= 2 for c in fleet.clocks), 30, "the command results"
        )
    elapsed = time.monotonic() - started
    clocks = {c.serial.lower(): c for c in fleet.clocks}

    rows = stored_by_device(engine)
    total = sum(len(r) for r in rows.values())
    assert total == CLOCKS * PUNCHES, f"{total} stored in {elapsed:.1f}s"
    for name, clock in clocks.items():
        mine = rows[name]
        keys = {(r["enroll_no"], r["punched_at"]) for r in mine}
        assert len(keys) == len(mine) == PUNCHES, name  # no duplicates
        # exactly the clock's records, at its own wall-clock time
        assert keys == {(p.pin, p.when) for p in clock.punches}, name
        lost_time = {(p.pin, p.when) for p in clock.punches if p.when.year == 2000}
        assert {(r["enroll_no"], r["punched_at"]) for r in mine if r["flag"]} == lost_time, name
        assert {r["flag"] for r in mine if r["flag"]} <= {"power_loss"}
        for r in mine:
            if not r["flag"]:
                assert r["punched_at_utc"] == r["punched_at"] - timedelta(hours=8), r
        if "state-255" in clock.faults:
            assert {r["state"] for r in mine} == {"unknown"}, name
        else:
            assert {r["state"] for r in mine} == {"in", "out"}, name
        # the faults happened (given uploads enough)
        if "lost-ack" in clock.faults and PUNCHES > 3 * 128:
            assert clock.counters.lost_acks > 0 and clock.counters.resent > 0, name
        if "power-loss" in clock.faults and PUNCHES >= 100:
            assert lost_time, name

    with engine.connect() as conn:
        devices = dict(conn.execute(select(schema.att_device.c.name, schema.att_device.c.id)).all())
        users = defaultdict(dict)
        t = schema.att_device_user
        for device_id, pin, user_name in conn.execute(
            select(t.c.device_id, t.c.enroll_no, t.c.name)
        ):
            users[device_id][pin] = user_name
        for name, clock in clocks.items():
            commands = push_store.device_commands(conn, devices[name])
            assert [c["return_code"] for c in commands] == [0, 0], (name, commands)
            assert clock.users["900"].name == "Temp"
            # the OPERLOG users, GB18030-encoded on the gb2312 clocks, stored readable; the
            # user the command wrote too (its result, and the clock's report of it)
            sent = {u.pin: u.name for u in clock.users.values()}
            assert users[devices[name]] == sent, name
            if "gb2312" in clock.faults:
                assert "张伟" in sent.values()
    print(f"\n{CLOCKS} clocks x {PUNCHES} punches stored in {elapsed:.1f}s")


# --------------------------------------------------------------------------- the daemon


def push_daemon_config(port: int, serials: list[str]) -> str:
    return (
        daemon_table(poll_every="1s", shutdown_timeout=5)
        + f'[push]\nlisten = "127.0.0.1:{port}"\ndelay = 1\nerror_delay = 1\n'
        + "reconcile_days = 0\n"
        + "".join(
            f'[[devices]]\nname = "{s.lower()}"\ndriver = "adms"\nserial = "{s}"\n'
            f'timezone = "{ZONE}"\n'
            for s in serials
        )
    )


@pytest.fixture
def daemons(tmp_path: Path, db_url: str, engine: Engine) -> Iterator[Callable[..., DaemonProcess]]:
    """``start()``: a ``punchd run`` subprocess on this test's config and database."""
    with Daemons(tmp_path, db_url) as started:
        yield started.start


def test_daemon_sigkilled_during_uploads_loses_and_doubles_nothing(
    daemons, db_url: str, tmp_path: Path
) -> None:
    if db_url.startswith("mysql"):
        pytest.skip("SQLite and PostgreSQL (the MariaDB path is the same transaction)")
    port = free_port()
    serials = [f"KILL{i:04d}" for i in range(1, KILL_CLOCKS + 1)]
    (tmp_path / "punchd.toml").write_text(push_daemon_config(port, serials), encoding="utf-8")
    rng = random.Random(1212)
    # Every other reply lost (lost-ack:2, the clock waits ErrorDelay/speed = 0.2 s and sends
    # the batch again) paces the uploads over several seconds of the daemon's uptime, so each
    # kill, at a random moment after the round's first acknowledgement, falls mid-upload.
    fleet = PushFleet(
        f"http://127.0.0.1:{port}",
        KILL_CLOCKS,
        punches=KILL_PUNCHES,
        faults=["lost-ack:2"],
        prefix="KILL",
        seed=5,
        speed=5,
        timeout=10,
    )
    kills_mid_upload = 0
    seen_counts = []
    started = time.monotonic()
    try:
        for k in range(KILLS):
            daemon = daemons()
            daemon.wait_event("push receiver listening", timeout=60)
            acked = sum(c.counters.acked for c in fleet.clocks)
            if k == 0:
                fleet.start()
            if not all(c.caught_up() for c in fleet.clocks):
                wait_until(
                    lambda acked=acked: sum(c.counters.acked for c in fleet.clocks) > acked,
                    60,
                    "an upload to the restarted daemon",
                )
            time.sleep(rng.uniform(0.0, 0.3))
            behind = not all(c.caught_up() for c in fleet.clocks)
            daemon.proc.send_signal(signal.SIGKILL)
            daemon.proc.wait(10)
            kills_mid_upload += behind
            seen_counts.append(stored(db_url)[0])
        final = daemons()  # restarted on the same port; the clocks retry until it is up
        final.wait_event("push receiver listening", timeout=60)
        assert fleet.wait_caught_up(300), [
            (c.serial, c.cursor, len(c.punches)) for c in fleet.clocks
        ]
        rows, distinct = stored(db_url)
        assert final.stop(signal.SIGTERM, timeout=30) == 0
    finally:
        fleet.stop()
    total = KILL_CLOCKS * KILL_PUNCHES
    assert (rows, distinct) == (total, total), seen_counts
    assert sum(len(c.punches) for c in fleet.clocks) == total
    # the kills fell during uploads: clocks were behind, and rows arrived between kills
    if not SMALL:
        assert kills_mid_upload >= KILLS // 2, (kills_mid_upload, seen_counts)
        assert len(set(seen_counts)) > KILLS // 2
    print(
        f"\n{KILLS} SIGKILLs ({kills_mid_upload} mid-upload), {rows} stored, "
        f"{time.monotonic() - started:.1f}s; after each kill: {seen_counts}"
    )


def test_database_cut_mid_upload_for_a_whole_fleet(daemons, db_url: str, tmp_path: Path) -> None:
    """The daemon's database link is cut while the fleet uploads, and restored: uploads
    during the cut are spooled (fsync'd) and acknowledged, the spool drains once the
    database is back, and every punch is stored once."""
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        pytest.skip("the outage is simulated by cutting a TCP proxy in front of a server")
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    port = free_port()
    serials = [f"CUT{i:04d}" for i in range(1, CUT_CLOCKS + 1)]
    (tmp_path / "punchd.toml").write_text(push_daemon_config(port, serials), encoding="utf-8")
    fleet = PushFleet(
        f"http://127.0.0.1:{port}", CUT_CLOCKS, punches=0, prefix="CUT", speed=5, timeout=10
    )
    # The clocks hold 40 % of their punches at the start and punch the rest while the link
    # is cut and after it is back, in 40 steps 0.1 s apart.
    records = {
        c.serial: generate(20, CUT_PUNCHES, seed=300 + i)[1] for i, c in enumerate(fleet.clocks)
    }
    backlog = CUT_PUNCHES * 2 // 5
    step = -(-(CUT_PUNCHES - backlog) // 40)
    for clock in fleet.clocks:
        clock.add_punches(records[clock.serial][:backlog])
    stop_feeding = threading.Event()

    def feed() -> None:
        for at in range(backlog, CUT_PUNCHES, step):
            if stop_feeding.wait(0.1):
                return
            for clock in fleet.clocks:
                clock.add_punches(records[clock.serial][at : at + step])

    feeder = threading.Thread(target=feed, daemon=True)
    total = CUT_CLOCKS * CUT_PUNCHES

    def acked() -> int:
        return sum(c.counters.acked for c in fleet.clocks)

    try:
        daemon = daemons(url=proxied)
        daemon.wait_event("push receiver listening", timeout=60)
        fleet.start()
        feeder.start()
        wait_until(lambda: acked() >= total // 10, 60, "uploads stored before the cut")
        proxy.cut()
        at_cut = acked()
        behind = [c.serial for c in fleet.clocks if not c.caught_up()]
        # Uploads go on without the database: spooled, then acknowledged.
        daemon.wait_event("push upload spooled: database unreachable", timeout=30)
        wait_until(lambda: acked() >= at_cut + CUT_CLOCKS * 64, 30, "uploads during the cut")
        during_cut = acked() - at_cut
        proxy.restore()
        feeder.join(60)
        assert fleet.wait_caught_up(300), [
            (c.serial, c.cursor, len(c.punches)) for c in fleet.clocks if not c.caught_up()
        ]
        spool = tmp_path / "data" / "spool"
        wait_until(lambda: not any(spool.glob("*.jsonl")), 60, "the spool to drain")
        wait_until(lambda: stored(db_url)[0] >= total, 60, "every punch stored")
        rows, distinct = stored(db_url)
        assert daemon.stop(signal.SIGTERM, timeout=30) == 0
    finally:
        stop_feeding.set()
        fleet.stop()
        proxy.close()
    assert (rows, distinct) == (total, total)
    assert sum(len(c.punches) for c in fleet.clocks) == total
    assert behind, "the cut fell after every upload"
    events = daemon.events()
    spooled = [e for e in events if e.get("event") == "push upload spooled: database unreachable"]
    flushed = [e for e in events if e.get("event") == "spool flushed"]
    # both paths taken: uploads spooled during the cut, the spool stored after it (the rows
    # are counted above: a log line is no ledger, stdout and stderr share the file)
    assert sum(e["spooled"] for e in spooled) > 0 and sum(e["records"] for e in flushed) > 0
    print(
        f"\n{CUT_CLOCKS} clocks x {CUT_PUNCHES}: {at_cut} acknowledged before the cut, "
        f"{during_cut} during it ({len(spooled)} uploads spooled), {rows} stored once"
    )


def test_command_delivered_by_the_daemon_and_unknown_serial_pending(
    daemons, db_url: str, tmp_path: Path
) -> None:
    port = free_port()
    (tmp_path / "punchd.toml").write_text(push_daemon_config(port, ["GATE0001"]), "utf-8")
    env = cli_env(tmp_path, db_url, COLUMNS="250", NO_COLOR="1")
    daemon = daemons()
    daemon.wait_event("push receiver listening", timeout=60)
    users, records = generate(5, 20, seed=3)
    server = f"http://127.0.0.1:{port}"
    gate = PushClock(server, "GATE0001", users=users, punches=records, speed=10)
    rogue = PushClock(server, "ROGUE0001", users=users, punches=records, speed=10)
    stop = threading.Event()
    threads = [threading.Thread(target=c.run, args=(stop,), daemon=True) for c in (gate, rogue)]
    for t in threads:
        t.start()
    try:
        wait_until(lambda: gate.caught_up() and gate.counters.polls > 0, 30, "the gate's upload")
        assert "3" in gate.users
        queued = punchd("devices", "command", "gate0001", "DATA DELETE USERINFO PIN=3", env=env)
        assert queued.returncode == 0, queued.stderr
        match = re.search(r"queued command (\w+): DATA DELETE USERINFO PIN=3", queued.stdout)
        assert match, queued.stdout
        ident = match.group(1)
        wait_until(lambda: f"ID={ident}&Return=0&CMD=DATA" in gate.results, 30, "the result")
        assert "3" not in gate.users and "4" in gate.users

        def confirmed() -> bool:
            listed = punchd("devices", "commands", "gate0001", env=env)
            return listed.returncode == 0 and any(
                re.search(rf"│\s+{ident}\s+│\s+DATA DELETE USERINFO PIN=3\s+│.*│\s+0 \(ok\)\s+│", r)
                for r in listed.stdout.splitlines()
            )

        wait_until(confirmed, 30, "punchd devices commands to show return code 0")
        assert rogue.counters.refused >= 1 and rogue.counters.uploads == 0
        devices = punchd("devices", env=env)
        assert devices.returncode == 0, devices.stderr
        assert "Pending push clocks" in devices.stdout
        assert re.search(r"ROGUE0001\s+│.*│\s+127\.0\.0\.1\s+│\s+\d+", devices.stdout), (
            devices.stdout
        )
    finally:
        stop.set()
        for c in (gate, rogue):
            c._wake.set()
        for t in threads:
            t.join(5)
    assert stored(db_url) == (20, 20)
    assert daemon.stop(signal.SIGTERM, timeout=30) == 0
