"""`punchd process` and `punchd report`, in-process with CliRunner."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from typer.testing import CliRunner, Result

from punchd.cli.main import app
from punchd.storage.schema import att_audit, att_day

from .helpers.week import MON, Site, at, build_site, days_of, present

Run = Callable[..., Result]


@pytest.fixture
def site(engine: Engine) -> Site:
    return build_site(engine)


@pytest.fixture
def run(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    monkeypatch.chdir(tmp_path)  # no stray ./punchd.toml; default report files land here
    env = {
        "PUNCHD_DATABASE_URL": db_url,
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "PUNCHD_TIMEZONE": "Asia/Shanghai",
        "COLUMNS": "250",
        "NO_COLOR": "1",
    }
    unset = {k: None for k in os.environ if k.startswith("PUNCHD_") and k not in env}
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(app, list(args), env={**unset, **env}, catch_exceptions=False)

    return invoke


def error_line(result: Result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_process_command(site: Site, run: Run) -> None:
    result = run("process", "--from", "2024-03-04", "--to", "2024-03-10", "--by", "hr-wang")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().startswith(
        "processed 2024-03-04 … 2024-03-10: 4 employees, 28 employee-days, "
    )
    assert "exceptions in" in result.stdout
    assert days_of(site.engine, site.emp["E1"])[0] == present(
        MON, at(MON, "07:55"), at(MON, "17:02")
    )
    with site.engine.connect() as c:
        audit = c.execute(select(att_audit)).mappings().one()
    assert (audit["changed_by"], audit["action"]) == ("hr-wang", "process")
    assert json.loads(audit["detail"])["employee_days"] == 28

    result = run("process", "--from", "2024-03-05", "--to", "2024-03-05", "-e", "E1", "-e", "E2")
    assert result.exit_code == 0, result.output
    assert "2 employees, 2 employee-days" in result.stdout
    result = run("process", "--from", "2024-03-05", "--to", "2024-03-05", "--department", "FAC")
    assert "2 employees, 2 employee-days" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2024-03-32", "--to", "2024-03-10"], "--from: not a date"),
        (["--from", "2024-03-04", "--to", "yesterday"], "--to: not a date"),
        (["--from", "2024-03-10", "--to", "2024-03-04"], "--to 2024-03-04 is before --from"),
        (
            ["--from", "2024-03-04", "--to", "2024-03-10", "--department", "XX"],
            "unknown department 'XX'",
        ),
        (["--from", "2024-03-04", "--to", "2024-03-10", "-e", "NOPE"], "unknown employee"),
    ],
)
def test_process_errors_are_one_line(site: Site, run: Run, args: list[str], message: str) -> None:
    result = run("process", *args)
    assert result.exit_code == 2
    line = error_line(result)
    assert line.startswith("error: ") and message in line
    with site.engine.connect() as c:
        assert c.execute(select(func.count()).select_from(att_day)).scalar_one() == 0


def test_report_formats(site: Site, run: Run, tmp_path: Path) -> None:
    assert run("process", "--from", "2024-03-04", "--to", "2024-03-10").exit_code == 0
    week = ("--from", "2024-03-04", "--to", "2024-03-10")

    result = run("report", *week, "--format", "csv")
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(result.stdout_bytes.decode("utf-8-sig"))))
    assert rows[0][:5] == ["Employee no", "Name", "Dept code", "Department", "Date"]
    assert len(rows) == 1 + 28
    assert rows[2][:14] == [
        "E1", "张三", "OFF", "办公室", "2024-03-05", "Tue", "OFFICE", "present",
        "2024-03-05 08:12:30", "2024-03-05 16:40:00", "540", "508", "12", "20",
    ]  # fmt: skip

    result = run("report", *week, "--only", "late", "-f", "csv", "-o", "late.csv")
    assert result.exit_code == 0, result.output
    assert "2 rows written to late.csv" in result.stderr
    rows = list(csv.reader(io.StringIO((tmp_path / "late.csv").read_text("utf-8-sig"))))
    assert [(r[0], r[4], r[12]) for r in rows[1:]] == [
        ("E1", "2024-03-05", "12"),
        ("E2", "2024-03-05", "30"),
    ]

    result = run("report", *week, "--department", "FAC", "--format", "xlsx")
    assert result.exit_code == 0, result.output
    path = tmp_path / "punchd-detail-2024-03-04-2024-03-10.xlsx"
    ws = openpyxl.load_workbook(path).active
    assert ws.max_row == 2 + 14
    assert [c.value for c in ws[3]][:9] == [
        "E3", "王五", "FAC", "车间", datetime(2024, 3, 4), "Mon", "OFFICE", "absent", None,
    ]  # fmt: skip
    assert ws["K3"].value == 540

    result = run("report", *week, "--summary", "-f", "xlsx", "-o", "month.xlsx")
    assert result.exit_code == 0, result.output
    ws = openpyxl.load_workbook(tmp_path / "month.xlsx").active
    assert [c.value for c in ws[3]][:7] == ["E1", "张三", "OFF", "办公室", "2024-03", 7, 4]

    result = run("report", *week, "--summary", "-e", "E2", "-f", "csv")
    rows = list(csv.reader(io.StringIO(result.stdout_bytes.decode("utf-8-sig"))))
    assert len(rows) == 2 and rows[1][:6] == ["E2", "李四", "OFF", "办公室", "2024-03", "7"]

    result = run("report", *week, "-e", "E1")
    assert result.exit_code == 0, result.output
    assert "张三" in result.stdout and "Employee detail" in result.stdout
    assert "李四" not in result.stdout
    assert "7 rows" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2024-02-30", "--to", "2024-03-10"], "--from: not a date"),
        (["--from", "2024-03-10", "--to", "2024-03-04"], "is before --from"),
        (
            ["--from", "2024-03-04", "--to", "2024-03-10", "--department", "XX"],
            "unknown department 'XX'",
        ),
        (["--from", "2024-03-04", "--to", "2024-03-10", "--only", "lazy"], "unknown kind"),
        (["--from", "2024-03-04", "--to", "2024-03-10", "-f", "pdf"], "--format must be"),
        (["--from", "2024-03-04", "--to", "2024-03-10", "--summary", "--only", "late"], "--only"),
        (["--from", "2024-03-04", "--to", "2024-03-10", "-o", "x.txt"], "--output needs"),
        (
            ["--from", "2024-03-04", "--to", "2024-03-10", "--summary", "--department", "XX"],
            "unknown",
        ),
    ],
)
def test_report_errors_are_one_line(site: Site, run: Run, args: list[str], message: str) -> None:
    result = run("report", *args)
    assert result.exit_code == 2
    line = error_line(result)
    assert line.startswith("error: ") and message in line
    assert result.stdout == ""


def test_report_of_unprocessed_range_is_empty(site: Site, run: Run) -> None:
    result = run("report", "--from", "2024-03-04", "--to", "2024-03-04", "-f", "csv")
    assert result.exit_code == 0
    rows = list(csv.reader(io.StringIO(result.stdout_bytes.decode("utf-8-sig"))))
    assert len(rows) == 1  # the header only
