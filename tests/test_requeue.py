"""The re-process queue (:mod:`punchd.processing.requeue`) on every backend: the spool after
an outage, drainers running at once, rows committed out of id order, the log line."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine
from structlog.testing import capture_logs

from punchd.collector.daemon import Daemon
from punchd.collector.hooks import DatabaseProcessing
from punchd.collector.spool import Spool
from punchd.config import load_settings
from punchd.hr import service as hr
from punchd.processing import requeue
from punchd.processing.runner import process
from punchd.rules import holiday_file, holidays, schedules, sync
from punchd.rules import leave as rules_leave
from punchd.rules import settings as rules_settings
from punchd.rules.file import parse_rules
from punchd.storage.schema import att_day, att_employee

MON = date(2025, 3, 3)
TUE, WED, THU, FRI = (MON + timedelta(days=i) for i in range(1, 5))
NOW = datetime(2025, 4, 1, 12, 0)  # processing "now": every window of the week has closed
RULES = """
[[period]]
code = "DAY"
start = "08:00"
end = "17:00"

[[shift]]
code = "OFFICE"
name = "Office"
periods = ["DAY"]

[[schedule]]
shift = "OFFICE"
department = "ADMIN"
from = 2025-01-01
"""


def _site(engine: Engine) -> dict[str, int]:
    """Three employees, the office shift, the week processed (nobody punched: absent)."""
    with engine.begin() as conn:
        for no, enroll in (("E1", "101"), ("E2", "102"), ("E3", "103")):
            hr.add_employee(
                conn, no, no, "ADMIN", date(2024, 1, 1), actor="t", now=NOW, enroll_no=enroll
            )
        sync.apply_rules_file(conn, parse_rules(RULES), actor="t")
    process(engine, MON, FRI, now=NOW, actor="t")
    with engine.connect() as conn:  # what the setup queued is covered by the run above
        queued = requeue.pending(conn)
        ids = dict(conn.execute(select(att_employee.c.employee_no, att_employee.c.id)).all())
    requeue.forget(engine, queued)
    return ids


def _status(engine: Engine, employee_id: int, day: date) -> str:
    with engine.connect() as conn:
        return conn.execute(
            select(att_day.c.status).where(
                att_day.c.employee_id == employee_id, att_day.c.work_date == day
            )
        ).scalar_one()


def _backlog(engine: Engine) -> int:
    with engine.connect() as conn:
        return requeue.backlog(conn)


def _spool_rows(enroll_no: str, day: date) -> list[dict]:
    return [
        {
            "enroll_no": enroll_no,
            "punched_at": datetime.combine(day, time.fromisoformat(hhmm)),
            "punched_at_utc": datetime.combine(day, time.fromisoformat(hhmm)) - timedelta(hours=8),
            "state": "unknown",
            "verify_mode": 1,
            "work_code": None,
            "source": "device",
            "collected_at": NOW,
        }
        for hhmm in ("07:55", "17:05")
    ]


def test_spool_flush_queues_the_days_of_what_it_stored(engine: Engine, tmp_path: Path) -> None:
    emp = _site(engine)
    spool = Spool(tmp_path / "spool")  # what a poll wrote while the database was down
    spool.write(device="front", driver="zk", address="127.0.0.1:4370", rows=_spool_rows("102", WED))
    assert spool.flush(engine) == 2
    with engine.connect() as conn:
        queued = [(r.employee_id, r.date_from, r.date_to, r.reason) for r in requeue.pending(conn)]
    assert queued == [(emp["E2"], WED, WED, "spool")]
    assert _status(engine, emp["E2"], WED) == "absent"  # stale until drained
    done = requeue.drain(engine, now=NOW, actor="t")
    assert (done.changes, done.employees, done.employee_days) == (1, 1, 1)
    assert _status(engine, emp["E2"], WED) == "present"
    assert _backlog(engine) == 0


def test_daemon_drains_after_flushing_the_spool(engine: Engine, tmp_path: Path) -> None:
    emp = _site(engine)
    settings = load_settings(None, data_dir=tmp_path, timezone="Asia/Shanghai")
    daemon = Daemon(settings, engine)
    daemon.spool.write(
        device="front", driver="zk", address="127.0.0.1:4370", rows=_spool_rows("103", THU)
    )
    daemon._flush_spool()  # the job the daemon runs every 15 s, and after a good poll
    assert _status(engine, emp["E3"], THU) == "present"
    assert _backlog(engine) == 0
    assert daemon.last_processing_at is not None


def test_drainers_at_once_lose_nothing(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """Drainer A reads the queue; while it processes, drainer B drains the same rows and a
    change is committed; A then deletes only what it read: the change stays queued."""
    emp = _site(engine)
    with engine.begin() as conn:
        rules_leave.add_leave(conn, "E1", "annual", MON, actor="t")
    real = requeue.process_employees
    calls: list[int] = []

    def meanwhile(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:  # inside A
            other = threading.Thread(
                target=requeue.drain, args=(engine,), kwargs={"now": NOW, "actor": "b"}
            )
            other.start()
            other.join()
            with engine.begin() as conn:
                rules_leave.add_leave(conn, "E2", "sick", TUE, actor="t")
        return real(*args, **kwargs)

    monkeypatch.setattr(requeue, "process_employees", meanwhile)
    first = requeue.drain(engine, now=NOW, actor="a")
    assert first.changes == 1
    with engine.connect() as conn:
        left = [(r.employee_id, r.date_from, r.reason) for r in requeue.pending(conn)]
    assert left == [(emp["E2"], TUE, "leave")]
    monkeypatch.setattr(requeue, "process_employees", real)
    requeue.drain(engine, now=NOW, actor="a")
    assert _status(engine, emp["E1"], MON) == "leave"
    assert _status(engine, emp["E2"], TUE) == "leave"
    assert _backlog(engine) == 0


def test_concurrent_drains_on_a_real_database(engine: Engine) -> None:
    emp = _site(engine)
    with engine.begin() as conn:
        for no in ("E1", "E2", "E3"):
            for day in (MON, WED, FRI):
                rules_leave.add_leave(conn, no, "trip", day, actor="t")
    assert _backlog(engine) == 9
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def drainer(actor: str) -> None:
        try:
            start.wait()
            requeue.drain_all(engine, now=NOW, actor=actor)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=drainer, args=(a,)) for a in ("daemon", "hr")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert _backlog(engine) == 0
    for no in ("E1", "E2", "E3"):
        assert [_status(engine, emp[no], d) for d in (MON, TUE, WED, THU, FRI)] == [
            "leave",
            "absent",
            "leave",
            "absent",
            "leave",
        ]


def test_a_row_committed_after_a_higher_id_is_not_lost(engine: Engine) -> None:
    """On servers, ids are handed out at INSERT but rows appear at COMMIT: a drain that saw
    id n+1 must not delete id n committed later."""
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite has one writer at a time: rows commit in id order")
    emp = _site(engine)
    slow = engine.connect()
    try:
        tx = slow.begin()
        requeue.enqueue(
            slow, employee_id=emp["E1"], date_from=MON, date_to=MON, reason="leave"
        )  # gets the lower id, commits last
        with engine.begin() as conn:
            requeue.enqueue(conn, employee_id=emp["E2"], date_from=TUE, date_to=TUE, reason="leave")
        done = requeue.drain(engine, now=NOW, actor="t")
        assert done.changes == 1
        tx.commit()
    finally:
        slow.close()
    with engine.connect() as conn:
        assert [(r.employee_id, r.date_from) for r in requeue.pending(conn)] == [(emp["E1"], MON)]


def test_re_processed_log_line_counts_each_employee_once(engine: Engine) -> None:
    emp = _site(engine)
    with engine.begin() as conn:
        for no, day in (("E1", MON), ("E1", WED), ("E2", MON), ("E2", TUE)):
            requeue.enqueue(conn, employee_id=emp[no], date_from=day, date_to=day, reason="t")
        requeue.enqueue(conn, department_id=None, date_from=FRI, date_to=FRI, reason="rules")
    with capture_logs() as logs:
        done = DatabaseProcessing(timezone="Asia/Shanghai").drain(engine)
    assert done is not None
    line = [e for e in logs if e["event"] == "re-processed"]
    assert len(line) == 1
    # E1: MON, WED, FRI; E2: MON–TUE, FRI; E3: FRI — three employees, seven employee-days
    assert (line[0]["employees"], line[0]["employee_days"], line[0]["changes"]) == (3, 7, 5)


def test_edits_queue_only_dates_that_have_results(engine: Engine) -> None:
    emp = _site(engine)
    with engine.begin() as conn:
        rules_leave.add_leave(conn, "E1", "annual", MON + timedelta(days=60), actor="t")
        rules_leave.add_leave(conn, "E1", "annual", THU, FRI + timedelta(days=30), actor="t")
        hr.separate(conn, "E3", WED, actor="t")
        holidays.add_holiday(conn, MON, name="x", actor="t")
        queued = [
            (r.employee_id, r.department_id, r.date_from, r.date_to, r.reason)
            for r in requeue.pending(conn)
        ]
    assert queued == [
        (emp["E1"], None, THU, FRI, "leave"),  # clipped to the processed week
        (emp["E3"], None, THU, FRI, "separation"),
        (None, None, MON, MON, "holiday"),  # everyone
    ]


def test_every_other_edit_queues_its_days(engine: Engine) -> None:
    emp = _site(engine)

    def queued_by(edit: Callable[[Connection], object]) -> list[tuple]:
        with engine.begin() as conn:
            edit(conn)
            rows = [
                (r.employee_id, r.department_id, r.date_from, r.date_to, r.reason)
                for r in requeue.pending(conn)
            ]
        requeue.drain(engine, now=NOW, actor="t")
        return rows

    with engine.connect() as conn:
        admin = hr.get_department(conn, "ADMIN").id
    leave = []
    assert queued_by(
        lambda c: leave.append(rules_leave.add_leave(c, "E1", "sick", TUE, WED, actor="t"))
    ) == [(emp["E1"], None, TUE, WED, "leave")]
    assert queued_by(lambda c: rules_leave.remove_leave(c, leave[0], actor="t")) == [
        (emp["E1"], None, TUE, WED, "leave")
    ]
    part = datetime.combine(THU, time(14)), datetime.combine(THU, time(16))
    assert queued_by(lambda c: rules_leave.add_leave(c, "E2", "personal", *part, actor="t")) == [
        (emp["E2"], None, THU, THU, "leave")
    ]
    schedule = []
    assert queued_by(
        lambda c: schedule.append(
            schedules.assign_schedule(c, "OFFICE", employee_no="E3", date_from=THU, actor="t")
        )
    ) == [(emp["E3"], None, THU, FRI, "schedule")]
    assert queued_by(lambda c: schedules.remove_schedule(c, schedule[0], actor="t")) == [
        (emp["E3"], None, THU, FRI, "schedule")
    ]
    assert queued_by(
        lambda c: schedules.set_override(c, WED, department_code="ADMIN", actor="t")
    ) == [(None, admin, WED, WED, "override")]
    assert queued_by(
        lambda c: schedules.clear_override(c, WED, department_code="ADMIN", actor="t")
    ) == [(None, admin, WED, WED, "override")]
    with engine.begin() as conn:
        holidays.add_holiday(conn, FRI, name="x", actor="t")
    requeue.drain(engine, now=NOW, actor="t")
    assert queued_by(lambda c: holidays.remove_holiday(c, FRI, actor="t")) == [
        (None, None, FRI, FRI, "holiday")
    ]
    assert queued_by(lambda c: rules_settings.unset_setting(c, "collapse_minutes", actor="t")) == []
    assert queued_by(lambda c: rules_settings.set_setting(c, "collapse_minutes", 3, actor="t")) == [
        (None, None, MON, FRI, "rules")
    ]
    at = datetime.combine(WED, time(12))
    assert queued_by(lambda c: hr.issue_card(c, "5005", "E1", at, actor="t")) == [
        (emp["E1"], None, WED, FRI, "card")
    ]
    # passed on: the holder before and the one after, from then on
    assert sorted(
        queued_by(lambda c: hr.issue_card(c, "5005", "E2", at + timedelta(days=1), actor="t"))
    ) == [(emp["E1"], None, THU, FRI, "card"), (emp["E2"], None, THU, FRI, "card")]
    assert queued_by(lambda c: hr.withdraw_card(c, "5005", at + timedelta(days=2), actor="t")) == [
        (emp["E2"], None, FRI, FRI, "card")
    ]
    assert queued_by(lambda c: hr.unseparate(c, "E3", actor="t")) == []  # nothing changed


def test_a_holiday_file_queues_each_changed_date_for_everyone(engine: Engine) -> None:
    _site(engine)
    text = (
        f"date,kind,name\n{MON},holiday,a\n{TUE},holiday,b\n{THU},workday,c\n"
        f"{FRI + timedelta(days=60)},holiday,later\n"
    )
    with engine.begin() as conn:
        holidays.import_holidays(
            conn, holiday_file.parse_holiday_csv(text), actor="t", source="h.csv"
        )
        queued = [(r.employee_id, r.date_from, r.date_to) for r in requeue.pending(conn)]
    # consecutive dates in one row; the date nobody has processed yet is not queued
    assert queued == [(None, MON, TUE), (None, THU, THU)]
