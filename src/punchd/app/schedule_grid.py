"""The schedule month grid (排班表) of the console: who works which shift on each day of a
month, and the edits made from it — within the caller's :class:`~punchd.app.access.Scope`.

The shift of a person-day is the one the engine plans (:class:`punchd.processing.plan.
ScheduleIndex` over the stored rules: schedules, temporary schedules, the calendar), read
in a few queries for the whole grid. The edits are the rules' own: temporary schedules
(:func:`punchd.rules.schedules.set_override`, ``clear_override``) for chosen people and
days, a schedule (:func:`punchd.rules.schedules.assign_schedule`) for a whole department
from a date; each writes its audit row and queues the days to re-process (the front door
drains the queue afterwards: :func:`punchd.app.attendance.refresh`). A batch is one
transaction: all of it or nothing.

A department or employee outside the scope raises :class:`~punchd.app.access.NotFound`,
exactly like a missing one; values that cannot be used raise
:class:`~punchd.app.forms.FormProblems` (by form field), and nothing is saved; a closed
pay period raises :class:`~punchd.processing.closing.PeriodClosed` (a refusal).
"""

from __future__ import annotations

import calendar as month_calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from punchd.app.access import NotFound, Scope
from punchd.app.forms import FormProblems, rules_problem
from punchd.app.site import Actor, Site
from punchd.processing.calendar import CalendarDataMissing, DayType, ResolvedCalendar
from punchd.processing.inputs import active_rules, load_shifts
from punchd.processing.model import Employee, Shift, format_minutes
from punchd.processing.plan import ScheduleIndex
from punchd.rules import schedules
from punchd.storage import hr as hr_store
from punchd.storage import rules as rules_store

#: the colours of the shifts' cells: shift i (by code) gets colour i mod PALETTE
PALETTE = 12
#: form problems (English msgids; the console shows them translated)
UNKNOWN_SHIFT = "no shift with this code"
NO_PEOPLE = "choose at least one person"
OUTSIDE = "not in this department"
NOT_A_DATE = "not a date (YYYY-MM-DD)"
OUTSIDE_MONTH = "the days must lie within the month shown"
BEFORE_START = "ends before it starts"
REST_NEEDS_DAYS = "a department schedule needs a shift; rest days are set for chosen days"


@dataclass(frozen=True, slots=True)
class ShiftInfo:
    """A shift of the legend: its code, name, times and colour."""

    code: str
    name: str
    times: str
    """The periods of its working cycle days, e.g. ``08:00–12:00, 13:00–17:00``."""
    colour: int


@dataclass(frozen=True, slots=True)
class GridDay:
    day: date
    weekday: int  # 0 Monday
    holiday: str | None
    """The calendar's holiday on this date (its name), else None."""
    makeup: str | None
    """The calendar's make-up workday on this date (its name), else None."""

    @property
    def weekend(self) -> bool:
        return self.weekday >= 5


@dataclass(frozen=True, slots=True)
class GridCell:
    day: date
    shift_code: str | None
    kind: str
    """``workday`` / ``rest`` / ``holiday`` / ``unscheduled`` (the engine's), or
    ``not_employed`` (before hire or after separation)."""
    override: str | None
    """A temporary schedule decides the day: ``employee`` (their own) or ``department``."""


@dataclass(frozen=True, slots=True)
class GridRow:
    employee_no: str
    name: str
    department_code: str
    department_name: str
    cells: tuple[GridCell, ...]


@dataclass(frozen=True)
class MonthGrid:
    department_code: str
    department_name: str
    month: date  # its first day
    days: tuple[GridDay, ...]
    rows: tuple[GridRow, ...]
    shifts: tuple[ShiftInfo, ...]
    selection: tuple[str, ...]
    """The staff numbers asked for (empty: everyone of the department and below it)."""
    calendar_problem: str | None
    """The calendar cannot be resolved for the month (holidays are then not shown)."""

    @property
    def previous(self) -> date:
        return (self.month - timedelta(days=1)).replace(day=1)

    @property
    def next(self) -> date:
        return last_day(self.month) + timedelta(days=1)


@dataclass(frozen=True)
class CellDetail:
    """One person-day for its small form."""

    employee_no: str
    name: str
    department_code: str
    cell: GridCell
    own_override: bool
    shifts: tuple[ShiftInfo, ...]


def first_day(day: date) -> date:
    return day.replace(day=1)


def last_day(month: date) -> date:
    return month.replace(day=month_calendar.monthrange(month.year, month.month)[1])


# ----------------------------------------------------------------------------- reading


def _department(conn: Connection, scope: Scope, code: str) -> dict[str, Any]:
    found = hr_store.find_department(conn, code)
    if found is None or not scope.sees_department(found["id"]):
        raise NotFound(f"no department {code!r}")
    return found


def _employee(conn: Connection, scope: Scope, employee_no: str) -> dict[str, Any]:
    found = hr_store.find_employee(conn, employee_no)
    if found is None or not scope.sees_department(found["department_id"]):
        raise NotFound(f"no employee {employee_no!r}")
    return found


def _shift_infos(conn: Connection) -> tuple[ShiftInfo, ...]:
    built = load_shifts(conn)
    infos = []
    for colour, row in enumerate(rules_store.shifts(conn, by_code=True)):
        shift = built[row.id]
        infos.append(ShiftInfo(row.code, row.name, _times(shift), colour % PALETTE))
    return tuple(infos)


def _times(shift: Shift) -> str:
    seen: list[str] = []
    for day in shift.days:
        text = ", ".join(f"{format_minutes(p.start)}–{format_minutes(p.end)}" for p in day)
        if text and text not in seen:
            seen.append(text)
    return " / ".join(seen)


def _resolved(rules_calendar: Any, date_from: date, date_to: date) -> tuple[Any, str | None]:
    try:
        return rules_calendar.resolve(date_from, date_to), None
    except CalendarDataMissing as exc:  # the engine refuses such days; the grid still shows
        return ResolvedCalendar(date_from, date_to, {}), str(exc)


def _cell(
    index: ScheduleIndex,
    employee: dict[str, Any],
    day: date,
    own: set[tuple[int, date]],
    department: set[tuple[int, date]],
) -> GridCell:
    hired, left = employee["hire_date"], employee["separation_date"]
    if (hired is not None and day < hired) or (left is not None and day > left):
        return GridCell(day, None, "not_employed", None)
    planned = index.day(Employee(employee["id"], employee["department_id"], hired, left), day)
    override = None
    if (employee["id"], day) in own:
        override = "employee"
    elif (employee["department_id"], day) in department:
        override = "department"
    return GridCell(day, planned.shift_code, str(planned.kind), override)


def _index(conn: Connection, date_from: date, date_to: date) -> tuple[Any, ...]:
    """The engine's schedule index for the dates, the overridden (employee, date) and
    (department, date) pairs, and the calendar's problem (None: resolved)."""
    rules = active_rules(conn, date_from, date_to)
    resolved, problem = _resolved(rules.calendar, date_from, date_to)
    own = {(o.employee_id, o.work_date) for o in rules.overrides if o.employee_id is not None}
    dept = {(o.department, o.work_date) for o in rules.overrides if o.employee_id is None}
    return ScheduleIndex(rules, resolved), own, dept, resolved, problem


def month_grid(
    site: Site,
    scope: Scope,
    department_code: str,
    month: date,
    *,
    employee_nos: Sequence[str] = (),
) -> MonthGrid:
    """The month of ``month`` for the people of a department and those below it (employed
    some day of the month), or only ``employee_nos`` of them; rows by department (the one
    asked for first, then those below it by code), then staff number."""
    start, end = first_day(month), last_day(month)
    wanted = set(employee_nos)
    with site.engine.connect() as conn:
        dept = _department(conn, scope, department_code)
        below = hr_store.department_descendants(conn, [dept["id"]])
        everyone = hr_store.employees(conn, employed_from=start)
        index, own, dept_overrides, resolved, problem = _index(conn, start, end)
        shifts = _shift_infos(conn)
    days = []
    d = start
    while d <= end:
        kind, name = resolved.days.get(d, (DayType.ORDINARY, ""))
        days.append(
            GridDay(
                d,
                d.weekday(),
                name if kind is DayType.HOLIDAY else None,
                name if kind is DayType.MAKEUP_WORKDAY else None,
            )
        )
        d += timedelta(days=1)
    people = [
        e
        for e in everyone
        if e["department_id"] in below
        and (e["hire_date"] is None or e["hire_date"] <= end)
        and (not wanted or e["employee_no"] in wanted)
    ]
    people.sort(
        key=lambda e: (e["department_id"] != dept["id"], e["department_code"], e["employee_no"])
    )
    rows = tuple(
        GridRow(
            e["employee_no"],
            e["name"],
            e["department_code"],
            e["department_name"],
            tuple(_cell(index, e, g.day, own, dept_overrides) for g in days),
        )
        for e in people
    )
    return MonthGrid(
        dept["code"],
        dept["name"],
        start,
        tuple(days),
        rows,
        shifts,
        tuple(sorted(wanted)),
        problem,
    )


def cell_detail(site: Site, scope: Scope, employee_no: str, day: date) -> CellDetail:
    """One person-day: the planned shift, whether a temporary schedule of their own
    decides it, and the shifts to choose from."""
    with site.engine.connect() as conn:
        e = _employee(conn, scope, employee_no)
        index, own, dept_overrides, _resolved_calendar, _problem = _index(conn, day, day)
        shifts = _shift_infos(conn)
    cell = _cell(index, e, day, own, dept_overrides)
    return CellDetail(
        e["employee_no"], e["name"], e["department_code"], cell, cell.override == "employee", shifts
    )


# ----------------------------------------------------------------------------- changing


def _shift_row(conn: Connection, code: str, problems: dict[str, str], field: str = "shift") -> Any:
    row = rules_store.shift_by_code(conn, code) if code else None
    if row is None:
        problems[field] = UNKNOWN_SHIFT
    return row


def _worked_day(shift: Shift | None, day: date) -> int:
    """The cycle day whose periods a temporary schedule of the shift works on ``day``: a
    weekly shift's own weekday when it has periods, else its first working day (as the
    engine works a make-up workday)."""
    if shift is None:  # rest
        return 0
    if shift.unit == "week" and shift.days[day.weekday()]:
        return day.weekday()
    return next((i for i, periods in enumerate(shift.days) if periods), 0)


def _checked_range(
    date_from: date | None, date_to: date | None, month: date, problems: dict[str, str]
) -> None:
    start, end = first_day(month), last_day(month)
    if date_from is None:
        problems.setdefault("date_from", NOT_A_DATE)
    elif not start <= date_from <= end:
        problems["date_from"] = OUTSIDE_MONTH
    if date_to is None:
        problems.setdefault("date_to", NOT_A_DATE)
    elif not start <= date_to <= end:
        problems["date_to"] = OUTSIDE_MONTH
    elif date_from is not None and date_to < date_from:
        problems["date_to"] = BEFORE_START


def fill_days(
    site: Site,
    scope: Scope,
    department_code: str,
    *,
    shift_code: str | None,
    employee_nos: Sequence[str],
    date_from: date | None,
    date_to: date | None,
    month: date,
    actor: Actor,
) -> int:
    """Chosen people of a department (or below it) work ``shift_code`` (None: rest) on
    ``date_from`` … ``date_to`` (days of ``month``): a temporary schedule per person-day,
    replacing theirs, written in bulk with one audit row per person
    (:func:`punchd.rules.schedules.set_employee_overrides`). All or nothing; how many
    person-days changed."""
    problems: dict[str, str] = {}
    _checked_range(date_from, date_to, month, problems)
    if not employee_nos:
        problems["people"] = NO_PEOPLE
    with rules_problem("shift"), site.transaction() as conn:
        dept = _department(conn, scope, department_code)
        below = hr_store.department_descendants(conn, [dept["id"]])
        found = hr_store.employees_by_no(conn, sorted(set(employee_nos)))
        if len(found) != len(set(employee_nos)) or any(
            e["department_id"] not in below for e in found
        ):
            problems["people"] = OUTSIDE
        shift = None if shift_code is None else _shift_row(conn, shift_code, problems)
        if problems:
            raise FormProblems(problems)
        assert date_from is not None and date_to is not None
        model = None if shift is None else load_shifts(conn)[shift.id]
        # one bulk write (300 people × a week: a few statements, not ~10 per
        # person-day); the same rows, audit per person, queue of the changed days
        return schedules.set_employee_overrides(
            conn,
            [e["employee_no"] for e in found],
            date_from,
            date_to,
            shift_code=shift_code,
            day_index=lambda d: _worked_day(model, d),
            actor=actor.name,
        )


def assign_department(
    site: Site,
    scope: Scope,
    department_code: str,
    *,
    shift_code: str | None,
    date_from: date | None,
    date_to: date | None = None,
    actor: Actor,
) -> int:
    """Everyone of a department and of every department below it works ``shift_code`` from
    ``date_from`` (to ``date_to``; None: open-ended): one schedule per department, all or
    nothing. A schedule already there with the same values is not added twice (a form
    sent twice). People with a schedule of their own keep it. How many were added."""
    problems: dict[str, str] = {}
    if shift_code is None:
        problems["schedule_shift"] = REST_NEEDS_DAYS
    if date_from is None:
        problems["start"] = NOT_A_DATE
    elif date_to is not None and date_to < date_from:
        problems["until"] = BEFORE_START
    with rules_problem("schedule_shift"), site.transaction() as conn:
        dept = _department(conn, scope, department_code)
        shift = (
            None if shift_code is None else _shift_row(conn, shift_code, problems, "schedule_shift")
        )
        if problems:
            raise FormProblems(problems)
        assert shift is not None and date_from is not None
        codes = {d["id"]: d["code"] for d in hr_store.departments(conn)}
        below = sorted(
            hr_store.department_descendants(conn, [dept["id"]]),
            key=lambda i: (i != dept["id"], codes[i]),
        )
        existing = {
            (r.department_id, r.shift_id, r.date_from, r.date_to)
            for r in rules_store.schedules(conn)
            if r.employee_id is None and r.anchor is None
        }
        added = 0
        for department_id in below:
            if (department_id, shift.id, date_from, date_to) in existing:
                continue
            schedules.assign_schedule(
                conn,
                shift.code,
                department_code=codes[department_id],
                date_from=date_from,
                date_to=date_to,
                actor=actor.name,
            )
            added += 1
        return added


def set_day(
    site: Site,
    scope: Scope,
    employee_no: str,
    day: date,
    *,
    shift_code: str | None,
    actor: Actor,
) -> str:
    """One person-day works ``shift_code`` (None: rest): "added" / "changed" /
    "unchanged"."""
    problems: dict[str, str] = {}
    with rules_problem("shift"), site.transaction() as conn:
        e = _employee(conn, scope, employee_no)
        shift = None if shift_code is None else _shift_row(conn, shift_code, problems)
        if problems:
            raise FormProblems(problems)
        return schedules.set_override(
            conn,
            day,
            employee_no=e["employee_no"],
            shift_code=shift_code,
            day_index=_worked_day(None if shift is None else load_shifts(conn)[shift.id], day),
            actor=actor.name,
        )


def clear_day(site: Site, scope: Scope, employee_no: str, day: date, *, actor: Actor) -> bool:
    """The person-day's own temporary schedule removed (False: there was none — a form
    sent twice changes nothing)."""
    with rules_problem("shift"), site.transaction() as conn:
        e = _employee(conn, scope, employee_no)
        if not rules_store.overrides_of(conn, day, e["id"], None):
            return False
        schedules.clear_override(conn, day, employee_no=e["employee_no"], actor=actor.name)
        return True


__all__ = [
    "CellDetail",
    "GridCell",
    "GridDay",
    "GridRow",
    "MonthGrid",
    "ShiftInfo",
    "assign_department",
    "cell_detail",
    "clear_day",
    "fill_days",
    "first_day",
    "last_day",
    "month_grid",
    "set_day",
]
