"""`punchd departments / employees / cards`: in-process with CliRunner, one real subprocess."""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner, Result

from punchd.cli.main import app
from punchd.hr import service as hr
from punchd.storage import hr as hr_store
from punchd.storage.database import make_engine
from punchd.storage.schema import att_audit, att_card, att_employee

from .cli_helpers import punchd

Run = Callable[..., Result]


@pytest.fixture
def env(db_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        "PUNCHD_DATABASE_URL": db_url,
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "PUNCHD_TIMEZONE": "Asia/Shanghai",
    }


@pytest.fixture
def run(env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    monkeypatch.chdir(tmp_path)  # no stray ./punchd.toml; templates land here
    runner = CliRunner()
    unset = {k: None for k in os.environ if k.startswith("PUNCHD_") and k not in env}

    def invoke(*args: str) -> Result:
        return runner.invoke(app, list(args), env={**unset, **env}, catch_exceptions=False)

    return invoke


@pytest.fixture
def conn_of(db_url: str):
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def lines(result: Result) -> list[str]:
    return [line.rstrip() for line in result.output.splitlines() if line.strip()]


def employee_rows(engine) -> dict[str, tuple]:
    with engine.connect() as conn:
        return {
            e.employee_no: (e.name, e.department_code, e.enroll_no, e.hire_date, e.separation_date)
            for e in hr.list_employees(conn)
        }


def fill_csv(template: Path, rows: list[list[str]]) -> Path:
    with template.open("a", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return template


def test_template_files(run: Run, tmp_path: Path) -> None:
    result = run("employees", "template")
    assert result.exit_code == 0
    assert lines(result) == ["wrote roster-template.csv", "wrote roster-template.xlsx"]
    assert (tmp_path / "roster-template.csv").read_text("utf-8-sig").startswith("employee_no,")
    again = run("employees", "template")
    assert again.exit_code == 2
    assert "roster-template.csv exists (use --force to overwrite it)" in again.output
    assert run("employees", "template", "--force").exit_code == 0
    result = run("employees", "template", "--output", "mine.xlsx")
    assert lines(result) == ["wrote mine.xlsx"]
    assert openpyxl.load_workbook(tmp_path / "mine.xlsx").sheetnames == ["roster", "README"]
    bad = run("employees", "template", "-o", "x.ods")
    assert bad.exit_code == 2 and "unknown file type '.ods'" in bad.output


def test_csv_round_trip_reimport_and_errors(run: Run, tmp_path: Path, conn_of) -> None:
    assert run("employees", "template", "-o", "roster.csv").exit_code == 0
    path = fill_csv(
        tmp_path / "roster.csv",
        [
            ["E1", "张三", "OPS", "Operations", "000101", "10000001", "2024-03-01", ""],
            ["E2", "Li Si", "OPS", "", "000102", "", "2024/4/1", ""],
        ],
    )
    result = run("employees", "import", str(path), "--by", "clerk")
    assert result.exit_code == 0, result.output
    assert lines(result) == [
        "imported roster.csv: 2 created, 0 updated, 0 unchanged; 1 card(s) issued; "
        "new department(s): OPS"
    ]
    assert employee_rows(conn_of) == {
        "E1": ("张三", "OPS", "000101", date(2024, 3, 1), None),
        "E2": ("Li Si", "OPS", "000102", date(2024, 4, 1), None),
    }
    with conn_of.connect() as conn:
        by = conn.execute(select(att_audit.c.changed_by).distinct()).scalars().all()
    assert by == ["clerk"]

    again = run("employees", "import", str(path))
    assert lines(again) == [
        "imported roster.csv: 0 created, 0 updated, 2 unchanged; 0 card(s) issued"
    ]

    # A file with bad rows: nothing at all is imported, every problem is listed.
    bad = fill_csv(
        tmp_path / "bad.csv",
        [
            ["employee_no", "name", "department", "enroll_no", "hire_date", "separation_date"],
            ["E1", "张三 (renamed)", "OPS", "000101", "2024-03-01", ""],  # fine on its own
            ["E3", "", "OPS", "000102", "2024-03-01", ""],  # no name, E2's enroll_no
            ["E4", "Wang", "QA", "12x", "2024-13-01", ""],
            ["E5", "Zhao", "QA", "", "2024-05-01", "2024-04-30"],
        ],
    )
    result = run("employees", "import", str(bad))
    assert result.exit_code == 2
    assert lines(result) == [
        "row 3, name: required, but empty",
        "row 3, enroll_no: 000102 belongs to employee E2 (Li Si)",
        "row 4, enroll_no: '12x' must be digits only",
        "row 4, hire_date: '2024-13-01' is not a date (use YYYY-MM-DD)",
        "row 5, separation_date: 2024-04-30 is before the hire_date 2024-05-01",
        "error: nothing imported: 5 error(s) in 3 row(s) of bad.csv",
    ]
    assert employee_rows(conn_of)["E1"][0] == "张三"  # row 2 was not imported either
    with conn_of.connect() as conn:
        assert conn.execute(select(func.count()).select_from(att_employee)).scalar() == 2

    missing = tmp_path / "missing.csv"
    missing.write_text("employee_no,name\nE1,x\n")
    result = run("employees", "import", str(missing))
    assert result.exit_code == 2
    assert lines(result) == [
        "row 1: missing required column(s): department, hire_date",
        "error: nothing imported: 1 error(s) in 1 row(s) of missing.csv",
    ]


def test_xlsx_round_trip_with_date_and_number_cells(run: Run, tmp_path: Path, conn_of) -> None:
    assert run("employees", "template", "-o", "roster.xlsx").exit_code == 0
    path = tmp_path / "roster.xlsx"
    wb = openpyxl.load_workbook(path)
    ws = wb["roster"]
    # What Excel hands over when the columns were numeric and the dates real dates.
    ws.append([1001, "Zhang", "OPS", None, 123456, 10000001.0, datetime(2024, 3, 1), None])
    ws.append(["E2", "Li", "QA", "Quality", "000102", None, date(2024, 4, 1), date(2025, 1, 31)])
    wb.save(path)
    dry = run("employees", "import", str(path), "--dry-run")
    assert lines(dry) == [
        "roster.xlsx: reading sheet 'roster'",
        "dry run, nothing written: 2 created, 0 updated, 0 unchanged; 1 card(s) issued; "
        "new department(s): OPS, QA",
    ]
    assert employee_rows(conn_of) == {}
    result = run("employees", "import", str(path))
    assert result.exit_code == 0, result.output
    assert employee_rows(conn_of) == {
        "1001": ("Zhang", "OPS", "123456", date(2024, 3, 1), None),
        "E2": ("Li", "QA", "000102", date(2024, 4, 1), date(2025, 1, 31)),
    }
    with conn_of.connect() as conn:
        card = conn.execute(select(att_card.c.card_no, att_card.c.effective_from)).one()
        depts = {d.code: d.name for d in hr.list_departments(conn)}
    assert tuple(card) == ("10000001", datetime(2024, 3, 1))
    assert depts == {"OPS": "OPS", "QA": "Quality"}

    listing = run("employees", "list")
    assert "1001" in listing.output and "E2" not in listing.output  # E2 left 2025-01-31
    assert lines(listing)[-1] == "1 employee(s); 1 leaver(s) hidden (--all shows them)"
    assert "E2" in run("employees", "list", "--all").output
    assert "1001" not in run("employees", "list", "--all", "--department", "QA").output
    unknown = run("employees", "list", "--department", "NOPE")
    assert (unknown.exit_code, lines(unknown)) == (2, ["error: unknown department 'NOPE'"])


def test_separate_unseparate_show(run: Run, tmp_path: Path, conn_of) -> None:
    path = tmp_path / "r.csv"
    path.write_text("employee_no,name,department,hire_date\nE1,Zhang,OPS,2024-03-01\n")
    assert run("employees", "import", str(path)).exit_code == 0
    refused = run("employees", "separate", "E1", "--date", "2024-02-29")
    assert refused.exit_code == 2
    assert lines(refused) == [
        "error: the separation date 2024-02-29 is before the hire date 2024-03-01 of employee 'E1'"
    ]
    result = run("employees", "separate", "E1", "--date", "2025-05-31", "--by", "boss")
    assert lines(result) == ["E1 (Zhang): separated, last day 2025-05-31"]
    assert employee_rows(conn_of)["E1"][4] == date(2025, 5, 31)
    assert lines(run("employees", "separate", "E1", "--date", "2025-05-31")) == [
        "E1 (Zhang): already separated on 2025-05-31"
    ]
    bad_date = run("employees", "separate", "E1", "--date", "31.05.2025")
    assert lines(bad_date) == ["error: --date must be a date YYYY-MM-DD, not '31.05.2025'"]
    show = run("employees", "show", "E1")
    assert "separation_date  2025-05-31" in show.output
    assert "boss  separate" in show.output
    result = run("employees", "unseparate", "E1")
    assert lines(result) == ["E1 (Zhang): separation date 2025-05-31 cleared"]
    assert employee_rows(conn_of)["E1"][4] is None
    with conn_of.connect() as conn:
        actions = conn.execute(
            select(att_audit.c.action, att_audit.c.changed_by)
            .where(att_audit.c.entity == "employee")
            .order_by(att_audit.c.id)
        ).all()
    assert [a for a, _ in actions] == ["create", "separate", "unseparate"]
    assert actions[1][1] == "boss"
    for args in (("show", "E9"), ("separate", "E9", "--date", "2025-01-01"), ("unseparate", "E9")):
        missing = run("employees", *args)
        assert (missing.exit_code, lines(missing)) == (2, ["error: unknown employee 'E9'"])


def test_departments_and_cards(run: Run, tmp_path: Path, conn_of) -> None:
    assert lines(run("departments", "add", "OPS", "Operations")) == [
        "department OPS (Operations) added"
    ]
    dup = run("departments", "add", "OPS", "Other")
    assert (dup.exit_code, lines(dup)) == (2, ["error: department 'OPS' already exists"])
    assert "Operations" in run("departments", "list").output
    path = tmp_path / "r.csv"
    path.write_text(
        "employee_no,name,department,hire_date\nE1,Zhang,OPS,2024-03-01\nE2,Li,OPS,2024-03-01\n"
    )
    assert run("employees", "import", str(path)).exit_code == 0

    issued = run("cards", "issue", "10000001", "E1", "--from", "2025-01-01 08:00", "--by", "hr")
    assert lines(issued) == ["card 10000001 → E1 (Zhang) from 2025-01-01 08:00:00"]
    passed = run("cards", "issue", "10000001", "E2", "--from", "2025-03-01")
    assert lines(passed) == ["card 10000001 → E2 (Li) from 2025-03-01 00:00:00 (passed on from E1)"]
    withdrawn = run("cards", "withdraw", "10000001", "--from", "2025-04-01 17:30")
    assert lines(withdrawn) == ["card 10000001 withdrawn from E2 at 2025-04-01 17:30:00"]
    now = run("cards", "issue", "10000002", "E1")  # default: now, site time
    assert now.exit_code == 0 and "card 10000002 → E1 (Zhang) from " in now.output
    history = run("cards", "list", "E1")
    assert "(withdrawn)" in history.output and history.output.count("10000001") == 3
    with conn_of.connect() as conn:
        index = hr_store.card_owner_index(conn)
        e1, e2 = hr.get_employee(conn, "E1").id, hr.get_employee(conn, "E2").id
    assert index.owner("10000001", datetime(2025, 2, 1)) == e1
    assert index.owner("10000001", datetime(2025, 3, 15)) == e2
    assert index.owner("10000001", datetime(2025, 4, 1, 17, 30)) is None

    for args, message in [
        (("issue", "10000003", "E9"), "error: unknown employee 'E9'"),
        (("withdraw", "424242"), "error: unknown card '424242'"),
        (("list", "E9"), "error: unknown employee 'E9'"),
        (
            ("issue", "1", "E1", "--from", "yesterday"),
            "error: --from must be a local time 'YYYY-MM-DD HH:MM', not 'yesterday'",
        ),
    ]:
        result = run("cards", *args)
        assert (result.exit_code, lines(result)) == (2, [message])


def test_import_as_a_real_command(env: dict[str, str], tmp_path: Path, conn_of) -> None:
    path = tmp_path / "roster.csv"
    path.write_bytes(
        "\ufeffemployee_no,name,department,enroll_no,card_no,hire_date\r\n"
        "E1,张三,OPS,000101,10000001,2024-03-01\r\n".encode()
    )
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PUNCHD_")}
    full_env.update(env, COLUMNS="200", NO_COLOR="1")
    result = punchd("employees", "import", str(path), "--by", "clerk", env=full_env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "imported roster.csv: 1 created, 0 updated, 0 unchanged; 1 card(s) issued; "
        "new department(s): OPS"
    )
    assert employee_rows(conn_of) == {"E1": ("张三", "OPS", "000101", date(2024, 3, 1), None)}
    listing = punchd("employees", "list", env=full_env)
    assert listing.returncode == 0 and "张三" in listing.stdout and "10000001" in listing.stdout


def test_import_names_the_sheet_and_reads_chinese_headers(
    run: Run, env: dict[str, str], tmp_path: Path, conn_of
) -> None:
    import openpyxl

    wb = openpyxl.Workbook()
    wb.active.title = "说明"
    ws = wb.create_sheet("花名册")
    ws.append(["工号", "姓名", "部门", "登记号码", "卡号", "入职日期", "离职日期"])
    ws.append(["A001", "李四", "生产部", "2001", "20000001", "2025-05-06", None])
    path = tmp_path / "hr.xlsx"
    wb.save(path)
    result = run("employees", "import", str(path))
    assert result.exit_code == 0, result.output
    assert "hr.xlsx: reading sheet '花名册'" in result.stderr
    assert employee_rows(conn_of) == {"A001": ("李四", "生产部", "2001", date(2025, 5, 6), None)}

    # too many rows for the setting: one line, nothing imported
    big = tmp_path / "big.csv"
    big.write_text(
        "工号,姓名,部门,入职日期\n" + "".join(f"B{n},N,OPS,2025-01-01\n" for n in range(6)),
        encoding="utf-8",
    )
    env["PUNCHD_MAX_ROSTER_ROWS"] = "5"
    refused = run("employees", "import", str(big))
    assert refused.exit_code == 2
    assert "more than 5 rows below the header (row 7)" in refused.stderr
    assert set(employee_rows(conn_of)) == {"A001"}
    env["PUNCHD_MAX_ROSTER_ROWS"] = "6"
    assert run("employees", "import", str(big)).exit_code == 0
    assert len(employee_rows(conn_of)) == 7
