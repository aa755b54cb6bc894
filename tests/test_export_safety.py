"""Hostile text in reports: formula payloads and terminal control sequences in every text
field (employee number, name, department code and name, shift code) reach CSV, XLSX and the
terminal table as inert text, through the real ``punchd`` command; numbers stay numbers."""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy.engine import Engine

from punchd import safetext

from .cli_helpers import punchd, subprocess_env
from .helpers.rows import (
    add_department,
    add_device,
    add_employee,
    add_period,
    add_punch,
    add_schedule,
    add_shift,
)
from .helpers.week import MON, at

#: What an attacker puts into a roster or rules file to make a spreadsheet run something.
FORMULAS = [
    '=HYPERLINK("http://x","y")',
    "+cmd|' /C calc'!A0",
    "-1+1",
    "@SUM(1)",
    "\t=1",
    "\r=1",
    "=1+1",
]
#: What makes a terminal obey instead of show: rich markup, escape sequences, bell.
TERMINAL = ["[/bold] x", "[red]red[/red]", "\x1b[2Jcls", "bell\x07", "nul\x00x"]

WEEK = ("--from", "2024-03-04", "--to", "2024-03-05")


def _hostile_site(engine: Engine) -> list[dict[str, str]]:
    """One department, employee and shift per payload; every text field is hostile.
    Returns the text fields of each employee as stored."""
    postgres = engine.dialect.name == "postgresql"
    people = []
    with engine.begin() as c:
        day = add_period(c, "DAY", 480, 1020)
        texts = FORMULAS + [t for t in TERMINAL if not (postgres and "\x00" in t)]
        # (PostgreSQL cannot store NUL in text at all: nothing to show there.)
        for i, payload in enumerate(texts):
            fields = {
                "employee_no": f"{payload[:24]}{i}",
                "name": f"{payload} name",
                "dept_code": f"{payload[:24]}D{i}",
                "dept_name": f"{payload} dept",
                "shift": f"{payload[:24]}S{i}",
            }
            dept = add_department(c, fields["dept_code"], fields["dept_name"])
            shift = add_shift(c, fields["shift"], {d: [day] for d in range(5)})
            add_schedule(c, shift, department_id=dept)
            add_employee(c, fields["employee_no"], fields["name"], dept, str(100 + i))
            people.append(fields)
        gate = add_device(c, "gate")
        for i in range(len(texts)):
            add_punch(c, gate, str(100 + i), at(MON, "08:10"))  # late 10 min
            add_punch(c, gate, str(100 + i), at(MON, "17:00"))
    return people


@pytest.fixture
def hostile(engine: Engine, db_url: str, tmp_path: Path) -> tuple[list[dict[str, str]], dict]:
    people = _hostile_site(engine)
    env = subprocess_env(
        PUNCHD_DATABASE_URL=db_url,
        PUNCHD_TIMEZONE="Asia/Shanghai",
        TZ="UTC",
        XDG_DATA_HOME=str(tmp_path / "data"),
        COLUMNS="2000",
        NO_COLOR="1",
    )
    done = punchd("process", *WEEK, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return people, env


def _text_fields(person: dict[str, str]) -> list[str]:
    return list(person.values())


# ------------------------------------------------------------------------------ CSV


@pytest.mark.parametrize("summary", [False, True], ids=["detail", "summary"])
def test_csv_cells_are_inert_text_and_numbers_stay_numbers(
    hostile: tuple[list[dict[str, str]], dict], tmp_path: Path, summary: bool
) -> None:
    people, env = hostile
    extra = ["--summary"] if summary else []
    out = tmp_path / "r.csv"
    result = punchd("report", *WEEK, *extra, "--format", "csv", "-o", str(out), env=env)
    assert result.returncode == 0, result.stderr
    stdout = subprocess.run(
        [sys.executable, "-m", "punchd", "report", *WEEK, *extra, "--format", "csv"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert stdout.returncode == 0, stdout.stderr
    assert stdout.stdout == out.read_bytes()  # the same bytes to a file or to stdout
    data = out.read_bytes().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(data, newline="")))
    header, body = rows[0], rows[1:]
    assert len(body) == len(people) * (1 if summary else 2)
    cells = [cell for row in body for cell in row]
    # no cell a spreadsheet would evaluate
    assert not [c for c in cells if c.startswith(safetext.FORMULA_START)]
    # the Monday row of each employee (late 10 min; Tuesday is absent)
    by_no = {
        row[0]: dict(zip(header, row, strict=True))
        for row in body
        if summary or row[header.index("Date")] == "2024-03-04"
    }
    for person in people:
        row = by_no[safetext.formula_safe(person["employee_no"])]
        # every field is there in full, only the quote in front where it was needed
        assert row["Name"] == safetext.formula_safe(person["name"])
        assert row["Dept code"] == safetext.formula_safe(person["dept_code"])
        assert row["Department"] == safetext.formula_safe(person["dept_name"])
        if not summary:
            assert row["Shift"] == safetext.formula_safe(person["shift"])
        assert row["Late (min)"] == "10"  # a number, as it was


def test_csv_negative_numbers_are_not_quoted() -> None:
    from punchd.reports.export import csv_text
    from punchd.reports.model import Column, Report

    report = Report("t", "t", [Column("n", "int"), Column("s", "text")], [(-5, "-5"), (0, "x")])
    assert list(csv.reader(io.StringIO(csv_text(report)))) == [
        ["n", "s"],
        ["-5", "'-5"],  # the number stays a number; the text cannot become one
        ["0", "x"],
    ]


# ------------------------------------------------------------------------------ XLSX


def _sheet_xml(path: Path) -> str:
    with zipfile.ZipFile(path) as z:
        return z.read("xl/worksheets/sheet1.xml").decode("utf-8")


def _quote_prefix_styles(path: Path) -> set[int]:
    with zipfile.ZipFile(path) as z:
        styles = z.read("xl/styles.xml").decode("utf-8")
    xfs = re.search(r"<cellXfs[^>]*>(.*?)</cellXfs>", styles, re.S)
    assert xfs is not None
    return {
        i
        for i, xf in enumerate(re.findall(r"<xf\b[^>]*/?>", xfs.group(1)))
        if 'quotePrefix="1"' in xf
    }


@pytest.mark.parametrize("summary", [False, True], ids=["detail", "summary"])
def test_xlsx_cells_are_strings_never_formulas(
    hostile: tuple[list[dict[str, str]], dict], tmp_path: Path, summary: bool
) -> None:
    people, env = hostile
    extra = ["--summary"] if summary else []
    path = tmp_path / "r.xlsx"
    result = punchd("report", *WEEK, *extra, "--format", "xlsx", "-o", str(path), env=env)
    assert result.returncode == 0, result.stderr  # no IllegalCharacterError

    # The raw sheet: not one formula; every formula-like text is a string cell with the
    # quote prefix (so that editing it in Excel, WPS or LibreOffice keeps it text).
    xml = _sheet_xml(path)
    assert "<f>" not in xml and "<f " not in xml
    quoted = _quote_prefix_styles(path)
    for cell in re.findall(r"<c\b[^>]*>.*?</c>|<c\b[^>]*/>", xml, re.S):
        text = re.search(r"<t\b[^>]*>(.*?)</t>", cell, re.S)
        if text is None:
            continue
        assert re.search(r'\bt="(inlineStr|s|str)"', cell), cell
        if text.group(1).lstrip("\r\n").startswith(("=", "+", "-", "@", "\t")):
            style = re.search(r'\bs="(\d+)"', cell)
            assert style is not None and int(style.group(1)) in quoted, cell

    ws = openpyxl.load_workbook(path).active
    rows = [list(r) for r in ws.iter_rows(min_row=2, values_only=False)]
    header = [c.value for c in rows[0]]
    body = {
        r[0].value: dict(zip(header, r, strict=True))
        for r in rows[1:]
        if summary or r[header.index("Date")].value.day == 4  # Monday: late 10 min
    }
    assert len(rows) - 1 == len(people) * (1 if summary else 2)
    for person in people:
        # XML turns a stored CR into LF; control characters XML forbids are shown escaped
        expect = {k: safetext.xlsx_text(v).replace("\r", "\n") for k, v in person.items()}
        row = body[expect["employee_no"]]
        assert row["Name"].value == expect["name"] and row["Name"].data_type == "s"
        assert row["Dept code"].value == expect["dept_code"]
        assert row["Department"].value == expect["dept_name"]
        if not summary:
            assert row["Shift"].value == expect["shift"] and row["Shift"].data_type == "s"
        for cell in row.values():
            if isinstance(cell.value, str) and cell.value.startswith(safetext.FORMULA_START):
                assert cell.data_type == "s" and cell.quotePrefix
        late = row["Late (min)"]
        assert late.value == 10 and late.data_type == "n"  # a number, as it was
    names = {r["Name"].value for r in body.values()}
    if any("\x1b" in p["name"] for p in people):
        assert "\\x1b[2Jcls name" in names  # shown, not dropped


def test_xlsx_negative_numbers_stay_numbers(tmp_path: Path) -> None:
    from punchd.reports.export import write_xlsx
    from punchd.reports.model import Column, Report

    report = Report("t", "t", [Column("n", "int"), Column("s", "text")], [(-5, "-5"), (-1, "=1+1")])
    path = tmp_path / "n.xlsx"
    write_xlsx(report, path)
    ws = openpyxl.load_workbook(path).active
    assert (ws["A3"].value, ws["A3"].data_type) == (-5, "n")
    assert (ws["B3"].value, ws["B3"].data_type, ws["B3"].quotePrefix) == ("-5", "s", True)
    assert (ws["B4"].value, ws["B4"].data_type) == ("=1+1", "s")
    assert '<c r="A3" t="n"' in _sheet_xml(path) or re.search(
        r'<c r="A3"[^>]*t="n"[^>]*><v>-5</v>', _sheet_xml(path)
    )


# --------------------------------------------------------------------------- terminal


@pytest.mark.parametrize("summary", [False, True], ids=["detail", "summary"])
def test_terminal_table_shows_markup_and_controls_as_text(
    hostile: tuple[list[dict[str, str]], dict], tmp_path: Path, summary: bool
) -> None:
    people, env = hostile
    extra = ["--summary"] if summary else []
    result = punchd("report", *WEEK, *extra, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr  # markup errors used to crash every report
    assert "Traceback" not in result.stderr
    out = result.stdout
    # nothing a terminal would obey
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", out), repr(out[:400])
    assert "[/bold] x name" in out  # markup shown literally
    assert "[red]red[/red] name" in out
    assert "\\x1b[2Jcls name" in out and "bell\\x07 name" in out
    for person in people:
        assert safetext.visible(person["name"]) in out
    assert f"{len(people) * (1 if summary else 2)} rows" in out


def test_safetext_units() -> None:
    assert safetext.terminal("[/bold] x\x1b[2J\x07") == "\\[/bold] x\\x1b[2J\\x07"
    assert safetext.visible("a\u202eb\nc") == "a\\u202eb\\x0ac"
    assert safetext.visible("张三 ok") == "张三 ok"
    assert safetext.xlsx_text("a\x00b\x1bc\td\ne") == "a\\x00b\\x1bc\td\ne"
    for payload in FORMULAS:
        assert safetext.formula_safe(payload) == "'" + payload
        assert safetext.csv_cell(payload) == "'" + payload
    assert safetext.csv_cell(-5) == -5 and safetext.formula_safe("a=1") == "a=1"
