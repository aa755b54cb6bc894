"""Data access for pay periods: closes and reopens (``att_pay_period``), the period state of
``att_day``, what is still open in a month, changes that arrived after a close
(``att_after_close``), the payroll views, and the read-only payroll database role.

Every function takes a ``Connection`` and runs inside the caller's transaction; none
commits.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import exists, func, insert, select, text, true, update
from sqlalchemy.engine import Connection

from punchd.storage._bulk import IN_CHUNK, chunks
from punchd.storage.schema import (
    att_after_close,
    att_day,
    att_department,
    att_employee,
    att_exception,
    att_pay_period,
)

#: The views a payroll database role may read (docs/schema.md).
PAYROLL_VIEWS = ("att_payroll_month", "att_payroll_leave")
#: A database role name punchd creates: plain letters, digits and underscores.
ROLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


@dataclass(frozen=True, slots=True)
class PeriodRow:
    """One ``att_pay_period`` row; ``department_code`` None: everyone."""

    id: int
    month: str
    department_id: int | None
    department_code: str | None
    version: int
    state: str
    closed_at: datetime
    closed_by: str
    forced: bool
    close_reason: str | None
    open_items: int
    reopened_at: datetime | None
    reopened_by: str | None
    reopen_reason: str | None


def periods(
    conn: Connection,
    *,
    months: Sequence[str] | None = None,
    state: str | None = None,
) -> list[PeriodRow]:
    """Rows of ``att_pay_period`` (of ``months``, in ``state``), by month, version, id."""
    t, p = att_pay_period, att_department
    stmt = (
        select(
            t.c.id,
            t.c.month,
            t.c.department_id,
            p.c.code,
            t.c.version,
            t.c.state,
            t.c.closed_at,
            t.c.closed_by,
            t.c.forced,
            t.c.close_reason,
            t.c.open_items,
            t.c.reopened_at,
            t.c.reopened_by,
            t.c.reopen_reason,
        )
        .select_from(t.outerjoin(p, p.c.id == t.c.department_id))
        .order_by(t.c.month, t.c.version, t.c.id)
    )
    if months is not None:
        stmt = stmt.where(t.c.month.in_(list(months)))
    if state is not None:
        stmt = stmt.where(t.c.state == state)
    return [PeriodRow(*r) for r in conn.execute(stmt)]


def last_version(conn: Connection, month: str) -> int:
    """The highest close version of ``month`` (0: never closed)."""
    found = conn.execute(
        select(func.max(att_pay_period.c.version)).where(att_pay_period.c.month == month)
    ).scalar_one()
    return int(found or 0)


def add_close(
    conn: Connection,
    *,
    month: str,
    department_id: int | None,
    version: int,
    at: datetime,
    by: str,
    forced: bool,
    reason: str | None,
    open_items: int,
) -> None:
    conn.execute(
        insert(att_pay_period).values(
            month=month,
            department_id=department_id,
            department_key=department_id or 0,
            version=version,
            state="closed",
            closed_at=at,
            closed_by=by,
            forced=forced,
            close_reason=reason,
            open_items=open_items,
        )
    )


def mark_reopened(
    conn: Connection, ids: Sequence[int], *, at: datetime, by: str, reason: str
) -> None:
    conn.execute(
        update(att_pay_period)
        .where(att_pay_period.c.id.in_(list(ids)))
        .values(state="reopened", reopened_at=at, reopened_by=by, reopen_reason=reason)
    )


def set_day_state(
    conn: Connection,
    first: date,
    last: date,
    department_ids: Sequence[int] | None,
    *,
    state: str,
    version: int | None,
    versions: Sequence[int] | None = None,
) -> int:
    """``att_day.period_state`` / ``close_version`` of the days in ``[first, last]`` of the
    employees of ``department_ids`` (None: everyone); ``versions``: only the days closed
    with one of these versions (a reopen: also employees who changed department since).
    Returns the rows changed."""
    stmt = (
        update(att_day)
        .where(att_day.c.work_date >= first, att_day.c.work_date <= last)
        .values(period_state=state, close_version=version)
    )
    if versions is not None:
        stmt = stmt.where(att_day.c.close_version.in_(list(versions)))
        department_ids = None
    if department_ids is not None:
        stmt = stmt.where(
            att_day.c.employee_id.in_(
                select(att_employee.c.id).where(
                    att_employee.c.department_id.in_(list(department_ids))
                )
            )
        )
    return conn.execute(stmt).rowcount


def department_id_of(conn: Connection, code: str) -> int | None:
    return conn.execute(
        select(att_department.c.id).where(att_department.c.code == code)
    ).scalar_one_or_none()


def day_dates(conn: Connection, employee_id: int, first: date, last: date) -> set[date]:
    """The work dates in ``[first, last]`` with an att_day row of the employee."""
    d = att_day.c
    return set(
        conn.execute(
            select(d.work_date).where(
                d.employee_id == employee_id, d.work_date >= first, d.work_date <= last
            )
        ).scalars()
    )


def department_code(conn: Connection, department_id: int | None) -> str:
    return (
        conn.execute(
            select(att_department.c.code).where(att_department.c.id == department_id)
        ).scalar_one_or_none()
        or "?"
    )


# --------------------------------------------------------------------- what is still open


def _in_scope(column: Any, employee_ids: Sequence[int] | None) -> Any:
    return true() if employee_ids is None else column.in_(list(employee_ids))


def day_counts(
    conn: Connection, first: date, last: date, employee_ids: Sequence[int] | None
) -> dict[int, int]:
    """Employee id → att_day rows in ``[first, last]``."""
    d = att_day.c
    stmt = (
        select(d.employee_id, func.count())
        .where(d.work_date >= first, d.work_date <= last)
        .group_by(d.employee_id)
    )
    out: dict[int, int] = {}
    for chunk in _id_chunks(employee_ids):
        out.update(
            (eid, int(n)) for eid, n in conn.execute(stmt.where(_in_scope(d.employee_id, chunk)))
        )
    return out


def _id_chunks(employee_ids: Sequence[int] | None) -> Iterable[Sequence[int] | None]:
    if employee_ids is None:
        return [None]
    return list(chunks(sorted(set(employee_ids)), IN_CHUNK)) or []


def incomplete_days(
    conn: Connection, first: date, last: date, employee_ids: Sequence[int] | None
) -> list[tuple[str, date]]:
    """(employee number, work date) of the ``incomplete`` days in ``[first, last]``."""
    d, e = att_day.c, att_employee.c
    stmt = (
        select(e.employee_no, d.work_date)
        .select_from(att_day.join(att_employee, att_employee.c.id == d.employee_id))
        .where(d.work_date >= first, d.work_date <= last, d.status == "incomplete")
    )
    out: list[tuple[str, date]] = []
    for chunk in _id_chunks(employee_ids):
        out.extend(tuple(r) for r in conn.execute(stmt.where(_in_scope(d.employee_id, chunk))))
    return sorted(out)


def findings_of_kinds(
    conn: Connection,
    first: date,
    last: date,
    kinds: Sequence[str],
    employee_ids: Sequence[int] | None,
) -> list[tuple[str, date, str, str]]:
    """(employee number, work date, kind, detail) of att_exception rows of ``kinds``."""
    if not kinds:
        return []
    x, e = att_exception.c, att_employee.c
    stmt = (
        select(e.employee_no, x.work_date, x.kind, x.detail)
        .select_from(att_exception.join(att_employee, att_employee.c.id == x.employee_id))
        .where(x.work_date >= first, x.work_date <= last, x.kind.in_(list(kinds)))
    )
    out: list[tuple[str, date, str, str]] = []
    for chunk in _id_chunks(employee_ids):
        out.extend(tuple(r) for r in conn.execute(stmt.where(_in_scope(x.employee_id, chunk))))
    return sorted(out)


def closed_day_keys(
    conn: Connection, first: date, last: date, employee_ids: Sequence[int] | None
) -> set[tuple[int, date]]:
    """(employee id, work date) of the closed att_day rows in ``[first, last]``."""
    d = att_day.c
    stmt = select(d.employee_id, d.work_date).where(
        d.work_date >= first, d.work_date <= last, d.period_state == "closed"
    )
    out: set[tuple[int, date]] = set()
    for chunk in _id_chunks(employee_ids):
        out.update(tuple(r) for r in conn.execute(stmt.where(_in_scope(d.employee_id, chunk))))
    return out


def closed_versions(
    conn: Connection, employee_id: int, first: date, last: date
) -> list[tuple[date, int]]:
    """(work date, close version) of the employee's closed att_day rows in the range."""
    d = att_day.c
    return [
        tuple(r)
        for r in conn.execute(
            select(d.work_date, d.close_version)
            .where(
                d.employee_id == employee_id,
                d.work_date >= first,
                d.work_date <= last,
                d.period_state == "closed",
            )
            .order_by(d.work_date)
        )
    ]


def employees_closed_with(
    conn: Connection, first: date, last: date, versions: Sequence[int]
) -> set[int]:
    """Employee ids with att_day rows in the range closed with one of ``versions``."""
    d = att_day.c
    return set(
        conn.execute(
            select(d.employee_id)
            .where(
                d.work_date >= first,
                d.work_date <= last,
                d.period_state == "closed",
                d.close_version.in_(list(versions)),
            )
            .distinct()
        ).scalars()
    )


def open_day_filter() -> tuple[Any, Any]:
    """Conditions that keep a DELETE of att_day / att_exception off closed days."""
    closed = exists().where(
        att_day.c.employee_id == att_exception.c.employee_id,
        att_day.c.work_date == att_exception.c.work_date,
        att_day.c.period_state == "closed",
    )
    return att_day.c.period_state != "closed", ~closed


# ----------------------------------------------------------------- arrived after close


def note_after_close(
    conn: Connection, rows: Iterable[tuple[int, date, str, int]], *, at: datetime
) -> int:
    """Record (employee id, work date, reason, version) rows not recorded yet. Returns how
    many were new."""
    wanted = sorted(set(rows))
    if not wanted:
        return 0
    a = att_after_close.c
    have: set[tuple[int, date, str, int]] = set()
    for chunk in chunks(sorted({r[0] for r in wanted}), IN_CHUNK):
        lo, hi = min(r[1] for r in wanted), max(r[1] for r in wanted)
        have.update(
            tuple(r)
            for r in conn.execute(
                select(a.employee_id, a.work_date, a.reason, a.version).where(
                    a.employee_id.in_(list(chunk)), a.work_date >= lo, a.work_date <= hi
                )
            )
        )
    new = [
        {"employee_id": e, "work_date": d, "reason": r, "version": v, "noted_at": at}
        for e, d, r, v in wanted
        if (e, d, r, v) not in have
    ]
    if new:
        conn.execute(insert(att_after_close), new)
    return len(new)


@dataclass(frozen=True, slots=True)
class AfterCloseRow:
    employee_no: str
    name: str
    department_code: str
    work_date: date
    reason: str
    version: int
    noted_at: datetime


def after_close(
    conn: Connection,
    first: date,
    last: date,
    *,
    since: datetime | None = None,
    employee_ids: Sequence[int] | None = None,
) -> list[AfterCloseRow]:
    """The employee-days of closed periods whose inputs changed after the close, in
    ``[first, last]`` (noted since ``since``), by employee number and date."""
    a, e, p = att_after_close.c, att_employee.c, att_department.c
    stmt = (
        select(e.employee_no, e.name, p.code, a.work_date, a.reason, a.version, a.noted_at)
        .select_from(
            att_after_close.join(att_employee, att_employee.c.id == a.employee_id).join(
                att_department, att_department.c.id == e.department_id
            )
        )
        .where(a.work_date >= first, a.work_date <= last)
        .order_by(e.employee_no, a.work_date, a.reason, a.version)
    )
    if since is not None:
        stmt = stmt.where(a.noted_at >= since)
    if employee_ids is not None:
        stmt = stmt.where(a.employee_id.in_(list(employee_ids)))
    return [AfterCloseRow(*r) for r in conn.execute(stmt)]


def after_close_summary(conn: Connection, since: datetime) -> tuple[int, list[str]]:
    """(employee-days noted since ``since``, their months) — for ``status``."""
    a = att_after_close.c
    rows = conn.execute(
        select(a.employee_id, a.work_date).where(a.noted_at >= since).distinct()
    ).all()
    months = sorted({d.strftime("%Y-%m") for _, d in rows})
    return len(rows), months


# ------------------------------------------------------------------------ payroll reads

#: ``att_payroll_month`` columns the payroll export reads, in order.
PAYROLL_MONTH_COLUMNS = (
    "employee_id",
    "employee_no",
    "employee_name",
    "department_code",
    "days",
    "present_days",
    "absent_days",
    "leave_days",
    "holiday_days",
    "rest_days",
    "incomplete_days",
    "late_days",
    "early_days",
    "scheduled_minutes",
    "worked_minutes",
    "late_minutes",
    "early_minutes",
    "absent_minutes",
    "leave_minutes",
    "overtime_minutes",
    "holiday_overtime_minutes",
    "rest_overtime_minutes",
    "missing_punches",
    "close_version",
)


def payroll_month(conn: Connection, month: str) -> list[dict[str, Any]]:
    """``att_payroll_month`` rows of ``month`` (closed days only), by employee number; sums
    as ints."""
    sql = (
        f"SELECT {', '.join(PAYROLL_MONTH_COLUMNS)} FROM att_payroll_month"
        " WHERE month = :month ORDER BY employee_no"
    )
    out = []
    for row in conn.execute(text(sql), {"month": month}):
        values = dict(zip(PAYROLL_MONTH_COLUMNS, row, strict=True))
        for key in PAYROLL_MONTH_COLUMNS[4:]:
            values[key] = None if values[key] is None else int(values[key])
        out.append(values)
    return out


def payroll_leave(conn: Connection, month: str) -> list[tuple[int, str, int, int]]:
    """(employee id, leave type, days, minutes) of ``att_payroll_leave`` for ``month``."""
    sql = (
        "SELECT employee_id, leave_kind, leave_days, leave_minutes FROM att_payroll_leave"
        " WHERE month = :month ORDER BY employee_id, leave_kind"
    )
    return [
        (int(e), k or "", int(d), int(m))
        for e, k, d, m in conn.execute(text(sql), {"month": month})
    ]


# ------------------------------------------------------------------- the payroll role


def grant_payroll(conn: Connection, role: str, password: str | None) -> str:
    """Create ``role`` (or update its password) with SELECT on :data:`PAYROLL_VIEWS` and
    nothing else, on PostgreSQL or MariaDB/MySQL. Returns "created" or "updated". The
    password is passed as a bound literal where the server allows it, never logged."""
    if not ROLE_NAME.fullmatch(role):
        raise ValueError(f"role name {role!r}: letters, digits and _ only (at most 63)")
    dialect = conn.dialect.name
    if dialect == "postgresql":
        return _grant_postgresql(conn, role, password)
    if dialect in ("mysql", "mariadb"):
        return _grant_mysql(conn, role, password)
    raise ValueError(f"{dialect} has no database roles")


def _quote_literal(conn: Connection, value: str) -> str:
    """A string literal rendered by the dialect (CREATE ROLE / USER take no parameters)."""
    from sqlalchemy import String, literal

    return str(
        literal(value, String()).compile(
            dialect=conn.dialect, compile_kwargs={"literal_binds": True}
        )
    )


def _grant_postgresql(conn: Connection, role: str, password: str | None) -> str:
    found = conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first()
    secret = "" if password is None else f" PASSWORD {_quote_literal(conn, password)}"
    if found is None:
        conn.exec_driver_sql(f'CREATE ROLE "{role}" LOGIN{secret}')
    elif secret:
        conn.exec_driver_sql(f'ALTER ROLE "{role}" LOGIN{secret}')
    database = conn.execute(text("SELECT current_database()")).scalar_one()
    schema = conn.execute(text("SELECT current_schema()")).scalar_one()
    conn.exec_driver_sql(f'GRANT CONNECT ON DATABASE "{database}" TO "{role}"')
    conn.exec_driver_sql(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"')
    for view in PAYROLL_VIEWS:
        conn.exec_driver_sql(f'GRANT SELECT ON "{schema}"."{view}" TO "{role}"')
    return "created" if found is None else "updated"


def _grant_mysql(conn: Connection, role: str, password: str | None) -> str:
    found = conn.execute(
        text("SELECT 1 FROM mysql.user WHERE user = :r AND host = '%'"), {"r": role}
    ).first()
    secret = "" if password is None else f" IDENTIFIED BY {_quote_literal(conn, password)}"
    # the driver formats the statement: '%%' is the host wildcard, and the rendered
    # password literal has its own % doubled already
    if found is None:
        conn.exec_driver_sql(f"CREATE USER '{role}'@'%%'{secret}")
    elif secret:
        conn.exec_driver_sql(f"ALTER USER '{role}'@'%%'{secret}")
    database = conn.execute(text("SELECT DATABASE()")).scalar_one()
    for view in PAYROLL_VIEWS:
        conn.exec_driver_sql(f"GRANT SELECT ON `{database}`.`{view}` TO '{role}'@'%%'")
    return "created" if found is None else "updated"
