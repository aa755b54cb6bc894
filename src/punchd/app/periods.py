"""Pay periods: close a month so payroll reads final numbers, reopen it (audited), list and
show periods, what arrived after a close, the payroll database role and the payroll export.

A close refuses while anything in the month is still open — days without results,
``incomplete`` days, changes waiting to be re-processed, findings of the kinds the site
marks as blocking (``[periods] blocking``) — unless forced with a reason. Closed days are
never recomputed (:mod:`punchd.processing.closing`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from punchd.app.attendance import refresh
from punchd.app.collection import after_close_notice
from punchd.app.site import Actor, Site
from punchd.clock import utc_stamp
from punchd.errors import InvalidInput, PunchdError
from punchd.processing import requeue
from punchd.processing.closing import PeriodClosed, month_bounds
from punchd.reports import payroll as payroll_file
from punchd.storage import audit
from punchd.storage import periods as store
from punchd.storage.periods import AfterCloseRow, PeriodRow
from punchd.storage.results import EmployeeRow, UnknownSelection, select_employees

__all__ = [
    "AfterCloseRow",
    "Closed",
    "Exported",
    "Granted",
    "OpenItems",
    "PeriodClosed",
    "PeriodError",
    "PeriodOpen",
    "PeriodRow",
    "PeriodView",
    "Reopened",
    "after_close_notice",
    "close_period",
    "export_payroll",
    "grant_payroll",
    "list_periods",
    "open_items",
    "reopen_period",
    "show_period",
]

MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")
#: Items of each kind named in a refusal (the rest are counted).
SHOWN = 5


class PeriodError(PunchdError):
    """A close, reopen or export cannot go ahead as asked."""


class PeriodOpen(PeriodError):
    """The month still has open items; ``items`` says which."""

    def __init__(self, message: str, items: OpenItems) -> None:
        super().__init__(message)
        self.items = items


@dataclass
class OpenItems:
    """What keeps a month from closing."""

    unprocessed: list[tuple[str, date]] = field(default_factory=list)  # no result yet
    incomplete: list[tuple[str, date]] = field(default_factory=list)
    stale: list[tuple[str, date]] = field(default_factory=list)  # changes not re-processed
    blocking: list[tuple[str, date, str, str]] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.unprocessed) + len(self.incomplete) + len(self.stale) + len(self.blocking)

    def lines(self) -> list[str]:
        """One line per kind of open item, with the first few."""
        out = []

        def days(items: list[tuple[str, date]]) -> str:
            shown = ", ".join(f"{no} {d.isoformat()}" for no, d in items[:SHOWN])
            more = f" and {len(items) - SHOWN} more" if len(items) > SHOWN else ""
            return shown + more

        if self.unprocessed:
            out.append(
                f"{len(self.unprocessed)} employee-days not processed: {days(self.unprocessed)}"
            )
        if self.incomplete:
            out.append(f"{len(self.incomplete)} days incomplete: {days(self.incomplete)}")
        if self.stale:
            out.append(
                f"{len(self.stale)} employee-days with changes waiting to be "
                f"re-processed: {days(self.stale)}"
            )
        if self.blocking:
            shown = ", ".join(f"{no} {d.isoformat()} {k}" for no, d, k, _ in self.blocking[:SHOWN])
            more = f" and {len(self.blocking) - SHOWN} more" if len(self.blocking) > SHOWN else ""
            out.append(f"{len(self.blocking)} unresolved findings of blocking kinds: {shown}{more}")
        return out


@dataclass(frozen=True)
class Closed:
    month: str
    version: int
    departments: list[str]  # empty: everyone
    days: int  # att_day rows now closed
    open_items: int
    forced: bool


@dataclass(frozen=True)
class Reopened:
    month: str
    versions: list[int]
    departments: list[str]  # empty: everyone
    days: int


@dataclass(frozen=True)
class PeriodView:
    month: str
    periods: list[PeriodRow]
    state: str  # "closed", "partly closed" or "open"
    after_close: list[AfterCloseRow]


@dataclass(frozen=True)
class Granted:
    role: str
    action: str  # "created", "updated", or "explained" (SQLite)
    views: tuple[str, ...]
    explanation: str = ""


@dataclass(frozen=True)
class Exported:
    path: Path
    manifest: Path
    sha256: str
    employees: int
    version: int


def parse_month(text: str) -> str:
    """``YYYY-MM`` as given, or InvalidInput."""
    if not MONTH.fullmatch(text.strip()):
        raise InvalidInput(f"month {text!r}: expected YYYY-MM, e.g. 2026-11")
    return text.strip()


def _departments(conn: Connection, codes: list[str] | None) -> dict[str, int] | None:
    if not codes:
        return None
    out: dict[str, int] = {}
    for code in dict.fromkeys(codes):
        found = store.department_id_of(conn, code)
        if found is None:
            raise PeriodError(f"unknown department {code!r}")
        out[code] = found
    return out


def _employees(
    conn: Connection, departments: dict[str, int] | None, first: date, last: date
) -> list[EmployeeRow]:
    try:
        everyone = select_employees(conn)
    except UnknownSelection as exc:
        raise PeriodError(str(exc)) from None
    wanted = None if departments is None else set(departments.values())
    return [
        e
        for e in everyone
        if e.employed_between(first, last) and (wanted is None or e.department_id in wanted)
    ]


def _open_items(
    site: Site, conn: Connection, employees: list[EmployeeRow], first: date, last: date
) -> OpenItems:
    ids = [e.id for e in employees]
    numbers = {e.id: e.employee_no for e in employees}
    items = OpenItems()
    counts = store.day_counts(conn, first, last, ids)
    for e in employees:
        lo, hi = max(first, e.hire_date), min(last, e.separation_date or last)
        expected = (hi - lo).days + 1
        if counts.get(e.id, 0) < expected:
            have = store.day_dates(conn, e.id, lo, hi)
            d = lo
            while d <= hi:
                if d not in have:
                    items.unprocessed.append((e.employee_no, d))
                d += timedelta(days=1)
    items.incomplete = store.incomplete_days(conn, first, last, ids)
    items.stale = sorted(
        (numbers[eid], d) for eid, d in requeue.stale_days(conn, first, last) if eid in numbers
    )
    items.blocking = store.findings_of_kinds(
        conn, first, last, list(site.settings.periods.blocking), ids
    )
    return items


def open_items(site: Site, month: str, *, departments: list[str] | None = None) -> OpenItems:
    """What would keep ``month`` from closing (for everyone, or ``departments``)."""
    month = parse_month(month)
    first, last = month_bounds(month)
    with site.engine.connect() as conn:
        depts = _departments(conn, departments)
        return _open_items(site, conn, _employees(conn, depts, first, last), first, last)


def close_period(
    site: Site,
    month: str,
    *,
    departments: list[str] | None = None,
    force: bool = False,
    reason: str | None = None,
    actor: Actor,
) -> Closed:
    """Close ``month`` for everyone or for ``departments`` (codes): its days become final
    (``period_state`` closed, the next close version). Refused (:class:`PeriodOpen`) while
    anything is open, unless ``force`` with a ``reason``."""
    month = parse_month(month)
    reason = (reason or "").strip() or None
    if force and reason is None:
        raise InvalidInput("--force needs --reason: why the month is closed with open items")
    refresh(site, actor)  # what can be re-processed now is not an open item
    first, last = month_bounds(month)
    try:
        return _close(site, month, first, last, departments, force, reason, actor)
    except IntegrityError:  # the same month closed at the same moment by another request
        raise PeriodError(
            f"{month} was closed by someone else at the same moment; look at it again"
        ) from None


def _close(
    site: Site,
    month: str,
    first: date,
    last: date,
    departments: list[str] | None,
    force: bool,
    reason: str | None,
    actor: Actor,
) -> Closed:
    with site.transaction() as conn:
        depts = _departments(conn, departments)
        for p in store.periods(conn, months=[month], state="closed"):
            if p.department_id is None or depts is None or p.department_id in depts.values():
                who = "everyone" if p.department_code is None else p.department_code
                raise PeriodError(
                    f"{month} is already closed for {who} (version {p.version}); "
                    f"reopen it first to close it again"
                )
        items = _open_items(site, conn, _employees(conn, depts, first, last), first, last)
        if items.count and not force:
            raise PeriodOpen(
                f"{month} cannot be closed: {items.count} open items; resolve them (process, "
                "fix the punches) or close with --force --reason …\n  "
                + "\n  ".join(items.lines()),
                items,
            )
        version = store.last_version(conn, month) + 1
        at = utc_stamp()
        for dept_id in [None] if depts is None else list(depts.values()):
            store.add_close(
                conn,
                month=month,
                department_id=dept_id,
                version=version,
                at=at,
                by=actor.name,
                forced=bool(items.count),
                reason=reason,
                open_items=items.count,
            )
        ids = None if depts is None else list(depts.values())
        days = store.set_day_state(conn, first, last, ids, state="closed", version=version)
        audit.record(
            conn,
            actor.name,
            "close",
            "pay_period",
            month,
            {
                "version": version,
                "departments": sorted(depts or []),
                "days": days,
                "open_items": items.count,
                "forced": bool(items.count),
                "reason": reason,
            },
        )
    return Closed(month, version, sorted(depts or []), days, items.count, bool(items.count))


def reopen_period(
    site: Site,
    month: str,
    *,
    departments: list[str] | None = None,
    reason: str,
    actor: Actor,
) -> Reopened:
    """Reopen ``month`` (for everyone, or ``departments`` closed on their own): its days are
    open again and queued for re-processing; the next close is a new version. Audited."""
    month = parse_month(month)
    reason = reason.strip()
    if not reason:
        raise InvalidInput("a reopen needs --reason: why the closed month changes")
    first, last = month_bounds(month)
    with site.transaction() as conn:
        depts = _departments(conn, departments)
        closed = store.periods(conn, months=[month], state="closed")
        if depts is not None:
            if any(p.department_id is None for p in closed):
                raise PeriodError(
                    f"{month} is closed for everyone: reopen it for everyone (no --department)"
                )
            closed = [p for p in closed if p.department_id in depts.values()]
        if not closed:
            raise PeriodError(
                f"{month} is not closed" + (" for those departments" if depts else "")
            )
        store.mark_reopened(
            conn, [p.id for p in closed], at=utc_stamp(), by=actor.name, reason=reason
        )
        ids = None if depts is None else list(depts.values())
        versions = sorted({p.version for p in closed})
        reopened = store.employees_closed_with(conn, first, last, versions)
        days = store.set_day_state(
            conn, first, last, ids, state="open", version=None, versions=versions
        )
        for dept_id in ids or [None]:
            requeue.enqueue(
                conn, department_id=dept_id, date_from=first, date_to=last, reason="reopen"
            )
        if ids is not None:  # and those who have left these departments since the close
            members = {e.id for e in select_employees(conn) if e.department_id in ids}
            for employee_id in sorted(reopened - members):
                requeue.enqueue(
                    conn, employee_id=employee_id, date_from=first, date_to=last, reason="reopen"
                )
        codes = sorted(p.department_code for p in closed if p.department_code is not None)
        audit.record(
            conn,
            actor.name,
            "reopen",
            "pay_period",
            month,
            {
                "versions": sorted({p.version for p in closed}),
                "departments": codes,
                "days": days,
                "reason": reason,
            },
        )
    return Reopened(month, sorted({p.version for p in closed}), codes, days)


def list_periods(site: Site, month: str | None = None) -> list[PeriodRow]:
    """Every close (and reopen) recorded, of ``month`` or all, oldest first."""
    months = None if month is None else [parse_month(month)]
    with site.engine.connect() as conn:
        return store.periods(conn, months=months)


def show_period(site: Site, month: str) -> PeriodView:
    """A month's closes and reopens, its state and what arrived after its close."""
    month = parse_month(month)
    first, last = month_bounds(month)
    with site.engine.connect() as conn:
        rows = store.periods(conn, months=[month])
        late = store.after_close(conn, first, last)
    closed = [p for p in rows if p.state == "closed"]
    if any(p.department_id is None for p in closed):
        state = "closed"
    else:
        state = "partly closed" if closed else "open"
    return PeriodView(month, rows, state, late)


# ---------------------------------------------------------------------------- payroll


SQLITE_ACCESS = (
    "SQLite has no database roles: whoever can read the database file can read everything "
    "in it, and whoever can write it can change everything. For read-only payroll access, "
    "give the payroll program a copy (e.g. `sqlite3 {path} '.backup payroll.db'` after each "
    "close, mode 0440, owned by the payroll user's group) or open the file read-only "
    "(`file:{path}?mode=ro` URI) as a user who has only read permission on it; the views "
    "att_payroll_month and att_payroll_leave hold the closed results."
)


def grant_payroll(site: Site, role: str, *, password: str | None, actor: Actor) -> Granted:
    """Create or update the database role ``role`` with SELECT on the payroll views only
    (PostgreSQL, MariaDB/MySQL); on SQLite explain the file-permission equivalent."""
    if site.engine.dialect.name == "sqlite":
        path = site.engine.url.database or "punchd.db"
        return Granted(role, "explained", store.PAYROLL_VIEWS, SQLITE_ACCESS.format(path=path))
    try:
        with site.transaction() as conn:
            action = store.grant_payroll(conn, role, password)
            audit.record(conn, actor.name, "grant", "db_role", role, {"views": store.PAYROLL_VIEWS})
    except ValueError as exc:
        raise PeriodError(str(exc)) from None
    except PunchdError:
        raise
    except Exception as exc:  # no privilege to create roles, …
        first = str(getattr(exc, "orig", exc)).splitlines()[0] if str(exc) else ""
        raise PeriodError(f"cannot grant {role}: {exc.__class__.__name__}: {first}") from None
    return Granted(role, action, store.PAYROLL_VIEWS)


def export_payroll(site: Site, month: str, fmt: str, output: Path | None = None) -> Exported:
    """The closed ``month`` as a payroll file (csv, xlsx or json) and its checksum manifest
    (``<file>.sha256``). Refused while the month has no closed results."""
    month = parse_month(month)
    if fmt not in payroll_file.FORMATS:
        raise InvalidInput(f"--format {fmt!r}: one of {', '.join(payroll_file.FORMATS)}")
    with site.engine.connect() as conn:
        rows = store.payroll_month(conn, month)
        leave = store.payroll_leave(conn, month)
    if not rows:
        raise PeriodError(f"{month} has no closed results: close it first (punchd period close)")
    data = payroll_file.build(month, rows, leave)
    path = output or Path(f"payroll-{month}.{fmt}")
    try:
        digest, manifest = payroll_file.write(data, fmt, path)
    except OSError as exc:
        raise PeriodError(f"{path}: cannot write: {exc.strerror or exc}") from None
    return Exported(path, manifest, digest, len(rows), data.version)
