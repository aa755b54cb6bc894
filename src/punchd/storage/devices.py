"""What the daemon records about itself and its devices, and what ``punchd status`` reads.

``att_device_poll`` (one row per device: schedule and failures), ``att_daemon`` (one row per
daemon process: heartbeat), and the joined reads of the status page. Every function takes a
``Connection`` and runs inside the caller's transaction; none commits. Timestamps are naive UTC.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Connection

from punchd.storage.schema import (
    att_daemon,
    att_device,
    att_device_lease,
    att_device_poll,
    att_reprocess,
)

# --------------------------------------------------------------------------- poll state


def record_poll(
    conn: Connection,
    device_id: int,
    *,
    consecutive_failures: int,
    next_poll_at: datetime | None,
    updated_at: datetime,
    last_success_at: datetime | None = None,
    last_failure_at: datetime | None = None,
    last_error: str | None = None,
    daemon_id: int | None = None,
) -> None:
    """Write the device's poll state (as the daemon ``daemon_id`` saw it); ``last_success_at``
    and ``last_failure_at`` (with ``last_error``) only when given, so the other keeps its
    value."""
    values: dict[str, Any] = {
        "daemon_id": daemon_id,
        "consecutive_failures": consecutive_failures,
        "next_poll_at": next_poll_at,
        "updated_at": updated_at,
    }
    if last_success_at is not None:
        values["last_success_at"] = last_success_at
    if last_failure_at is not None:
        values.update(last_failure_at=last_failure_at, last_error=last_error)
    t = att_device_poll
    done = conn.execute(update(t).where(t.c.device_id == device_id).values(**values))
    if done.rowcount == 0:
        conn.execute(insert(t).values(device_id=device_id, **values))


# --------------------------------------------------------------------------- daemons


def register_daemon(conn: Connection, *, host: str, pid: int, version: str, at: datetime) -> int:
    """A row for a daemon that is starting; returns its id."""
    return int(
        conn.execute(
            insert(att_daemon).values(
                host=host,
                pid=pid,
                version=version,
                started_at=at,
                heartbeat_at=at,
                status="starting",
                spool_backlog=0,
            )
        ).inserted_primary_key[0]
    )


def daemon_heartbeat(
    conn: Connection,
    daemon_id: int | None,
    *,
    at: datetime,
    status: str,
    spool_backlog: int,
    last_processing_at: datetime | None,
) -> None:
    """The daemon is alive at ``at``, with this status line."""
    conn.execute(
        update(att_daemon)
        .where(att_daemon.c.id == daemon_id)
        .values(
            heartbeat_at=at,
            status=status,
            spool_backlog=spool_backlog,
            last_processing_at=last_processing_at,
        )
    )


def daemon_stopped(
    conn: Connection,
    daemon_id: int,
    *,
    at: datetime,
    spool_backlog: int,
    last_processing_at: datetime | None,
) -> None:
    """The daemon stopped cleanly at ``at``."""
    conn.execute(
        update(att_daemon)
        .where(att_daemon.c.id == daemon_id)
        .values(
            stopped_at=at,
            status="stopped",
            spool_backlog=spool_backlog,
            last_processing_at=last_processing_at,
        )
    )


def alive_daemons(conn: Connection, *, heartbeat_since: datetime) -> list[dict]:
    """Running daemons whose last heartbeat is at or after ``heartbeat_since``, newest first."""
    rows = conn.execute(
        select(att_daemon)
        .where(att_daemon.c.stopped_at.is_(None), att_daemon.c.heartbeat_at >= heartbeat_since)
        .order_by(att_daemon.c.heartbeat_at.desc())
    ).mappings()
    return [dict(r) for r in rows]


def last_processing_at(conn: Connection) -> datetime | None:
    """The newest processing any daemon did, running or stopped."""
    return conn.execute(select(func.max(att_daemon.c.last_processing_at))).scalar()


# --------------------------------------------------------------------------- status reads


def device_health(conn: Connection) -> list[dict]:
    """Per stored device, by name: ``device_id, name, driver, clock_drift_seconds``, its poll
    state (``polled_by`` — the att_daemon id that wrote it —, ``next_poll_at,
    consecutive_failures, last_success_at, last_failure_at, last_error``)
    and its lease (``holder, purpose, expires_at``); None where there is no row."""
    d, p, lease = att_device, att_device_poll, att_device_lease
    rows = conn.execute(
        select(
            d.c.id.label("device_id"),
            d.c.name,
            d.c.driver,
            d.c.clock_drift_seconds,
            p.c.daemon_id.label("polled_by"),
            p.c.next_poll_at,
            p.c.consecutive_failures,
            p.c.last_success_at,
            p.c.last_failure_at,
            p.c.last_error,
            lease.c.holder,
            lease.c.purpose,
            lease.c.expires_at,
        )
        .select_from(
            d.outerjoin(p, p.c.device_id == d.c.id).outerjoin(lease, lease.c.device_id == d.c.id)
        )
        .order_by(d.c.name)
    ).mappings()
    return [dict(r) for r in rows]


def left_disabled(
    conn: Connection,
) -> list[tuple[str, datetime, str | None, datetime | None, int]]:
    """(name, disabled_at, lease holder, lease expires_at, device id) of the devices a run
    recorded as disabled and not enabled again, by name."""
    d, lease = att_device, att_device_lease
    rows = conn.execute(
        select(d.c.name, d.c.disabled_at, lease.c.holder, lease.c.expires_at, d.c.id)
        .select_from(d.outerjoin(lease, lease.c.device_id == d.c.id))
        .where(d.c.disabled_at.is_not(None))
        .order_by(d.c.name)
    )
    return [tuple(r) for r in rows]  # type: ignore[misc]


def reprocess_backlog(conn: Connection) -> tuple[int, datetime | None]:
    """(changes waiting in att_reprocess, when the oldest was queued)."""
    count, oldest = conn.execute(select(func.count(), func.min(att_reprocess.c.queued_at))).one()
    return count, oldest
