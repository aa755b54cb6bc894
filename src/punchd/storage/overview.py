"""Read-only queries of the console's home page: one day's processed results of the people in
a set of departments (or of one employee), and a department's headcount of that day."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.engine import Connection

from punchd.storage._bulk import IN_CHUNK, chunks
from punchd.storage.schema import att_day, att_department, att_employee


def _in_departments(department_ids: Collection[int] | None):
    if department_ids is None:
        return None
    ids = sorted(department_ids)
    if not ids:
        return att_employee.c.id.is_(None)  # nothing
    return or_(*(att_employee.c.department_id.in_(c) for c in chunks(ids, IN_CHUNK)))


def late_or_absent(
    conn: Connection,
    work_date: date,
    *,
    department_ids: Collection[int] | None,
    limit: int = 200,
) -> list[Any]:
    """The people (of ``department_ids``; None: everybody) whose processed ``work_date`` is
    absent or has late minutes, by employee number: ``employee_no, name, department_code,
    department, status, late_minutes, absent_minutes, first_punch``."""
    d, e, p = att_day, att_employee, att_department
    stmt = (
        select(
            e.c.employee_no,
            e.c.name,
            p.c.code.label("department_code"),
            p.c.name.label("department"),
            d.c.status,
            d.c.late_minutes,
            d.c.absent_minutes,
            d.c.first_punch,
        )
        .select_from(d.join(e, e.c.id == d.c.employee_id).join(p, p.c.id == e.c.department_id))
        .where(
            d.c.work_date == work_date,
            or_(d.c.status == "absent", d.c.late_minutes > 0, d.c.absent_minutes > 0),
        )
        .order_by(e.c.employee_no)
        .limit(limit)
    )
    where = _in_departments(department_ids)
    if where is not None:
        stmt = stmt.where(where)
    return list(conn.execute(stmt))


def department_day(
    conn: Connection, work_date: date, *, department_ids: Collection[int] | None
) -> list[Any]:
    """Per department (of ``department_ids``; None: all) with processed results on
    ``work_date``: ``department_code, department, people, present, absent, late, leave``."""
    d, e, p = att_day, att_employee, att_department

    def count(cond: Any) -> Any:
        return func.sum(case((cond, 1), else_=0))

    stmt = (
        select(
            p.c.code.label("department_code"),
            p.c.name.label("department"),
            func.count().label("people"),
            count(d.c.status == "present").label("present"),
            count(d.c.status == "absent").label("absent"),
            count(d.c.late_minutes > 0).label("late"),
            count(d.c.status == "leave").label("leave"),
        )
        .select_from(d.join(e, e.c.id == d.c.employee_id).join(p, p.c.id == e.c.department_id))
        .where(d.c.work_date == work_date)
        .group_by(p.c.code, p.c.name)
        .order_by(p.c.code)
    )
    where = _in_departments(department_ids)
    if where is not None:
        stmt = stmt.where(where)
    return list(conn.execute(stmt))


def employee_days(conn: Connection, employee_id: int, date_from: date, date_to: date) -> list[Any]:
    """One employee's processed days in the range, newest first: ``work_date, shift_code,
    status, first_punch, last_punch, worked_minutes, late_minutes, early_minutes,
    absent_minutes, leave_minutes, overtime_minutes, missing_punches``."""
    d = att_day
    stmt = (
        select(
            d.c.work_date,
            d.c.shift_code,
            d.c.status,
            d.c.first_punch,
            d.c.last_punch,
            d.c.worked_minutes,
            d.c.late_minutes,
            d.c.early_minutes,
            d.c.absent_minutes,
            d.c.leave_minutes,
            d.c.overtime_minutes,
            d.c.missing_punches,
        )
        .where(
            and_(d.c.employee_id == employee_id, d.c.work_date >= date_from),
            d.c.work_date <= date_to,
        )
        .order_by(d.c.work_date.desc())
    )
    return list(conn.execute(stmt))
