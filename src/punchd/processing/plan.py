"""Which periods an employee has to work on a date.

Precedence for one employee and date, strongest first:

1. a :class:`DayOverride` for the employee, then one for the employee's department
   (beats the holiday calendar too);
2. the employee's own :class:`ScheduleAssignment` covering the date, else the department's
   (latest ``date_from`` wins, then the later one in the input);
3. no assignment → :attr:`DayKind.UNSCHEDULED`.

With an assignment, the cycle day gives the periods (``Shift.day_index``); then, if the
shift follows the calendar, a holiday drops them (:attr:`DayKind.HOLIDAY`), and a make-up
workday that falls on a rest day of the cycle is worked with the periods of the shift's
first working cycle day (for a Monday–Friday shift: Monday's).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from punchd.processing.calendar import DayType, ResolvedCalendar
from punchd.processing.model import (
    DayOverride,
    Employee,
    Rules,
    ScheduleAssignment,
    Shift,
    ShiftDay,
)


class DayKind(StrEnum):
    WORKDAY = "workday"
    REST = "rest"
    HOLIDAY = "holiday"
    UNSCHEDULED = "unscheduled"


@dataclass(frozen=True, slots=True)
class PlannedDay:
    """What is scheduled for one employee on one date."""

    work_date: date
    shift_code: str | None
    kind: DayKind
    periods: ShiftDay
    """Periods to work (empty unless ``kind`` is WORKDAY)."""
    calendar_name: str = ""
    """Holiday / make-up workday name when the calendar decided the day."""


def _first_working_day(shift: Shift) -> ShiftDay:
    for day in shift.days:
        if day:
            return day
    return ()


class ScheduleIndex:
    """Assignments and overrides indexed for fast per-date lookup (built once per run)."""

    def __init__(self, rules: Rules, calendar: ResolvedCalendar) -> None:
        self.calendar = calendar
        self._employee: dict[Hashable, list[tuple[date, int, ScheduleAssignment]]] = {}
        self._department: dict[Hashable, list[tuple[date, int, ScheduleAssignment]]] = {}
        for seq, a in enumerate(rules.assignments):
            if a.employee_id is not None:
                self._employee.setdefault(a.employee_id, []).append((a.date_from, seq, a))
            else:
                self._department.setdefault(a.department, []).append((a.date_from, seq, a))
        for table in (self._employee, self._department):
            for entries in table.values():
                entries.sort(key=lambda x: (x[0], x[1]), reverse=True)
        self._employee_override: dict[tuple[Hashable, date], DayOverride] = {}
        self._department_override: dict[tuple[Hashable, date], DayOverride] = {}
        self._overridden_employees: set[Hashable] = set()
        for o in rules.overrides:  # later entries win
            if o.employee_id is not None:
                self._employee_override[(o.employee_id, o.work_date)] = o
                self._overridden_employees.add(o.employee_id)
            else:
                self._department_override[(o.department, o.work_date)] = o

    def signature(self, employee: Employee) -> Hashable:
        """Employees with equal signatures have the same plan on every date."""
        own = employee.id in self._employee or employee.id in self._overridden_employees
        return (employee.department, (employee.id,) if own else ())

    def _assignment(self, employee: Employee, d: date) -> ScheduleAssignment | None:
        for table, key in ((self._employee, employee.id), (self._department, employee.department)):
            entries = table.get(key)
            if entries:
                for start, _, a in entries:
                    if start <= d and (a.date_to is None or d <= a.date_to):
                        return a
        return None

    def day(self, employee: Employee, d: date) -> PlannedDay:
        override = self._employee_override.get((employee.id, d))
        if override is None and employee.department is not None:
            override = self._department_override.get((employee.department, d))
        if override is not None:
            periods = override.periods
            code = override.shift.code if override.shift is not None else None
            return PlannedDay(d, code, DayKind.WORKDAY if periods else DayKind.REST, periods)
        a = self._assignment(employee, d)
        if a is None:
            return PlannedDay(d, None, DayKind.UNSCHEDULED, ())
        shift = a.shift
        periods = shift.days[shift.day_index(a.anchor or a.date_from, d)]
        if shift.follows_calendar:
            entry = self.calendar.days.get(d)
            if entry is not None:
                day_type, name = entry
                if day_type is DayType.HOLIDAY:
                    return PlannedDay(d, shift.code, DayKind.HOLIDAY, (), name)
                if not periods:  # make-up workday on a rest day of the cycle
                    periods = _first_working_day(shift)
                    if periods:
                        return PlannedDay(d, shift.code, DayKind.WORKDAY, periods, name)
        return PlannedDay(d, shift.code, DayKind.WORKDAY if periods else DayKind.REST, periods)


def all_shifts(rules: Rules) -> Iterable[Shift]:
    """Every shift the rules refer to (each once)."""
    seen: set[int] = set()
    for item in (*rules.assignments, *rules.overrides):
        shift = item.shift
        if shift is not None and id(shift) not in seen:
            seen.add(id(shift))
            yield shift


def scheduled_day(employee: Employee, d: date, rules: Rules) -> PlannedDay:
    """What ``employee`` is scheduled to work on ``d`` (for display; the engine batches)."""
    return ScheduleIndex(rules, rules.calendar.resolve(d, d)).day(employee, d)
