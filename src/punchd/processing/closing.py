"""Which work days lie in a closed pay period, and the one check that refuses a change to them.

A month is closed for everyone or for departments (``att_pay_period``, state ``closed``); an
employee's day is closed when its month is closed for everyone or for the employee's
department. Closed days are never recomputed: :func:`refuse_closed` is called by every edit
through :func:`punchd.processing.requeue.enqueue_results` (leave, manual punches and voids,
holidays, schedules and overrides, separations, cards) and by ``punchd process``; the queue's
drain leaves closed days as they are and notes the changes that reached them
(:mod:`punchd.processing.requeue`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy.engine import Connection

from punchd.errors import RulesError
from punchd.storage import periods as store
from punchd.storage.results import EmployeeRow, select_employees

#: What an edit is called in a refusal, by the reason it queues.
EDITS = {
    "leave": "leave",
    "punch": "a manual punch",
    "void": "voiding a punch",
    "unvoid": "restoring a voided punch",
    "holiday": "a holiday change",
    "schedule": "a schedule change",
    "override": "a temporary schedule",
    "separation": "a separation date",
    "card": "a card change",
    "process": "processing",
}

Span = tuple[date, date]


class PeriodClosed(RulesError):
    """A change would alter days of a closed pay period."""


#: :class:`PeriodClosed` as the console words it (``span``, ``month``)
CLOSED = (
    "Refused: %(span)s lies in the closed pay period %(month)s; payroll may already have "
    "used it. Reopen the month first, or enter the change in an open month."
)


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def month_bounds(month: str) -> Span:
    """First and last day of ``YYYY-MM``."""
    year, mon = int(month[:4]), int(month[5:7])
    first = date(year, mon, 1)
    nxt = date(year + (mon == 12), mon % 12 + 1, 1)
    return first, nxt - timedelta(days=1)


def month_spans(first: date, last: date) -> Iterator[tuple[str, date, date]]:
    """``[first, last]`` cut at month ends: (month, from, to)."""
    d = first
    while d <= last:
        month = month_of(d)
        end = min(last, month_bounds(month)[1])
        yield month, d, end
        d = end + timedelta(days=1)


@dataclass(frozen=True)
class ClosedDays:
    """The closed periods of some months."""

    periods: tuple[store.PeriodRow, ...]

    @classmethod
    def load(cls, conn: Connection, first: date, last: date) -> ClosedDays:
        months = [m for m, _, _ in month_spans(first, last)]
        return cls(tuple(store.periods(conn, months=months, state="closed")))

    def __bool__(self) -> bool:
        return bool(self.periods)

    def of_employee(self, month: str, department_id: int) -> store.PeriodRow | None:
        """The close that covers ``month`` for an employee of ``department_id``."""
        for p in self.periods:
            if p.month == month and p.department_id in (None, department_id):
                return p
        return None

    def of_scope(self, month: str, department_id: int | None) -> store.PeriodRow | None:
        """A close that covers part of ``month`` for a department's employees
        (``department_id``) or, None, for anyone."""
        for p in self.periods:
            if p.month == month and (
                department_id is None or p.department_id in (None, department_id)
            ):
                return p
        return None

    def split(
        self, departments: dict[int, int], covered: dict[int, list[Span]]
    ) -> tuple[dict[int, list[Span]], list[tuple[int, Span, store.PeriodRow]]]:
        """``covered`` (employee id → spans) cut into the open spans and the closed ones
        (employee id, span, the close). ``departments``: employee id → department id."""
        open_: dict[int, list[Span]] = {}
        closed: list[tuple[int, Span, store.PeriodRow]] = []
        for eid, spans in covered.items():
            dept = departments.get(eid)
            kept: list[Span] = []
            for lo, hi in spans:
                for month, a, b in month_spans(lo, hi):
                    period = None if dept is None else self.of_employee(month, dept)
                    if period is None:
                        if kept and kept[-1][1] + timedelta(days=1) == a:
                            kept[-1] = (kept[-1][0], b)
                        else:
                            kept.append((a, b))
                    else:
                        closed.append((eid, (a, b), period))
            if kept:
                open_[eid] = kept
        return open_, closed


def employee_departments(conn: Connection, ids: Iterable[int]) -> dict[int, int]:
    return {e.id: e.department_id for e in select_employees(conn, ids=ids)}


def _scope_words(period: store.PeriodRow) -> str:
    who = "everyone" if period.department_code is None else f"department {period.department_code}"
    return f"{period.month} (closed for {who}, version {period.version})"


def refuse_closed(
    conn: Connection,
    *,
    employee_id: int | None = None,
    department_id: int | None = None,
    date_from: date,
    date_to: date,
    reason: str,
) -> None:
    """Raise :class:`PeriodClosed` when the work dates ``[date_from, date_to]`` of one
    employee, of a department (``department_id``) or of everyone (both None) meet a closed
    pay period. ``reason``: what the change queues (a key of :data:`EDITS`)."""
    if date_to < date_from:
        return
    closed = ClosedDays.load(conn, date_from, date_to)
    if not closed:
        return
    dept = department_id
    who = "everyone" if employee_id is None and department_id is None else None
    if employee_id is not None:
        emp = select_employees(conn, ids=[employee_id])
        if not emp:
            return
        dept, who = emp[0].department_id, f"employee {emp[0].employee_no}"
    for month, lo, hi in month_spans(date_from, date_to):
        period = (
            closed.of_employee(month, dept)
            if employee_id is not None and dept is not None
            else closed.of_scope(month, dept)
        )
        if period is not None:
            target = who or f"department {store.department_code(conn, dept)}"
            raise _refusal(reason, lo, hi, target, period)
    if employee_id is not None and who is not None:
        # days closed with the department the employee was in then
        for day, version in store.closed_versions(conn, employee_id, date_from, date_to):
            for period in closed.periods:
                if period.month == month_of(day) and period.version == version:
                    raise _refusal(reason, day, day, who, period)


def refuse_employees(
    conn: Connection,
    employees: Iterable[EmployeeRow],
    date_from: date,
    date_to: date,
    *,
    reason: str,
) -> None:
    """:func:`refuse_closed` for many employees at once (one look at the closed periods)."""
    closed = ClosedDays.load(conn, date_from, date_to)
    if not closed:
        return
    for e in employees:
        for month, lo, hi in month_spans(date_from, date_to):
            period = closed.of_employee(month, e.department_id)
            if period is not None:
                raise _refusal(reason, lo, hi, f"employee {e.employee_no}", period)


def _refusal(reason: str, lo: date, hi: date, target: str, period: store.PeriodRow) -> PeriodClosed:
    what = EDITS.get(reason, f"a change ({reason})")
    span = lo.isoformat() if lo == hi else f"{lo.isoformat()} … {hi.isoformat()}"
    return PeriodClosed(
        f"refused: {what} would change {span} of {target}, in the closed pay period "
        f"{_scope_words(period)}; payroll may already have used it. Reopen it first "
        f"(punchd period reopen {period.month} --reason …) or enter the change in an open "
        "month"
    ).worded(CLOSED, span=span, month=period.month)
