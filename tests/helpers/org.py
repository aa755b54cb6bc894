"""The example rules file and the organisation it names (departments, two employees)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from sqlalchemy import insert
from sqlalchemy.engine import Engine

from punchd.storage.schema import att_department, att_employee

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "rules.example.toml"
T0 = datetime(2026, 1, 1)


def seed_org(engine: Engine) -> dict[str, int]:
    """The departments of the example file and two employees; returns code/number → id."""
    ids: dict[str, int] = {}
    with engine.begin() as conn:
        for code in ("ADMIN", "WORKSHOP", "LINE-A", "LINE-B"):
            ids[code] = conn.execute(
                insert(att_department).values(
                    code=code, name=code.title(), created_at=T0, updated_at=T0, updated_by="t"
                )
            ).inserted_primary_key[0]
        for no, enroll, separated in (("E1001", "1001", None), ("E1002", None, date(2026, 3, 31))):
            ids[no] = conn.execute(
                insert(att_employee).values(
                    employee_no=no,
                    name=f"Person {no}",
                    department_id=ids["ADMIN"],
                    enroll_no=enroll,
                    hire_date=date(2020, 1, 1),
                    separation_date=separated,
                    created_at=T0,
                    updated_at=T0,
                    updated_by="t",
                )
            ).inserted_primary_key[0]
    return ids
