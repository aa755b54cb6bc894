"""The collector's own guarantees (exactly once, nothing stored from a broken run, clear
only a verified read, spool when the database is down) against the in-process ``memory``
driver: no sockets, so each run takes milliseconds. ``test_collect.py`` runs the same
paths through the ZK driver and its simulator."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import Engine

from punchd.collector.collect import collect_device
from punchd.collector.spool import Spool
from punchd.config import load_settings
from punchd.drivers.errors import DeviceUnreachable, TransferTimeout
from punchd.drivers.records import DeviceUser, Punch, PunchState
from punchd.drivers.registry import get_driver
from punchd.drivers.testing.memory import MemoryConfig, MemoryDevice, MemoryDriver
from punchd.storage import schema

Plug = Callable[..., MemoryDevice]

STATES = list(PunchState)[:6]
USERS = [DeviceUser(enroll_no=str(100 + i), name=f"P{i}") for i in range(20)]
PUNCHES = [
    Punch(
        enroll_no=str(100 + i % 20),
        punched_at=datetime(2026, 3, 2, 7, 0) + timedelta(minutes=7 * i),
        state=STATES[i % 6],
        verify_mode=1,
    )
    for i in range(2_500)
]


def gate(**kw: object) -> MemoryConfig:
    return MemoryConfig(name="gate-1", timezone="Asia/Shanghai", **kw)  # type: ignore[arg-type]


def punch_rows(engine: Engine) -> list[tuple]:
    t = schema.att_punch
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(select(t.c.enroll_no, t.c.punched_at, t.c.state).order_by(t.c.id))
        ]


def runs(engine: Engine) -> list[tuple]:
    r = schema.att_collection_run
    with engine.connect() as conn:
        return [
            tuple(x)
            for x in conn.execute(
                select(r.c.status, r.c.error_kind, r.c.records_new).order_by(r.c.id)
            )
        ]


def count(engine: Engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_the_memory_driver_is_registered_and_configurable(tmp_path: Path) -> None:
    assert get_driver("memory") is MemoryDriver
    config = tmp_path / "punchd.toml"
    config.write_text(
        '[[devices]]\nname = "gate-1"\ndriver = "memory"\nchannel = "bench"\n', encoding="utf-8"
    )
    (device,) = load_settings(config).devices
    assert isinstance(device, MemoryConfig)
    assert device.address() == "memory://bench"


def test_exactly_once_over_repeated_runs(engine: Engine, memory_device: Plug) -> None:
    dev = memory_device("gate-1", users=USERS, punches=list(PUNCHES[:1_000]))
    first = collect_device(engine, gate())
    assert first.ok, first.error
    assert (first.records_read, first.records_new, first.users_read) == (1_000, 1_000, 20)
    dev.punches.extend(PUNCHES[1_000:])
    second = collect_device(engine, gate())
    assert (second.records_read, second.records_new) == (2_500, 1_500)
    third = collect_device(engine, gate())
    assert third.ok and (third.records_read, third.records_new) == (2_500, 0)
    assert punch_rows(engine) == [(x.enroll_no, x.punched_at, x.state.value) for x in PUNCHES]
    assert runs(engine) == [("ok", None, 1_000), ("ok", None, 1_500), ("ok", None, 0)]
    assert count(engine, schema.att_device_user) == 20
    with engine.connect() as conn:
        device = conn.execute(select(schema.att_device)).one()
    assert (device.driver, device.address) == ("memory", "memory://gate-1")
    assert device.serial_number == "MEM0001" and device.record_count == 2_500
    assert dev.connects == 3 and dev.clears == 0


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        (DeviceUnreachable("gate-1: no route to host"), "unreachable"),
        (TransferTimeout("gate-1: no answer"), "timeout"),
    ],
)
def test_a_failed_connect_is_a_failed_run(
    engine: Engine, memory_device: Plug, fault: Exception, kind: str
) -> None:
    dev = memory_device("gate-1", punches=list(PUNCHES), fail_connect=fault)
    result = collect_device(engine, gate())
    assert result.status == "failed" and result.error_kind == kind
    assert "gate-1" in result.error
    assert dev.reads == 0 and count(engine, schema.att_punch) == 0
    assert runs(engine) == [("failed", kind, 0)]


def test_nothing_plugged_in_is_unreachable(engine: Engine) -> None:
    result = collect_device(engine, gate(channel="nowhere"))
    assert result.status == "failed" and result.error_kind == "unreachable"
    assert "memory://nowhere" in result.error


@pytest.mark.parametrize("after", [0, 1, 2_499])
def test_a_transfer_broken_mid_way_stores_nothing_and_the_next_run_gets_all(
    engine: Engine, memory_device: Plug, after: int
) -> None:
    dev = memory_device("gate-1", users=USERS, punches=list(PUNCHES), fail_after=after)
    seen: list[tuple[int, int]] = []
    broken = collect_device(engine, gate(), progress=lambda done, total: seen.append((done, total)))
    assert not broken.ok and broken.error_kind == "transfer_broken"
    assert f"after {after} of 2500" in broken.error
    assert seen == ([(after, 2_500)] if after else [])
    assert count(engine, schema.att_punch) == 0
    dev.fail_after = None
    retry = collect_device(engine, gate())
    assert retry.ok and retry.records_new == 2_500
    assert runs(engine) == [("failed", "transfer_broken", 0), ("ok", None, 2_500)]


def test_clear_after_collect_clears_only_a_verified_read(
    engine: Engine, memory_device: Plug
) -> None:
    dev = memory_device("gate-1", punches=list(PUNCHES))
    result = collect_device(engine, gate(clear_after_collect=True))
    assert result.ok and result.cleared and result.clear_skipped is None
    assert dev.clears == 1 and dev.punches == []
    assert count(engine, schema.att_punch) == 2_500


def test_clear_is_skipped_when_a_punch_arrives_after_the_read(
    engine: Engine, memory_device: Plug
) -> None:
    late = Punch(enroll_no="101", punched_at=datetime(2030, 5, 6, 7, 8, 9))
    dev = memory_device(
        "gate-1", punches=list(PUNCHES), after_read=lambda d: d.punches.append(late)
    )
    result = collect_device(engine, gate(clear_after_collect=True))
    assert result.ok and not result.cleared
    assert "not cleared" in result.clear_skipped
    assert dev.clears == 0 and len(dev.punches) == 2_501
    dev.after_read = None
    result = collect_device(engine, gate(clear_after_collect=True))
    assert result.ok and result.cleared and result.records_new == 1
    assert count(engine, schema.att_punch) == 2_501


def test_clock_drift_is_the_device_clock_against_its_zone(
    engine: Engine, memory_device: Plug
) -> None:
    memory_device("gate-1", punches=list(PUNCHES[:10]), clock_offset=timedelta(minutes=-5))
    result = collect_device(engine, gate())
    assert result.ok and result.clock_drift_seconds is not None
    assert abs(result.clock_drift_seconds + 300) <= 2


def test_a_database_outage_spools_and_the_spool_drains_exactly_once(
    engine: Engine, memory_device: Plug, tmp_path: Path
) -> None:
    memory_device("gate-1", users=USERS, punches=list(PUNCHES))
    spool = Spool(tmp_path / "spool")
    down = create_engine(f"sqlite:///{tmp_path / 'missing' / 'dir' / 'punchd.db'}")
    result = collect_device(down, gate(), spool=spool)
    assert result.status == "spooled" and result.spooled == 2_500
    assert spool.backlog() == 2_500
    assert collect_device(engine, gate()).records_new == 2_500  # the device still has them
    spool.flush(engine)
    assert spool.backlog() == 0
    assert count(engine, schema.att_punch) == 2_500


def test_two_batches_spooled_in_the_same_nanosecond_are_both_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import punchd.collector.spool as spool_module

    monkeypatch.setattr(spool_module.time, "time_ns", lambda: 1_700_000_000_000_000_000)
    spool = Spool(tmp_path / "spool")
    at = datetime(2026, 11, 2, 8, 0)
    for user in ("1", "2"):
        row = {"enroll_no": user, "punched_at": at, "state": 0}
        assert spool.write(device="gate-1", driver="memory", address="-", rows=[row]) == 1
    assert len(list((tmp_path / "spool").glob("*.jsonl"))) == 2
    assert spool.backlog() == 2
