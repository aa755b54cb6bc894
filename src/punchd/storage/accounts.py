"""The SQL of the web console's accounts: ``web_account`` (and its departments),
``web_session``, ``web_signin_failure`` and ``web_api_token``.

Plain functions on the caller's ``Connection``; rows come back as dicts keyed by column.
What may be written, and the rules of sign-in and expiry, are :mod:`punchd.app.accounts`'s.
Hashes go in and come out here; no password or token in clear ever reaches this module.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, delete, func, insert, or_, select, update
from sqlalchemy.engine import Connection

from punchd.storage.schema import (
    att_department,
    att_employee,
    web_account,
    web_account_department,
    web_api_token,
    web_session,
    web_signin_failure,
)

#: Column lengths, for the checks made before writing.
ACCOUNT_NAME_MAX = int(web_account.c.name.type.length)
CLIENT_MAX = int(web_session.c.client.type.length)
USER_AGENT_MAX = int(web_session.c.user_agent.type.length)
TOKEN_LABEL_MAX = int(web_api_token.c.label.type.length)

Record = dict[str, Any]


# --------------------------------------------------------------------------- accounts


def _accounts() -> Select[Any]:
    a, e = web_account, att_employee
    return select(
        a.c.id,
        a.c.name,
        a.c.name_key,
        a.c.password_hash,
        a.c.role,
        a.c.employee_id,
        e.c.employee_no,
        e.c.separation_date,
        a.c.language,
        a.c.disabled_at,
        a.c.created_at,
    ).outerjoin(e, e.c.id == a.c.employee_id)


def find_account(
    conn: Connection, *, name_key: str | None = None, account_id: int | None = None
) -> Record | None:
    """One account (with its employee's number and separation date), by casefolded name or
    id; None if there is none."""
    query = _accounts()
    if name_key is not None:
        query = query.where(web_account.c.name_key == name_key)
    if account_id is not None:
        query = query.where(web_account.c.id == account_id)
    row = conn.execute(query).first()
    return dict(row._mapping) if row is not None else None


def accounts(conn: Connection) -> list[Record]:
    """Every account by name."""
    return [dict(r._mapping) for r in conn.execute(_accounts().order_by(web_account.c.name))]


def account_departments(conn: Connection, account_ids: Sequence[int]) -> dict[int, list[Record]]:
    """account id → its departments (id, code), by code."""
    if not account_ids:
        return {}
    ad, d = web_account_department, att_department
    rows = conn.execute(
        select(ad.c.account_id, d.c.id, d.c.code)
        .join(d, d.c.id == ad.c.department_id)
        .where(ad.c.account_id.in_(list(account_ids)))
        .order_by(d.c.code)
    )
    found: dict[int, list[Record]] = defaultdict(list)
    for r in rows:
        found[r.account_id].append({"id": r.id, "code": r.code})
    return dict(found)


def insert_account(conn: Connection, row: Record, *, at: datetime, actor: str) -> int:
    """Create an account: row has name, name_key, password_hash, role, employee_id,
    language. Returns its id."""
    result = conn.execute(
        insert(web_account).values(
            **row, disabled_at=None, created_at=at, updated_at=at, updated_by=actor
        )
    )
    return int(result.inserted_primary_key[0])


def update_account(
    conn: Connection, account_id: int, values: Record, *, at: datetime, actor: str
) -> None:
    """Overwrite some of the account's columns (password_hash, role, employee_id, language,
    disabled_at)."""
    conn.execute(
        update(web_account)
        .where(web_account.c.id == account_id)
        .values(**values, updated_at=at, updated_by=actor)
    )


def set_account_departments(
    conn: Connection, account_id: int, department_ids: Iterable[int]
) -> None:
    conn.execute(
        delete(web_account_department).where(web_account_department.c.account_id == account_id)
    )
    rows = [{"account_id": account_id, "department_id": d} for d in sorted(set(department_ids))]
    if rows:
        conn.execute(insert(web_account_department), rows)


def account_for_employee(conn: Connection, employee_id: int) -> str | None:
    """The name of the account linked to the employee, if any."""
    return conn.execute(
        select(web_account.c.name).where(web_account.c.employee_id == employee_id)
    ).scalar_one_or_none()


# --------------------------------------------------------------------------- sessions

_SESSION_COLUMNS = (
    web_session.c.id,
    web_session.c.account_id,
    web_session.c.csrf_token,
    web_session.c.client,
    web_session.c.created_at,
    web_session.c.last_seen_at,
    web_session.c.ended_at,
)


def insert_session(conn: Connection, row: Record) -> int:
    """row: token_hash, account_id, csrf_token, client, user_agent, created_at,
    last_seen_at. Returns its id."""
    result = conn.execute(insert(web_session).values(**row, ended_at=None, end_reason=None))
    return int(result.inserted_primary_key[0])


def find_session(conn: Connection, token_hash: str) -> Record | None:
    """The session (live or ended) whose token hashes to ``token_hash``."""
    row = conn.execute(
        select(*_SESSION_COLUMNS).where(web_session.c.token_hash == token_hash)
    ).first()
    return dict(row._mapping) if row is not None else None


def open_sessions(conn: Connection, account_ids: Sequence[int]) -> list[Record]:
    """Sessions of these accounts not ended yet (expired ones included), oldest first."""
    if not account_ids:
        return []
    rows = conn.execute(
        select(*_SESSION_COLUMNS)
        .where(web_session.c.account_id.in_(list(account_ids)), web_session.c.ended_at.is_(None))
        .order_by(web_session.c.id)
    )
    return [dict(r._mapping) for r in rows]


def touch_session(conn: Connection, session_id: int, at: datetime) -> None:
    conn.execute(
        update(web_session)
        .where(web_session.c.id == session_id, web_session.c.ended_at.is_(None))
        .values(last_seen_at=at)
    )


def end_session(conn: Connection, session_id: int, *, at: datetime, reason: str) -> bool:
    """End one session; False if it had ended already."""
    result = conn.execute(
        update(web_session)
        .where(web_session.c.id == session_id, web_session.c.ended_at.is_(None))
        .values(ended_at=at, end_reason=reason)
    )
    return result.rowcount > 0


def end_account_sessions(
    conn: Connection, account_id: int, *, at: datetime, reason: str, keep: int | None = None
) -> int:
    """End every open session of the account except ``keep``; how many were open."""
    query = update(web_session).where(
        web_session.c.account_id == account_id, web_session.c.ended_at.is_(None)
    )
    if keep is not None:
        query = query.where(web_session.c.id != keep)
    return int(conn.execute(query.values(ended_at=at, end_reason=reason)).rowcount)


# --------------------------------------------------------------------------- failed sign-ins


def record_failure(conn: Connection, name_key: str, client: str, at: datetime) -> None:
    conn.execute(insert(web_signin_failure).values(name_key=name_key, client=client, at=at))


def recent_failures(
    conn: Connection, name_key: str, client: str, since: datetime
) -> tuple[list[datetime], list[datetime]]:
    """Times of failed sign-ins after ``since``: for the name, and from the client."""
    f = web_signin_failure
    rows = conn.execute(
        select(f.c.name_key, f.c.client, f.c.at).where(
            f.c.at > since, or_(f.c.name_key == name_key, f.c.client == client)
        )
    )
    by_name: list[datetime] = []
    by_client: list[datetime] = []
    for r in rows:
        if r.name_key == name_key:
            by_name.append(r.at)
        if r.client == client:
            by_client.append(r.at)
    return sorted(by_name), sorted(by_client)


def clear_failures(conn: Connection, name_key: str) -> None:
    conn.execute(delete(web_signin_failure).where(web_signin_failure.c.name_key == name_key))


def prune_failures(conn: Connection, before: datetime) -> None:
    conn.execute(delete(web_signin_failure).where(web_signin_failure.c.at < before))


# --------------------------------------------------------------------------- API tokens


def insert_token(conn: Connection, row: Record) -> int:
    """row: account_id, label, token_hash, created_at, created_by."""
    result = conn.execute(insert(web_api_token).values(**row, revoked_at=None, last_used_at=None))
    return int(result.inserted_primary_key[0])


def find_token(conn: Connection, token_hash: str) -> Record | None:
    t = web_api_token
    row = conn.execute(
        select(t.c.id, t.c.account_id, t.c.label, t.c.revoked_at, t.c.last_used_at).where(
            t.c.token_hash == token_hash
        )
    ).first()
    return dict(row._mapping) if row is not None else None


def touch_token(conn: Connection, token_id: int, at: datetime) -> None:
    conn.execute(
        update(web_api_token).where(web_api_token.c.id == token_id).values(last_used_at=at)
    )


def revoke_tokens(conn: Connection, account_id: int, at: datetime) -> int:
    """Revoke the account's live tokens; how many there were."""
    t = web_api_token
    result = conn.execute(
        update(t)
        .where(and_(t.c.account_id == account_id, t.c.revoked_at.is_(None)))
        .values(revoked_at=at)
    )
    return int(result.rowcount)


def live_token_counts(conn: Connection) -> dict[int, int]:
    """account id → number of its tokens not revoked."""
    t = web_api_token
    rows = conn.execute(
        select(t.c.account_id, func.count())
        .where(t.c.revoked_at.is_(None))
        .group_by(t.c.account_id)
    )
    return {r[0]: int(r[1]) for r in rows}


__all__ = [
    "ACCOUNT_NAME_MAX",
    "CLIENT_MAX",
    "TOKEN_LABEL_MAX",
    "USER_AGENT_MAX",
    "Connection",
    "account_departments",
    "account_for_employee",
    "accounts",
    "clear_failures",
    "end_account_sessions",
    "end_session",
    "find_account",
    "find_session",
    "find_token",
    "insert_account",
    "insert_session",
    "insert_token",
    "live_token_counts",
    "open_sessions",
    "prune_failures",
    "recent_failures",
    "record_failure",
    "revoke_tokens",
    "set_account_departments",
    "touch_session",
    "touch_token",
    "update_account",
]
