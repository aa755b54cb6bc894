"""Leave (请假) and business trips: full days or part of a day. Each change writes its audit
row and queues the days to re-process; problems raise :class:`RulesError` before anything is
written."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

from punchd.processing import Leave, requeue
from punchd.rules import lookups
from punchd.rules.errors import RulesError
from punchd.storage import audit
from punchd.storage import rules as stored

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Row


def add_leave(
    conn: Connection,
    employee_no: str,
    kind: str,
    start: date | datetime,
    end: date | datetime | None = None,
    *,
    note: str | None = None,
    actor: str,
) -> int:
    """Leave (请假) or a business trip; returns its id.

    ``start`` / ``end`` as dates: full days ``start`` … ``end`` inclusive (``end`` default
    ``start``); as datetimes: the wall-clock range ``[start, end)``. Accepted for employees
    who have left, whatever the order of entry."""
    kind = kind.strip()
    if not kind or len(kind) > 32:
        raise RulesError("the leave type must be 1–32 characters (annual, sick, trip …)")
    full_day = not isinstance(start, datetime)
    if end is None:
        if not full_day:
            raise RulesError("part-day leave needs an end time")
        end = start
    if isinstance(end, datetime) == full_day:
        raise RulesError("give both ends as dates (full days) or both as date and time")
    try:
        Leave("check", kind, start, end)
    except ValueError as exc:
        raise RulesError(str(exc)) from None
    emp = lookups.employee(conn, employee_no)
    if full_day:
        start_at, end_at = datetime.combine(start, time()), datetime.combine(end, time())
    else:
        start_at, end_at = (
            start.replace(second=0, microsecond=0),
            end.replace(  # type: ignore[union-attr]
                second=0, microsecond=0
            ),
        )
        if end_at <= start_at:
            raise RulesError("leave ends before it starts")
    leave_id = stored.add_leave(
        conn,
        {
            "employee_id": emp.id,
            "kind": kind,
            "start_at": start_at,
            "end_at": end_at,
            "full_day": full_day,
            "note": note,
        },
        actor=actor,
        detail={
            "employee_no": employee_no,
            "kind": kind,
            "start": start,
            "end": end,
            "full_day": full_day,
            "note": note,
        },
    )
    requeue.enqueue_leave(conn, emp.id, start_at, end_at, full_day)
    return leave_id


def remove_leave(conn: Connection, leave_id: int, *, actor: str) -> None:
    row = stored.leave_by_id(conn, leave_id)
    if row is None:
        raise RulesError(f"no leave with id {leave_id}")
    stored.delete_leave(conn, leave_id)
    audit.record(
        conn,
        actor,
        "remove",
        "leave",
        leave_id,
        {
            "employee_no": row.employee_no,
            "kind": row.kind,
            "start_at": row.start_at,
            "end_at": row.end_at,
            "full_day": row.full_day,
        },
    )
    requeue.enqueue_leave(conn, row.employee_id, row.start_at, row.end_at, row.full_day)


def list_leave(
    conn: Connection,
    employee_no: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> list[Row]:
    """Leave rows (with ``employee_no``, ``name``) overlapping ``[date_from, date_to]``."""
    return stored.leave_list(
        conn,
        employee_id=None if employee_no is None else lookups.employee(conn, employee_no).id,
        ends_from=None if date_from is None else datetime.combine(date_from, time()),
        starts_before=None if date_to is None else datetime.combine(date_to, time()) + timedelta(1),
    )
