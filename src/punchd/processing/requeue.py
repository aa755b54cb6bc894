"""The durable "to re-process" queue (``att_reprocess``): the one way results follow changes.

Every change that can alter an ``att_day`` result — punches stored by a collection or from
the spool, leave, manual punches and voids, separations, cards, schedules and overrides,
holidays, rules, roster imports — calls one of the ``enqueue*`` functions *inside the
transaction of the change*, so the change and the note that results are now stale commit
together or not at all. :func:`drain` (the daemon after each poll and every few seconds,
every command that changes something, ``punchd process`` and ``punchd report``) re-processes
what the rows cover through the processing shell and deletes exactly the rows it read.

Two drainers at once (the daemon and a command) are safe: both may process the same
employee-days (processing is idempotent and retries a colliding write), each deletes only
the rows it read by their ids, so a row committed meanwhile — whatever its id — stays for
the next drain. A day covered by a row is *stale*: reports mark it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, bindparam, delete, func, insert, select
from sqlalchemy.engine import Connection, Engine

from punchd import logs
from punchd.clock import utc_stamp
from punchd.processing.runner import (
    CHUNK,
    EmployeeRow,
    _runs,
    process,
    process_employees,
    punch_reach,
    reached_dates,
    select_employees,
    touched_days,
)
from punchd.storage.schema import (
    att_card,
    att_day,
    att_device,
    att_employee,
    att_reprocess,
    att_schedule,
)

#: ``att_reprocess.reason`` is at most this long.
REASON_MAX = 32
#: Rows read per drain: a bigger backlog is drained over several calls.
DRAIN_BATCH = 5000


@dataclass
class DrainResult:
    """What one :func:`drain` did."""

    changes: int = 0  # queue rows covered (and deleted)
    employee_ids: set[int] = field(default_factory=set)  # re-processed, each once
    employee_days: int = 0
    runs: int = 0
    more: bool = False  # rows were left for the next drain (over DRAIN_BATCH)

    @property
    def employees(self) -> int:
        return len(self.employee_ids)

    def add(self, other: DrainResult) -> None:
        self.changes += other.changes
        self.employee_ids |= other.employee_ids
        self.employee_days += other.employee_days
        self.runs += other.runs
        self.more = other.more

    def line(self) -> str:
        return (
            f"re-processed {self.changes} changes: {self.employees} employees, "
            f"{self.employee_days} employee-days"
        )


@dataclass(frozen=True, slots=True)
class Queued:
    id: int
    employee_id: int | None
    department_id: int | None
    date_from: date
    date_to: date
    reason: str
    queued_at: datetime


# ---------------------------------------------------------------------------- enqueue


def enqueue(
    conn: Connection,
    *,
    employee_id: int | None = None,
    department_id: int | None = None,
    date_from: date,
    date_to: date,
    reason: str,
) -> None:
    """In the caller's transaction: the work dates ``[date_from, date_to]`` of one employee,
    of a department's employees, or (both None) of everyone must be processed again."""
    if date_to < date_from:
        return
    conn.execute(
        insert(att_reprocess).values(
            employee_id=employee_id,
            department_id=department_id,
            date_from=date_from,
            date_to=date_to,
            reason=reason[:REASON_MAX],
            queued_at=utc_stamp(),
        )
    )


def processed_range(conn: Connection) -> tuple[date, date] | None:
    """The first and last work date that has results (None: nothing processed yet)."""
    lo, hi = conn.execute(
        select(func.min(att_day.c.work_date), func.max(att_day.c.work_date))
    ).one()
    return None if lo is None else (lo, hi)


def enqueue_results(
    conn: Connection,
    *,
    employee_id: int | None = None,
    department_id: int | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    reason: str,
) -> None:
    """Like :func:`enqueue` for an edit: only the dates that already have results are
    re-processed (an edit never creates results for dates nobody processed yet); ``None``
    ends reach to the first / last processed date."""
    done = processed_range(conn)
    if done is None:
        return
    lo = done[0] if date_from is None else max(date_from, done[0])
    hi = done[1] if date_to is None else min(date_to, done[1])
    enqueue(
        conn,
        employee_id=employee_id,
        department_id=department_id,
        date_from=lo,
        date_to=hi,
        reason=reason,
    )


def enqueue_punches(
    conn: Connection, device: str, punches: Sequence[tuple[str, datetime]], *, reason: str
) -> int:
    """New device punches ``(enroll_no, punched_at)`` of ``device``: the employee-days they
    can change (:func:`punchd.processing.runner.touched_days`, the reach of the rules'
    windows: a punch after midnight can belong to yesterday's night shift). Dates with no
    results yet are included: that is how today's results appear. Returns rows queued."""
    rows = []
    stamp = utc_stamp()
    for employee_id, dates in sorted(touched_days(conn, device, punches).items()):
        for d_from, d_to in _runs(sorted(dates)):
            rows.append(
                {
                    "employee_id": employee_id,
                    "department_id": None,
                    "date_from": d_from,
                    "date_to": d_to,
                    "reason": reason,
                    "queued_at": stamp,
                }
            )
    if rows:
        conn.execute(insert(att_reprocess), rows)
    return len(rows)


def enqueue_times(
    conn: Connection,
    employee_id: int,
    start: datetime,
    end: datetime,
    *,
    reason: str,
) -> None:
    """The work dates whose punch windows meet ``[start, end]`` (a manual punch, a void,
    part-day leave) for one employee."""
    dates = reached_dates(punch_reach(conn, start, end), start, end)
    if dates:
        enqueue_results(
            conn, employee_id=employee_id, date_from=dates[0], date_to=dates[-1], reason=reason
        )


def enqueue_leave(
    conn: Connection, employee_id: int, start_at: datetime, end_at: datetime, full_day: bool
) -> None:
    """A leave row added or removed (full days: ``end_at`` is the last day's midnight)."""
    if full_day:
        enqueue_results(
            conn,
            employee_id=employee_id,
            date_from=start_at.date(),
            date_to=end_at.date(),
            reason="leave",
        )
    else:
        enqueue_times(conn, employee_id, start_at, end_at, reason="leave")


def enqueue_card(conn: Connection, card_no: str, at: datetime, *, reason: str = "card") -> None:
    """The card's entry at ``at`` was added: from then on its punches belong to someone
    else — the owner before and the owner after change, from the dates ``at`` reaches."""
    entries = conn.execute(
        select(att_card.c.effective_from, att_card.c.employee_id)
        .where(att_card.c.card_no == card_no)
        .order_by(att_card.c.effective_from, att_card.c.id)
    ).all()
    owners = {e.employee_id for e in entries if e.effective_from == at}
    before = [e for e in entries if e.effective_from < at]
    if before:
        owners.add(before[-1].employee_id)
    first = reached_dates(punch_reach(conn, at, at), at, at)[0]
    for employee_id in sorted(o for o in owners if o is not None):
        enqueue_results(conn, employee_id=employee_id, date_from=first, reason=reason)


def enqueue_separation(
    conn: Connection, employee_id: int, old: date | None, new: date | None
) -> None:
    """The last day that counts moved from ``old`` to ``new`` (None: still employed)."""
    ends = [d for d in (old, new) if d is not None]
    if ends:
        enqueue_results(
            conn,
            employee_id=employee_id,
            date_from=min(ends) + timedelta(days=1),
            reason="separation",
        )


def enqueue_roster(conn: Connection, summary: Any) -> None:
    """A roster import (:class:`punchd.hr.service.ImportSummary`): the employees it
    created or changed, from their hire date, and the owners before and after of every
    card it issued or withdrew, from the dates its new entry reaches. One row per
    employee, a few queries for the whole import."""
    done = processed_range(conn)
    if done is None:
        return
    start: dict[int, date] = {}
    for emp in _by_numbers(conn, [*summary.created, *summary.updated]):
        start[emp.id] = emp.hire_date
    cards = sorted({*summary.cards_issued, *summary.cards_withdrawn})
    history: dict[str, list[Any]] = defaultdict(list)
    for i in range(0, len(cards), CHUNK):
        for entry in conn.execute(
            select(att_card.c.card_no, att_card.c.effective_from, att_card.c.employee_id)
            .where(att_card.c.card_no.in_(cards[i : i + CHUNK]))
            .order_by(att_card.c.effective_from, att_card.c.id)
        ):
            history[entry.card_no].append(entry)
    reach = None
    for entries in history.values():
        at = entries[-1].effective_from
        owners = {e.employee_id for e in entries if e.effective_from == at}
        earlier = [e for e in entries if e.effective_from < at]
        if earlier:
            owners.add(earlier[-1].employee_id)
        if reach is None:
            reach = punch_reach(conn, at, at)
        first = reached_dates(reach, at, at)[0]
        for employee_id in owners - {None}:
            start[employee_id] = min(first, start.get(employee_id, first))
    stamp = utc_stamp()
    rows = [
        {
            "employee_id": employee_id,
            "department_id": None,
            "date_from": max(d_from, done[0]),
            "date_to": done[1],
            "reason": "roster",
            "queued_at": stamp,
        }
        for employee_id, d_from in sorted(start.items())
        if d_from <= done[1]
    ]
    if rows:
        conn.execute(insert(att_reprocess), rows)


def enqueue_days(conn: Connection, days: Iterable[date], reason: str) -> None:
    """Everyone, on each of these dates (holidays entered from a file): one row per run of
    consecutive dates that have results."""
    for d_from, d_to in _runs(sorted(set(days))):
        enqueue_results(conn, date_from=d_from, date_to=d_to, reason=reason)


def enqueue_rules(conn: Connection, changes: int = 1) -> None:
    """Rules or settings changed (``changes`` > 0): every processed day of everyone."""
    if changes:
        enqueue_results(conn, reason="rules")


def enqueue_punch_row(conn: Connection, row: Any, *, reason: str) -> None:
    """An ``att_punch`` row voided or restored: the days of whoever it belongs to (a manual
    punch's employee, or the enrolment number's / card's holder on its device)."""
    if row.employee_id is not None:
        enqueue_times(conn, row.employee_id, row.punched_at, row.punched_at, reason=reason)
        return
    device = conn.execute(
        select(att_device.c.name).where(att_device.c.id == row.device_id)
    ).scalar_one_or_none()
    if device is None:
        return
    for employee_id, dates in touched_days(conn, device, [(row.enroll_no, row.punched_at)]).items():
        enqueue_results(
            conn, employee_id=employee_id, date_from=min(dates), date_to=max(dates), reason=reason
        )


def enqueue_schedule(conn: Connection, schedule_id: int, *, reason: str = "schedule") -> None:
    """A schedule added or (called before the delete) removed: its target over its dates."""
    row = conn.execute(
        select(
            att_schedule.c.employee_id,
            att_schedule.c.department_id,
            att_schedule.c.date_from,
            att_schedule.c.date_to,
        ).where(att_schedule.c.id == schedule_id)
    ).first()
    if row is not None:
        enqueue_results(
            conn,
            employee_id=row.employee_id,
            department_id=row.department_id,
            date_from=row.date_from,
            date_to=row.date_to,
            reason=reason,
        )


def enqueue_override(
    conn: Connection, work_date: date, employee_id: int | None, department_id: int | None
) -> None:
    """A temporary schedule set or cleared for one date and one target."""
    enqueue_results(
        conn,
        employee_id=employee_id,
        department_id=department_id,
        date_from=work_date,
        date_to=work_date,
        reason="override",
    )


def _by_numbers(conn: Connection, employee_nos: Sequence[str]) -> list[EmployeeRow]:
    if not employee_nos:
        return []
    return select_employees(conn, employee_nos=employee_nos)


# ------------------------------------------------------------------------------ drain


def _select_queued() -> Select:
    """The columns of :class:`Queued`, in its order."""
    t = att_reprocess.c
    return select(
        t.id, t.employee_id, t.department_id, t.date_from, t.date_to, t.reason, t.queued_at
    )


def pending(conn: Connection, limit: int | None = None) -> list[Queued]:
    """The queued rows, oldest first."""
    stmt = _select_queued().order_by(att_reprocess.c.id)
    if limit is not None:
        stmt = stmt.limit(limit)
    return [Queued(*r) for r in conn.execute(stmt)]


def backlog(conn: Connection) -> int:
    """How many changes wait to be re-processed."""
    return conn.execute(select(func.count()).select_from(att_reprocess)).scalar_one()


def expand(
    conn: Connection, rows: Iterable[Queued], *, within: tuple[date, date] | None = None
) -> dict[int, list[tuple[date, date]]]:
    """Employee id → the merged ``(first, last)`` date ranges the rows cover (clipped to
    ``within``); departments and "everyone" become their current employees."""
    ranges: dict[int, list[tuple[date, date]]] = defaultdict(list)
    everyone: list[EmployeeRow] | None = None
    by_department: dict[int, list[int]] | None = None
    for row in rows:
        lo, hi = row.date_from, row.date_to
        if within is not None:
            lo, hi = max(lo, within[0]), min(hi, within[1])
        if hi < lo:
            continue
        if row.employee_id is not None:
            ids: Iterable[int] = (row.employee_id,)
        else:
            if everyone is None:
                everyone = select_employees(conn)
            if row.department_id is None:
                ids = (e.id for e in everyone)
            else:
                if by_department is None:
                    by_department = defaultdict(list)
                    for e in everyone:
                        by_department[e.department_id].append(e.id)
                ids = by_department.get(row.department_id, ())
        for employee_id in ids:
            ranges[employee_id].append((lo, hi))
    return {eid: _merge(spans) for eid, spans in ranges.items()}


def _merge(spans: list[tuple[date, date]]) -> list[tuple[date, date]]:
    merged: list[tuple[date, date]] = []
    for lo, hi in sorted(spans):
        if merged and lo <= merged[-1][1] + timedelta(days=1):
            if hi > merged[-1][1]:
                merged[-1] = (merged[-1][0], hi)
        else:
            merged.append((lo, hi))
    return merged


def drain(
    engine: Engine,
    *,
    now: datetime,
    actor: str,
    batch: int = DRAIN_BATCH,
) -> DrainResult:
    """Re-process what the queued rows cover, then delete exactly those rows.

    ``now``: the site's local time (see :func:`punchd.processing.runner.process`). A
    processing failure propagates and leaves every row it read in place, so the days stay
    marked stale and the next drain tries again.
    """
    result = DrainResult()
    with engine.connect() as conn:
        rows = pending(conn, batch)
        if not rows:
            return result
        result.more = len(rows) == batch
        covered = expand(conn, rows)
    by_range: dict[tuple[date, date], set[int]] = defaultdict(set)
    for employee_id, spans in covered.items():
        for span in spans:
            by_range[span].add(employee_id)
    with engine.connect() as conn:
        everyone = len(by_range) and {e.id for e in select_employees(conn)}
    for (d_from, d_to), ids in sorted(by_range.items()):
        if ids == everyone:  # the whole site: processing without an id filter is cheaper
            summary = process(engine, d_from, d_to, now=now, actor=actor, trigger="reprocess")
        else:
            summary = process_employees(engine, ids, d_from, d_to, now=now, actor=actor)
        result.runs += 1
        result.employee_days += summary.employee_days
        result.employee_ids.update(ids)
    forget(engine, rows)
    result.changes = len(rows)
    return result


def forget(engine: Engine, rows: Sequence[Queued]) -> None:
    """Delete these queue rows (the ones a drainer read and covered).

    A row is matched by its id *and* its content: SQLite hands out a deleted highest id
    again, so a change queued after another drainer deleted the row read here can carry
    the same id; it must stay."""
    if not rows:
        return
    t = att_reprocess.c
    stmt = delete(att_reprocess).where(
        t.id == bindparam("b_id"),
        t.queued_at == bindparam("b_queued_at"),
        t.date_from == bindparam("b_from"),
        t.date_to == bindparam("b_to"),
        t.reason == bindparam("b_reason"),
    )
    params = [
        {
            "b_id": r.id,
            "b_queued_at": r.queued_at,
            "b_from": r.date_from,
            "b_to": r.date_to,
            "b_reason": r.reason,
        }
        for r in rows
    ]
    with engine.begin() as conn:
        for i in range(0, len(params), CHUNK):
            conn.execute(stmt, params[i : i + CHUNK])


def covered_by(rows: Iterable[Queued], date_from: date, date_to: date) -> list[Queued]:
    """The rows whose dates lie within ``[date_from, date_to]`` (processing that range for
    everyone covers them)."""
    return [r for r in rows if r.date_from >= date_from and r.date_to <= date_to]


def stale_days(conn: Connection, date_from: date, date_to: date) -> set[tuple[int, date]]:
    """(employee id, work date) in ``[date_from, date_to]`` whose inputs changed after they
    were processed: covered by a queued row."""
    rows = [
        Queued(*r)
        for r in conn.execute(
            _select_queued().where(
                and_(att_reprocess.c.date_from <= date_to, att_reprocess.c.date_to >= date_from)
            )
        )
    ]
    out: set[tuple[int, date]] = set()
    for employee_id, spans in expand(conn, rows, within=(date_from, date_to)).items():
        for lo, hi in spans:
            d = lo
            while d <= hi:
                out.add((employee_id, d))
                d += timedelta(days=1)
    return out


def employee_numbers(conn: Connection, ids: Iterable[int]) -> dict[int, str]:
    """att_employee.id → employee_no."""
    wanted = sorted(set(ids))
    out: dict[int, str] = {}
    for i in range(0, len(wanted), CHUNK):
        chunk = wanted[i : i + CHUNK]
        out.update(
            conn.execute(
                select(att_employee.c.id, att_employee.c.employee_no).where(
                    att_employee.c.id.in_(chunk)
                )
            ).all()
        )
    return out


def drain_all(engine: Engine, *, now: datetime, actor: str) -> DrainResult:
    """:func:`drain` until the queue is empty (a backlog bigger than a batch takes several)."""
    total = DrainResult()
    while True:
        done = drain(engine, now=now, actor=actor)
        total.add(done)
        if not done.more:
            return total


def drain_logged(engine: Engine, *, now: datetime, actor: str) -> DrainResult | None:
    """:func:`drain_all`, logging what it did; a failure is logged (with what to do) and
    returns None — the changes that queued the rows stay committed and their days stay
    marked stale until a later drain succeeds."""
    log = logs.get_logger(component="process")
    try:
        total = drain_all(engine, now=now, actor=actor)
    except Exception as exc:
        log.error(
            "re-processing failed; the days concerned are marked stale until it succeeds "
            "(fix the cause, then run `punchd process` for them)",
            error=f"{exc.__class__.__name__}: {exc}",
        )
        return None
    log_drained(total)
    return total


def log_drained(done: DrainResult) -> None:
    """The ``re-processed`` log line (nothing when there was nothing to do)."""
    if done.changes:
        logs.get_logger(component="process").info(
            "re-processed",
            changes=done.changes,
            runs=done.runs,
            employees=done.employees,  # distinct: one employee in several runs counts once
            employee_days=done.employee_days,
        )
