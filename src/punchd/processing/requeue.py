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

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from punchd import logs
from punchd.clock import utc_stamp
from punchd.processing import closing
from punchd.processing.attribution import attribute
from punchd.processing.inputs import active_rules
from punchd.processing.reach import FALLBACK_REACH, Reach, reached_dates, rules_reach, runs
from punchd.processing.runner import card_owners, process, process_employees
from punchd.storage import periods as periods_store
from punchd.storage import requeue as queue
from punchd.storage import results
from punchd.storage.requeue import REASON_MAX, Queued
from punchd.storage.results import EmployeeRow, select_employees

__all__ = [
    "ARRIVED_REASONS",
    "DRAIN_BATCH",
    "FALLBACK_REACH",
    "REASON_MAX",
    "DrainResult",
    "Queued",
    "Reach",
    "backlog",
    "covered_by",
    "drain",
    "drain_all",
    "drain_logged",
    "employee_numbers",
    "enqueue",
    "enqueue_card",
    "enqueue_days",
    "enqueue_employee_days",
    "enqueue_leave",
    "enqueue_override",
    "enqueue_punch_row",
    "enqueue_punches",
    "enqueue_results",
    "enqueue_roster",
    "enqueue_rules",
    "enqueue_schedule",
    "enqueue_separation",
    "enqueue_times",
    "expand",
    "forget",
    "log_drained",
    "pending",
    "processed_range",
    "punch_reach",
    "reached_dates",
    "stale_days",
    "touched_days",
]

#: Rows read per drain: a bigger backlog is drained over several calls.
DRAIN_BATCH = 5000
#: Queue reasons of punches stored by a collection (a poll, the spool, a push upload) or
#: signed in the console (web): when they reach a closed pay period the days are noted as
#: "arrived after close".
ARRIVED_REASONS = frozenset({"punches", "spool", "push", "web"})


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


# ---------------------------------------------------------------------------- enqueue


def _row(
    employee_id: int | None,
    department_id: int | None,
    date_from: date,
    date_to: date | None,
    reason: str,
    queued_at: datetime,
) -> dict[str, Any]:
    return {
        "employee_id": employee_id,
        "department_id": department_id,
        "date_from": date_from,
        "date_to": date_to,
        "reason": reason,
        "queued_at": queued_at,
    }


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
    queue.add(conn, [_row(employee_id, department_id, date_from, date_to, reason, utc_stamp())])


def processed_range(conn: Connection) -> tuple[date, date] | None:
    """The first and last work date that has results (None: nothing processed yet)."""
    return results.processed_range(conn)


def enqueue_results(
    conn: Connection,
    *,
    employee_id: int | None = None,
    department_id: int | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    reason: str,
    refuse_closed: bool = True,
) -> None:
    """Like :func:`enqueue` for an edit: only the dates that already have results are
    re-processed (an edit never creates results for dates nobody processed yet); ``None``
    ends reach to the first / last processed date. An edit that reaches a closed pay period
    is refused (:class:`~punchd.processing.closing.PeriodClosed`, the caller's transaction
    rolls back); ``refuse_closed=False`` (rules and settings, which apply site-wide): the
    closed days are left as they are by the drain."""
    done = results.processed_range(conn)
    if done is None:
        return
    lo = done[0] if date_from is None else max(date_from, done[0])
    hi = done[1] if date_to is None else min(date_to, done[1])
    if refuse_closed:
        closing.refuse_closed(
            conn,
            employee_id=employee_id,
            department_id=department_id,
            date_from=lo,
            date_to=hi,
            reason=reason,
        )
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
    can change (:func:`touched_days`, the reach of the rules' windows: a punch after
    midnight can belong to yesterday's night shift). Dates with no results yet are
    included: that is how today's results appear. Returns rows queued."""
    stamp = utc_stamp()
    rows = [
        _row(employee_id, None, d_from, d_to, reason, stamp)
        for employee_id, dates in sorted(touched_days(conn, device, punches).items())
        for d_from, d_to in runs(sorted(dates))
    ]
    queue.add(conn, rows)
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


def _card_owners(entries: Sequence[tuple[datetime, int | None]], at: datetime) -> set[int]:
    """The owners a card's entry at ``at`` concerns: the owner(s) from then on and the one
    just before."""
    owners = {owner for since, owner in entries if since == at}
    before = [owner for since, owner in entries if since < at]
    if before:
        owners.add(before[-1])
    return {o for o in owners if o is not None}


def enqueue_card(conn: Connection, card_no: str, at: datetime, *, reason: str = "card") -> None:
    """The card's entry at ``at`` was added: from then on its punches belong to someone
    else — the owner before and the owner after change, from the dates ``at`` reaches."""
    entries = queue.card_entries(conn, [card_no]).get(card_no, [])
    owners = _card_owners(entries, at)
    first = reached_dates(punch_reach(conn, at, at), at, at)[0]
    for employee_id in sorted(owners):
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
    done = results.processed_range(conn)
    if done is None:
        return
    start: dict[int, date] = {}
    for emp in _by_numbers(conn, [*summary.created, *summary.updated]):
        start[emp.id] = emp.hire_date
    history = queue.card_entries(conn, [*summary.cards_issued, *summary.cards_withdrawn])
    reach = None
    for entries in history.values():
        at = entries[-1][0]
        if reach is None:
            reach = punch_reach(conn, at, at)
        first = reached_dates(reach, at, at)[0]
        for employee_id in _card_owners(entries, at):
            start[employee_id] = min(first, start.get(employee_id, first))
    stamp = utc_stamp()
    queue.add(
        conn,
        [
            _row(employee_id, None, max(d_from, done[0]), done[1], "roster", stamp)
            for employee_id, d_from in sorted(start.items())
            if d_from <= done[1]
        ],
    )


def enqueue_days(conn: Connection, days: Iterable[date], reason: str) -> None:
    """Everyone, on each of these dates (holidays entered from a file): one row per run of
    consecutive dates that have results."""
    for d_from, d_to in runs(sorted(set(days))):
        enqueue_results(conn, date_from=d_from, date_to=d_to, reason=reason)


def enqueue_rules(conn: Connection, changes: int = 1) -> None:
    """Rules or settings changed (``changes`` > 0): every processed day of everyone."""
    if changes:
        enqueue_results(conn, reason="rules", refuse_closed=False)


def enqueue_punch_row(conn: Connection, row: Any, *, reason: str) -> None:
    """An ``att_punch`` row voided or restored: the days of whoever it belongs to (a manual
    punch's employee, or the enrolment number's / card's holder on its device)."""
    if row.employee_id is not None:
        enqueue_times(conn, row.employee_id, row.punched_at, row.punched_at, reason=reason)
        return
    device = queue.device_name(conn, row.device_id)
    if device is None:
        return
    for employee_id, dates in touched_days(conn, device, [(row.enroll_no, row.punched_at)]).items():
        enqueue_results(
            conn, employee_id=employee_id, date_from=min(dates), date_to=max(dates), reason=reason
        )


def enqueue_schedule(conn: Connection, schedule_id: int, *, reason: str = "schedule") -> None:
    """A schedule added or (called before the delete) removed: its target over its dates."""
    target = queue.schedule_target(conn, schedule_id)
    if target is not None:
        employee_id, department_id, date_from, date_to = target
        enqueue_results(
            conn,
            employee_id=employee_id,
            department_id=department_id,
            date_from=date_from,
            date_to=date_to,
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


def enqueue_employee_days(
    conn: Connection, days: dict[int, Iterable[date]], *, reason: str
) -> None:
    """:func:`enqueue_results` for each employee's dates (employee id → dates; a batch of
    temporary schedules): one row per run of consecutive dates that have results, the
    processed range and the closed periods read once, every row in one insert. A date in a
    closed pay period is refused as :func:`enqueue_results` refuses it."""
    done = results.processed_range(conn)
    if done is None:
        return
    spans = [
        (employee_id, max(d_from, done[0]), min(d_to, done[1]))
        for employee_id, dates in sorted(days.items())
        for d_from, d_to in runs(sorted(set(dates)))
    ]
    spans = [s for s in spans if s[1] <= s[2]]
    if not spans:
        return
    if closing.ClosedDays.load(conn, min(s[1] for s in spans), max(s[2] for s in spans)):
        for employee_id, lo, hi in spans:  # the one-by-one check says who and when
            closing.refuse_closed(
                conn, employee_id=employee_id, date_from=lo, date_to=hi, reason=reason
            )
    stamp = utc_stamp()
    queue.add(conn, [_row(eid, None, lo, hi, reason, stamp) for eid, lo, hi in spans])


def _by_numbers(conn: Connection, employee_nos: Sequence[str]) -> list[EmployeeRow]:
    if not employee_nos:
        return []
    return select_employees(conn, employee_nos=employee_nos)


# ------------------------------------------------------------------- what a punch touches


def touched_days(
    conn: Connection, device: str, punches: Sequence[tuple[str, datetime]]
) -> dict[int, set[date]]:
    """Employee id → the work dates that the new ``(enroll_no, punched_at)`` punches of
    ``device`` (its ``att_device.name``) can change.

    A punch at ``t`` can belong to the work date ``d`` exactly when ``t`` lies in
    ``punch_load_range(rules, d, d)`` — the reach of every period's windows (overnight
    periods, check-out windows into the next morning, check-in windows opening the evening
    before) plus ``collapse_minutes`` (an earlier punch can make a later one a duplicate).
    With the default windows and day shifts that is the punch's own date only; a punch
    shortly before midnight also touches the next date, one in the morning after a night
    period the previous date.
    """
    if not punches:
        return {}
    found, user_code = results.device_user_code(conn, device)
    if not found:
        return {}
    if user_code == "card":
        enroll: dict[str, int] = {}
        cards = card_owners(conn)
    else:
        enroll = results.enroll_owners(conn, [enroll_no for enroll_no, _ in punches])
        cards = None
    owned = list(attribute(((None, no, at, user_code) for no, at in punches), enroll, cards))
    if not owned:
        return {}
    times = [at for _, at in owned]
    reach = punch_reach(conn, min(times), max(times))
    out: dict[int, set[date]] = defaultdict(set)
    for employee_id, at in owned:
        out[employee_id].update(reached_dates(reach, at, at))
    return dict(out)


def punch_reach(conn: Connection, first: datetime, last: datetime) -> Reach:
    """The reach of the rules' windows around the times ``first`` … ``last``: see
    :mod:`punchd.processing.reach`. Rules that cannot be read (broken, a year without
    calendar data) give :data:`FALLBACK_REACH`: callers use this inside the transaction of
    a change, which must not fail for it."""
    lo_day, hi_day = first.date() - timedelta(days=3), last.date() + timedelta(days=1)
    try:
        rules = active_rules(conn, lo_day, hi_day)
    except DBAPIError:
        raise
    except Exception:
        return FALLBACK_REACH
    return rules_reach(rules)


# ------------------------------------------------------------------------------ drain


def pending(conn: Connection, limit: int | None = None) -> list[Queued]:
    """The queued rows, oldest first."""
    return queue.pending(conn, limit)


def backlog(conn: Connection) -> int:
    """How many changes wait to be re-processed."""
    return queue.backlog(conn)


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
        rows = queue.pending(conn, batch)
        if not rows:
            return result
        result.more = len(rows) == batch
        covered = expand(conn, rows)
    covered = _leave_closed_days(engine, rows, covered)
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


def _leave_closed_days(
    engine: Engine, rows: Sequence[Queued], covered: dict[int, list[tuple[date, date]]]
) -> dict[int, list[tuple[date, date]]]:
    """``covered`` without the days of closed pay periods, which are never recomputed; the
    closed days that punches collected after the close reach are noted (``att_after_close``)
    for HR and payroll."""
    spans = [s for ss in covered.values() for s in ss]
    if not spans:
        return covered
    lo, hi = min(s[0] for s in spans), max(s[1] for s in spans)
    with engine.connect() as conn:
        if not closing.ClosedDays.load(conn, lo, hi):
            return covered
    with engine.begin() as conn:
        closed = closing.ClosedDays.load(conn, lo, hi)
        departments = closing.employee_departments(conn, covered)
        still_open, _ = closed.split(departments, covered)
        noted: set[tuple[int, date, str, int]] = set()
        for row in rows:
            if row.reason not in ARRIVED_REASONS:
                continue
            open_part, hits = closed.split(departments, expand(conn, [row]))
            for employee_id, (a, b), period in hits:
                d = a
                while d <= b:
                    noted.add((employee_id, d, row.reason, period.version))
                    d += timedelta(days=1)
            # days closed with the department their employee has since left
            for employee_id, spans in open_part.items():
                for a, b in spans:
                    for d, version in periods_store.closed_versions(conn, employee_id, a, b):
                        noted.add((employee_id, d, row.reason, version))
        periods_store.note_after_close(conn, noted, at=utc_stamp())
    return still_open


def forget(engine: Engine, rows: Sequence[Queued]) -> None:
    """Delete these queue rows (the ones a drainer read and covered), in one transaction.

    A row is matched by its id *and* its content: a change queued after another drainer
    deleted the row read here can carry the same id; it must stay."""
    if not rows:
        return
    with engine.begin() as conn:
        queue.delete_rows(conn, rows)


def covered_by(rows: Iterable[Queued], date_from: date, date_to: date) -> list[Queued]:
    """The rows whose dates lie within ``[date_from, date_to]`` (processing that range for
    everyone covers them)."""
    return [r for r in rows if r.date_from >= date_from and r.date_to <= date_to]


def stale_days(conn: Connection, date_from: date, date_to: date) -> set[tuple[int, date]]:
    """(employee id, work date) in ``[date_from, date_to]`` whose inputs changed after they
    were processed: covered by a queued row."""
    rows = queue.overlapping(conn, date_from, date_to)
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
    return results.employee_numbers(conn, ids)


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
