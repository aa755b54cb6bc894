"""Text from devices and files is shown, never obeyed.

Names, staff numbers, department names, shift codes and device serial numbers come from
roster files, rules files and the clocks themselves. Before such text reaches

* a terminal (rich): markup is escaped (``[/bold]`` stays text) and control characters
  are shown as ``\\x1b``-style escapes (an ESC can no longer clear the screen);
* a spreadsheet (CSV or XLSX): a cell starting with ``= + - @``, a tab or a carriage return
  is prefixed with ``'`` (OWASP's CSV-injection rule), so Excel, WPS and LibreOffice show it
  as text instead of evaluating it;
* an XLSX file: characters XML 1.0 forbids are shown as escapes (openpyxl would refuse them).

Only the copy being shown changes; the stored value never does.
"""

from __future__ import annotations

import re
from typing import Any

from rich.markup import escape as _escape_markup

#: C0 controls, DEL, C1 controls, the bidirectional overrides/isolates (they reorder what
#: a terminal shows), line/paragraph separators, and what XML cannot carry at all (lone
#: surrogates, U+FFFE, U+FFFF).
_TERMINAL_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff\ufffe\uffff]"
)
#: What XML 1.0 forbids (tab, LF and CR are allowed; openpyxl raises IllegalCharacterError
#: for the other C0 controls).
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

#: First characters that make a spreadsheet treat a cell as a formula (or a DDE command).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _show(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str) -> str:
    """``text`` with every control character replaced by a visible escape (``\\x1b``)."""
    return _TERMINAL_UNSAFE.sub(_show, text)


def terminal(value: Any) -> str:
    """``value`` as text safe to put in rich markup: controls visible, markup escaped."""
    return _escape_markup(visible(str(value)))


def formula_safe(text: str) -> str:
    """A spreadsheet text cell that can never be evaluated: ``'`` before a formula start."""
    return "'" + text if text.startswith(FORMULA_START) else text


def csv_cell(value: Any) -> Any:
    """A CSV cell: text made formula-safe; numbers (also negative ones) unchanged."""
    return formula_safe(value) if isinstance(value, str) else value


def xlsx_text(text: str) -> str:
    """Text an XLSX cell can hold: characters XML forbids shown as escapes."""
    return _XML_ILLEGAL.sub(_show, text)


def put_xlsx(ws: Any, row: int, column: int, value: Any) -> Any:
    """Write ``value`` into an openpyxl worksheet cell and return the cell.

    Text is always an explicit string cell (openpyxl would otherwise turn ``=…`` into a
    formula); text starting like a formula also gets Excel's *quote prefix*, so that editing
    the cell in Excel, WPS or LibreOffice does not turn it into a formula either. Numbers,
    dates and empty cells are written as they are.
    """
    cell = ws.cell(row=row, column=column)
    if isinstance(value, str):
        text = xlsx_text(value)
        cell.value = text
        cell.data_type = "s"
        if text.startswith(FORMULA_START):
            cell.quotePrefix = True
    else:
        cell.value = value
    return cell


__all__ = [
    "FORMULA_START",
    "csv_cell",
    "formula_safe",
    "put_xlsx",
    "terminal",
    "visible",
    "xlsx_text",
]
