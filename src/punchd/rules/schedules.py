"""Schedules (排班: who works which shift from when) and temporary schedules (临时排班: one
date, a shift day or rest) entered with the commands. Each change writes its audit row and
queues the days to re-process; problems raise :class:`RulesError` before anything is
written. ``rules load`` replaces the schedules with the file's."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from punchd.processing import requeue
from punchd.rules import lookups
from punchd.rules.errors import RulesError
from punchd.storage import audit
from punchd.storage import hr as hr_store
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


def set_employee_overrides(
    conn: Connection,
    employee_nos: Sequence[str],
    date_from: date,
    date_to: date,
    *,
    shift_code: str | None = None,
    day_index: Callable[[date], int] = lambda _day: 0,
    actor: str,
) -> int:
    """临时排班 for many people and days at once (a batch fill): each of ``employee_nos``
    gets, on each date of ``[date_from, date_to]``, what :func:`set_override` would give
    them (``day_index(date)``: the shift's cycle day worked on that date) — the same rows,
    written in a few statements instead of a handful per person-day. One audit row per
    person whose days changed (``schedule_override``, key ``<from>~<to>/employee <no>``,
    the changed dates in its detail); exactly the changed person-days are queued. Returns
    how many person-days changed. RulesError (nothing written) for an unknown person or
    shift, a cycle day the shift lacks, or a change in a closed pay period."""
    if date_to < date_from:
        raise RulesError(f"the range ends ({date_to}) before it starts ({date_from})")
    wanted = list(dict.fromkeys(employee_nos))
    found = {e["employee_no"]: e for e in hr_store.employees_by_no(conn, wanted)}
    if unknown := [no for no in wanted if no not in found]:
        raise RulesError(f"unknown employee {unknown[0]!r}")
    dates = [date_from + timedelta(days=i) for i in range((date_to - date_from).days + 1)]
    shift_id = None
    wanted_index = dict.fromkeys(dates, 0)
    if shift_code is not None:
        s = lookups.shift(conn, shift_code)
        for d in dates:
            i = wanted_index[d] = day_index(d)
            if not 0 <= i < s.cycle_days:
                raise RulesError(f"shift {shift_code!r} has days 1–{s.cycle_days}, not {i + 1}")
        shift_id = s.id
    ids = [found[no]["id"] for no in wanted]
    existing: dict[tuple[int, date], list[Any]] = {}
    for row in stored.employee_overrides_between(conn, ids, date_from, date_to):
        existing.setdefault((row.employee_id, row.work_date), []).append(row)
    stale: list[int] = []
    new_rows: list[dict[str, Any]] = []
    changed: dict[str, list[date]] = {}
    for no in sorted(wanted):
        employee_id = found[no]["id"]
        for d in dates:
            rows = existing.get((employee_id, d), [])
            if (
                len(rows) == 1
                and rows[0].shift_id == shift_id
                and (rows[0].day_index == wanted_index[d])
            ):
                continue  # unchanged, as set_override leaves it
            stale.extend(r.id for r in rows)
            new_rows.append(
                {
                    "work_date": d,
                    "employee_id": employee_id,
                    "department_id": None,
                    "shift_id": shift_id,
                    "day_index": wanted_index[d],
                }
            )
            changed.setdefault(no, []).append(d)
    if not new_rows:
        return 0
    stored.delete_overrides_by_id(conn, stale)
    stored.add_overrides(conn, new_rows, actor=actor)
    for no, days in changed.items():
        audit.record(
            conn,
            actor,
            "override",
            "schedule_override",
            f"{days[0]}~{days[-1]}/employee {no}",
            {
                "shift": shift_code,
                "days": [d.isoformat() for d in days],
                "day_index": [wanted_index[d] for d in days] if shift_code else None,
            },
        )
    requeue.enqueue_employee_days(
        conn, {found[no]["id"]: days for no, days in changed.items()}, reason="override"
    )
    return len(new_rows)


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
