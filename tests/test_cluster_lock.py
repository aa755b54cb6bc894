"""The device lock the database server holds (PostgreSQL advisory lock, MariaDB GET_LOCK):
one holder, lost with its connection, fenced before anything that changes the device."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.engine import Engine

from punchd.clock import utcnow
from punchd.collector import lease
from punchd.collector.collect import collect_device
from punchd.collector.errors import DeviceLeased, LeaseLost
from punchd.config import load_settings
from punchd.drivers.zk import protocol as p
from punchd.drivers.zk.simulator import ZKSimulator, generate
from punchd.storage import cluster, schema
from punchd.storage import collection as store

USERS, PUNCHES = generate(users=5, punches=40, seed=18)


@pytest.fixture
def server(engine: Engine) -> Engine:
    if not cluster.server_locks(engine):
        pytest.skip("server locks: PostgreSQL and MariaDB only (SQLite: the file lock)")
    return engine


@pytest.fixture
def quick_locks() -> Iterator[None]:
    """A lock connection pinged every 0.2 s, ended by the server after 1 s of silence."""
    before = lease.lock_idle_timeout, lease.lock_ping_every
    lease.lock_idle_timeout, lease.lock_ping_every = 1.0, 0.2
    yield
    lease.lock_idle_timeout, lease.lock_ping_every = before


def _device(engine: Engine, name: str = "gate") -> int:
    with engine.begin() as conn:
        return store.upsert_device(conn, name=name, driver="zk", address="x")


def _kill_holder(engine: Engine, device_id: int) -> None:
    """End the server session holding the device's lock, as a dead link or a DBA would."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            pid = conn.execute(
                text(
                    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = :ns "
                    "AND objid = :id AND objsubid = 2 AND granted"
                ),
                {"ns": cluster.PG_NAMESPACE, "id": device_id},
            ).scalar_one()
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        else:
            name = cluster._mysql_name(engine.url.database, device_id)
            cid = conn.execute(text("SELECT IS_USED_LOCK(:n)"), {"n": name}).scalar_one()
            conn.execute(text(f"KILL {int(cid)}"))


def test_one_holder_at_a_time_and_the_server_says_who(server: Engine) -> None:
    device_id = _device(server)
    first = cluster.DeviceLock(server, device_id, idle_timeout=30)
    second = cluster.DeviceLock(server, device_id, idle_timeout=30)
    try:
        assert first.try_take()
        assert not second.try_take()
        assert first.held() and not second.held()
        assert cluster.holder_of(server, [device_id, device_id + 1]) == {
            device_id: True,
            device_id + 1: False,
        }
        first.close()  # the connection ends: the server lets go (as its backend exits)
        deadline = time.monotonic() + 10
        while not second.try_take():
            assert time.monotonic() < deadline, "the lock outlived its connection"
            time.sleep(0.05)
        assert second.held()
    finally:
        first.close()
        second.close()


def test_a_silent_holder_loses_the_device_to_the_server_timeout(server: Engine) -> None:
    device_id = _device(server)
    stalled = cluster.DeviceLock(server, device_id, idle_timeout=1)
    other = cluster.DeviceLock(server, device_id, idle_timeout=30)
    try:
        assert stalled.try_take()
        assert not other.try_take()
        deadline = time.monotonic() + 10
        while not other.try_take():  # no ping: the server ends the stalled connection
            assert time.monotonic() < deadline, "the server never ended the silent holder"
            time.sleep(0.3)
        with pytest.raises(Exception):  # noqa: B017 - whatever the driver says: it is gone
            assert not stalled.held()
            raise RuntimeError("not held")
    finally:
        stalled.close()
        other.close()


def test_a_lost_connection_is_noticed_and_fenced(server: Engine, quick_locks) -> None:
    device_id = _device(server)
    with lease.database_lease(server, device_id, "gate", purpose="schedule") as hold:
        hold.fence()  # held: no error
        with (
            pytest.raises(DeviceLeased, match=r"held by .*\(schedule\)"),
            lease.database_lease(server, device_id, "gate", purpose="manual"),
        ):
            pass
        _kill_holder(server, device_id)
        assert hold.lost.wait(5), "the keeper never noticed"
        with pytest.raises(LeaseLost):
            hold.fence()
        # the device is free for the next collector at once
        with lease.database_lease(server, device_id, "gate", purpose="manual", wait=10) as again:
            again.fence()


def test_holding_a_device_sweeps_its_runs_left_running(server: Engine) -> None:
    device_id = _device(server)
    with server.begin() as conn:
        run = store.start_run(conn, device_id, trigger="schedule", host="h", started_at=utcnow())
    r = schema.att_collection_run
    with (
        lease.database_lease(server, device_id, "gate", purpose="schedule"),
        server.connect() as conn,
    ):
        status, kind = conn.execute(select(r.c.status, r.c.error_kind).where(r.c.id == run)).one()
    assert (status, kind) == ("interrupted", "interrupted")


def test_no_clear_after_the_lock_is_lost(server: Engine, quick_locks, tmp_path) -> None:
    """The lock connection dies after the punches were read: the device is never cleared,
    and what was stored is all of it or nothing."""
    with ZKSimulator(port=0, users=USERS, punches=PUNCHES) as sim:
        settings = load_settings(
            None,
            data_dir=tmp_path,
            devices=[
                {
                    "name": "gate",
                    "driver": "zk",
                    "host": "127.0.0.1",
                    "port": sim.port,
                    "clear_after_collect": True,
                }
            ],
        )
        device = settings.devices[0]
        device_id = _device(server)
        with server.begin() as conn:  # the same row collect registers
            conn.execute(
                update(schema.att_device)
                .where(schema.att_device.c.id == device_id)
                .values(address=device.address())
            )

        def on_command(cmd: int) -> None:
            # Mid-transfer (the device answers nothing more until this returns): cut the
            # lock's link now. The run notices during the transfer (and stores nothing) or
            # at the fence after its commit (and clears nothing).
            if cmd == p.CMD_PREPARE_BUFFER:
                sim.on_command = None
                _kill_holder(server, device_id)

        sim.on_command = on_command
        result = collect_device(server, device, lock_dir=tmp_path / "locks")
        assert sim.clear_count == 0 and not result.cleared
        with server.connect() as conn:
            n = len(conn.execute(select(schema.att_punch.c.id)).all())
        if result.error_kind == "lease_lost":  # noticed before the commit: nothing stored
            assert n == 0
        else:  # noticed by the fence after the commit: all stored, nothing cleared
            assert result.status == "ok" and "lease was lost" in (result.clear_skipped or "")
            assert n == len(PUNCHES)
        # the next run holds the device and clears it
        again = collect_device(server, device, lock_dir=tmp_path / "locks")
        assert again.status == "ok" and again.cleared and sim.clear_count == 1


def test_a_stalled_collector_loses_the_device_and_changes_nothing(
    server: Engine, db_url: str, tmp_path
) -> None:
    """`punchd collect` frozen (SIGSTOP) mid-transfer for longer than the lock's idle timeout
    (10 s by default): the server ends its lock connection, another collector takes the
    device and clears it; continued, the frozen one stores nothing more and clears nothing."""
    import signal
    import subprocess
    import sys

    from .helpers.daemon import USERS as PEOPLE
    from .helpers.daemon import cli_env, extra_punches, zk

    punches = extra_punches(0, 200)
    with ZKSimulator(port=0, users=PEOPLE, punches=punches, tcp_idle_timeout=3.0) as sim:
        (tmp_path / "punchd.toml").write_text(zk("gate", sim, clear_after_collect=True))
        env = cli_env(tmp_path, db_url)
        frozen = subprocess.Popen(
            [sys.executable, "-m", "punchd", "collect"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

        def on_command(cmd: int) -> None:
            if cmd == p.CMD_PREPARE_BUFFER:  # mid-transfer: freeze the collector
                sim.on_command = None
                frozen.send_signal(signal.SIGSTOP)

        sim.on_command = on_command
        try:
            deadline = time.monotonic() + 30
            while sim.on_command is not None:
                assert time.monotonic() < deadline and frozen.poll() is None, "never froze"
                time.sleep(0.05)
            time.sleep(12)  # the device dropped it (3 s); the server ended its lock (10 s)
            # another host: its own data directory (the frozen one keeps its local lock)
            there = tmp_path / "other-host"
            there.mkdir()
            (there / "punchd.toml").write_text((tmp_path / "punchd.toml").read_text())
            other = subprocess.run(
                [sys.executable, "-m", "punchd", "collect"],
                env=cli_env(there, db_url),
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert other.returncode == 0, other.stdout + other.stderr
            assert sim.clear_count == 1
            later = extra_punches(300, 5)
            sim.add_punches(later)
        finally:
            frozen.send_signal(signal.SIGCONT)
        out, err = frozen.communicate(timeout=60)
        assert frozen.returncode != 0, out + err  # it lost the device
        assert sim.clear_count == 1 and sim.shared_clears == 0  # it cleared nothing
        assert sim.max_sessions == 1
        assert len(sim.punches) == 5  # the punches after the clear are still on the device
    with server.connect() as conn:
        t = schema.att_punch
        assert len(conn.execute(select(t.c.id)).all()) == 200


def test_daemons_registering_a_new_clock_at_once_agree_on_its_row(engine: Engine, tmp_path) -> None:
    """Daemons started together insert a new clock's row at the same moment: the losers'
    unique-key error (MariaDB: a deadlock) is "it exists now", not "database unreachable"
    (which sent a daemon on to the clock without its lock, beside the one holding it)."""
    import threading

    from punchd.collector.collect import registered

    settings = load_settings(
        None,
        data_dir=tmp_path,
        devices=[{"name": "gate-new", "driver": "zk", "host": "127.0.0.1", "port": 4370}],
    )
    device = settings.device("gate-new")
    rounds, threads = 5, 8
    for n in range(rounds):
        device = device.model_copy(update={"name": f"gate-new-{n}"})
        start = threading.Barrier(threads)
        ids: list[int] = []
        errors: list[BaseException] = []

        def register(device=device, start=start, ids=ids, errors=errors) -> None:
            start.wait()
            try:
                ids.append(registered(engine, device))
            except BaseException as exc:
                errors.append(exc)

        workers = [threading.Thread(target=register) for _ in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(30)
        assert errors == [] and len(ids) == threads and len(set(ids)) == 1, (errors, ids)
    with engine.connect() as conn:
        names = conn.execute(select(schema.att_device.c.name)).scalars().all()
    assert sorted(names) == [f"gate-new-{n}" for n in range(rounds)]
