"""The rules in the tables as a :class:`RulesFile`: what a rules file that loads to exactly
this would say (the console's download, and the "before" side of an upload's diff)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from punchd.processing import Period
from punchd.processing.inputs import stored_settings
from punchd.rules.file import (
    SETTING_NAMES,
    HolidayDef,
    OverrideDef,
    RulesFile,
    ScheduleDef,
    ShiftDef,
)
from punchd.storage import rules as stored

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


def loaded_rules(conn: Connection) -> RulesFile:
    """Settings (the stored ones), periods, shifts, schedules, temporary schedules and
    entered holidays, as plain data."""
    current = stored_settings(conn)
    settings = {name: current[name] for name in SETTING_NAMES if name in current}
    rows = sorted(stored.periods(conn), key=lambda r: (r.start_minute, r.code))
    periods = tuple(
        Period(
            start=r.start_minute,
            end=r.end_minute,
            code=r.code,
            checkin_from=r.checkin_from,
            checkin_until=r.checkin_until,
            checkout_from=r.checkout_from,
            checkout_until=r.checkout_until,
            late_grace=r.late_grace,
            early_grace=r.early_grace,
            must_check_in=bool(r.must_check_in),
            must_check_out=bool(r.must_check_out),
            minutes=r.counted_minutes,
        )
        for r in rows
    )
    codes = {r.id: r.code for r in rows}
    starts = {r.id: r.start_minute for r in rows}
    days: dict[int, dict[int, list[int]]] = {}
    for d in stored.shift_days(conn):
        days.setdefault(d.shift_id, {}).setdefault(d.day_index, []).append(d.period_id)
    shifts = tuple(
        ShiftDef(
            code=s.code,
            name=s.name,
            unit=s.unit,
            follows_calendar=bool(s.follows_calendar),
            days=tuple(
                tuple(
                    codes[p] for p in sorted(days.get(s.id, {}).get(i, []), key=starts.__getitem__)
                )
                for i in range(s.cycle_days)
            ),
        )
        for s in stored.shifts(conn, by_code=True)
    )
    schedules = tuple(
        ScheduleDef(
            shift=r.shift,
            date_from=r.date_from,
            date_to=r.date_to,
            anchor=r.anchor,
            employee=r.employee_no,
            department=r.department,
            where=f"schedule[{i + 1}]",
        )
        for i, r in enumerate(stored.schedule_list(conn))
    )
    overrides = tuple(
        OverrideDef(
            work_date=r.work_date,
            shift=r.shift,
            day_index=r.day_index if r.shift is not None else 0,
            employee=r.employee_no,
            department=r.department,
            where=f"override[{i + 1}]",
        )
        for i, r in enumerate(stored.override_list(conn))
    )
    holidays = tuple(HolidayDef(r.holiday_date, r.kind, r.name) for r in stored.holidays(conn))
    return RulesFile(
        settings=settings,
        periods=periods,
        shifts=shifts,
        holidays=holidays,
        schedules=schedules,
        overrides=overrides,
        source="loaded",
    )
