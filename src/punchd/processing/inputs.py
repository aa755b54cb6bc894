"""What the engine is given besides employees and punches, read from storage: the rules
tables → :class:`punchd.processing.Rules` (plain, immutable data).

The reverse of :mod:`punchd.rules.sync`: periods, shifts, schedules, overrides, holidays,
settings and leave as they are stored (conventions in docs/rules.md). Employee ids are
``att_employee.id``, department ids ``att_department.id``. The statements are
:mod:`punchd.storage.rules`'. Part of the processing shell (with :mod:`.runner` and
:mod:`.requeue`): the engine modules never import it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import fields
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from punchd.errors import RulesError
from punchd.processing import (
    DayOverride,
    HolidayCalendar,
    Leave,
    Period,
    ProcessingSettings,
    Rules,
    ScheduleAssignment,
    Shift,
)
from punchd.storage import rules as stored

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

PROCESSING_SETTINGS = tuple(f.name for f in fields(ProcessingSettings))


def stored_settings(conn: Connection) -> dict[str, Any]:
    """``att_setting`` as name → decoded JSON value (a row that is not JSON: RulesError)."""
    out: dict[str, Any] = {}
    for name, value in stored.setting_values(conn).items():
        try:
            out[name] = json.loads(value)
        except ValueError:
            raise RulesError(f"att_setting {name!r}: not JSON: {value!r}") from None
    return out


def processing_settings(settings: dict[str, Any]) -> ProcessingSettings:
    known = {k: v for k, v in settings.items() if k in PROCESSING_SETTINGS}
    try:
        return ProcessingSettings(**known)
    except (TypeError, ValueError) as exc:
        raise RulesError(f"att_setting: {exc}") from None


def load_shifts(conn: Connection) -> dict[int, Shift]:
    """Every shift by ``att_shift.id``, its days built from ``att_shift_period``."""
    periods: dict[int, Period] = {}
    for r in stored.periods(conn):
        r = r._mapping
        try:
            periods[r["id"]] = Period(
                start=r["start_minute"],
                end=r["end_minute"],
                code=r["code"],
                checkin_from=r["checkin_from"],
                checkin_until=r["checkin_until"],
                checkout_from=r["checkout_from"],
                checkout_until=r["checkout_until"],
                late_grace=r["late_grace"],
                early_grace=r["early_grace"],
                must_check_in=bool(r["must_check_in"]),
                must_check_out=bool(r["must_check_out"]),
                minutes=r["counted_minutes"],
            )
        except ValueError as exc:
            raise RulesError(f"period {r['code']!r}: {exc}") from None
    days: dict[int, dict[int, list[Period]]] = defaultdict(lambda: defaultdict(list))
    for shift_id, day_index, period_id in stored.shift_days(conn):
        days[shift_id][day_index].append(periods[period_id])
    shifts: dict[int, Shift] = {}
    for r in stored.shifts(conn):
        r = r._mapping
        by_day = days.get(r["id"], {})
        try:
            shifts[r["id"]] = Shift(
                code=r["code"],
                days=tuple(
                    tuple(sorted(by_day.get(i, ()), key=lambda p: p.start))
                    for i in range(r["cycle_days"])
                ),
                unit=r["unit"],
                follows_calendar=bool(r["follows_calendar"]),
            )
        except ValueError as exc:
            raise RulesError(f"shift {r['code']!r}: {exc}") from None
    return shifts


def _calendar(conn: Connection, settings: dict[str, Any]) -> HolidayCalendar:
    holidays: dict[date, str] = {}
    workdays: dict[date, str] = {}
    sources: dict[date, str] = {}
    for h in stored.holidays(conn):
        (workdays if h.kind == "workday" else holidays)[h.holiday_date] = h.name
        sources[h.holiday_date] = f"entered by {h.created_by} {h.created_at:%Y-%m-%d %H:%M} UTC"
    return HolidayCalendar(
        holidays=holidays,
        workdays=workdays,
        country=settings.get("calendar_country") or None,
        subdivision=settings.get("calendar_subdivision") or None,
        china=bool(settings.get("calendar_china", False)),
        sources=sources,
        confirmed_years=frozenset(stored.calendar_years(conn)),
    )


def load_calendar(conn: Connection) -> HolidayCalendar:
    """The holiday calendar as stored: settings, HR's dates (with who entered them) and the
    confirmed years."""
    return _calendar(conn, stored_settings(conn))


def load_leaves(conn: Connection, date_from: date, date_to: date) -> list[Leave]:
    """Leave that can touch work dates ``[date_from, date_to]`` (a day of margin each side
    for overnight periods)."""
    lo = datetime.combine(date_from - timedelta(days=2), datetime.min.time())
    hi = datetime.combine(date_to + timedelta(days=2), datetime.min.time())
    out = []
    for r in stored.leave_list(conn, ends_from=lo, starts_before=hi):
        if r.full_day:
            out.append(Leave(r.employee_id, r.kind, r.start_at.date(), r.end_at.date()))
        else:
            out.append(Leave(r.employee_id, r.kind, r.start_at, r.end_at))
    return out


def active_rules(conn: Connection, date_from: date, date_to: date) -> Rules:
    """Everything the engine needs besides employees and punches, for work dates
    ``[date_from, date_to]``."""
    settings = stored_settings(conn)
    shifts = load_shifts(conn)
    margin_from, margin_to = date_from - timedelta(days=2), date_to + timedelta(days=2)

    def shift(shift_id: int) -> Shift:
        try:
            return shifts[shift_id]
        except KeyError:
            raise RulesError(f"unknown shift id {shift_id}") from None

    assignments = [
        ScheduleAssignment(
            shift=shift(r["shift_id"]),
            date_from=r["date_from"],
            date_to=r["date_to"],
            employee_id=r["employee_id"],
            department=r["department_id"],
            anchor=r["anchor"],
        )
        for r in (r._mapping for r in stored.schedules_touching(conn, margin_from, margin_to))
    ]
    overrides = [
        DayOverride(
            work_date=r["work_date"],
            shift=None if r["shift_id"] is None else shift(r["shift_id"]),
            day=r["day_index"],
            employee_id=r["employee_id"],
            department=r["department_id"],
        )
        for r in (r._mapping for r in stored.overrides_between(conn, margin_from, margin_to))
    ]
    return Rules(
        assignments=tuple(assignments),
        overrides=tuple(overrides),
        leaves=tuple(load_leaves(conn, date_from, date_to)),
        calendar=_calendar(conn, settings),
        settings=processing_settings(settings),
    )
