"""`punchd period …`, `punchd export payroll` and `punchd db grant-payroll`, in-process with
CliRunner on every backend: one-line refusals, the late punch in `status`, byte-identical
exports, a password that never appears."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner, Result

from punchd.app import Site, attendance
from punchd.cli.main import app

from .test_payroll_role import _drop
from .test_periods import HR, MON2, NOV1, NOV30, WED4, collect
from .test_periods import site as site

Run = Callable[..., Result]


@pytest.fixture
def run(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    monkeypatch.chdir(tmp_path)
    env = {
        "PUNCHD_DATABASE_URL": db_url,
        "PUNCHD_DATA_DIR": str(tmp_path / "data"),
        "PUNCHD_TIMEZONE": "Asia/Shanghai",
        "COLUMNS": "250",
        "NO_COLOR": "1",
    }
    unset = {k: None for k in os.environ if k.startswith("PUNCHD_") and k not in env}
    runner = CliRunner()

    def invoke(*args: str, extra: dict[str, str] | None = None) -> Result:
        return runner.invoke(
            app, list(args), env={**unset, **env, **(extra or {})}, catch_exceptions=False
        )

    return invoke


def test_period_commands(site: Site, run: Run, tmp_path: Path) -> None:
    collect(site, tmp_path, "101", MON2, "07:55")
    attendance.process(site, NOV1, NOV30, actor=HR)

    refused = run("period", "close", "2026-11", "--by", "hr-anna")
    assert refused.exit_code == 2
    assert "2026-11 cannot be closed: 1 open items" in refused.stderr
    assert "E1 2026-11-02 missing_out" in refused.stderr
    assert "ready to close" not in run("period", "show", "2026-11").stdout
    assert run("period", "close", "2026-11", "--force").exit_code == 2  # no reason

    done = run("period", "close", "2026-11", "--force", "--reason", "deadline", "--by", "hr-anna")
    assert done.exit_code == 0, done.stderr
    assert "closed 2026-11 for everyone: version 1, 90 employee-days final, forced" in done.stdout

    edit = run("leave", "add", "E2", "--type", "annual", "--from", "2026-11-03")
    assert edit.exit_code == 2
    assert "closed pay period 2026-11" in edit.stderr and len(edit.stderr.splitlines()) == 1

    collect(site, tmp_path, "102", WED4, "07:58", "17:02")
    status = run("status")
    assert "punches arrived after close for 1 employee-days" in status.stdout
    shown = run("period", "show", "2026-11").stdout
    assert "2026-11: closed" in shown and "arrived after close: E2 Name E2 2026-11-04" in shown

    first = run("export", "payroll", "2026-11", "-f", "xlsx", "-o", "a.xlsx")
    second = run("export", "payroll", "2026-11", "-f", "xlsx", "-o", "b.xlsx")
    assert first.exit_code == second.exit_code == 0, first.stderr
    assert (tmp_path / "a.xlsx").read_bytes() == (tmp_path / "b.xlsx").read_bytes()
    assert (tmp_path / "a.xlsx.sha256").read_text().endswith("  a.xlsx\n")
    assert run("export", "payroll", "2026-10").exit_code == 2

    reopened = run("period", "reopen", "2026-11", "--reason", "late punches")
    assert reopened.exit_code == 0 and "reopened 2026-11 (version 1)" in reopened.stdout
    listed = run("period", "list").stdout
    assert "v1  reopened" in listed and "late punches" in listed
    assert run("period", "reopen", "2026-11", "--reason", "again").exit_code == 2


def test_grant_payroll_command(engine: Engine, run: Run) -> None:
    if engine.dialect.name == "sqlite":
        explained = run("db", "grant-payroll", "payroll_ro")
        assert explained.exit_code == 0 and "SQLite has no database roles" in explained.stdout
        return
    role = f"punchd_cli_{secrets.token_hex(4)}"
    password = secrets.token_hex(12)
    try:
        missing = run("db", "grant-payroll", role, "--password-env", "NO_SUCH_VAR_X")
        assert missing.exit_code == 2 and "NO_SUCH_VAR_X" in missing.stderr
        done = run(
            "db", "grant-payroll", role, "--password-env", "PAY_PW", extra={"PAY_PW": password}
        )
        assert done.exit_code == 0, done.stderr
        assert f"created {role}: SELECT on att_payroll_month, att_payroll_leave only" in done.stdout
        assert password not in done.stdout + done.stderr
    finally:
        _drop(engine, role)
