"""Collection into a real database (SQLite always; PostgreSQL / MariaDB when configured)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from punchd.collector.collect import collect_device
from punchd.drivers.zk import protocol as p
from punchd.drivers.zk.driver import ZKConfig
from punchd.drivers.zk.simulator import SimPunch, ZKSimulator, generate
from punchd.storage import schema

KEY = 8675309
USERS, PUNCHES = generate(users=200, punches=30_000, seed=21)


@pytest.fixture
def sim() -> Iterator[ZKSimulator]:
    with ZKSimulator(port=0, comm_key=KEY, users=USERS, punches=PUNCHES) as s:
        yield s


def device_for(sim: ZKSimulator, **kw: object) -> ZKConfig:
    cfg: dict[str, object] = dict(
        name="gate-1",
        driver="zk",
        host="127.0.0.1",
        port=sim.port,
        comm_key=sim.comm_key,
        protocol="udp" if sim.udp else "tcp",
        timeout=2,
    )
    cfg.update(kw)
    return ZKConfig(**cfg)  # type: ignore[arg-type]


def punch_rows(engine: Engine) -> list[tuple]:
    t = schema.att_punch
    with engine.connect() as conn:
        return conn.execute(
            select(t.c.enroll_no, t.c.punched_at, t.c.state, t.c.verify_mode).order_by(t.c.id)
        ).all()


def count(engine: Engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_collect_30k_with_comm_key_exactly_once(engine: Engine, sim: ZKSimulator) -> None:
    first = collect_device(engine, device_for(sim))
    assert first.ok, first.error
    assert (first.records_read, first.records_new, first.users_read) == (30_000, 30_000, 200)
    rows = punch_rows(engine)
    states = ["in", "out", "break_out", "break_in", "ot_in", "ot_out"]
    assert [tuple(r) for r in rows] == [
        (x.user_id, x.when, states[x.punch], x.status) for x in PUNCHES
    ]
    again = collect_device(engine, device_for(sim))
    assert again.ok and (again.records_read, again.records_new) == (30_000, 0)
    assert count(engine, schema.att_punch) == 30_000
    assert count(engine, schema.att_device_user) == 200
    with engine.connect() as conn:
        runs = conn.execute(
            select(
                schema.att_collection_run.c.status, schema.att_collection_run.c.records_new
            ).order_by(schema.att_collection_run.c.id)
        ).all()
        device = conn.execute(select(schema.att_device)).one()
    assert [tuple(r) for r in runs] == [("ok", 30_000), ("ok", 0)]
    assert device.serial_number == "SIM0001" and device.record_count == 30_000
    assert device.last_run_id == again.run_id


def test_collect_over_udp(engine: Engine) -> None:
    with ZKSimulator(port=0, udp=True, users=USERS, punches=PUNCHES) as sim:
        first = collect_device(engine, device_for(sim))
        again = collect_device(engine, device_for(sim))
    assert first.ok and first.records_new == 30_000
    assert again.ok and again.records_new == 0
    assert count(engine, schema.att_punch) == 30_000


def test_only_new_punches_are_stored_and_utc_uses_the_device_zone(
    engine: Engine, sim: ZKSimulator
) -> None:
    device = device_for(sim, timezone="Asia/Shanghai")
    collect_device(engine, device)
    late = [
        SimPunch(user_id=USERS[0].user_id, when=datetime(2030, 3, 4, 8, 0, 5), punch=0),
        SimPunch(user_id="77", when=datetime(2030, 3, 4, 8, 1, 0), punch=0),  # not enrolled
    ]
    sim.add_punches(late)
    # The device's clock says it is that morning: punches more than a day ahead of the
    # device clock would be stored flagged "future" and not re-processed.
    sim.clock_offset = datetime(2030, 3, 4, 9, 0) - datetime.now().replace(microsecond=0)
    result = collect_device(engine, device)
    assert result.ok and result.records_new == 2
    t = schema.att_punch
    with engine.connect() as conn:
        got = conn.execute(
            select(t.c.enroll_no, t.c.punched_at, t.c.punched_at_utc, t.c.run_id)
            .where(t.c.punched_at >= datetime(2030, 1, 1))
            .order_by(t.c.punched_at)
        ).all()
    assert [(r.enroll_no, r.punched_at, r.punched_at_utc) for r in got] == [
        (USERS[0].user_id, datetime(2030, 3, 4, 8, 0, 5), datetime(2030, 3, 4, 0, 0, 5)),
        ("77", datetime(2030, 3, 4, 8, 1, 0), datetime(2030, 3, 4, 0, 1, 0)),
    ]
    assert {r.run_id for r in got} == {result.run_id}


def test_clock_drift_is_measured_and_stored(engine: Engine) -> None:
    with ZKSimulator(
        port=0, users=USERS[:5], punches=PUNCHES[:20], clock_offset=timedelta(seconds=-95)
    ) as sim:
        result = collect_device(engine, device_for(sim))
    assert result.ok and -97 <= result.clock_drift_seconds <= -94
    with engine.connect() as conn:
        stored = conn.execute(select(schema.att_device.c.clock_drift_seconds)).scalar_one()
    assert stored == result.clock_drift_seconds


def test_broken_transfer_stores_nothing_and_next_run_gets_all(engine: Engine) -> None:
    with ZKSimulator(port=0, users=USERS, punches=PUNCHES, faults=["drop:0.7"]) as sim:
        broken = collect_device(engine, device_for(sim))
    assert not broken.ok and broken.error_kind == "transfer_broken"
    assert "gate-1" in broken.error and "connection lost" in broken.error
    assert count(engine, schema.att_punch) == 0
    with ZKSimulator(port=0, users=USERS, punches=PUNCHES) as sim:
        retry = collect_device(engine, device_for(sim))
    assert retry.ok and retry.records_new == 30_000
    with engine.connect() as conn:
        runs = conn.execute(
            select(
                schema.att_collection_run.c.status, schema.att_collection_run.c.error_kind
            ).order_by(schema.att_collection_run.c.id)
        ).all()
    assert [tuple(r) for r in runs] == [("failed", "transfer_broken"), ("ok", None)]


def test_wrong_comm_key_is_recorded_without_the_key(engine: Engine, sim: ZKSimulator) -> None:
    result = collect_device(engine, device_for(sim, comm_key=1111))
    assert not result.ok and result.error_kind == "auth_refused"
    assert "1111" not in result.error and str(KEY) not in result.error
    with engine.connect() as conn:
        error = conn.execute(select(schema.att_collection_run.c.error)).scalar_one()
    assert "refused the comm key" in error and "1111" not in error


def test_clear_after_collect_clears_only_a_verified_read(engine: Engine, sim: ZKSimulator) -> None:
    result = collect_device(engine, device_for(sim, clear_after_collect=True))
    assert result.ok and result.cleared and result.clear_skipped is None
    assert sim.clear_count == 1 and sim.punches == []
    assert count(engine, schema.att_punch) == 30_000
    assert sim.enabled


def test_clear_is_skipped_when_a_punch_arrives_after_the_read(
    engine: Engine, sim: ZKSimulator
) -> None:
    late = SimPunch(user_id=USERS[1].user_id, when=datetime(2030, 5, 6, 7, 8, 9), punch=0)
    frees: list[int] = []

    def punch_after_attendance_read(command: int) -> None:
        # The firmware ignores "disabled" and someone punches right after the read:
        # the users' bulk read ends with the first FREE_DATA, the attendance's with the 2nd.
        if command == p.CMD_FREE_DATA:
            frees.append(command)
            if len(frees) == 2:
                sim.add_punches([late])

    sim.on_command = punch_after_attendance_read
    result = collect_device(engine, device_for(sim, clear_after_collect=True))
    assert result.ok and not result.cleared
    assert "not cleared" in result.clear_skipped
    assert sim.clear_count == 0 and len(sim.punches) == 30_001
    sim.on_command = None
    result = collect_device(engine, device_for(sim, clear_after_collect=True))
    assert result.ok and result.cleared and result.records_new == 1
    assert count(engine, schema.att_punch) == 30_001


def test_unreachable_device_is_a_failed_run(engine: Engine) -> None:
    with ZKSimulator(port=0) as sim:
        port = sim.port
    cfg = ZKConfig(name="gone", driver="zk", host="127.0.0.1", port=port, timeout=1)
    result = collect_device(engine, cfg)
    assert result.status == "failed" and result.error_kind == "unreachable"
    assert "connection refused" in result.error
