"""Accounts of the web console: who may sign in, their sessions and API tokens.

One function per operation, like the rest of ``app``. Passwords are hashed with argon2
(argon2-cffi's defaults) and never leave this module in any form but the hash; session and
API tokens are random (``secrets.token_urlsafe(32)``), handed to the caller once and stored
only as their SHA-256. Every change is audited (entity ``account``), as are sign-in,
sign-out and failed sign-ins (never with the password).

Times: every ``now`` is naive UTC (``punchd.clock.utcnow``), to the second; tests inject it.
A session lives while it has not been ended, has seen a request within
``[web] idle_minutes`` and was signed in less than ``[web] absolute_hours`` ago, and its
account is enabled. An account linked to an employee whose separation date has passed (in
the site's zone) counts as disabled.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from types import EllipsisType
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DataError, IntegrityError

from punchd.app.site import Actor, Site
from punchd.clock import utc_stamp, utc_to_local
from punchd.errors import InvalidInput, PunchdError
from punchd.storage import accounts as store
from punchd.storage import audit
from punchd.storage import hr as hr_store

ROLES = ("admin", "hr", "leader", "payroll", "employee")
#: Languages an account may choose (None: the browser's language decides).
LANGUAGES = ("zh_Hans", "en")
#: Roles whose accounts carry departments: hr (assigned; none = all) and leader (led).
DEPARTMENT_ROLES = ("hr", "leader")

NAME_MAX = store.ACCOUNT_NAME_MAX
PASSWORD_MIN = 8
PASSWORD_MAX = 1024
LABEL_MAX = store.TOKEN_LABEL_MAX
#: last_seen_at / last_used_at are written at most this often: most page loads only read.
TOUCH_EVERY = timedelta(seconds=60)

SIGN_IN_FAILED = "wrong user name or password"
#: Who the audit trail names for an attempt nobody is known to have made.
ANONYMOUS = "(sign-in)"

# argon2-cffi's defaults (RFC 9106 low-memory profile); tests may swap in cheaper ones.
_hasher = PasswordHasher()
_dummy_hash: str | None = None


class SignInFailed(PunchdError):
    """Wrong user name or password; also for a disabled account (no oracle)."""

    def __init__(self, message: str = SIGN_IN_FAILED) -> None:
        super().__init__(message)


class SignInThrottled(SignInFailed):
    """Too many failed sign-ins for this name or from this address lately."""

    def __init__(self, retry_after_s: int) -> None:
        minutes = max(1, math.ceil(retry_after_s / 60))
        super().__init__(
            f"too many failed sign-ins; try again in {minutes} minute{'s' if minutes > 1 else ''}"
        )
        self.retry_after_s = retry_after_s


class SessionExpired(PunchdError):
    """The session is unknown, ended, expired, or its account disabled: sign in again.
    ``reason``: unknown, ended, idle, absolute or disabled."""

    def __init__(self, reason: str = "unknown") -> None:
        message = {
            "idle": "your session expired after a period of inactivity; please sign in again",
            "absolute": "your session has reached its maximum lifetime; please sign in again",
        }.get(reason, "you are not signed in (or your session has ended); please sign in")
        super().__init__(message)
        self.reason = reason


class AccountNotFound(PunchdError):
    """No account by that name."""


@dataclass(frozen=True)
class Account:
    id: int
    name: str
    role: str
    departments: tuple[str, ...]
    employee_no: str | None
    language: str | None
    disabled: bool
    created_at: datetime


@dataclass(frozen=True)
class Session:
    id: int
    account: Account
    csrf_token: str = field(repr=False)
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    client: str


# --------------------------------------------------------------------------- helpers


def _utc(now: datetime | None) -> datetime:
    return (now if now is not None else utc_stamp()).replace(microsecond=0, tzinfo=None)


def _site_date(site: Site, now: datetime) -> date:
    return utc_to_local(now, site.zone).date()


#: web_account.name_key / web_signin_failure.name_key: casefold() can triple a length
NAME_KEY_MAX = 3 * NAME_MAX


def _key(name: str) -> str:
    return name.strip().casefold()[:NAME_KEY_MAX]


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _printable(text: str) -> bool:
    """No control, format (zero-width, bidi) or line/paragraph separator characters."""
    return not any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp") for ch in text)


def _check_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise InvalidInput("an account name must not be empty")
    if len(name) > NAME_MAX:
        raise InvalidInput(f"an account name has at most {NAME_MAX} characters, got {len(name)}")
    if not _printable(name):
        raise InvalidInput("an account name must not contain control characters")
    return name


def _check_password(password: str) -> None:
    if len(password) < PASSWORD_MIN:
        raise InvalidInput(f"a password needs at least {PASSWORD_MIN} characters")
    if len(password) > PASSWORD_MAX:
        raise InvalidInput(f"a password has at most {PASSWORD_MAX} characters")


def _hash(password: str) -> str:
    _check_password(password)
    return _hasher.hash(password)


def _verify(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches; without a hash (unknown user) the same work is done
    against a dummy, so that the time taken does not tell the two apart."""
    global _dummy_hash
    if password_hash is None:
        if _dummy_hash is None:
            _dummy_hash = _hasher.hash(secrets.token_urlsafe(16))
        password_hash = _dummy_hash
        password = password + "\0"  # never matches the dummy
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@contextmanager
def _change(site: Site) -> Iterator[Connection]:
    try:
        with site.transaction() as conn:
            yield conn
    except IntegrityError:
        raise InvalidInput(
            "the database refused the change (an account of that name, or for that employee,"
            " exists already?); nothing was changed"
        ) from None
    except DataError:
        raise InvalidInput("the database refused a value; nothing was changed") from None


def _is_disabled(row: dict[str, Any], today: date) -> bool:
    separated = row["separation_date"] is not None and row["separation_date"] < today
    return row["disabled_at"] is not None or separated


def _account(row: dict[str, Any], departments: Sequence[dict[str, Any]], today: date) -> Account:
    return Account(
        id=row["id"],
        name=row["name"],
        role=row["role"],
        departments=tuple(d["code"] for d in departments),
        employee_no=row["employee_no"],
        language=row["language"],
        disabled=_is_disabled(row, today),
        created_at=row["created_at"],
    )


def _load(conn: Connection, row: dict[str, Any], today: date) -> Account:
    departments = store.account_departments(conn, [row["id"]]).get(row["id"], [])
    return _account(row, departments, today)


def _row(conn: Connection, name: str) -> dict[str, Any]:
    row = store.find_account(conn, name_key=_key(name))
    if row is None:
        raise AccountNotFound(f"no account named {name.strip()!r}")
    return row


def _department_ids(conn: Connection, codes: Sequence[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for code in codes:
        code = code.strip()
        department_id = hr_store.department_id(conn, code)
        if department_id is None:
            raise InvalidInput(f"unknown department {code!r}")
        found[code] = department_id
    return found


def _employee_id(conn: Connection, employee_no: str | None) -> int | None:
    if employee_no is None:
        return None
    found = hr_store.find_employee(conn, employee_no.strip())
    if found is None:
        raise InvalidInput(f"unknown employee {employee_no.strip()!r}")
    return int(found["id"])


def _check_role(role: str, departments: Sequence[str], employee_no: str | None) -> None:
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}; one of: {', '.join(ROLES)}")
    if role == "leader" and not departments:
        raise InvalidInput("a leader account needs at least one department (the ones they lead)")
    if departments and role not in DEPARTMENT_ROLES:
        raise InvalidInput(f"departments apply to hr and leader accounts, not to {role}")
    if role == "employee" and not employee_no:
        raise InvalidInput("an employee account needs its employee (the employee number)")


def _check_language(language: str | None) -> None:
    if language is not None and language not in LANGUAGES:
        raise InvalidInput(f"unknown language {language!r}; one of: {', '.join(LANGUAGES)}")


def _expires_at(site: Site, created_at: datetime, last_seen_at: datetime) -> datetime:
    web = site.settings.web
    return min(
        last_seen_at + timedelta(minutes=web.idle_minutes),
        created_at + timedelta(hours=web.absolute_hours),
    )


def _expiry(site: Site, row: dict[str, Any], now: datetime) -> str | None:
    """Why the open session ``row`` is over at ``now`` (idle, absolute), or None."""
    web = site.settings.web
    if now >= row["created_at"] + timedelta(hours=web.absolute_hours):
        return "absolute"
    if now >= row["last_seen_at"] + timedelta(minutes=web.idle_minutes):
        return "idle"
    return None


def _session(site: Site, row: dict[str, Any], account: Account) -> Session:
    return Session(
        id=row["id"],
        account=account,
        csrf_token=row["csrf_token"],
        created_at=row["created_at"],
        last_seen_at=row["last_seen_at"],
        expires_at=_expires_at(site, row["created_at"], row["last_seen_at"]),
        client=row["client"],
    )


def _end_sessions(
    site: Site,
    conn: Connection,
    account_id: int,
    now: datetime,
    reason: str,
    keep: int | None = None,
) -> int:
    """End the account's open sessions (but ``keep``); how many of them were still live."""
    live = [
        s
        for s in store.open_sessions(conn, [account_id])
        if s["id"] != keep and _expiry(site, s, now) is None
    ]
    store.end_account_sessions(conn, account_id, at=now, reason=reason, keep=keep)
    return len(live)


def _throttle(site: Site, conn: Connection, name_key: str, client: str, now: datetime) -> None:
    """SignInThrottled when the name or the client has failed too often lately."""
    web = site.settings.web
    window = timedelta(minutes=web.throttle_minutes)
    by_name, by_client = store.recent_failures(conn, name_key, client, now - window)
    waits = [
        (times[len(times) - web.max_failed_signins] + window - now).total_seconds()
        for times in (by_name, by_client)
        if len(times) >= web.max_failed_signins
    ]
    if waits:
        raise SignInThrottled(max(1, math.ceil(max(waits))))


def _record_failure(
    site: Site, name: str, client: str, now: datetime, *, action: str = "sign_in_failed"
) -> None:
    window = timedelta(minutes=site.settings.web.throttle_minutes)
    with site.transaction() as conn:
        store.prune_failures(conn, now - window)
        store.record_failure(conn, _key(name), client, now)
        audit.record(conn, ANONYMOUS, action, "account", name.strip()[:64], {"client": client})


def _client(client: str) -> str:
    return client.strip()[: store.CLIENT_MAX]


# --------------------------------------------------------------------------- accounts


def add_account(
    site: Site,
    name: str,
    password: str,
    role: str,
    *,
    actor: Actor,
    departments: Sequence[str] = (),
    employee_no: str | None = None,
    language: str | None = None,
) -> Account:
    """Create an account. Refusals (InvalidInput): a name that is empty, too long or has
    control characters, or is taken (in any case); a password shorter than 8 or longer than
    1024 characters; an unknown role, department or employee; a leader without departments;
    an employee account without its employee."""
    name = _check_name(name)
    codes = sorted({c.strip() for c in departments})
    _check_role(role, codes, employee_no)
    _check_language(language)
    password_hash = _hash(password)
    now = _utc(None)
    with _change(site) as conn:
        if store.find_account(conn, name_key=_key(name)) is not None:
            raise InvalidInput(f"an account named {name!r} exists already")
        department_ids = _department_ids(conn, codes)
        employee_id = _employee_id(conn, employee_no)
        if employee_id is not None and (other := store.account_for_employee(conn, employee_id)):
            raise InvalidInput(f"employee {employee_no!r} has an account already: {other!r}")
        account_id = store.insert_account(
            conn,
            {
                "name": name,
                "name_key": _key(name),
                "password_hash": password_hash,
                "role": role,
                "employee_id": employee_id,
                "language": language,
            },
            at=now,
            actor=actor.name,
        )
        store.set_account_departments(conn, account_id, department_ids.values())
        audit.record(
            conn,
            actor.name,
            "create",
            "account",
            name,
            {"role": role, "departments": codes, "employee_no": employee_no, "language": language},
        )
        row = store.find_account(conn, account_id=account_id)
        assert row is not None
        return _load(conn, row, _site_date(site, now))


def update_account(
    site: Site,
    name: str,
    *,
    actor: Actor,
    role: str | None = None,
    departments: Sequence[str] | None = None,
    employee_no: str | EllipsisType | None = ...,
    language: str | EllipsisType | None = ...,
) -> Account:
    """Change an account's role, departments, employee or language (None / ``...``:
    unchanged). Departments of a role that has none are dropped with the role change."""
    now = _utc(None)
    with _change(site) as conn:
        row = _row(conn, name)
        current = _load(conn, row, _site_date(site, now))
        new_role = role if role is not None else current.role
        if departments is not None:
            codes = sorted({c.strip() for c in departments})
        elif new_role in DEPARTMENT_ROLES:
            codes = list(current.departments)
        else:
            codes = []
        new_employee = current.employee_no if employee_no is ... else employee_no
        new_language = current.language if language is ... else language
        _check_role(new_role, codes, new_employee)
        _check_language(new_language)
        department_ids = _department_ids(conn, codes)
        values: dict[str, Any] = {}
        changes: dict[str, Any] = {}
        if new_role != current.role:
            values["role"] = new_role
            changes["role"] = [current.role, new_role]
        if new_employee != current.employee_no:
            employee_id = _employee_id(conn, new_employee)
            other = store.account_for_employee(conn, employee_id) if employee_id else None
            if other is not None and other != current.name:
                raise InvalidInput(f"employee {new_employee!r} has an account already: {other!r}")
            values["employee_id"] = employee_id
            changes["employee_no"] = [current.employee_no, new_employee]
        if new_language != current.language:
            values["language"] = new_language
            changes["language"] = [current.language, new_language]
        if tuple(codes) != current.departments:
            store.set_account_departments(conn, current.id, department_ids.values())
            changes["departments"] = [list(current.departments), codes]
        if changes:
            store.update_account(conn, current.id, values, at=now, actor=actor.name)
            audit.record(conn, actor.name, "update", "account", current.name, changes)
        row = store.find_account(conn, account_id=current.id)
        assert row is not None
        return _load(conn, row, _site_date(site, now))


def get_account(site: Site, name: str) -> Account:
    """The account ``name`` (any case); AccountNotFound."""
    with site.engine.connect() as conn:
        return _load(conn, _row(conn, name), site.today())


def list_accounts(site: Site) -> list[Account]:
    """Every account, by name."""
    today = site.today()
    with site.engine.connect() as conn:
        rows = store.accounts(conn)
        departments = store.account_departments(conn, [r["id"] for r in rows])
    return [_account(r, departments.get(r["id"], []), today) for r in rows]


def set_password(
    site: Site,
    name: str,
    password: str,
    *,
    actor: Actor,
    keep_session_id: int | None = None,
    now: datetime | None = None,
) -> int:
    """A new password; every session of the account but ``keep_session_id`` ends. Returns
    how many (live) sessions ended."""
    password_hash = _hash(password)
    now = _utc(now)
    with _change(site) as conn:
        row = _row(conn, name)
        store.update_account(
            conn, row["id"], {"password_hash": password_hash}, at=now, actor=actor.name
        )
        ended = _end_sessions(site, conn, row["id"], now, "password", keep=keep_session_id)
        audit.record(
            conn, actor.name, "password", "account", row["name"], {"sessions_ended": ended}
        )
    return ended


def change_own_password(
    site: Site,
    session_token: str,
    old_password: str,
    new_password: str,
    *,
    now: datetime | None = None,
) -> int:
    """The signed-in person changes their password: the old one must match (SignInFailed,
    counted like a failed sign-in); the account's other sessions end (returned: how many)."""
    now = _utc(now)
    session = resume(site, session_token, now=now)
    account = session.account
    with site.engine.connect() as conn:
        _throttle(site, conn, _key(account.name), session.client, now)
        row = _row(conn, account.name)
    _check_password(new_password)
    if not _verify(row["password_hash"], old_password):
        _record_failure(site, account.name, session.client, now, action="password_failed")
        raise SignInFailed("the current password is wrong")
    return set_password(
        site,
        account.name,
        new_password,
        actor=Actor(account.name),
        keep_session_id=session.id,
        now=now,
    )


def disable_account(site: Site, name: str, *, actor: Actor) -> Account:
    """The account can no longer sign in; its sessions end (its API tokens stop working)."""
    now = _utc(None)
    with _change(site) as conn:
        row = _row(conn, name)
        ended = _end_sessions(site, conn, row["id"], now, "disabled")
        if row["disabled_at"] is None:
            store.update_account(conn, row["id"], {"disabled_at": now}, at=now, actor=actor.name)
            audit.record(
                conn, actor.name, "disable", "account", row["name"], {"sessions_ended": ended}
            )
        row = _row(conn, name)
        return _load(conn, row, _site_date(site, now))


def enable_account(site: Site, name: str, *, actor: Actor) -> Account:
    """The account may sign in again (unless its employee has left)."""
    now = _utc(None)
    with _change(site) as conn:
        row = _row(conn, name)
        if row["disabled_at"] is not None:
            store.update_account(conn, row["id"], {"disabled_at": None}, at=now, actor=actor.name)
            audit.record(conn, actor.name, "enable", "account", row["name"])
        row = _row(conn, name)
        return _load(conn, row, _site_date(site, now))


# --------------------------------------------------------------------------- sessions


def sign_in(
    site: Site,
    name: str,
    password: str,
    *,
    client: str,
    user_agent: str = "",
    now: datetime | None = None,
) -> tuple[str, Session]:
    """A new session for ``name`` (any case) with ``password``: (token, session). The token
    goes into the cookie and is never stored; SignInFailed (unknown user, wrong password,
    disabled account alike) or SignInThrottled (checked before the password)."""
    now = _utc(now)
    client = _client(client)
    name_key = _key(name)
    with site.engine.connect() as conn:
        _throttle(site, conn, name_key, client, now)
        row = store.find_account(conn, name_key=name_key) if name_key else None
    matches = _verify(row["password_hash"] if row else None, password)
    if row is None or not matches or _is_disabled(row, _site_date(site, now)):
        _record_failure(site, name, client, now)
        raise SignInFailed()
    token = secrets.token_urlsafe(32)
    with site.transaction() as conn:
        if _hasher.check_needs_rehash(row["password_hash"]):
            store.update_account(
                conn,
                row["id"],
                {"password_hash": _hasher.hash(password)},
                at=now,
                actor=row["name"],
            )
        store.clear_failures(conn, name_key)
        session_row = {
            "token_hash": _token_hash(token),
            "account_id": row["id"],
            "csrf_token": secrets.token_urlsafe(32),
            "client": client,
            "user_agent": user_agent[: store.USER_AGENT_MAX],
            "created_at": now,
            "last_seen_at": now,
        }
        session_id = store.insert_session(conn, session_row)
        audit.record(conn, row["name"], "sign_in", "account", row["name"], {"client": client})
        account = _load(conn, row, _site_date(site, now))
    return token, _session(site, {**session_row, "id": session_id}, account)


def resume(site: Site, token: str, *, now: datetime | None = None) -> Session:
    """The live session of ``token`` (a request arrived): SessionExpired otherwise. Ends a
    session found expired or whose account is disabled; notes the request's time (at most
    once a minute)."""
    now = _utc(now)
    if not token:
        raise SessionExpired("unknown")
    with site.engine.connect() as conn:
        row = store.find_session(conn, _token_hash(token))
        if row is None:
            raise SessionExpired("unknown")
        if row["ended_at"] is not None:
            raise SessionExpired("ended")
        account_row = store.find_account(conn, account_id=row["account_id"])
        assert account_row is not None
        account = _load(conn, account_row, _site_date(site, now))
    reason = "disabled" if account.disabled else _expiry(site, row, now)
    if reason is not None:
        with site.transaction() as conn:
            store.end_session(conn, row["id"], at=now, reason=reason)
        raise SessionExpired(reason)
    if now - row["last_seen_at"] >= TOUCH_EVERY:
        with site.transaction() as conn:
            store.touch_session(conn, row["id"], now)
        row = {**row, "last_seen_at": now}
    return _session(site, row, account)


def sign_out(site: Site, token: str, *, now: datetime | None = None) -> None:
    """End the session of ``token`` on the server (nothing happens if it had ended)."""
    now = _utc(now)
    if not token:
        return
    with site.transaction() as conn:
        row = store.find_session(conn, _token_hash(token))
        if row is None or row["ended_at"] is not None:
            return
        store.end_session(conn, row["id"], at=now, reason="signed_out")
        account_row = store.find_account(conn, account_id=row["account_id"])
        assert account_row is not None
        name = account_row["name"]
        audit.record(conn, name, "sign_out", "account", name, {"client": row["client"]})


def sign_out_everywhere(site: Site, name: str, *, actor: Actor, now: datetime | None = None) -> int:
    """End every session of the account; how many were live."""
    now = _utc(now)
    with _change(site) as conn:
        row = _row(conn, name)
        ended = _end_sessions(site, conn, row["id"], now, "everywhere")
        audit.record(
            conn, actor.name, "sign_out_all", "account", row["name"], {"sessions_ended": ended}
        )
    return ended


def list_sessions(site: Site, name: str, *, now: datetime | None = None) -> list[Session]:
    """The account's live sessions, oldest first."""
    now = _utc(now)
    with site.engine.connect() as conn:
        row = _row(conn, name)
        account = _load(conn, row, _site_date(site, now))
        if account.disabled:
            return []
        rows = store.open_sessions(conn, [row["id"]])
    return [_session(site, s, account) for s in rows if _expiry(site, s, now) is None]


# --------------------------------------------------------------------------- API tokens


def create_api_token(
    site: Site, name: str, label: str, *, actor: Actor, now: datetime | None = None
) -> str:
    """A new API token for the account (shown this once; stored as its SHA-256); ``now``
    (naive UTC) is its creation time."""
    label = label.strip()
    if not label or len(label) > LABEL_MAX or not _printable(label):
        raise InvalidInput(f"a token label has 1 to {LABEL_MAX} printable characters")
    token = secrets.token_urlsafe(32)
    now = _utc(now)
    with _change(site) as conn:
        row = _row(conn, name)
        store.insert_token(
            conn,
            {
                "account_id": row["id"],
                "label": label,
                "token_hash": _token_hash(token),
                "created_at": now,
                "created_by": actor.name,
            },
        )
        audit.record(conn, actor.name, "token_create", "account", row["name"], {"label": label})
    return token


def resume_api_token(site: Site, token: str, *, now: datetime | None = None) -> Account:
    """The account an API token acts as: SessionExpired if the token is unknown or revoked
    or the account is disabled."""
    now = _utc(now)
    if not token:
        raise SessionExpired("unknown")
    with site.engine.connect() as conn:
        found = store.find_token(conn, _token_hash(token))
        if found is None or found["revoked_at"] is not None:
            raise SessionExpired("unknown")
        row = store.find_account(conn, account_id=found["account_id"])
        assert row is not None
        account = _load(conn, row, _site_date(site, now))
    if account.disabled:
        raise SessionExpired("disabled")
    last = found["last_used_at"]
    if last is None or now - last >= TOUCH_EVERY:
        with site.transaction() as conn:
            store.touch_token(conn, found["id"], now)
    return account


def revoke_api_tokens(site: Site, name: str, *, actor: Actor) -> int:
    """Revoke every API token of the account; how many were live."""
    now = _utc(None)
    with _change(site) as conn:
        row = _row(conn, name)
        revoked = store.revoke_tokens(conn, row["id"], now)
        audit.record(conn, actor.name, "token_revoke", "account", row["name"], {"revoked": revoked})
    return revoked


def live_session_counts(site: Site, *, now: datetime | None = None) -> dict[str, int]:
    """Account name → number of live sessions (for listings)."""
    now = _utc(now)
    with site.engine.connect() as conn:
        rows = store.accounts(conn)
        sessions = store.open_sessions(conn, [r["id"] for r in rows])
    names = {r["id"]: r["name"] for r in rows}
    counts: dict[str, int] = {}
    for s in sessions:
        if _expiry(site, s, now) is None:
            counts[names[s["account_id"]]] = counts.get(names[s["account_id"]], 0) + 1
    return counts


__all__ = [
    "LANGUAGES",
    "ROLES",
    "Account",
    "AccountNotFound",
    "Session",
    "SessionExpired",
    "SignInFailed",
    "SignInThrottled",
    "add_account",
    "change_own_password",
    "create_api_token",
    "disable_account",
    "enable_account",
    "get_account",
    "list_accounts",
    "list_sessions",
    "live_session_counts",
    "resume",
    "resume_api_token",
    "revoke_api_tokens",
    "set_password",
    "sign_in",
    "sign_out",
    "sign_out_everywhere",
    "update_account",
]
