"""Leave (请假) and manual punches (签卡) within a scope: the console's operations on them.

The same changes as :mod:`punchd.app.rules` (which the CLI uses, for everyone), limited to
the employees the signed-in account sees: an employee, leave or punch outside the scope is
:class:`access.NotFound`, exactly like a missing one. A value a person typed that cannot be
used is a :class:`FormProblems` naming the field; nothing is written then (several people's
leave is entered all or nothing). After a change the days it queued are re-processed
(:func:`punchd.app.attendance.refresh_queue`), as the CLI does; a failure there is reported
in the result, never the change's failure.

Separation in any order: leave and punches of someone who has left are accepted for the days
up to the last day (the day after it too for a punch: the end of a night shift); later ones
are refused with the last day named, as are days before the hire date.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import DataError, IntegrityError

from punchd.app import access
from punchd.app.access import Scope
from punchd.app.attendance import Refreshed, refresh_queue
from punchd.app.forms import FormProblems, Problem, rules_problem
from punchd.app.site import Actor, Site
from punchd.clock import utc_to_local
from punchd.hr.service import EmployeeRecord
from punchd.rules import leave as leave_rules
from punchd.rules import punches as punch_rules
from punchd.storage import audit
from punchd.storage import hr as hr_store
from punchd.storage import punches as punch_store
from punchd.storage import rules as rules_store

#: the longest leave entered at once, in days (a typo such as 2036 for 2026 is refused:
#: it would queue ten years of days to re-process)
MAX_LEAVE_DAYS = 366
#: the longest date range one list shows, in days
MAX_LIST_DAYS = 366
#: the longest leave type (``att_leave.kind``) and note
KIND_MAX = 32
NOTE_MAX = 1000
#: at most this many people's leave in one form
MAX_PEOPLE = 500
#: audit rows a page shows at most
AUDIT_ROWS = 50
PUNCH_STATES = punch_store.PUNCH_STATES


@contextmanager
def _change(site: Site) -> Iterator[Connection]:
    """One write transaction; what the database refuses is a form problem, nothing saved."""
    try:
        with site.transaction() as conn:
            yield conn
    except (IntegrityError, DataError) as exc:
        raise FormProblems(
            {"form": Problem.said(f"the database refused the change: {exc.orig}")}
        ) from None


def _refresh(site: Site, actor: Actor, now: datetime | None) -> Refreshed:
    return refresh_queue(site.engine, now=now or site.now(), actor=actor)


def _employee_in(conn: Connection, scope: Scope, employee_no: str) -> EmployeeRecord:
    found = hr_store.find_employee(conn, employee_no.strip())
    if found is None or not scope.sees_department(found["department_id"]):
        raise access.NotFound("not found")
    return EmployeeRecord(**found)


def _printable(text: str) -> bool:
    return all(c.isprintable() for c in text)


def _iso(day: date) -> str:
    return day.isoformat()


# ------------------------------------------------------------------------------------ leave


@dataclass(frozen=True, slots=True)
class LeaveEntry:
    id: int
    employee_no: str
    name: str
    department_code: str
    kind: str
    full_day: bool
    #: full days: the first and the last day (inclusive); part of a day: [start, end)
    start: date | datetime
    end: date | datetime
    note: str | None
    created_by: str
    created_at: datetime  # site local time

    @property
    def days(self) -> int:
        """Full days: how many (else 0)."""
        if not self.full_day:
            return 0
        return (self.end - self.start).days + 1  # type: ignore[operator]

    @property
    def span(self) -> str:
        return _span_text(self.start, self.end)


def _span_text(start: date | datetime, end: date | datetime) -> str:
    if isinstance(start, datetime) and isinstance(end, datetime):
        tail = f"{end:%H:%M}" if end.date() == start.date() else f"{end:%Y-%m-%d %H:%M}"
        return f"{start:%Y-%m-%d %H:%M}–{tail}"
    if start == end:
        return start.isoformat()
    return f"{start.isoformat()} – {end.isoformat()}"


def _bounds(start: date | datetime, end: date | datetime) -> tuple[datetime, datetime]:
    """The leave as wall-clock times [from, to): full days run to the end of the last."""
    if isinstance(start, datetime):
        return start, end  # type: ignore[return-value]
    return datetime.combine(start, time()), datetime.combine(end, time()) + timedelta(days=1)


def _row_ends(row: Row) -> tuple[date | datetime, date | datetime]:
    if row.full_day:
        return row.start_at.date(), row.end_at.date()
    return row.start_at, row.end_at


def _leave_entry(row: Row, department_code: str, site: Site) -> LeaveEntry:
    start, end = _row_ends(row)
    return LeaveEntry(
        row.id,
        row.employee_no,
        row.name,
        department_code,
        row.kind,
        bool(row.full_day),
        start,
        end,
        row.note,
        row.created_by,
        utc_to_local(row.created_at, site.zone),
    )


def _department_ids(conn: Connection, scope: Scope, department: str | None) -> set[int] | None:
    """The departments a filter names (one and those below it); None: every one seen."""
    if not department:
        return None
    found = hr_store.find_department(conn, department.strip())
    if found is None or not scope.sees_department(found["id"]):
        raise access.NotFound("not found")
    return hr_store.department_descendants(conn, [found["id"]])


def _check_range(date_from: date, date_to: date, key: str = "to") -> None:
    if date_to < date_from:
        raise FormProblems({key: Problem("before the first day")})
    if (date_to - date_from).days + 1 > MAX_LIST_DAYS:
        raise FormProblems(
            {key: Problem("at most %(days)s days at a time", {"days": str(MAX_LIST_DAYS)})}
        )


def list_leave_in(
    site: Site,
    scope: Scope,
    date_from: date,
    date_to: date,
    *,
    department: str | None = None,
    employee_no: str | None = None,
) -> list[LeaveEntry]:
    """The leave the scope sees that touches ``date_from`` … ``date_to``, of one department
    (a code: it and those below it) or one employee (each if given), by start."""
    _check_range(date_from, date_to)
    with site.engine.connect() as conn:
        ids = _department_ids(conn, scope, department)
        employee_id = None
        if employee_no:
            employee_id = _employee_in(conn, scope, employee_no).id
        rows = rules_store.leave_list(
            conn,
            employee_id=employee_id,
            ends_from=datetime.combine(date_from, time()),
            starts_before=datetime.combine(date_to, time()) + timedelta(days=1),
        )
        people = {e["id"]: e for e in hr_store.employees(conn, ordered=False)}
    found: list[LeaveEntry] = []
    for row in rows:
        emp = people.get(row.employee_id)
        if emp is None or not scope.sees_department(emp["department_id"]):
            continue
        if ids is not None and emp["department_id"] not in ids:
            continue
        if not row.full_day and row.end_at == datetime.combine(date_from, time()):
            continue  # ended at the first day's midnight: not on it
        found.append(_leave_entry(row, emp["department_code"], site))
    return found


def employees_for_leave(
    site: Site, scope: Scope, department: str, employed_from: date
) -> list[EmployeeRecord]:
    """The employees of a department (and those below it) the scope sees, not separated
    before ``employed_from``: those a leave form offers to tick."""
    with site.engine.connect() as conn:
        ids = _department_ids(conn, scope, department)
        found = hr_store.search_employees(
            conn,
            department_ids=sorted(ids or ()),
            employed_from=employed_from,
            limit=MAX_PEOPLE,
        )[1]
    return [EmployeeRecord(**e) for e in found]


@dataclass(frozen=True, slots=True)
class LeaveAdded:
    ids: list[int]
    employees: list[str]
    refreshed: Refreshed


def _leave_problems(
    kind: str, start: date | datetime | None, end: date | datetime | None, note: str | None
) -> dict[str, Problem]:
    problems: dict[str, Problem] = {}
    if not kind:
        problems["kind"] = Problem("required")
    elif len(kind) > KIND_MAX:
        problems["kind"] = Problem("at most %(n)s characters", {"n": str(KIND_MAX)})
    elif not _printable(kind):
        problems["kind"] = Problem("no control characters")
    if note and len(note) > NOTE_MAX:
        problems["note"] = Problem("at most %(n)s characters", {"n": str(NOTE_MAX)})
    if start is None:
        problems["start"] = Problem("required")
    if end is None:
        problems["end"] = Problem("required")
    if start is None or end is None:
        return problems
    if isinstance(start, datetime) != isinstance(end, datetime):
        problems["end"] = Problem("give both ends as dates or both as dates and times")
        return problems
    first, last = _bounds(start, end)
    if last <= first or (not isinstance(start, datetime) and end < start):
        problems["end"] = Problem("ends before it starts")
        return problems
    days = (last - first).days
    if days > MAX_LEAVE_DAYS:
        problems["end"] = Problem(
            "at most %(max)s days at a time; this is %(days)s days",
            {"max": str(MAX_LEAVE_DAYS), "days": str(days)},
        )
    return problems


def _employment_problem(
    emp: EmployeeRecord, start: date | datetime, end: date | datetime
) -> Problem | None:
    """Leave outside the employment: before the hire date, or after the last day."""
    first_day = start.date() if isinstance(start, datetime) else start
    last_day = end.date() if isinstance(end, datetime) else end
    if isinstance(end, datetime) and end.time() == time():
        last_day = max(first_day, last_day - timedelta(days=1))  # ends at midnight
    if emp.separation_date is not None and last_day > emp.separation_date:
        return Problem(
            "%(employee)s left: the last day was %(day)s; leave after it is not needed",
            {"employee": emp.employee_no, "day": _iso(emp.separation_date)},
        )
    if first_day < emp.hire_date:
        return Problem(
            "%(employee)s was hired on %(day)s; leave before it is not possible",
            {"employee": emp.employee_no, "day": _iso(emp.hire_date)},
        )
    return None


def _overlap(
    conn: Connection, emp: EmployeeRecord, start: date | datetime, end: date | datetime
) -> Problem | None:
    first, last = _bounds(start, end)
    rows = rules_store.leave_list(
        conn, employee_id=emp.id, ends_from=first - timedelta(days=1), starts_before=last
    )
    for row in rows:
        other_start, other_end = _row_ends(row)
        a, b = _bounds(other_start, other_end)
        if a < last and first < b:
            return Problem(
                "%(employee)s already has leave at this time: %(kind)s %(span)s",
                {
                    "employee": emp.employee_no,
                    "kind": row.kind,
                    "span": _span_text(other_start, other_end),
                },
            )
    return None


def add_leave_in(
    site: Site,
    scope: Scope,
    employee_nos: Sequence[str],
    kind: str,
    start: date | datetime | None,
    end: date | datetime | None,
    *,
    note: str | None = None,
    actor: Actor,
    now: datetime | None = None,
) -> LeaveAdded:
    """Leave for each of the employees (all of them, or nobody): full days (``start`` and
    ``end`` dates, inclusive) or part of a day (datetimes, ``[start, end)``). FormProblems
    by field (employees, kind, start, end, note): a range over :data:`MAX_LEAVE_DAYS`,
    leave that overlaps one of the person's, days outside their employment. ``now``: the
    site's wall-clock time for the re-processing (default the clock)."""
    kind = kind.strip()
    note = (note or "").strip() or None
    numbers = list(dict.fromkeys(n.strip() for n in employee_nos if n.strip()))
    problems = _leave_problems(kind, start, end, note)
    if not numbers:
        problems["employees"] = Problem("choose at least one employee")
    elif len(numbers) > MAX_PEOPLE:
        problems["employees"] = Problem("at most %(n)s people at a time", {"n": str(MAX_PEOPLE)})
    with _change(site) as conn:
        emps = [_employee_in(conn, scope, no) for no in numbers[:MAX_PEOPLE]]
        if problems:
            raise FormProblems(problems)
        assert start is not None and end is not None
        refused: list[Problem] = []
        for emp in emps:
            problem = _employment_problem(emp, start, end) or _overlap(conn, emp, start, end)
            if problem is not None:
                refused.append(problem)
        if refused:
            key = "start" if len(emps) == 1 else "employees"
            text = "; ".join(str(p) for p in refused)
            raise FormProblems({key: refused[0] if len(refused) == 1 else Problem.said(text)})
        ids: list[int] = []
        with rules_problem("start"):
            for emp in emps:
                ids.append(
                    leave_rules.add_leave(
                        conn, emp.employee_no, kind, start, end, note=note, actor=actor.name
                    )
                )
    return LeaveAdded(ids, [e.employee_no for e in emps], _refresh(site, actor, now))


def cancel_leave_in(
    site: Site, scope: Scope, leave_id: int, *, actor: Actor, now: datetime | None = None
) -> Refreshed:
    """Delete a leave the scope sees (the audit keeps it). FormProblems("form"): it lies in
    a closed pay period."""
    with _change(site) as conn:
        row = rules_store.leave_by_id(conn, leave_id)
        if row is None:
            raise access.NotFound("not found")
        _employee_in(conn, scope, row.employee_no)
        with rules_problem("form"):
            leave_rules.remove_leave(conn, leave_id, actor=actor.name)
    return _refresh(site, actor, now)


# ------------------------------------------------------------------------------------ audit


@dataclass(frozen=True, slots=True)
class Change:
    """One audit row: who did what, when."""

    at: datetime  # site local time
    by: str
    action: str  # add, remove, void, unvoid
    key: str  # the leave's or punch's id
    detail: dict[str, Any]


def _changes(site: Site, rows: list[dict[str, Any]]) -> list[Change]:
    found: list[Change] = []
    for r in rows:
        try:
            detail = json.loads(r["detail"]) if r["detail"] else {}
        except ValueError:
            detail = {"text": r["detail"]}
        if not isinstance(detail, dict):
            detail = {"text": str(detail)}
        found.append(
            Change(
                utc_to_local(r["changed_at"], site.zone),
                r["changed_by"],
                r["action"],
                r["entity_key"] or "",
                detail,
            )
        )
    return found


def leave_changes_in(
    site: Site, scope: Scope, *, department: str | None = None, employee_no: str | None = None
) -> list[Change]:
    """The newest changes of leave (entered, cancelled) of the people the scope sees (of one
    department or employee, each if given), at most :data:`AUDIT_ROWS`."""
    with site.engine.connect() as conn:
        ids = _department_ids(conn, scope, department)
        if employee_no:
            _employee_in(conn, scope, employee_no)
        rows = audit.changes(conn, "leave", limit=20 * AUDIT_ROWS)
        people = {e["employee_no"]: e for e in hr_store.employees(conn, ordered=False)}
    kept: list[Change] = []
    for change in _changes(site, rows):
        emp = people.get(str(change.detail.get("employee_no", "")))
        if emp is None or not scope.sees_department(emp["department_id"]):
            continue
        if ids is not None and emp["department_id"] not in ids:
            continue
        if employee_no and emp["employee_no"] != employee_no.strip():
            continue
        kept.append(change)
        if len(kept) >= AUDIT_ROWS:
            break
    return kept


# ---------------------------------------------------------------------------------- punches


@dataclass(frozen=True, slots=True)
class PunchEntry:
    id: int
    at: datetime  # site local time
    state: str
    source: str  # device, manual, import
    device: str | None
    note: str | None  # a manual punch's reason
    created_by: str | None
    void: bool
    void_reason: str | None
    voided_by: str | None
    flag: str | None  # why a device punch is not plausible (ignored by processing)


@dataclass(frozen=True, slots=True)
class PunchPage:
    employee: EmployeeRecord
    date_from: date
    date_to: date
    punches: list[PunchEntry]  # by time, void ones included
    changes: list[Change]  # the audit of these punches, newest first


def _punch_entry(row: Row) -> PunchEntry:
    return PunchEntry(
        row.id,
        row.punched_at,
        row.state,
        row.source,
        row.device,
        row.note,
        row.created_by,
        bool(row.void),
        row.void_reason,
        row.voided_by,
        row.flag,
    )


def punches_in(
    site: Site, scope: Scope, employee_no: str, date_from: date, date_to: date
) -> PunchPage:
    """An employee's punches on ``date_from`` … ``date_to`` (manual ones and those of the
    devices recording their enrolment number) and who added or voided them."""
    with site.engine.connect() as conn:
        emp = _employee_in(conn, scope, employee_no)
        _check_range(date_from, date_to)
        rows = punch_store.punches_of(
            conn,
            emp.id,
            emp.enroll_no,
            datetime.combine(date_from, time()),
            datetime.combine(date_to, time()) + timedelta(days=1),
        )
        changes = audit.changes(conn, "punch", [r.id for r in rows], limit=AUDIT_ROWS)
    return PunchPage(
        emp, date_from, date_to, [_punch_entry(r) for r in rows], _changes(site, changes)
    )


@dataclass(frozen=True, slots=True)
class PunchChanged:
    punch_id: int
    day: date  # the punch's local date
    refreshed: Refreshed


def add_punch_in(
    site: Site,
    scope: Scope,
    employee_no: str,
    at: datetime | None,
    *,
    reason: str,
    state: str = "unknown",
    actor: Actor,
    now: datetime | None = None,
) -> PunchChanged:
    """A manual punch (签卡) at the site's wall-clock time ``at``. FormProblems by field
    (at, reason, state): a manual punch in the same minute, a time after the day following
    the last day or before the hire date, a closed pay period."""
    reason = reason.strip()
    problems: dict[str, Problem] = {}
    if at is None:
        problems["at"] = Problem("required")
    if not reason:
        problems["reason"] = Problem("required")
    elif len(reason) > NOTE_MAX:
        problems["reason"] = Problem("at most %(n)s characters", {"n": str(NOTE_MAX)})
    if state not in PUNCH_STATES:
        problems["state"] = Problem("not one of the choices")
    with _change(site) as conn:
        emp = _employee_in(conn, scope, employee_no)
        if at is not None:
            day = at.date()
            if emp.separation_date is not None and day > emp.separation_date + timedelta(days=1):
                problems["at"] = Problem(
                    "%(employee)s left: the last day was %(day)s",
                    {"employee": emp.employee_no, "day": _iso(emp.separation_date)},
                )
            elif day < emp.hire_date - timedelta(days=1):
                problems["at"] = Problem(
                    "before the hire date %(day)s", {"day": _iso(emp.hire_date)}
                )
        if problems:
            raise FormProblems(problems)
        assert at is not None
        with rules_problem("at"):
            punch_id = punch_rules.add_manual_punch(
                conn,
                emp.employee_no,
                at,
                reason=reason,
                actor=actor.name,
                tz=site.zone,
                state=state,
            )
    return PunchChanged(punch_id, at.date(), _refresh(site, actor, now))


def _punch_of(conn: Connection, emp: EmployeeRecord, punch_id: int) -> Row:
    """The punch, if it is one of the employee's (as :func:`punches_in` lists them)."""
    row = punch_store.punch_by_id(conn, punch_id)
    if row is None:
        raise access.NotFound("not found")
    at = row.punched_at
    mine = punch_store.punches_of(conn, emp.id, emp.enroll_no, at, at + timedelta(seconds=1))
    if punch_id not in {r.id for r in mine}:
        raise access.NotFound("not found")
    return row


def void_punch_in(
    site: Site,
    scope: Scope,
    employee_no: str,
    punch_id: int,
    *,
    reason: str,
    actor: Actor,
    now: datetime | None = None,
) -> PunchChanged:
    """Void one of the employee's punches (device or manual): kept, with the reason and who,
    ignored by processing. FormProblems("reason"): no reason, already void, closed."""
    reason = reason.strip()
    with _change(site) as conn:
        emp = _employee_in(conn, scope, employee_no)
        row = _punch_of(conn, emp, punch_id)
        if not reason:
            raise FormProblems({"reason": Problem("required")})
        if len(reason) > NOTE_MAX:
            raise FormProblems(
                {"reason": Problem("at most %(n)s characters", {"n": str(NOTE_MAX)})}
            )
        if row.void:
            raise FormProblems({"reason": Problem("already void")})
        with rules_problem("reason"):
            punch_rules.void_punch(conn, punch_id, reason=reason, actor=actor.name)
    return PunchChanged(punch_id, row.punched_at.date(), _refresh(site, actor, now))


def unvoid_punch_in(
    site: Site,
    scope: Scope,
    employee_no: str,
    punch_id: int,
    *,
    reason: str = "",
    actor: Actor,
    now: datetime | None = None,
) -> PunchChanged:
    """Make a void punch of the employee count again (the audit keeps the history)."""
    reason = reason.strip()[:NOTE_MAX]
    with _change(site) as conn:
        emp = _employee_in(conn, scope, employee_no)
        row = _punch_of(conn, emp, punch_id)
        if not row.void:
            raise FormProblems({"reason": Problem("not void")})
        with rules_problem("reason"):
            punch_rules.unvoid_punch(conn, punch_id, actor=actor.name, reason=reason or None)
    return PunchChanged(punch_id, row.punched_at.date(), _refresh(site, actor, now))


__all__ = [
    "AUDIT_ROWS",
    "MAX_LEAVE_DAYS",
    "MAX_LIST_DAYS",
    "PUNCH_STATES",
    "Change",
    "FormProblems",
    "LeaveAdded",
    "LeaveEntry",
    "Problem",
    "PunchChanged",
    "PunchEntry",
    "PunchPage",
    "add_leave_in",
    "add_punch_in",
    "cancel_leave_in",
    "employees_for_leave",
    "leave_changes_in",
    "list_leave_in",
    "punches_in",
    "unvoid_punch_in",
    "void_punch_in",
]
