"""Storage layer: migrations, engines and store.py, on every available backend."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, inspect, select, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import NullPool

from punchd.drivers.records import DeviceUser
from punchd.storage import collection as store
from punchd.storage.database import (
    DatabaseUnavailable,
    SchemaAhead,
    SchemaBehind,
    check_connection,
    current_revision,
    downgrade,
    ensure_schema,
    head_revision,
    make_engine,
    mysql_lock_name,
    safe_url,
    upgrade,
)
from punchd.storage.schema import (
    att_collection_run,
    att_device,
    att_device_user,
    att_punch,
    metadata,
)

T0 = datetime(2024, 3, 31, 1, 59, 58)  # around a DST change in Europe: no shifts allowed
PUNCHD_TABLES = set(metadata.tables)


def _device(engine: Engine, name: str = "front") -> int:
    with engine.begin() as conn:
        return store.upsert_device(conn, name=name, driver="zk", address="tcp://10.0.0.5:4370")


def _punch(device_id: int | None, enroll_no: str, punched_at: datetime, **extra) -> dict:
    row = {
        "device_id": device_id,
        "enroll_no": enroll_no,
        "punched_at": punched_at,
        "punched_at_utc": punched_at - timedelta(hours=2),
        "state": "in",
        "verify_mode": 1,
        "work_code": None,
        "source": "device",
        "collected_at": datetime(2024, 4, 1, 12, 0, 0),
        "run_id": None,
    }
    row.update(extra)
    return row


def _is_mysql(engine: Engine) -> bool:
    return engine.dialect.name in ("mysql", "mariadb")


def _count(engine: Engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


# --------------------------------------------------------------------------- schema


def test_migrated_database_matches_metadata(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []
        names = set(inspect(conn).get_table_names())
        views = inspect(conn).get_view_names()
    assert names == PUNCHD_TABLES | {"alembic_version"}
    assert sorted(views) == ["att_month_summary", "att_payroll_leave", "att_payroll_month"]
    assert current_revision(engine) == head_revision()


def test_named_constraints_and_indexes(engine: Engine) -> None:
    insp = inspect(engine)
    uniques = {u["name"]: u["column_names"] for u in insp.get_unique_constraints("att_punch")}
    assert uniques["uq_att_punch_identity"] == ["device_id", "punched_at", "enroll_no", "state"]
    indexes = {i["name"]: i["column_names"] for i in insp.get_indexes("att_punch")}
    assert indexes["ix_att_punch_enroll_no_punched_at"] == ["enroll_no", "punched_at"]
    assert indexes["ix_att_punch_punched_at_utc"] == ["punched_at_utc"]


def _index_definitions(engine: Engine) -> dict[str, str]:
    """att_punch's index name → its definition as the database keeps it (MySQL: the name)."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            query = "SELECT name, sql FROM sqlite_master WHERE tbl_name = 'att_punch'"
        elif engine.dialect.name == "postgresql":
            query = "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'att_punch'"
        else:
            query = (
                "SELECT DISTINCT index_name, index_name FROM information_schema.statistics "
                "WHERE table_schema = DATABASE() AND table_name = 'att_punch'"
            )
        return {name: str(sql or "") for name, sql in conn.execute(text(query))}


def test_employee_and_flag_indexes_hold_only_their_punches(engine: Engine) -> None:
    """Revision 0013: partial on SQLite/PostgreSQL, whole on MySQL/MariaDB — and after a
    downgrade whole everywhere."""
    names = ("ix_att_punch_employee_id_punched_at", "ix_att_punch_flag_collected_at")
    partial = engine.dialect.name in ("sqlite", "postgresql")
    for _ in range(2):
        found = _index_definitions(engine)
        for name, column in zip(names, ("employee_id", "flag"), strict=True):
            assert name in found
            assert ("IS NOT NULL" in found[name]) is partial, found[name]
            if partial:
                assert column in found[name].split("WHERE", 1)[1]
        downgrade(engine, "0012")
        assert all(n in (d := _index_definitions(engine)) and "WHERE" not in d[n] for n in names)
        upgrade(engine)
    if engine.dialect.name == "sqlite":  # the queries that filter on them still use them
        device = _device(engine)
        with engine.begin() as conn:
            store.insert_punches(conn, [_punch(device, "1", T0, flag="future")])
        with engine.connect() as conn:
            plan = conn.execute(
                text(
                    "EXPLAIN QUERY PLAN SELECT flag, count(*) FROM att_punch "
                    "WHERE flag IS NOT NULL AND collected_at >= '2024-01-01' GROUP BY flag"
                )
            ).all()
            assert "ix_att_punch_flag_collected_at" in str(plan)
            plan = conn.execute(
                text("EXPLAIN QUERY PLAN SELECT id FROM att_punch WHERE employee_id = 7")
            ).all()
            assert "ix_att_punch_employee_id_punched_at" in str(plan)


def test_downgrade_to_base_and_back(engine: Engine) -> None:
    downgrade(engine, "base")
    assert current_revision(engine) is None
    assert not PUNCHD_TABLES & set(inspect(engine).get_table_names())
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert set(inspect(engine).get_table_names()) >= PUNCHD_TABLES


def test_ensure_schema_upgrades_fresh_database(db_url: str) -> None:
    eng = make_engine(db_url)
    try:
        assert current_revision(eng) is None
        ensure_schema(eng, auto_upgrade=True)
        assert current_revision(eng) == head_revision()
        ensure_schema(eng, auto_upgrade=False)  # up to date: nothing to do
    finally:
        eng.dispose()


def test_an_upgrade_waits_only_for_upgrades_of_its_own_database(db_url: str) -> None:
    eng = make_engine(db_url)
    if eng.dialect.name not in ("mysql", "mariadb"):
        eng.dispose()
        pytest.skip("GET_LOCK names are server-wide on MariaDB/MySQL only")
    holder = make_engine(db_url, poolclass=NullPool)
    try:
        with holder.connect() as conn:
            # Another punchd database on the same server is being upgraded: not ours.
            other = mysql_lock_name("some_other_site", "schema-upgrade")
            assert conn.execute(text("SELECT GET_LOCK(:n, 0)"), {"n": other}).scalar() == 1
            done = threading.Event()
            worker = threading.Thread(target=lambda: (upgrade(eng), done.set()), daemon=True)
            worker.start()
            worker.join(120)
            assert done.is_set(), "an upgrade waited for another database's upgrade"
            assert current_revision(eng) == head_revision()
            downgrade(eng, "base")
            # Our own database's upgrade in progress: this one waits for it.
            ours = mysql_lock_name(eng.url.database, "schema-upgrade")
            assert conn.execute(text("SELECT GET_LOCK(:n, 0)"), {"n": ours}).scalar() == 1
            done.clear()
            worker = threading.Thread(target=lambda: (upgrade(eng), done.set()), daemon=True)
            worker.start()
            worker.join(1.0)
            assert not done.is_set() and current_revision(eng) is None
            conn.execute(text("SELECT RELEASE_LOCK(:n)"), {"n": ours})
            worker.join(120)
            assert done.is_set() and current_revision(eng) == head_revision()
    finally:
        holder.dispose()
        eng.dispose()


def test_ensure_schema_without_auto_upgrade_raises(db_url: str) -> None:
    eng = make_engine(db_url)
    try:
        with pytest.raises(SchemaBehind) as caught:
            ensure_schema(eng, auto_upgrade=False)
        assert "punchd db upgrade" in str(caught.value)
        assert current_revision(eng) is None  # nothing was created
    finally:
        eng.dispose()


def test_ensure_schema_rejects_unknown_revision(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(SchemaAhead) as caught:
        ensure_schema(engine, auto_upgrade=True)
    assert "9999" in str(caught.value)
    assert "newer punchd" in str(caught.value)


# --------------------------------------------------------------------------- engines


def test_check_connection_ok(engine: Engine) -> None:
    check_connection(engine)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://u:s3cret@127.0.0.1:1/x",
        "mysql+pymysql://u:s3cret@127.0.0.1:1/x",
    ],
    ids=["postgresql", "mysql"],
)
def test_check_connection_closed_port_hides_password(url: str) -> None:
    eng = make_engine(url)
    try:
        with pytest.raises(DatabaseUnavailable) as caught:
            check_connection(eng)
    finally:
        eng.dispose()
    message = str(caught.value)
    assert "s3cret" not in message
    assert "u:***@127.0.0.1:1/x" in message
    assert "s3cret" not in caught.value.cause


def test_check_connection_unopenable_sqlite(tmp_path) -> None:
    (tmp_path / "dir.db").mkdir()  # a directory cannot be opened as a database
    eng = make_engine(f"sqlite:///{tmp_path / 'dir.db'}")
    try:
        with pytest.raises(DatabaseUnavailable, match=r"dir\.db"):
            check_connection(eng)
    finally:
        eng.dispose()


def test_safe_url() -> None:
    assert safe_url("postgresql+psycopg://u:s3cret@db/x") == "postgresql+psycopg://u:***@db/x"
    assert "s3cret" not in safe_url("mysql+pymysql://u@db/x?password=s3cret")
    assert safe_url("sqlite:///data/punchd.db") == "sqlite:///data/punchd.db"
    assert "s3cret" not in safe_url("not a url://u:s3cret@host")


def test_make_engine_sqlite_settings(tmp_path) -> None:
    path = tmp_path / "new" / "sub" / "punchd.db"
    eng = make_engine(f"sqlite:///{path}")
    try:
        with eng.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
            assert conn.exec_driver_sql("PRAGMA cache_size").scalar() < -2000  # KiB
        assert path.exists()
    finally:
        eng.dispose()


def test_make_engine_mysql_defaults_to_utf8mb4() -> None:
    eng = make_engine("mysql+pymysql://u@127.0.0.1:1/x")
    assert eng.url.query["charset"] == "utf8mb4"
    eng = make_engine("mysql+pymysql://u@127.0.0.1:1/x?charset=latin1")
    assert eng.url.query["charset"] == "latin1"


def test_foreign_keys_are_enforced(engine: Engine) -> None:
    with pytest.raises(IntegrityError), engine.begin() as conn:
        store.insert_punches(conn, [_punch(999_999, "1", T0)])


# --------------------------------------------------------------------------- devices


def test_upsert_device_is_idempotent(engine: Engine) -> None:
    with engine.begin() as conn:
        first = store.upsert_device(conn, name="front", driver="zk", address="tcp://a:4370")
        again = store.upsert_device(conn, name="front", driver="zk", address="tcp://a:4370")
        moved = store.upsert_device(conn, name="front", driver="zk", address="tcp://b:4370")
        other = store.upsert_device(conn, name="Front", driver="zk", address="tcp://c:4370")
    assert first == again == moved
    assert other != first  # names are case-sensitive on every backend
    with engine.connect() as conn:
        row = conn.execute(select(att_device).where(att_device.c.id == first)).one()
    assert row.address == "tcp://b:4370"
    assert row.created_at is not None and row.created_at.tzinfo is None
    assert _count(engine, att_device) == 2


def test_update_device_info_writes_only_given_values(engine: Engine) -> None:
    device_id = _device(engine)
    checked = datetime(2024, 5, 6, 7, 8, 9, 123456)
    with engine.begin() as conn:
        store.update_device_info(
            conn,
            device_id,
            serial_number="ABC123",
            firmware="Ver 6.60",
            user_count=12,
            record_capacity=100_000,
            clock_drift_seconds=-2.5,
            clock_checked_at=checked,
        )
        store.update_device_info(conn, device_id, model="iFace", firmware=None)
        store.update_device_info(conn, device_id)  # nothing given: no-op
    with engine.connect() as conn:
        row = conn.execute(select(att_device).where(att_device.c.id == device_id)).one()
    assert (row.serial_number, row.firmware, row.model) == ("ABC123", "Ver 6.60", "iFace")
    assert (row.user_count, row.record_count, row.record_capacity) == (12, None, 100_000)
    assert row.clock_drift_seconds == -2.5
    assert row.clock_checked_at == checked.replace(microsecond=0)


# --------------------------------------------------------------------------- users


def _users(engine: Engine, device_id: int) -> dict[str, object]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(att_device_user).where(att_device_user.c.device_id == device_id)
        ).all()
    return {row.enroll_no: row for row in rows}


def test_store_users_new_updated_vanished(engine: Engine) -> None:
    device_id = _device(engine)
    other_device = _device(engine, "back")
    day1, day2, day3 = (datetime(2024, 1, d, 6, 0, 0) for d in (1, 2, 3))
    with engine.begin() as conn:
        new = store.store_users(
            conn,
            device_id,
            [
                DeviceUser("1", "张伟", "12345", 14),
                DeviceUser("2", "José Núñez", None, 0),
                DeviceUser("3", "Ｋｅｎ 😀", "", 0),  # fullwidth and a 4-byte character
            ],
            seen_at=day1,
        )
        store.store_users(conn, other_device, [DeviceUser("1", "Someone else")], seen_at=day1)
    assert new == 3
    users = _users(engine, device_id)
    assert users["1"].name == "张伟" and users["1"].card == "12345"
    assert users["1"].privilege == 14
    assert users["3"].name == "Ｋｅｎ 😀" and users["3"].card is None
    assert all(u.present and u.first_seen_at == u.last_seen_at == day1 for u in users.values())

    with engine.begin() as conn:
        new = store.store_users(
            conn,
            device_id,
            [DeviceUser("1", "张伟强", "999", 0), DeviceUser("3", "Ｋｅｎ 😀"), DeviceUser("4")],
            seen_at=day2,
        )
    assert new == 1
    users = _users(engine, device_id)
    assert (users["1"].name, users["1"].card, users["1"].privilege) == ("张伟强", "999", 0)
    assert users["1"].first_seen_at == day1 and users["1"].last_seen_at == day2
    assert users["2"].present is False and users["2"].last_seen_at == day1
    assert users["3"].present is True and users["3"].last_seen_at == day2
    assert users["4"].present is True and users["4"].name == ""
    assert _users(engine, other_device)["1"].present is True  # other devices untouched

    with engine.begin() as conn:  # user 2 comes back
        new = store.store_users(conn, device_id, [DeviceUser("2", "José Núñez")], seen_at=day3)
    assert new == 0
    users = _users(engine, device_id)
    assert users["2"].present is True and users["2"].last_seen_at == day3
    assert [u for u in users if users[u].present] == ["2"]

    with engine.begin() as conn:  # an empty list: everybody vanished
        assert store.store_users(conn, device_id, [], seen_at=day3) == 0
    assert not any(u.present for u in _users(engine, device_id).values())


# --------------------------------------------------------------------------- runs


def test_start_and_finish_run(engine: Engine) -> None:
    device_id = _device(engine)
    started = datetime(2024, 2, 1, 10, 0, 0, 500_000)
    with engine.begin() as conn:
        run_id = store.start_run(
            conn, device_id, trigger="schedule", host="collector-1", started_at=started
        )
    with engine.connect() as conn:
        run = conn.execute(select(att_collection_run)).one()
        assert conn.execute(select(att_device.c.last_run_id)).scalar_one() is None
    assert (run.id, run.status, run.trigger, run.host) == (
        run_id,
        "running",
        "schedule",
        "collector-1",
    )
    assert run.started_at == datetime(2024, 2, 1, 10, 0, 0) and run.finished_at is None
    assert run.cleared is False

    finished = datetime(2024, 2, 1, 10, 0, 42, tzinfo=UTC)
    with engine.begin() as conn:
        store.finish_run(
            conn,
            run_id,
            status="failed",
            finished_at=finished,
            records_read=10,
            records_new=3,
            users_read=5,
            clock_drift_seconds=1.5,
            cleared=True,
            error="设备 front: 连接超时 " + "x" * 10_000,
            error_kind="timeout",
        )
    with engine.connect() as conn:
        run = conn.execute(select(att_collection_run)).one()
        assert conn.execute(select(att_device.c.last_run_id)).scalar_one() == run_id
    assert run.status == "failed" and run.finished_at == datetime(2024, 2, 1, 10, 0, 42)
    assert (run.records_read, run.records_new, run.users_read) == (10, 3, 5)
    assert run.clock_drift_seconds == 1.5 and run.cleared is True
    assert run.error.startswith("设备 front: 连接超时") and len(run.error) == 8000
    assert run.error_kind == "timeout"


def test_recent_runs(engine: Engine) -> None:
    front, back = _device(engine, "front"), _device(engine, "back")
    with engine.begin() as conn:
        for minute in range(5):
            for device_id in (front, back):
                store.start_run(
                    conn,
                    device_id,
                    trigger="schedule",
                    host="h",
                    started_at=T0.replace(minute=minute),
                )
        runs = store.recent_runs(conn, limit=3)
        front_runs = store.recent_runs(conn, front)
    assert len(runs) == 3
    assert [r["started_at"].minute for r in runs] == [4, 4, 3]
    assert len(front_runs) == 5 and {r["device_name"] for r in front_runs} == {"front"}
    assert front_runs[0]["started_at"] > front_runs[-1]["started_at"]
    assert {"id", "status", "records_new", "error", "host", "trigger"} <= set(runs[0])


# --------------------------------------------------------------------------- punches


def test_insert_punches_is_idempotent(engine: Engine) -> None:
    device_id = _device(engine)
    rows = [_punch(device_id, str(n % 7), T0 + timedelta(minutes=n)) for n in range(50)]
    with engine.begin() as conn:
        assert store.insert_punches(conn, rows) == 50
    with engine.begin() as conn:
        again = store.insert_punches(conn, rows)
    # MySQL/MariaDB cannot report skipped rows: there the caller's count comes back.
    assert again == (50 if _is_mysql(engine) else 0)
    assert _count(engine, att_punch) == 50

    more = [*rows[:10], _punch(device_id, "1", T0, state="out")]  # same time, other state
    with engine.begin() as conn:
        added = store.insert_punches(conn, more)
    assert added == (11 if _is_mysql(engine) else 1)
    assert _count(engine, att_punch) == 51
    with engine.begin() as conn:
        assert store.insert_punches(conn, []) == 0


def test_insert_punches_in_several_chunks(engine: Engine, monkeypatch) -> None:
    monkeypatch.setattr(store, "PUNCH_CHUNK", 1000)
    device_id = _device(engine)
    rows = [_punch(device_id, str(n % 97), T0 + timedelta(seconds=n)) for n in range(3500)]
    with engine.begin() as conn:
        assert store.insert_punches(conn, rows[:1200]) == 1200
    with engine.begin() as conn:
        inserted = store.insert_punches(conn, rows)
    assert inserted == (3500 if _is_mysql(engine) else 2300)
    assert _count(engine, att_punch) == 3500
    with engine.connect() as conn:
        assert len(store.existing_punch_keys(conn, device_id)) == 3500


def test_existing_punch_keys_round_trip_exactly(engine: Engine) -> None:
    device_id = _device(engine)
    other = _device(engine, "back")
    times = [
        T0,
        T0 + timedelta(seconds=1),
        T0 + timedelta(hours=1, seconds=3),  # 03:00:01, inside a skipped DST hour
        datetime(2024, 10, 27, 2, 30, 0),  # an ambiguous DST hour
        datetime(1999, 12, 31, 23, 59, 59),
        datetime(2038, 1, 19, 3, 14, 8),  # past 32-bit time_t
        datetime(2024, 2, 29, 0, 0, 0),
    ]
    states = ["in", "out", "break_out", "break_in", "ot_in", "ot_out", "unknown"]
    rows = [
        _punch(device_id, f"E{n:05d}", at, state=state)
        for n, (at, state) in enumerate(zip(times, states, strict=True))
    ]
    rows.append(_punch(other, "E00000", T0))
    rows.append(_punch(device_id, "E99999", T0 + timedelta(microseconds=750_000)))
    with engine.begin() as conn:
        store.insert_punches(conn, rows)
    expected = {(r["enroll_no"], r["punched_at"], r["state"]) for r in rows[:-2]}
    expected.add(("E99999", T0, "in"))  # stored to the second
    with engine.connect() as conn:
        keys = store.existing_punch_keys(conn, device_id)
        assert keys == expected
        assert all(isinstance(at, datetime) and at.tzinfo is None for _, at, _ in keys)
        recent = store.existing_punch_keys(conn, device_id, since=T0 + timedelta(seconds=1))
        assert recent == {k for k in expected if k[1] >= T0 + timedelta(seconds=1)}
        stored = conn.execute(
            select(
                att_punch.c.punched_at, att_punch.c.punched_at_utc, att_punch.c.collected_at
            ).where(att_punch.c.enroll_no == "E00000", att_punch.c.device_id == device_id)
        ).one()
    assert stored == (T0, T0 - timedelta(hours=2), datetime(2024, 4, 1, 12, 0, 0))


def test_insert_punches_timezone_handling(engine: Engine) -> None:
    device_id = _device(engine)
    plus2 = timezone(timedelta(hours=2))
    with engine.begin() as conn:
        store.insert_punches(
            conn,
            [_punch(device_id, "1", T0, punched_at_utc=T0.replace(tzinfo=plus2))],
        )
        with pytest.raises(ValueError, match="naive"):
            store.insert_punches(conn, [_punch(device_id, "2", T0.replace(tzinfo=plus2))])
    with engine.connect() as conn:
        utc = conn.execute(select(att_punch.c.punched_at_utc)).scalar_one()
    assert utc == T0 - timedelta(hours=2)


def test_manual_punches_without_device(engine: Engine) -> None:
    row = _punch(None, "7", T0, source="manual", verify_mode=None, work_code="17")
    with engine.begin() as conn:
        assert store.insert_punches(conn, [row]) == 1
        store.insert_punches(conn, [row])  # NULL device: the identity key does not apply
    with engine.connect() as conn:
        stored = conn.execute(select(att_punch)).all()
    assert len(stored) == 2
    assert {(r.source, r.device_id, r.work_code, r.verify_mode) for r in stored} == {
        ("manual", None, "17", None)
    }


def test_device_overview(engine: Engine) -> None:
    front, back = _device(engine, "front"), _device(engine, "back")
    _device(engine, "annex")  # never collected
    with engine.begin() as conn:
        run_id = store.start_run(conn, front, trigger="manual", host="h", started_at=T0)
        store.insert_punches(
            conn,
            [_punch(front, str(n), T0 + timedelta(minutes=n), run_id=run_id) for n in range(30)]
            + [_punch(back, "1", T0)]
            + [_punch(None, "1", T0 + timedelta(days=9), source="manual")],
        )
        store.finish_run(
            conn,
            run_id,
            status="ok",
            finished_at=T0 + timedelta(minutes=1),
            records_read=30,
            records_new=30,
        )
        store.update_device_info(conn, front, firmware="Ver 6.60", clock_drift_seconds=0.5)
        overview = store.device_overview(conn)
    assert [d["name"] for d in overview] == ["annex", "back", "front"]
    annex, back_row, front_row = overview
    assert annex["punch_count"] == 0 and annex["last_punch_at"] is None
    assert annex["last_run"] is None
    assert back_row["punch_count"] == 1 and back_row["last_punch_at"] == T0
    assert front_row["punch_count"] == 30
    assert front_row["last_punch_at"] == T0 + timedelta(minutes=29)
    assert front_row["firmware"] == "Ver 6.60" and front_row["clock_drift_seconds"] == 0.5
    assert front_row["address"] == "tcp://10.0.0.5:4370" and front_row["driver"] == "zk"
    last = front_row["last_run"]
    assert (last["id"], last["status"], last["records_read"], last["records_new"]) == (
        run_id,
        "ok",
        30,
        30,
    )
    assert last["started_at"] == T0 and last["error"] is None


def test_punches_keep_device_local_time_exactly(engine: Engine) -> None:
    """punched_at is stored as reported; the session time zone must not matter."""
    device_id = _device(engine)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SET TIME ZONE 'America/New_York'"))
        elif _is_mysql(engine):
            conn.execute(text("SET time_zone = '-05:00'"))
        store.insert_punches(conn, [_punch(device_id, "1", T0)])
        assert conn.execute(select(att_punch.c.punched_at)).scalar_one() == T0
    with engine.connect() as conn:
        assert conn.execute(select(att_punch.c.punched_at)).scalar_one() == T0
    with engine.begin() as conn:
        conn.execute(update(att_punch).values(state="out"))
        assert store.existing_punch_keys(conn, device_id) == {("1", T0, "out")}


def test_sqlite_fast_path_stores_what_sqlalchemy_stores(tmp_path, monkeypatch) -> None:
    from punchd.storage import _bulk

    """insert_punches bypasses SQLAlchemy's parameter processing on SQLite; the text it
    stores must be exactly SQLAlchemy's, or the unique key and comparisons would break."""
    eng = make_engine(f"sqlite:///{tmp_path / 'fast.db'}")
    try:
        upgrade(eng)
        assert _bulk._sqlite_converters(eng.dialect, att_punch, store.PUNCH_COLUMNS)
        device_id = _device(eng)
        rows = [_punch(device_id, "1", T0 + timedelta(hours=n)) for n in range(10)]
        with eng.begin() as conn:
            assert store.insert_punches(conn, rows) == 10
        monkeypatch.setattr(_bulk, "_sqlite_converters", lambda dialect, table, keys: None)
        with eng.begin() as conn:
            assert store.insert_punches(conn, rows) == 0  # the generic path hits the same keys
            found = conn.execute(
                select(func.count()).where(att_punch.c.punched_at == T0 + timedelta(hours=3))
            ).scalar_one()
            raw = conn.exec_driver_sql("SELECT punched_at FROM att_punch LIMIT 1").scalar_one()
        assert found == 1
        assert raw == "2024-03-31 01:59:58.000000"
    finally:
        eng.dispose()


def test_device_punch_counts_follow_every_insert(engine: Engine) -> None:
    """The device row's punch count and newest punch, kept by insert_punches itself: exact
    after re-sent batches, older punches arriving late, and several devices at once."""
    gate = _device(engine, "gate")
    side = _device(engine, "side")

    def counts() -> dict[str, tuple[int, datetime | None]]:
        with engine.connect() as conn:
            return {
                d["name"]: (d["punch_count"], d["last_punch_at"])
                for d in store.device_overview(conn)
            }

    first = [_punch(gate, str(n), T0 + timedelta(minutes=n)) for n in range(40)]
    with engine.begin() as conn:
        store.insert_punches(conn, first)
    assert counts()["gate"] == (40, T0 + timedelta(minutes=39))
    with engine.begin() as conn:  # the same batch again, plus two older ones
        older = [_punch(gate, "x", T0 - timedelta(days=1)), _punch(gate, "y", T0)]
        store.insert_punches(conn, first + older)
    assert counts()["gate"] == (42, T0 + timedelta(minutes=39))
    with engine.begin() as conn:  # rows of two devices in one call
        store.insert_punches(
            conn, [_punch(side, "1", T0), _punch(gate, "z", T0 + timedelta(hours=5))]
        )
    assert counts() == {"gate": (43, T0 + timedelta(hours=5)), "side": (1, T0)}
    with engine.connect() as conn:  # rolled back: the counts roll back with the punches
        store.insert_punches(conn, [_punch(side, "2", T0 + timedelta(days=2))])
        conn.rollback()
    assert counts()["side"] == (1, T0)


def test_upgrade_to_0006_counts_the_punches_already_stored(db_url: str) -> None:
    from sqlalchemy import text

    from punchd.storage.database import downgrade, upgrade

    engine = make_engine(db_url)
    try:
        upgrade(engine, "0005")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO att_device (name, driver, address, created_at, updated_at)"
                    " VALUES ('gate', 'zk', 'x', :t, :t), ('idle', 'zk', 'y', :t, :t)"
                ),
                {"t": T0},
            )
            gate = conn.execute(text("SELECT id FROM att_device WHERE name = 'gate'")).scalar()
            for n in range(3):
                conn.execute(
                    text(
                        "INSERT INTO att_punch (device_id, enroll_no, punched_at, punched_at_utc,"
                        " state, source, collected_at, void) VALUES (:d, '1', :at, :at, 'in',"
                        " 'device', :at, :f)"
                    ),
                    {"d": gate, "at": T0 + timedelta(hours=n), "f": False},
                )
        upgrade(engine)
        with engine.connect() as conn:
            rows = {d["name"]: d for d in store.device_overview(conn)}
        assert (rows["gate"]["punch_count"], rows["gate"]["last_punch_at"]) == (
            3,
            T0 + timedelta(hours=2),
        )
        assert (rows["idle"]["punch_count"], rows["idle"]["last_punch_at"]) == (0, None)
        downgrade(engine, "0005")
        upgrade(engine)
    finally:
        engine.dispose()


def test_the_head_read_from_the_migration_files_is_alembics() -> None:
    """ensure_schema's fast path (no Alembic import when the database is current) reads the
    head from the files; it must agree with Alembic's."""
    from punchd.storage.database import _shipped_head, head_revision

    assert _shipped_head() == head_revision()
