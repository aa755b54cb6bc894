"""Punches people enter or correct: manual punches (签卡), voids, and one employee's punches
for a look; and the leaver flag (``att_punch.flag`` :data:`AFTER_LEAVING`): who of a batch
of punches had left, and which stored punches a changed separation date flags or clears.
(Device punches are written by the collector through ``storage.collection``.)"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any, Final

from sqlalchemy import and_, false, func, or_, select, update
from sqlalchemy.engine import Connection, Row

from punchd.storage._bulk import IN_CHUNK, chunks
from punchd.storage.rules import add_audited, now
from punchd.storage.schema import (
    PUNCH_STATES,
    att_card,
    att_device,
    att_employee,
    att_punch,
)

#: ``att_punch.flag`` of a device punch dated (its device-local date, the date processing
#: uses) after the separation date of the person it belongs to: stored, listed for HR,
#: ignored by processing. Set by the one punch write path (``collector.sink``) and moved
#: with the separation date (``hr.service``); never replaces another flag.
AFTER_LEAVING: Final = "after_leaving"

#: A card's history, oldest first: (effective_from, holder's employee id or None for
#: withdrawn, the holder's separation date).
CardHistory = list[tuple[datetime, int | None, date | None]]

#: enrolment numbers per re-evaluation query (each brings its own condition)
_REFLAG_CHUNK = 200

__all__ = [
    "AFTER_LEAVING",
    "PUNCH_STATES",
    "CardHistory",
    "add_manual_punch",
    "card_histories",
    "card_punch_after_leaving",
    "device_user_code",
    "leaver_flag_changes",
    "leaver_punches",
    "left_by",
    "manual_punch_between",
    "punch_by_id",
    "punches_of",
    "separations_by_enroll",
    "set_leaver_flags",
    "set_void",
]


def manual_punch_between(
    conn: Connection, employee_id: int, start: datetime, end: datetime
) -> int | None:
    """The id of an employee's manual punch (not void) at local ``[start, end)``, if any."""
    row = conn.execute(
        select(att_punch.c.id).where(
            att_punch.c.employee_id == employee_id,
            att_punch.c.source == "manual",
            att_punch.c.void == false(),
            att_punch.c.punched_at >= start,
            att_punch.c.punched_at < end,
        )
    ).first()
    return None if row is None else row.id


def add_manual_punch(
    conn: Connection, values: Mapping[str, Any], *, actor: str, detail: dict[str, Any]
) -> int:
    """A manual punch row (``employee_id``, ``enroll_no``, ``punched_at``,
    ``punched_at_utc``, ``state``, ``note``) and its "add" audit row; the new id."""
    row = {
        **values,
        "device_id": None,
        "source": "manual",
        "collected_at": now(),
        "run_id": None,
        "void": False,
    }
    return add_audited(
        conn, att_punch, row, actor=actor, action="add", entity="punch", detail=detail
    )


def punch_by_id(conn: Connection, punch_id: int) -> Row | None:
    return conn.execute(select(att_punch).where(att_punch.c.id == punch_id)).first()


def set_void(conn: Connection, punch_id: int, *, reason: str | None, actor: str | None) -> None:
    """Void a punch (``reason`` and ``actor`` given) or make it count again (both None)."""
    void = reason is not None
    conn.execute(
        update(att_punch)
        .where(att_punch.c.id == punch_id)
        .values(
            void=void,
            void_reason=reason,
            voided_by=actor[:64] if void and actor else None,
            voided_at=now() if void else None,
        )
    )


def punches_of(
    conn: Connection,
    employee_id: int,
    enroll_no: str | None,
    start: datetime,
    end: datetime,
) -> list[Row]:
    """An employee's punches at local ``[start, end)``: manual ones (``employee_id``) and,
    with an enrolment number, device punches under it from devices that record enrolment
    numbers (``user_code`` not ``'card'``). Void ones included; ``att_punch`` columns plus
    ``device`` (name); by time."""
    mine = att_punch.c.employee_id == employee_id
    if enroll_no:
        mine = or_(
            mine,
            and_(
                att_punch.c.employee_id.is_(None),
                att_punch.c.enroll_no == enroll_no,
                att_punch.c.device_id.is_not(None),
                or_(att_device.c.user_code.is_(None), att_device.c.user_code != "card"),
            ),
        )
    query = (
        select(att_punch, att_device.c.name.label("device"))
        .outerjoin(att_device, att_device.c.id == att_punch.c.device_id)
        .where(mine, att_punch.c.punched_at >= start, att_punch.c.punched_at < end)
        .order_by(att_punch.c.punched_at, att_punch.c.id)
    )
    return list(conn.execute(query).all())


# --------------------------------------------------------------------------- leavers


def left_by(separation: date | None, at: datetime) -> bool:
    """Whether a punch at ``at`` (device-local wall clock) is dated after ``separation``,
    the last day that counts (the separation day itself still counts)."""
    return separation is not None and at.date() > separation


def card_punch_after_leaving(
    history: Sequence[tuple[datetime, int | None, date | None]], at: datetime
) -> bool:
    """Whether a card clock's punch at ``at`` is one by someone who had left: the card's
    holder then (its newest entry at or before ``at``) had separated before ``at``'s date,
    or the card had been withdrawn from its holder after they left (a separation withdraws
    the leaver's cards from the next day) and nobody has held it since."""
    current = previous = None
    for entry in history:
        if entry[0] > at:
            break
        previous, current = current, entry
    if current is None:
        return False
    since, holder, separation = current
    if holder is not None:
        return left_by(separation, at)
    if previous is None or previous[1] is None or previous[2] is None:
        return False
    return left_by(previous[2], since) and left_by(previous[2], at)


def device_user_code(conn: Connection, device_id: int) -> str | None:
    """What the device's punches carry: ``"card"`` (card numbers) or anything else
    (enrolment numbers)."""
    return conn.execute(
        select(att_device.c.user_code).where(att_device.c.id == device_id)
    ).scalar_one_or_none()


def separations_by_enroll(conn: Connection, enroll_nos: Iterable[str]) -> dict[str, date]:
    """Enrolment number → separation date, of the employees with one among these numbers
    (one query per :data:`~punchd.storage._bulk.IN_CHUNK` numbers)."""
    e = att_employee.c
    out: dict[str, date] = {}
    for group in chunks(sorted(set(enroll_nos)), IN_CHUNK):
        stmt = select(e.enroll_no, e.separation_date).where(
            e.enroll_no.in_(group), e.separation_date.is_not(None)
        )
        out.update((no, on) for no, on in conn.execute(stmt))
    return out


def card_histories(conn: Connection, card_nos: Iterable[str]) -> dict[str, CardHistory]:
    """Card number → its :data:`CardHistory` (cards never issued are left out)."""
    c, e = att_card.c, att_employee.c
    out: dict[str, CardHistory] = {}
    for group in chunks(sorted(set(card_nos)), IN_CHUNK):
        stmt = (
            select(c.card_no, c.effective_from, c.employee_id, e.separation_date)
            .select_from(att_card.outerjoin(att_employee, e.id == c.employee_id))
            .where(c.card_no.in_(group))
            .order_by(c.card_no, c.effective_from)
        )
        for card_no, since, holder, separation in conn.execute(stmt):
            out.setdefault(card_no, []).append((since, holder, separation))
    return out


def _day_after(on: date) -> datetime:
    return datetime.combine(on + timedelta(days=1), time())


def leaver_flag_changes(
    conn: Connection,
    *,
    enroll_nos: Iterable[str] = (),
    card_nos: Iterable[str] = (),
    since: datetime | None = None,
) -> list[tuple[int, datetime, str | None]]:
    """The device punches under these enrolment numbers (on clocks that record them) and
    these card numbers (on card clocks), dated from ``since`` (None: ever), whose leaver flag
    is not what the separation dates and cards say now: ``(id, punched_at, the flag it
    should have: AFTER_LEAVING or None)``, by time. Only punches without a flag or with
    this one are looked at: ``power_loss`` / ``future`` stay as they are.

    Reads only what can change: the punches flagged now, and those after each person's
    separation date (not a long-serving employee's whole history)."""
    p, d = att_punch.c, att_device.c
    found: list[tuple[int, datetime, str | None]] = []
    device_punch = [p.employee_id.is_(None), p.device_id.is_not(None)]
    if since is not None:
        device_punch.append(p.punched_at >= since)

    numbers = sorted(set(enroll_nos))
    separations = separations_by_enroll(conn, numbers)
    for group in chunks(numbers, _REFLAG_CHUNK):
        after = [
            and_(p.enroll_no == no, p.punched_at >= _day_after(separations[no]))
            for no in group
            if no in separations
        ]
        looked_at = p.flag == AFTER_LEAVING
        if after:
            looked_at = or_(looked_at, and_(p.flag.is_(None), or_(*after)))
        stmt = (
            select(p.id, p.enroll_no, p.punched_at, p.flag)
            .select_from(att_punch.join(att_device, d.id == p.device_id))
            .where(
                p.enroll_no.in_(group),
                or_(d.user_code.is_(None), d.user_code != "card"),
                looked_at,
                *device_punch,
            )
        )
        for row in conn.execute(stmt):
            wanted = (
                AFTER_LEAVING if left_by(separations.get(row.enroll_no), row.punched_at) else None
            )
            if wanted != row.flag:
                found.append((row.id, row.punched_at, wanted))

    histories = card_histories(conn, card_nos)
    cards = sorted(set(card_nos))
    for group in chunks(cards, _REFLAG_CHUNK):
        after = []
        for card in group:
            left = [on for _, _, on in histories.get(card, ()) if on is not None]
            if left:
                after.append(and_(p.enroll_no == card, p.punched_at >= _day_after(min(left))))
        looked_at = p.flag == AFTER_LEAVING
        if after:
            looked_at = or_(looked_at, and_(p.flag.is_(None), or_(*after)))
        stmt = (
            select(p.id, p.enroll_no, p.punched_at, p.flag)
            .select_from(att_punch.join(att_device, d.id == p.device_id))
            .where(p.enroll_no.in_(group), d.user_code == "card", looked_at, *device_punch)
        )
        for row in conn.execute(stmt):
            history = histories.get(row.enroll_no, [])
            left = card_punch_after_leaving(history, row.punched_at)
            wanted = AFTER_LEAVING if left else None
            if wanted != row.flag:
                found.append((row.id, row.punched_at, wanted))
    found.sort(key=lambda change: (change[1], change[0]))
    return found


def set_leaver_flags(conn: Connection, changes: Sequence[tuple[int, datetime, str | None]]) -> None:
    """Carry out :func:`leaver_flag_changes`: flag or clear by id (a punch that has got
    another flag meanwhile keeps it)."""
    p = att_punch.c
    flag = [punch_id for punch_id, _, wanted in changes if wanted == AFTER_LEAVING]
    clear = [punch_id for punch_id, _, wanted in changes if wanted is None]
    for group in chunks(flag, IN_CHUNK):
        conn.execute(
            update(att_punch)
            .where(p.id.in_(list(group)), p.flag.is_(None))
            .values(flag=AFTER_LEAVING)
        )
    for group in chunks(clear, IN_CHUNK):
        conn.execute(
            update(att_punch)
            .where(p.id.in_(list(group)), p.flag == AFTER_LEAVING)
            .values(flag=None)
        )


def leaver_punches(
    conn: Connection, *, collected_since: datetime | None = None, examples: int = 3
) -> tuple[int, list[dict[str, Any]]]:
    """How many punches are stored with the leaver flag (collected since
    ``collected_since``, naive UTC; None: ever) and the newest ``examples`` of them, each
    ``employee_no``, ``name`` (None when the person cannot be told any more), ``enroll_no``,
    ``punched_at``, ``device``."""
    p, d = att_punch.c, att_device.c
    where = [p.flag == AFTER_LEAVING]
    if collected_since is not None:
        where.append(p.collected_at >= collected_since)
    count = int(
        conn.execute(select(func.count()).select_from(att_punch).where(*where)).scalar_one()
    )
    if not count or examples <= 0:
        return count, []
    rows = conn.execute(
        select(p.enroll_no, p.punched_at, d.name.label("device"), d.user_code)
        .select_from(att_punch.join(att_device, d.id == p.device_id))
        .where(*where)
        .order_by(p.collected_at.desc(), p.punched_at.desc(), p.id.desc())
        .limit(examples)
    ).all()
    cards = card_histories(conn, [r.enroll_no for r in rows if r.user_code == "card"])
    holders: dict[int, tuple[str, str]] = {}
    wanted_ids: set[int] = set()
    for r in rows:
        if r.user_code == "card":
            wanted_ids.update(h for _, h, _ in cards.get(r.enroll_no, ()) if h is not None)
    e = att_employee.c
    if wanted_ids:
        stmt = select(e.id, e.employee_no, e.name).where(e.id.in_(sorted(wanted_ids)))
        holders = {i: (no, name) for i, no, name in conn.execute(stmt)}
    numbers = sorted({r.enroll_no for r in rows if r.user_code != "card"})
    by_number: dict[str, tuple[str, str]] = {}
    if numbers:
        stmt = select(e.enroll_no, e.employee_no, e.name).where(e.enroll_no.in_(numbers))
        by_number = {no: (emp_no, name) for no, emp_no, name in conn.execute(stmt)}
    listed = []
    for r in rows:
        who: tuple[str, str] | None
        if r.user_code == "card":
            who = None
            for since, holder, _ in cards.get(r.enroll_no, ()):
                if since > r.punched_at:
                    break
                if holder is not None:
                    who = holders.get(holder)
        else:
            who = by_number.get(r.enroll_no)
        listed.append(
            {
                "employee_no": who[0] if who else None,
                "name": who[1] if who else None,
                "enroll_no": r.enroll_no,
                "punched_at": r.punched_at,
                "device": r.device,
            }
        )
    return count, listed
