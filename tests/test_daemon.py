"""The daemon as a real subprocess against simulators and a real database, under faults."""

from __future__ import annotations

import os
import random
import re
import signal
import statistics
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from punchd.drivers.zk import protocol as p
from punchd.drivers.zk.simulator import ZKSimulator, generate
from punchd.storage import schema

from .cli_helpers import punchd
from .helpers.daemon import (
    PUNCHES,
    STARTUP_S,
    USERS,
    DaemonProcess,
    Daemons,
    cli_env,
    daemon_table,
    extra_punches,
    logged_at,
    runs,
    stored,
    wait_until,
    zk,
)
from .tcp_proxy import TcpProxy


@pytest.fixture
def run_daemon(tmp_path: Path, db_url: str, engine) -> Iterator[Callable[..., DaemonProcess]]:
    # ``engine`` has upgraded the schema, so the test can query before the daemon's first
    # commit.
    with Daemons(tmp_path, db_url) as daemons:
        yield daemons.running


# ------------------------------------------------------------------------------ lifecycle


def test_sigterm_mid_transfer_exits_cleanly(run_daemon, db_url: str) -> None:
    with ZKSimulator(port=0, users=USERS, punches=PUNCHES, faults=["slow:0.25"]) as sim:
        daemon = run_daemon(daemon_table(poll_every="1h", shutdown_timeout=10) + zk("gate", sim))
        wait_until(lambda: p.CMD_READ_BUFFER in list(sim.commands), 30, "a chunk read")
        t0 = time.monotonic()
        assert daemon.stop(signal.SIGTERM, timeout=15) == 0
        took = time.monotonic() - t0
        assert took < 10, f"shutdown took {took:.1f}s"
        wait_until(lambda: sim.enabled, 5, "the device re-enabled")
        assert sim.enable_count >= 1
    rows, distinct = stored(db_url)
    assert rows == distinct and rows in (0, len(PUNCHES))  # all or nothing, never partial
    events = [e["event"] for e in daemon.events()]
    assert "daemon stopping" in events and "daemon stopped" in events


def test_sighup_adds_a_device_and_refuses_a_broken_file(run_daemon, db_url: str, tmp_path) -> None:
    first_punches = PUNCHES[:300]
    second_punches = generate(users=20, punches=200, seed=9)[1]
    with (
        ZKSimulator(port=0, users=USERS, punches=first_punches) as a,
        ZKSimulator(port=0, users=USERS[:20], punches=second_punches) as b,
    ):
        daemon = run_daemon(daemon_table() + zk("a", a))
        wait_until(lambda: stored(db_url)[0] == 300, 20, "device a collected")
        config = tmp_path / "punchd.toml"
        config.write_text(daemon_table() + zk("a", a) + zk("b", b))
        daemon.proc.send_signal(signal.SIGHUP)
        daemon.wait_event("configuration reloaded", added=["b"])
        wait_until(lambda: stored(db_url)[0] == 500, 20, "device b collected")
        # a broken file is refused and the running configuration keeps working
        config.write_text("[[devices]\nname = ")
        daemon.proc.send_signal(signal.SIGHUP)
        refused = daemon.wait_event("configuration reload refused; keeping the running one")
        assert "not valid TOML" in refused["error"]
        a.add_punches(extra_punches(0, 7))
        wait_until(lambda: stored(db_url)[0] == 507, 20, "a still polled after the refusal")
        assert daemon.stop() == 0


# ------------------------------------------------------------------------ failing devices


def test_failing_devices_do_not_delay_the_others(run_daemon, db_url: str, tmp_path) -> None:
    small = PUNCHES[:2000]
    with (
        ZKSimulator(port=0, users=USERS, punches=PUNCHES[:500]) as healthy,
        ZKSimulator(port=0, users=USERS, punches=small, faults=["drop"]) as dropping,
        ZKSimulator(port=0, users=USERS, punches=small, faults=["slow:2"]) as slow,
        ZKSimulator(port=0, users=USERS, punches=small, faults=["busy"]) as busy,
    ):
        with ZKSimulator(port=0) as gone:
            pass
        # a vendor program holds the busy device for the whole test
        holder = __import__("socket").create_connection(("127.0.0.1", busy.port))
        holder.sendall(p.tcp_wrap(p.make_packet(p.CMD_CONNECT, 0, 0)))
        holder.recv(64)
        config = daemon_table(max_concurrent_polls=4) + zk("healthy", healthy)
        config += zk("dropping", dropping) + zk("slow", slow, timeout=0.5)
        config += zk("busy", busy) + zk("down", gone)  # stopped: its port refuses
        daemon = run_daemon(config)
        healthy.add_punches(extra_punches(0, 1))

        def polls(device: str) -> list[dict]:
            return [
                e
                for e in daemon.events()
                if e.get("event") == "collection" and e.get("device") == device
            ]

        failing = ("dropping", "slow", "busy", "down")
        # Watched until healthy has had several polls while each failing device failed
        # twice or more beside it (the second failure also means its first one's poll
        # state is recorded, which status reads). Finished polls only: a poll is logged
        # once its run row is closed.
        wait_until(
            lambda: (
                len(polls("healthy")) >= 6
                and all(sum(e["status"] == "failed" for e in polls(n)) >= 2 for n in failing)
            ),
            90,
            "healthy polls beside the failing devices' failures",
        )
        healthy_polls = polls("healthy")
        assert all(e["status"] == "ok" for e in healthy_polls), healthy_polls
        # Not delayed: each poll starts within a scheduled second or two of the previous
        # one's end (its slot never waited for by the failing devices' timeouts, backoffs or
        # held slots, which would open gaps of several seconds). Measured between polls,
        # not from the start of the daemon: a loaded machine starts it and runs each poll
        # slower, but does not make it wait.
        ends = [logged_at(e) for e in healthy_polls]
        starts = [ends[k] - timedelta(seconds=e["duration_s"]) for k, e in enumerate(healthy_polls)]
        gaps = [(starts[k + 1] - ends[k]).total_seconds() for k in range(len(ends) - 1)]
        print(f"\nhealthy device beside four failing ones: gaps between polls {gaps}")
        assert max(gaps) <= 3.0 and statistics.median(gaps) <= 1.5, gaps
        skipped = [
            e
            for e in daemon.events()
            if e.get("event") == "poll skipped: every poll slot is busy"
            and e.get("device") == "healthy"
        ]
        assert skipped == []
        # The database says the same: a run still in progress says "running".
        finished = [r for r in runs(db_url) if r["status"] != "running"]
        assert all(r["status"] == "ok" for r in finished if r["name"] == "healthy")
        assert sum(r["name"] == "healthy" for r in finished) >= len(healthy_polls)
        kinds = {r["name"]: r["error_kind"] for r in finished if r["status"] == "failed"}
        assert kinds == {
            "dropping": "transfer_broken",
            "slow": "timeout",
            "busy": "busy",
            "down": "unreachable",
        }
        env = cli_env(tmp_path, db_url, COLUMNS="250")
        status = punchd("status", env=env, timeout=60)
        assert status.returncode == 1, status.stdout + status.stderr
        assert re.search(r"daemon #\d+: alive on", status.stdout), status.stdout
        for name in ("dropping", "slow", "busy", "down"):
            assert re.search(rf"{name}: \d+ failed polls in a row", status.stdout), name
        assert "healthy:" not in status.stdout.split("needs attention:")[1]
        holder.close()
        assert daemon.stop() == 0
    events = daemon.events()
    stopping = [e.get("event") for e in events].index("daemon stopping")
    failed = [
        (i, e)
        for i, e in enumerate(events)
        if e.get("event") == "collection" and e.get("status") == "failed"
    ]
    # A poll under way at the stop (healthy's too, on a slow machine) is cancelled: that is
    # the stop, not the device, and it comes only after it.
    assert all(i > stopping for i, e in failed if e["error_kind"] == "cancelled"), failed
    logged = {e["device"] for _, e in failed if e["error_kind"] != "cancelled"}
    assert logged == {"dropping", "slow", "busy", "down"}


def test_manual_collect_beside_the_daemon(run_daemon, db_url: str, tmp_path) -> None:
    # "busy": a second client at the same time would be refused by the device, so any
    # interleaving shows up as a busy failure.
    with ZKSimulator(
        port=0, users=USERS, punches=PUNCHES[:8000], faults=["busy", "slow:0.05"]
    ) as sim:
        config = daemon_table(poll_every="1s") + zk("gate", sim)
        daemon = run_daemon(config)
        wait_until(
            lambda: any(r["trigger"] == "schedule" for r in runs(db_url)), 30, "a first poll"
        )
        env = cli_env(tmp_path, db_url, COLUMNS="200")
        for i in range(3):
            sim.add_punches(extra_punches(i * 10, 5))
            manual = punchd("collect", "--wait", "30", env=env, timeout=90)
            assert manual.returncode == 0, manual.stdout + manual.stderr
            assert re.search(r"gate\s+│\s+ok", manual.stdout)
        # Counted before the stop: a poll the stop cancels re-enables the device over a fresh
        # session, which the simulator may refuse once while it notices the old one closed.
        rejected = sim.busy_rejections
        assert daemon.stop() == 0
        assert rejected == 0, "two collectors talked to the device at once"
    rows, distinct = stored(db_url)
    assert rows == distinct == 8000 + 15
    triggers = {r["trigger"] for r in runs(db_url)}
    assert triggers == {"manual", "schedule"}
    # A poll running when the daemon is stopped is abandoned cleanly ("cancelled"); with a
    # 1 s schedule that can happen. Nothing else may fail.
    failed = [(r["error_kind"], r["error"]) for r in runs(db_url) if r["status"] != "ok"]
    assert [f for f in failed if f[0] != "cancelled"] == []


# --------------------------------------------------------------------------- durability


def test_database_outage_spools_and_drains(run_daemon, db_url: str, tmp_path) -> None:
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        pytest.skip("the outage is simulated by cutting a TCP proxy in front of a server")
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    try:
        with ZKSimulator(port=0, users=USERS, punches=PUNCHES[:1000]) as sim:
            daemon = run_daemon(daemon_table() + zk("gate", sim), url=proxied)
            wait_until(lambda: stored(db_url)[0] == 1000, 30, "first collection")
            proxy.cut()
            added = 0
            for i in range(4):
                sim.add_punches(extra_punches(i * 100, 25))
                added += 25
                time.sleep(1.0)
            daemon.wait_event("collection spooled", timeout=20)
            spool = tmp_path / "data" / "spool"
            assert any(spool.glob("*.jsonl")), "nothing was spooled during the outage"
            restored = time.monotonic()
            proxy.restore()
            wait_until(lambda: not any(spool.glob("*.jsonl")), 60, "the spool to drain")
            wait_until(lambda: stored(db_url)[0] == 1000 + added, 60, "every punch stored")
            recovery = time.monotonic() - restored
            assert daemon.stop() == 0
        rows, distinct = stored(db_url)
        assert rows == distinct == 1000 + added
        print(f"\nrecovery after the database returned: {recovery:.1f}s")
    finally:
        proxy.close()


@pytest.mark.slow
def test_sigkill_trials_lose_and_duplicate_nothing(run_daemon, db_url: str) -> None:
    if make_url(db_url).get_backend_name() != "sqlite":
        pytest.skip("run once, on SQLite (the daemon's default database)")
    rng = random.Random(2026)
    trials, added, mid_session = 10, 0, 0
    with ZKSimulator(port=0, users=USERS, punches=PUNCHES, faults=["slow:0.03"]) as sim:
        config = daemon_table(poll_every="1s") + zk("gate", sim, clear_after_collect=True)
        for trial in range(trials):
            seen = len(sim.commands)
            daemon = run_daemon(config)
            # Kill inside a collection: after the users' (1st) or the attendance's (2nd)
            # bulk-read request, plus a random delay — mid-transfer, mid-commit or mid-clear.
            nth = rng.choice([1, 2, 2])
            wait_until(
                lambda seen=seen, nth=nth: (
                    list(sim.commands)[seen:].count(p.CMD_PREPARE_BUFFER) >= nth
                ),
                30,
                "a bulk read",
            )
            # Short delays land inside the transfer, long ones after commit or clear.
            time.sleep(rng.uniform(0.0, 0.6) if trial % 2 else rng.uniform(0.0, 3.0))
            assert daemon.stop(signal.SIGKILL) == -signal.SIGKILL
            tail = list(sim.commands)[seen:]
            last_connect = len(tail) - 1 - tail[::-1].index(p.CMD_CONNECT)
            mid_session += p.CMD_EXIT not in tail[last_connect:]  # killed inside a session
            new = extra_punches(trial * 50, 50)
            sim.add_punches(new)
            added += len(new)
        # Last, a clean run until the device is drained and cleared.
        daemon = run_daemon(config)
        wait_until(lambda: stored(db_url)[0] == len(PUNCHES) + added, 60, "everything stored")
        assert daemon.stop() == 0
        clears = sim.clear_count
    rows, distinct = stored(db_url)
    assert rows == distinct == len(PUNCHES) + added  # nothing lost, nothing twice
    assert clears >= 1
    assert mid_session >= trials // 4, f"only {mid_session} kills landed inside a session"
    print(
        f"\n{trials} SIGKILL trials ({mid_session} inside a device session): {rows} punches "
        f"stored once each, 0 lost, 0 duplicates, device cleared {clears} times"
    )


# ------------------------------------------------------------------- clock, lease, notify


def test_daily_clock_check_corrects_drift_beyond_the_threshold(engine, tmp_path) -> None:
    from punchd.collector.daemon import Daemon
    from punchd.config import load_settings

    with (
        ZKSimulator(
            port=0, users=USERS[:3], punches=PUNCHES[:10], clock_offset=timedelta(seconds=-300)
        ) as off,
        ZKSimulator(
            port=0, users=USERS[:3], punches=PUNCHES[:10], clock_offset=timedelta(seconds=20)
        ) as near,
    ):
        config = tmp_path / "punchd.toml"
        config.write_text(f'data_dir = "{tmp_path / "data"}"\n' + zk("off", off) + zk("near", near))
        daemon = Daemon(load_settings(config), engine)
        assert -302 <= daemon.check_clock(daemon.settings.device("off")) <= -298
        assert 18 <= daemon.check_clock(daemon.settings.device("near")) <= 22
        assert abs((off.device_time() - datetime.now()).total_seconds()) < 3  # corrected
        assert 18 <= (near.device_time() - datetime.now()).total_seconds() <= 22  # left alone
    with engine.connect() as conn:
        drift = dict(
            conn.execute(
                select(schema.att_device.c.name, schema.att_device.c.clock_drift_seconds)
            ).all()
        )
    assert abs(drift["off"]) <= 2 and 18 <= drift["near"] <= 22


def test_manual_collect_waits_then_reports_who_holds_the_device(
    engine, db_url: str, tmp_path
) -> None:
    from punchd.collector.lease import database_lease
    from punchd.storage import collection as store

    with ZKSimulator(port=0, users=USERS[:3], punches=PUNCHES[:10]) as sim:
        config = tmp_path / "punchd.toml"
        config.write_text(zk("gate", sim))
        with engine.begin() as conn:
            device_id = store.upsert_device(conn, name="gate", driver="zk", address="x")
        env = cli_env(tmp_path, db_url, COLUMNS="300")
        with database_lease(engine, device_id, "gate", purpose="schedule"):
            t0 = time.monotonic()
            result = punchd("collect", "--wait", "2", env=env, timeout=60)
            waited = time.monotonic() - t0
        assert result.returncode == 1
        assert "gate: waiting, busy (held by" in result.stderr
        assert "[leased] gate: busy: another collector is using it (held by" in result.stderr
        assert "(schedule)" in result.stderr and waited >= 2
        again = punchd("collect", "--wait", "2", env=env, timeout=60)
        assert again.returncode == 0, again.stderr  # released: collected
    assert stored(db_url)[0] == 10


def test_sd_notify_ready_status_watchdog(run_daemon, db_url: str, tmp_path) -> None:
    import socket as sockets

    if make_url(db_url).get_backend_name() != "sqlite":
        pytest.skip("once is enough")
    path = tmp_path / "notify.sock"
    listener = sockets.socket(sockets.AF_UNIX, sockets.SOCK_DGRAM)
    listener.bind(str(path))
    listener.settimeout(STARTUP_S)
    os.environ["NOTIFY_SOCKET"] = str(path)
    try:
        with ZKSimulator(port=0, users=USERS[:3], punches=PUNCHES[:10]) as sim:
            daemon = run_daemon(daemon_table() + zk("gate", sim))
            messages: list[str] = []
            while not {"READY=1", "WATCHDOG=1"} <= set(messages) or not any(
                m.startswith("STATUS=") for m in messages
            ):
                messages.append(listener.recv(4096).decode())
            assert daemon.stop() == 0
            while "STOPPING=1" not in messages:
                messages.append(listener.recv(4096).decode())
    finally:
        del os.environ["NOTIFY_SOCKET"]
        listener.close()
    assert any(m.startswith("STATUS=1 devices") for m in messages), messages
