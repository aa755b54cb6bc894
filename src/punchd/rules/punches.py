"""Manual punches (签卡) and voids: what HR enters or corrects by hand. Each change writes its
audit row and queues the days to re-process; problems raise :class:`RulesError` before
anything is written."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from punchd.clock import local_to_utc
from punchd.processing import requeue
from punchd.rules import lookups
from punchd.rules.errors import RulesError
from punchd.storage import audit
from punchd.storage import punches as stored

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Row


#: the refusal of a second manual punch in the same minute, as the console words it
SAME_MINUTE = "%(employee)s already has a manual punch at %(at)s"


def add_manual_punch(
    conn: Connection,
    employee_no: str,
    punched_at: datetime,
    *,
    reason: str,
    actor: str,
    tz: ZoneInfo,
    state: str = "unknown",
) -> int:
    """A manual punch (签卡) at the local wall-clock time ``punched_at`` (in ``tz``, the
    site's zone); returns its ``att_punch.id``. Refused if the employee already has a
    manual punch (not void) at that minute."""
    if not reason.strip():
        raise RulesError("a manual punch needs a reason")
    if state not in stored.PUNCH_STATES:
        raise RulesError(f"state must be one of {', '.join(stored.PUNCH_STATES)}")
    emp = lookups.employee(conn, employee_no)
    local = punched_at.replace(microsecond=0, tzinfo=None)
    minute = local.replace(second=0)
    same = stored.manual_punch_between(conn, emp.id, minute, minute + timedelta(minutes=1))
    if same is not None:
        raise RulesError(
            f"{employee_no} already has a manual punch at {local:%Y-%m-%d %H:%M} (id {same})"
        ).worded(SAME_MINUTE, employee=employee_no, at=f"{local:%Y-%m-%d %H:%M}")
    punch_id = stored.add_manual_punch(
        conn,
        {
            "employee_id": emp.id,
            "enroll_no": emp.enroll_no or "",
            "punched_at": local,
            "punched_at_utc": local_to_utc(local, tz),
            "state": state,
            "note": reason.strip(),
        },
        actor=actor,
        detail={"employee_no": employee_no, "punched_at": local, "state": state, "reason": reason},
    )
    requeue.enqueue_times(conn, emp.id, local, local, reason="punch")
    return punch_id


def _punch(conn: Connection, punch_id: int) -> Row:
    row = stored.punch_by_id(conn, punch_id)
    if row is None:
        raise RulesError(f"no punch with id {punch_id}")
    return row


def void_punch(conn: Connection, punch_id: int, *, reason: str, actor: str) -> None:
    """Void a punch (device or manual): kept, with the reason and who, ignored by
    processing. Refused if it is already void."""
    if not reason.strip():
        raise RulesError("voiding a punch needs a reason")
    row = _punch(conn, punch_id)
    if row.void:
        raise RulesError(
            f"punch {punch_id} is already void ({row.void_reason!r}, by {row.voided_by})"
        )
    stored.set_void(conn, punch_id, reason=reason.strip(), actor=actor)
    audit.record(
        conn,
        actor,
        "void",
        "punch",
        punch_id,
        {"enroll_no": row.enroll_no, "punched_at": row.punched_at, "reason": reason.strip()},
    )
    requeue.enqueue_punch_row(conn, row, reason="void")


def unvoid_punch(conn: Connection, punch_id: int, *, actor: str, reason: str | None = None) -> None:
    """Undo :func:`void_punch` (the audit keeps the history)."""
    row = _punch(conn, punch_id)
    if not row.void:
        raise RulesError(f"punch {punch_id} is not void")
    stored.set_void(conn, punch_id, reason=None, actor=None)
    audit.record(
        conn,
        actor,
        "unvoid",
        "punch",
        punch_id,
        {
            "enroll_no": row.enroll_no,
            "punched_at": row.punched_at,
            "was_void_reason": row.void_reason,
            "was_voided_by": row.voided_by,
            "reason": reason,
        },
    )
    requeue.enqueue_punch_row(conn, row, reason="unvoid")


def list_punches(conn: Connection, employee_no: str, date_from: date, date_to: date) -> list[Row]:
    """An employee's punches on the local dates ``date_from`` … ``date_to``: manual ones
    (``employee_id``) and, when the employee has an enrolment number, device punches under
    it from devices that record enrolment numbers (card-number devices, ``user_code =
    'card'``, are left out: their punches map to people through ``att_card``). Void ones
    included. Rows have the ``att_punch`` columns plus ``device`` (name)."""
    emp = lookups.employee(conn, employee_no)
    return stored.punches_of(
        conn,
        emp.id,
        emp.enroll_no,
        datetime.combine(date_from, time()),
        datetime.combine(date_to, time()) + timedelta(1),
    )
