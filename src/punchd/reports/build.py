"""Reports HR prints from the processing results: employee detail and monthly summary.

The builders read through :mod:`punchd.storage.results` and return a
:class:`punchd.reports.model.Report`; :mod:`punchd.reports.export` writes it as CSV or
Excel. docs/reports.md describes the columns.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from punchd.errors import PunchdError
from punchd.reports.model import Column, Report
from punchd.rules.calendar_status import calendar_warnings
from punchd.storage import results as store
from punchd.storage.results import DAY_MINUTES, MONTH_SUMMARY_COLUMNS, UnknownSelection

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

#: ``--only`` kinds: a day is kept when it has any of them.
ONLY_KINDS = ("late", "early", "absent", "missing", "leave", "overtime", "flagged")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


class ReportError(PunchdError, ValueError):
    """The report cannot be made (unknown department or employee, bad option)."""


# ------------------------------------------------------------------------ employee detail

DETAIL_COLUMNS = [
    Column("Employee no", "text", 12),
    Column("Name", "text", 16),
    Column("Dept code", "text", 10),
    Column("Department", "text", 16),
    Column("Date", "date", 11),
    Column("Weekday", "text", 8),
    Column("Shift", "text", 10),
    Column("Status", "text", 11),
    Column("First punch", "datetime", 17),
    Column("Last punch", "datetime", 17),
    Column("Scheduled (min)", "int", 10),
    Column("Worked (min)", "int", 8),
    Column("Late (min)", "int", 6),
    Column("Early (min)", "int", 6),
    Column("Absent (min)", "int", 7),
    Column("Leave (min)", "int", 6),
    Column("Overtime (min)", "int", 9),
    Column("Holiday OT (min)", "int", 10),
    Column("Rest OT (min)", "int", 8),
    Column("Missing punches", "int", 9),
    Column("Exceptions", "text", 60),
]


def parse_only(value: str | None) -> set[str] | None:
    """``"late,absent"`` → ``{"late", "absent"}``; ReportError for unknown kinds."""
    if value is None or not value.strip():
        return None
    kinds = {k.strip().lower() for k in value.split(",") if k.strip()}
    unknown = sorted(kinds - set(ONLY_KINDS))
    if unknown:
        raise ReportError(
            f"--only: unknown kind(s) {', '.join(unknown)} (choose from {', '.join(ONLY_KINDS)})"
        )
    return kinds


def exception_text(kind: str, period: str | None, minutes: int, detail: str) -> str:
    """One att_exception row as HR reads it: ``late DAY 12 min (in 08:12, start 08:00)``."""
    text = kind if not period else f"{kind} {period}"
    if minutes:
        text += f" {minutes} min"
    if detail:
        text += f" ({detail})"
    return text


def _day_kinds(row: Any, exception_kinds: set[str]) -> set[str]:
    kinds = set()
    if row.late_minutes > 0:
        kinds.add("late")
    if row.early_minutes > 0:
        kinds.add("early")
    if row.absent_minutes > 0 or row.status == "absent":
        kinds.add("absent")
    if row.missing_punches > 0 or exception_kinds & {"missing_in", "missing_out"}:
        kinds.add("missing")
    if row.leave_minutes > 0 or row.status == "leave":
        kinds.add("leave")
    if row.overtime_minutes or row.holiday_overtime_minutes or row.rest_overtime_minutes:
        kinds.add("overtime")
    return kinds


def _check_range(date_from: date, date_to: date) -> None:
    if date_to < date_from:
        raise ReportError(f"--to {date_to} is before --from {date_from}")


def _employee_ids(
    conn: Connection, employee_nos: Sequence[str] | None, department: str | None
) -> list[int] | None:
    """Ids of the employees selected by the filters (None: everybody); unknown department
    or employee numbers raise ReportError."""
    if not employee_nos and department is None:
        return None
    try:
        rows = store.select_employees(
            conn, employee_nos=employee_nos or None, department=department
        )
    except UnknownSelection as exc:
        raise ReportError(str(exc)) from None
    return [e.id for e in rows]


def detail_report(
    conn: Connection,
    date_from: date,
    date_to: date,
    *,
    department: str | None = None,
    employee_nos: Sequence[str] | None = None,
    only: Iterable[str] | None = None,
) -> Report:
    """One row per employee-day of ``att_day`` in ``[date_from, date_to]``, ordered by
    employee number and date, with the day's exceptions as text."""
    _check_range(date_from, date_to)
    ids = _employee_ids(conn, employee_nos, department)
    only_kinds = set(only) if only else None
    notes = calendar_warnings(conn, date_from, date_to)
    if ids is not None and not ids:
        return _detail(date_from, date_to, [], notes)
    findings: dict[tuple[int, date], list[tuple[str, str]]] = defaultdict(list)
    for employee_id, work_date, period, kind, minutes, detail in store.exception_rows(
        conn, date_from, date_to, ids
    ):
        findings[(employee_id, work_date)].append(
            (kind, exception_text(kind, period, minutes, detail))
        )
    rows: list[tuple[Any, ...]] = []
    no_findings: list[tuple[str, str]] = []
    for r in store.day_rows(conn, date_from, date_to, ids):
        # by position, in day_rows' column order: a department-month is ~10 000 rows a
        # request in the console, and a Row's attributes cost more than its items
        t = tuple(r)
        day_findings = findings.get((t[0], t[5]), no_findings)
        if only_kinds is not None and not (
            _day_kinds(r, {kind for kind, _ in day_findings}) & only_kinds
        ):
            continue
        rows.append(
            (
                *t[1:6],
                WEEKDAYS[t[5].weekday()],
                *t[6:],
                "; ".join([text for _, text in day_findings]) if day_findings else "",
            )
        )
    rows.extend(flagged_punch_rows(conn, date_from, date_to, ids, only_kinds))
    return _detail(date_from, date_to, rows, notes)


#: detail columns the database can order a page by → day_rows' attribute (Weekday,
#: Exceptions and a Stale mark are made here: a page sorted by them needs every row)
_PAGE_ORDER = dict(
    zip(
        [c.header for c in DETAIL_COLUMNS[:5]] + [c.header for c in DETAIL_COLUMNS[6:20]],
        store.PAGE_ORDER,
        strict=True,
    )
)


@dataclass
class DetailPage:
    """One page of the employee detail: ``report.rows`` are the page's rows only."""

    report: Report
    total: int
    page: int


def detail_page(
    conn: Connection,
    date_from: date,
    date_to: date,
    *,
    department: str | None = None,
    employee_nos: Sequence[str] | None = None,
    only: Iterable[str] | None = None,
    sort: str | None = None,
    descending: bool = False,
    page: int = 1,
    per_page: int = 100,
) -> DetailPage | None:
    """Page ``page`` (``per_page`` rows; past the end: the last) of :func:`detail_report`
    sorted by column ``sort`` (a header; None or unknown: as they are) the way the console
    sorts the whole report (empty cells last, ties in report order) — filtered, counted,
    sorted and cut in the database, so that only the page's rows are built. None when that
    cannot give the same page (sorted by a column made here, or flagged punches in a sorted
    report): build the whole report then."""
    _check_range(date_from, date_to)
    headers = [c.header for c in DETAIL_COLUMNS]
    if sort is not None and sort not in headers:
        sort = None
    if sort is not None and sort not in _PAGE_ORDER:
        return None
    ids = _employee_ids(conn, employee_nos, department)
    only_kinds = set(only) if only else None
    notes = calendar_warnings(conn, date_from, date_to)
    if ids is not None and not ids:
        return DetailPage(_detail(date_from, date_to, [], notes), 0, 1)
    flagged = flagged_punch_rows(conn, date_from, date_to, ids, only_kinds)
    if flagged and sort is not None:
        return None
    order = _PAGE_ORDER[sort] if sort is not None else None
    days = only_kinds is None or bool(only_kinds - {"flagged"})  # "flagged" only: no day
    days_total = (
        store.day_rows_count(conn, date_from, date_to, ids, kinds=only_kinds) if days else 0
    )
    total = days_total + len(flagged)  # the flagged punches follow the days, as in the report
    page = min(max(1, page), max(1, -(-total // per_page)))
    start = (page - 1) * per_page
    found = []
    if start < days_total:
        found = store.day_rows_page(
            conn,
            date_from,
            date_to,
            ids,
            kinds=only_kinds,
            order=order,
            descending=descending,
            offset=start,
            limit=min(per_page, days_total - start),
        )
    rows = _detail_rows(conn, date_from, date_to, found)
    rows.extend(flagged[max(0, start - days_total) : max(0, start + per_page - days_total)])
    return DetailPage(_detail(date_from, date_to, rows, notes), total, page)


def _detail_rows(
    conn: Connection, date_from: date, date_to: date, days: Sequence[Any]
) -> list[tuple[Any, ...]]:
    """Detail rows of these day_rows rows, with their exceptions as text (read for their
    employees and dates only)."""
    if not days:
        return []
    lo, hi = min(r.work_date for r in days), max(r.work_date for r in days)
    wanted = {(r.employee_id, r.work_date) for r in days}
    findings: dict[tuple[int, date], list[str]] = defaultdict(list)
    for employee_id, work_date, period, kind, minutes, detail in store.exception_rows(
        conn, lo, hi, sorted({r.employee_id for r in days})
    ):
        if (employee_id, work_date) in wanted:
            findings[(employee_id, work_date)].append(exception_text(kind, period, minutes, detail))
    rows = []
    for r in days:
        t = tuple(r)
        rows.append(
            (
                *t[1:6],
                WEEKDAYS[t[5].weekday()],
                *t[6:],
                "; ".join(findings.get((t[0], t[5]), ())),
            )
        )
    return rows


_FLAG_MEANING = {
    "power_loss": "dated before 2001: the clock had lost its time",
    "future": "dated more than a day ahead of the device's clock",
    "after_leaving": "dated after the employee's separation date: a leaver still punching",
}


def flagged_punch_rows(
    conn: Connection,
    date_from: date,
    date_to: date,
    employee_ids: Sequence[int] | None = None,
    only_kinds: set[str] | None = None,
) -> list[tuple[Any, ...]]:
    """Detail rows (status ``flagged``) for the punches stored flagged (``att_punch.flag``:
    implausible, or by someone who had left) that are dated *or were collected* in the
    range — a power-loss punch is dated 2000 — so that HR sees them; processing never
    counts them."""
    if only_kinds is not None and "flagged" not in only_kinds:
        return []
    lo = datetime.combine(date_from, time())
    hi = datetime.combine(date_to, time()) + timedelta(days=1)
    rows = []
    for r in store.flagged_punches(conn, lo, hi, employee_ids):
        meaning = _FLAG_MEANING.get(r.flag, r.flag)
        rows.append(
            (
                r.employee_no or "",
                r.name or f"(device user {r.enroll_no})",
                r.department_code or "",
                r.department or "",
                r.punched_at.date(),
                WEEKDAYS[r.punched_at.weekday()],
                "",
                "flagged",
                r.punched_at,
                None,
                *(0 for _ in DAY_MINUTES),
                f"flagged punch ({r.flag}: {meaning}): {r.state} on device {r.device}, "
                f"user {r.enroll_no}; not counted as attendance",
            )
        )
    return rows


def _detail(
    date_from: date, date_to: date, rows: list[tuple[Any, ...]], notes: list[str]
) -> Report:
    return Report(
        title=f"Employee detail {date_from.isoformat()} – {date_to.isoformat()}",
        sheet=f"Detail {date_from.isoformat()}~{date_to.isoformat()}"[:31],
        columns=DETAIL_COLUMNS,
        rows=rows,
        notes=notes,
    )


# ------------------------------------------------------------------------ monthly summary

#: The summary's columns, one per ``storage.results.MONTH_SUMMARY_COLUMNS`` entry (the
#: view ``att_month_summary`` and the department's name), in that order. Every header says
#: its unit: days, minutes (min) or a count.
SUMMARY_COLUMNS: list[Column] = [
    Column("Employee no", "text", 12),
    Column("Name", "text", 16),
    Column("Dept code", "text", 10),
    Column("Department", "text", 16),
    Column("Month", "text", 8),
    Column("Days", "int", 6),
    Column("Present days", "int", 8),
    Column("Absent days", "int", 8),
    Column("Leave days", "int", 8),
    Column("Holiday days", "int", 8),
    Column("Rest days", "int", 8),
    Column("Incomplete days", "int", 10),
    Column("Late days", "int", 8),
    Column("Early days", "int", 8),
    Column("Scheduled (min)", "int", 10),
    Column("Worked (min)", "int", 8),
    Column("Late (min)", "int", 6),
    Column("Early (min)", "int", 6),
    Column("Absent (min)", "int", 7),
    Column("Leave (min)", "int", 6),
    Column("Overtime (min)", "int", 9),
    Column("Holiday OT (min)", "int", 10),
    Column("Rest OT (min)", "int", 8),
    Column("Missing punches", "int", 9),
]
assert len(SUMMARY_COLUMNS) == len(MONTH_SUMMARY_COLUMNS)


def summary_report(
    conn: Connection,
    date_from: date,
    date_to: date,
    *,
    department: str | None = None,
    employee_nos: Sequence[str] | None = None,
) -> Report:
    """``att_month_summary``: one row per employee and calendar month, for every month that
    ``[date_from, date_to]`` touches (whole months: the view sums whole months)."""
    _check_range(date_from, date_to)
    if department is not None:
        try:
            store.department_id(conn, department)
        except UnknownSelection as exc:
            raise ReportError(str(exc)) from None
    if employee_nos:
        _employee_ids(conn, employee_nos, None)
    first, last = date_from.strftime("%Y-%m"), date_to.strftime("%Y-%m")
    kinds = [c.kind for c in SUMMARY_COLUMNS]
    rows = [
        tuple(_int_or(v) if k == "int" else v for v, k in zip(r, kinds, strict=True))
        for r in store.month_summary(
            conn, first, last, department=department, employee_nos=employee_nos
        )
    ]
    span = first if first == last else f"{first} – {last}"
    return Report(
        title=f"Monthly summary {span}",
        sheet=f"Summary {first}~{last}"[:31],
        columns=list(SUMMARY_COLUMNS),
        rows=rows,
        notes=calendar_warnings(conn, date_from, date_to),
    )


def _int_or(value: Any) -> Any:
    """SUM() comes back as Decimal on MySQL: make it an int again."""
    return None if value is None else int(value)


# ------------------------------------------------------------------------------ stale days


def stale_window(date_from: date, date_to: date, *, monthly: bool) -> tuple[date, date]:
    """The work dates a report shows: the range, or (the summary sums whole months) the
    months it touches."""
    if not monthly:
        return date_from, date_to
    last = (date_to.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    return date_from.replace(day=1), last


def mark_stale(report: Report, stale: Iterable[tuple[str, date]], *, monthly: bool) -> int:
    """Add a ``Stale`` column to ``report`` for the days that wait to be re-processed
    (``stale``: (employee number, work date); detail: ``yes``; monthly summary: how many of
    the month's days). Returns how many of the stale employee-days the report shows."""
    keys = list(stale)
    headers = [c.header for c in report.columns]
    who, when = headers.index("Employee no"), headers.index("Month" if monthly else "Date")
    if monthly:
        per_month: dict[tuple[str, str], int] = {}
        for no, d in keys:
            per_month[(no, f"{d:%Y-%m}")] = per_month.get((no, f"{d:%Y-%m}"), 0) + 1
        marks: list[Any] = [per_month.get((row[who], str(row[when])), 0) for row in report.rows]
        report.columns = [*report.columns, Column("Stale days", "int", 6)]
    else:
        wanted = set(keys)
        marks = ["yes" if (row[who], row[when]) in wanted else "" for row in report.rows]
        report.columns = [*report.columns, Column("Stale", "text", 6)]
    report.rows = [(*row, mark) for row, mark in zip(report.rows, marks, strict=True)]
    shown = {row[who] for row in report.rows}
    return sum(1 for no, _ in keys if no in shown)


__all__ = [
    "DETAIL_COLUMNS",
    "ONLY_KINDS",
    "SUMMARY_COLUMNS",
    "DetailPage",
    "ReportError",
    "detail_page",
    "detail_report",
    "exception_text",
    "flagged_punch_rows",
    "mark_stale",
    "parse_only",
    "stale_window",
    "summary_report",
]
