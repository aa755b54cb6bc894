"""Pay periods on every backend: a close refused with open items, a close, edits refused, a
punch collected after the close stored and noted but the closed numbers unchanged, reopen,
re-process, close version 2; department closes; the payroll export byte-identical twice."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import Engine

from punchd import clock
from punchd.app import Actor, Site, attendance, people
from punchd.app import periods as ops
from punchd.app import rules as rule_ops
from punchd.collector.spool import Spool
from punchd.config import Settings
from punchd.errors import InvalidInput
from punchd.hr import service as hr
from punchd.processing.closing import PeriodClosed
from punchd.rules import sync
from punchd.rules.file import parse_rules
from punchd.storage.schema import att_after_close, att_audit, att_day, att_employee, att_leave

HR = Actor("hr-anna")
TZ = "Asia/Shanghai"
NOV1, NOV30 = date(2026, 11, 1), date(2026, 11, 30)
MON2, TUE3, WED4 = date(2026, 11, 2), date(2026, 11, 3), date(2026, 11, 4)
TODAY = date(2026, 12, 10)  # every window of November has closed
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
from = 2026-01-01

[[schedule]]
shift = "OFFICE"
department = "OPS"
from = 2026-01-01
"""


@pytest.fixture
def site(engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Site:
    monkeypatch.setattr(clock, "_shift", clock.clock_shift())  # restored after the test
    clock.set_today(TODAY, clock.zone(TZ))
    with engine.begin() as conn:
        hr.add_department(conn, "ADMIN", "Admin", actor="t")
        hr.add_department(conn, "OPS", "Operations", actor="t")
        for no, enroll, dept in (
            ("E1", "101", "ADMIN"),
            ("E2", "102", "ADMIN"),
            ("E3", "103", "OPS"),
        ):
            hr.add_employee(
                conn,
                no,
                f"Name {no}",
                dept,
                date(2024, 1, 1),
                actor="t",
                now=datetime(2026, 1, 1),
                enroll_no=enroll,
            )
        sync.apply_rules_file(conn, parse_rules(RULES), actor="t")
    return Site(Settings(data_dir=tmp_path, timezone=TZ), engine)


def collect(site: Site, tmp_path: Path, enroll_no: str, day: date, *times: str) -> None:
    """Punches arriving the way a collection stores them (the spool drain: the one punch
    write path), then the queue drained as the daemon does."""
    rows = []
    for hhmm in times:
        at = datetime.combine(day, time.fromisoformat(hhmm))
        rows.append(
            {
                "enroll_no": enroll_no,
                "punched_at": at,
                "punched_at_utc": at - timedelta(hours=8),
                "state": "unknown",
                "verify_mode": 1,
                "work_code": None,
                "source": "device",
                "collected_at": clock.utc_stamp(),
            }
        )
    spool = Spool(tmp_path / "spool")
    spool.write(device="front", driver="zk", address="127.0.0.1:4370", rows=rows)
    assert spool.flush(site.engine) == len(rows)
    assert attendance.refresh(site).ok


def day(site: Site, no: str, d: date) -> tuple[str, str, int | None, int]:
    with site.engine.connect() as conn:
        row = conn.execute(
            select(
                att_day.c.status,
                att_day.c.period_state,
                att_day.c.close_version,
                att_day.c.absent_minutes,
            )
            .join(att_employee, att_employee.c.id == att_day.c.employee_id)
            .where(att_employee.c.employee_no == no, att_day.c.work_date == d)
        ).one()
    return tuple(row)


def payroll_rows(site: Site) -> list[tuple]:
    with site.engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                text(
                    "SELECT employee_no, days, present_days, absent_minutes, close_version,"
                    " period_state FROM att_payroll_month WHERE month = '2026-11'"
                    " ORDER BY employee_no"
                )
            )
        ]


def test_close_edit_late_punch_reopen_close_again(site: Site, tmp_path: Path) -> None:
    collect(site, tmp_path, "101", MON2, "07:55")  # E1 forgot to punch out: missing_out
    attendance.process(site, NOV1, NOV30, actor=HR)

    with pytest.raises(ops.PeriodOpen) as refused:
        ops.close_period(site, "2026-11", actor=HR)
    assert [(no, d, kind) for no, d, kind, _ in refused.value.items.blocking] == [
        ("E1", MON2, "missing_out")
    ]
    assert "E1 2026-11-02 missing_out" in str(refused.value)
    assert ops.list_periods(site) == []
    with pytest.raises(InvalidInput, match="--force needs --reason"):
        ops.close_period(site, "2026-11", force=True, actor=HR)

    rule_ops.add_punch(
        site, "E1", datetime(2026, 11, 2, 17, 5), reason="forgot", state="out", actor=HR
    )
    assert attendance.refresh(site).ok
    assert ops.open_items(site, "2026-11").count == 0
    closed = ops.close_period(site, "2026-11", actor=HR)
    assert (closed.version, closed.forced, closed.departments) == (1, False, [])
    assert closed.days == 90  # 3 employees x 30 days
    assert day(site, "E1", MON2)[:3] == ("present", "closed", 1)
    before = payroll_rows(site)
    assert [r[0] for r in before] == ["E1", "E2", "E3"]
    assert {(r[4], r[5]) for r in before} == {(1, "closed")}
    with pytest.raises(ops.PeriodError, match="already closed for everyone"):
        ops.close_period(site, "2026-11", actor=HR)

    # edits that would change closed days are refused, naming the period; nothing changes
    with pytest.raises(PeriodClosed, match=r"closed pay period 2026-11 .*version 1") as edit:
        rule_ops.add_leave(site, "E2", "annual", TUE3, actor=HR)
    assert "employee E2" in str(edit.value) and "punchd period reopen 2026-11" in str(edit.value)
    with pytest.raises(PeriodClosed, match="a manual punch"):
        rule_ops.add_punch(
            site, "E2", datetime(2026, 11, 3, 8, 0), reason="x", state="in", actor=HR
        )
    with pytest.raises(PeriodClosed, match="a holiday change"):
        rule_ops.add_holiday(site, WED4, name="Extra", actor=HR)
    with pytest.raises(PeriodClosed, match="a separation date"):
        people.separate(site, "E3", date(2026, 11, 20), actor=HR)
    with pytest.raises(PeriodClosed, match="processing"):
        attendance.process(site, NOV1, date(2026, 12, 5), actor=HR)
    with site.engine.connect() as conn:
        assert conn.execute(select(att_leave.c.id)).all() == []
    # December is open: edits there go ahead
    rule_ops.add_leave(site, "E2", "annual", date(2026, 12, 1), actor=HR)

    # a punch collected after the close: stored, noted, closed numbers unchanged
    collect(site, tmp_path, "102", WED4, "07:58", "17:02")
    assert day(site, "E2", WED4) == ("absent", "closed", 1, 540)
    assert payroll_rows(site) == before
    view = ops.show_period(site, "2026-11")
    assert view.state == "closed"
    assert [(a.employee_no, a.work_date, a.reason, a.version) for a in view.after_close] == [
        ("E2", WED4, "spool", 1)
    ]
    notice = ops.after_close_notice(site)
    assert notice is not None and notice.code == "arrived_after_close"
    assert notice.params["count"] == 1 and notice.params["months"] == "2026-11"

    # reopen (audited), re-process, close version 2
    with pytest.raises(InvalidInput, match="needs --reason"):
        ops.reopen_period(site, "2026-11", reason=" ", actor=HR)
    reopened = ops.reopen_period(site, "2026-11", reason="late punches of E2", actor=HR)
    assert (reopened.versions, reopened.days) == ([1], 90)
    assert attendance.refresh(site).ok
    assert day(site, "E2", WED4) == ("present", "open", None, 0)
    again = ops.close_period(site, "2026-11", actor=HR)
    assert again.version == 2
    after = payroll_rows(site)
    assert {(r[4], r[5]) for r in after} == {(2, "closed")}
    e2 = next(r for r in after if r[0] == "E2")
    e2_before = next(r for r in before if r[0] == "E2")
    assert e2[2] == e2_before[2] + 1 and e2[3] == e2_before[3] - 540
    periods = ops.list_periods(site, "2026-11")
    assert [(p.version, p.state, p.reopen_reason) for p in periods] == [
        (1, "reopened", "late punches of E2"),
        (2, "closed", None),
    ]
    with site.engine.connect() as conn:
        actions = conn.execute(
            select(att_audit.c.action, att_audit.c.changed_by)
            .where(att_audit.c.entity == "pay_period")
            .order_by(att_audit.c.id)
        ).all()
    assert [tuple(a) for a in actions] == [
        ("close", "hr-anna"),
        ("reopen", "hr-anna"),
        ("close", "hr-anna"),
    ]


def test_forced_close_and_department_close(site: Site, tmp_path: Path) -> None:
    attendance.process(site, NOV1, NOV30, actor=HR)
    collect(site, tmp_path, "103", MON2, "07:55")  # E3 (OPS): missing_out
    with pytest.raises(ops.PeriodOpen):
        ops.close_period(site, "2026-11", departments=["OPS"], actor=HR)
    done = ops.close_period(site, "2026-11", departments=["ADMIN"], actor=HR)
    assert (done.departments, done.days) == (["ADMIN"], 60)
    assert ops.show_period(site, "2026-11").state == "partly closed"
    assert day(site, "E3", MON2)[1] == "open"
    # OPS is open: its edits go ahead; ADMIN's are refused
    rule_ops.add_leave(site, "E3", "sick", TUE3, actor=HR)
    with pytest.raises(PeriodClosed, match="department ADMIN"):
        rule_ops.add_leave(site, "E1", "sick", TUE3, actor=HR)
    forced = ops.close_period(
        site, "2026-11", departments=["OPS"], force=True, reason="payroll deadline", actor=HR
    )
    assert (forced.version, forced.forced, forced.open_items) == (2, True, 1)
    with pytest.raises(ops.PeriodError, match="2026-10 is not closed"):
        ops.reopen_period(site, "2026-10", reason="x", actor=HR)
    with pytest.raises(InvalidInput, match="YYYY-MM"):
        ops.close_period(site, "2026-13", actor=HR)
    # the leave type is a column of att_exception and of the payroll leave view
    with site.engine.connect() as conn:
        leave = conn.execute(
            text("SELECT employee_no, leave_kind, leave_days, leave_minutes FROM att_payroll_leave")
        ).all()
    assert [tuple(r) for r in leave] == [("E3", "sick", 1, 540)]


def test_payroll_export_is_byte_identical_and_checksummed(site: Site, tmp_path: Path) -> None:
    attendance.process(site, NOV1, NOV30, actor=HR)
    with pytest.raises(ops.PeriodError, match="no closed results"):
        ops.export_payroll(site, "2026-11", "csv", tmp_path / "p.csv")
    rule_ops.add_leave(site, "E1", "annual", TUE3, actor=HR)
    assert attendance.refresh(site).ok
    with site.engine.begin() as conn:  # a name a spreadsheet would evaluate
        conn.execute(
            att_employee.update()
            .where(att_employee.c.employee_no == "E2")
            .values(name='=HYPERLINK("http://x")')
        )
    ops.close_period(site, "2026-11", actor=HR)
    for fmt in ("csv", "xlsx", "json"):
        first = ops.export_payroll(site, "2026-11", fmt, tmp_path / f"a.{fmt}")
        body = first.path.read_bytes()
        second = ops.export_payroll(site, "2026-11", fmt, tmp_path / f"b.{fmt}")
        assert second.path.read_bytes() == body, fmt
        assert first.sha256 == hashlib.sha256(body).hexdigest() == second.sha256
        assert first.manifest.read_text() == f"{first.sha256}  a.{fmt}\n"
        assert (first.employees, first.version) == (3, 1)
    rows = list(csv.reader(io.StringIO((tmp_path / "a.csv").read_bytes().decode("utf-8-sig"))))
    header = rows[0]
    assert "Leave annual minutes" in header and "Days worked" in header
    e1 = dict(zip(header, rows[1], strict=True))
    assert (e1["Employee no"], e1["Leave annual minutes"], e1["Absent days"]) == ("E1", "540", "20")
    assert rows[2][1].startswith("'=")  # neutralised
    doc = json.loads((tmp_path / "a.json").read_text())
    assert doc["month"] == "2026-11" and doc["leave_types"] == ["annual"]
    assert doc["employees"][0]["leave:annual"] == 540
    with zipfile.ZipFile(tmp_path / "a.xlsx") as book:
        assert {i.date_time for i in book.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        sheet = book.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet  # no formula cell


def test_after_close_rows_are_not_noted_twice(site: Site, tmp_path: Path) -> None:
    attendance.process(site, NOV1, NOV30, actor=HR)
    ops.close_period(site, "2026-11", force=True, reason="test", actor=HR)
    collect(site, tmp_path, "101", WED4, "07:50")
    collect(site, tmp_path, "101", WED4, "17:10")
    with site.engine.connect() as conn:
        assert len(conn.execute(select(att_after_close.c.id)).all()) == 1


def test_an_employee_moved_after_a_department_close_stays_closed(
    site: Site, tmp_path: Path
) -> None:
    attendance.process(site, NOV1, NOV30, actor=HR)
    ops.close_period(site, "2026-11", departments=["ADMIN"], actor=HR)
    with site.engine.begin() as conn:  # E1 moves to OPS (as a roster import would)
        ops_id = conn.execute(text("SELECT id FROM att_department WHERE code = 'OPS'")).scalar()
        conn.execute(
            att_employee.update()
            .where(att_employee.c.employee_no == "E1")
            .values(department_id=ops_id)
        )
    with pytest.raises(PeriodClosed, match=r"2026-11-03 of employee E1.*department ADMIN"):
        rule_ops.add_leave(site, "E1", "annual", TUE3, actor=HR)
    collect(site, tmp_path, "101", WED4, "07:58", "17:02")  # drained: E1's closed day stays
    assert day(site, "E1", WED4)[:3] == ("absent", "closed", 1)
    report = attendance.build_report(site, "detail", NOV1, NOV30).report
    assert any("punches arrived after close for 1 employee-days" in n for n in report.notes)
    ops.reopen_period(site, "2026-11", departments=["ADMIN"], reason="move", actor=HR)
    assert attendance.refresh(site).ok
    assert day(site, "E1", WED4)[:3] == ("present", "open", None)


def test_two_closes_of_a_month_at_the_same_moment_commit_one_version(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    attendance.process(site, NOV1, NOV30, actor=HR)
    first = ops.close_period(site, "2026-11", force=True, reason="deadline", actor=HR)
    # the second request read the month before the first committed: it saw it open, and
    # the version it takes is the one the first took (a double-clicked Close)
    monkeypatch.setattr(ops.store, "periods", lambda conn, **kw: [])
    monkeypatch.setattr(ops.store, "last_version", lambda conn, month: first.version - 1)
    with pytest.raises(ops.PeriodError, match="closed by someone else at the same moment"):
        ops.close_period(site, "2026-11", force=True, reason="deadline", actor=HR)
    monkeypatch.undo()
    [period] = ops.show_period(site, "2026-11").periods
    assert period.version == first.version == 1
