"""The roster file (花名册): the template, and reading + checking a filled-in CSV or XLSX.

Everything here is independent of the database: :func:`read_roster` turns a file into
:class:`RosterRow` objects plus a :class:`RowError` for every problem it can see in the file
alone (header, empty required cells, dates, digits, lengths, duplicates within the file).
The checks against the database and the import itself are in :mod:`punchd.hr.service`.

Row numbers are the ones the user sees in Excel or a text editor: the header is row 1.
See ``docs/roster.md``.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, Final

from punchd import private, safetext
from punchd.errors import PunchdError
from punchd.storage.hr import (
    CARD_NO_MAX,
    DEPARTMENT_CODE_MAX,
    DEPARTMENT_NAME_MAX,
    EMPLOYEE_NAME_MAX,
    EMPLOYEE_NO_MAX,
    ENROLL_NO_MAX,
)


@dataclass(frozen=True, slots=True)
class RosterColumn:
    name: str
    required: bool
    max_length: int | None
    kind: str  # "text" (kept as typed), "code" (identifier), "digits", "date"
    description: str


#: The roster columns, in template order. Lengths come from the schema.
COLUMNS: Final[tuple[RosterColumn, ...]] = (
    RosterColumn(
        "employee_no",
        True,
        EMPLOYEE_NO_MAX,
        "code",
        "Staff number, unique. Re-importing a row with the same employee_no updates it.",
    ),
    RosterColumn("name", True, EMPLOYEE_NAME_MAX, "text", "Full name."),
    RosterColumn(
        "department",
        True,
        DEPARTMENT_CODE_MAX,
        "code",
        "Department code. An unknown code creates the department.",
    ),
    RosterColumn(
        "department_name",
        False,
        DEPARTMENT_NAME_MAX,
        "text",
        "Name of a department the import creates (default: its code). "
        "Ignored for existing departments.",
    ),
    RosterColumn(
        "enroll_no",
        False,
        ENROLL_NO_MAX,
        "digits",
        "User id on the clocks (登记号码), digits only, unique. Empty: keep the current one.",
    ),
    RosterColumn(
        "card_no",
        False,
        CARD_NO_MAX,
        "digits",
        "Card number (digits). Issues the card if the employee does not hold it yet. "
        "Empty: keep the current card.",
    ),
    RosterColumn("hire_date", True, None, "date", "First working day, YYYY-MM-DD."),
    RosterColumn(
        "separation_date",
        False,
        None,
        "date",
        "Last working day (it still counts), YYYY-MM-DD. Empty: keep the current value "
        "(a re-import never clears a separation; use `punchd employees unseparate`).",
    ),
)
COLUMN_NAMES: Final = tuple(c.name for c in COLUMNS)
REQUIRED: Final = tuple(c.name for c in COLUMNS if c.required)
_BY_NAME: Final = {c.name: c for c in COLUMNS}

SHEET_NAME: Final = "roster"
README_SHEET: Final = "README"
#: Sheet names read in preference to the first sheet (compared case-insensitively).
SHEET_NAMES: Final = (SHEET_NAME, "花名册")

#: The usual Chinese headers, aliases of the English ones.
HEADER_ALIASES: Final = {
    "工号": "employee_no",
    "姓名": "name",
    "部门": "department",
    "部门名称": "department_name",
    "登记号码": "enroll_no",
    "卡号": "card_no",
    "入职日期": "hire_date",
    "离职日期": "separation_date",
}

#: Bounds of the work a file can cause, whatever it says about itself.
DEFAULT_MAX_ROWS: Final = 100_000
"""Rows below the header, at most (the ``max_roster_rows`` setting)."""
EMPTY_BLOCK: Final = 100
"""Reading stops at this many empty rows in a row (a sheet formatted down to row 1,048,576)."""
LOOK_AHEAD: Final = 1000
"""Rows looked at after an empty block, to refuse data that would be left unread."""
MAX_COLUMNS: Final = 64
"""Columns read; the roster has 8."""
MAX_CSV_BYTES: Final = 64 * 1024 * 1024
MAX_XLSX_UNPACKED: Final = 512 * 1024 * 1024
"""The uncompressed size of an XLSX's parts, at most (a zip bomb is refused unread)."""
FIRST_DATE: Final = date(1900, 1, 1)
LAST_DATE: Final = date(2199, 12, 31)


@dataclass(frozen=True, slots=True)
class RosterRow:
    """One valid roster line. Optional values are None when the cell was empty."""

    row: int
    employee_no: str
    name: str
    department: str
    hire_date: date
    department_name: str | None = None
    enroll_no: str | None = None
    card_no: str | None = None
    separation_date: date | None = None


@dataclass(frozen=True, slots=True)
class RowError:
    """A problem in the file: ``row`` as the user numbers it (header = 1)."""

    row: int
    column: str | None
    message: str

    def __str__(self) -> str:
        where = f"row {self.row}"
        if self.column:
            where += f", {self.column}"
        return f"{where}: {self.message}"


@dataclass(slots=True)
class Roster:
    rows: list[RosterRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    #: The rows with errors, with None for each cell that is empty or invalid: checked
    #: against the database too, so that one run reports every problem of a row.
    partial: list[RosterRow] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: The XLSX sheet that was read and why (None for CSV): "sheet 'Roster'".
    sheet: str | None = None
    #: The file read (None: rows given some other way).
    path: Path | None = None


class RosterFileError(PunchdError):
    """The file cannot be read at all (missing, wrong format, undecodable, too large), or a
    template cannot be written: one line that names the file."""


# --------------------------------------------------------------------------- template


def write_template(path: Path) -> None:
    """Write an empty roster template; CSV or XLSX by the file's extension. Like every
    file punchd writes, its cells are formula-safe and the file is its owner's only."""
    kind = file_kind(path)
    if kind == "csv":
        buffer = io.StringIO()
        csv.writer(buffer).writerow([safetext.csv_cell(name) for name in COLUMN_NAMES])
        # With a BOM, so that Excel opens it as UTF-8 (names in Chinese stay readable).
        private.write_file(path, buffer.getvalue().encode("utf-8-sig"))
    else:
        _write_xlsx_template(path)


def _write_xlsx_template(path: Path) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    ws.title = SHEET_NAME
    bold = Font(bold=True)
    for index, col in enumerate(COLUMNS, start=1):
        safetext.put_xlsx(ws, 1, index, col.name).font = bold
        dim = ws.column_dimensions[get_column_letter(index)]
        dim.width = max(14, len(col.name) + 4)
        # Identifiers as text, so Excel keeps leading zeros; dates shown as YYYY-MM-DD.
        dim.number_format = "yyyy-mm-dd" if col.kind == "date" else "@"
    ws.freeze_panes = "A2"

    readme = wb.create_sheet(README_SHEET)
    lines: list[list[Any]] = [["column", "required", "max length", "meaning"]]
    for col in COLUMNS:
        lines.append(
            [col.name, "yes" if col.required else "no", col.max_length or None, col.description]
        )
    lines.append([])
    for line in (
        "Fill in the 'roster' sheet, one employee per row, and import it with "
        "`punchd employees import FILE`.",
        "Nothing is imported while any row has an error; every error is listed.",
        "Dates: date cells, or text YYYY-MM-DD (YYYY/M/D is accepted too).",
    ):
        lines.append([line])
    for r, values in enumerate(lines, start=1):
        for c, value in enumerate(values, start=1):
            safetext.put_xlsx(readme, r, c, value)
    for index in range(1, 5):
        readme.cell(row=1, column=index).font = bold
    readme.column_dimensions["A"].width = 18
    readme.column_dimensions["D"].width = 100
    buffer = io.BytesIO()
    wb.save(buffer)
    private.write_file(path, buffer.getvalue())


# --------------------------------------------------------------------------- reading


def file_kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        return "csv"
    if suffix in (".xlsx", ".xlsm"):
        return "xlsx"
    if suffix == ".xls":
        raise RosterFileError(f"{path}: old .xls files are not supported, save it as .xlsx")
    raise RosterFileError(f"{path}: unknown file type {suffix or '(none)'!r}; use .csv or .xlsx")


def read_roster(path: Path, *, max_rows: int = DEFAULT_MAX_ROWS) -> Roster:
    """Read and check a roster file (CSV or XLSX by extension). Raises
    :class:`RosterFileError` for a file that cannot be read; problems of rows and cells are
    in :attr:`Roster.errors`. At most ``max_rows`` rows below the header are read, and
    reading stops at :data:`EMPTY_BLOCK` empty rows."""
    kind = file_kind(path)
    if not path.is_file():
        raise RosterFileError(f"{path}: no such file")
    sheet: list[str] = []
    lines = _read_csv(path) if kind == "csv" else _read_xlsx(path, sheet)
    try:
        roster = parse_rows(_bounded(lines, path, max_rows))
    finally:
        lines.close()  # the workbook, when reading stopped early
    roster.sheet = sheet[0] if sheet else None
    roster.path = path
    return roster


def _bounded(
    lines: Iterator[tuple[int, list[Any]]], path: Path, max_rows: int
) -> Iterator[tuple[int, list[Any]]]:
    """The rows up to the first block of EMPTY_BLOCK empty rows, at most ``max_rows`` after
    the first non-empty one (the header)."""
    header: int | None = None
    empty = 0
    for n, cells in lines:
        if all(_blank(c) for c in cells):
            empty += 1
            if empty >= EMPTY_BLOCK:
                _nothing_after(lines, path, n)
                return
            continue
        empty = 0
        if header is None:
            header = n
        elif n - header > max_rows:
            raise RosterFileError(
                f"{path}: more than {max_rows} rows below the header (row {n}); split the "
                "file, or raise the max_roster_rows setting"
            )
        yield n, cells


def _nothing_after(lines: Iterator[tuple[int, list[Any]]], path: Path, block_end: int) -> None:
    for n, cells in lines:
        if not all(_blank(c) for c in cells):
            raise RosterFileError(
                f"{path}: row {n} comes after {EMPTY_BLOCK} or more empty rows (from row "
                f"{block_end - EMPTY_BLOCK + 1}), where reading stops: delete the empty rows"
            )
        if n >= block_end + LOOK_AHEAD:
            return


def _why(exc: BaseException) -> str:
    """An exception's text for a one-line message: short, no control characters."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    text = "".join(c if c.isprintable() else " " for c in text)
    return text[:160] + ("…" if len(text) > 160 else "")


def _decode(raw: bytes, path: Path) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):  # Excel's "Unicode text"
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise RosterFileError(
                f"{path}: not valid UTF-16 text (byte {exc.start + 1}); save it as CSV UTF-8"
            ) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:  # what Excel writes for "CSV (comma delimited)" on a Chinese Windows
        return raw.decode("gb18030")
    except UnicodeDecodeError:
        raise RosterFileError(f"{path}: not UTF-8 or GB18030 text; save it as CSV UTF-8") from None


def _read_csv(path: Path) -> Iterator[tuple[int, list[Any]]]:
    if path.stat().st_size > MAX_CSV_BYTES:
        raise RosterFileError(f"{path}: larger than {MAX_CSV_BYTES // 2**20} MiB; split the file")
    text = _decode(path.read_bytes(), path)
    first = text.split("\n", 1)[0]
    delimiter = ","
    if "," not in first:
        if "\t" in first:
            delimiter = "\t"
        elif ";" in first:
            delimiter = ";"
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    n = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise RosterFileError(f"{path}: row {n + 1}: not readable as CSV: {exc}") from None
        n += 1
        yield n, cells[:MAX_COLUMNS]


def _read_xlsx(path: Path, sheet: list[str]) -> Iterator[tuple[int, list[Any]]]:
    """The rows of the roster sheet (streamed: read-only openpyxl); its name goes into
    ``sheet``. Every failure is a :class:`RosterFileError`: openpyxl meets a broken file
    with whatever exception its parser raises, so all of them are caught here."""
    from zipfile import BadZipFile, ZipFile

    from openpyxl import load_workbook

    try:
        with ZipFile(path) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (BadZipFile, OSError, ValueError, EOFError) as exc:
        raise RosterFileError(f"{path}: not a readable XLSX file ({_why(exc)})") from None
    if unpacked > MAX_XLSX_UNPACKED:
        raise RosterFileError(
            f"{path}: unpacks to {unpacked // 2**20} MiB (at most "
            f"{MAX_XLSX_UNPACKED // 2**20}): not a roster"
        )
    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # any: see the docstring
        raise RosterFileError(f"{path}: not a readable XLSX file ({_why(exc)})") from None
    n = 0
    try:
        names = [ws.title for ws in wb.worksheets]
        if not names:
            raise RosterFileError(f"{path}: the workbook has no worksheet")
        wanted = {name.casefold() for name in SHEET_NAMES}
        chosen = next((name for name in names if name.strip().casefold() in wanted), None)
        if chosen is not None:
            sheet.append(f"sheet {chosen!r}")
        else:
            chosen = names[0]
            others = f" (the first of {len(names)})" if len(names) > 1 else ""
            sheet.append(f"sheet {chosen!r}{others}")
        ws = wb[chosen]
        ws.reset_dimensions()  # don't trust a stale <dimension>; read every row there is
        rows = ws.iter_rows(values_only=True, max_col=MAX_COLUMNS)
        while True:
            try:
                values = next(rows)
            except StopIteration:
                return
            except Exception as exc:  # any: see the docstring
                raise RosterFileError(
                    f"{path}: {sheet[0]}, after row {n}: not readable ({_why(exc)})"
                ) from None
            n += 1
            yield n, list(values)
    finally:
        wb.close()


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def parse_rows(lines: Iterable[tuple[int, Sequence[Any]]]) -> Roster:
    """Check numbered rows (the first non-empty one is the header) and build the roster."""
    roster = Roster()
    numbered = [(n, list(cells)) for n, cells in lines if not all(_blank(c) for c in cells)]
    if not numbered:
        roster.errors.append(RowError(1, None, "the file is empty (no header row)"))
        return roster
    header_row, header = numbered[0]
    positions: dict[str, int] = {}
    for index, cell in enumerate(header):
        if _blank(cell):
            continue
        text = unicodedata.normalize("NFKC", str(cell)).strip()
        name = HEADER_ALIASES.get(re.sub(r"\s+", "", text)) or re.sub(r"[\s\-]+", "_", text.lower())
        if name not in _BY_NAME:
            roster.warnings.append(f"column {text[:40]!r} is not a roster column: ignored")
        elif name in positions:
            roster.errors.append(RowError(header_row, name, "the column appears twice"))
        else:
            positions[name] = index
    missing = [name for name in REQUIRED if name not in positions]
    if missing:
        roster.errors.append(
            RowError(header_row, None, "missing required column(s): " + ", ".join(missing))
        )
    if roster.errors:
        return roster

    seen: dict[str, dict[str, int]] = {"employee_no": {}, "enroll_no": {}, "card_no": {}}
    department_names: dict[str, tuple[str, int]] = {}
    for row_no, cells in numbered[1:]:
        values: dict[str, Any] = {}
        row_errors: list[RowError] = []
        for name, index in positions.items():
            raw = cells[index] if index < len(cells) else None
            try:
                values[name] = _cell(_BY_NAME[name], raw)
            except ValueError as exc:
                row_errors.append(RowError(row_no, name, str(exc)))
        for name in REQUIRED:
            if name in values and values[name] is None:
                row_errors.append(RowError(row_no, name, "required, but empty"))
        hire, leave = values.get("hire_date"), values.get("separation_date")
        if isinstance(hire, date) and isinstance(leave, date) and leave < hire:
            row_errors.append(
                RowError(
                    row_no,
                    "separation_date",
                    f"{leave.isoformat()} is before the hire_date {hire.isoformat()}",
                )
            )
        for name, first_rows in seen.items():
            value = values.get(name)
            if value is None:
                continue
            if value in first_rows:
                row_errors.append(
                    RowError(row_no, name, f"{value} is already on row {first_rows[value]}")
                )
            else:
                first_rows[value] = row_no
        dept, dept_name = values.get("department"), values.get("department_name")
        if dept is not None and dept_name is not None:
            if dept in department_names and department_names[dept][0] != dept_name:
                other_name, other_row = department_names[dept]
                row_errors.append(
                    RowError(
                        row_no,
                        "department_name",
                        f"{dept_name!r} differs from {other_name!r} on row {other_row} "
                        f"for department {dept}",
                    )
                )
            department_names.setdefault(dept, (dept_name, row_no))
        if row_errors:
            roster.errors.extend(row_errors)
            roster.partial.append(
                RosterRow(row=row_no, **{name: values.get(name) for name in COLUMN_NAMES})
            )
        else:
            roster.rows.append(RosterRow(row=row_no, **values))
    return roster


# --------------------------------------------------------------------------- cells

_WHOLE_FLOAT = re.compile(r"^([0-9]+)\.0+$")
_SCIENTIFIC = re.compile(r"^[0-9](\.[0-9]+)?[eE]\+?[0-9]+$")
_DATE = re.compile(r"^([0-9]{4})[-/.]([0-9]{1,2})[-/.]([0-9]{1,2})(?:[ T]00:00(?::00)?)?$")


def _cell(col: RosterColumn, raw: Any) -> Any:
    """The checked value of one cell (None if empty); ValueError says what is wrong."""
    if col.kind == "date":
        return _date_cell(raw)
    if raw is None:
        return None
    if isinstance(raw, bool):
        text = str(raw).upper()
    elif isinstance(raw, int):
        text = str(raw)
    elif isinstance(raw, float):
        text = str(int(raw)) if raw.is_integer() else repr(raw)
    elif isinstance(raw, datetime | date):
        text = raw.isoformat()
    else:
        text = str(raw).strip()
    if not text:
        return None
    _no_control(text)
    if col.kind in ("code", "digits"):
        # Full-width digits and letters (typed with a Chinese IME) become ASCII.
        text = unicodedata.normalize("NFKC", text).strip()
        if m := _WHOLE_FLOAT.match(text):  # a number column Excel wrote as 123456.0
            text = m.group(1)
    if col.kind == "digits" and not (text.isascii() and text.isdigit()):
        if _SCIENTIFIC.match(text):
            raise ValueError(
                f"{text!r} looks like Excel scientific notation: format the column as text "
                "and type the number again"
            )
        raise ValueError(f"{text!r} must be digits only")
    if col.max_length is not None and len(text) > col.max_length:
        raise ValueError(f"too long ({len(text)} characters, at most {col.max_length})")
    return text


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # Unicode category Cc


def _no_control(text: str) -> None:
    # NUL above all: PostgreSQL refuses it in text, SQLite and MariaDB would store it.
    if m := _CONTROL.search(text):
        raise ValueError(f"contains the control character U+{ord(m.group()):04X}")


def _date_cell(raw: Any) -> date | None:
    value = _any_date(raw)
    if value is not None and not FIRST_DATE <= value <= LAST_DATE:
        raise ValueError(f"{value.isoformat()} is not between {FIRST_DATE} and {LAST_DATE}")
    return value


def _any_date(raw: Any) -> date | None:
    if raw is None:
        return None
    if isinstance(raw, datetime):
        if raw.time() != time(0):
            raise ValueError(f"{raw.isoformat(sep=' ')} has a time of day; give a date only")
        return raw.date()
    if isinstance(raw, date):
        return raw
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        raise ValueError(
            f"{raw} is a number, not a date: format the cell as a date or type YYYY-MM-DD"
        )
    text = unicodedata.normalize("NFKC", str(raw)).strip()
    if not text:
        return None
    _no_control(text)
    m = _DATE.match(text)
    if m:
        try:
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            pass
    raise ValueError(f"{text!r} is not a date (use YYYY-MM-DD)")


__all__ = [
    "COLUMNS",
    "COLUMN_NAMES",
    "DEFAULT_MAX_ROWS",
    "HEADER_ALIASES",
    "REQUIRED",
    "Roster",
    "RosterColumn",
    "RosterFileError",
    "RosterRow",
    "RowError",
    "file_kind",
    "parse_rows",
    "read_roster",
    "write_template",
]
