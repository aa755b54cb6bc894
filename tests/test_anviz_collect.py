"""Anviz clocks collected into a real database (SQLite always; PostgreSQL / MariaDB when
configured), through the unchanged collector, over pty buses and TCP, with every fault mode."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from punchd.collector.collect import RunResult, collect_device
from punchd.drivers.anviz.codec import Record
from punchd.drivers.anviz.driver import AnvizConfig
from punchd.drivers.anviz.simulator import AnvizSimulator
from punchd.storage import schema


@pytest.fixture
def sims() -> Iterator[list[AnvizSimulator]]:
    started: list[AnvizSimulator] = []
    yield started
    for sim in started:
        sim.stop()


def on_pty(sims: list[AnvizSimulator], *args: Any, **kwargs: Any) -> tuple[AnvizSimulator, str]:
    """A bus on an ``os.openpty()`` pair: the simulator serves the master, the driver opens
    the slave's path. The slave stays open for the test (the simulator closes the master)."""
    sim = AnvizSimulator(*args, **kwargs)
    sims.append(sim)
    master, slave = os.openpty()
    sim.serve_fd(master)
    path = os.ttyname(slave)
    sim.test_slave = slave  # type: ignore[attr-defined]
    return sim, path


@pytest.fixture(autouse=True)
def _close_slaves(sims: list[AnvizSimulator]) -> Iterator[None]:
    yield
    for sim in sims:
        slave = getattr(sim, "test_slave", None)
        if slave is not None:
            os.close(slave)


def clock(name: str, device_id: int, **where: Any) -> AnvizConfig:
    return AnvizConfig(name=name, driver="anviz", device_id=device_id, timeout=0.2, **where)


def stored(engine: Engine, name: str | None = None) -> list[tuple]:
    p, d = schema.att_punch, schema.att_device
    query = select(p.c.enroll_no, p.c.punched_at, p.c.state, p.c.verify_mode, p.c.work_code).join(
        d, d.c.id == p.c.device_id
    )
    if name is not None:
        query = query.where(d.c.name == name)
    with engine.connect() as conn:
        return sorted(tuple(r) for r in conn.execute(query))


def expected(records: list[Record]) -> list[tuple]:
    states = {0: "in", 1: "out"}
    return sorted(
        (
            str(r.user_code),
            r.when,
            states.get(r.record_type & 0x0F, "unknown"),
            r.backup_code,
            str(r.work_type) if r.work_type else None,
        )
        for r in records
    )


def punch_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(schema.att_punch)).scalar_one()


def ok(result: RunResult) -> RunResult:
    assert result.ok, result.error
    return result


def test_two_ids_on_one_pty_bus_5000_each_exactly_once(engine: Engine, sims) -> None:
    sim, path = on_pty(sims, ids=[1, 2], punches=5_000, seed=11)
    devices = [clock("door-1", 1, port=path), clock("door-2", 2, port=path)]
    first = [ok(collect_device(engine, d)) for d in devices]
    assert [(r.records_read, r.records_new, r.cleared) for r in first] == [(5_000, 5_000, True)] * 2
    for i, d in ((1, devices[0]), (2, devices[1])):
        assert stored(engine, d.name) == expected(sim.device(i).records)
        assert sim.device(i).new == 0 and sim.device(i).clears == [(2, 5_000)]
        assert sim.device(i).delete_all == 0
    again = [ok(collect_device(engine, d)) for d in devices]
    assert [(r.records_read, r.records_new) for r in again] == [(0, 0)] * 2
    assert punch_count(engine) == 10_000
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                schema.att_device.c.name,
                schema.att_device.c.serial_number,
                schema.att_device.c.model,
                schema.att_device.c.firmware,
                schema.att_device.c.address,
            ).order_by(schema.att_device.c.name)
        ).all()
    assert [tuple(r) for r in rows] == [
        ("door-1", "ANVSIM000001", "TC-B SIM", "V2.15sim", f"serial://{path}#1"),
        ("door-2", "ANVSIM000002", "TC-B SIM", "V2.15sim", f"serial://{path}#2"),
    ]
    assert {i for i, _ in sim.bus_log} == {1, 2} and sim.bad_requests == 0


def test_over_tcp_with_drift_and_the_all_records_recovery(engine: Engine, sims) -> None:
    sim = AnvizSimulator(ids=[5], punches=1_500, seed=2)
    sims.append(sim)
    device = clock("gate", 5, host="127.0.0.1", tcp_port=sim.listen_tcp())
    first = ok(collect_device(engine, device))
    assert (first.records_read, first.records_new) == (1_500, 1_500)
    assert first.clock_drift_seconds is not None and abs(first.clock_drift_seconds) <= 2
    # Recovery: re-read everything; idempotent; only what was new gets unflagged.
    sim.add_punches(5, [Record(77, datetime(2030, 2, 3, 8, 0, 0))])
    late = [Record(78, datetime(2030, 2, 3, 8, 5, i)) for i in range(2)]

    def punch_during(device_id: int, command: int, data: bytes) -> None:
        if command == 0x40 and data[:1] == b"\x01":
            sim.add_punches(5, late)

    sim.on_request = punch_during
    recovery = ok(collect_device(engine, device, all_records=True))
    assert (recovery.records_read, recovery.records_new, recovery.cleared) == (1_501, 1, True)
    assert sim.device(5).clears[-1] == (2, 1) and sim.device(5).new == 2
    sim.on_request = None
    again = ok(collect_device(engine, device, all_records=True))
    assert (again.records_read, again.records_new) == (1_503, 2)
    assert stored(engine) == expected(sim.device(5).records)
    assert sim.device(5).new == 0 and sim.device(5).delete_all == 0


def test_punches_arriving_mid_download_come_next_run(engine: Engine, sims) -> None:
    sim, path = on_pty(sims, ids=[1], punches=2_000, faults=["arrive:4:10"])
    device = clock("door", 1, port=path)
    before = list(sim.device(1).records)
    first = ok(collect_device(engine, device))
    assert (first.records_new, first.cleared) == (2_000, True)
    assert stored(engine) == expected(before)
    assert sim.device(1).new == 4  # still flagged new on the device
    second = ok(collect_device(engine, device))
    assert (second.records_read, second.records_new) == (4, 4)
    assert stored(engine) == expected(sim.device(1).records) and sim.device(1).new == 0


@pytest.mark.parametrize("kind", ["pty", "tcp"])
@pytest.mark.parametrize(
    "faults",
    [
        "crc:4",
        "split:0.001",
        "garbage:32",
        "lose:6",
        "dup:2",
        "dup:1:1",
        "arrive:5:3",
        "garbage crc:5 dup:3:1 split:0.0005",
    ],
)
def test_fault_modes_end_complete_and_exactly_once(
    engine: Engine, sims, kind: str, faults: str
) -> None:
    if kind == "pty":
        sim, path = on_pty(sims, ids=[1, 2], punches=600, faults=faults.split())
        where: dict[str, Any] = {"port": path}
    else:
        sim = AnvizSimulator(ids=[1, 2], punches=600, faults=faults.split())
        sims.append(sim)
        where = {"host": "127.0.0.1", "tcp_port": sim.listen_tcp()}
    # a lost request costs a timeout: keep it short where nothing is slow on purpose
    device = clock("door-2", 2, **where).model_copy(
        update={"timeout": 0.08 if faults.startswith("lose") else 0.2}
    )
    results = [collect_device(engine, device) for _ in range(2)]
    assert all(r.ok for r in results), [r.error for r in results]
    assert results[0].records_new == 600
    assert stored(engine) == expected(sim.device(2).records)  # arrivals included, once
    assert sim.device(2).delete_all == 0 and sim.device(1).new == 600


@pytest.mark.parametrize(
    ("faults", "kind", "message"),
    [
        ("silent", "unreachable", "no answer from device id 2"),
        ("silent:9", "timeout", "stopped answering"),
        ("crc:1", "transfer_broken", "corrupt answers"),
    ],
)
def test_fault_modes_that_fail_lose_nothing(
    engine: Engine, sims, faults: str, kind: str, message: str
) -> None:
    sim, path = on_pty(sims, ids=[1, 2], punches=800, faults=faults.split())
    device = AnvizConfig(
        name="door-2", driver="anviz", device_id=2, port=path, timeout=0.15, retries=1
    )
    failed = collect_device(engine, device)
    assert not failed.ok and failed.error_kind == kind
    assert "door-2" in (failed.error or "") and message in (failed.error or "")
    assert punch_count(engine) == 0
    assert sim.device(2).new == 800 and sim.device(2).clears == []
    sim.faults = []  # the line is fixed
    fixed = ok(collect_device(engine, device))
    assert fixed.records_new == 800 and stored(engine) == expected(sim.device(2).records)


def test_usb_unplug_mid_run_is_reported_and_the_next_run_recovers(
    engine: Engine, sims, tmp_path: Path
) -> None:
    sim = AnvizSimulator(ids=[1, 3], punches=1_200, faults=["vanish:5"], replug_delay=0.05)
    sims.append(sim)
    link = sim.open_pty(tmp_path / "ttyUSB-anviz")  # like /dev/serial/by-id/…
    device = clock("door-3", 3, port=link)
    unplugged = collect_device(engine, device)
    assert not unplugged.ok and unplugged.error_kind == "transfer_broken"
    assert "serial port vanished (USB adapter unplugged" in (unplugged.error or "")
    assert punch_count(engine) == 0 and sim.device(3).new == 1_200
    assert sim.replugged.wait(5)  # the adapter is back, behind the same link
    again = ok(collect_device(engine, device))
    assert (again.records_new, again.cleared) == (1_200, True)
    assert stored(engine) == expected(sim.device(3).records) and sim.device(3).new == 0


def test_tcp_connection_reset_mid_run_then_recovery(engine: Engine, sims) -> None:
    sim = AnvizSimulator(ids=[1], punches=900, faults=["vanish:4"])
    sims.append(sim)
    device = clock("gate", 1, host="127.0.0.1", tcp_port=sim.listen_tcp())
    dropped = collect_device(engine, device)
    assert dropped.error_kind == "transfer_broken" and "connection lost" in (dropped.error or "")
    assert punch_count(engine) == 0
    again = ok(collect_device(engine, device))
    assert again.records_new == 900 and sim.device(1).new == 0
