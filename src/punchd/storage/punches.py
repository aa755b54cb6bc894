"""Punches people enter or correct: manual punches (签卡), voids, and one employee's punches
for a look. (Device punches are written by the collector through ``storage.collection``.)"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import and_, false, or_, select, update
from sqlalchemy.engine import Connection, Row

from punchd.storage.rules import add_audited, now
from punchd.storage.schema import PUNCH_STATES, att_device, att_punch

__all__ = [
    "PUNCH_STATES",
    "add_manual_punch",
    "manual_punch_between",
    "punch_by_id",
    "punches_of",
    "set_void",
]


def manual_punch_between(
    conn: Connection, employee_id: int, start: datetime, end: datetime
) -> int | None:
    """The id of an employee's manual punch (not void) at local ``[start, end)``, if any."""
    row = conn.execute(
        select(att_punch.c.id).where(
            att_punch.c.employee_id == employee_id,
            att_punch.c.source == "manual",
            att_punch.c.void == false(),
            att_punch.c.punched_at >= start,
            att_punch.c.punched_at < end,
        )
    ).first()
    return None if row is None else row.id


def add_manual_punch(
    conn: Connection, values: Mapping[str, Any], *, actor: str, detail: dict[str, Any]
) -> int:
    """A manual punch row (``employee_id``, ``enroll_no``, ``punched_at``,
    ``punched_at_utc``, ``state``, ``note``) and its "add" audit row; the new id."""
    row = {
        **values,
        "device_id": None,
        "source": "manual",
        "collected_at": now(),
        "run_id": None,
        "void": False,
    }
    return add_audited(
        conn, att_punch, row, actor=actor, action="add", entity="punch", detail=detail
    )


def punch_by_id(conn: Connection, punch_id: int) -> Row | None:
    return conn.execute(select(att_punch).where(att_punch.c.id == punch_id)).first()


def set_void(conn: Connection, punch_id: int, *, reason: str | None, actor: str | None) -> None:
    """Void a punch (``reason`` and ``actor`` given) or make it count again (both None)."""
    void = reason is not None
    conn.execute(
        update(att_punch)
        .where(att_punch.c.id == punch_id)
        .values(
            void=void,
            void_reason=reason,
            voided_by=actor[:64] if void and actor else None,
            voided_at=now() if void else None,
        )
    )


def punches_of(
    conn: Connection,
    employee_id: int,
    enroll_no: str | None,
    start: datetime,
    end: datetime,
) -> list[Row]:
    """An employee's punches at local ``[start, end)``: manual ones (``employee_id``) and,
    with an enrolment number, device punches under it from devices that record enrolment
    numbers (``user_code`` not ``'card'``). Void ones included; ``att_punch`` columns plus
    ``device`` (name); by time."""
    mine = att_punch.c.employee_id == employee_id
    if enroll_no:
        mine = or_(
            mine,
            and_(
                att_punch.c.employee_id.is_(None),
                att_punch.c.enroll_no == enroll_no,
                att_punch.c.device_id.is_not(None),
                or_(att_device.c.user_code.is_(None), att_device.c.user_code != "card"),
            ),
        )
    query = (
        select(att_punch, att_device.c.name.label("device"))
        .outerjoin(att_device, att_device.c.id == att_punch.c.device_id)
        .where(mine, att_punch.c.punched_at >= start, att_punch.c.punched_at < end)
        .order_by(att_punch.c.punched_at, att_punch.c.id)
    )
    return list(conn.execute(query).all())
