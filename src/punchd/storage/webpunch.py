"""The SQL of web punches (签到 / 签退 in the console): HR's per-employee switch
(``att_employee.web_punch``), the punch rows of source ``web`` (their account in
``created_by``, the client's address in ``client_address``), and the lock that keeps a
double click from storing two. Who may, from where and when is decided in
:mod:`punchd.app.selfservice`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, false, or_, select, update
from sqlalchemy.engine import Connection, Row

from punchd.clock import utc_stamp
from punchd.storage import audit
from punchd.storage.rules import add_audited
from punchd.storage.schema import att_department, att_employee, att_punch

SOURCE = "web"
#: longest client address stored (an IPv6 address with an IPv4 tail)
ADDRESS_MAX = int(att_punch.c.client_address.type.length)

__all__ = [
    "ADDRESS_MAX",
    "SOURCE",
    "add_web_punch",
    "employees_with_switch",
    "lock_enabled",
    "recent_web_punch",
    "set_enabled",
    "web_punches_of",
]


def lock_enabled(conn: Connection, employee_id: int) -> bool:
    """Whether HR allows the employee web punches, read under a write lock on their row
    (kept to the end of the caller's transaction): a second request for the same person
    waits here, then sees the first one's punch. A no-op UPDATE takes that lock on every
    database (SQLite ignores SELECT … FOR UPDATE)."""
    conn.execute(
        update(att_employee)
        .where(att_employee.c.id == employee_id)
        .values(web_punch=att_employee.c.web_punch)
    )
    return bool(
        conn.execute(
            select(att_employee.c.web_punch).where(att_employee.c.id == employee_id)
        ).scalar()
    )


def is_enabled(conn: Connection, employee_id: int) -> bool:
    return bool(
        conn.execute(
            select(att_employee.c.web_punch).where(att_employee.c.id == employee_id)
        ).scalar()
    )


def recent_web_punch(
    conn: Connection, employee_id: int, state: str, since_utc: datetime
) -> Row | None:
    """The employee's newest web punch of ``state`` (not void) stamped at or after
    ``since_utc`` (UTC), if any."""
    return conn.execute(
        select(att_punch.c.id, att_punch.c.punched_at)
        .where(
            att_punch.c.employee_id == employee_id,
            att_punch.c.source == SOURCE,
            att_punch.c.state == state,
            att_punch.c.void == false(),
            att_punch.c.punched_at_utc >= since_utc,
        )
        .order_by(att_punch.c.punched_at_utc.desc(), att_punch.c.id.desc())
    ).first()


def add_web_punch(
    conn: Connection,
    *,
    employee_id: int,
    enroll_no: str,
    punched_at: datetime,
    punched_at_utc: datetime,
    state: str,
    account: str,
    address: str,
    detail: dict[str, Any],
) -> int:
    """A punch of source ``web`` for the employee and its "add" audit row; the new id."""
    row = {
        "employee_id": employee_id,
        "enroll_no": enroll_no,
        "punched_at": punched_at,
        "punched_at_utc": punched_at_utc,
        "state": state,
        "device_id": None,
        "source": SOURCE,
        "collected_at": utc_stamp(),
        "run_id": None,
        "void": False,
        "client_address": address[:ADDRESS_MAX],
    }
    return add_audited(
        conn, att_punch, row, actor=account, action="add", entity="punch", detail=detail
    )


def web_punches_of(conn: Connection, employee_id: int, start: datetime, end: datetime) -> list[Row]:
    """The employee's web punches at local ``[start, end)``, newest first: ``id``,
    ``punched_at``, ``state``, ``void``, ``created_by``, ``client_address``."""
    return list(
        conn.execute(
            select(
                att_punch.c.id,
                att_punch.c.punched_at,
                att_punch.c.state,
                att_punch.c.void,
                att_punch.c.created_by,
                att_punch.c.client_address,
            )
            .where(
                att_punch.c.employee_id == employee_id,
                att_punch.c.source == SOURCE,
                att_punch.c.punched_at >= start,
                att_punch.c.punched_at < end,
            )
            .order_by(att_punch.c.punched_at.desc(), att_punch.c.id.desc())
        ).all()
    )


def employees_with_switch(
    conn: Connection, department_ids: Iterable[int], *, employed_on: date
) -> list[Row]:
    """The employees of these departments not separated before ``employed_on``, with their
    switch: ``id``, ``employee_no``, ``name``, ``department_code``, ``web_punch``; by
    number."""
    ids = list(department_ids)
    if not ids:
        return []
    e, d = att_employee, att_department
    return list(
        conn.execute(
            select(
                e.c.id,
                e.c.employee_no,
                e.c.name,
                d.c.code.label("department_code"),
                e.c.web_punch,
            )
            .join(d, d.c.id == e.c.department_id)
            .where(
                e.c.department_id.in_(ids),
                or_(e.c.separation_date.is_(None), e.c.separation_date >= employed_on),
            )
            .order_by(e.c.employee_no)
        ).all()
    )


def set_enabled(conn: Connection, employee_id: int, enabled: bool, *, actor: str) -> bool:
    """Switch web punches on or off for the employee, audited; False (nothing written) if
    it already was so — a form sent twice changes nothing the second time."""
    changed = conn.execute(
        update(att_employee)
        .where(and_(att_employee.c.id == employee_id, att_employee.c.web_punch != enabled))
        .values(web_punch=enabled, updated_at=utc_stamp(), updated_by=actor)
    ).rowcount
    if not changed:
        return False
    audit.record(
        conn,
        actor,
        "enable_web_punch" if enabled else "disable_web_punch",
        "employee",
        employee_id,
        {"web_punch": enabled},
    )
    return True
