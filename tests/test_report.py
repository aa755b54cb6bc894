"""Reports: employee detail and monthly summary, as CSV and Excel, checked cell by cell."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy.engine import Engine

from punchd.reports.build import (
    DETAIL_COLUMNS,
    ReportError,
    detail_report,
    exception_text,
    parse_only,
    summary_report,
)
from punchd.reports.export import csv_text, write_csv, write_xlsx

from .helpers.week import FRI, MON, SAT, SUN, THU, TUE, WED, Site, at, build_site, run

HEADER = [
    "Employee no",
    "Name",
    "Dept code",
    "Department",
    "Date",
    "Weekday",
    "Shift",
    "Status",
    "First punch",
    "Last punch",
    "Scheduled (min)",
    "Worked (min)",
    "Late (min)",
    "Early (min)",
    "Absent (min)",
    "Leave (min)",
    "Overtime (min)",
    "Holiday OT (min)",
    "Rest OT (min)",
    "Missing punches",
    "Exceptions",
]

E1_TUE_EXCEPTIONS = (
    "late DAY 12 min (in 08:12, start 08:00); early DAY 20 min (out 16:40, end 17:00)"
)
E1_THU_EXCEPTIONS = "missing_out DAY 60 min (no check-out; counted as 60 min early)"

#: E1's week as CSV cells
E1_CSV = [
    ["E1", "张三", "OFF", "办公室", "2024-03-04", "Mon", "OFFICE", "present",
     "2024-03-04 07:55:00", "2024-03-04 17:02:00",
     "540", "540", "0", "0", "0", "0", "0", "0", "0", "0", ""],
    ["E1", "张三", "OFF", "办公室", "2024-03-05", "Tue", "OFFICE", "present",
     "2024-03-05 08:12:30", "2024-03-05 16:40:00",
     "540", "508", "12", "20", "0", "0", "0", "0", "0", "0", E1_TUE_EXCEPTIONS],
    ["E1", "张三", "OFF", "办公室", "2024-03-06", "Wed", "OFFICE", "present",
     "2024-03-06 07:58:00", "2024-03-06 17:00:00",
     "540", "540", "0", "0", "0", "0", "0", "0", "0", "0", ""],
    ["E1", "张三", "OFF", "办公室", "2024-03-07", "Thu", "OFFICE", "present",
     "2024-03-07 08:00:00", "2024-03-07 08:00:00",
     "540", "480", "0", "60", "0", "0", "0", "0", "0", "1", E1_THU_EXCEPTIONS],
    ["E1", "张三", "OFF", "办公室", "2024-03-08", "Fri", "OFFICE", "absent", "", "",
     "540", "0", "0", "0", "540", "0", "0", "0", "0", "0", "absent DAY 540 min (no punches)"],
    ["E1", "张三", "OFF", "办公室", "2024-03-09", "Sat", "OFFICE", "rest", "", "",
     "0", "0", "0", "0", "0", "0", "0", "0", "0", "0", ""],
    ["E1", "张三", "OFF", "办公室", "2024-03-10", "Sun", "OFFICE", "rest", "", "",
     "0", "0", "0", "0", "0", "0", "0", "0", "0", "0", ""],
]  # fmt: skip


@pytest.fixture
def site(engine: Engine) -> Site:
    site = build_site(engine)
    run(site)
    return site


def parse_csv(data: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data)))


def test_detail_csv_cell_by_cell(site: Site) -> None:
    with site.engine.connect() as c:
        report = detail_report(c, MON, SUN)
    rows = parse_csv(csv_text(report))
    assert rows[0] == HEADER
    assert len(rows) == 1 + 4 * 7
    assert rows[1:8] == E1_CSV
    assert [r[0] for r in rows[1:]] == ["E1"] * 7 + ["E2"] * 7 + ["E3"] * 7 + ["E4"] * 7
    assert report.title == "Employee detail 2024-03-04 – 2024-03-10"


def test_detail_filters(site: Site) -> None:
    with site.engine.connect() as c:
        by_dept = detail_report(c, TUE, WED, department="FAC")
        by_emp = detail_report(c, MON, SUN, employee_nos=["E2"])
        late = detail_report(c, MON, SUN, only={"late"})
        missing = detail_report(c, MON, SUN, only={"missing"})
        absent_or_early = detail_report(c, MON, SUN, only={"absent", "early"})
        overtime = detail_report(c, MON, SUN, only={"overtime"})
        with pytest.raises(ReportError, match="unknown department 'NOPE'"):
            detail_report(c, MON, SUN, department="NOPE")
        with pytest.raises(ReportError, match=r"unknown employee number.*: X9"):
            detail_report(c, MON, SUN, employee_nos=["X9"])
        with pytest.raises(ReportError, match="before"):
            detail_report(c, SUN, MON)
    assert [(r[0], r[4]) for r in by_dept.rows] == [
        ("E3", TUE),
        ("E3", WED),
        ("E4", TUE),
        ("E4", WED),
    ]
    assert {r[0] for r in by_emp.rows} == {"E2"} and len(by_emp.rows) == 7
    assert [(r[0], r[4], r[12]) for r in late.rows] == [("E1", TUE, 12), ("E2", TUE, 30)]
    assert [(r[0], r[4]) for r in missing.rows] == [("E1", THU), ("E3", WED)]
    assert [(r[0], r[4]) for r in absent_or_early.rows] == [
        ("E1", TUE),  # early 20
        ("E1", THU),  # early 60 (missing check-out)
        ("E1", FRI),
        ("E2", WED),
        ("E2", THU),
        ("E2", FRI),
        ("E3", MON),
        ("E3", WED),  # missing check-out
        ("E3", THU),
        ("E3", FRI),
        ("E4", MON),
        ("E4", TUE),
        ("E4", FRI),
    ]
    assert overtime.rows == []


def test_detail_xlsx_cell_by_cell(site: Site, tmp_path: Path) -> None:
    with site.engine.connect() as c:
        report = detail_report(c, MON, SUN, employee_nos=["E1"])
    path = tmp_path / "detail.xlsx"
    write_xlsx(report, path)
    wb = openpyxl.load_workbook(path)
    ws = wb.active
    assert ws.title == "Detail 2024-03-04~2024-03-10"
    assert ws["A1"].value == "Employee detail 2024-03-04 – 2024-03-10"
    assert [c.value for c in ws[2]] == HEADER
    assert all(c.font.bold for c in ws[2])
    assert ws.freeze_panes == "A3"
    assert ws.max_row == 2 + 7
    assert ws.column_dimensions["B"].width == 16
    assert ws.column_dimensions["U"].width == 60
    tue = [c.value for c in ws[4]]
    assert tue == [
        "E1",
        "张三",
        "OFF",
        "办公室",
        datetime(2024, 3, 5),  # a real date cell (openpyxl reads dates as datetimes)
        "Tue",
        "OFFICE",
        "present",
        datetime(2024, 3, 5, 8, 12, 30),
        datetime(2024, 3, 5, 16, 40),
        540,
        508,
        12,
        20,
        0,
        0,
        0,
        0,
        0,
        0,
        E1_TUE_EXCEPTIONS,
    ]
    assert ws["E4"].is_date and ws["E4"].number_format == "yyyy-mm-dd"
    assert ws["I4"].is_date and ws["I4"].number_format == "yyyy-mm-dd hh:mm:ss"
    assert ws["K4"].data_type == "n" and isinstance(ws["K4"].value, int)
    fri = [c.value for c in ws[7]]
    assert fri[4] == datetime(2024, 3, 8) and fri[7] == "absent"
    assert fri[8] is None and fri[9] is None  # no punches: empty cells
    assert fri[14] == 540
    assert [ws.cell(row=r, column=5).value for r in range(3, 10)] == [
        datetime.combine(d, datetime.min.time()) for d in (MON, TUE, WED, THU, FRI, SAT, SUN)
    ]


def test_csv_file_has_a_bom(site: Site, tmp_path: Path) -> None:
    with site.engine.connect() as c:
        report = detail_report(c, MON, MON, employee_nos=["E1"])
    path = tmp_path / "d.csv"
    write_csv(report, path)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    assert parse_csv(raw.decode("utf-8-sig")) == [HEADER, E1_CSV[0]]


def test_monthly_summary(site: Site, tmp_path: Path) -> None:
    with site.engine.connect() as c:
        report = summary_report(c, date(2024, 3, 1), date(2024, 3, 31))
        one = summary_report(c, MON, MON, employee_nos=["E1"])
        fac = summary_report(c, MON, SUN, department="FAC")
        other_month = summary_report(c, date(2024, 4, 1), date(2024, 4, 30))
        with pytest.raises(ReportError, match="unknown department"):
            summary_report(c, MON, SUN, department="NOPE")
    assert [r[0] for r in report.rows] == ["E1", "E2", "E3", "E4"]
    assert report.title == "Monthly summary 2024-03"
    header = [col.header for col in report.columns]
    e1 = dict(zip(header, one.rows[0], strict=True))
    assert e1 == {
        "Employee no": "E1",
        "Name": "张三",
        "Dept code": "OFF",
        "Department": "办公室",
        "Month": "2024-03",
        "Days": 7,
        "Present days": 4,
        "Absent days": 1,
        "Leave days": 0,
        "Holiday days": 0,
        "Rest days": 2,
        "Incomplete days": 0,
        "Late days": 1,
        "Early days": 2,
        "Scheduled (min)": 2700,
        "Worked (min)": 2068,
        "Late (min)": 12,
        "Early (min)": 80,
        "Absent (min)": 540,
        "Leave (min)": 0,
        "Overtime (min)": 0,
        "Holiday OT (min)": 0,
        "Rest OT (min)": 0,
        "Missing punches": 1,
    }
    assert [r[0] for r in fac.rows] == ["E3", "E4"]
    assert other_month.rows == []

    rows = parse_csv(csv_text(one))
    assert rows[0] == header
    assert rows[1][:7] == ["E1", "张三", "OFF", "办公室", "2024-03", "7", "4"]
    path = tmp_path / "summary.xlsx"
    write_xlsx(report, path)
    ws = openpyxl.load_workbook(path).active
    assert ws.title == "Summary 2024-03~2024-03"
    assert [c.value for c in ws[2]] == header
    assert [c.value for c in ws[3]][:7] == ["E1", "张三", "OFF", "办公室", "2024-03", 7, 4]
    assert ws["P3"].value == 2068 and ws["P3"].data_type == "n"


def test_parse_only_and_exception_text() -> None:
    assert parse_only(None) is None
    assert parse_only("late, Missing") == {"late", "missing"}
    with pytest.raises(ReportError, match=r"unknown kind.*bogus"):
        parse_only("late,bogus")
    assert exception_text("late", "AM", 7, "in 08:37, start 08:30") == (
        "late AM 7 min (in 08:37, start 08:30)"
    )
    assert exception_text("stray_punch", None, 0, "22:30") == "stray_punch (22:30)"
    assert len(DETAIL_COLUMNS) == len(HEADER)


def test_first_and_last_punch_of_night_shift_cross_midnight(engine: Engine) -> None:
    """A night period's last punch is on the next calendar date: the cells keep the date."""
    from .helpers.rows import (
        add_department,
        add_device,
        add_employee,
        add_period,
        add_punch,
        add_schedule,
        add_shift,
    )

    with engine.begin() as c:
        dept = add_department(c, "SEC", "保安")
        add_employee(c, "G1", "守夜人", dept, "700")
        guard = add_period(c, "G", 1320, 1800)
        add_schedule(c, add_shift(c, "GUARD", {i: [guard] for i in range(7)}), department_id=dept)
        gate = add_device(c, "gate")
        add_punch(c, gate, "700", at(MON, "21:50"))
        add_punch(c, gate, "700", at(TUE, "06:05"))
    process_site = Site(engine)
    run(process_site, MON, MON)
    with engine.connect() as c:
        report = detail_report(c, MON, MON)
    (row,) = parse_csv(csv_text(report))[1:]
    assert row[4:10] == [
        "2024-03-04",
        "Mon",
        "GUARD",
        "present",
        "2024-03-04 21:50:00",
        "2024-03-05 06:05:00",
    ]
