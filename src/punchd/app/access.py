"""What a signed-in account may do and see: its role's permissions and its scope.

The console checks both on the server for every page, download and API call: ``can`` for
the operation, ``sees_department`` (and ``employee_id`` for self-service) for the object.
A forbidden object is reported as :class:`NotFound`, exactly like a missing one, so that
nobody learns what exists outside their scope.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from punchd.app.accounts import Account
from punchd.app.site import Site
from punchd.errors import PunchdError
from punchd.storage import hr as hr_store

PERMISSIONS: Final[dict[str, frozenset[str]]] = {
    "admin": frozenset(
        {
            "clocks.view",
            "clocks.collect",
            "accounts.manage",
            "results.view",
            "hr.change",
            "periods.view",
            "periods.close",
            "rules.view",
            "rules.change",
        }
    ),
    "hr": frozenset(
        {
            "clocks.view",
            "clocks.collect",
            "results.view",
            "hr.change",
            "periods.view",
            "periods.close",
            "rules.view",
            "rules.change",
        }
    ),
    "leader": frozenset({"results.view"}),
    # pay periods: payroll sees which months are final, never closes or reopens one
    "payroll": frozenset({"results.view", "periods.view", "rules.view"}),
    # self.punch: sign in / sign out in the page, where HR enabled it for them and their network
    "employee": frozenset({"self.view", "self.punch"}),
}


class NotFound(PunchdError):
    """Not there, or not the account's to see: the two look the same."""


@dataclass(frozen=True)
class Scope:
    account: Account
    #: admin, payroll, and hr without assigned departments
    all_departments: bool
    #: otherwise: the assigned (hr) or led (leader) departments and every one below them
    department_ids: frozenset[int]
    #: role employee: the linked employee (they see nothing else)
    employee_id: int | None

    def can(self, permission: str) -> bool:
        return not self.account.disabled and permission in PERMISSIONS.get(
            self.account.role, frozenset()
        )

    def sees_department(self, department_id: int) -> bool:
        return self.all_departments or department_id in self.department_ids


def scope_for(site: Site, account: Account) -> Scope:
    """What ``account`` may see, read now from the database (departments and their tree)."""
    role = account.role
    if role in ("admin", "payroll") or (role == "hr" and not account.departments):
        return Scope(account, True, frozenset(), None)
    with site.engine.connect() as conn:
        if role in ("hr", "leader"):
            roots = [
                d
                for d in (hr_store.department_id(conn, code) for code in account.departments)
                if d is not None
            ]
            below = hr_store.department_descendants(conn, roots)
            return Scope(account, False, frozenset(below), None)
        # role employee (or one this version does not know): themselves at most
        employee_id: int | None = None
        if role == "employee" and account.employee_no is not None:
            found = hr_store.find_employee(conn, account.employee_no)
            employee_id = int(found["id"]) if found is not None else None
        return Scope(account, False, frozenset(), employee_id)


__all__ = ["PERMISSIONS", "NotFound", "Scope", "scope_for"]
