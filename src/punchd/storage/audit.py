"""Who changed what, when: every change of HR data or rules writes one ``att_audit`` row."""

from __future__ import annotations

import getpass
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from punchd.clock import utc_stamp
from punchd.storage.schema import att_audit

ACTOR_MAX = 64


def default_actor() -> str:
    """The operating-system user running the command (``--by`` overrides it)."""
    try:
        return getpass.getuser()[:ACTOR_MAX]
    except (KeyError, OSError):  # no passwd entry (containers, DynamicUser)
        return "unknown"


def record(
    conn: Connection,
    actor: str,
    action: str,
    entity: str,
    key: str | int | None = None,
    detail: dict[str, Any] | str | None = None,
) -> None:
    """Append one audit row in the caller's transaction (so it commits or rolls back with
    the change it describes). ``detail`` dicts are stored as JSON (dates as ISO text)."""
    if isinstance(detail, dict):
        detail = json.dumps(detail, default=str, ensure_ascii=False, sort_keys=True)
    conn.execute(
        insert(att_audit).values(
            changed_at=utc_stamp(),
            changed_by=actor[:ACTOR_MAX],
            action=action[:32],
            entity=entity[:32],
            entity_key=None if key is None else str(key)[:64],
            detail=detail,
        )
    )


def changes(
    conn: Connection,
    entity: str,
    keys: Sequence[str | int] | None = None,
    *,
    limit: int = 200,
) -> list[dict[str, Any]]:
    """The newest ``limit`` audit rows about ``entity`` (of these ``keys``, each if given),
    newest first: ``id``, ``changed_at`` (UTC), ``changed_by``, ``action``, ``entity_key``,
    ``detail`` (the stored text)."""
    query = select(
        att_audit.c.id,
        att_audit.c.changed_at,
        att_audit.c.changed_by,
        att_audit.c.action,
        att_audit.c.entity_key,
        att_audit.c.detail,
    ).where(att_audit.c.entity == entity)
    if keys is not None:
        if not keys:
            return []
        query = query.where(att_audit.c.entity_key.in_([str(k) for k in keys][:1000]))
    rows = conn.execute(query.order_by(att_audit.c.id.desc()).limit(limit))
    return [dict(r._mapping) for r in rows]
