"""The employee, department or shift an edit names, or a :class:`RulesError` saying which
one does not exist."""

from __future__ import annotations

from typing import TYPE_CHECKING

from punchd.rules.errors import RulesError
from punchd.storage import hr as hr_store
from punchd.storage import rules as stored

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Row


def employee(conn: Connection, employee_no: str) -> Row:
    """The ``att_employee`` row of a staff number."""
    row = stored.employee_by_no(conn, employee_no)
    if row is None:
        raise RulesError(f"unknown employee {employee_no!r}")
    return row


def department_id(conn: Connection, code: str) -> int:
    """``att_department.id`` of a department code (the one lookup, storage.hr's)."""
    found = hr_store.department_id(conn, code)
    if found is None:
        raise RulesError(f"unknown department {code!r}")
    return found


def shift(conn: Connection, code: str) -> Row:
    row = stored.shift_by_code(conn, code)
    if row is None:
        known = stored.shift_codes(conn)
        raise RulesError(
            f"unknown shift {code!r} (known: {', '.join(known) or 'none; run `punchd rules load`'})"
        )
    return row


def target(
    conn: Connection, employee_no: str | None, department_code: str | None
) -> tuple[int | None, int | None, str]:
    """(employee_id, department_id, label) of exactly one of the two."""
    if (employee_no is None) == (department_code is None):
        raise RulesError("give exactly one of an employee or a department")
    if employee_no is not None:
        return employee(conn, employee_no).id, None, f"employee {employee_no}"
    assert department_code is not None
    return None, department_id(conn, department_code), f"department {department_code}"
