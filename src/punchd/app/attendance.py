"""Attendance operations: process a range of work dates, build a report, and the refresh
that every change runs afterwards (re-processing what the durable queue holds).

Results follow changes through the queue (:mod:`punchd.processing.requeue`): a change
commits together with a note of the days it makes stale; :func:`refresh` re-processes them.
A refresh failure is never the failure of the change before it: it comes back as
:class:`Refreshed` with ``error`` set, and reports then mark the days concerned stale.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy.engine import Connection, Engine

from punchd.app.site import Actor, Site
from punchd.errors import PunchdError, RulesError
from punchd.notices import Notice
from punchd.processing import CalendarDataMissing, requeue
from punchd.processing.requeue import DrainResult
from punchd.processing.runner import ProcessError, ProcessSummary, ProgressCallback
from punchd.processing.runner import process as run_process
from punchd.reports import build
from punchd.reports.build import ReportError
from punchd.reports.model import Report
from punchd.rules.calendar_status import calendar_notices
from punchd.storage import periods as periods_store
from punchd.storage import results

ReportKind = Literal["detail", "summary"]


class ProcessingFailed(PunchdError):
    """Processing stopped on something other than a refusal (the database went away …):
    nothing of the run was committed."""


@dataclass(frozen=True)
class Refreshed:
    """What a refresh did: ``drained`` when it succeeded, else ``error`` (one line)."""

    drained: DrainResult | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class Processed:
    """What :func:`process` did."""

    summary: ProcessSummary
    refreshed: Refreshed | None  # None: not asked to settle the queue
    calendar_notices: list[Notice] = field(default_factory=list)
    """The range's calendar warnings (``calendar_unconfirmed`` …), for a translation."""

    @property
    def calendar_warnings(self) -> list[str]:
        """The same warnings as the CLI prints them."""
        return [n.text for n in self.calendar_notices]


@dataclass
class BuiltReport:
    """A report and how fresh it is."""

    report: Report
    refreshed: Refreshed | None  # None: not asked to settle the queue
    stale: int = 0  # employee-days shown that wait to be re-processed (a column says which)
    total: int | None = None
    """Asked for one page (``page`` of :func:`build_report`): the rows in all, and
    ``report.rows`` holds only that page's; None: ``report.rows`` is every row."""
    page: int = 1


@dataclass(frozen=True)
class PageAsked:
    """One page of the employee detail: sorted by column ``sort`` (a header; None: the
    report's order), ``per_page`` rows a page."""

    page: int
    per_page: int
    sort: str | None = None
    descending: bool = False


# ------------------------------------------------------------------------------ refresh


def refresh(site: Site, actor: Actor | None = None) -> Refreshed:
    """Re-process what the changes just committed (and any earlier ones) left in the queue.
    ``actor``: recorded on the processing runs (default: the operating-system user)."""
    return refresh_queue(site.engine, now=site.now(), actor=actor or Actor.named(None))


def refresh_queue(engine: Engine, *, now: datetime, actor: Actor) -> Refreshed:
    """:func:`refresh` for callers holding only an engine and the site's time (the CLI's
    ``refresh`` after a change). Never raises: a failure is returned, and the queue keeps
    its rows for the next drain."""
    try:
        done = requeue.drain_all(engine, now=now, actor=actor.name)
    except Exception as exc:
        text = str(exc)
        return Refreshed(error=f"{exc.__class__.__name__}: {text.splitlines()[0] if text else ''}")
    requeue.log_drained(done)
    return Refreshed(drained=done)


# ------------------------------------------------------------------------------ process


def process(
    site: Site,
    date_from: date,
    date_to: date,
    *,
    department: str | None = None,
    employees: Sequence[str] | None = None,
    actor: Actor,
    progress: ProgressCallback | None = None,
    settle: bool = True,
) -> Processed:
    """Compute ``att_day`` / ``att_exception`` for work dates ``[date_from, date_to]`` of
    everybody, of the employee numbers ``employees`` and/or of department ``department``
    (replacing earlier results), then — ``settle`` — forget the queued changes this run
    covered (a run for everybody) and refresh the rest.

    Raises ProcessError (bad range, unknown employee or department), RulesError and
    CalendarDataMissing (the rules cannot be used), ProcessingFailed (anything else)."""
    nos = list(employees) if employees else None
    try:
        with site.engine.connect() as conn:
            queued = requeue.pending(conn) if settle else []  # what this run will cover
        summary = run_process(
            site.engine,
            date_from,
            date_to,
            employee_nos=nos,
            department=department,
            now=site.now(),
            actor=actor.name,
            progress=progress,
        )
        refreshed = None
        if settle:
            if nos is None and department is None:
                requeue.forget(site.engine, requeue.covered_by(queued, date_from, date_to))
            refreshed = refresh(site, actor)
        with site.engine.connect() as conn:
            warnings = calendar_notices(conn, date_from, date_to)
    except (ProcessError, RulesError, CalendarDataMissing):
        raise
    except Exception as exc:
        raise ProcessingFailed(f"processing failed: {exc.__class__.__name__}: {exc}") from exc
    return Processed(summary, refreshed, warnings)


# ------------------------------------------------------------------------------ reports


def build_report(
    site: Site,
    kind: ReportKind,
    date_from: date,
    date_to: date,
    *,
    department: str | None = None,
    employees: Sequence[str] | None = None,
    only: Iterable[str] | None = None,
    settle: bool = True,
    actor: Actor | None = None,
    page: PageAsked | None = None,
) -> BuiltReport:
    """The employee detail (``kind="detail"``, one row per employee-day; ``only``: keep
    days with any of these kinds, see ``reports.build.ONLY_KINDS``) or the monthly summary
    (``"summary"``). ``settle``: refresh first, and if that fails mark the days still
    waiting to be re-processed (a ``Stale`` column; ``actor``: recorded on that refresh's
    runs). ``page``: the detail's page only, built from the database's page where it can
    be (``total`` set; not when a failed refresh leaves days to mark stale); else the whole
    report. Raises ReportError."""
    if kind == "summary" and only:
        raise ReportError("only applies to the daily detail, not to the monthly summary")
    refreshed = refresh(site, actor) if settle else None
    monthly = kind == "summary"
    with site.engine.connect() as conn:
        if page is not None and not monthly and (refreshed is None or refreshed.ok):
            paged = build.detail_page(
                conn,
                date_from,
                date_to,
                department=department,
                employee_nos=employees,
                only=only,
                sort=page.sort,
                descending=page.descending,
                page=page.page,
                per_page=page.per_page,
            )
            if paged is not None:
                _note_after_close(conn, paged.report, date_from, date_to, department, employees)
                return BuiltReport(paged.report, refreshed, total=paged.total, page=paged.page)
        if monthly:
            report = build.summary_report(
                conn, date_from, date_to, department=department, employee_nos=employees
            )
        else:
            report = build.detail_report(
                conn,
                date_from,
                date_to,
                department=department,
                employee_nos=employees,
                only=only,
            )
        _note_after_close(conn, report, date_from, date_to, department, employees)
        stale = 0
        if refreshed is not None and not refreshed.ok:
            stale = _mark_stale(conn, report, date_from, date_to, monthly=monthly)
    return BuiltReport(report, refreshed, stale)


def _note_after_close(
    conn: Connection,
    report: Report,
    date_from: date,
    date_to: date,
    department: str | None,
    employees: Sequence[str] | None,
) -> None:
    """A note when punches for closed pay periods in the range arrived after the close."""
    ids = None
    if department is not None or employees:
        try:
            ids = [
                e.id
                for e in results.select_employees(
                    conn, department=department, employee_nos=list(employees) if employees else None
                )
            ]
        except results.UnknownSelection:
            return
    late = periods_store.after_close(conn, date_from, date_to, employee_ids=ids)
    if late:
        days = {(a.employee_no, a.work_date) for a in late}
        months = ", ".join(sorted({a.work_date.strftime("%Y-%m") for a in late}))
        report.notes.append(
            f"punches arrived after close for {len(days)} employee-days of closed pay periods "
            f"({months}): stored, not counted in the closed results (punchd period show)"
        )


def _mark_stale(
    conn: Connection, report: Report, date_from: date, date_to: date, *, monthly: bool
) -> int:
    lo, hi = build.stale_window(date_from, date_to, monthly=monthly)
    days = requeue.stale_days(conn, lo, hi)
    if not days:
        return 0
    numbers = results.employee_numbers(conn, {eid for eid, _ in days})
    keys = [(numbers[eid], d) for eid, d in days if eid in numbers]
    return build.mark_stale(report, keys, monthly=monthly)


# ------------------------------------------------------------------------------ punches


def latest_punches(site: Site, device: str, limit: int = 5) -> list[Any]:
    """The device's last ``limit`` punches stored, newest first (``enroll_no``,
    ``punched_at``, ``state``, ``verify_mode``)."""
    with site.engine.connect() as conn:
        return results.latest_punches(conn, device, limit)
