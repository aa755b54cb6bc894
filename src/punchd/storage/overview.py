"""Read-only queries of the console's pages: one day's processed results of the people in a
set of departments (or of one employee), a department's headcount of that day, a
department's people with their day, and one employee's punches and exceptions."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.engine import Connection

from punchd.storage._bulk import IN_CHUNK, chunks
from punchd.storage.schema import (
    att_day,
    att_department,
    att_device,
    att_employee,
    att_exception,
    att_punch,
)


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


#: the minutes of a day the console shows (columns of ``att_day``)
DAY_MINUTES = (
    "worked_minutes",
    "late_minutes",
    "early_minutes",
    "absent_minutes",
    "leave_minutes",
    "overtime_minutes",
    "missing_punches",
)


def department_people(
    conn: Connection, department_ids: Collection[int], work_date: date
) -> list[Any]:
    """The people of ``department_ids`` on ``work_date`` — employed that day (hired on or
    before it, not separated before it) or with a processed result of it — by employee
    number: ``employee_id, employee_no, name, department_id, shift_code, status,
    first_punch, last_punch`` and :data:`DAY_MINUTES` (``status`` etc. None: no result)."""
    d, e = att_day, att_employee
    employed = and_(
        e.c.hire_date <= work_date,
        or_(e.c.separation_date.is_(None), e.c.separation_date >= work_date),
    )
    stmt = (
        select(
            e.c.id.label("employee_id"),
            e.c.employee_no,
            e.c.name,
            e.c.department_id,
            d.c.shift_code,
            d.c.status,
            d.c.first_punch,
            d.c.last_punch,
            *(d.c[c] for c in DAY_MINUTES),
        )
        .select_from(e.outerjoin(d, and_(d.c.employee_id == e.c.id, d.c.work_date == work_date)))
        .where(_in_departments(department_ids), or_(d.c.id.is_not(None), employed))
        .order_by(e.c.employee_no)
    )
    return list(conn.execute(stmt))


def department_exceptions(
    conn: Connection, department_ids: Collection[int], work_date: date
) -> list[Any]:
    """The exceptions of ``work_date`` of the people of ``department_ids``, in the order they
    were written: ``employee_id, period, kind, minutes, detail``."""
    x, e = att_exception, att_employee
    stmt = (
        select(x.c.employee_id, x.c.period, x.c.kind, x.c.minutes, x.c.detail)
        .select_from(x.join(e, e.c.id == x.c.employee_id))
        .where(x.c.work_date == work_date, _in_departments(department_ids))
        .order_by(x.c.id)
    )
    return list(conn.execute(stmt))


def employee_exceptions(
    conn: Connection, employee_id: int, date_from: date, date_to: date
) -> list[Any]:
    """One employee's exceptions in the range, newest day first (then as written):
    ``work_date, period, kind, minutes, detail``."""
    x = att_exception
    stmt = (
        select(x.c.work_date, x.c.period, x.c.kind, x.c.minutes, x.c.detail)
        .where(
            x.c.employee_id == employee_id,
            x.c.work_date >= date_from,
            x.c.work_date <= date_to,
        )
        .order_by(x.c.work_date.desc(), x.c.id)
    )
    return list(conn.execute(stmt))


def card_punches(
    conn: Connection, card_nos: Collection[str], start: datetime, end: datetime
) -> list[Any]:
    """The punches at local ``[start, end)`` of card clocks (``user_code = 'card'``) under
    one of ``card_nos`` — whose they are depends on who held the card then, which the
    caller decides. ``att_punch`` columns plus ``device`` (name); by time."""
    if not card_nos:
        return []
    p, dev = att_punch, att_device
    cards = sorted(card_nos)
    stmt = (
        select(p, dev.c.name.label("device"))
        .join(dev, dev.c.id == p.c.device_id)
        .where(
            dev.c.user_code == "card",
            p.c.employee_id.is_(None),
            or_(*(p.c.enroll_no.in_(c) for c in chunks(cards, IN_CHUNK))),
            p.c.punched_at >= start,
            p.c.punched_at < end,
        )
        .order_by(p.c.punched_at, p.c.id)
    )
    return list(conn.execute(stmt))
