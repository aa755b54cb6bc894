"""The roster file: template, reading CSV/XLSX as Excel leaves them, checks without a database."""

from __future__ import annotations

import csv
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest

from punchd.hr.roster import (
    COLUMN_NAMES,
    RosterFileError,
    RosterRow,
    RowError,
    parse_rows,
    read_roster,
    write_template,
)

HEADER = "employee_no,name,department,enroll_no,card_no,hire_date,separation_date"


def write_csv(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def messages(errors: list[RowError]) -> list[str]:
    return [str(e) for e in errors]


def test_csv_template_is_a_header_with_bom(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    write_template(path)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    assert raw.decode("utf-8-sig").splitlines() == [",".join(COLUMN_NAMES)]
    roster = read_roster(path)
    assert (roster.rows, roster.errors, roster.warnings) == ([], [], [])


def test_xlsx_template_has_styled_header_text_columns_and_readme(tmp_path: Path) -> None:
    path = tmp_path / "t.xlsx"
    write_template(path)
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["roster", "README"]
    ws = wb["roster"]
    assert [c.value for c in ws[1]] == list(COLUMN_NAMES)
    assert all(c.font.bold for c in ws[1])
    assert ws.max_row == 1
    assert ws.column_dimensions["A"].number_format == "@"  # employee_no kept as text
    assert ws.column_dimensions["G"].number_format == "yyyy-mm-dd"  # hire_date
    readme = {row[0]: row for row in wb["README"].iter_rows(min_row=2, values_only=True)}
    assert readme["hire_date"][1] == "yes"
    assert readme["enroll_no"][1:3] == ("no", 24)


def test_csv_as_excel_saves_it(tmp_path: Path) -> None:
    """BOM, CRLF, whitespace, 123.0 numbers, YYYY/M/D dates, trailing empty rows."""
    text = (
        f"\ufeff {HEADER.replace(',', ' , ')}\r\n"
        " E001 , 张三 , OPS , 000123 , 12345678.0 , 2024/3/1 ,\r\n"
        "1002,Li Si,OPS,124.0,,2024-03-05 00:00:00,2024-12-31\r\n"
        ",,,,,,\r\n"
        ",,,,,,\r\n"
    )
    roster = read_roster(write_csv(tmp_path / "r.csv", text))
    assert roster.errors == []
    assert roster.rows == [
        RosterRow(2, "E001", "张三", "OPS", date(2024, 3, 1), None, "000123", "12345678", None),
        RosterRow(
            3, "1002", "Li Si", "OPS", date(2024, 3, 5), None, "124", None, date(2024, 12, 31)
        ),
    ]


def test_gb18030_csv_with_semicolons(tmp_path: Path) -> None:
    text = HEADER.replace(",", ";") + "\n" + "E1;王五;生产部;1;;2024-01-02;\n"
    roster = read_roster(write_csv(tmp_path / "r.csv", text, "gb18030"))
    assert roster.errors == []
    assert [(r.name, r.department) for r in roster.rows] == [("王五", "生产部")]


def test_full_width_digits_become_ascii(tmp_path: Path) -> None:
    text = HEADER + "\nE1,A,D,１２３,,２０２４－０１－０２,\n"
    roster = read_roster(write_csv(tmp_path / "r.csv", text))
    assert roster.errors == []
    assert (roster.rows[0].enroll_no, roster.rows[0].hire_date) == ("123", date(2024, 1, 2))


def test_every_bad_row_is_reported_with_row_column_reason(tmp_path: Path) -> None:
    long_name = "x" * 129
    text = "\n".join(
        [
            HEADER,
            "E1,Good,D,1,11,2024-01-01,",  # row 2 ok
            "E2,,D,2,,2024-01-01,",  # row 3 name empty
            "E3,C,D,12a,,01/02/2024,",  # row 4 digits, date
            "E4,D,D,4,1.23457E+11,2024-02-30,",  # row 5 scientific card, bad day
            f"E5,{long_name},D,5,,2024-01-01,2023-12-31",  # row 6 long, separation < hire
            "E1,Again,D,1,11,2024-01-01,",  # row 7 duplicates of row 2
        ]
    )
    roster = read_roster(write_csv(tmp_path / "r.csv", text))
    assert [r.row for r in roster.rows] == [2]
    assert messages(roster.errors) == [
        "row 3, name: required, but empty",
        "row 4, enroll_no: '12a' must be digits only",
        "row 4, hire_date: '01/02/2024' is not a date (use YYYY-MM-DD)",
        "row 5, card_no: '1.23457E+11' looks like Excel scientific notation: "
        "format the column as text and type the number again",
        "row 5, hire_date: '2024-02-30' is not a date (use YYYY-MM-DD)",
        "row 6, name: too long (129 characters, at most 128)",
        "row 6, separation_date: 2023-12-31 is before the hire_date 2024-01-01",
        "row 7, employee_no: E1 is already on row 2",
        "row 7, enroll_no: 1 is already on row 2",
        "row 7, card_no: 11 is already on row 2",
    ]


def test_header_problems(tmp_path: Path) -> None:
    roster = read_roster(write_csv(tmp_path / "a.csv", "employee_no,Name,foo,name\nE1,x,y,z\n"))
    assert messages(roster.errors) == [
        "row 1, name: the column appears twice",
        "row 1: missing required column(s): department, hire_date",
    ]
    assert roster.warnings == ["column 'foo' is not a roster column: ignored"]
    assert roster.rows == []
    empty = read_roster(write_csv(tmp_path / "b.csv", "\n\n"))
    assert messages(empty.errors) == ["row 1: the file is empty (no header row)"]


def test_department_name_must_agree_within_the_file() -> None:
    header = ["employee_no", "name", "department", "department_name", "hire_date"]
    roster = parse_rows(
        [
            (1, header),
            (2, ["E1", "A", "OPS", "Operations", "2024-01-01"]),
            (3, ["E2", "B", "OPS", "Ops team", "2024-01-01"]),
            (4, ["E3", "C", "OPS", None, "2024-01-01"]),
        ]
    )
    assert messages(roster.errors) == [
        "row 3, department_name: 'Ops team' differs from 'Operations' on row 2 for department OPS"
    ]
    assert [r.department_name for r in roster.rows] == ["Operations", None]


def test_xlsx_real_dates_and_numeric_cells(tmp_path: Path) -> None:
    path = tmp_path / "r.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Sheet1"  # not named "roster": the first sheet is read
    ws.append(HEADER.split(","))
    ws.append([1001, " Zhang ", "OPS", 123456, 12345678.0, datetime(2024, 3, 1), None])
    ws.append(["E2", "Li", "OPS", "000124", None, date(2024, 3, 2), "2024-06-30"])
    ws.append(["E3", "Bad", "OPS", None, None, 45352, datetime(2024, 7, 1, 12, 30)])
    ws.append([None] * 7)
    ws.append(["  "] * 7)
    wb.save(path)
    roster = read_roster(path)
    assert [(r.employee_no, r.name, r.enroll_no, r.card_no, r.hire_date) for r in roster.rows] == [
        ("1001", "Zhang", "123456", "12345678", date(2024, 3, 1)),
        ("E2", "Li", "000124", None, date(2024, 3, 2)),
    ]
    assert roster.rows[1].separation_date == date(2024, 6, 30)
    assert messages(roster.errors) == [
        "row 4, hire_date: 45352 is a number, not a date: format the cell as a date or type "
        "YYYY-MM-DD",
        "row 4, separation_date: 2024-07-01 12:30:00 has a time of day; give a date only",
    ]


def test_unsupported_files(tmp_path: Path) -> None:
    with pytest.raises(RosterFileError, match=r"old \.xls files are not supported"):
        read_roster(tmp_path / "r.xls")
    with pytest.raises(RosterFileError, match="no such file"):
        read_roster(tmp_path / "missing.csv")
    bogus = tmp_path / "r.xlsx"
    bogus.write_text("not a zip")
    with pytest.raises(RosterFileError, match="not a readable XLSX file"):
        read_roster(bogus)
    with pytest.raises(RosterFileError, match=r"unknown file type '\.ods'"):
        read_roster(tmp_path / "r.ods")


def test_csv_template_round_trip_via_csv_module(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    write_template(path)
    with path.open("a", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerow(["E9", "Nine", "D", "Dept", "9", "99", "2024-09-09", ""])
    roster = read_roster(path)
    assert roster.errors == []
    assert roster.rows == [
        RosterRow(2, "E9", "Nine", "D", date(2024, 9, 9), "Dept", "9", "99", None)
    ]


def test_utf16_tab_separated_unicode_text(tmp_path: Path) -> None:
    text = HEADER.replace(",", "\t") + "\r\nE1\t李\tD\t7\t\t2024-01-02\t\r\n"
    roster = read_roster(write_csv(tmp_path / "r.txt", text, "utf-16"))
    assert roster.errors == []
    assert [(r.name, r.enroll_no) for r in roster.rows] == [("李", "7")]


# ------------------------------------------------------------- sheets, aliases, hostile files

ROW = ["E1", "Zhang San", "OPS", "", "1001", "", "2024-01-02", ""]
ZH_HEADER = ["工号", "姓名", "部门", "部门名称", "登记号码", "卡号", "入职日期", "离职日期"]


def test_a_sheet_named_roster_is_preferred_and_chinese_headers_are_aliases(
    tmp_path: Path,
) -> None:
    wb = openpyxl.Workbook()
    wb.active.title = "说明"
    wb.active.append(["read me first"])
    for title in ("Sheet2", "花名册"):
        ws = wb.create_sheet(title)
        ws.append(ZH_HEADER)
        ws.append([f"{title}-1", "张三", "生产部", "生产部", "1001", "", "2024-01-02", ""])
    path = tmp_path / "hr.xlsx"
    wb.save(path)
    roster = read_roster(path)
    assert roster.sheet == "sheet '花名册'"
    assert (roster.errors, roster.warnings) == ([], [])
    (row,) = roster.rows
    assert (row.employee_no, row.name, row.department, row.enroll_no) == (
        "花名册-1",
        "张三",
        "生产部",
        "1001",
    )
    assert row.hire_date == date(2024, 1, 2)

    wb["花名册"].title = "Roster "  # any case, surrounding spaces
    wb.save(path)
    assert read_roster(path).sheet == "sheet 'Roster '"
    wb["Roster "].title = "Other"
    wb.save(path)
    roster = read_roster(path)  # no such sheet: the first one, and it says so
    assert roster.sheet == "sheet '说明' (the first of 3)"
    assert messages(roster.errors) == [
        "row 1: missing required column(s): employee_no, name, department, hire_date"
    ]


def test_control_characters_in_cells_are_row_column_errors(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "r.csv",
        "employee_no,name,department,hire_date\n"
        "E1,Zhang\x00San,OPS,2024-01-02\n"
        "E2,Li Si,OP\x1bS,2024-01-02\x07\n"
        "E3,Wang\tWu,OPS,2024-01-02\n",
    )
    assert messages(read_roster(path).errors) == [
        "row 2, name: contains the control character U+0000",
        "row 3, department: contains the control character U+001B",
        "row 3, hire_date: contains the control character U+0007",
        "row 4, name: contains the control character U+0009",
    ]


def test_reading_stops_at_an_empty_block_and_rows_are_capped(tmp_path: Path) -> None:
    body = "employee_no,name,department,hire_date\nE1,A,OPS,2024-01-02\n"
    path = write_csv(tmp_path / "r.csv", body + "\n" * 5000)
    assert [r.employee_no for r in read_roster(path).rows] == ["E1"]
    # data after the empty block would be left unread: refused, not silently dropped
    path = write_csv(tmp_path / "r.csv", body + ",,,\n" * 150 + "E2,B,OPS,2024-01-02\n")
    with pytest.raises(RosterFileError, match=r"row 153 comes after 100 or more empty rows"):
        read_roster(path)
    many = body + "".join(f"E{n},N,OPS,2024-01-02\n" for n in range(2, 12))
    path = write_csv(tmp_path / "r.csv", many)
    assert len(read_roster(path, max_rows=11).rows) == 11
    with pytest.raises(RosterFileError, match=r"more than 10 rows below the header \(row 12\)"):
        read_roster(path, max_rows=10)


def test_an_xlsx_formatted_down_to_the_last_row_is_read_in_bounded_work(tmp_path: Path) -> None:
    """A sheet XML with a cell on row 1,048,576: the rows in between are never built."""
    import time
    import zipfile

    path = tmp_path / "t.xlsx"
    write_template(path)
    wb = openpyxl.load_workbook(path)
    wb["roster"].append(ROW)
    wb.save(path)
    with zipfile.ZipFile(path) as z:
        parts = {name: z.read(name) for name in z.namelist()}
    sheet = parts["xl/worksheets/sheet1.xml"].decode()
    far = '<row r="1048576"><c r="A1048576" t="inlineStr"><is><t>X</t></is></c></row>'
    parts["xl/worksheets/sheet1.xml"] = sheet.replace("</sheetData>", far + "</sheetData>").encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            z.writestr(name, data)
    started = time.monotonic()
    roster = read_roster(path)
    assert time.monotonic() - started < 30  # a bound, not a benchmark (bench/roster_files.py)
    assert [r.employee_no for r in roster.rows] == ["E1"]


def _mutated_template(tmp_path: Path, part: str, old: str, new: str) -> Path:
    import zipfile

    path = tmp_path / "m.xlsx"
    write_template(path)
    wb = openpyxl.load_workbook(path)
    wb["roster"].append(ROW)
    wb.save(path)
    with zipfile.ZipFile(path) as z:
        parts = {name: z.read(name) for name in z.namelist()}
    text = parts[part].decode()
    assert old in text
    parts[part] = text.replace(old, new).encode()
    with zipfile.ZipFile(path, "w") as z:
        for name, data in parts.items():
            z.writestr(name, data)
    return path


@pytest.mark.parametrize(
    ("part", "old", "new", "expected"),
    [
        ("xl/worksheets/sheet1.xml", 'r="A2"', 'r="A"', r"sheet 'roster', after row 1"),
        ("xl/worksheets/sheet1.xml", 'r="B2"', 'r="!!"', r"sheet 'roster', after row 1"),
        ("xl/worksheets/sheet1.xml", "</sheetData>", "", r"not readable"),
        ("xl/workbook.xml", "<sheets>", "<sheets/><x>", r"not a readable XLSX file"),
        ("[Content_Types].xml", "<Types", "<Typos", r"not a readable XLSX file"),
    ],
)
def test_a_broken_xlsx_is_one_line_naming_the_file(
    tmp_path: Path, part: str, old: str, new: str, expected: str
) -> None:
    path = _mutated_template(tmp_path, part, old, new)
    with pytest.raises(RosterFileError, match=expected) as info:
        read_roster(path)
    assert str(info.value).startswith(f"{path}: ") and "\n" not in str(info.value)


def test_a_workbook_without_worksheets(tmp_path: Path) -> None:
    import re
    import zipfile

    path = tmp_path / "t.xlsx"
    write_template(path)
    with zipfile.ZipFile(path) as z:
        parts = {name: z.read(name) for name in z.namelist()}
    parts["xl/workbook.xml"] = re.sub(
        rb"<sheets>.*</sheets>", b"<sheets/>", parts["xl/workbook.xml"], flags=re.S
    )
    with zipfile.ZipFile(path, "w") as z:
        for name, data in parts.items():
            z.writestr(name, data)
    with pytest.raises(RosterFileError) as info:
        read_roster(path)
    assert str(info.value).startswith(f"{path}: ")


def test_undecodable_and_truncated_files(tmp_path: Path) -> None:
    odd = tmp_path / "odd.csv"
    odd.write_bytes(b"\xff\xfe" + "employee_no".encode("utf-16-le") + b"x")
    with pytest.raises(RosterFileError, match=r"odd.csv: not valid UTF-16 text \(byte 25\)"):
        read_roster(odd)
    good = tmp_path / "t.xlsx"
    write_template(good)
    cut = tmp_path / "cut.xlsx"
    cut.write_bytes(good.read_bytes()[:-100])
    with pytest.raises(RosterFileError, match=r"cut.xlsx: not a readable XLSX file"):
        read_roster(cut)
    wide = write_csv(tmp_path / "wide.csv", "x" * 200_000 + "\n")
    with pytest.raises(RosterFileError, match=r"wide.csv: row 1: not readable as CSV"):
        read_roster(wide)


def test_dates_out_of_range(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "r.csv",
        "employee_no,name,department,hire_date\nE1,A,OPS,0001-01-01\nE2,B,OPS,2200-01-01\n",
    )
    assert messages(read_roster(path).errors) == [
        "row 2, hire_date: 0001-01-01 is not between 1900-01-01 and 2199-12-31",
        "row 3, hire_date: 2200-01-01 is not between 1900-01-01 and 2199-12-31",
    ]
