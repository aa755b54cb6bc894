"""Revision 0010 (web punches): an existing database gains ``att_employee.web_punch`` (off
for everyone) and ``att_punch.client_address`` (NULL for the punches it has); going back
keeps web punches, as manual ones. On every backend."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import inspect, text

from punchd.storage.database import current_revision, downgrade, make_engine, upgrade

T0 = datetime(2026, 3, 2, 1, 0)


def test_upgrade_to_0010_and_back(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        upgrade(engine, "0009")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO att_department (code, name, created_at, updated_at, updated_by)"
                    " VALUES ('OPS', 'Operations', :t, :t, 't')"
                ),
                {"t": T0},
            )
            conn.execute(
                text(
                    "INSERT INTO att_employee (employee_no, name, department_id, hire_date,"
                    " created_at, updated_at, updated_by) SELECT 'E1', 'Zhang', id, :d, :t, :t,"
                    " 't' FROM att_department"
                ),
                {"t": T0, "d": T0.date()},
            )
            conn.execute(
                text(
                    "INSERT INTO att_punch (employee_id, enroll_no, punched_at, punched_at_utc,"
                    " state, source, collected_at, void) SELECT id, '', :t, :t, 'in', 'manual',"
                    " :t, :f FROM att_employee"
                ),
                {"t": T0, "f": False},
            )
        upgrade(engine, "0010")
        assert current_revision(engine) == "0010"
        with engine.begin() as conn:
            assert conn.execute(text("SELECT web_punch FROM att_employee")).scalar() in (
                False,
                0,
            )
            assert conn.execute(text("SELECT client_address FROM att_punch")).scalar() is None
            conn.execute(
                text(
                    "INSERT INTO att_punch (employee_id, enroll_no, punched_at, punched_at_utc,"
                    " state, source, collected_at, void, created_by, client_address) SELECT id,"
                    " '', :t, :t, 'out', 'web', :t, :f, 'emma', '10.0.0.7' FROM att_employee"
                ),
                {"t": T0, "f": False},
            )
        downgrade(engine, "0009")
        assert "web_punch" not in {c["name"] for c in inspect(engine).get_columns("att_employee")}
        assert "client_address" not in {c["name"] for c in inspect(engine).get_columns("att_punch")}
        with engine.connect() as conn:
            sources = conn.execute(text("SELECT source FROM att_punch ORDER BY id")).scalars()
            assert list(sources) == ["manual", "manual"]
            views = conn.execute(text("SELECT COUNT(*) FROM att_month_summary")).scalar()
            assert views == 0  # the payroll views still read the tables
        upgrade(engine, "0010")
        assert current_revision(engine) == "0010"
    finally:
        engine.dispose()
