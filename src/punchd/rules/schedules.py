"""Schedules (排班: who works which shift from when) and temporary schedules (临时排班: one
date, a shift day or rest) entered with the commands. Each change writes its audit row and
queues the days to re-process; problems raise :class:`RulesError` before anything is
written. ``rules load`` replaces the schedules with the file's."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from punchd.processing import requeue
from punchd.rules import lookups
from punchd.rules.errors import RulesError
from punchd.storage import audit
from punchd.storage import rules as stored

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


def assign_schedule(
    conn: Connection,
    shift_code: str,
    *,
    employee_no: str | None = None,
    department_code: str | None = None,
    date_from: date,
    date_to: date | None = None,
    anchor: date | None = None,
    actor: str,
) -> int:
    """排班: an employee or a department works ``shift_code`` from ``date_from`` to
    ``date_to`` (inclusive; None open-ended); ``anchor`` is day 0 of the cycle (default
    ``date_from``). Returns the ``att_schedule.id``. Note: ``rules load`` replaces all
    schedules with the file's."""
    if date_to is not None and date_to < date_from:
        raise RulesError(f"the schedule ends ({date_to}) before it starts ({date_from})")
    s = lookups.shift(conn, shift_code)
    employee_id, department_id, label = lookups.target(conn, employee_no, department_code)
    schedule_id = stored.add_schedule(
        conn,
        {
            "employee_id": employee_id,
            "department_id": department_id,
            "shift_id": s.id,
            "date_from": date_from,
            "date_to": date_to,
            "anchor": anchor,
        },
        actor=actor,
        detail={
            "shift": shift_code,
            "target": label,
            "from": date_from,
            "to": date_to,
            "anchor": anchor,
        },
    )
    requeue.enqueue_schedule(conn, schedule_id)
    return schedule_id


def remove_schedule(conn: Connection, schedule_id: int, *, actor: str) -> None:
    rows = [r for r in list_schedules(conn) if r["id"] == schedule_id]
    if not rows:
        raise RulesError(f"no schedule with id {schedule_id}")
    requeue.enqueue_schedule(conn, schedule_id)  # before the row goes
    stored.delete_schedule(conn, schedule_id)
    audit.record(conn, actor, "remove", "schedule", schedule_id, rows[0])


def list_schedules(conn: Connection) -> list[dict[str, Any]]:
    """Every schedule: id, shift, employee (employee_no) or department (code), from, to,
    anchor, created_by."""
    return [
        {
            "id": r.id,
            "shift": r.shift,
            "employee": r.employee_no,
            "department": r.department,
            "from": r.date_from,
            "to": r.date_to,
            "anchor": r.anchor,
            "created_by": r.created_by,
        }
        for r in stored.schedule_list(conn)
    ]


def write_override(
    conn: Connection,
    work_date: date,
    employee_id: int | None,
    department_id: int | None,
    shift_id: int | None,
    day_index: int,
    *,
    actor: str,
) -> str:
    """Insert or replace the override of one date and target: "added" / "changed" /
    "unchanged". No audit row (the caller writes its own)."""
    rows = stored.overrides_of(conn, work_date, employee_id, department_id)
    day_index = day_index if shift_id is not None else 0
    if len(rows) == 1 and rows[0].shift_id == shift_id and rows[0].day_index == day_index:
        return "unchanged"
    if rows:
        stored.delete_overrides(conn, work_date, employee_id, department_id)
    stored.add_override(
        conn,
        {
            "work_date": work_date,
            "employee_id": employee_id,
            "department_id": department_id,
            "shift_id": shift_id,
            "day_index": day_index,
        },
        actor=actor,
    )
    return "changed" if rows else "added"


def set_override(
    conn: Connection,
    work_date: date,
    *,
    employee_no: str | None = None,
    department_code: str | None = None,
    shift_code: str | None = None,
    day_index: int = 0,
    actor: str,
) -> str:
    """临时排班 for one date: ``shift_code`` None makes it a rest day, otherwise day
    ``day_index`` (0-based) of that shift's cycle is worked. Replaces an existing override
    of the same date and target. Returns "added" / "changed" / "unchanged"."""
    employee_id, department_id, label = lookups.target(conn, employee_no, department_code)
    shift_id = None
    if shift_code is not None:
        s = lookups.shift(conn, shift_code)
        if not 0 <= day_index < s.cycle_days:
            raise RulesError(f"shift {shift_code!r} has days 1–{s.cycle_days}, not {day_index + 1}")
        shift_id = s.id
    what = write_override(
        conn, work_date, employee_id, department_id, shift_id, day_index, actor=actor
    )
    if what != "unchanged":
        audit.record(
            conn,
            actor,
            "override",
            "schedule_override",
            f"{work_date}/{label}",
            {"shift": shift_code, "day_index": day_index if shift_code else None},
        )
        requeue.enqueue_override(conn, work_date, employee_id, department_id)
    return what


def clear_override(
    conn: Connection,
    work_date: date,
    *,
    employee_no: str | None = None,
    department_code: str | None = None,
    actor: str,
) -> None:
    employee_id, department_id, label = lookups.target(conn, employee_no, department_code)
    if stored.delete_overrides(conn, work_date, employee_id, department_id) == 0:
        raise RulesError(f"no temporary schedule on {work_date} for {label}")
    audit.record(conn, actor, "remove", "schedule_override", f"{work_date}/{label}")
    requeue.enqueue_override(conn, work_date, employee_id, department_id)


def list_overrides(
    conn: Connection, date_from: date | None = None, date_to: date | None = None
) -> list[dict[str, Any]]:
    """Temporary schedules: date, employee / department, shift (None: rest), day_index."""
    return [
        {
            "id": r.id,
            "date": r.work_date,
            "employee": r.employee_no,
            "department": r.department,
            "shift": r.shift,
            "day_index": r.day_index,
            "created_by": r.created_by,
        }
        for r in stored.override_list(conn, date_from, date_to)
    ]
