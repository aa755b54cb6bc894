"""The whole HR path through the real ``punchd`` command, on every database:
roster import (a bad file first: nothing imported) → rules load → collect from a simulated
clock → manual punch and void → process → report to XLSX and CSV, checked cell by cell.

The dates are fixed (November 2026), so the results are the same whatever the clock says;
.ci/run also runs these tests (marker ``yearend``) with the system clock moved to New Year."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date, datetime, time
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import func, select

from punchd.drivers.zk.simulator import SimPunch, SimUser, ZKSimulator
from punchd.storage import schema
from punchd.storage.database import make_engine

from .cli_helpers import punchd, subprocess_env

pytestmark = pytest.mark.yearend

KEY = 4242
MON = date(2026, 11, 2)  # Mon 2 … Fri 6 November 2026; Friday is a company holiday

USERS = [
    SimUser(uid=1, user_id="100001", name="Wang Fang"),
    SimUser(uid=2, user_id="100002", name="Li Na"),
    SimUser(uid=3, user_id="100003", name="Zhang Wei"),
    SimUser(uid=9, user_id="100099", name="Not in the roster"),
]


def _at(day: int, hhmm: str) -> datetime:
    return datetime.combine(date(2026, 11, day), time.fromisoformat(hhmm))


def _punches() -> list[SimPunch]:
    plan = {
        "100001": [
            (2, "07:55"),
            (2, "12:01"),
            (2, "12:59"),
            (2, "17:05"),  # on time
            (3, "08:17"),
            (3, "08:19"),
            (3, "17:00"),  # 17 late; a double tap
            # Wednesday 4th: nothing → absent
            (5, "08:00"),
            (5, "16:40"),  # 20 early — this check-out gets voided
            (6, "09:00"),
            (6, "12:00"),  # the holiday: holiday overtime
        ],
        "100002": [(2, "08:00"), (3, "08:02")],  # no check-outs: Tue's comes by hand
        "100003": [(3, "08:00"), (3, "17:00"), (4, "08:00"), (4, "17:00")],  # hired on the 4th
        "100099": [(2, "08:00"), (2, "17:00")],  # unknown person
    }
    uid = {u.user_id: u.uid for u in USERS}
    return sorted(
        (
            SimPunch(user_id=who, uid=uid[who], when=_at(day, hhmm), punch=0)
            for who, times in plan.items()
            for day, hhmm in times
        ),
        key=lambda p: p.when,
    )


ROSTER_HEADER = "employee_no,name,department,enroll_no,card_no,hire_date,separation_date\n"
GOOD_ROSTER = ROSTER_HEADER + (
    "E1,Wang Fang,ADMIN,100001,,2024-01-01,\n"
    "E2,Li Na,ADMIN,100002,,2024-01-01,\n"
    "E3,Zhang Wei,ADMIN,100003,,2026-11-04,\n"
)
BAD_ROSTER = ROSTER_HEADER + (
    "E1,Wang Fang,ADMIN,100001,,2024-01-01,\n"
    "E2,Li Na,ADMIN,100002,,2024-13-01,\n"  # row 3: no 13th month
    "E1,Zhang Wei,ADMIN,100003,,2026-11-04,\n"  # row 4: E1 twice
)
RULES = """
[calendar]
holidays = [{ date = 2026-11-06, name = "Plant day" }]

[[period]]
code = "AM"
start = "08:00"
end = "12:00"
late_grace = 5
must_check_out = false  # no lunch punches needed

[[period]]
code = "PM"
start = "13:00"
end = "17:00"
early_grace = 5
must_check_in = false

[[shift]]
code = "OFFICE"
name = "Office"
periods = ["AM", "PM"]

[[schedule]]
shift = "OFFICE"
department = "ADMIN"
from = 2026-01-01
"""


@pytest.fixture
def sim() -> Iterator[ZKSimulator]:
    with ZKSimulator(port=0, comm_key=KEY, users=USERS, punches=_punches()) as s:
        yield s


@pytest.fixture
def env(tmp_path: Path, db_url: str, sim: ZKSimulator) -> dict[str, str]:
    (tmp_path / "punchd.toml").write_text(
        "[[devices]]\n"
        'name = "front"\ndriver = "zk"\nhost = "127.0.0.1"\n'
        f"port = {sim.port}\ncomm_key = {KEY}\ntimeout = 3\n",
        encoding="utf-8",
    )
    return subprocess_env(
        PUNCHD_CONFIG=str(tmp_path / "punchd.toml"),
        PUNCHD_DATABASE_URL=db_url,
        XDG_DATA_HOME=str(tmp_path / "data"),
        COLUMNS="200",
        NO_COLOR="1",
    )


def _ok(result, what: str) -> str:
    assert result.returncode == 0, f"{what}: {result.stdout}\n{result.stderr}"
    return result.stdout


def test_roster_rules_collect_process_report(tmp_path: Path, env: dict[str, str], db_url: str):
    engine = make_engine(db_url)
    run = lambda *args: punchd(*args, env=env, cwd=tmp_path)  # noqa: E731

    # 1. A roster with bad rows imports nothing and names every bad row and column.
    (tmp_path / "bad.csv").write_text(BAD_ROSTER, encoding="utf-8")
    bad = run("employees", "import", str(tmp_path / "bad.csv"))
    assert bad.returncode == 2
    said = bad.stdout + bad.stderr
    assert "row 3" in said and "hire_date" in said
    assert "row 4" in said and "employee_no" in said
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(schema.att_employee)).scalar() == 0

    (tmp_path / "roster.csv").write_text(GOOD_ROSTER, encoding="utf-8")
    assert "3 created" in _ok(run("employees", "import", str(tmp_path / "roster.csv")), "import")

    # 2. Rules.
    (tmp_path / "rules.toml").write_text(RULES, encoding="utf-8")
    _ok(run("rules", "load", str(tmp_path / "rules.toml"), "--by", "hr-test"), "rules load")

    # 3. Collect: every punch stored, the unknown person's too.
    _ok(run("collect"), "collect")
    with engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(schema.att_punch)).scalar()
        thursday_out = conn.execute(
            select(schema.att_punch.c.id).where(
                schema.att_punch.c.enroll_no == "100001",
                schema.att_punch.c.punched_at == _at(5, "16:40"),
            )
        ).scalar_one()
    assert stored == len(_punches())

    # 4. A manual punch fills E2's missing check-out on Tuesday; E1's Thursday check-out
    # is voided (it stays stored, marked void).
    _ok(
        run("punch", "add", "E2", "2026-11-03 17:00", "--reason", "forgot card", "--by", "hr"),
        "punch add",
    )
    _ok(run("punch", "void", str(thursday_out), "--reason", "badge lent"), "punch void")

    # 5. Process, twice: the same rows (idempotent).
    _ok(run("process", "--from", "2026-11-02", "--to", "2026-11-06"), "process")
    _ok(run("process", "--from", "2026-11-02", "--to", "2026-11-06"), "process again")
    d = schema.att_day
    e = schema.att_employee
    with engine.connect() as conn:
        rows = {
            (r.employee_no, r.work_date.day): r
            for r in conn.execute(select(d, e.c.employee_no).join(e, e.c.id == d.c.employee_id))
        }
        void = conn.execute(
            select(schema.att_punch.c.void, schema.att_punch.c.void_reason).where(
                schema.att_punch.c.id == thursday_out
            )
        ).one()
    assert tuple(void) == (True, "badge lent")
    assert len(rows) == 5 + 5 + 3  # E3 only from the 4th; nobody for enroll 100099

    def day(no: str, d_: int) -> tuple:
        r = rows[(no, d_)]
        return (r.status, r.late_minutes, r.early_minutes, r.absent_minutes)

    assert day("E1", 2) == ("present", 0, 0, 0)
    assert day("E1", 3) == ("present", 17, 0, 0)
    assert day("E1", 4) == ("absent", 0, 0, 480)
    # The check-out was voided: no punch at all in the afternoon → that period is absent.
    assert day("E1", 5) == ("present", 0, 0, 240)
    assert rows[("E1", 6)].status == "holiday"
    assert rows[("E1", 6)].holiday_overtime_minutes == 180
    assert day("E2", 2) == ("present", 0, 0, 240)
    assert day("E2", 3) == ("present", 0, 0, 0)  # the manual check-out counts
    assert rows[("E2", 3)].last_punch == _at(3, "17:00")
    assert ("E3", 3) not in rows and day("E3", 4) == ("present", 0, 0, 0)

    # 6. The employee-detail report as XLSX, opened and read cell by cell.
    xlsx = tmp_path / "detail.xlsx"
    _ok(
        run("report", "--from", "2026-11-02", "--to", "2026-11-06", "--format", "xlsx",
            "--output", str(xlsx)),
        "report xlsx",
    )  # fmt: skip
    sheet = openpyxl.load_workbook(xlsx).active
    values = [list(r) for r in sheet.iter_rows(values_only=True)]
    header_at = next(i for i, r in enumerate(values) if r and r[0] == "Employee no")
    header = values[header_at]
    body = [dict(zip(header, r, strict=False)) for r in values[header_at + 1 :] if r[0]]
    assert len(body) == 13
    tue = next(r for r in body if r["Employee no"] == "E1" and r["Date"].day == 3)
    assert tue["Name"] == "Wang Fang" and tue["Dept code"] == "ADMIN"
    assert tue["Status"] == "present" and tue["Late (min)"] == 17
    assert isinstance(tue["Late (min)"], int)
    assert tue["First punch"] == _at(3, "08:17")
    wed = next(r for r in body if r["Employee no"] == "E1" and r["Date"].day == 4)
    assert (wed["Status"], wed["Absent (min)"]) == ("absent", 480)
    hol = next(r for r in body if r["Employee no"] == "E1" and r["Date"].day == 6)
    assert hol["Holiday OT (min)"] == 180

    # 7. Only the exceptions HR asked for, as CSV.
    exc = _ok(
        run("report", "--from", "2026-11-02", "--to", "2026-11-06", "--only", "late,absent",
            "--format", "csv"),
        "report csv",
    )  # fmt: skip
    listed = list(csv.DictReader(io.StringIO(exc.lstrip("\ufeff"))))
    assert {(r["Employee no"], r["Date"][-2:]) for r in listed} == {
        ("E1", "03"),  # late
        ("E1", "04"),  # absent
        ("E1", "05"),  # absent in the afternoon
        ("E2", "02"),  # absent in the afternoon
        ("E2", "04"),  # no punches on workdays
        ("E2", "05"),
        ("E3", "05"),
    }
