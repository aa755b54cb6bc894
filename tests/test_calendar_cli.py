"""A China-calendar site over New Year, through the real `punchd` command: a year the
calendar packages do not know is processed, marked unconfirmed in process, reports and
status, until HR imports the official notice and confirms the year."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import date, timedelta
from glob import glob
from pathlib import Path
from subprocess import CompletedProcess

import openpyxl
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from punchd.processing import calendar as cal
from punchd.storage.schema import att_audit, att_calendar_year, att_day, att_employee, att_holiday

from .cli_helpers import punchd, subprocess_env
from .helpers.rows import (
    add_department,
    add_device,
    add_employee,
    add_period,
    add_punch,
    add_schedule,
    add_shift,
)
from .helpers.week import at

YEAR = 2027
pytestmark = pytest.mark.skipif(
    cal.china_source(YEAR) is not None,
    reason=f"the installed calendar packages know {YEAR}: these tests need a year they do not",
)
FIRST, LAST = date(YEAR - 1, 12, 25), date(YEAR, 1, 10)
WARNING = f"calendar for {YEAR} not confirmed: enter the official holidays and make-up workdays"
#: libfaketime (Debian: libfaketime), to run the command on a chosen date.
FAKETIME = next(iter(sorted(glob("/usr/lib/*/faketime/libfaketime.so.1"))), None)

Run = Callable[..., CompletedProcess[str]]


@pytest.fixture
def site(engine: Engine) -> Engine:
    """A Monday–Friday office shift (08:00–17:00) on China's calendar; E1 punches every
    weekday of 25 Dec – 10 Jan (New Year's Day and the Saturday 9 Jan too), E2 never."""
    with engine.begin() as c:
        dept = add_department(c, "OFF", "办公室")
        day = add_period(c, "DAY", 480, 1020)
        office = add_shift(c, "OFFICE", {i: [day] for i in range(5)})
        add_schedule(c, office, department_id=dept, date_from=date(YEAR - 1, 1, 1))
        add_employee(c, "E1", "张三", dept, "101")
        add_employee(c, "E2", "李四", dept, "102")
        gate = add_device(c, "gate")
        d = FIRST
        while d <= LAST:
            if d.weekday() < 5 or d == date(YEAR, 1, 9):
                add_punch(c, gate, "101", at(d, "07:55"))
                add_punch(c, gate, "101", at(d, "17:05"))
            d += timedelta(days=1)
    return engine


@pytest.fixture
def run(site: Engine, db_url: str, tmp_path: Path) -> Run:
    """``run(*args, when="2027-01-11 12:00:00")``: `punchd ARGS` as a subprocess, the clock
    at ``when`` UTC (libfaketime) if given; the host zone UTC, the site Asia/Shanghai."""
    env = subprocess_env(
        PUNCHD_DATABASE_URL=db_url,
        PUNCHD_TIMEZONE="Asia/Shanghai",
        TZ="UTC",
        XDG_DATA_HOME=str(tmp_path / "data"),
        COLUMNS="250",
        NO_COLOR="1",
    )
    punchd("rules", "set", "calendar_china", "true", env=env).check_returncode()

    def invoke(*args: str, when: str | None = None) -> CompletedProcess[str]:
        if when is None:
            return punchd(*args, env=env, cwd=tmp_path)
        if FAKETIME is None:
            pytest.skip("libfaketime is not installed")
        return punchd(*args, env=dict(env, LD_PRELOAD=FAKETIME, FAKETIME=f"@{when}"), cwd=tmp_path)

    return invoke


def statuses(engine: Engine, employee_no: str) -> dict[date, str]:
    with engine.connect() as c:
        rows = c.execute(
            select(att_day.c.work_date, att_day.c.status)
            .join(att_employee, att_employee.c.id == att_day.c.employee_id)
            .where(att_employee.c.employee_no == employee_no)
        ).all()
    return {r.work_date: r.status for r in rows}


def notice(tmp_path: Path) -> Path:
    """A test notice for the range (not the official 2027 calendar): New Year's Day, the
    Monday after as a bridging holiday, Saturday 9 January as its make-up workday."""
    path = tmp_path / "notice.csv"
    path.write_text(
        "date,kind,name\n"
        f"{YEAR}-01-01,holiday,元旦\n"
        f"{YEAR}-01-04,holiday,元旦\n"
        f"{YEAR}-01-09,workday,元旦调休\n",
        encoding="utf-8",
    )
    return path


def test_new_year_range_is_processed_and_marked_until_confirmed(
    site: Engine, run: Run, tmp_path: Path
) -> None:
    after = f"{YEAR}-01-11 12:00:00"  # every window of the range has closed
    result = run("process", "--from", str(FIRST), "--to", str(LAST), when=after)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"processed {FIRST} … {LAST}: 2 employees, 34 employee-days")
    assert f"warning: {WARNING}" in result.stderr
    e1, e2 = statuses(site, "E1"), statuses(site, "E2")
    assert len(e1) == len(e2) == 17  # both years
    assert e1[date(YEAR - 1, 12, 31)] == "present" and e2[date(YEAR - 1, 12, 31)] == "absent"
    assert e1[date(YEAR, 1, 1)] == e2[date(YEAR, 1, 1)] == "holiday"  # statutory fixed date
    assert e1[date(YEAR, 1, 4)] == "present" and e2[date(YEAR, 1, 4)] == "absent"
    assert e2[date(YEAR, 1, 9)] == "rest"

    # every report covering 2027 says so; one of 2026 only does not
    table = run("report", "--from", str(FIRST), "--to", str(LAST))
    assert table.returncode == 0 and f"note: {WARNING}" in table.stdout
    detail = run("report", "--from", str(FIRST), "--to", str(LAST), "-f", "csv")
    lines = detail.stdout.lstrip("\ufeff").splitlines()
    assert lines[0].startswith(f'"note: {WARNING}') and lines[1].startswith("Employee no,")
    rows = list(csv.reader(io.StringIO("\n".join(lines[1:]))))
    on = rows[0].index("Date")
    assert {r[on] for r in rows[1:]} >= {str(FIRST), str(LAST)}
    december = run(
        "report", "--from", f"{YEAR - 1}-12-01", "--to", f"{YEAR - 1}-12-31", "-f", "csv"
    )
    assert december.stdout.lstrip("\ufeff").startswith("Employee no,")
    out = tmp_path / "summary.xlsx"
    summary = run(
        "report", "--summary", "--from", str(FIRST), "--to", str(LAST), "-f", "xlsx", "-o", str(out)
    )
    assert summary.returncode == 0, summary.stderr
    sheet = openpyxl.load_workbook(out).active
    assert sheet.cell(row=1, column=4).value.startswith(f"note: {WARNING}")
    assert sheet.cell(row=2, column=1).value == "Employee no"

    # the official notice (here: a test one) in one command, confirmed, processed again
    imported = run("holiday", "import", str(notice(tmp_path)), "--confirm", "--by", "hr-wang")
    assert imported.returncode == 0, imported.stderr
    assert "3 dates for 2027: 3 added, 0 changed, 0 unchanged" in imported.stdout
    assert f"{YEAR}: confirmed" in imported.stdout
    again = run("process", "--from", str(FIRST), "--to", str(LAST), when=after)
    assert again.returncode == 0 and "warning" not in again.stderr, again.stderr
    e1, e2 = statuses(site, "E1"), statuses(site, "E2")
    assert e1[date(YEAR, 1, 4)] == e2[date(YEAR, 1, 4)] == "holiday"
    assert e1[date(YEAR, 1, 9)] == "present" and e2[date(YEAR, 1, 9)] == "absent"
    clean = run("report", "--from", str(FIRST), "--to", str(LAST), "-f", "csv")
    assert clean.stdout.lstrip("\ufeff").startswith("Employee no,")

    # where each date comes from
    listing = run("holiday", "list", "--year", str(YEAR))
    assert listing.returncode == 0, listing.stderr
    row = next(line for line in listing.stdout.splitlines() if f"{YEAR}-01-09" in line)
    assert "make-up workday" in row and "元旦调休" in row and "entered by hr-wang" in row
    row = next(line for line in listing.stdout.splitlines() if f"{YEAR}-05-01" in line)
    assert "statutory fixed date" in row
    assert f"{YEAR}: official calendar as entered, confirmed by hr-wang" in listing.stdout
    known = run("holiday", "list", "--year", str(YEAR - 1))
    assert f"{YEAR - 1}: China's official calendar from chinese-calendar" in known.stdout
    assert "chinese-calendar" in next(
        line for line in known.stdout.splitlines() if f"{YEAR - 1}-10-01" in line
    )


def test_status_marks_the_coming_unconfirmed_year(site: Engine, run: Run, tmp_path: Path) -> None:
    december = run("status", when=f"{YEAR - 1}-12-15 02:00:00")
    assert december.returncode == 1  # (no daemon runs here either)
    assert WARNING in december.stdout
    june = run("status", when=f"{YEAR - 1}-06-15 02:00:00")
    assert WARNING not in june.stdout
    # a month ahead of the site's date: 30 Nov 17:00 UTC is already 1 Dec in Shanghai
    assert WARNING in run("status", when=f"{YEAR - 1}-11-30 17:00:00").stdout
    assert WARNING not in run("status", when=f"{YEAR - 1}-11-30 15:00:00").stdout
    assert run("holiday", "import", str(notice(tmp_path))).returncode == 0
    assert run("holiday", "confirm", str(YEAR), "--by", "hr-li").returncode == 0
    assert WARNING not in run("status", when=f"{YEAR - 1}-12-15 02:00:00").stdout
    assert run("holiday", "unconfirm", str(YEAR)).returncode == 0
    assert WARNING in run("status", when=f"{YEAR - 1}-12-15 02:00:00").stdout
    show = run("rules", "show", when=f"{YEAR - 1}-12-15 02:00:00")
    assert f"{YEAR - 1}: China's official calendar from chinese-calendar" in show.stdout
    assert WARNING in show.stderr


def test_import_is_all_or_nothing(site: Engine, run: Run, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "date,kind,name\n"
        f"{YEAR}-01-01,holiday,元旦\n"
        f"{YEAR}-02-30,holiday,春节\n"
        f"{YEAR}-02-06,day off,春节\n"
        f"{YEAR}-02-07,holiday\n"
        f"{YEAR}-01-01,workday,again\n",
        encoding="utf-8",
    )
    result = run("holiday", "import", str(bad))
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: {bad}: line 3, date: not a date (YYYY-MM-DD): '{YEAR}-02-30'",
        f"error: {bad}: line 4, kind: must be holiday or workday, not 'day off'",
        f"error: {bad}: line 5: 2 columns, expected 3 (date,kind,name)",
        f"error: {bad}: line 6, date: {YEAR}-01-01 is already on line 2",
    ]
    assert "4 problems" in result.stderr and "Traceback" not in result.stderr
    bad.write_text("day,type\n2027-01-01,holiday\n", encoding="utf-8")
    header = run("holiday", "import", str(bad))
    assert header.returncode == 2 and "the first line must be the header" in header.stderr
    bad.write_bytes("date,kind,name\n2027-01-01,holiday,元旦\n".encode("gbk"))
    gbk = run("holiday", "import", str(bad))
    assert gbk.returncode == 2 and "not UTF-8" in gbk.stderr
    missing = run("holiday", "import", str(tmp_path / "nope.csv"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    with site.connect() as c:
        assert c.execute(select(func.count()).select_from(att_holiday)).scalar_one() == 0
        assert (
            c.execute(select(func.count()).select_from(att_audit)).scalar_one() == 1
        )  # the setting


def test_import_replace_confirm_and_their_audit(site: Engine, run: Run, tmp_path: Path) -> None:
    assert (
        run("holiday", "add", f"{YEAR}-02-12", "--name", "guess", "--by", "hr-li").returncode == 0
    )
    first = run("holiday", "import", str(notice(tmp_path)), "--by", "hr-wang")
    assert f"kept 1 entered date(s) the file does not list: {YEAR}-02-12" in first.stdout
    unchanged = run("holiday", "import", str(notice(tmp_path)), "--replace", "--by", "hr-wang")
    assert "0 added, 0 changed, 3 unchanged, 1 removed" in unchanged.stdout
    with site.connect() as c:
        days = c.execute(select(att_holiday.c.holiday_date, att_holiday.c.created_by)).all()
        audit = c.execute(
            select(att_audit.c.action, att_audit.c.entity_key, att_audit.c.detail)
            .where(att_audit.c.entity == "holiday")
            .order_by(att_audit.c.id)
        ).all()
    assert sorted(days) == [
        (date(YEAR, 1, 1), "hr-wang"),
        (date(YEAR, 1, 4), "hr-wang"),
        (date(YEAR, 1, 9), "hr-wang"),
    ]
    assert [(a.action, a.entity_key) for a in audit] == [
        ("set", f"{YEAR}-02-12"),
        ("set", f"{YEAR}-01-01"),
        ("set", f"{YEAR}-01-04"),
        ("set", f"{YEAR}-01-09"),
        ("remove", f"{YEAR}-02-12"),
    ]
    assert json.loads(audit[-1].detail)["file"] == "notice.csv"

    # confirm: refused where it means nothing, audited where it does
    for year, message in (
        (YEAR - 1, "chinese-calendar"),
        (YEAR + 1, f"no holidays or make-up workdays are entered for {YEAR + 1}"),
    ):
        refused = run("holiday", "confirm", str(year))
        assert refused.returncode == 2 and message in refused.stderr, refused.stderr
    assert (
        run("holiday", "confirm", str(YEAR), "--by", "hr-wang").stdout.strip()
        == f"{YEAR}: confirmed"
    )
    assert "already confirmed" in run("holiday", "confirm", str(YEAR)).stdout
    assert run("holiday", "unconfirm", str(YEAR), "--by", "hr-li").returncode == 0
    again = run("holiday", "unconfirm", str(YEAR))
    assert again.returncode == 2 and f"{YEAR} is not confirmed" in again.stderr
    with site.connect() as c:
        assert c.execute(select(att_calendar_year)).all() == []
        log = c.execute(
            select(att_audit.c.changed_by, att_audit.c.action)
            .where(att_audit.c.entity == "calendar_year")
            .order_by(att_audit.c.id)
        ).all()
    assert [tuple(r) for r in log] == [("hr-wang", "confirm"), ("hr-li", "unconfirm")]
    assert run("rules", "set", "calendar_china", "false").returncode == 0
    off = run("holiday", "confirm", str(YEAR))
    assert off.returncode == 2 and "calendar_china is off" in off.stderr


def test_a_year_outside_any_calendar_is_an_input_error(site: Engine, run: Run) -> None:
    result = run("process", "--from", "1949-12-01", "--to", "1949-12-31")
    assert result.returncode == 2
    assert result.stderr.startswith("error: no calendar data for 1949")
    assert "Traceback" not in result.stderr
