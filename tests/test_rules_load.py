"""Rules tables → the engine's Rules: every stored convention read back exactly."""

from __future__ import annotations

import json
from datetime import date, datetime

import pytest
from sqlalchemy import insert
from sqlalchemy.engine import Engine

from punchd.processing import Employee, Status, process_range
from punchd.processing.inputs import active_rules
from punchd.rules.errors import RulesError
from punchd.storage import schema as s

NOW = datetime(2026, 11, 1)
STAMP = {"updated_at": NOW, "updated_by": "test"}
CREATED = {"created_at": NOW, "created_by": "test"}


def _period(conn, code: str, start: int, end: int, **extra) -> int:
    values = dict(
        code=code,
        start_minute=start,
        end_minute=end,
        late_grace=0,
        early_grace=0,
        must_check_in=True,
        must_check_out=True,
        **STAMP,
    )
    values.update(extra)
    return conn.execute(insert(s.att_period).values(**values)).inserted_primary_key[0]


def _shift(conn, code: str, unit: str, days: list[list[int]], follows: bool = True) -> int:
    sid = conn.execute(
        insert(s.att_shift).values(
            code=code,
            name=code,
            unit=unit,
            cycle_days=len(days),
            follows_calendar=follows,
            **STAMP,
        )
    ).inserted_primary_key[0]
    for i, periods in enumerate(days):
        for pid in periods:
            conn.execute(
                insert(s.att_shift_period).values(shift_id=sid, day_index=i, period_id=pid)
            )
    return sid


@pytest.fixture
def stored(engine: Engine) -> dict[str, int]:
    with engine.begin() as conn:
        dep = conn.execute(
            insert(s.att_department).values(code="F1", name="Factory", created_at=NOW, **STAMP)
        ).inserted_primary_key[0]
        emp = conn.execute(
            insert(s.att_employee).values(
                employee_no="E1",
                name="Li",
                department_id=dep,
                enroll_no="000001",
                hire_date=date(2026, 1, 1),
                created_at=NOW,
                **STAMP,
            )
        ).inserted_primary_key[0]
        am = _period(conn, "AM", 480, 720, late_grace=5, checkin_from=420, checkin_until=600)
        pm = _period(conn, "PM", 780, 1020)
        day = _period(conn, "D", 480, 960)
        mid = _period(conn, "M", 960, 1440)
        night = _period(conn, "N", 0, 480)
        office = _shift(conn, "OFFICE", "week", [[pm, am]] * 5 + [[], []])
        rot = _shift(conn, "ROT", "day", [[day], [mid], [night], []], follows=False)
        conn.execute(
            insert(s.att_schedule).values(
                department_id=dep, shift_id=office, date_from=date(2026, 1, 1), **CREATED
            )
        )
        conn.execute(
            insert(s.att_schedule).values(
                employee_id=emp,
                shift_id=rot,
                date_from=date(2026, 11, 9),
                date_to=date(2026, 11, 12),
                **CREATED,
            )
        )
        conn.execute(
            insert(s.att_schedule_override).values(
                work_date=date(2026, 11, 4), employee_id=emp, shift_id=None, day_index=0, **CREATED
            )
        )
        conn.execute(
            insert(s.att_holiday).values(
                holiday_date=date(2026, 11, 5), kind="holiday", name="Plant day", **CREATED
            )
        )
        conn.execute(
            insert(s.att_holiday).values(
                holiday_date=date(2026, 11, 7), kind="workday", name="Make-up", **CREATED
            )
        )
        for name, value in (("late_as_absent_after", 100), ("overtime_threshold", 45)):
            conn.execute(insert(s.att_setting).values(name=name, value=json.dumps(value), **STAMP))
        conn.execute(
            insert(s.att_leave).values(
                employee_id=emp,
                kind="annual",
                start_at=datetime(2026, 11, 2),
                end_at=datetime(2026, 11, 2),
                full_day=True,
                **CREATED,
            )
        )
        conn.execute(
            insert(s.att_leave).values(
                employee_id=emp,
                kind="personal",
                start_at=datetime(2026, 11, 3, 8),
                end_at=datetime(2026, 11, 3, 12),
                full_day=False,
                **CREATED,
            )
        )
    return {"dep": dep, "emp": emp}


def test_tables_become_the_engines_rules(engine: Engine, stored: dict[str, int]) -> None:
    with engine.connect() as conn:
        rules = active_rules(conn, date(2026, 11, 1), date(2026, 11, 30))
    office, rot = (a.shift for a in rules.assignments)
    assert office.unit == "week" and len(office.days) == 7
    assert [p.code for p in office.days[0]] == ["AM", "PM"]  # sorted by start
    assert office.days[0][0].late_grace == 5 and office.days[0][0].checkin_from == 420
    assert office.days[5] == ()
    assert [(p.start, p.end) for day in rot.days for p in day] == [
        (480, 960),
        (960, 1440),
        (0, 480),
    ]
    assert rot.follows_calendar is False
    assert rules.assignments[0].department == stored["dep"]
    assert rules.assignments[1].employee_id == stored["emp"]
    assert rules.overrides[0].shift is None
    assert rules.settings.late_as_absent_after == 100
    assert rules.settings.overtime_threshold == 45
    assert rules.settings.collapse_minutes == 5  # not stored → default
    full, part = sorted(rules.leaves, key=lambda lv: lv.kind)
    assert full.full_days and full.start == full.end == date(2026, 11, 2)
    assert part.start == datetime(2026, 11, 3, 8) and not part.full_days


def test_loaded_rules_drive_the_engine(engine: Engine, stored: dict[str, int]) -> None:
    with engine.connect() as conn:
        rules = active_rules(conn, date(2026, 11, 2), date(2026, 11, 10))
    emp = Employee(stored["emp"], department=stored["dep"], hire_date=date(2026, 1, 1))
    days = {
        r.work_date: r
        for r in process_range([emp], {}, rules, date(2026, 11, 2), date(2026, 11, 10), now=None)
    }
    assert days[date(2026, 11, 2)].status == Status.LEAVE
    assert days[date(2026, 11, 4)].status == Status.REST  # override
    assert days[date(2026, 11, 5)].status == Status.HOLIDAY
    assert days[date(2026, 11, 7)].status == Status.ABSENT  # make-up Saturday, no punches
    assert days[date(2026, 11, 9)].shift_code == "ROT"
    assert days[date(2026, 11, 9)].scheduled_minutes == 480


def test_a_broken_setting_is_named(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(insert(s.att_setting).values(name="collapse_minutes", value="-3", **STAMP))
    with engine.connect() as conn, pytest.raises(RulesError, match="collapse_minutes"):
        active_rules(conn, date(2026, 11, 1), date(2026, 11, 2))
