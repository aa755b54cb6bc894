"""``att_device_lease``: one row per device a collector holds right now.

On PostgreSQL and MariaDB the row only says who holds the device: the server lock
(:mod:`punchd.storage.cluster`) is the exclusion. On SQLite (one host) the row and the local
file lock are.

Every function takes a ``Connection`` and runs inside the caller's transaction. The rules of
holding (waiting, renewing, taking over from a dead holder) live in
:mod:`punchd.collector.lease`; this module only reads and writes the row.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

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


def claim(conn: Connection, device_id: int, *, holder: str, purpose: str, at: Any) -> None:
    """Write the device's lease row for ``holder``, who holds the device's server lock (so
    whatever the row said before is over). ``at``: the server's clock (a SQL expression)."""
    values = {"holder": holder, "purpose": purpose, "acquired_at": at, "expires_at": at}
    # One statement (no update-then-insert: on InnoDB two of those for different devices
    # take the same gap lock and deadlock).
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt = pg_insert(_lease).values(device_id=device_id, **values)
        conn.execute(stmt.on_conflict_do_update(index_elements=["device_id"], set_=values))
    elif conn.dialect.name in ("mysql", "mariadb"):
        from sqlalchemy.dialects.mysql import insert as my_insert

        stmt = my_insert(_lease).values(device_id=device_id, **values)
        conn.execute(stmt.on_duplicate_key_update(**values))
    else:
        done = conn.execute(update(_lease).where(_lease.c.device_id == device_id).values(**values))
        if done.rowcount == 0:
            conn.execute(insert(_lease).values(device_id=device_id, **values))
