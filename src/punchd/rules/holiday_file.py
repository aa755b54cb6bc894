"""A holiday file (``punchd holiday import``): CSV text → validated :class:`HolidayEntry`
values, every problem at once. Nothing here touches the database."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date

from punchd.rules.errors import RulesError

#: Columns of a holiday file (``punchd holiday import``), in this order.
HOLIDAY_FILE_COLUMNS = ("date", "kind", "name")
HOLIDAY_KINDS = ("holiday", "workday")


@dataclass(frozen=True)
class HolidayEntry:
    day: date
    kind: str
    """``holiday`` or ``workday`` (make-up workday)."""
    name: str


def parse_holiday_csv(text: str) -> list[HolidayEntry]:
    """A holiday file: CSV with the header ``date,kind,name`` (UTF-8, a BOM is fine), one
    date per row (``YYYY-MM-DD``, ``holiday`` | ``workday``, a name of up to 128
    characters). Empty lines and lines starting with ``#`` are skipped. Every problem is
    reported at once (RulesError with one problem per row and column)."""
    lines = [
        (n, line)
        for n, line in enumerate(text.lstrip("\ufeff").splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not lines:
        raise RulesError("the file has no header and no rows (expected: date,kind,name)")
    problems: list[str] = []

    def cells(n: int, line: str) -> list[str] | None:
        try:
            return next(csv.reader([line]))
        except csv.Error as exc:
            problems.append(f"line {n}: not CSV: {exc}")
            return None

    header = cells(*lines[0])
    if header is None or tuple(h.strip().lower() for h in header) != HOLIDAY_FILE_COLUMNS:
        raise RulesError(
            f"line {lines[0][0]}: the first line must be the header "
            f"{','.join(HOLIDAY_FILE_COLUMNS)}, not {lines[0][1].strip()!r}"
        )
    entries: list[HolidayEntry] = []
    seen: dict[date, int] = {}
    for n, line in lines[1:]:
        row = cells(n, line)
        if row is None:
            continue
        if len(row) != len(HOLIDAY_FILE_COLUMNS):
            problems.append(f"line {n}: {len(row)} columns, expected 3 (date,kind,name)")
            continue
        raw_day, raw_kind, name = (x.strip() for x in row)
        try:
            day = date.fromisoformat(raw_day)
        except ValueError:
            problems.append(f"line {n}, date: not a date (YYYY-MM-DD): {raw_day!r}")
            day = None
        kind = raw_kind.lower()
        if kind not in HOLIDAY_KINDS:
            problems.append(f"line {n}, kind: must be holiday or workday, not {raw_kind!r}")
        if len(name) > 128:
            problems.append(f"line {n}, name: at most 128 characters ({len(name)})")
        if day is not None and day in seen:
            problems.append(f"line {n}, date: {day} is already on line {seen[day]}")
        elif day is not None:
            seen[day] = n
        if not problems:
            entries.append(HolidayEntry(day, kind, name))  # type: ignore[arg-type]
    if problems:
        raise RulesError(problems)
    if not entries:
        raise RulesError("the file has a header but no dates")
    return entries
