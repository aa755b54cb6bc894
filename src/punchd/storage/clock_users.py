"""One person on the clocks as punchd last saw them (the console's employee page).

Reads only: ``att_device_user`` (each clock's users as its last report listed them, written
by :func:`punchd.storage.collection.store_users` on every pull collection, on push ``USER``
lines and after an ``enrol apply``), when each clock was last read, and the newest audit row
of each ``clock-user`` key. Every function takes a ``Connection``; none writes. Timestamps
are naive UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from punchd.storage.schema import att_audit, att_collection_run, att_device, att_device_user

#: keys per ``IN (...)`` list (a site has a few dozen clocks at most)
_IN_CHUNK = 500


def users_by_device(
    conn: Connection, enroll_no: str, names: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """device name (of ``names``) → the user with ``enroll_no`` as that clock last listed
    them: ``name``, ``card``, ``privilege``, ``present`` (false: missing from the clock's
    latest complete list), ``first_seen_at``, ``last_seen_at``. Clocks that never listed
    them are absent."""
    u, d = att_device_user, att_device
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(names), _IN_CHUNK):
        rows = conn.execute(
            select(
                d.c.name.label("device"),
                u.c.name,
                u.c.card,
                u.c.privilege,
                u.c.present,
                u.c.first_seen_at,
                u.c.last_seen_at,
            )
            .select_from(u.join(d, d.c.id == u.c.device_id))
            .where(d.c.name.in_(list(names[start : start + _IN_CHUNK])), u.c.enroll_no == enroll_no)
        )
        found.update((r.device, {**r._mapping, "present": bool(r.present)}) for r in rows)
    return found


def last_read(conn: Connection, names: Sequence[str]) -> dict[str, datetime]:
    """device name → when punchd last read the clock: the later of the newest
    ``last_seen_at`` of its users (a complete list refreshes them all) and the end of its
    newest successful collection run. Clocks never read are absent. A few statements per
    clock (a site has a few dozen at most), each on an index."""
    d, u, r = att_device, att_device_user, att_collection_run
    found: dict[str, datetime] = {}
    for start in range(0, len(names), _IN_CHUNK):
        group = list(names[start : start + _IN_CHUNK])
        ids = dict(conn.execute(select(d.c.id, d.c.name).where(d.c.name.in_(group))).all())
        for device_id, name in ids.items():
            seen = conn.execute(
                select(func.max(u.c.last_seen_at)).where(u.c.device_id == device_id)
            ).scalar()
            run = conn.execute(
                select(r.c.finished_at)
                .where(r.c.device_id == device_id, r.c.status == "ok")
                .order_by(r.c.started_at.desc())
                .limit(1)
            ).scalar()
            times = [t for t in (seen, run) if t is not None]
            if times:
                found[name] = max(times)
    return found


def latest_changes(conn: Connection, entity: str, keys: Sequence[str]) -> dict[str, dict]:
    """key → the newest audit row about ``entity`` with that key (``changed_at``,
    ``changed_by``, ``action``, ``detail``); keys without one are absent."""
    a = att_audit
    found: dict[str, dict] = {}
    for start in range(0, len(keys), _IN_CHUNK):
        group = [str(k)[:64] for k in keys[start : start + _IN_CHUNK]]
        newest = (
            select(func.max(a.c.id))
            .where(a.c.entity == entity, a.c.entity_key.in_(group))
            .group_by(a.c.entity_key)
        )
        rows = conn.execute(
            select(a.c.entity_key, a.c.changed_at, a.c.changed_by, a.c.action, a.c.detail).where(
                a.c.id.in_(newest)
            )
        )
        for row in rows:
            found[row.entity_key] = dict(row._mapping)
    return found
