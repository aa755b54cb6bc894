"""Plain data in and out of the engine: immutable dataclasses and named tuples.

Conventions used everywhere in :mod:`punchd.processing`:

* **Times of day** are whole minutes after midnight of the *work date* (the date a period
  belongs to): ``480`` is 08:00, ``1440`` is 24:00 (midnight at the end of the work date),
  ``1800`` is 06:00 the next morning. :meth:`Period.at` builds periods from ``"HH:MM"``
  strings.
* **Dates and datetimes** are naive local wall-clock values (a punch's device-local
  ``punched_at``); nothing here knows time zones.
* **Minutes** everywhere are whole minutes. Punch seconds are cut off (08:05:59 is 08:05),
  as the clock displays them, after duplicate punches have been collapsed.
"""

from __future__ import annotations

import re
from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from enum import StrEnum
from itertools import pairwise
from typing import Any, Literal, NamedTuple

from punchd.processing.calendar import HolidayCalendar
from punchd.processing.options import MAX_WINDOW_REACH, ProcessingSettings

EmployeeId = Hashable
"""Whatever identifies an employee (the database's integer id, a staff number…)."""
DepartmentId = Hashable

DAY = 1440

_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})$")


def parse_clock(value: str | time | int) -> int:
    """``"08:30"`` / ``time(8, 30)`` → 510 minutes; ``"24:00"`` → 1440; ints pass through."""
    if isinstance(value, int):
        return value
    if isinstance(value, time):
        return value.hour * 60 + value.minute
    m = _CLOCK.match(value.strip())
    if not m:
        raise ValueError(f"not a time of day (HH:MM): {value!r}")
    hours, minutes = int(m.group(1)), int(m.group(2))
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        raise ValueError(f"not a time of day (00:00–24:00): {value!r}")
    return hours * 60 + minutes


def format_minutes(minutes: int) -> str:
    """Minutes after a work date's midnight → ``"HH:MM"`` (``"+1 06:00"`` on the next day)."""
    days, rest = divmod(minutes, DAY)
    text = f"{rest // 60:02d}:{rest % 60:02d}"
    if days:
        text = f"{days:+d} {text}"
    return text


def _nearest(clock: int, reference: int) -> int:
    """The minute offset with time of day ``clock`` that is nearest to ``reference``."""
    clock %= DAY
    base = reference - reference % DAY + clock
    return min((base - DAY, base, base + DAY), key=lambda x: (abs(x - reference), x))


# --------------------------------------------------------------------------------- rules


@dataclass(frozen=True, slots=True)
class Period:
    """A time period (ZKTime 时间段): the unit that is judged late / early / absent.

    All times are minutes after midnight of the work date (see the module docstring).
    ``end <= start`` is not allowed: an overnight period 22:00–06:00 is ``start=1320,
    end=1800`` (:meth:`at` does this for you). Window bounds are *inclusive* minutes;
    ``None`` takes the default from :class:`ProcessingSettings` (check-in from
    ``default_checkin_before`` minutes before the start until the period's midpoint, check-out
    from the midpoint until ``default_checkout_after`` minutes after the end).

    Windows are anchored to the start (check-in) and end (check-out): when part-day leave
    moves the start or end, the windows move with it.
    """

    start: int
    """0 ≤ start < 1440."""
    end: int
    """start < end ≤ start + 1440; 1440 is 24:00, > 1440 is the next morning."""
    code: str = ""
    """Name shown in findings (``att_exception.period``); empty: its number in the day."""
    checkin_from: int | None = None
    checkin_until: int | None = None
    checkout_from: int | None = None
    checkout_until: int | None = None
    late_grace: int = 0
    """Lateness up to and including this many minutes is not counted (ZKTime 迟到计分钟)."""
    early_grace: int = 0
    """Leaving early up to and including this many minutes is not counted."""
    must_check_in: bool = True
    """A missing check-in is an exception (missing_in / absent). Punches that *are* there
    are judged for lateness either way."""
    must_check_out: bool = True
    minutes: int | None = None
    """Minutes the period counts for (scheduled minutes); None: end − start."""

    def __post_init__(self) -> None:
        if not 0 <= self.start < DAY:
            raise ValueError(f"period start must be 00:00–23:59, got {self.start}")
        if not self.start < self.end <= self.start + DAY:
            raise ValueError(
                f"period end must be after its start and at most 24 h later "
                f"(start {self.start}, end {self.end})"
            )
        reach = MAX_WINDOW_REACH
        for name in ("checkin_from", "checkin_until", "checkout_from", "checkout_until"):
            value = getattr(self, name)
            if value is not None and not self.start - reach <= value <= self.end + reach:
                raise ValueError(f"{name} must lie within 12 h of the period")
        ci_from, ci_until, co_from, co_until = self.windows(ProcessingSettings())
        for lo, hi, what in ((ci_from, ci_until, "check-in"), (co_from, co_until, "check-out")):
            if lo > hi:
                raise ValueError(f"{what} window closes before it opens")
        if ci_from > co_from or ci_until > co_until:
            raise ValueError("the check-in window must not lie after the check-out window")
        for name in ("late_grace", "early_grace"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.minutes is not None and self.minutes < 0:
            raise ValueError("minutes must be >= 0")

    @property
    def counted_minutes(self) -> int:
        return self.end - self.start if self.minutes is None else self.minutes

    def windows(self, settings: ProcessingSettings) -> tuple[int, int, int, int]:
        """(check-in from, check-in until, check-out from, check-out until), inclusive
        minutes after the work date's midnight, defaults filled in."""
        mid = self.start + (self.end - self.start) // 2
        return (
            self.start - settings.default_checkin_before
            if self.checkin_from is None
            else self.checkin_from,
            mid - 1 if self.checkin_until is None else self.checkin_until,
            mid if self.checkout_from is None else self.checkout_from,
            self.end + settings.default_checkout_after
            if self.checkout_until is None
            else self.checkout_until,
        )

    @classmethod
    def at(
        cls,
        start: str | time | int,
        end: str | time | int,
        *,
        code: str = "",
        checkin: tuple[str | time | int, str | time | int] | None = None,
        checkout: tuple[str | time | int, str | time | int] | None = None,
        late_grace: int = 0,
        early_grace: int = 0,
        must_check_in: bool = True,
        must_check_out: bool = True,
        minutes: int | None = None,
    ) -> Period:
        """Build a period from wall-clock times, as HR writes them.

        ``Period.at("22:00", "06:00")`` crosses midnight (end ≤ start → next day);
        ``Period.at("16:00", "24:00")`` ends at midnight. Window times are wall-clock too and
        are placed on the day nearest to the start (check-in) or end (check-out), so
        ``checkin=("23:00", "00:30")`` works for a 00:00 start.
        """
        s = parse_clock(start)
        e = parse_clock(end)
        if s == DAY:
            raise ValueError("a period cannot start at 24:00; use 00:00 of the next work date")
        if e <= s:
            e += DAY
        ci = (
            (None, None) if checkin is None else tuple(_nearest(parse_clock(t), s) for t in checkin)
        )
        co = (
            (None, None)
            if checkout is None
            else tuple(_nearest(parse_clock(t), e) for t in checkout)
        )
        return cls(
            start=s,
            end=e,
            code=code,
            checkin_from=ci[0],
            checkin_until=ci[1],
            checkout_from=co[0],
            checkout_until=co[1],
            late_grace=late_grace,
            early_grace=early_grace,
            must_check_in=must_check_in,
            must_check_out=must_check_out,
            minutes=minutes,
        )


ShiftDay = tuple[Period, ...]
"""The periods of one day of a shift's cycle, in time order; empty: a rest day."""


@dataclass(frozen=True, slots=True)
class Shift:
    """A shift (班次): a cycle of days, each with zero or more periods.

    ``unit="day"``: ``days`` is a cycle of ``len(days)`` days; day 0 falls on the
    assignment's anchor date. ``unit="week"``: ``len(days)`` is a multiple of 7 and day 0 is
    the Monday of the anchor's week (so ``days[5]`` is always a Saturday).

    ``follows_calendar=False`` for shifts that run through holidays (24/7 rotations):
    holidays and make-up workdays are then ordinary days for it.
    """

    code: str
    days: tuple[ShiftDay, ...]
    unit: Literal["day", "week"] = "day"
    follows_calendar: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "days", tuple(tuple(day) for day in self.days))
        if not self.days:
            raise ValueError(f"shift {self.code!r} has no days")
        if self.unit not in ("day", "week"):
            raise ValueError(f"shift unit must be 'day' or 'week', not {self.unit!r}")
        if self.unit == "week" and len(self.days) % 7:
            raise ValueError(f"weekly shift {self.code!r} needs 7, 14, … days")
        for i, day in enumerate(self.days):
            for a, b in pairwise(day):
                if b.start < a.end:
                    raise ValueError(
                        f"shift {self.code!r} day {i}: periods must be in time order and "
                        f"not overlap ({format_minutes(a.start)}–{format_minutes(a.end)}, "
                        f"{format_minutes(b.start)}–{format_minutes(b.end)})"
                    )

    @classmethod
    def weekly(
        cls,
        code: str,
        periods: ShiftDay | list[Period],
        *,
        workdays: tuple[int, ...] = (0, 1, 2, 3, 4),
        follows_calendar: bool = True,
    ) -> Shift:
        """The usual one-week shift: ``periods`` on ``workdays`` (0 = Monday), rest otherwise."""
        day = tuple(periods)
        return cls(
            code,
            tuple(day if i in workdays else () for i in range(7)),
            unit="week",
            follows_calendar=follows_calendar,
        )

    def day_index(self, anchor: date, d: date) -> int:
        """Index into ``days`` for date ``d`` given the cycle's anchor date."""
        start = anchor.toordinal()
        if self.unit == "week":
            start -= anchor.weekday()
        return (d.toordinal() - start) % len(self.days)


@dataclass(frozen=True, slots=True)
class ScheduleAssignment:
    """A schedule (排班): an employee, or every employee of a department, works ``shift``
    from ``date_from`` to ``date_to`` (inclusive; None: open-ended).

    Exactly one of ``employee_id`` / ``department`` is set. An employee assignment beats a
    department assignment; among assignments of the same kind covering a date, the one with
    the latest ``date_from`` wins (then the later one in the input). ``anchor`` is the date
    that is day 0 of the shift's cycle (default ``date_from``).
    """

    shift: Shift
    date_from: date
    date_to: date | None = None
    employee_id: EmployeeId | None = None
    department: DepartmentId | None = None
    anchor: date | None = None

    def __post_init__(self) -> None:
        if (self.employee_id is None) == (self.department is None):
            raise ValueError("a schedule assignment needs exactly one of employee_id/department")
        if self.date_to is not None and self.date_to < self.date_from:
            raise ValueError("schedule assignment ends before it starts")

    def covers(self, d: date) -> bool:
        return self.date_from <= d and (self.date_to is None or d <= self.date_to)


@dataclass(frozen=True, slots=True)
class DayOverride:
    """A temporary schedule for one date (临时排班): beats every assignment and the holiday
    calendar on ``work_date``. ``shift=None`` makes the date a rest day; otherwise the
    periods of ``shift.days[day]`` are worked (a holiday then becomes an ordinary workday).
    Employee overrides beat department overrides."""

    work_date: date
    shift: Shift | None
    day: int = 0
    employee_id: EmployeeId | None = None
    department: DepartmentId | None = None

    def __post_init__(self) -> None:
        if (self.employee_id is None) == (self.department is None):
            raise ValueError("a day override needs exactly one of employee_id/department")
        if self.shift is not None and not 0 <= self.day < len(self.shift.days):
            raise ValueError(f"shift {self.shift.code!r} has no day {self.day}")

    @property
    def periods(self) -> ShiftDay:
        return () if self.shift is None else self.shift.days[self.day]


@dataclass(frozen=True, slots=True)
class Leave:
    """Leave or business trip of one employee.

    * **Full days**: ``start`` and ``end`` are ``date`` objects → every period of the work
      dates ``start`` … ``end`` (inclusive) is on leave, overnight periods included.
    * **Part day**: ``start`` and ``end`` are ``datetime`` objects → the wall-clock minutes
      ``[start, end)`` are on leave, whichever periods they touch.
    """

    employee_id: EmployeeId
    kind: str
    start: date | datetime
    end: date | datetime

    def __post_init__(self) -> None:
        s_dt, e_dt = isinstance(self.start, datetime), isinstance(self.end, datetime)
        if s_dt != e_dt:
            raise ValueError("leave start and end must both be dates or both be datetimes")
        if (s_dt and self.end <= self.start) or (not s_dt and self.end < self.start):
            raise ValueError("leave ends before it starts")

    @property
    def full_days(self) -> bool:
        return not isinstance(self.start, datetime)


@dataclass(frozen=True, slots=True)
class Employee:
    """Who is processed. No day rows exist before ``hire_date`` or after
    ``separation_date``; both days themselves are processed normally."""

    id: EmployeeId
    department: DepartmentId | None = None
    hire_date: date | None = None
    separation_date: date | None = None


class EmployeePunch(NamedTuple):
    """One punch of an employee. A bare ``datetime`` is accepted wherever an EmployeePunch is.

    ``source`` is informational (``device`` / ``manual`` / ``import``, as ``att_punch.source``):
    manual punches count exactly like device punches. ``void=True`` punches are ignored
    (the caller may also just leave them out).
    """

    at: datetime
    source: str = "device"
    void: bool = False


@dataclass(frozen=True, eq=False)
class Rules:
    """Everything besides employees and punches that a result depends on."""

    assignments: tuple[ScheduleAssignment, ...] = ()
    overrides: tuple[DayOverride, ...] = ()
    leaves: tuple[Leave, ...] = ()
    calendar: HolidayCalendar = field(default_factory=HolidayCalendar)
    settings: ProcessingSettings = field(default_factory=ProcessingSettings)

    def __post_init__(self) -> None:
        for name in ("assignments", "overrides", "leaves"):
            object.__setattr__(self, name, tuple(getattr(self, name)))


# -------------------------------------------------------------------------------- results


class Status(StrEnum):
    """``att_day.status``."""

    PRESENT = "present"
    ABSENT = "absent"
    LEAVE = "leave"
    HOLIDAY = "holiday"
    REST = "rest"
    INCOMPLETE = "incomplete"


class FindingKind(StrEnum):
    """``att_exception.kind``. What ``minutes`` adds up to is given per kind."""

    LATE = "late"  # → late_minutes
    EARLY = "early"  # → early_minutes
    ABSENT = "absent"  # → absent_minutes
    MISSING_IN = "missing_in"  # → late_minutes (policy "late"), else 0
    MISSING_OUT = "missing_out"  # → early_minutes (policy "late"), else 0
    LEAVE = "leave"  # → leave_minutes
    OVERTIME = "overtime"  # → overtime_minutes
    REST_OVERTIME = "rest_overtime"  # → rest_overtime_minutes
    HOLIDAY_OVERTIME = "holiday_overtime"  # → holiday_overtime_minutes
    STRAY_PUNCH = "stray_punch"  # 0: a workday punch outside every window
    UNPAIRED_PUNCH = "unpaired_punch"  # 0: a single punch on a rest day / holiday
    UNSCHEDULED = "unscheduled"  # 0 counted; minutes = first-to-last punch span


@dataclass(frozen=True, slots=True)
class Finding:
    """One ``att_exception`` row."""

    employee_id: EmployeeId
    work_date: date
    period: str | None
    """The period's code (or its number in the day, ``"1"``…); None for day-level findings."""
    kind: FindingKind
    minutes: int
    detail: str

    def as_row(self) -> dict[str, Any]:
        return {
            "employee_id": self.employee_id,
            "work_date": self.work_date,
            "period": self.period,
            "kind": str(self.kind),
            "minutes": self.minutes,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class DayResult:
    """One ``att_day`` row (without ``id`` / ``processed_at``) and its findings."""

    employee_id: EmployeeId
    work_date: date
    shift_code: str | None
    status: Status
    scheduled_minutes: int
    worked_minutes: int
    late_minutes: int
    early_minutes: int
    absent_minutes: int
    leave_minutes: int
    overtime_minutes: int
    holiday_overtime_minutes: int
    rest_overtime_minutes: int
    missing_punches: int
    first_punch: datetime | None
    last_punch: datetime | None
    findings: tuple[Finding, ...] = ()

    def as_row(self) -> dict[str, Any]:
        """The ``att_day`` columns as a dict (``status`` as plain text)."""
        return {
            "employee_id": self.employee_id,
            "work_date": self.work_date,
            "shift_code": self.shift_code,
            "status": str(self.status),
            "scheduled_minutes": self.scheduled_minutes,
            "worked_minutes": self.worked_minutes,
            "late_minutes": self.late_minutes,
            "early_minutes": self.early_minutes,
            "absent_minutes": self.absent_minutes,
            "leave_minutes": self.leave_minutes,
            "overtime_minutes": self.overtime_minutes,
            "holiday_overtime_minutes": self.holiday_overtime_minutes,
            "rest_overtime_minutes": self.rest_overtime_minutes,
            "missing_punches": self.missing_punches,
            "first_punch": self.first_punch,
            "last_punch": self.last_punch,
        }
