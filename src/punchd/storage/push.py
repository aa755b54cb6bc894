"""Push-mode (ADMS) clocks: their saved stamps and last contact, the unknown serial numbers
that called in ("pending"), the durable command queue, and the users their OPERLOG posts list.

Every function takes a ``Connection`` and runs inside the caller's transaction; none commits.
Timestamps are naive UTC, to the second.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.engine import Connection

from punchd.clock import utc_stamp
from punchd.drivers.records import DeviceUser
from punchd.storage._bulk import chunks
from punchd.storage.collection import store_users
from punchd.storage.schema import (
    att_device,
    att_device_command,
    att_device_user,
    att_employee,
    att_finger_template,
    att_punch,
    att_push_pending,
    att_push_state,
)

if TYPE_CHECKING:
    from punchd.storage.templates import Row as TemplateRow
    from punchd.storage.templates import TemplateCipher

_RESULT_MAX = 8000  # characters kept of a command's result text


def _sec(value: datetime) -> datetime:
    return value.replace(microsecond=0) if value.microsecond else value


def _clip(value: str | None, length: int) -> str | None:
    return value if value is None or len(value) <= length else value[:length]


# --------------------------------------------------------------------------- state


@dataclass(frozen=True)
class PushState:
    device_id: int
    attlog_stamp: str | None
    operlog_stamp: str | None
    last_seen_at: datetime | None
    last_address: str | None


def ensure_state(conn: Connection, device_id: int) -> PushState:
    """The device's push state, its row created when missing."""
    row = conn.execute(
        select(att_push_state).where(att_push_state.c.device_id == device_id)
    ).first()
    if row is None:
        conn.execute(insert(att_push_state).values(device_id=device_id, updated_at=utc_stamp()))
        return PushState(device_id, None, None, None, None)
    return PushState(
        row.device_id, row.attlog_stamp, row.operlog_stamp, row.last_seen_at, row.last_address
    )


def save_stamps(
    conn: Connection,
    device_id: int,
    *,
    attlog_stamp: str | None = None,
    operlog_stamp: str | None = None,
) -> None:
    """Save the stamps a committed upload carried (only those given; the row must exist:
    :func:`ensure_state`). Called in the upload's own transaction: saved only if it commits."""
    values: dict[str, Any] = {}
    if attlog_stamp is not None:
        values["attlog_stamp"] = _clip(attlog_stamp, 32)
    if operlog_stamp is not None:
        values["operlog_stamp"] = _clip(operlog_stamp, 32)
    if values:
        conn.execute(
            update(att_push_state)
            .where(att_push_state.c.device_id == device_id)
            .values(**values, updated_at=utc_stamp())
        )


def record_seen(conn: Connection, device_id: int, *, at: datetime, address: str) -> None:
    """When and from where the device was last heard from (the caller throttles)."""
    done = conn.execute(
        update(att_push_state)
        .where(att_push_state.c.device_id == device_id)
        .values(last_seen_at=_sec(at), last_address=_clip(address, 64), updated_at=utc_stamp())
    )
    if done.rowcount == 0:
        conn.execute(
            insert(att_push_state).values(
                device_id=device_id,
                last_seen_at=_sec(at),
                last_address=_clip(address, 64),
                updated_at=utc_stamp(),
            )
        )


def last_seen(conn: Connection) -> dict[str, tuple[datetime | None, str | None]]:
    """Device name → (last_seen_at, last_address) of every push device heard from."""
    stmt = select(att_device.c.name, att_push_state.c.last_seen_at, att_push_state.c.last_address)
    stmt = stmt.join(att_device, att_device.c.id == att_push_state.c.device_id)
    return {name: (at, address) for name, at, address in conn.execute(stmt)}


# --------------------------------------------------------------------------- pending


def record_pending(
    conn: Connection, serial: str, *, at: datetime, address: str, requests: int = 1
) -> None:
    """Count ``requests`` more calls of an unknown serial number (listed as pending)."""
    t = att_push_pending
    serial, address, at = _clip(serial, 64) or "", _clip(address, 64) or "", _sec(at)
    bump = (
        update(t)
        .where(t.c.serial == serial)
        .values(last_seen_at=at, address=address, requests=t.c.requests + requests)
    )
    if conn.execute(bump).rowcount:
        return
    # Two first calls of one serial at once: one insert fails (IntegrityError); the caller
    # tries again in a new transaction, which then updates.
    conn.execute(
        insert(t).values(
            serial=serial, first_seen_at=at, last_seen_at=at, address=address, requests=requests
        )
    )


def pending(conn: Connection) -> list[dict]:
    """The pending serial numbers, the most recently seen first."""
    t = att_push_pending
    stmt = select(t.c.serial, t.c.first_seen_at, t.c.last_seen_at, t.c.address, t.c.requests)
    return [dict(r) for r in conn.execute(stmt.order_by(t.c.last_seen_at.desc())).mappings()]


def forget_pending(conn: Connection, serials: Sequence[str]) -> int:
    """Drop serial numbers from the pending list (configured now, or dismissed)."""
    if not serials:
        return 0
    t = att_push_pending
    return conn.execute(t.delete().where(t.c.serial.in_(list(serials)))).rowcount


# --------------------------------------------------------------------------- commands


def queue_command(
    conn: Connection, device_id: int, command: str, *, created_by: str, at: datetime
) -> str:
    """Queue ``command`` (already checked by the caller) for the device; returns its id,
    the decimal row id (alphanumeric, at most 16 characters, as the protocol wants)."""
    t = att_device_command
    placeholder = "q" + secrets.token_hex(7)  # unique until replaced just below
    row_id = conn.execute(
        insert(t).values(
            device_id=device_id,
            command_id=placeholder,
            command=command,
            created_at=_sec(at),
            created_by=_clip(created_by, 64),
            send_count=0,
        )
    ).inserted_primary_key[0]
    command_id = str(row_id)
    conn.execute(update(t).where(t.c.id == row_id).values(command_id=command_id))
    return command_id


def commands_due(
    conn: Connection, device_id: int, *, now: datetime, resend_after: timedelta, limit: int = 200
) -> list[tuple[str, str]]:
    """(command_id, command) of the unanswered commands to send now, oldest first: never
    sent, or sent more than ``resend_after`` ago without an answer."""
    t = att_device_command
    stmt = (
        select(t.c.command_id, t.c.command)
        .where(
            t.c.device_id == device_id,
            t.c.answered_at.is_(None),
            or_(t.c.sent_at.is_(None), t.c.sent_at < _sec(now - resend_after)),
        )
        .order_by(t.c.id)
        .limit(limit)
    )
    return [(command_id, command) for command_id, command in conn.execute(stmt)]


def devices_with_open_commands(conn: Connection) -> set[int]:
    """Ids of the devices that have a command without an answer (sent or not)."""
    t = att_device_command
    return set(
        conn.execute(select(t.c.device_id).where(t.c.answered_at.is_(None)).distinct()).scalars()
    )


def mark_sent(
    conn: Connection, device_id: int, command_ids: Sequence[str], *, at: datetime
) -> None:
    if not command_ids:
        return
    t = att_device_command
    conn.execute(
        update(t)
        .where(t.c.device_id == device_id, t.c.command_id.in_(list(command_ids)))
        .values(sent_at=_sec(at), send_count=t.c.send_count + 1)
    )


def record_result(
    conn: Connection,
    device_id: int,
    command_id: str,
    *,
    return_code: int | None,
    result: str | None,
    at: datetime,
) -> bool:
    """Record the device's answer to one of its commands; False when it has no such command.
    A repeated answer (the device re-posts) overwrites the first."""
    t = att_device_command
    done = conn.execute(
        update(t)
        .where(and_(t.c.device_id == device_id, t.c.command_id == _clip(command_id, 16)))
        .values(answered_at=_sec(at), return_code=return_code, result=_clip(result, _RESULT_MAX))
    )
    return bool(done.rowcount)


def device_commands(conn: Connection, device_id: int, *, limit: int = 100) -> list[dict]:
    """The device's commands, newest first: every column of att_device_command."""
    t = att_device_command
    stmt = select(t).where(t.c.device_id == device_id).order_by(t.c.id.desc()).limit(limit)
    return [dict(r) for r in conn.execute(stmt).mappings()]


def commands_of(conn: Connection, name: str, *, limit: int = 100) -> list[dict]:
    """:func:`device_commands` of the device called ``name`` (none when it is not stored)."""
    t = att_device_command
    stmt = (
        select(t)
        .join(att_device, att_device.c.id == t.c.device_id)
        .where(att_device.c.name == name)
        .order_by(t.c.id.desc())
        .limit(limit)
    )
    return [dict(r) for r in conn.execute(stmt).mappings()]


# --------------------------------------------------------------------------- users


def upsert_users(
    conn: Connection, device_id: int, users: Sequence[DeviceUser], *, seen_at: datetime
) -> int:
    """Insert or update the users a push device reported (it reports changes, not its whole
    list: nobody is marked absent here). Returns how many are new."""
    return store_users(conn, device_id, users, seen_at=seen_at, complete=False)


__all__ = [
    "PushState",
    "commands_due",
    "commands_of",
    "device_commands",
    "ensure_state",
    "forget_pending",
    "last_seen",
    "mark_sent",
    "pending",
    "queue_command",
    "record_pending",
    "record_result",
    "record_seen",
    "save_stamps",
    "upsert_users",
]


# --------------------------------------------------------------------------- reconciliation

#: the commands the reconciliation reads back (as check_command writes them: upper-case verb)
RANGE_VERBS = ("VERIFY SUM ATTLOG", "DATA QUERY ATTLOG")
#: every zone is within this of UTC: bounds a wall-clock range by the indexed UTC column
_ZONE_SPAN = timedelta(hours=15)


def device_punch_count(conn: Connection, device_id: int, start: datetime, end: datetime) -> int:
    """Punches the clock sent (``source`` device) stamped ``start``..``end`` inclusive on its
    own wall clock — voided and flagged ones too, since the clock counts them all."""
    t = att_punch
    stmt = select(func.count()).where(
        t.c.device_id == device_id,
        t.c.source == "device",
        t.c.punched_at >= start,
        t.c.punched_at <= end,
        # the same range in UTC, widened by any zone's offset: lets the punched_at_utc
        # index narrow the scan to a few days instead of the device's whole history
        t.c.punched_at_utc >= start - _ZONE_SPAN,
        t.c.punched_at_utc <= end + _ZONE_SPAN,
    )
    return int(conn.execute(stmt).scalar_one())


def range_commands(conn: Connection, device_id: int, *, since: datetime) -> list[dict]:
    """The device's ``VERIFY SUM ATTLOG`` and ``DATA QUERY ATTLOG`` commands created at or
    after ``since``, and older ones still unanswered; oldest first, every column."""
    t = att_device_command
    stmt = (
        select(t)
        .where(
            t.c.device_id == device_id,
            or_(*(t.c.command.like(f"{verb} %") for verb in RANGE_VERBS)),
            or_(t.c.created_at >= _sec(since), t.c.answered_at.is_(None)),
        )
        .order_by(t.c.id)
    )
    return [dict(r) for r in conn.execute(stmt).mappings()]


__all__ += ["RANGE_VERBS", "device_punch_count", "range_commands"]


# --------------------------------------------------------------------------- enrolment

#: the commands enrolment queues (as check_command writes them: upper-case verb)
ENROL_VERBS = (
    "DATA UPDATE USERINFO",
    "DATA DELETE USERINFO",
    "DATA UPDATE FINGERTMP",
    "DATA UPDATE BIODATA",
)


def clock_users(conn: Connection, device_id: int) -> tuple[list[DeviceUser], datetime | None]:
    """The users the push clock last reported (or confirmed a command for) as on it, and
    when the newest of those reports came (None: it never reported a user)."""
    t = att_device_user
    rows = conn.execute(
        select(t.c.enroll_no, t.c.name, t.c.card, t.c.privilege, t.c.last_seen_at).where(
            t.c.device_id == device_id, t.c.present.is_(True)
        )
    ).all()
    newest = conn.execute(
        select(func.max(t.c.last_seen_at)).where(t.c.device_id == device_id)
    ).scalar_one_or_none()
    users = [DeviceUser(r.enroll_no, r.name, r.card, r.privilege) for r in rows]
    return users, newest


def mark_absent(
    conn: Connection, device_id: int, enroll_nos: Sequence[str], *, seen_at: datetime
) -> int:
    """Mark users the clock no longer holds (removed by a command) as not present."""
    if not enroll_nos:
        return 0
    t = att_device_user
    return conn.execute(
        update(t)
        .where(t.c.device_id == device_id, t.c.enroll_no.in_(list(enroll_nos)))
        .values(present=False, last_seen_at=_sec(seen_at))
    ).rowcount


def command_text(conn: Connection, device_id: int, command_id: str) -> str | None:
    """The text of one of the device's commands (None: no such command)."""
    t = att_device_command
    return conn.execute(
        select(t.c.command).where(
            t.c.device_id == device_id, t.c.command_id == _clip(command_id, 16)
        )
    ).scalar_one_or_none()


def enrol_commands(conn: Connection, device_id: int) -> list[dict]:
    """The device's enrolment commands (USERINFO updates and deletions, FINGERTMP), oldest
    first: id, command_id, command, created_at, answered_at, return_code."""
    t = att_device_command
    stmt = (
        select(
            t.c.id, t.c.command_id, t.c.command, t.c.created_at, t.c.answered_at, t.c.return_code
        )
        .where(
            t.c.device_id == device_id,
            or_(*(t.c.command.like(f"{verb} %") for verb in ENROL_VERBS)),
        )
        .order_by(t.c.id)
    )
    return [dict(r) for r in conn.execute(stmt).mappings()]


def fingers_of(
    conn: Connection, cipher: TemplateCipher, enroll_nos: Sequence[str]
) -> dict[str, tuple[int, dict[int, TemplateRow]]]:
    """enrol number → (employee id, finger → stored template, opened) of the employees with
    these enrol numbers (those without a stored finger too)."""
    e, t = att_employee, att_finger_template
    from punchd.storage.templates import Row as TemplateRow  # loads the cipher's library

    found: dict[str, tuple[int, dict[int, TemplateRow]]] = {}
    for group in chunks(list(dict.fromkeys(enroll_nos)), 500):
        for enroll_no, employee_id in conn.execute(
            select(e.c.enroll_no, e.c.id).where(e.c.enroll_no.in_(group))
        ):
            found[enroll_no] = (employee_id, {})
        rows = conn.execute(
            select(
                e.c.enroll_no,
                t.c.employee_id,
                t.c.finger,
                t.c.template,
                t.c.fp_version,
                t.c.valid,
                t.c.source_device,
            )
            .join(e, e.c.id == t.c.employee_id)
            .where(e.c.enroll_no.in_(group))
        ).all()
        for r in rows:
            found[r.enroll_no][1][r.finger] = TemplateRow(
                r.employee_id,
                r.finger,
                cipher.open(r.employee_id, r.finger, bytes(r.template)),
                r.fp_version,
                r.valid,
                r.source_device,
            )
    return found


__all__ += [
    "ENROL_VERBS",
    "clock_users",
    "command_text",
    "enrol_commands",
    "fingers_of",
    "mark_absent",
]


# -- biometric algorithm versions (revision 0012) ---------------------------------------------


def _versions_text(versions: Mapping[int, str]) -> str:
    return ";".join(f"{t}:{v}" for t, v in sorted(versions.items()))[:128]


def _versions_of(text: str | None) -> dict[int, str]:
    out: dict[int, str] = {}
    for part in (text or "").split(";"):
        bio_type, sep, version = part.partition(":")
        if sep and bio_type.strip().isdigit() and version.strip():
            out[int(bio_type)] = version.strip()
    return out


def bio_versions(conn: Connection, device_id: int) -> dict[int, str]:
    """BIODATA type → the algorithm major version the push clock last reported for it."""
    text = conn.execute(
        select(att_push_state.c.bio_versions).where(att_push_state.c.device_id == device_id)
    ).scalar_one_or_none()
    return _versions_of(text)


def save_bio_versions(conn: Connection, device_id: int, versions: Mapping[int, str]) -> bool:
    """Merge ``versions`` into what the clock reported before; True when that changed (the
    state row must exist: :func:`ensure_state`)."""
    old = bio_versions(conn, device_id)
    new = {**old, **{t: v[:16] for t, v in versions.items() if v}}
    if new == old:
        return False
    conn.execute(
        update(att_push_state)
        .where(att_push_state.c.device_id == device_id)
        .values(bio_versions=_versions_text(new))
    )
    return True


__all__ += ["bio_versions", "save_bio_versions"]
