"""`punchd db grant-payroll`: a real database role that reads the payroll views and cannot
write (PostgreSQL, MariaDB); on SQLite the file-permission equivalent is explained."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from punchd.app import Actor, Site
from punchd.app import periods as ops
from punchd.config import Settings

HR = Actor("dba")


def _drop(engine: Engine, role: str) -> None:
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql(f'DROP OWNED BY "{role}"')
            conn.exec_driver_sql(f'DROP ROLE IF EXISTS "{role}"')
        else:
            conn.exec_driver_sql(f"DROP USER IF EXISTS '{role}'@'%%'")


def test_payroll_role_reads_the_views_and_cannot_write(engine: Engine, tmp_path: Path) -> None:
    site = Site(Settings(data_dir=tmp_path), engine)
    role = f"punchd_pay_{secrets.token_hex(4)}"
    if engine.dialect.name == "sqlite":
        done = ops.grant_payroll(site, role, password=None, actor=HR)
        assert done.action == "explained" and "read-only" in done.explanation
        return
    password = "pw-" + secrets.token_hex(8) + "'%\\"  # quotes, percent, backslash survive
    try:
        assert ops.grant_payroll(site, role, password=password, actor=HR).action == "created"
        again = ops.grant_payroll(site, role, password=password, actor=HR)
        assert again.action == "updated"
        as_payroll = create_engine(
            engine.url.set(username=role, password=password), poolclass=NullPool
        )
        try:
            with as_payroll.connect() as conn:
                for view in ("att_payroll_month", "att_payroll_leave"):
                    assert conn.execute(text(f"SELECT COUNT(*) FROM {view}")).scalar_one() == 0
            for sql in (
                "SELECT COUNT(*) FROM att_day",
                "SELECT COUNT(*) FROM att_month_summary",
                "INSERT INTO att_department (code, name, created_at, updated_at, updated_by)"
                " VALUES ('X', 'X', '2026-01-01', '2026-01-01', 'x')",
                "DELETE FROM att_payroll_month",
                "CREATE TABLE payroll_own (id INTEGER)",
            ):
                with pytest.raises(DBAPIError), as_payroll.begin() as conn:
                    conn.execute(text(sql))
        finally:
            as_payroll.dispose()
        with pytest.raises(ops.PeriodError, match="letters, digits"):
            ops.grant_payroll(site, "bad-name;", password=None, actor=HR)
    finally:
        _drop(engine, role)
