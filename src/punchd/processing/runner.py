"""The imperative shell around the processing engine: database in, engine, database out.

``process`` reads the employees, the rules (``rules_load.load_rules``) and the punches of a
range of work dates, runs the pure engine (:func:`punchd.processing.process_range`) and
replaces the ``att_day`` / ``att_exception`` rows of exactly those employees and dates.

* **Punch → employee** is decided here, at processing time, and never stored: a manual
  punch (``att_punch.employee_id`` set) belongs to that employee; a punch of a device whose
  ``att_device.user_code`` is ``"card"`` belongs to whoever held that card at the punch time
  (``att_card``, via ``hr.card_owner_index``); every other punch belongs to the employee
  whose ``att_employee.enroll_no`` equals ``att_punch.enroll_no``. Voided punches and
  punches flagged implausible (``att_punch.flag``) are ignored. Punches nobody owns (yet)
  stay in ``att_punch`` untouched and count as soon as the roster has their person and the
  dates are processed again.
* **Atomic replace**: the old rows of the processed employees and dates are deleted and the
  new ones inserted in *one* transaction, so a reader sees either the previous result or the
  new one, never half of a recomputation. A concurrent run over the same employee-days
  makes one of the two transactions fail on ``uq_att_day_employee_id_work_date`` (or a
  deadlock); it is retried, and the last one to commit wins. Processing is idempotent.
* **Performance**: a handful of bulk SELECTs per run (no per-employee queries, no ORM), the
  engine over all employees at once, executemany INSERTs.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache
from operator import itemgetter
from typing import Any

from sqlalchemy import Date, DateTime, Table, and_, delete, false, insert, or_, select
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError

from punchd import logs
from punchd.clock import local_now, utc_stamp, zone
from punchd.errors import PunchdError
from punchd.processing import Employee, Rules, process_range, punch_load_range
from punchd.rules.active import load_rules
from punchd.storage import audit
from punchd.storage.schema import (
    att_card,
    att_day,
    att_department,
    att_device,
    att_employee,
    att_exception,
)
from punchd.storage.schema import att_punch as P

#: ``progress(employees_done, employees_total)``, called after each chunk of employees.
ProgressCallback = Callable[[int, int], None]

#: Employees per progress report.
PROGRESS_CHUNK = 100
#: Above this many employees (or codes), punches are selected for everybody and filtered in
#: Python instead of with IN lists (cheaper, and clear of bind-parameter limits).
SUBSET_FILTER_LIMIT = 1000
#: Bind parameters per IN list / per executemany batch.
CHUNK = 900
INSERT_BATCH = 5000
#: Attempts at the write transaction when a concurrent run got in between.
WRITE_ATTEMPTS = 3

DETAIL_MAX = 255


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


@dataclass(frozen=True, slots=True)
class EmployeeRow:
    id: int
    employee_no: str
    enroll_no: str | None
    department_id: int
    hire_date: date
    separation_date: date | None

    def employed_between(self, d_from: date, d_to: date) -> bool:
        return self.hire_date <= d_to and (
            self.separation_date is None or self.separation_date >= d_from
        )

    def engine_employee(self) -> Employee:
        return Employee(self.id, self.department_id, self.hire_date, self.separation_date)


# ------------------------------------------------------------------------- employees


_EMPLOYEE_COLUMNS = (
    att_employee.c.id,
    att_employee.c.employee_no,
    att_employee.c.enroll_no,
    att_employee.c.department_id,
    att_employee.c.hire_date,
    att_employee.c.separation_date,
)


def department_id(conn: Connection, code: str) -> int:
    """``att_department.id`` of ``code``; ProcessError if there is none."""
    found = conn.execute(
        select(att_department.c.id).where(att_department.c.code == code)
    ).scalar_one_or_none()
    if found is None:
        raise ProcessError(f"unknown department {code!r}")
    return found


def select_employees(
    conn: Connection,
    *,
    employee_nos: Sequence[str] | None = None,
    department: str | None = None,
    ids: Iterable[int] | None = None,
) -> list[EmployeeRow]:
    """Employees matching every given filter (None: no filter), ordered by id.

    Unknown employee numbers or an unknown department code raise ProcessError.
    """
    stmt = select(*_EMPLOYEE_COLUMNS).order_by(att_employee.c.id)
    if department is not None:
        stmt = stmt.where(att_employee.c.department_id == department_id(conn, department))
    rows: list[EmployeeRow] = []
    if employee_nos is not None:
        wanted = list(dict.fromkeys(employee_nos))
        found_nos: set[str] = set()
        for chunk in _chunks(wanted, CHUNK):
            found_nos.update(
                conn.execute(
                    select(att_employee.c.employee_no).where(att_employee.c.employee_no.in_(chunk))
                ).scalars()
            )
        unknown = [no for no in wanted if no not in found_nos]
        if unknown:
            raise ProcessError(f"unknown employee number(s): {', '.join(unknown)}")
        for chunk in _chunks(wanted, CHUNK):
            rows.extend(
                EmployeeRow(*r)
                for r in conn.execute(stmt.where(att_employee.c.employee_no.in_(chunk)))
            )
    elif ids is not None:
        for chunk in _chunks(sorted(set(ids)), CHUNK):
            rows.extend(
                EmployeeRow(*r) for r in conn.execute(stmt.where(att_employee.c.id.in_(chunk)))
            )
    else:
        rows = [EmployeeRow(*r) for r in conn.execute(stmt)]
    rows.sort(key=lambda e: e.id)
    return rows


# --------------------------------------------------------------------------- punches


def _card_index(conn: Connection) -> Any:
    from punchd.hr.service import card_owner_index

    return card_owner_index(conn)


def _device_punch_stmt(start: datetime, end: datetime):
    """The punches (not voided, not flagged implausible) in ``[start, end)`` with what
    mapping them needs."""
    return (
        select(P.c.employee_id, P.c.enroll_no, P.c.punched_at, att_device.c.user_code)
        .select_from(P.outerjoin(att_device, att_device.c.id == P.c.device_id))
        .where(P.c.punched_at >= start, P.c.punched_at < end, P.c.void == false())
        .where(P.c.flag.is_(None))
    )


def load_punches(
    conn: Connection,
    start: datetime,
    end: datetime,
    employees: Sequence[EmployeeRow] | None = None,
) -> tuple[dict[int, list[datetime]], int]:
    """The punches in ``[start, end)`` by employee id, and how many were loaded.

    ``employees``: only theirs (None: everybody's). Mapping as described in the module
    docstring; punches of unknown people are left out.
    """
    subset = employees is not None
    stmt = _device_punch_stmt(start, end)
    if subset:
        ids = [e.id for e in employees]
        if not ids:
            return {}, 0
        enroll = {e.enroll_no: e.id for e in employees if e.enroll_no is not None}
        wanted: set[int] | None = set(ids)
    else:
        enroll = {
            no: eid
            for eid, no in conn.execute(
                select(att_employee.c.id, att_employee.c.enroll_no).where(
                    att_employee.c.enroll_no.is_not(None)
                )
            )
        }
        wanted = None
    has_cards = conn.execute(select(att_card.c.id).limit(1)).first() is not None
    cards = _card_index(conn) if has_cards else None

    if subset:
        codes = set(enroll)
        if cards is not None:
            for chunk in _chunks(ids, CHUNK):
                codes.update(
                    conn.execute(
                        select(att_card.c.card_no).where(att_card.c.employee_id.in_(chunk))
                    ).scalars()
                )
        if len(ids) <= SUBSET_FILTER_LIMIT and len(codes) <= SUBSET_FILTER_LIMIT:
            stmt = stmt.where(
                or_(
                    P.c.employee_id.in_(ids),
                    and_(P.c.employee_id.is_(None), P.c.enroll_no.in_(sorted(codes)))
                    if codes
                    else false(),
                )
            )
    out: dict[int, list[datetime]] = defaultdict(list)
    loaded = 0
    for employee_id, enroll_no, at, user_code in conn.execute(stmt):
        if employee_id is None:
            if user_code == "card":
                employee_id = cards.owner(enroll_no, at) if cards is not None else None
            else:
                employee_id = enroll.get(enroll_no)
            if employee_id is None:
                continue
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
            employees = select_employees(conn)
            scope: list[int] | None = None
        else:
            employees = select_employees(conn, employee_nos=employee_nos, department=department)
            scope = [e.id for e in employees]
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
        employees = select_employees(conn, ids=employee_ids)
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
        rules = load_rules(conn, date_from, date_to)
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
                replace_results(conn, scope, date_from, date_to, days, exceptions)
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
        [e.engine_employee() for e in employees], punches, rules, date_from, date_to, now=now
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
            if len(row["detail"]) > DETAIL_MAX:
                row["detail"] = row["detail"][: DETAIL_MAX - 1] + "…"
            append_exception(row)
    if progress is not None:
        progress(total, total)
    return days, exceptions


def replace_results(
    conn: Connection,
    scope: Sequence[int] | None,
    date_from: date,
    date_to: date,
    days: list[dict[str, Any]],
    exceptions: list[dict[str, Any]],
) -> None:
    """In the caller's transaction: delete the att_day / att_exception rows of ``scope``
    (None: everybody) in ``[date_from, date_to]``, insert ``days`` and ``exceptions``."""
    for table in (att_exception, att_day):
        in_range = and_(table.c.work_date >= date_from, table.c.work_date <= date_to)
        if scope is None:
            conn.execute(delete(table).where(in_range))
        else:
            for chunk in _chunks(sorted(scope), CHUNK):
                conn.execute(delete(table).where(in_range, table.c.employee_id.in_(chunk)))
    insert_rows(conn, att_day, days)
    insert_rows(conn, att_exception, exceptions)


def insert_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """executemany INSERT of ``rows`` (dicts with the same keys) in batches.

    On SQLite the parameters are rendered here (dates and datetimes exactly as SQLAlchemy's
    types store them, checked once) and passed straight to sqlite3's executemany: SQLAlchemy's
    per-value processing would cost about four times SQLite's own work.
    """
    if not rows:
        return
    keys = list(rows[0])
    stmt = insert(table)
    render = _sqlite_renderers(conn.dialect, table, tuple(keys))
    if render is None:
        for chunk in _chunks(rows, INSERT_BATCH):
            conn.execute(stmt, list(chunk))
        return
    sql, converters = render
    get = itemgetter(*keys)
    for chunk in _chunks(rows, INSERT_BATCH):
        params = [get(r) for r in chunk]
        if converters:
            converted = []
            for p in params:
                values = list(p)
                for i, convert in converters:
                    if values[i] is not None:
                        values[i] = convert(values[i])
                converted.append(tuple(values))
            params = converted
        conn.exec_driver_sql(sql, params)


def _sqlite_date(value: date) -> str:
    return value.isoformat()


def _sqlite_datetime(value: datetime) -> str:
    text = value.isoformat(" ")
    return text if value.microsecond else text + ".000000"


@cache
def _sqlite_renderers(
    dialect: Dialect, table: Table, keys: tuple[str, ...]
) -> tuple[str, list[tuple[int, Callable[[Any], Any]]]] | None:
    """(INSERT text, [(position, converter)]) for the SQLite fast path; None: not usable."""
    if dialect.name != "sqlite" or not dialect.positional:
        return None
    compiled = insert(table).compile(dialect=dialect, column_keys=list(keys))
    if list(compiled.positiontup or ()) != list(keys):
        return None
    converters: list[tuple[int, Callable[[Any], Any]]] = []
    samples = ((Date, date(2001, 2, 3), _sqlite_date),)
    samples += ((DateTime, datetime(2001, 2, 3, 4, 5, 6), _sqlite_datetime),)
    samples += ((DateTime, datetime(2001, 2, 3, 4, 5, 6, 7), _sqlite_datetime),)
    for i, key in enumerate(keys):
        column_type = table.c[key].type
        process = column_type.dialect_impl(dialect).bind_processor(dialect)
        for kind, sample, convert in samples:
            if isinstance(column_type, kind):
                if process is None or process(sample) != convert(sample):
                    return None
                if not converters or converters[-1][0] != i:
                    converters.append((i, convert))
        if process is not None and not isinstance(column_type, Date | DateTime):
            return None  # a type we do not render ourselves
    return compiled.string, converters


def _concurrent_conflict(exc: DBAPIError) -> bool:
    if isinstance(exc, IntegrityError):
        return True
    text = str(exc.orig).lower() if exc.orig is not None else ""
    return "deadlock" in text or "could not serialize" in text


# ------------------------------------------------------------------------ reprocessing


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
    row = conn.execute(
        select(att_device.c.id, att_device.c.user_code).where(att_device.c.name == device)
    ).first()
    if row is None:
        return {}
    owner: dict[tuple[str, datetime], int] = {}
    if row.user_code == "card":
        cards = _card_index(conn)
        for enroll_no, at in punches:
            found = cards.owner(enroll_no, at)
            if found is not None:
                owner[(enroll_no, at)] = found
    else:
        nos = sorted({enroll_no for enroll_no, _ in punches})
        by_no: dict[str, int] = {}
        for chunk in _chunks(nos, CHUNK):
            by_no.update(
                (no, eid)
                for no, eid in conn.execute(
                    select(att_employee.c.enroll_no, att_employee.c.id).where(
                        att_employee.c.enroll_no.in_(chunk)
                    )
                )
            )
        for enroll_no, at in punches:
            if enroll_no in by_no:
                owner[(enroll_no, at)] = by_no[enroll_no]
    if not owner:
        return {}
    times = [at for _, at in owner]
    reach = punch_reach(conn, min(times), max(times))
    out: dict[int, set[date]] = defaultdict(set)
    for (_, at), employee_id in owner.items():
        out[employee_id].update(reached_dates(reach, at, at))
    return dict(out)


#: (before, after): a work date ``d`` can use the punches in ``[d − before, d + after)``.
Reach = tuple[timedelta, timedelta]
#: The reach assumed when the rules cannot be read: wider than any period the rules allow
#: (a check-in window opening the evening before, an overnight period plus its check-out
#: window ending up to 2.5 days after midnight).
FALLBACK_REACH: Reach = (timedelta(days=1), timedelta(days=3))


def punch_reach(conn: Connection, first: datetime, last: datetime) -> Reach:
    """The reach of the rules' windows around the times ``first`` … ``last``: see
    :func:`punchd.processing.punch_load_range`. Rules that cannot be read (broken, a year
    without calendar data) give :data:`FALLBACK_REACH`: callers use this inside the
    transaction of a change, which must not fail for it."""
    lo_day, hi_day = first.date() - timedelta(days=3), last.date() + timedelta(days=1)
    try:
        rules = load_rules(conn, lo_day, hi_day)
    except DBAPIError:
        raise
    except Exception:
        return FALLBACK_REACH
    ref = date(2000, 1, 3)
    start, end = punch_load_range(rules, ref, ref)
    midnight = datetime.combine(ref, datetime.min.time())
    return midnight - start, end - midnight


def reached_dates(reach: Reach, start: datetime, end: datetime) -> list[date]:
    """The work dates whose punch range meets the times ``[start, end]``: ``d`` qualifies
    when ``d − before ≤ t < d + after`` for some ``t`` in it."""
    before, after = reach
    out = []
    d = (start - after).date()
    last = (end + before).date()
    while d <= last:
        base = datetime.combine(d, datetime.min.time())
        if base - before <= end and start < base + after:
            out.append(d)
        d += timedelta(days=1)
    return out


def _runs(dates: Sequence[date]) -> Iterable[tuple[date, date]]:
    """Sorted dates → (first, last) of each run of consecutive dates."""
    first = prev = None
    for d in dates:
        if prev is not None and d == prev + timedelta(days=1):
            prev = d
            continue
        if first is not None:
            yield first, prev
        first = prev = d
    if first is not None:
        yield first, prev


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
