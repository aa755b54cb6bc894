"""The payroll export of a closed month: one row per employee (days worked, late / early
counts and minutes, absent days and minutes, leave by type, overtime by kind) as CSV, XLSX
or JSON, and a checksum manifest (``<file>.sha256``, the ``sha256sum`` format) so payroll can
tell it received the complete file.

The same closed month gives the same bytes every time: rows in employee-number order,
leave types sorted, no "now" anywhere (XLSX: fixed document dates and zip entry times).
Text a spreadsheet would evaluate (``=`` ``+`` ``-`` ``@``) is kept text
(:mod:`punchd.safetext`); files are readable by their owner only.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import zipfile
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from punchd import private, safetext

FORMATS = ("csv", "xlsx", "json")

#: (key, header) of the fixed columns, in order; the leave columns follow ``absent_minutes``.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("employee_no", "Employee no"),
    ("employee_name", "Name"),
    ("department_code", "Department"),
    ("close_version", "Close version"),
    ("days", "Days"),
    ("present_days", "Days worked"),
    ("worked_minutes", "Worked minutes"),
    ("late_days", "Late count"),
    ("late_minutes", "Late minutes"),
    ("early_days", "Early count"),
    ("early_minutes", "Early minutes"),
    ("absent_days", "Absent days"),
    ("absent_minutes", "Absent minutes"),
    ("leave_days", "Leave days"),
    ("leave_minutes", "Leave minutes"),
)
OVERTIME: tuple[tuple[str, str], ...] = (
    ("overtime_minutes", "Overtime minutes"),
    ("rest_overtime_minutes", "Rest-day overtime minutes"),
    ("holiday_overtime_minutes", "Holiday overtime minutes"),
    ("missing_punches", "Missing punches"),
)
#: Written into the XLSX document properties and zip entries instead of "now".
FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
FIXED_DOC_TIME = "1980-01-01T00:00:00Z"


@dataclass(frozen=True)
class PayrollData:
    """The export's content: headers, rows (values), the leave types in order."""

    month: str
    version: int
    leave_kinds: list[str]
    headers: list[str]
    keys: list[str]
    rows: list[list[Any]]


def build(
    month: str, rows: Sequence[dict[str, Any]], leave: Sequence[tuple[int, str, int, int]]
) -> PayrollData:
    """``rows``: ``att_payroll_month`` of the month; ``leave``: (employee id, type, days,
    minutes) of ``att_payroll_leave``."""
    kinds = sorted({k for _, k, _, _ in leave})
    by_employee: dict[int, dict[str, int]] = defaultdict(dict)
    for employee_id, kind, _days, minutes in leave:
        by_employee[employee_id][kind] = minutes
    keys = [k for k, _ in COLUMNS] + [f"leave:{k}" for k in kinds] + [k for k, _ in OVERTIME]
    headers = (
        [h for _, h in COLUMNS]
        + [f"Leave {k or '(no type)'} minutes" for k in kinds]
        + [h for _, h in OVERTIME]
    )
    out = []
    for row in rows:
        values = [row[k] for k, _ in COLUMNS]
        values += [by_employee.get(row["employee_id"], {}).get(k, 0) for k in kinds]
        values += [row[k] for k, _ in OVERTIME]
        out.append(values)
    version = max((r["close_version"] or 0 for r in rows), default=0)
    return PayrollData(month, version, kinds, headers, keys, out)


def _csv(data: PayrollData) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([safetext.formula_safe(h) for h in data.headers])
    for row in data.rows:
        writer.writerow([safetext.csv_cell(v) for v in row])
    return buffer.getvalue().encode("utf-8-sig")


def _json(data: PayrollData) -> bytes:
    doc = {
        "month": data.month,
        "close_version": data.version,
        "leave_types": data.leave_kinds,
        "employees": [dict(zip(data.keys, row, strict=True)) for row in data.rows],
    }
    return (json.dumps(doc, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode()


def _xlsx(data: PayrollData) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = f"Payroll {data.month}"
    bold = Font(bold=True)
    for i, header in enumerate(data.headers, start=1):
        safetext.put_xlsx(ws, 1, i, header).font = bold
    ws.freeze_panes = "A2"
    for r, row in enumerate(data.rows, start=2):
        for i, value in enumerate(row, start=1):
            safetext.put_xlsx(ws, r, i, value)
    buffer = io.BytesIO()
    wb.save(buffer)
    return _fixed_zip(buffer.getvalue())


_DOC_TIME = re.compile(rb"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:\2>)")


def _fixed_zip(raw: bytes) -> bytes:
    """The workbook with every time stamp fixed (zip entries, document properties)."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(raw)) as src,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst,
    ):
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                body = _DOC_TIME.sub(rb"\g<1>" + FIXED_DOC_TIME.encode() + rb"\g<3>", body)
            entry = zipfile.ZipInfo(info.filename, date_time=FIXED_ZIP_TIME)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o600 << 16
            dst.writestr(entry, body)
    return out.getvalue()


def render(data: PayrollData, fmt: str) -> bytes:
    """The file's bytes in ``fmt`` (one of :data:`FORMATS`)."""
    return {"csv": _csv, "xlsx": _xlsx, "json": _json}[fmt](data)


def manifest_text(body: bytes, name: str) -> str:
    """``sha256sum``'s line for the file (``sha256sum -c`` checks it)."""
    return f"{hashlib.sha256(body).hexdigest()}  {name}\n"


def write(data: PayrollData, fmt: str, path: Path) -> tuple[str, Path]:
    """Write the file and ``<path>.sha256`` (owner-only). Returns (sha256 hex, manifest)."""
    body = render(data, fmt)
    manifest = path.with_name(path.name + ".sha256")
    private.write_file(path, body)
    private.write_file(manifest, manifest_text(body, path.name).encode())
    return hashlib.sha256(body).hexdigest(), manifest
