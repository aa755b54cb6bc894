"""A run stores its read a batch at a time, all in one transaction: what that must keep.

Batches are made small here (``sink.BATCH``) so that a few thousand punches cross several
of them. Every test runs on each available database."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from punchd.clock import local_to_utc
from punchd.collector import sink
from punchd.collector.collect import _ToUtc, collect_device
from punchd.collector.spool import Spool
from punchd.drivers.records import DeviceUser, Punch, PunchState
from punchd.drivers.testing.memory import MemoryConfig, MemoryDevice
from punchd.drivers.zk import protocol as p
from punchd.drivers.zk.driver import ZKConfig
from punchd.drivers.zk.simulator import ZKSimulator, generate
from punchd.storage import collection as store
from punchd.storage import schema
from tests.helpers.rows import add_department, add_employee

Plug = Callable[..., MemoryDevice]

USERS = [DeviceUser(enroll_no=str(100 + i), name=f"P{i}") for i in range(25)]
PUNCHES = [
    Punch(
        enroll_no=str(100 + i % 25),
        punched_at=datetime(2026, 3, 2, 7, 0) + timedelta(minutes=3 * i),
        state=PunchState.IN if i % 2 else PunchState.OUT,
        verify_mode=1,
    )
    for i in range(2_500)
]


@pytest.fixture(autouse=True)
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sink, "BATCH", 1_000)


def gate(**kw: object) -> MemoryConfig:
    return MemoryConfig(name="gate-1", timezone="Asia/Shanghai", **kw)  # type: ignore[arg-type]


def count(engine: Engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def device_counts(engine: Engine) -> tuple[int, datetime | None]:
    with engine.connect() as conn:
        row = conn.execute(
            select(schema.att_device.c.punch_count, schema.att_device.c.last_punch_at)
        ).one()
    return int(row.punch_count), row.last_punch_at


@pytest.fixture
def database_breaks_on_second_batch(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The database connection drops while the second batch is being inserted (the first
    one is in the transaction by then)."""
    calls: list[int] = []
    real = store.insert_punch_values

    def insert(conn, values, **kw):  # type: ignore[no-untyped-def]
        calls.append(len(values))
        if len(calls) == 2:
            raise OperationalError(
                "INSERT INTO att_punch …", None, Exception("server has gone away")
            )
        return real(conn, values, **kw)

    monkeypatch.setattr(store, "insert_punch_values", insert)
    yield calls
    monkeypatch.setattr(store, "insert_punch_values", real)


def test_a_run_broken_in_a_later_batch_stores_nothing(
    engine: Engine, memory_device: Plug, database_breaks_on_second_batch: list[int]
) -> None:
    memory_device("gate-1", users=USERS, punches=list(PUNCHES))
    result = collect_device(engine, gate())
    assert database_breaks_on_second_batch == [1_000, 1_000]  # one batch went in first
    assert result.status == "failed" and result.error_kind == "database"
    assert (result.records_read, result.records_new) == (2_500, 0)
    assert count(engine, schema.att_punch) == 0
    assert count(engine, schema.att_reprocess) == 0
    assert count(engine, schema.att_device_user) == 0
    assert device_counts(engine) == (0, None)
    assert gc.isenabled()  # paused for the store (punchd.gcpause), back on after it broke
    database_breaks_on_second_batch.append(0)  # the database is back
    again = collect_device(engine, gate())
    assert again.ok and again.records_new == 2_500
    assert count(engine, schema.att_punch) == 2_500
    assert device_counts(engine) == (2_500, PUNCHES[-1].punched_at)


def test_a_run_broken_in_a_later_batch_spools_the_whole_read(
    engine: Engine, memory_device: Plug, tmp_path: Path, database_breaks_on_second_batch: list[int]
) -> None:
    memory_device("gate-1", users=USERS, punches=list(PUNCHES))
    spool = Spool(tmp_path / "spool")
    result = collect_device(engine, gate(), spool=spool)
    assert result.status == "spooled" and (result.records_read, result.spooled) == (2_500, 2_500)
    assert result.records_new == 0 and not result.cleared
    assert count(engine, schema.att_punch) == 0
    database_breaks_on_second_batch.append(0)
    assert spool.flush(engine) == 2_500
    assert count(engine, schema.att_punch) == 2_500
    assert device_counts(engine) == (2_500, PUNCHES[-1].punched_at)


def test_a_punch_sent_twice_across_batches_is_stored_once(
    engine: Engine, memory_device: Plug
) -> None:
    again = [PUNCHES[5], PUNCHES[1_800]]  # already sent in the first and the second batch
    memory_device("gate-1", users=USERS, punches=[*PUNCHES[:1_500], *again, *PUNCHES[1_500:]])
    result = collect_device(engine, gate())
    assert result.ok and (result.records_read, result.records_new) == (2_502, 2_500)
    assert count(engine, schema.att_punch) == 2_500
    assert device_counts(engine) == (2_500, PUNCHES[-1].punched_at)
    with engine.connect() as conn:
        new = conn.execute(select(schema.att_collection_run.c.records_new)).scalar_one()
    assert new == 2_500  # exact on every database (MariaDB: counted by the run's rows)


@pytest.fixture
def look_ups(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The batch sizes :func:`store.stored_among` was asked about."""
    calls: list[int] = []
    real = store.stored_among

    def stored_among(conn, device_id, keys):  # type: ignore[no-untyped-def]
        calls.append(len(keys))
        return real(conn, device_id, keys)

    monkeypatch.setattr(store, "stored_among", stored_among)
    return calls


def test_batches_later_than_all_that_is_stored_are_not_looked_up(
    engine: Engine, memory_device: Plug, look_ups: list[int]
) -> None:
    device = memory_device("gate-1", users=USERS, punches=list(PUNCHES[:1_500]))
    first = collect_device(engine, gate())
    assert first.ok and first.records_new == 1_500
    assert look_ups == []  # nothing stored: nothing to look up
    device.punches.extend(PUNCHES[1_500:])  # the clock keeps its old records
    again = collect_device(engine, gate())
    assert again.ok and (again.records_read, again.records_new) == (2_500, 1_000)
    # the first two batches reach into what is stored; the third is all new
    assert look_ups == [1_000, 1_000]
    assert count(engine, schema.att_punch) == 2_500
    assert device_counts(engine) == (2_500, PUNCHES[-1].punched_at)


def test_a_wrong_newest_punch_on_the_device_row_stores_nothing_twice(
    engine: Engine, memory_device: Plug
) -> None:
    """``att_device.last_punch_at`` only spares the look-up: the unique key still decides,
    and the counts stay exact."""
    memory_device("gate-1", users=USERS, punches=list(PUNCHES))
    assert collect_device(engine, gate()).records_new == 2_500
    with engine.begin() as conn:
        conn.execute(schema.att_device.update().values(last_punch_at=None))
    again = collect_device(engine, gate())
    assert again.ok and (again.records_read, again.records_new) == (2_500, 0)
    assert count(engine, schema.att_punch) == 2_500
    with engine.connect() as conn:
        new = conn.execute(
            select(schema.att_collection_run.c.records_new).where(
                schema.att_collection_run.c.id == again.run_id
            )
        ).scalar_one()
    assert new == 0


def test_a_stored_time_in_another_program_s_format_does_not_break_the_look_up(
    engine: Engine, memory_device: Plug
) -> None:
    """SQLite keeps whatever text another program wrote in punched_at: the look-up reads
    what parses and leaves the rest to the unique key."""
    if engine.dialect.name != "sqlite":
        pytest.skip("only SQLite keeps a time as any text")
    memory_device("gate-1", users=USERS, punches=list(PUNCHES))
    assert collect_device(engine, gate()).records_new == 2_500
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO att_punch (device_id, enroll_no, punched_at, punched_at_utc, state, "
            "source, collected_at, void) VALUES (1, '100', '2026-03-02 7:01', "
            "'2026-03-01 23:01', 'in', 'import', '2026-03-09 00:00', 0)"
        )
    again = collect_device(engine, gate())
    assert again.ok and (again.records_read, again.records_new) == (2_500, 0)
    assert count(engine, schema.att_punch) == 2_501


def test_new_punches_are_copied_straight_in_on_postgresql(
    engine: Engine, memory_device: Plug, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Punches known to be new skip PostgreSQL's load table; a clash falls back to it."""
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's COPY path")
    from punchd.storage import _bulk

    loads: list[int] = []
    real = _bulk._pg_copy

    def load(conn, stmt, table, keys, rows):  # type: ignore[no-untyped-def]
        loads.append(len(rows))
        return real(conn, stmt, table, keys, rows)

    monkeypatch.setattr(_bulk, "_pg_copy", load)
    memory_device("gate-1", users=USERS, punches=list(PUNCHES))
    first = collect_device(engine, gate())
    assert first.records_new == 2_500
    assert loads == []
    # in the binary form (the columns' types are all known), every value as it was read
    assert _bulk._pg_binary_types(schema.att_punch, store.PUNCH_COLUMNS) is not None
    p = schema.att_punch.c
    with engine.connect() as conn:
        stored = conn.execute(
            select(p.enroll_no, p.punched_at, p.punched_at_utc, p.state, p.verify_mode)
            .where(p.run_id == first.run_id, p.source == "device", p.flag.is_(None))
            .order_by(p.punched_at)
        ).all()
    shanghai = ZoneInfo("Asia/Shanghai")
    assert [tuple(r) for r in stored] == [
        (x.enroll_no, x.punched_at, local_to_utc(x.punched_at, shanghai), x.state.value, 1)
        for x in PUNCHES
    ]
    with engine.begin() as conn:  # stored, but the device row no longer says so
        conn.execute(schema.att_device.update().values(last_punch_at=None))
    again = collect_device(engine, gate())
    assert again.ok and again.records_new == 0
    assert loads == [1_000, 1_000, 500]  # the savepoint rolled back; the usual way
    assert count(engine, schema.att_punch) == 2_500


def test_re_collection_with_nothing_new_stores_nothing_and_says_0(engine: Engine) -> None:
    users, punches = generate(users=300, punches=12_000, seed=7)
    with ZKSimulator(port=0, users=users, punches=punches, record_size=40) as sim:
        device = ZKConfig(name="gate-1", host="127.0.0.1", port=sim.port, timezone="Asia/Shanghai")
        first = collect_device(engine, device)
        assert first.ok and (first.records_read, first.records_new) == (12_000, 12_000)
        with engine.connect() as conn:
            before = conn.execute(select(schema.att_punch.c.id, schema.att_punch.c.run_id)).all()
        queued, counts = count(engine, schema.att_reprocess), device_counts(engine)
        again = collect_device(engine, device)
    assert again.ok and (again.records_read, again.records_new) == (12_000, 0)
    assert again.flagged == {}
    with engine.connect() as conn:
        after = conn.execute(select(schema.att_punch.c.id, schema.att_punch.c.run_id)).all()
        run = conn.execute(
            select(schema.att_collection_run).where(schema.att_collection_run.c.id == again.run_id)
        ).one()
    assert sorted(after) == sorted(before)  # not one row written, not one touched
    assert count(engine, schema.att_reprocess) == queued
    assert device_counts(engine) == counts == (12_000, max(x.when for x in punches))
    assert (run.status, run.records_read, run.records_new) == ("ok", 12_000, 0)


def test_new_punches_queue_their_days_and_flagged_ones_do_not(
    engine: Engine, memory_device: Plug
) -> None:
    with engine.begin() as conn:
        dept = add_department(conn, "D", "D")
        add_employee(conn, "E1", "One", dept, enroll_no="100")
    # the device's clock says 9 March 2026, noon (what "future" is measured from)
    here = datetime.now(ZoneInfo("Asia/Shanghai")).replace(tzinfo=None, microsecond=0)
    punches = [
        *PUNCHES,
        Punch(enroll_no="100", punched_at=datetime(2000, 1, 1, 8, 0)),  # power loss
        Punch(enroll_no="100", punched_at=datetime(2099, 1, 1, 8, 0)),  # future
    ]
    memory_device(
        "gate-1", users=USERS, punches=punches, clock_offset=datetime(2026, 3, 9, 12) - here
    )
    result = collect_device(engine, gate())
    assert result.ok and result.records_new == 2_502
    assert result.flagged == {"power_loss": 1, "future": 1}
    with engine.connect() as conn:
        queued = conn.execute(
            select(
                schema.att_reprocess.c.employee_id,
                schema.att_reprocess.c.date_from,
                schema.att_reprocess.c.date_to,
            )
        ).all()
    days = {d for x in PUNCHES if x.enroll_no == "100" for d in (x.punched_at.date(),)}
    covered = {
        row.date_from + timedelta(days=n)
        for row in queued
        for n in range((row.date_to - row.date_from).days + 1)
    }
    assert days <= covered  # every day "100" punched on, from every batch
    assert all(d.year == 2026 for d in covered)  # nothing of the flagged ones
    assert covered <= {d + timedelta(days=k) for d in days for k in (-1, 0, 1)}


def test_store_users_of_a_push_clock_touch_only_the_users_listed(engine: Engine) -> None:
    seen = datetime(2026, 3, 1, 8, 0)
    with engine.begin() as conn:
        device = store.upsert_device(conn, name="push-1", driver="adms", address="sn")
        store.store_users(conn, device, USERS[:3], seen_at=seen, complete=True)
        changed = [DeviceUser(enroll_no="101", name="Renamed"), DeviceUser(enroll_no="900")]
        new = store.store_users(
            conn, device, changed, seen_at=seen + timedelta(hours=1), complete=False
        )
        rows = {
            r.enroll_no: (r.name, r.present, r.last_seen_at)
            for r in conn.execute(select(schema.att_device_user))
        }
    assert new == 1
    assert rows == {
        "100": ("P0", True, seen),
        "101": ("Renamed", True, seen + timedelta(hours=1)),
        "102": ("P2", True, seen),
        "900": ("", True, seen + timedelta(hours=1)),
    }
    with engine.begin() as conn:  # the whole list of a pull clock: the others are gone
        store.store_users(conn, device, USERS[:1], seen_at=seen, complete=True)
        present = {
            r.enroll_no
            for r in conn.execute(
                select(schema.att_device_user).where(schema.att_device_user.c.present)
            )
        }
    assert present == {"100"}


@pytest.mark.parametrize("text", ["50%", "O'Brien", "back\\slash", "王小明", "%s %(x)s"])
def test_odd_text_goes_through_the_fast_insert_paths_unchanged(engine: Engine, text: str) -> None:
    at = datetime(2026, 3, 2, 8, 0)
    row = {
        "enroll_no": text,
        "punched_at": at,
        "punched_at_utc": at,
        "state": "in",
        "work_code": text[:16],
        "collected_at": at,
    }
    with engine.begin() as conn:
        device = store.upsert_device(conn, name="gate-1", driver="zk", address="a")
        assert store.insert_punches(conn, [dict(row, device_id=device)]) == 1
        stored = conn.execute(
            select(schema.att_punch.c.enroll_no, schema.att_punch.c.work_code)
        ).one()
        assert store.stored_among(conn, device, [(text, at, "in"), (text, at, "out")]) == {
            (text, at, "in")
        }
    assert tuple(stored) == (text, text[:16])


def test_time_decoder_agrees_with_decode_time() -> None:
    decode = p.TimeDecoder()
    start = p.encode_time(datetime(2026, 2, 27, 23, 59, 58))
    values = [*range(start, start + 4 * 86_400, 997), p.encode_time(datetime(2026, 2, 28)) + 86_400]
    for value in values:  # the last is "29 February 2026": no date
        try:
            expected: object = p.decode_time(value)
        except ValueError as exc:
            expected = str(exc)
        try:
            got: object = decode(value)
        except ValueError as exc:
            got = str(exc)
        assert got == expected, value


@pytest.mark.parametrize("zone", ["America/New_York", "Australia/Lord_Howe", "Asia/Shanghai"])
def test_utc_by_the_hour_agrees_with_local_to_utc(zone: str) -> None:
    tz = ZoneInfo(zone)
    to_utc = _ToUtc(tz)
    start = datetime(2026, 3, 7)
    for minutes in range(0, 60 * 24 * 250, 7):  # through spring and autumn changes
        local = start + timedelta(minutes=minutes, seconds=minutes % 60)
        assert to_utc(local) == local_to_utc(local, tz), local
