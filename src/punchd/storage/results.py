"""Data access for attendance processing and reports: who is processed, their punches, the
``att_day`` / ``att_exception`` results (replaced in bulk) and what the reports read.

Every function takes a ``Connection`` and runs inside the caller's transaction; none
commits. Rows come back as plain tuples or dataclasses.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import String, Table, and_, case, delete, false, func, insert, or_, select, text
from sqlalchemy.engine import Connection

from punchd.errors import PunchdError
from punchd.storage import hr
from punchd.storage._bulk import IN_CHUNK, chunks, execute_many
from punchd.storage.periods import open_day_filter
from punchd.storage.punches import AFTER_LEAVING
from punchd.storage.schema import (
    att_card,
    att_day,
    att_department,
    att_device,
    att_employee,
    att_exception,
)
from punchd.storage.schema import att_punch as P


class UnknownSelection(PunchdError, LookupError):
    """A department code or employee numbers that are not in the database."""


@dataclass(frozen=True, slots=True)
class EmployeeRow:
    """What processing needs of an employee."""

    id: int
    employee_no: str
    enroll_no: str | None
    department_id: int
    hire_date: date
    separation_date: date | None

    def employed_between(self, d_from: date, d_to: date) -> bool:
        return self.hire_date <= d_to and (
            self.separation_date is None or self.separation_date >= d_from
        )


# ------------------------------------------------------------------------- employees

_EMPLOYEE_COLUMNS = (
    att_employee.c.id,
    att_employee.c.employee_no,
    att_employee.c.enroll_no,
    att_employee.c.department_id,
    att_employee.c.hire_date,
    att_employee.c.separation_date,
)


def department_id(conn: Connection, code: str) -> int:
    """``att_department.id`` of ``code``; UnknownSelection if there is none."""
    found = hr.department_id(conn, code)
    if found is None:
        raise UnknownSelection(f"unknown department {code!r}")
    return found


def select_employees(
    conn: Connection,
    *,
    employee_nos: Sequence[str] | None = None,
    department: str | None = None,
    ids: Iterable[int] | None = None,
) -> list[EmployeeRow]:
    """Employees matching every given filter (None: no filter), ordered by id.

    Unknown employee numbers or an unknown department code raise UnknownSelection.
    """
    stmt = select(*_EMPLOYEE_COLUMNS).order_by(att_employee.c.id)
    if department is not None:
        stmt = stmt.where(att_employee.c.department_id == department_id(conn, department))
    rows: list[EmployeeRow] = []
    if employee_nos is not None:
        wanted = list(dict.fromkeys(employee_nos))
        found_nos: set[str] = set()
        for chunk in chunks(wanted, IN_CHUNK):
            found_nos.update(
                conn.execute(
                    select(att_employee.c.employee_no).where(att_employee.c.employee_no.in_(chunk))
                ).scalars()
            )
        unknown = [no for no in wanted if no not in found_nos]
        if unknown:
            raise UnknownSelection(f"unknown employee number(s): {', '.join(unknown)}")
        for chunk in chunks(wanted, IN_CHUNK):
            rows.extend(
                EmployeeRow(*r)
                for r in conn.execute(stmt.where(att_employee.c.employee_no.in_(chunk)))
            )
    elif ids is not None:
        for chunk in chunks(sorted(set(ids)), IN_CHUNK):
            rows.extend(
                EmployeeRow(*r) for r in conn.execute(stmt.where(att_employee.c.id.in_(chunk)))
            )
    else:
        rows = [EmployeeRow(*r) for r in conn.execute(stmt)]
    rows.sort(key=lambda e: e.id)
    return rows


def employee_numbers(conn: Connection, ids: Iterable[int]) -> dict[int, str]:
    """att_employee.id → employee_no."""
    out: dict[int, str] = {}
    for chunk in chunks(sorted(set(ids)), IN_CHUNK):
        out.update(
            conn.execute(
                select(att_employee.c.id, att_employee.c.employee_no).where(
                    att_employee.c.id.in_(chunk)
                )
            ).all()
        )
    return out


def enroll_owners(conn: Connection, enroll_nos: Sequence[str] | None = None) -> dict[str, int]:
    """Enrolment number → employee id, of ``enroll_nos`` (None: every enrolled employee)."""
    e = att_employee.c
    if enroll_nos is None:
        stmt = select(e.enroll_no, e.id).where(e.enroll_no.is_not(None))
        return {no: eid for no, eid in conn.execute(stmt)}
    out: dict[str, int] = {}
    for chunk in chunks(sorted(set(enroll_nos)), IN_CHUNK):
        out.update(conn.execute(select(e.enroll_no, e.id).where(e.enroll_no.in_(chunk))).all())
    return out


def any_cards(conn: Connection) -> bool:
    """Whether any card was ever issued (card clocks' punches then need the card index)."""
    return conn.execute(select(att_card.c.id).limit(1)).first() is not None


def card_numbers(conn: Connection, employee_ids: Sequence[int]) -> set[str]:
    """Every card number these employees ever held."""
    out: set[str] = set()
    for chunk in chunks(list(employee_ids), IN_CHUNK):
        out.update(
            conn.execute(
                select(att_card.c.card_no).where(att_card.c.employee_id.in_(chunk))
            ).scalars()
        )
    return out


def device_user_code(conn: Connection, name: str) -> tuple[bool, str | None]:
    """(whether the device ``name`` exists, its ``user_code``)."""
    row = conn.execute(
        select(att_device.c.id, att_device.c.user_code).where(att_device.c.name == name)
    ).first()
    return (False, None) if row is None else (True, row.user_code)


# --------------------------------------------------------------------------- punches


def punch_rows(
    conn: Connection,
    start: datetime,
    end: datetime,
    *,
    employee_ids: Sequence[int] | None = None,
    codes: Sequence[str] | None = None,
) -> Iterable[tuple[int | None, str, datetime, str | None]]:
    """``(employee_id, enroll_no, punched_at, device user_code)`` of the punches in
    ``[start, end)`` that count: not voided, not flagged implausible. A punch flagged
    ``after_leaving`` is read too: no day after the separation is processed, so it counts
    only where it falls in the last day's own window (a night shift's check-out after
    midnight) and is left over everywhere else.

    With ``employee_ids``: only the manual punches of those employees and the device
    punches carrying one of ``codes`` (enrolment or card numbers); None: every punch."""
    stmt = (
        select(P.c.employee_id, P.c.enroll_no, P.c.punched_at, att_device.c.user_code)
        .select_from(P.outerjoin(att_device, att_device.c.id == P.c.device_id))
        .where(P.c.punched_at >= start, P.c.punched_at < end, P.c.void == false())
        .where(or_(P.c.flag.is_(None), P.c.flag == AFTER_LEAVING))
    )
    if employee_ids is not None:
        stmt = stmt.where(
            or_(
                P.c.employee_id.in_(list(employee_ids)),
                and_(P.c.employee_id.is_(None), P.c.enroll_no.in_(sorted(codes)))
                if codes
                else false(),
            )
        )
    return conn.execute(stmt)


def latest_punches(conn: Connection, device: str, limit: int) -> list[Any]:
    """The device's last ``limit`` punches, newest first: rows with ``enroll_no``,
    ``punched_at``, ``state``, ``verify_mode``."""
    return list(
        conn.execute(
            select(P.c.enroll_no, P.c.punched_at, P.c.state, P.c.verify_mode)
            .join(att_device, att_device.c.id == P.c.device_id)
            .where(att_device.c.name == device)
            .order_by(P.c.punched_at.desc(), P.c.id.desc())
            .limit(limit)
        ).all()
    )


# --------------------------------------------------------------------------- results


def processed_range(conn: Connection) -> tuple[date, date] | None:
    """The first and last work date that has results (None: nothing processed yet)."""
    lo, hi = conn.execute(
        select(func.min(att_day.c.work_date), func.max(att_day.c.work_date))
    ).one()
    return None if lo is None else (lo, hi)


def replace_results(
    conn: Connection,
    scope: Sequence[int] | None,
    date_from: date,
    date_to: date,
    days: list[dict[str, Any]],
    exceptions: list[dict[str, Any]],
    *,
    keep_closed: bool = False,
) -> None:
    """In the caller's transaction: delete the att_day / att_exception rows of ``scope``
    (None: everybody) in ``[date_from, date_to]``, insert ``days`` and ``exceptions``.
    ``keep_closed``: the rows of days in a closed pay period stay (the caller left them out
    of ``days`` and ``exceptions``)."""
    keep = open_day_filter() if keep_closed else None
    for table in (att_exception, att_day):
        in_range = and_(table.c.work_date >= date_from, table.c.work_date <= date_to)
        if keep is not None:
            in_range = and_(in_range, keep[0] if table is att_day else keep[1])
        if scope is None:
            conn.execute(delete(table).where(in_range))
        else:
            for chunk in chunks(sorted(scope), IN_CHUNK):
                conn.execute(delete(table).where(in_range, table.c.employee_id.in_(chunk)))
    insert_rows(conn, att_day, days)
    insert_rows(conn, att_exception, exceptions)


def insert_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Bulk INSERT of ``rows`` (dicts with the same keys) into ``table``."""
    if not rows:
        return
    keys = tuple(rows[0])
    get = itemgetter(*keys) if len(keys) > 1 else lambda r: (r[keys[0]],)
    execute_many(conn, insert(table), table, keys, [get(r) for r in rows])


# --------------------------------------------------------------------------- reports

#: att_day's minute and count columns, in report order.
DAY_MINUTES = (
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
)


def day_rows(
    conn: Connection, date_from: date, date_to: date, employee_ids: Sequence[int] | None
) -> list[Any]:
    """att_day in the range (of ``employee_ids``; None: everybody) with the employee and
    department, ordered by employee number and date. Attributes, in this order (the
    detail report reads them by position): ``employee_id``, ``employee_no``, ``name``,
    ``department_code``, ``department``, ``work_date``, ``shift_code``, ``status``,
    ``first_punch``, ``last_punch`` and :data:`DAY_MINUTES`."""
    d, e, p = att_day, att_employee, att_department
    stmt = (
        select(
            d.c.employee_id,
            e.c.employee_no,
            e.c.name,
            p.c.code.label("department_code"),
            p.c.name.label("department"),
            d.c.work_date,
            d.c.shift_code,
            d.c.status,
            d.c.first_punch,
            d.c.last_punch,
            *(d.c[c] for c in DAY_MINUTES),
        )
        .select_from(d.join(e, e.c.id == d.c.employee_id).join(p, p.c.id == e.c.department_id))
        .where(d.c.work_date >= date_from, d.c.work_date <= date_to)
        .order_by(e.c.employee_no, d.c.work_date)
    )
    if employee_ids is not None:
        stmt = stmt.where(d.c.employee_id.in_(list(employee_ids)))
    return list(conn.execute(stmt))


#: day_rows' attributes a page can be ordered by in SQL (the others are computed)
PAGE_ORDER = (
    "employee_no",
    "name",
    "department_code",
    "department",
    "work_date",
    "shift_code",
    "status",
    "first_punch",
    "last_punch",
    *DAY_MINUTES,
)


def _day_kind_filter(kinds: Iterable[str]) -> Any:
    """SQL for "the day has any of these kinds" over att_day ``d`` — the same test as
    ``reports.build``'s ``_day_kinds`` (a missing punch: the count, or a missing_in /
    missing_out exception of the day); kind ``flagged`` matches no day."""
    d, x = att_day.c, att_exception.c
    missing_exception = (
        select(x.id)
        .where(
            x.employee_id == d.employee_id,
            x.work_date == d.work_date,
            x.kind.in_(("missing_in", "missing_out")),
        )
        .exists()
    )
    tests = {
        "late": d.late_minutes > 0,
        "early": d.early_minutes > 0,
        "absent": or_(d.absent_minutes > 0, d.status == "absent"),
        "missing": or_(d.missing_punches > 0, missing_exception),
        "leave": or_(d.leave_minutes > 0, d.status == "leave"),
        "overtime": or_(
            d.overtime_minutes != 0, d.holiday_overtime_minutes != 0, d.rest_overtime_minutes != 0
        ),
    }
    chosen = [tests[k] for k in sorted(set(kinds)) if k in tests]
    return or_(*chosen) if chosen else false()


def _day_rows_from(
    date_from: date, date_to: date, employee_ids: Sequence[int] | None, kinds: Iterable[str] | None
) -> tuple[dict[str, Any], Any, list[Any]]:
    """day_rows' columns (attribute → column), joins and conditions."""
    d, e, p = att_day, att_employee, att_department
    columns = {
        "employee_id": d.c.employee_id,
        "employee_no": e.c.employee_no,
        "name": e.c.name,
        "department_code": p.c.code,
        "department": p.c.name,
        "work_date": d.c.work_date,
        "shift_code": d.c.shift_code,
        "status": d.c.status,
        "first_punch": d.c.first_punch,
        "last_punch": d.c.last_punch,
        **{c: d.c[c] for c in DAY_MINUTES},
    }
    joined = d.join(e, e.c.id == d.c.employee_id).join(p, p.c.id == e.c.department_id)
    where = [d.c.work_date >= date_from, d.c.work_date <= date_to]
    if employee_ids is not None:
        where.append(d.c.employee_id.in_(list(employee_ids)))
    if kinds is not None:
        where.append(_day_kind_filter(kinds))
    return columns, joined, where


def day_rows_count(
    conn: Connection,
    date_from: date,
    date_to: date,
    employee_ids: Sequence[int] | None,
    *,
    kinds: Iterable[str] | None = None,
) -> int:
    """How many rows :func:`day_rows_page` pages through."""
    _, joined, where = _day_rows_from(date_from, date_to, employee_ids, kinds)
    return int(conn.execute(select(func.count()).select_from(joined).where(*where)).scalar_one())


def day_rows_page(
    conn: Connection,
    date_from: date,
    date_to: date,
    employee_ids: Sequence[int] | None,
    *,
    kinds: Iterable[str] | None = None,
    order: str | None = None,
    descending: bool = False,
    offset: int = 0,
    limit: int = 100,
) -> list[Any]:
    """``limit`` rows of :func:`day_rows` (same attributes) from ``offset``, cut in the
    database: ``kinds`` keeps days with any of them (None: every day); ``order`` (one of
    :data:`PAGE_ORDER`; None: day_rows' order) orders by that attribute as Python compares
    the values (text by code point), empty ones (NULL, '') last either way, ties in
    day_rows' order."""
    columns, joined, where = _day_rows_from(date_from, date_to, employee_ids, kinds)
    e, d = att_employee, att_day
    in_order: list[Any] = [e.c.employee_no, d.c.work_date]
    ordering = in_order
    if order is not None:
        column = columns[order]
        empty = column.is_(None)
        if isinstance(column.type, String):
            empty = or_(empty, column == "")
            if conn.dialect.name == "postgresql":  # code point order, as Python's
                column = column.collate("C")
        # the empty ones all alike (NULL), so that day_rows' order decides among them
        value = case((empty, None), else_=column)
        ordering = [
            case((empty, 1), else_=0),
            value.desc() if descending else value.asc(),
            *in_order,
        ]
    stmt = (
        select(*(c.label(k) for k, c in columns.items()))
        .select_from(joined)
        .where(*where)
        .order_by(*ordering)
        .limit(limit)
        .offset(offset)
    )
    return list(conn.execute(stmt))


def exception_rows(
    conn: Connection, date_from: date, date_to: date, employee_ids: Sequence[int] | None
) -> list[tuple[int, date, str | None, str, int, str]]:
    """``(employee_id, work_date, period, kind, minutes, detail)`` of att_exception in the
    range (of ``employee_ids``; None: everybody), in the order they were written."""
    x = att_exception
    stmt = (
        select(x.c.employee_id, x.c.work_date, x.c.period, x.c.kind, x.c.minutes, x.c.detail)
        .where(x.c.work_date >= date_from, x.c.work_date <= date_to)
        .order_by(x.c.id)
    )
    if employee_ids is not None:
        stmt = stmt.where(x.c.employee_id.in_(list(employee_ids)))
    return [tuple(r) for r in conn.execute(stmt)]


def flagged_punches(
    conn: Connection, lo: datetime, hi: datetime, employee_ids: Sequence[int] | None
) -> list[Any]:
    """The punches flagged implausible that are dated *or were collected* in ``[lo, hi)``,
    with their owner by manual employee or enrolment number (if any), oldest first.
    Attributes: ``enroll_no``, ``punched_at``, ``state``, ``flag``, ``device``,
    ``employee_no``, ``name``, ``department_code``, ``department``."""
    dev, e, dep = att_device, att_employee, att_department
    owner = or_(
        e.c.id == P.c.employee_id,
        and_(P.c.employee_id.is_(None), e.c.enroll_no == P.c.enroll_no),
    )
    stmt = (
        select(
            P.c.enroll_no,
            P.c.punched_at,
            P.c.state,
            P.c.flag,
            dev.c.name.label("device"),
            e.c.employee_no,
            e.c.name,
            dep.c.code.label("department_code"),
            dep.c.name.label("department"),
        )
        .select_from(
            P.join(dev, dev.c.id == P.c.device_id)
            .outerjoin(e, owner)
            .outerjoin(dep, dep.c.id == e.c.department_id)
        )
        .where(
            P.c.flag.is_not(None),
            or_(
                and_(P.c.punched_at >= lo, P.c.punched_at < hi),
                and_(P.c.collected_at >= lo, P.c.collected_at < hi),
            ),
        )
        .order_by(P.c.punched_at, P.c.id)
    )
    if employee_ids is not None:
        stmt = stmt.where(e.c.id.in_(list(employee_ids)))
    return list(conn.execute(stmt))


#: The columns of ``att_month_summary`` (and the department's name) a summary report
#: shows, in order; ``month_summary`` returns them in this order.
MONTH_SUMMARY_COLUMNS = (
    "employee_no",
    "employee_name",
    "department_code",
    "department",
    "month",
    "days",
    "present_days",
    "absent_days",
    "leave_days",
    "holiday_days",
    "rest_days",
    "incomplete_days",
    "late_days",
    "early_days",
    *DAY_MINUTES,
)


def month_summary(
    conn: Connection,
    month_from: str,
    month_to: str,
    *,
    department: str | None = None,
    employee_nos: Sequence[str] | None = None,
) -> list[tuple[Any, ...]]:
    """Rows of the view ``att_month_summary`` for months ``month_from`` … ``month_to``
    (``YYYY-MM``), ordered by employee number and month, in MONTH_SUMMARY_COLUMNS order
    (sums as the driver returns them: Decimal on MySQL)."""
    columns = ", ".join("p.name" if c == "department" else f"s.{c}" for c in MONTH_SUMMARY_COLUMNS)
    sql = (
        f"SELECT {columns} FROM att_month_summary s"
        " JOIN att_department p ON p.code = s.department_code"
        " WHERE s.month >= :m_from AND s.month <= :m_to"
    )
    params: dict[str, Any] = {"m_from": month_from, "m_to": month_to}
    if department is not None:
        sql += " AND s.department_code = :dept"
        params["dept"] = department
    if employee_nos:
        names = [f":e{i}" for i in range(len(employee_nos))]
        sql += f" AND s.employee_no IN ({', '.join(names)})"
        params.update({f"e{i}": no for i, no in enumerate(employee_nos)})
    sql += " ORDER BY s.employee_no, s.month"
    return [tuple(r) for r in conn.execute(text(sql), params)]
