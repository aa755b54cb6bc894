"""A department's day and one person's days, read within the caller's
:class:`~punchd.app.access.Scope` — the console's department and employee pages and their API.

The scope is checked here, not only by the front door: a department outside the scope, or
an employee the account may not see, raises :class:`~punchd.app.access.NotFound` with the
very message an unknown code or number gets, so that nobody learns what exists beyond
what they may see.

* ``results.view`` (admin, hr, leader, payroll): the departments of the scope and the
  people in them;
* ``self.view`` (employee): their own days only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from punchd.app.access import NotFound, Scope
from punchd.app.site import Site
from punchd.errors import InvalidInput
from punchd.storage import hr as hr_store
from punchd.storage import overview
from punchd.storage import punches as punch_store
from punchd.storage.database import DatabaseFailed

#: the days an employee page shows without ``from``/``to``
DEFAULT_DAYS = 30
#: the longest range one request may ask for (a quarter)
MAX_DAYS = 92


@dataclass(frozen=True)
class DayException:
    """One finding of processing (``att_exception``): late, early, absent, missing_in …"""

    work_date: date
    period: str | None
    kind: str
    minutes: int
    detail: str


@dataclass(frozen=True)
class PersonDay:
    """One person's result of the department's day (``status`` None: not processed)."""

    employee_no: str
    name: str
    status: str | None
    shift_code: str | None
    first_punch: datetime | None  # wall clock
    last_punch: datetime | None
    worked_minutes: int | None
    late_minutes: int | None
    early_minutes: int | None
    absent_minutes: int | None
    leave_minutes: int | None
    overtime_minutes: int | None
    missing_punches: int | None
    exceptions: tuple[DayException, ...]


@dataclass(frozen=True)
class DepartmentGroup:
    """The people of one department; ``depth`` 0 is the department asked for, 1 the ones
    right below it, …"""

    code: str
    name: str
    parent_code: str | None
    depth: int
    people: tuple[PersonDay, ...]


@dataclass(frozen=True)
class DepartmentDay:
    code: str
    name: str
    day: date
    today: date
    #: the department first, then every department below it, depth first, by code
    groups: tuple[DepartmentGroup, ...]

    @property
    def people(self) -> int:
        return sum(len(g.people) for g in self.groups)


@dataclass(frozen=True)
class EmployeeDay:
    """One processed day of one employee."""

    work_date: date
    shift_code: str | None
    status: str
    first_punch: datetime | None
    last_punch: datetime | None
    worked_minutes: int
    late_minutes: int
    early_minutes: int
    absent_minutes: int
    leave_minutes: int
    overtime_minutes: int
    missing_punches: int


@dataclass(frozen=True)
class PunchEntry:
    """A punch as stored: void and flagged ones too (processing ignores those)."""

    id: int
    punched_at: datetime  # the device's wall clock (manual: the site's)
    device: str | None  # None: a manual punch
    source: str  # device | manual | import
    state: str
    void: bool
    void_reason: str | None
    flag: str | None  # power_loss | future | after_leaving | None
    note: str | None


@dataclass(frozen=True)
class EmployeeDays:
    employee_no: str
    name: str
    department_code: str
    department: str
    date_from: date
    date_to: date
    today: date
    #: processed days, newest first
    days: tuple[EmployeeDay, ...]
    #: punches of the local dates date_from … date_to, newest first
    punches: tuple[PunchEntry, ...]
    #: newest day first
    exceptions: tuple[DayException, ...]


def _not_a_department(code: str) -> NotFound:
    # one message for unknown and forbidden alike
    return NotFound(f"no department {code!r}")


def _not_an_employee(employee_no: str) -> NotFound:
    return NotFound(f"no employee {employee_no!r}")


@contextmanager
def _read(site: Site) -> Iterator[Connection]:
    """A connection for reading; a database failure as the PunchdError people see."""
    try:
        with site.engine.connect() as conn:
            yield conn
    except SQLAlchemyError as exc:
        raise DatabaseFailed(site.settings.db_url, exc) from None


def _tree_order(
    parents: dict[int, int | None], root: int, codes: dict[int, str]
) -> list[tuple[int, int]]:
    """``(department id, depth)`` of ``root`` and everything below it, depth first, the
    children of each by code."""
    children: dict[int, list[int]] = defaultdict(list)
    for child, parent in parents.items():
        if parent is not None:
            children[parent].append(child)
    out: list[tuple[int, int]] = []
    seen: set[int] = set()
    todo = [(root, 0)]
    while todo:
        current, depth = todo.pop()
        if current in seen:
            continue  # a cycle (refused on write) must not loop here
        seen.add(current)
        out.append((current, depth))
        below = sorted(children.get(current, ()), key=lambda d: codes.get(d, ""), reverse=True)
        todo.extend((d, depth + 1) for d in below)
    return out


def _parent_code(parents: dict[int, int | None], codes: dict[int, str], d: int) -> str | None:
    parent = parents.get(d)
    return codes.get(parent) if parent is not None else None


def department_day(
    site: Site,
    scope: Scope,
    code: str,
    day: date | None = None,
    *,
    today: date | None = None,
) -> DepartmentDay:
    """The people of department ``code`` and of every department below it, grouped, with
    their result of ``day`` (default: today at the site). NotFound if the department is
    unknown or outside ``scope``, or the account may not see results."""
    today = today or site.today()
    day = day or today
    if not scope.can("results.view"):
        raise _not_a_department(code)
    with _read(site) as conn:
        found = hr_store.find_department(conn, code)
        if found is None or not scope.sees_department(found["id"]):
            raise _not_a_department(code)
        departments = {d["id"]: d for d in hr_store.departments(conn)}
        parents = hr_store.department_parents(conn)
        codes = {i: d["code"] for i, d in departments.items()}
        order = _tree_order(parents, found["id"], codes)
        # everything below a department in scope is in scope: still, never show more
        order = [(d, depth) for d, depth in order if scope.sees_department(d)]
        ids = [d for d, _ in order]
        people = overview.department_people(conn, ids, day)
        found_exceptions = overview.department_exceptions(conn, ids, day)
    by_person: dict[int, list[DayException]] = defaultdict(list)
    for x in found_exceptions:
        by_person[x.employee_id].append(DayException(day, x.period, x.kind, x.minutes, x.detail))
    by_department: dict[int, list[PersonDay]] = defaultdict(list)
    for p in people:
        by_department[p.department_id].append(
            PersonDay(
                employee_no=p.employee_no,
                name=p.name,
                status=p.status,
                shift_code=p.shift_code,
                first_punch=p.first_punch,
                last_punch=p.last_punch,
                **{m: getattr(p, m) for m in overview.DAY_MINUTES},
                exceptions=tuple(by_person.get(p.employee_id, ())),
            )
        )
    groups = tuple(
        DepartmentGroup(
            code=departments[d]["code"],
            name=departments[d]["name"],
            parent_code=_parent_code(parents, codes, d) if depth else None,
            depth=depth,
            people=tuple(by_department.get(d, ())),
        )
        for d, depth in order
    )
    return DepartmentDay(found["code"], found["name"], day, today, groups)


def date_range(date_from: date | None, date_to: date | None, *, today: date) -> tuple[date, date]:
    """The range an employee page shows: given ends as they are; one end missing: the
    :data:`DEFAULT_DAYS` from or to it; none: the last 30 days up to today. InvalidInput
    for a range that ends before it starts or is longer than :data:`MAX_DAYS`."""
    span = timedelta(days=DEFAULT_DAYS - 1)
    if date_from is None and date_to is None:
        date_to = today
    if date_from is None:
        assert date_to is not None
        date_from = date_to - span
    if date_to is None:
        date_to = date_from + span
    if date_to < date_from:
        raise InvalidInput(f"the range ends ({date_to}) before it starts ({date_from})")
    if (date_to - date_from).days + 1 > MAX_DAYS:
        raise InvalidInput(f"at most {MAX_DAYS} days at a time")
    return date_from, date_to


def _may_see(scope: Scope, employee: dict[str, Any]) -> bool:
    if scope.can("results.view") and scope.sees_department(employee["department_id"]):
        return True
    return (
        scope.can("self.view")
        and scope.employee_id is not None
        and scope.employee_id == employee["id"]
    )


def _punches(
    conn: Connection, employee: dict[str, Any], start: datetime, end: datetime
) -> list[Any]:
    """The employee's punches at local ``[start, end)``, newest first: manual ones, device
    punches under their enrolment number, and the card clocks' punches of the cards they
    held at the time (as processing attributes them)."""
    rows = list(punch_store.punches_of(conn, employee["id"], employee["enroll_no"], start, end))
    history = hr_store.card_history(conn, held_by=employee["id"])
    if history:
        held = hr_store.CardIndex(
            (h["card_no"], h["effective_from"], h["employee_id"]) for h in history
        )
        candidates = overview.card_punches(conn, {h["card_no"] for h in history}, start, end)
        rows.extend(
            r for r in candidates if held.owner(r.enroll_no, r.punched_at) == employee["id"]
        )
    rows.sort(key=lambda r: (r.punched_at, r.id), reverse=True)
    return rows


def employee_days(
    site: Site,
    scope: Scope,
    employee_no: str,
    date_from: date | None = None,
    date_to: date | None = None,
    *,
    today: date | None = None,
) -> EmployeeDays:
    """One person's processed days, punches and exceptions of ``date_from`` … ``date_to``
    (see :func:`date_range`). NotFound — exactly as for an unknown number — unless the
    account sees results of the employee's department, or is that employee's own."""
    today = today or site.today()
    with _read(site) as conn:
        found = hr_store.find_employee(conn, employee_no)
        if found is None or not _may_see(scope, found):
            raise _not_an_employee(employee_no)
        # the range is checked only for someone the account may see: a bad range never
        # tells a forbidden number from a missing one
        date_from, date_to = date_range(date_from, date_to, today=today)
        days = overview.employee_days(conn, found["id"], date_from, date_to)
        exceptions = overview.employee_exceptions(conn, found["id"], date_from, date_to)
        punches = _punches(
            conn,
            found,
            datetime.combine(date_from, time()),
            datetime.combine(date_to, time()) + timedelta(days=1),
        )
    return EmployeeDays(
        employee_no=found["employee_no"],
        name=found["name"],
        department_code=found["department_code"],
        department=found["department_name"],
        date_from=date_from,
        date_to=date_to,
        today=today,
        days=tuple(
            EmployeeDay(
                work_date=d.work_date,
                shift_code=d.shift_code,
                status=d.status,
                first_punch=d.first_punch,
                last_punch=d.last_punch,
                worked_minutes=d.worked_minutes,
                late_minutes=d.late_minutes,
                early_minutes=d.early_minutes,
                absent_minutes=d.absent_minutes,
                leave_minutes=d.leave_minutes,
                overtime_minutes=d.overtime_minutes,
                missing_punches=d.missing_punches,
            )
            for d in days
        ),
        punches=tuple(
            PunchEntry(
                id=p.id,
                punched_at=p.punched_at,
                device=p.device,
                source=p.source,
                state=p.state,
                void=bool(p.void),
                void_reason=p.void_reason,
                flag=p.flag,
                note=p.note,
            )
            for p in punches
        ),
        exceptions=tuple(
            DayException(x.work_date, x.period, x.kind, x.minutes, x.detail) for x in exceptions
        ),
    )


__all__ = [
    "DEFAULT_DAYS",
    "MAX_DAYS",
    "DayException",
    "DepartmentDay",
    "DepartmentGroup",
    "EmployeeDay",
    "EmployeeDays",
    "PersonDay",
    "PunchEntry",
    "date_range",
    "department_day",
    "employee_days",
]
