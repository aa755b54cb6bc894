"""The imperative shell around the processing engine: storage in, engine, storage out.

``process`` reads the employees, the rules (``inputs.active_rules``) and the punches of
a range of work dates, runs the pure engine (:func:`punchd.processing.process_range`) and
replaces the ``att_day`` / ``att_exception`` rows of exactly those employees and dates.

* **Punch → employee** is decided at processing time and never stored:
  :func:`punchd.processing.attribution.attribute`. Voided punches and punches flagged
  implausible (``att_punch.flag`` power_loss, future) are ignored; a leaver's punch
  (``after_leaving``) counts only inside the separation day's own window.
* **Atomic replace**: the old rows of the processed employees and dates are deleted and the
  new ones inserted in *one* transaction, so a reader sees either the previous result or the
  new one, never half of a recomputation. A concurrent run over the same employee-days
  makes one of the two transactions fail on ``uq_att_day_employee_id_work_date`` (or a
  deadlock); it is retried, and the last one to commit wins. Processing is idempotent.
* **Performance**: a handful of bulk SELECTs per run (no per-employee queries, no ORM), the
  engine over all employees at once, bulk INSERTs (``storage._bulk``).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError

from punchd import logs
from punchd.clock import local_now, utc_stamp, zone
from punchd.errors import PunchdError
from punchd.processing import Employee, Rules, closing, process_range, punch_load_range
from punchd.processing.attribution import CardOwners, attribute
from punchd.processing.inputs import active_rules
from punchd.storage import audit
from punchd.storage import periods as periods_store
from punchd.storage import results as store
from punchd.storage.hr import card_owner_index
from punchd.storage.results import EmployeeRow, UnknownSelection

#: ``progress(employees_done, employees_total)``, called after each chunk of employees.
ProgressCallback = Callable[[int, int], None]

#: Employees per progress report.
PROGRESS_CHUNK = 100
#: Above this many employees (or codes), punches are selected for everybody and filtered in
#: Python instead of with IN lists (cheaper, and clear of bind-parameter limits).
SUBSET_FILTER_LIMIT = 1000
#: Attempts at the write transaction when a concurrent run got in between.
WRITE_ATTEMPTS = 3

DETAIL_MAX = 255
LEAVE_KIND_MAX = 32


class ProcessError(PunchdError, ValueError):
    """The request cannot be processed (unknown employee or department, bad range)."""


@dataclass
class ProcessSummary:
    """What one run did (also the ``att_audit`` detail)."""

    date_from: date
    date_to: date
    employees: int = 0
    employee_days: int = 0
    exceptions: int = 0
    punches: int = 0
    seconds: float = 0.0
    trigger: str = "manual"
    filters: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        return (
            f"processed {self.date_from.isoformat()} … {self.date_to.isoformat()}: "
            f"{self.employees} employees, {self.employee_days} employee-days, "
            f"{self.exceptions} exceptions in {self.seconds:.1f} s"
        )

    def audit_detail(self) -> dict[str, Any]:
        return {
            "date_from": self.date_from,
            "date_to": self.date_to,
            "employees": self.employees,
            "employee_days": self.employee_days,
            "exceptions": self.exceptions,
            "punches": self.punches,
            "trigger": self.trigger,
            **self.filters,
        }


# ------------------------------------------------------------------------- employees


def engine_employee(e: EmployeeRow) -> Employee:
    """The engine's view of an employee."""
    return Employee(e.id, e.department_id, e.hire_date, e.separation_date)


# --------------------------------------------------------------------------- punches


def card_owners(conn: Connection) -> CardOwners:
    """Every card's history (:func:`punchd.storage.hr.card_owner_index`)."""
    return card_owner_index(conn)


def load_punches(
    conn: Connection,
    start: datetime,
    end: datetime,
    employees: Sequence[EmployeeRow] | None = None,
) -> tuple[dict[int, list[datetime]], int]:
    """The punches in ``[start, end)`` by employee id, and how many were loaded.

    ``employees``: only theirs (None: everybody's). Punches of unknown people are left out
    (:mod:`punchd.processing.attribution`).
    """
    wanted: set[int] | None = None
    ids: list[int] | None = None
    codes: set[str] | None = None
    if employees is not None:
        ids = [e.id for e in employees]
        if not ids:
            return {}, 0
        enroll = {e.enroll_no: e.id for e in employees if e.enroll_no is not None}
        wanted = set(ids)
    else:
        enroll = store.enroll_owners(conn)
    cards = card_owners(conn) if store.any_cards(conn) else None
    if ids is not None:
        codes = set(enroll)
        if cards is not None:
            codes |= store.card_numbers(conn, ids)
        if len(ids) > SUBSET_FILTER_LIMIT or len(codes) > SUBSET_FILTER_LIMIT:
            ids = codes = None  # everybody's, filtered below
    rows = store.punch_rows(
        conn, start, end, employee_ids=ids, codes=None if codes is None else sorted(codes)
    )
    out: dict[int, list[datetime]] = defaultdict(list)
    loaded = 0
    for employee_id, at in attribute(rows, enroll, cards):
        if wanted is not None and employee_id not in wanted:
            continue
        out[employee_id].append(at)
        loaded += 1
    return out, loaded


# ----------------------------------------------------------------------------- process


def process(
    engine: Engine,
    date_from: date,
    date_to: date,
    *,
    employee_nos: Sequence[str] | None = None,
    department: str | None = None,
    now: datetime | None = None,
    timezone: str | None = None,
    actor: str,
    progress: ProgressCallback | None = None,
    trigger: str = "manual",
) -> ProcessSummary:
    """Process work dates ``[date_from, date_to]`` of everybody, of ``employee_nos`` and/or
    of the employees of department ``department`` (a code).

    ``now``: the site's local wall-clock time (default: now in ``timezone``, an IANA name;
    None: the host's zone), so that periods whose check-out window is still open come out
    ``incomplete`` rather than absent. Writes one ``att_audit`` row (``action="process"``).

    A person's run (``trigger="manual"``) over days of a closed pay period is refused
    (:class:`~punchd.processing.closing.PeriodClosed`); other runs (the daemon's day close,
    re-processing) leave closed days as they are.
    """
    if date_to < date_from:
        raise ProcessError(f"--to {date_to} is before --from {date_from}")
    filters: dict[str, Any] = {}
    if employee_nos is not None:
        filters["employee_nos"] = list(employee_nos)
    if department is not None:
        filters["department"] = department
    with engine.connect() as conn:
        if employee_nos is None and department is None:
            employees = store.select_employees(conn)
            scope: list[int] | None = None
        else:
            try:
                employees = store.select_employees(
                    conn, employee_nos=employee_nos, department=department
                )
            except UnknownSelection as exc:
                raise ProcessError(str(exc)) from None
            scope = [e.id for e in employees]
        if trigger == "manual":
            _refuse_closed(conn, employees, scope, date_from, date_to)
    return _run(
        engine,
        employees,
        scope,
        date_from,
        date_to,
        now=now if now is not None else local_now(zone(timezone)),
        actor=actor,
        progress=progress,
        trigger=trigger,
        filters=filters,
    )


def _refuse_closed(
    conn: Connection,
    employees: Sequence[EmployeeRow],
    scope: Sequence[int] | None,
    date_from: date,
    date_to: date,
) -> None:
    """A person's run over days of a closed pay period is refused."""
    if scope is None:
        closing.refuse_closed(conn, date_from=date_from, date_to=date_to, reason="process")
    else:
        active = (e for e in employees if e.employed_between(date_from, date_to))
        closing.refuse_employees(conn, active, date_from, date_to, reason="process")


def process_employees(
    engine: Engine,
    employee_ids: Iterable[int],
    date_from: date,
    date_to: date,
    *,
    now: datetime,
    actor: str,
    trigger: str = "reprocess",
) -> ProcessSummary:
    """Process ``[date_from, date_to]`` of the employees with these ``att_employee.id``s."""
    with engine.connect() as conn:
        employees = store.select_employees(conn, ids=employee_ids)
    return _run(
        engine,
        employees,
        [e.id for e in employees],
        date_from,
        date_to,
        now=now,
        actor=actor,
        progress=None,
        trigger=trigger,
        filters={"employee_ids": sorted(e.id for e in employees)},
    )


def _run(
    engine: Engine,
    employees: list[EmployeeRow],
    scope: list[int] | None,
    date_from: date,
    date_to: date,
    *,
    now: datetime,
    actor: str,
    progress: ProgressCallback | None,
    trigger: str,
    filters: dict[str, Any],
) -> ProcessSummary:
    """Compute and replace. ``scope``: ids whose rows in the range are replaced (None: every
    row in the range, whoever it belongs to)."""
    started = time.perf_counter()
    summary = ProcessSummary(date_from, date_to, trigger=trigger, filters=filters)
    active = [e for e in employees if e.employed_between(date_from, date_to)]
    with engine.connect() as conn:
        rules = active_rules(conn, date_from, date_to)
        start, end = punch_load_range(rules, date_from, date_to)
        punches, summary.punches = load_punches(conn, start, end, None if scope is None else active)
    days, exceptions = compute(active, punches, rules, date_from, date_to, now, progress)
    summary.employees = len(active)
    summary.employee_days = len(days)
    summary.exceptions = len(exceptions)
    processed_at = utc_stamp()
    for row in days:
        row["processed_at"] = processed_at
    for attempt in range(1, WRITE_ATTEMPTS + 1):
        try:
            with engine.begin() as conn:
                # closed pay periods are never recomputed (a close may have committed while
                # this run computed): their rows stay, the new ones for them are dropped
                closed = (
                    periods_store.closed_day_keys(conn, date_from, date_to, scope)
                    if closing.ClosedDays.load(conn, date_from, date_to)
                    else set()
                )
                if closed:
                    days = [r for r in days if (r["employee_id"], r["work_date"]) not in closed]
                    exceptions = [
                        r for r in exceptions if (r["employee_id"], r["work_date"]) not in closed
                    ]
                    summary.employee_days = len(days)
                    summary.exceptions = len(exceptions)
                store.replace_results(
                    conn, scope, date_from, date_to, days, exceptions, keep_closed=bool(closed)
                )
                summary.seconds = time.perf_counter() - started
                audit.record(
                    conn,
                    actor,
                    "process",
                    "att_day",
                    f"{date_from.isoformat()}..{date_to.isoformat()}",
                    summary.audit_detail(),
                )
            break
        except DBAPIError as exc:
            if attempt == WRITE_ATTEMPTS or not _concurrent_conflict(exc):
                raise
            logs.get_logger(component="process").warning(
                "processing collided with a concurrent run; retrying", attempt=attempt
            )
    summary.seconds = time.perf_counter() - started
    return summary


def compute(
    employees: Sequence[EmployeeRow],
    punches: Mapping[int, Sequence[datetime]],
    rules: Rules,
    date_from: date,
    date_to: date,
    now: datetime | None,
    progress: ProgressCallback | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Run the engine: (att_day rows without processed_at, att_exception rows)."""
    days: list[dict[str, Any]] = []
    exceptions: list[dict[str, Any]] = []
    total = len(employees)
    done, current = 0, None
    append_day, append_exception = days.append, exceptions.append
    results = process_range(
        [engine_employee(e) for e in employees], punches, rules, date_from, date_to, now=now
    )
    for result in results:
        if result.employee_id != current:
            current = result.employee_id
            done += 1
            if progress is not None and done % PROGRESS_CHUNK == 0:
                progress(done - 1, total)
        append_day(result.as_row())
        for finding in result.findings:
            row = finding.as_row()
            # the leave type as a column (a leave finding's detail names it)
            row["leave_kind"] = row["detail"][:LEAVE_KIND_MAX] if row["kind"] == "leave" else None
            if len(row["detail"]) > DETAIL_MAX:
                row["detail"] = row["detail"][: DETAIL_MAX - 1] + "…"
            append_exception(row)
    if progress is not None:
        progress(total, total)
    return days, exceptions


def _concurrent_conflict(exc: DBAPIError) -> bool:
    if isinstance(exc, IntegrityError):
        return True
    text = str(exc.orig).lower() if exc.orig is not None else ""
    return "deadlock" in text or "could not serialize" in text
