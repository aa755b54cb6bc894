"""The rules tables: settings, periods, shifts, schedules, temporary schedules (overrides),
holidays, confirmed calendar years and leave — every statement on them.

Plain functions on the caller's :class:`Connection` (its transaction). Rows come back as
SQLAlchemy ``Row`` objects (named tuples: ``row.code``, ``row.id``) or plain values. What the
rows mean (docs/rules.md § "In the database") is :mod:`punchd.rules`' business; nothing here
decides anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Table, and_, delete, func, insert, or_, select, update
from sqlalchemy.engine import Connection, Row

from punchd.clock import utc_stamp
from punchd.storage import audit
from punchd.storage._bulk import IN_CHUNK, chunks
from punchd.storage.schema import (
    att_calendar_year,
    att_department,
    att_employee,
    att_holiday,
    att_leave,
    att_period,
    att_schedule,
    att_schedule_override,
    att_setting,
    att_shift,
    att_shift_period,
)

now = utc_stamp
"""The time every row written here is stamped with (UTC, naive)."""


def add_audited(
    conn: Connection,
    table: Table,
    values: Mapping[str, Any],
    *,
    actor: str,
    action: str,
    entity: str,
    detail: dict[str, Any],
) -> int:
    """Insert one row made by ``actor`` (``created_by``, and ``created_at`` where the table
    has it) and the audit row that records it; the new row's id."""
    stamp: dict[str, Any] = {"created_by": actor}
    if "created_at" in table.c:
        stamp["created_at"] = now()
    result = conn.execute(insert(table).values(**values, **stamp))
    new_id = result.inserted_primary_key[0]
    audit.record(conn, actor, action, entity, new_id, detail)
    return new_id


# ------------------------------------------------------------------------------ lookups


def employee_by_no(conn: Connection, employee_no: str) -> Row | None:
    return conn.execute(
        select(att_employee).where(att_employee.c.employee_no == employee_no)
    ).first()


def employee_ids(conn: Connection) -> dict[str, int]:
    """Staff number → ``att_employee.id``."""
    return {
        r.employee_no: r.id
        for r in conn.execute(select(att_employee.c.employee_no, att_employee.c.id))
    }


def department_ids(conn: Connection) -> dict[str, int]:
    """Department code → ``att_department.id``."""
    return {r.code: r.id for r in conn.execute(select(att_department.c.code, att_department.c.id))}


# ----------------------------------------------------------------------------- settings


def setting_values(conn: Connection) -> dict[str, str]:
    """``att_setting`` as name → stored JSON text."""
    return {r.name: r.value for r in conn.execute(select(att_setting.c.name, att_setting.c.value))}


def write_setting(
    conn: Connection, name: str, value_json: str, *, exists: bool, actor: str
) -> None:
    """Insert (``exists`` False) or update one setting."""
    if exists:
        conn.execute(
            update(att_setting)
            .where(att_setting.c.name == name)
            .values(value=value_json, updated_at=now(), updated_by=actor)
        )
    else:
        conn.execute(
            insert(att_setting).values(
                name=name, value=value_json, updated_at=now(), updated_by=actor
            )
        )


def delete_setting(conn: Connection, name: str) -> bool:
    """False if there was no such row."""
    return conn.execute(delete(att_setting).where(att_setting.c.name == name)).rowcount > 0


# --------------------------------------------------------------------- periods and shifts


def periods(conn: Connection, *, by_start: bool = False) -> list[Row]:
    """Every ``att_period`` row (``by_start``: ordered by start minute)."""
    query = select(att_period)
    if by_start:
        query = query.order_by(att_period.c.start_minute)
    return list(conn.execute(query).all())


def add_period(conn: Connection, code: str, values: Mapping[str, Any], *, actor: str) -> int:
    result = conn.execute(
        insert(att_period).values(code=code, updated_at=now(), updated_by=actor, **values)
    )
    return result.inserted_primary_key[0]


def update_period(
    conn: Connection, period_id: int, values: Mapping[str, Any], *, actor: str
) -> None:
    conn.execute(
        update(att_period)
        .where(att_period.c.id == period_id)
        .values(updated_at=now(), updated_by=actor, **values)
    )


def delete_period(conn: Connection, period_id: int) -> None:
    conn.execute(delete(att_period).where(att_period.c.id == period_id))


def used_period_ids(conn: Connection) -> set[int]:
    """Periods some shift's day uses."""
    return set(conn.execute(select(att_shift_period.c.period_id).distinct()).scalars())


def shifts(conn: Connection, *, by_code: bool = False) -> list[Row]:
    query = select(att_shift)
    if by_code:
        query = query.order_by(att_shift.c.code)
    return list(conn.execute(query).all())


def shift_by_code(conn: Connection, code: str) -> Row | None:
    return conn.execute(select(att_shift).where(att_shift.c.code == code)).first()


def shift_codes(conn: Connection) -> list[str]:
    """Every shift code, sorted."""
    return list(conn.execute(select(att_shift.c.code).order_by(att_shift.c.code)).scalars())


def shift_days(conn: Connection) -> list[Row]:
    """Every ``att_shift_period`` row: ``shift_id``, ``day_index``, ``period_id``."""
    return list(
        conn.execute(
            select(
                att_shift_period.c.shift_id,
                att_shift_period.c.day_index,
                att_shift_period.c.period_id,
            )
        ).all()
    )


def used_shift_ids(conn: Connection) -> set[int]:
    """Shifts a schedule or a temporary schedule uses."""
    used = set(conn.execute(select(att_schedule.c.shift_id).distinct()).scalars())
    return used | set(conn.execute(select(att_schedule_override.c.shift_id).distinct()).scalars())


def add_shift(conn: Connection, code: str, values: Mapping[str, Any], *, actor: str) -> int:
    result = conn.execute(
        insert(att_shift).values(code=code, updated_at=now(), updated_by=actor, **values)
    )
    return result.inserted_primary_key[0]


def update_shift(conn: Connection, shift_id: int, values: Mapping[str, Any], *, actor: str) -> None:
    conn.execute(
        update(att_shift)
        .where(att_shift.c.id == shift_id)
        .values(updated_at=now(), updated_by=actor, **values)
    )


def set_shift_days(conn: Connection, shift_id: int, days: Iterable[tuple[int, int]]) -> None:
    """Replace a shift's ``(day_index, period_id)`` pairs."""
    conn.execute(delete(att_shift_period).where(att_shift_period.c.shift_id == shift_id))
    rows = [{"shift_id": shift_id, "day_index": i, "period_id": p} for i, p in days]
    if rows:
        conn.execute(insert(att_shift_period), rows)


def delete_shift(conn: Connection, shift_id: int) -> None:
    """A shift and its days."""
    conn.execute(delete(att_shift_period).where(att_shift_period.c.shift_id == shift_id))
    conn.execute(delete(att_shift).where(att_shift.c.id == shift_id))


# ---------------------------------------------------------------------------- schedules


def schedules(conn: Connection) -> list[Row]:
    """Every ``att_schedule`` row, by id."""
    return list(conn.execute(select(att_schedule).order_by(att_schedule.c.id)).all())


def schedules_touching(conn: Connection, date_from: date, date_to: date) -> list[Row]:
    """Schedules in force on some date of ``[date_from, date_to]``, by id."""
    return list(
        conn.execute(
            select(att_schedule)
            .where(
                att_schedule.c.date_from <= date_to,
                or_(att_schedule.c.date_to.is_(None), att_schedule.c.date_to >= date_from),
            )
            .order_by(att_schedule.c.id)
        ).all()
    )


def schedule_list(conn: Connection) -> list[Row]:
    """Every schedule with ``shift`` (code), ``employee_no``, ``department`` (code); by
    first date."""
    return list(
        conn.execute(
            select(
                att_schedule,
                att_shift.c.code.label("shift"),
                att_employee.c.employee_no,
                att_department.c.code.label("department"),
            )
            .join(att_shift, att_shift.c.id == att_schedule.c.shift_id)
            .outerjoin(att_employee, att_employee.c.id == att_schedule.c.employee_id)
            .outerjoin(att_department, att_department.c.id == att_schedule.c.department_id)
            .order_by(att_schedule.c.date_from, att_schedule.c.id)
        ).all()
    )


def add_schedule(
    conn: Connection, values: Mapping[str, Any], *, actor: str, detail: dict[str, Any] | None = None
) -> int:
    """A schedule row (``employee_id``, ``department_id``, ``shift_id``, ``date_from``,
    ``date_to``, ``anchor``); with ``detail``, its "assign" audit row too."""
    if detail is not None:
        return add_audited(
            conn,
            att_schedule,
            values,
            actor=actor,
            action="assign",
            entity="schedule",
            detail=detail,
        )
    result = conn.execute(insert(att_schedule).values(**values, created_at=now(), created_by=actor))
    return result.inserted_primary_key[0]


def delete_schedule(conn: Connection, schedule_id: int) -> None:
    conn.execute(delete(att_schedule).where(att_schedule.c.id == schedule_id))


# ---------------------------------------------------------------- temporary schedules


def _override_target(work_date: date, employee_id: int | None, department_id: int | None):
    t = att_schedule_override.c
    return and_(
        t.work_date == work_date,
        t.employee_id == employee_id if employee_id is not None else t.employee_id.is_(None),
        t.department_id == department_id
        if department_id is not None
        else t.department_id.is_(None),
    )


def overrides_of(
    conn: Connection, work_date: date, employee_id: int | None, department_id: int | None
) -> list[Row]:
    """The overrides of one date and target (employee or department)."""
    return list(
        conn.execute(
            select(att_schedule_override).where(
                _override_target(work_date, employee_id, department_id)
            )
        ).all()
    )


def delete_overrides(
    conn: Connection, work_date: date, employee_id: int | None, department_id: int | None
) -> int:
    """Remove the overrides of one date and target; how many there were."""
    return conn.execute(
        delete(att_schedule_override).where(_override_target(work_date, employee_id, department_id))
    ).rowcount


def add_override(conn: Connection, values: Mapping[str, Any], *, actor: str) -> None:
    conn.execute(insert(att_schedule_override).values(**values, created_at=now(), created_by=actor))


def employee_overrides_between(
    conn: Connection, employee_ids: Iterable[int], date_from: date, date_to: date
) -> list[Row]:
    """The employees' own overrides (not their department's) of ``[date_from,
    date_to]``, by id: one read for a batch fill instead of one per person-day."""
    t = att_schedule_override
    out: list[Row] = []
    for chunk in chunks(sorted(set(employee_ids)), IN_CHUNK):
        out.extend(
            conn.execute(
                select(t).where(
                    t.c.employee_id.in_(chunk),
                    t.c.department_id.is_(None),
                    t.c.work_date >= date_from,
                    t.c.work_date <= date_to,
                )
            ).all()
        )
    out.sort(key=lambda r: r.id)
    return out


def delete_overrides_by_id(conn: Connection, ids: Iterable[int]) -> int:
    """Remove overrides by id; how many went."""
    gone = 0
    for chunk in chunks(sorted(set(ids)), IN_CHUNK):
        gone += conn.execute(
            delete(att_schedule_override).where(att_schedule_override.c.id.in_(chunk))
        ).rowcount
    return gone


def add_overrides(conn: Connection, rows: Sequence[Mapping[str, Any]], *, actor: str) -> None:
    """Insert many overrides (dicts of the same keys) in one executemany."""
    if rows:
        stamp = {"created_at": now(), "created_by": actor}
        conn.execute(insert(att_schedule_override), [{**r, **stamp} for r in rows])


def overrides_between(conn: Connection, date_from: date, date_to: date) -> list[Row]:
    """Overrides of ``[date_from, date_to]``, by id."""
    t = att_schedule_override
    return list(
        conn.execute(
            select(t).where(t.c.work_date >= date_from, t.c.work_date <= date_to).order_by(t.c.id)
        ).all()
    )


def override_list(
    conn: Connection, date_from: date | None = None, date_to: date | None = None
) -> list[Row]:
    """Overrides with ``shift`` (code or None), ``employee_no``, ``department`` (code); by
    date."""
    t = att_schedule_override
    query = (
        select(
            t,
            att_shift.c.code.label("shift"),
            att_employee.c.employee_no,
            att_department.c.code.label("department"),
        )
        .outerjoin(att_shift, att_shift.c.id == t.c.shift_id)
        .outerjoin(att_employee, att_employee.c.id == t.c.employee_id)
        .outerjoin(att_department, att_department.c.id == t.c.department_id)
        .order_by(t.c.work_date, t.c.id)
    )
    if date_from is not None:
        query = query.where(t.c.work_date >= date_from)
    if date_to is not None:
        query = query.where(t.c.work_date <= date_to)
    return list(conn.execute(query).all())


def count_overrides(conn: Connection) -> int:
    return conn.execute(select(func.count()).select_from(att_schedule_override)).scalar_one()


# ------------------------------------------------------------------------------ holidays


def holidays(conn: Connection, year: int | None = None) -> list[Row]:
    """``att_holiday`` rows by date (of ``year`` only, if given)."""
    query = select(att_holiday).order_by(att_holiday.c.holiday_date)
    if year is not None:
        query = query.where(
            att_holiday.c.holiday_date >= date(year, 1, 1),
            att_holiday.c.holiday_date <= date(year, 12, 31),
        )
    return list(conn.execute(query).all())


def holiday_on(conn: Connection, day: date) -> Row | None:
    return conn.execute(select(att_holiday).where(att_holiday.c.holiday_date == day)).first()


def add_holiday(conn: Connection, day: date, kind: str, name: str, *, actor: str) -> None:
    conn.execute(
        insert(att_holiday).values(
            holiday_date=day, kind=kind, name=name, created_at=now(), created_by=actor
        )
    )


def update_holiday(conn: Connection, holiday_id: int, kind: str, name: str, *, actor: str) -> None:
    conn.execute(
        update(att_holiday)
        .where(att_holiday.c.id == holiday_id)
        .values(kind=kind, name=name, created_at=now(), created_by=actor)
    )


def delete_holiday(conn: Connection, holiday_id: int) -> None:
    conn.execute(delete(att_holiday).where(att_holiday.c.id == holiday_id))


def count_holidays(conn: Connection) -> int:
    return conn.execute(select(func.count()).select_from(att_holiday)).scalar_one()


def calendar_years(conn: Connection) -> dict[int, Row]:
    """``att_calendar_year`` rows by year (the years HR confirmed)."""
    return {r.year: r for r in conn.execute(select(att_calendar_year))}


def add_calendar_year(conn: Connection, year: int, *, actor: str) -> None:
    conn.execute(
        insert(att_calendar_year).values(year=year, confirmed_at=now(), confirmed_by=actor)
    )


def delete_calendar_year(conn: Connection, year: int) -> None:
    conn.execute(delete(att_calendar_year).where(att_calendar_year.c.year == year))


# --------------------------------------------------------------------------------- leave


def leave_list(
    conn: Connection,
    *,
    employee_id: int | None = None,
    ends_from: datetime | None = None,
    starts_before: datetime | None = None,
) -> list[Row]:
    """Leave rows with ``employee_no`` and ``name``, by start: of one employee, ending at or
    after ``ends_from``, starting before ``starts_before`` (each if given)."""
    query = (
        select(att_leave, att_employee.c.employee_no, att_employee.c.name)
        .join(att_employee, att_employee.c.id == att_leave.c.employee_id)
        .order_by(att_leave.c.start_at, att_leave.c.id)
    )
    if employee_id is not None:
        query = query.where(att_leave.c.employee_id == employee_id)
    if ends_from is not None:
        query = query.where(att_leave.c.end_at >= ends_from)
    if starts_before is not None:
        query = query.where(att_leave.c.start_at < starts_before)
    return list(conn.execute(query).all())


def leave_by_id(conn: Connection, leave_id: int) -> Row | None:
    """One leave row with ``employee_no``."""
    return conn.execute(
        select(att_leave, att_employee.c.employee_no)
        .join(att_employee, att_employee.c.id == att_leave.c.employee_id)
        .where(att_leave.c.id == leave_id)
    ).first()


def add_leave(
    conn: Connection, values: Mapping[str, Any], *, actor: str, detail: dict[str, Any]
) -> int:
    """A leave row and its "add" audit row; the new id."""
    return add_audited(
        conn, att_leave, values, actor=actor, action="add", entity="leave", detail=detail
    )


def delete_leave(conn: Connection, leave_id: int) -> None:
    conn.execute(delete(att_leave).where(att_leave.c.id == leave_id))


# ---------------------------------------------------------------------------- rules load


def override_uses(conn: Connection) -> list[Row]:
    """Temporary schedules that work a shift: ``code`` (shift), ``work_date``,
    ``employee_no``, ``department`` (code); by date."""
    return list(
        conn.execute(
            select(
                att_shift.c.code,
                att_schedule_override.c.work_date,
                att_employee.c.employee_no,
                att_department.c.code.label("department"),
            )
            .select_from(att_schedule_override)
            .join(att_shift, att_shift.c.id == att_schedule_override.c.shift_id)
            .outerjoin(att_employee, att_employee.c.id == att_schedule_override.c.employee_id)
            .outerjoin(att_department, att_department.c.id == att_schedule_override.c.department_id)
            .order_by(att_schedule_override.c.work_date)
        ).all()
    )
