"""Reports HR prints from the processing results: employee detail and monthly summary.

A report is a title, typed columns and rows of plain Python values; the writers turn it into
a rich table, CSV (UTF-8 with BOM, so that Excel shows Chinese names) or an Excel workbook
(real date / time / number cells). docs/reports.md describes the columns.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import select, text
from sqlalchemy.engine import Connection

from punchd import private, safetext
from punchd.errors import PunchdError
from punchd.processing.runner import ProcessError, department_id, select_employees
from punchd.rules.active import calendar_warnings
from punchd.storage.schema import att_day, att_department, att_employee, att_exception

ColumnKind = Literal["text", "int", "date", "datetime"]

#: ``--only`` kinds: a day is kept when it has any of them.
ONLY_KINDS = ("late", "early", "absent", "missing", "leave", "overtime", "flagged")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


class ReportError(PunchdError, ValueError):
    """The report cannot be made (unknown department or employee, bad option)."""


@dataclass(frozen=True, slots=True)
class Column:
    header: str
    kind: ColumnKind = "text"
    width: int = 10
    """Excel column width (characters)."""


@dataclass
class Report:
    title: str
    sheet: str
    columns: list[Column]
    rows: list[tuple[Any, ...]]
    notes: list[str] = field(default_factory=list)
    """Warnings about the whole report (an unconfirmed holiday calendar): every writer shows
    them (table: a caption; CSV: leading ``note:`` lines; XLSX: in the title row)."""


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

_DAY_MINUTES = (
    "scheduled_minutes",
    "worked_minutes",
    "late_minutes",
    "early_minutes",
    "absent_minutes",
    "leave_minutes",
    "overtime_minutes",
    "holiday_overtime_minutes",
    "rest_overtime_minutes",
    "missing_punches",
)


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
        rows = select_employees(conn, employee_nos=employee_nos or None, department=department)
    except ProcessError as exc:
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
    d, e, p, x = att_day, att_employee, att_department, att_exception
    stmt = (
        select(
            d.c.employee_id,
            e.c.employee_no,
            e.c.name,
            p.c.code.label("department_code"),
            p.c.name.label("department"),
            d.c.work_date,
            d.c.shift_code,
            d.c.status,
            d.c.first_punch,
            d.c.last_punch,
            *(d.c[c] for c in _DAY_MINUTES),
        )
        .select_from(d.join(e, e.c.id == d.c.employee_id).join(p, p.c.id == e.c.department_id))
        .where(d.c.work_date >= date_from, d.c.work_date <= date_to)
        .order_by(e.c.employee_no, d.c.work_date)
    )
    xstmt = (
        select(x.c.employee_id, x.c.work_date, x.c.period, x.c.kind, x.c.minutes, x.c.detail)
        .where(x.c.work_date >= date_from, x.c.work_date <= date_to)
        .order_by(x.c.id)
    )
    notes = calendar_warnings(conn, date_from, date_to)
    if ids is not None:
        if not ids:
            return _detail(date_from, date_to, [], notes)
        stmt = stmt.where(d.c.employee_id.in_(ids))
        xstmt = xstmt.where(x.c.employee_id.in_(ids))
    findings: dict[tuple[int, date], list[tuple[str, str]]] = defaultdict(list)
    for employee_id, work_date, period, kind, minutes, detail in conn.execute(xstmt):
        findings[(employee_id, work_date)].append(
            (kind, exception_text(kind, period, minutes, detail))
        )
    rows: list[tuple[Any, ...]] = []
    for r in conn.execute(stmt):
        day_findings = findings.get((r.employee_id, r.work_date), [])
        if only_kinds is not None and not (
            _day_kinds(r, {kind for kind, _ in day_findings}) & only_kinds
        ):
            continue
        rows.append(
            (
                r.employee_no,
                r.name,
                r.department_code,
                r.department,
                r.work_date,
                WEEKDAYS[r.work_date.weekday()],
                r.shift_code,
                r.status,
                r.first_punch,
                r.last_punch,
                *(getattr(r, c) for c in _DAY_MINUTES),
                "; ".join(text for _, text in day_findings),
            )
        )
    rows.extend(flagged_punch_rows(conn, date_from, date_to, ids, only_kinds))
    return _detail(date_from, date_to, rows, notes)


_FLAG_MEANING = {
    "power_loss": "dated before 2001: the clock had lost its time",
    "future": "dated more than a day ahead of the device's clock",
}


def flagged_punch_rows(
    conn: Connection,
    date_from: date,
    date_to: date,
    employee_ids: Sequence[int] | None = None,
    only_kinds: set[str] | None = None,
) -> list[tuple[Any, ...]]:
    """Detail rows (status ``flagged``) for the punches stored flagged implausible
    (``att_punch.flag``) that are dated *or were collected* in the range — a power-loss
    punch is dated 2000 — so that HR sees them; processing never counts them."""
    if only_kinds is not None and "flagged" not in only_kinds:
        return []
    from datetime import time, timedelta

    from sqlalchemy import and_, or_

    from punchd.storage.schema import att_device, att_punch

    pu, dev, e, dep = att_punch, att_device, att_employee, att_department
    lo = datetime.combine(date_from, time())
    hi = datetime.combine(date_to, time()) + timedelta(days=1)
    owner = or_(
        e.c.id == pu.c.employee_id,
        and_(pu.c.employee_id.is_(None), e.c.enroll_no == pu.c.enroll_no),
    )
    stmt = (
        select(
            pu.c.enroll_no,
            pu.c.punched_at,
            pu.c.state,
            pu.c.flag,
            dev.c.name.label("device"),
            e.c.employee_no,
            e.c.name,
            dep.c.code.label("department_code"),
            dep.c.name.label("department"),
        )
        .select_from(
            pu.join(dev, dev.c.id == pu.c.device_id)
            .outerjoin(e, owner)
            .outerjoin(dep, dep.c.id == e.c.department_id)
        )
        .where(
            pu.c.flag.is_not(None),
            or_(
                and_(pu.c.punched_at >= lo, pu.c.punched_at < hi),
                and_(pu.c.collected_at >= lo, pu.c.collected_at < hi),
            ),
        )
        .order_by(pu.c.punched_at, pu.c.id)
    )
    if employee_ids is not None:
        stmt = stmt.where(e.c.id.in_(list(employee_ids)))
    rows = []
    for r in conn.execute(stmt):
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
                *(0 for _ in _DAY_MINUTES),
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

#: (SQL expression over the view ``s`` and the department ``p``, column), in view order.
#: Every header says its unit: days, minutes (min) or a count.
SUMMARY_FIELDS: list[tuple[str, Column]] = [
    ("s.employee_no", Column("Employee no", "text", 12)),
    ("s.employee_name", Column("Name", "text", 16)),
    ("s.department_code", Column("Dept code", "text", 10)),
    ("p.name", Column("Department", "text", 16)),
    ("s.month", Column("Month", "text", 8)),
    ("s.days", Column("Days", "int", 6)),
    ("s.present_days", Column("Present days", "int", 8)),
    ("s.absent_days", Column("Absent days", "int", 8)),
    ("s.leave_days", Column("Leave days", "int", 8)),
    ("s.holiday_days", Column("Holiday days", "int", 8)),
    ("s.rest_days", Column("Rest days", "int", 8)),
    ("s.incomplete_days", Column("Incomplete days", "int", 10)),
    ("s.late_days", Column("Late days", "int", 8)),
    ("s.early_days", Column("Early days", "int", 8)),
    ("s.scheduled_minutes", Column("Scheduled (min)", "int", 10)),
    ("s.worked_minutes", Column("Worked (min)", "int", 8)),
    ("s.late_minutes", Column("Late (min)", "int", 6)),
    ("s.early_minutes", Column("Early (min)", "int", 6)),
    ("s.absent_minutes", Column("Absent (min)", "int", 7)),
    ("s.leave_minutes", Column("Leave (min)", "int", 6)),
    ("s.overtime_minutes", Column("Overtime (min)", "int", 9)),
    ("s.holiday_overtime_minutes", Column("Holiday OT (min)", "int", 10)),
    ("s.rest_overtime_minutes", Column("Rest OT (min)", "int", 8)),
    ("s.missing_punches", Column("Missing punches", "int", 9)),
]


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
            department_id(conn, department)
        except ProcessError as exc:
            raise ReportError(str(exc)) from None
    if employee_nos:
        _employee_ids(conn, employee_nos, None)
    columns = ", ".join(name for name, _ in SUMMARY_FIELDS)
    sql = (
        f"SELECT {columns} FROM att_month_summary s"
        " JOIN att_department p ON p.code = s.department_code"
        " WHERE s.month >= :m_from AND s.month <= :m_to"
    )
    params: dict[str, Any] = {
        "m_from": date_from.strftime("%Y-%m"),
        "m_to": date_to.strftime("%Y-%m"),
    }
    if department is not None:
        sql += " AND s.department_code = :dept"
        params["dept"] = department
    if employee_nos:
        names = [f":e{i}" for i in range(len(employee_nos))]
        sql += f" AND s.employee_no IN ({', '.join(names)})"
        params.update({f"e{i}": no for i, no in enumerate(employee_nos)})
    sql += " ORDER BY s.employee_no, s.month"
    kinds = [c.kind for _, c in SUMMARY_FIELDS]
    rows = [
        tuple(_int_or(v) if k == "int" else v for v, k in zip(r, kinds, strict=True))
        for r in conn.execute(text(sql), params)
    ]
    first, last = params["m_from"], params["m_to"]
    span = first if first == last else f"{first} – {last}"
    return Report(
        title=f"Monthly summary {span}",
        sheet=f"Summary {first}~{last}"[:31],
        columns=[c for _, c in SUMMARY_FIELDS],
        rows=rows,
        notes=calendar_warnings(conn, date_from, date_to),
    )


def _int_or(value: Any) -> Any:
    """SUM() comes back as Decimal on MySQL: make it an int again."""
    return None if value is None else int(value)


# ---------------------------------------------------------------------------- writers


def _text(value: Any, kind: ColumnKind) -> str:
    if value is None:
        return ""
    if kind == "datetime" and isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if kind == "date" and isinstance(value, date):
        return value.isoformat()
    return str(value)


def _csv_cell(value: Any, kind: ColumnKind) -> str:
    # Only text can be a formula: a number (also a negative one) stays a number.
    return safetext.formula_safe(value) if isinstance(value, str) else _text(value, kind)


def csv_text(report: Report) -> str:
    """The report as CSV text (header row, then rows; empty cells for NULL). Text that a
    spreadsheet would evaluate (``=…``, ``+…``, ``-…``, ``@…``) starts with ``'``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows([safetext.formula_safe(f"note: {note}")] for note in report.notes)
    writer.writerow([safetext.formula_safe(c.header) for c in report.columns])
    kinds = [c.kind for c in report.columns]
    for row in report.rows:
        writer.writerow([_csv_cell(v, k) for v, k in zip(row, kinds, strict=True)])
    return buffer.getvalue()


def write_csv(report: Report, path: Path) -> None:
    """CSV file in UTF-8 with a byte-order mark (Excel then reads Chinese names right),
    readable by its owner only."""
    private.write_file(path, csv_text(report).encode("utf-8-sig"))


_NUMBER_FORMATS = {"date": "yyyy-mm-dd", "datetime": "yyyy-mm-dd hh:mm:ss", "int": "0"}


def write_xlsx(report: Report, path: Path) -> None:
    """Excel workbook: a title row, a bold frozen header row, real date / time / integer
    cells, column widths. Every text is a string cell (never a formula); the file is
    readable by its owner only."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    ws.title = _sheet_name(report.sheet)
    safetext.put_xlsx(ws, 1, 1, report.title).font = Font(bold=True, size=13)
    if report.notes:  # in the title row, right of the title, where nobody misses it
        safetext.put_xlsx(ws, 1, 4, "note: " + "; ".join(report.notes)).font = Font(
            bold=True, color="C00000"
        )
    bold = Font(bold=True)
    for i, column in enumerate(report.columns, start=1):
        safetext.put_xlsx(ws, 2, i, column.header).font = bold
    ws.freeze_panes = "A3"
    formats = [_NUMBER_FORMATS.get(c.kind) for c in report.columns]
    for r, row in enumerate(report.rows, start=3):
        for i, (value, fmt) in enumerate(zip(row, formats, strict=True), start=1):
            cell = safetext.put_xlsx(ws, r, i, value)
            if fmt is not None and value is not None:
                cell.number_format = fmt
    for i, column in enumerate(report.columns, start=1):
        ws.column_dimensions[get_column_letter(i)].width = max(column.width, len(column.header) + 2)
    if report.rows:
        ws.auto_filter.ref = f"A2:{get_column_letter(len(report.columns))}{len(report.rows) + 2}"
    buffer = io.BytesIO()
    wb.save(buffer)
    private.write_file(path, buffer.getvalue())


def _sheet_name(name: str) -> str:
    for bad in "[]:*?/\\":
        name = name.replace(bad, "-")
    return safetext.xlsx_text(name)[:31] or "Report"


def rich_table(report: Report) -> Any:
    """The report as a rich Table (minutes right-aligned; times without seconds). Text is
    shown as text: markup escaped, control characters made visible."""
    from rich.table import Table

    table = Table(title=safetext.terminal(report.title), title_justify="left", show_lines=False)
    if report.notes:
        table.caption = "\n".join(f"note: {safetext.terminal(note)}" for note in report.notes)
        table.caption_justify = "left"
    for column in report.columns:
        table.add_column(
            safetext.terminal(column.header),
            justify="right" if column.kind == "int" else "left",
            overflow="fold",
        )
    for row in report.rows:
        cells = []
        for value, column in zip(row, report.columns, strict=True):
            if value is None:
                cells.append("")
            elif column.kind == "datetime":
                cells.append(value.strftime("%m-%d %H:%M"))
            elif column.kind == "int" and value == 0:
                cells.append("·")
            else:
                cells.append(safetext.terminal(_text(value, column.kind)))
        table.add_row(*cells)
    return table


def default_output(report_kind: str, date_from: date, date_to: date, fmt: str) -> Path:
    """``punchd-detail-2024-03-01-2024-03-31.xlsx`` in the current directory."""
    return Path(f"punchd-{report_kind}-{date_from.isoformat()}-{date_to.isoformat()}.{fmt}")


__all__ = [
    "DETAIL_COLUMNS",
    "ONLY_KINDS",
    "SUMMARY_FIELDS",
    "Column",
    "Report",
    "ReportError",
    "csv_text",
    "default_output",
    "detail_report",
    "exception_text",
    "parse_only",
    "rich_table",
    "summary_report",
    "write_csv",
    "write_xlsx",
]
