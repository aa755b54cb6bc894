"""Report writers: CSV (UTF-8 with BOM, so that Excel shows Chinese names) and Excel
workbooks (real date / time / number cells). Text a spreadsheet would evaluate is kept
text (:mod:`punchd.safetext`); the files are readable by their owner only."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from pathlib import Path
from typing import Any

from punchd import private, safetext
from punchd.reports.model import ColumnKind, Report


def cell_text(value: Any, kind: ColumnKind) -> str:
    """A cell as text: empty for NULL, ISO dates, times to the second."""
    if value is None:
        return ""
    if kind == "datetime" and isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if kind == "date" and isinstance(value, date):
        return value.isoformat()
    return str(value)


def _csv_cell(value: Any, kind: ColumnKind) -> str:
    # Only text can be a formula: a number (also a negative one) stays a number.
    return safetext.formula_safe(value) if isinstance(value, str) else cell_text(value, kind)


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
    """:func:`xlsx_bytes` written to ``path``, readable by its owner only."""
    private.write_file(path, xlsx_bytes(report))


def xlsx_bytes(report: Report) -> bytes:
    """Excel workbook: a title row, a bold frozen header row, real date / time / integer
    cells, column widths. Every text is a string cell (never a formula)."""
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
    return buffer.getvalue()


def _sheet_name(name: str) -> str:
    for bad in "[]:*?/\\":
        name = name.replace(bad, "-")
    return safetext.xlsx_text(name)[:31] or "Report"


def default_output(report_kind: str, date_from: date, date_to: date, fmt: str) -> Path:
    """``punchd-detail-2024-03-01-2024-03-31.xlsx`` in the current directory."""
    return Path(f"punchd-{report_kind}-{date_from.isoformat()}-{date_to.isoformat()}.{fmt}")
