"""``att_device_lease``: one row per device a collector holds right now.

Every function takes a ``Connection`` and runs inside the caller's transaction. The rules of
holding (waiting, renewing, taking over from a dead holder) live in
:mod:`punchd.collector.lease`; this module only reads and writes the row.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.engine import Connection

from punchd.storage.schema import att_device_lease as _lease

#: (holder, purpose, acquired_at, expires_at) of a lease row
LeaseRow = tuple[str, str, datetime, datetime]


def take_free(
    conn: Connection,
    device_id: int,
    *,
    holder: str,
    purpose: str,
    acquired_at: datetime,
    expires_at: datetime,
    now: datetime,
) -> bool:
    """Take the device's lease row if it has expired (at ``now``) or is ``holder``'s own."""
    taken = conn.execute(
        update(_lease)
        .where(
            _lease.c.device_id == device_id,
            or_(_lease.c.expires_at < now, _lease.c.holder == holder),
        )
        .values(holder=holder, purpose=purpose, acquired_at=acquired_at, expires_at=expires_at)
    ).rowcount
    return taken == 1


def take_from(
    conn: Connection,
    device_id: int,
    old_holder: str,
    *,
    holder: str,
    purpose: str,
    acquired_at: datetime,
    expires_at: datetime,
) -> bool:
    """Take the device's lease row over from ``old_holder`` (if it still holds it)."""
    taken = conn.execute(
        update(_lease)
        .where(_lease.c.device_id == device_id, _lease.c.holder == old_holder)
        .values(holder=holder, purpose=purpose, acquired_at=acquired_at, expires_at=expires_at)
    ).rowcount
    return taken == 1


def insert_lease(
    conn: Connection,
    device_id: int,
    *,
    holder: str,
    purpose: str,
    acquired_at: datetime,
    expires_at: datetime,
) -> None:
    """Create the device's lease row; an IntegrityError when one exists (someone holds it)."""
    conn.execute(
        insert(_lease).values(
            device_id=device_id,
            holder=holder,
            purpose=purpose,
            acquired_at=acquired_at,
            expires_at=expires_at,
        )
    )


def extend(conn: Connection, device_id: int, holder: str, expires_at: datetime) -> bool:
    """Move the expiry of ``holder``'s lease; False when it no longer holds it."""
    return (
        conn.execute(
            update(_lease)
            .where(_lease.c.device_id == device_id, _lease.c.holder == holder)
            .values(expires_at=expires_at)
        ).rowcount
        == 1
    )


def delete_lease(conn: Connection, device_id: int, holder: str) -> None:
    """Let go of ``holder``'s lease (nothing happens if another holds the device)."""
    conn.execute(delete(_lease).where(_lease.c.device_id == device_id, _lease.c.holder == holder))


def lease_of(conn: Connection, device_id: int) -> LeaseRow | None:
    """The device's lease row (expired or not), or None."""
    row = conn.execute(
        select(_lease.c.holder, _lease.c.purpose, _lease.c.acquired_at, _lease.c.expires_at).where(
            _lease.c.device_id == device_id
        )
    ).first()
    return None if row is None else (row[0], row[1], row[2], row[3])
