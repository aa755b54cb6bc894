"""What a report is: a title, typed columns and rows of plain Python values. The builders
(:mod:`punchd.reports.build`) make them; the writers (:mod:`punchd.reports.export`, the
CLI's table) show them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

ColumnKind = Literal["text", "int", "date", "datetime"]


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
