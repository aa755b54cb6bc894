"""The console's reports and re-processing: the employee detail and the monthly summary
(filtered, sorted, paged, printable, downloadable as the CLI's CSV and XLSX) and the form
that processes a range as a background job. Thin over :mod:`punchd.app.reports`.

``results.view`` (admin, HR, leader, payroll) reads the reports, within the account's
scope; ``hr.change`` (admin, HR) processes a range. A department outside the scope is 404,
like a missing one. Processing runs in a thread of its own, its page refreshing itself
(no JavaScript), like a collect-now job.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from punchd import logs
from punchd.app import Actor, Site, access
from punchd.app import reports as ops
from punchd.app.forms import Problem
from punchd.errors import InvalidInput, PunchdError
from punchd.web import forms
from punchd.web.auth import Caller, PageNotFound, actor_of, console, requires, scope_of
from punchd.web.console import Console
from punchd.web.i18n import N_, Formats
from punchd.web.notices import NoticeLike
from punchd.web.views import STATUS_NAMES

log = logs.get_logger(component="web")
router = APIRouter(include_in_schema=False)

ConsoleDep = Annotated[Console, Depends(console)]
VIEW = "results.view"
PROCESS = "hr.change"

#: the report columns in words (the files keep the CLI's English headers)
HEADERS = {
    "Employee no": N_("Staff no"),
    "Name": N_("Name"),
    "Dept code": N_("Dept code"),
    "Department": N_("Department"),
    "Date": N_("Date"),
    "Weekday": N_("Weekday"),
    "Shift": N_("Shift"),
    "Status": N_("Status"),
    "First punch": N_("First punch"),
    "Last punch": N_("Last punch"),
    "Scheduled (min)": N_("Scheduled (min)"),
    "Worked (min)": N_("Worked (min)"),
    "Late (min)": N_("Late (min)"),
    "Early (min)": N_("Early (min)"),
    "Absent (min)": N_("Absent (min)"),
    "Leave (min)": N_("Leave (min)"),
    "Overtime (min)": N_("Overtime (min)"),
    "Holiday OT (min)": N_("Holiday OT (min)"),
    "Rest OT (min)": N_("Rest OT (min)"),
    "Missing punches": N_("Missing punches"),
    "Exceptions": N_("Exceptions"),
    "Stale": N_("Stale"),
    "Stale days": N_("Stale days"),
    "Month": N_("Month"),
    "Days": N_("Days"),
    "Present days": N_("Present days"),
    "Absent days": N_("Absent days"),
    "Leave days": N_("Leave days"),
    "Holiday days": N_("Holiday days"),
    "Rest days": N_("Rest days"),
    "Incomplete days": N_("Incomplete days"),
    "Late days": N_("Late days"),
    "Early days": N_("Early days"),
}
KIND_WORDS = {
    "late": N_("late"),
    "early": N_("left early"),
    "absent": N_("absent"),
    "missing": N_("missing punch"),
    "leave": N_("leave"),
    "overtime": N_("overtime"),
    "flagged": N_("flagged punch"),
}
TITLES = {"detail": N_("Employee detail"), "summary": N_("Monthly summary")}
BAD_DATE = N_("a date as YYYY-MM-DD")
TOO_LONG = N_("at most %(days)s days at a time")
ENDS_BEFORE = N_("the range ends before it starts")
NOBODY = N_("nobody to process in your departments")


# ----------------------------------------------------------------------------- helpers


def _date(text: str | None, default: date, field_name: str, problems: dict[str, str]) -> date:
    if text is None or not text.strip():
        return default
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        problems[field_name] = BAD_DATE
        return default


def _range_problems(d_from: date, d_to: date, problems: dict[str, str]) -> None:
    if problems:
        return
    try:
        ops.check_range(d_from, d_to)
    except InvalidInput:
        problems["to"] = ENDS_BEFORE if d_to < d_from else TOO_LONG


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text else default
    except ValueError:
        return default


@dataclass
class Asked:
    """The report form as it was filled in (shown again, and the base of every link)."""

    kind: str
    date_from: str
    date_to: str
    department: str
    only: list[str]
    sort: str
    dir: str
    per: str
    page: int = 1

    def params(self, **change: Any) -> str:
        values: dict[str, Any] = {
            "from": self.date_from,
            "to": self.date_to,
            "department": self.department,
            "only": self.only,
            "sort": self.sort,
            "dir": self.dir,
            "per": self.per,
            "page": self.page,
        }
        values.update(change)
        pairs = [
            (k, v)
            for k, vs in values.items()
            for v in (vs if isinstance(vs, list) else [vs])
            if v not in ("", None) and not (k == "page" and v == 1)
        ]
        return urlencode(pairs)


def _query(
    request: Request, c: Console, kind: str
) -> tuple[ops.ReportQuery, Asked, dict[str, str]]:
    q = request.query_params
    today = c.today()
    problems: dict[str, str] = {}
    d_from = _date(q.get("from"), today.replace(day=1), "from", problems)
    d_to = _date(q.get("to"), today, "to", problems)
    _range_problems(d_from, d_to, problems)
    department = (q.get("department") or "").strip()[:64]
    only = [k for k in q.getlist("only") if k in ops.ONLY_KINDS] if kind == "detail" else []
    sort = (q.get("sort") or "")[:40]
    direction = "desc" if q.get("dir") == "desc" else "asc"
    per_text = q.get("per") or str(ops.PAGE_SIZES[1])
    per = 0 if per_text == "all" else _int(per_text, ops.PAGE_SIZES[1])
    if per not in (0, *ops.PAGE_SIZES):
        per, per_text = ops.PAGE_SIZES[1], str(ops.PAGE_SIZES[1])
    page = max(1, _int(q.get("page"), 1))
    asked = Asked(
        kind,
        q.get("from") or d_from.isoformat(),
        q.get("to") or d_to.isoformat(),
        department,
        only,
        sort,
        direction,
        per_text,
        page,
    )
    query = ops.ReportQuery(
        kind="detail" if kind == "detail" else "summary",
        date_from=d_from,
        date_to=d_to,
        department=department or None,
        only=frozenset(only),
        sort=sort or None,
        descending=direction == "desc",
        page=page,
        per_page=per,
    )
    return query, asked, problems


@dataclass(frozen=True, slots=True)
class ShownRow:
    """A report row as the page shows it: the row's keys and its cells, ``(kind, text)``
    (kind: the cell's class — num, time, date, status, exceptions — or empty)."""

    employee: Any
    day: Any
    status: Any
    cells: list[tuple[str, str]]


def _shown_rows(
    page: ops.ReportPage, gettext: Callable[[str], str], fmt: Formats
) -> list[ShownRow]:
    """The page's cells formatted here, once, rather than by the template cell by cell (a
    hundred rows of 22 cells: most of the page's time went to the template's calls)."""
    kinds = [
        "status" if c.header == "Status" else "exceptions" if c.header == "Exceptions" else c.kind
        for c in page.columns
    ]
    # the weekday in the page's language, from the date before it (the files keep the CLI's
    # English)
    for i, c in enumerate(page.columns):
        if c.header == "Weekday" and i and page.columns[i - 1].kind == "date":
            kinds[i] = "weekday"
    weekdays = fmt.locale.days["format"]["abbreviated"]
    statuses = {k: gettext(v) for k, v in STATUS_NAMES.items()}
    detail = page.query.kind == "detail"
    numbers: dict[int, str] = {}
    shown = []
    for row in page.rows:
        cells = []
        for i, (value, kind) in enumerate(zip(row, kinds, strict=True)):
            if value is None:
                cells.append(("", ""))
            elif kind == "weekday" and row[i - 1] is not None:
                cells.append(("weekday", weekdays[row[i - 1].weekday()]))
            elif kind == "int":
                if value not in numbers:
                    numbers[value] = fmt.number(value) if value else "·"
                cells.append(("num", numbers[value]))
            elif kind == "datetime":
                cells.append(("time", value.strftime("%m-%d %H:%M")))
            elif kind == "date":
                cells.append(("date", value.isoformat()))
            elif kind == "status" and value in statuses:
                cells.append(("status", statuses[value]))
            elif kind == "exceptions":
                cells.append(("exceptions", value))
            else:
                cells.append(("", str(value)))
        shown.append(
            ShownRow(row[0], row[4] if detail else None, row[7] if detail else None, cells)
        )
    return shown


def _site_name(site: Site) -> str:
    # a site name in the settings heads the printed report, when the settings have one
    return str(getattr(site.settings.web, "site_name", None) or "punchd")


# ----------------------------------------------------------------------------- reports


@router.get("/reports")
def reports_home(caller: Annotated[Caller, requires(VIEW)]) -> Response:
    return RedirectResponse("/reports/detail", status_code=303)


def _report_page(request: Request, c: Console, caller: Caller, kind: str) -> Response:
    query, asked, problems = _query(request, c, kind)
    scope = scope_of(caller)
    page: ops.ReportPage | None = None
    status = 200
    if problems:
        status = 400
    else:
        try:
            page = ops.report_page(c.site, scope, query, actor=actor_of(caller))
        except ops.NotFound:
            raise PageNotFound() from None
        except PunchdError as exc:  # ReportError: shown as the CLI says it
            problems["department"] = logs.scrub(str(exc))
            status = 400
    context = {
        "kind": kind,
        "title": TITLES[kind],
        "asked": asked,
        "report": page,
        "problems": problems,
        "departments": ops.departments_to_choose(c.site, scope),
        "kinds": [(k, KIND_WORDS[k]) for k in ops.ONLY_KINDS],
        "headers": HEADERS,
        "kind_words": KIND_WORDS,
        "page_sizes": ops.PAGE_SIZES,
        "site_name": _site_name(c.site),
        "max_days": ops.MAX_DAYS,
        "can_process": caller.can(PROCESS),
        "shown": []
        if page is None
        else _shown_rows(page, c.gettext(request), Formats(c.language(request))),
    }
    return c.render(request, "reports_report.html", context, status=status)


@router.get("/reports/detail")
def detail_page(
    request: Request, c: ConsoleDep, caller: Annotated[Caller, requires(VIEW)]
) -> Response:
    return _report_page(request, c, caller, "detail")


@router.get("/reports/summary")
def summary_page(
    request: Request, c: ConsoleDep, caller: Annotated[Caller, requires(VIEW)]
) -> Response:
    return _report_page(request, c, caller, "summary")


MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _report_file(request: Request, c: Console, caller: Caller, kind: str) -> Response:
    query, _, problems = _query(request, c, kind)
    fmt = request.query_params.get("format", "csv")
    if problems or fmt not in MEDIA:
        return _report_page(request, c, caller, kind) if problems else Response(status_code=400)
    try:
        data, name = ops.report_file(
            c.site,
            scope_of(caller),
            query,
            "xlsx" if fmt == "xlsx" else "csv",
            actor=actor_of(caller),
        )
    except ops.NotFound:
        raise PageNotFound() from None
    except PunchdError:
        return _report_page(request, c, caller, kind)
    return Response(
        data,
        media_type=MEDIA[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/reports/detail/file")
def detail_file(
    request: Request, c: ConsoleDep, caller: Annotated[Caller, requires(VIEW)]
) -> Response:
    return _report_file(request, c, caller, "detail")


@router.get("/reports/summary/file")
def summary_file(
    request: Request, c: ConsoleDep, caller: Annotated[Caller, requires(VIEW)]
) -> Response:
    return _report_file(request, c, caller, "summary")


# ----------------------------------------------------------------------------- process


@dataclass
class ProcessJob:
    """One processing run started from the console."""

    id: str
    date_from: date
    date_to: date
    department: str | None
    started_by: str
    started_at: datetime  # naive UTC
    done: int = 0
    total: int = 0
    finished_at: datetime | None = None
    summary: str | None = None  # the CLI's line
    warnings: list[str] = field(default_factory=list)
    notices: list[NoticeLike] = field(default_factory=list)  # worded in the reader's language
    error: Problem | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def running(self) -> bool:
        return self.finished_at is None

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "id": self.id,
                "state": "running" if self.running else ("failed" if self.error else "done"),
                "date_from": self.date_from,
                "date_to": self.date_to,
                "department": self.department,
                "started_by": self.started_by,
                "started_at": self.started_at,
                "done": self.done,
                "total": self.total,
                "summary": self.summary,
                "warnings": list(self.warnings),
                "notices": list(self.notices),
                "error": self.error,
            }


class ProcessJobs:
    """The processing jobs of one console. A form sent twice while its run goes on gets
    the running job, not a second run."""

    KEEP = 100

    def __init__(self, site: Site, now: Callable[[], datetime]) -> None:
        self.site, self.now = site, now
        self._jobs: dict[str, ProcessJob] = {}
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def get(self, job_id: str) -> ProcessJob | None:
        with self._lock:
            return self._jobs.get(job_id)

    def start(
        self,
        scope: access.Scope,
        actor: Actor,
        date_from: date,
        date_to: date,
        department: str | None,
    ) -> ProcessJob:
        with self._lock:
            for job in self._jobs.values():
                same = (job.date_from, job.date_to, job.department) == (
                    date_from,
                    date_to,
                    department,
                )
                if job.running and same and job.started_by == actor.name:
                    return job
            finished = [j for j in self._jobs.values() if not j.running]
            for old in finished[: max(0, len(finished) - self.KEEP)]:
                del self._jobs[old.id]
            job = ProcessJob(
                secrets.token_urlsafe(12), date_from, date_to, department, actor.name, self.now()
            )
            self._jobs[job.id] = job
            thread = threading.Thread(
                target=self._run, args=(job, scope, actor), name=f"process-{job.id}", daemon=True
            )
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        log.info("process from the console", job=job.id, by=actor.name)
        thread.start()
        return job

    def _run(self, job: ProcessJob, scope: access.Scope, actor: Actor) -> None:
        def progress(done: int, total: int) -> None:
            with job.lock:
                job.done, job.total = done, total

        try:
            result = ops.process_in(
                self.site,
                scope,
                job.date_from,
                job.date_to,
                department=job.department,
                actor=actor,
                progress=progress,
            )
            with job.lock:
                job.summary = result.summary.line()
                job.notices = list(result.calendar_notices)
                if result.refreshed is not None and not result.refreshed.ok:
                    job.warnings.append(f"not re-processed: {result.refreshed.error}")
        except PunchdError as exc:
            with job.lock:
                job.error = forms.said(exc)
        except Exception as exc:  # a bug: the page must still end, the log says what
            log.exception("processing job failed", job=job.id)
            with job.lock:
                failure = f"unexpected failure ({exc.__class__.__name__}); see the log"
                job.error = Problem.said(failure)
        finally:
            with job.lock:
                job.finished_at = self.now()

    def wait(self, timeout: float = 30.0) -> bool:
        """Wait for every job's thread (tests); True when all have ended."""
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads)
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in threads)


_jobs_lock = threading.Lock()


def process_jobs(request: Request) -> ProcessJobs:
    """The application's processing jobs (made on first use)."""
    state = request.app.state
    with _jobs_lock:
        jobs = getattr(state, "process_jobs", None)
        if jobs is None:
            c: Console = state.console
            jobs = state.process_jobs = ProcessJobs(c.site, c.now)
    return jobs


def _process_page(
    request: Request,
    c: Console,
    caller: Caller,
    values: dict[str, str],
    problems: dict[str, str],
    status: int = 200,
) -> Response:
    context = {
        "values": values,
        "problems": problems,
        "departments": ops.departments_to_choose(c.site, scope_of(caller)),
        "all_departments": scope_of(caller).all_departments,
        "max_days": ops.MAX_DAYS,
    }
    return c.render(request, "reports_process.html", context, status=status)


@router.get("/process")
def process_form(
    request: Request, c: ConsoleDep, caller: Annotated[Caller, requires(PROCESS)]
) -> Response:
    today = c.today()
    start = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
    values = {"from": start.isoformat(), "to": today.isoformat(), "department": ""}
    return _process_page(request, c, caller, values, {})


@router.post("/process")
async def process_start(
    request: Request, c: ConsoleDep, caller: Annotated[Caller, requires(PROCESS)]
) -> Response:
    form = await request.form()
    values = {k: str(form.get(k) or "").strip()[:64] for k in ("from", "to", "department")}
    problems: dict[str, str] = {}
    d_from = _date(values["from"] or "-", date.min, "from", problems)
    d_to = _date(values["to"] or "-", date.min, "to", problems)
    _range_problems(d_from, d_to, problems)
    department = values["department"] or None
    scope = scope_of(caller)
    if department is not None and department not in {
        code for code, _, _ in ops.departments_to_choose(c.site, scope)
    }:
        raise PageNotFound()
    nothing_mine = not scope.all_departments and not ops.departments_to_choose(c.site, scope)
    if not problems and department is None and nothing_mine:
        problems["department"] = NOBODY
    if problems:
        return _process_page(request, c, caller, values, problems, status=400)
    job = process_jobs(request).start(scope, actor_of(caller), d_from, d_to, department)
    return RedirectResponse(f"/process/{job.id}", status_code=303)


@router.get("/process/{job_id}")
def process_job(
    request: Request,
    job_id: str,
    c: ConsoleDep,
    caller: Annotated[Caller, requires(PROCESS)],
) -> Response:
    job = process_jobs(request).get(job_id)
    # another account's run is shown only to accounts that see every department
    if job is None or (
        job.started_by != actor_of(caller).name and not scope_of(caller).all_departments
    ):
        raise PageNotFound()
    snap = job.snapshot()
    report = Asked(
        "detail",
        snap["date_from"].isoformat(),
        snap["date_to"].isoformat(),
        snap["department"] or "",
        [],
        "",
        "asc",
        "",
    )
    context = {
        "job": snap,
        "report_link": "/reports/detail?" + report.params(),
        "refresh": 1 if snap["state"] == "running" else None,
    }
    return c.render(request, "reports_job.html", context)
