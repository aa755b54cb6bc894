"""Attendance processing engine (pure functions over plain data).

Inputs are immutable plain data (:mod:`punchd.processing.model`), the result is one
:class:`DayResult` (an ``att_day`` row plus its ``att_exception`` findings) per employee and
date. No database, no clock, no I/O: see docs/processing.md for the rules.
"""

from typing import TYPE_CHECKING, Any

from punchd.processing.calendar import CalendarDataMissing, DayType, HolidayCalendar
from punchd.processing.model import (
    DayOverride,
    DayResult,
    Employee,
    EmployeePunch,
    Finding,
    FindingKind,
    Leave,
    Period,
    Rules,
    ScheduleAssignment,
    Shift,
    Status,
    format_minutes,
    parse_clock,
)
from punchd.processing.options import ProcessingSettings
from punchd.processing.plan import DayKind, PlannedDay, ScheduleIndex, scheduled_day

if TYPE_CHECKING:
    from punchd.processing.engine import process_day, process_range, punch_load_range

_ENGINE = frozenset({"process_day", "process_range", "punch_load_range"})


def __getattr__(name: str) -> Any:
    # the engine on first use: `punchd status` reads the calendar through this package only
    if name in _ENGINE:
        from punchd.processing import engine

        return getattr(engine, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CalendarDataMissing",
    "DayKind",
    "DayOverride",
    "DayResult",
    "DayType",
    "Employee",
    "EmployeePunch",
    "Finding",
    "FindingKind",
    "HolidayCalendar",
    "Leave",
    "Period",
    "PlannedDay",
    "ProcessingSettings",
    "Rules",
    "ScheduleAssignment",
    "ScheduleIndex",
    "Shift",
    "Status",
    "format_minutes",
    "parse_clock",
    "process_day",
    "process_range",
    "punch_load_range",
    "scheduled_day",
]
