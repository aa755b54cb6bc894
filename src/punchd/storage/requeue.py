"""Data access for the re-process queue (``att_reprocess``) and the few lookups that deciding
what to queue needs (card histories, a device's name, a schedule's target).

Every function takes a ``Connection`` and runs inside the caller's transaction; none
commits.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, and_, bindparam, delete, func, insert, select
from sqlalchemy.engine import Connection

from punchd.storage._bulk import IN_CHUNK, chunks
from punchd.storage.schema import att_card, att_device, att_reprocess, att_schedule

#: ``att_reprocess.reason`` is at most this long.
REASON_MAX = 32


@dataclass(frozen=True, slots=True)
class Queued:
    """One ``att_reprocess`` row."""

    id: int
    employee_id: int | None
    department_id: int | None
    date_from: date
    date_to: date
    reason: str
    queued_at: datetime


def add(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Queue rows: dicts with ``employee_id``, ``department_id``, ``date_from``,
    ``date_to``, ``reason`` (cut to REASON_MAX) and ``queued_at``."""
    if not rows:
        return
    values = [{**r, "reason": r["reason"][:REASON_MAX]} for r in rows]
    if len(values) == 1:
        conn.execute(insert(att_reprocess).values(**values[0]))
    else:
        conn.execute(insert(att_reprocess), values)


def _select_queued() -> Select:
    """The columns of :class:`Queued`, in its order."""
    t = att_reprocess.c
    return select(
        t.id, t.employee_id, t.department_id, t.date_from, t.date_to, t.reason, t.queued_at
    )


def pending(conn: Connection, limit: int | None = None) -> list[Queued]:
    """The queued rows, oldest first."""
    stmt = _select_queued().order_by(att_reprocess.c.id)
    if limit is not None:
        stmt = stmt.limit(limit)
    return [Queued(*r) for r in conn.execute(stmt)]


def overlapping(conn: Connection, date_from: date, date_to: date) -> list[Queued]:
    """The queued rows whose dates meet ``[date_from, date_to]``."""
    t = att_reprocess.c
    stmt = _select_queued().where(and_(t.date_from <= date_to, t.date_to >= date_from))
    return [Queued(*r) for r in conn.execute(stmt)]


def backlog(conn: Connection) -> int:
    """How many rows wait."""
    return conn.execute(select(func.count()).select_from(att_reprocess)).scalar_one()


def delete_rows(conn: Connection, rows: Sequence[Queued]) -> None:
    """Delete these rows, each matched by its id *and* its content (SQLite hands out a
    deleted highest id again, so a newer row may carry the id of one read earlier)."""
    t = att_reprocess.c
    stmt = delete(att_reprocess).where(
        t.id == bindparam("b_id"),
        t.queued_at == bindparam("b_queued_at"),
        t.date_from == bindparam("b_from"),
        t.date_to == bindparam("b_to"),
        t.reason == bindparam("b_reason"),
    )
    params = [
        {
            "b_id": r.id,
            "b_queued_at": r.queued_at,
            "b_from": r.date_from,
            "b_to": r.date_to,
            "b_reason": r.reason,
        }
        for r in rows
    ]
    for chunk in chunks(params, IN_CHUNK):
        conn.execute(stmt, list(chunk))


def card_entries(
    conn: Connection, card_nos: Sequence[str]
) -> dict[str, list[tuple[datetime, int | None]]]:
    """Card number → its ``(effective_from, employee_id)`` entries, oldest first."""
    out: dict[str, list[tuple[datetime, int | None]]] = defaultdict(list)
    c = att_card.c
    for chunk in chunks(sorted(set(card_nos)), IN_CHUNK):
        for card_no, effective_from, employee_id in conn.execute(
            select(c.card_no, c.effective_from, c.employee_id)
            .where(c.card_no.in_(chunk))
            .order_by(c.effective_from, c.id)
        ):
            out[card_no].append((effective_from, employee_id))
    return dict(out)


def device_name(conn: Connection, device_id: int | None) -> str | None:
    """``att_device.name`` of ``device_id`` (None: no such device)."""
    return conn.execute(
        select(att_device.c.name).where(att_device.c.id == device_id)
    ).scalar_one_or_none()


def schedule_target(
    conn: Connection, schedule_id: int
) -> tuple[int | None, int | None, date, date | None] | None:
    """``(employee_id, department_id, date_from, date_to)`` of a schedule (None: gone)."""
    row = conn.execute(
        select(
            att_schedule.c.employee_id,
            att_schedule.c.department_id,
            att_schedule.c.date_from,
            att_schedule.c.date_to,
        ).where(att_schedule.c.id == schedule_id)
    ).first()
    return None if row is None else tuple(row)
