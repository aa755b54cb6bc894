"""The attendance reports and re-processing within the caller's
:class:`~punchd.app.access.Scope` — the console's report pages, downloads and process form.

The rows are those of ``punchd report`` (:func:`punchd.app.attendance.build_report`): for
a department, exactly its report; without one, everybody for an account that sees every
department, else the people of the departments in its scope. Filtering by exception kind,
sorting and paging are plain data here, so the pages and the downloads agree. A department
outside the scope raises :class:`~punchd.app.access.NotFound` like a missing one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any, Literal

from sqlalchemy.exc import SQLAlchemyError

from punchd.app import attendance
from punchd.app.access import NotFound, Scope
from punchd.app.people import department_tree
from punchd.app.site import Actor, Site
from punchd.errors import InvalidInput
from punchd.processing.runner import ProgressCallback
from punchd.reports import build, export
from punchd.reports.model import Column, Report
from punchd.storage import hr as hr_store
from punchd.storage.database import DatabaseFailed

ReportKind = Literal["detail", "summary"]
FileFormat = Literal["csv", "xlsx"]

#: the exception kinds a detail report can be limited to (``punchd report --only``)
ONLY_KINDS = build.ONLY_KINDS
#: the longest range a report or a processing run from the console may cover (a year and
#: a day): longer is refused before anything is read
MAX_DAYS = 366
PAGE_SIZES = (20, 50, 100, 200)
#: ``per_page`` 0: every row on one page (the printable report), at most this many
MAX_ROWS_ON_PAGE = 20_000


@dataclass(frozen=True)
class ReportQuery:
    kind: ReportKind
    date_from: date
    date_to: date
    department: str | None = None
    only: frozenset[str] = frozenset()  # detail only; empty: every day
    sort: str | None = None  # a column key (:func:`column_key`); None: the CLI's order
    descending: bool = False
    page: int = 1
    per_page: int = 50  # 0: all rows


@dataclass
class ReportPage:
    """One page of a report: its columns (with their keys), the page's rows, the counts."""

    query: ReportQuery
    title: str
    columns: list[Column]
    keys: list[str]
    rows: list[tuple[Any, ...]]
    total: int
    pages: int
    notes: list[str] = field(default_factory=list)
    stale: int = 0
    department_name: str | None = None


def column_key(header: str) -> str:
    """``"Late (min)"`` → ``"late-min"``: a column's name in a sort link."""
    return re.sub(r"[^a-z0-9]+", "-", header.lower()).strip("-")


def check_range(date_from: date, date_to: date) -> None:
    """InvalidInput for a range that ends before it starts or is longer than MAX_DAYS."""
    if date_to < date_from:
        raise InvalidInput(f"the range ends ({date_to}) before it starts ({date_from})")
    if (date_to - date_from).days + 1 > MAX_DAYS:
        raise InvalidInput(f"at most {MAX_DAYS} days at a time")


def _selection(
    site: Site, scope: Scope, department: str | None
) -> tuple[list[str] | None, str | None]:
    """What to pass to the builders: ``(employee numbers or None, department name)``.
    NotFound for a department the scope does not see (or a missing one)."""
    try:
        with site.engine.connect() as conn:
            if department is not None:
                found = hr_store.find_department(conn, department)
                if found is None or not scope.sees_department(found["id"]):
                    raise NotFound(f"no department {department!r}")
                return None, str(found["name"])
            if scope.all_departments:
                return None, None
            rows = hr_store.employees(conn, ordered=False)
    except SQLAlchemyError as exc:
        raise DatabaseFailed(site.settings.db_url, exc) from None
    return [str(e["employee_no"]) for e in rows if scope.sees_department(e["department_id"])], None


def scoped_report(
    site: Site,
    scope: Scope,
    query: ReportQuery,
    *,
    actor: Actor,
    page: attendance.PageAsked | None = None,
) -> tuple[attendance.BuiltReport, str | None]:
    """The whole report ``query`` asks for (sorted, not paged) and the department's name;
    with ``page`` (the detail), maybe only that page (``total`` set: see
    :func:`punchd.app.attendance.build_report`). NotFound outside the scope; InvalidInput
    for a bad range; ReportError as the CLI."""
    if not scope.can("results.view"):
        raise NotFound(f"no department {query.department!r}")
    check_range(query.date_from, query.date_to)
    employees, name = _selection(site, scope, query.department)
    if employees is not None and not employees:  # nobody in scope: an empty report
        columns = build.DETAIL_COLUMNS if query.kind == "detail" else build.SUMMARY_COLUMNS
        title = "Employee detail" if query.kind == "detail" else "Monthly summary"
        empty = Report(title, title, list(columns), [])
        return attendance.BuiltReport(empty, None), name
    built = attendance.build_report(
        site,
        query.kind,
        query.date_from,
        query.date_to,
        department=query.department,
        employees=employees,
        only=(query.only or None) if query.kind == "detail" else None,
        actor=actor,
        page=page if query.kind == "detail" else None,
    )
    if built.total is None:  # the whole report: sorted here
        built.report.rows = sort_rows(built.report, query.sort, query.descending)
    return built, name


def sort_rows(report: Report, sort: str | None, descending: bool) -> list[tuple[Any, ...]]:
    """The rows by column ``sort`` (empty cells last either way; ties keep the CLI's
    order); an unknown or no column: as they are."""
    keys = [column_key(c.header) for c in report.columns]
    if sort not in keys:
        return list(report.rows)
    i = keys.index(sort)
    filled = [r for r in report.rows if r[i] is not None and r[i] != ""]
    empty = [r for r in report.rows if r[i] is None or r[i] == ""]
    filled.sort(key=lambda r: r[i], reverse=descending)
    return filled + empty


def report_page(site: Site, scope: Scope, query: ReportQuery, *, actor: Actor) -> ReportPage:
    """One page of the report (see :func:`scoped_report`); a page past the end shows the
    last one."""
    per = query.per_page if query.per_page > 0 else MAX_ROWS_ON_PAGE
    headers = {column_key(c.header): c.header for c in build.DETAIL_COLUMNS}
    asked = attendance.PageAsked(query.page, per, headers.get(query.sort or ""), query.descending)
    built, name = scoped_report(site, scope, query, actor=actor, page=asked)
    report = built.report
    if built.total is not None:  # the database's page: only its rows were built
        total, page, rows = built.total, built.page, report.rows
        pages = max(1, math.ceil(total / per))
    else:
        total = len(report.rows)
        pages = max(1, math.ceil(total / per))
        page = min(max(1, query.page), pages)
        rows = report.rows[(page - 1) * per : page * per]
    return ReportPage(
        query=replace(query, page=page),
        title=report.title,
        columns=list(report.columns),
        keys=[column_key(c.header) for c in report.columns],
        rows=rows,
        total=total,
        pages=pages,
        notes=list(report.notes),
        stale=built.stale,
        department_name=name,
    )


def report_file(
    site: Site, scope: Scope, query: ReportQuery, fmt: FileFormat, *, actor: Actor
) -> tuple[bytes, str]:
    """The whole report (filters and sort of ``query``, no paging) as the CLI writes it:
    CSV in UTF-8 with a byte-order mark, or an Excel workbook; and its file name."""
    built, _ = scoped_report(site, scope, query, actor=actor)
    name = export.default_output(query.kind, query.date_from, query.date_to, fmt).name
    if fmt == "csv":
        return export.csv_text(built.report).encode("utf-8-sig"), name
    return export.xlsx_bytes(built.report), name


# ------------------------------------------------------------------------------ process


def process_in(
    site: Site,
    scope: Scope,
    date_from: date,
    date_to: date,
    *,
    department: str | None,
    actor: Actor,
    progress: ProgressCallback | None = None,
) -> attendance.Processed:
    """``punchd process`` for a department of the scope, or for everybody the scope sees.
    NotFound without ``hr.change`` or outside the scope; InvalidInput for a bad range."""
    if not scope.can("hr.change"):
        raise NotFound(f"no department {department!r}")
    check_range(date_from, date_to)
    employees, _ = _selection(site, scope, department)
    if employees is not None and not employees:
        raise InvalidInput("nobody to process in your departments")
    return attendance.process(
        site,
        date_from,
        date_to,
        department=department,
        employees=employees,
        actor=actor,
        progress=progress,
    )


def departments_to_choose(site: Site, scope: Scope) -> list[tuple[str, str, int]]:
    """``(code, name, depth)`` of the departments the scope sees, as a tree."""
    return [
        (n.department.code, n.department.name, n.depth)
        for n in department_tree(site, scope, counted=False)
    ]


def kinds(values: Iterable[str]) -> frozenset[str]:
    """The exception kinds asked for; InvalidInput for an unknown one."""
    chosen = frozenset(v for v in values if v)
    if unknown := sorted(chosen - set(ONLY_KINDS)):
        raise InvalidInput(f"unknown exception kind(s): {', '.join(unknown)}")
    return chosen


__all__ = [
    "MAX_DAYS",
    "ONLY_KINDS",
    "PAGE_SIZES",
    "ReportPage",
    "ReportQuery",
    "check_range",
    "column_key",
    "departments_to_choose",
    "kinds",
    "process_in",
    "report_file",
    "report_page",
    "scoped_report",
    "sort_rows",
]
