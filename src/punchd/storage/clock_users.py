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


def users_by_device(conn: Connection, enroll_no: str) -> dict[str, dict[str, Any]]:
    """device name → the user with ``enroll_no`` as that clock last listed it: ``name``,
    ``card``, ``privilege``, ``present`` (false: missing from the clock's latest complete
    list), ``first_seen_at``, ``last_seen_at``. Clocks that never listed them are absent."""
    u, d = att_device_user, att_device
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
        .where(u.c.enroll_no == enroll_no)
    )
    return {r.device: {**r._mapping, "present": bool(r.present)} for r in rows}


def last_read(conn: Connection, names: Sequence[str]) -> dict[str, datetime]:
    """device name → when punchd last read the clock's users or finished a collection of
    it (the later of the newest ``last_seen_at`` of its users and its newest successful
    run). Clocks never read are absent."""
    if not names:
        return {}
    d, u, r = att_device, att_device_user, att_collection_run
    found: dict[str, datetime] = {}

    def later(name: str, at: datetime | None) -> None:
        if at is not None and (name not in found or at > found[name]):
            found[name] = at

    for start in range(0, len(names), _IN_CHUNK):
        group = list(names[start : start + _IN_CHUNK])
        seen = conn.execute(
            select(d.c.name, func.max(u.c.last_seen_at))
            .select_from(u.join(d, d.c.id == u.c.device_id))
            .where(d.c.name.in_(group))
            .group_by(d.c.name)
        )
        for name, at in seen:
            later(name, at)
        runs = conn.execute(
            select(d.c.name, func.max(r.c.finished_at))
            .select_from(r.join(d, d.c.id == r.c.device_id))
            .where(d.c.name.in_(group), r.c.status == "ok")
            .group_by(d.c.name)
        )
        for name, at in runs:
            later(name, at)
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
