"""Roles and scopes (punchd.app.access) and the department tree they rest on."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from punchd.app import Actor, Site, people
from punchd.app import accounts as acc
from punchd.app.access import PERMISSIONS, NotFound, scope_for
from punchd.config import Settings
from punchd.errors import PunchdError
from punchd.hr.service import HRError
from punchd.hr.service import NotFound as UnknownDepartment
from punchd.storage.schema import att_audit, att_employee

ADMIN = Actor("root-admin")
T0 = datetime(2026, 3, 2, 1, 0, 0)
PASSWORD = "correct horse battery"

#        HQ
#       /  \
#     OPS   SALES
#    /   \
#  OPS-A  OPS-B
#    |
#  OPS-A1
TREE = {"HQ": None, "OPS": "HQ", "SALES": "HQ", "OPS-A": "OPS", "OPS-B": "OPS", "OPS-A1": "OPS-A"}


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(acc, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    yield


@pytest.fixture
def site(engine: Engine, tmp_path: Path) -> Site:
    site = Site(Settings(data_dir=tmp_path, timezone="Asia/Shanghai"), engine)
    for code, parent in TREE.items():
        people.add_department(site, code, code.title(), actor=ADMIN)
        if parent is not None:
            people.set_department_parent(site, code, parent, actor=ADMIN)
    with site.engine.begin() as conn:
        conn.execute(
            insert(att_employee).values(
                employee_no="E1",
                name="Zhang San",
                department_id=people.store.department_id(conn, "OPS-A1"),
                hire_date=date(2020, 1, 1),
                created_at=T0,
                updated_at=T0,
                updated_by="t",
            )
        )
    return site


def ids(site: Site, *codes: str) -> frozenset[int]:
    with site.engine.connect() as conn:
        return frozenset(people.store.department_id(conn, c) for c in codes)


def test_department_tree_in_the_listing(site: Site) -> None:
    parents = {d.department.code: d.parent_code for d in people.list_departments(site)}
    assert parents == TREE


def test_a_parent_cycle_is_refused(site: Site) -> None:
    for code, parent in (("OPS", "OPS-A1"), ("OPS", "OPS"), ("HQ", "SALES")):
        with pytest.raises(HRError, match="cycle"):
            people.set_department_parent(site, code, parent, actor=ADMIN)
    with pytest.raises(UnknownDepartment):
        people.set_department_parent(site, "OPS", "NOPE", actor=ADMIN)
    assert {d.department.code: d.parent_code for d in people.list_departments(site)} == TREE
    # moving a subtree elsewhere and back to the top is fine, and audited
    moved = people.set_department_parent(site, "OPS-A", "SALES", actor=ADMIN)
    assert moved.parent_code == "SALES"
    assert people.set_department_parent(site, "OPS-A", None, actor=ADMIN).parent_code is None
    with site.engine.connect() as conn:
        details = (
            conn.execute(
                select(att_audit.c.detail).where(
                    att_audit.c.entity == "department", att_audit.c.entity_key == "OPS-A"
                )
            )
            .scalars()
            .all()
        )
    assert '{"parent": ["OPS", "SALES"]}' in details and '{"parent": ["SALES", null]}' in details


def test_leader_sees_led_and_below_not_siblings_or_parents(site: Site) -> None:
    leader = acc.add_account(site, "lead", PASSWORD, "leader", actor=ADMIN, departments=["OPS-A"])
    scope = scope_for(site, leader)
    assert not scope.all_departments and scope.employee_id is None
    assert scope.department_ids == ids(site, "OPS-A", "OPS-A1")
    for code in ("OPS", "OPS-B", "HQ", "SALES"):
        assert not scope.sees_department(*ids(site, code))
    assert scope.can("results.view") and not scope.can("hr.change")
    assert not scope.can("clocks.collect") and not scope.can("accounts.manage")

    top = acc.add_account(site, "top", PASSWORD, "leader", actor=ADMIN, departments=["HQ"])
    assert scope_for(site, top).department_ids == ids(site, *TREE)
    two = acc.add_account(
        site, "two", PASSWORD, "leader", actor=ADMIN, departments=["OPS-B", "SALES"]
    )
    assert scope_for(site, two).department_ids == ids(site, "OPS-B", "SALES")


def test_scope_follows_the_tree(site: Site) -> None:
    leader = acc.add_account(site, "lead", PASSWORD, "leader", actor=ADMIN, departments=["OPS-B"])
    people.set_department_parent(site, "OPS-A", "OPS-B", actor=ADMIN)
    assert scope_for(site, leader).department_ids == ids(site, "OPS-B", "OPS-A", "OPS-A1")


def test_hr_assigned_or_all(site: Site) -> None:
    everyone = scope_for(site, acc.add_account(site, "hr-all", PASSWORD, "hr", actor=ADMIN))
    assert everyone.all_departments and everyone.sees_department(*ids(site, "SALES"))
    assert everyone.can("hr.change") and everyone.can("clocks.collect")
    assert not everyone.can("accounts.manage")
    sales = scope_for(
        site, acc.add_account(site, "hr-s", PASSWORD, "hr", actor=ADMIN, departments=["SALES"])
    )
    assert not sales.all_departments
    assert sales.department_ids == ids(site, "SALES")
    assert not sales.sees_department(*ids(site, "OPS"))


def test_admin_payroll_and_employee(site: Site) -> None:
    admin = scope_for(site, acc.add_account(site, "adm", PASSWORD, "admin", actor=ADMIN))
    assert admin.all_departments and all(admin.can(p) for p in PERMISSIONS["admin"])
    assert not admin.can("self.view") and not admin.can("no.such.thing")
    payroll = scope_for(site, acc.add_account(site, "pay", PASSWORD, "payroll", actor=ADMIN))
    assert payroll.all_departments and payroll.can("results.view")
    assert not payroll.can("hr.change") and not payroll.can("clocks.collect")
    me = acc.add_account(site, "zhang", PASSWORD, "employee", actor=ADMIN, employee_no="E1")
    mine = scope_for(site, me)
    assert not mine.all_departments and mine.department_ids == frozenset()
    with site.engine.connect() as conn:
        e1 = conn.execute(select(att_employee.c.id).where(att_employee.c.employee_no == "E1"))
        assert mine.employee_id == e1.scalar_one()
    assert not mine.sees_department(*ids(site, "OPS-A1"))
    assert mine.can("self.view") and not mine.can("results.view")


def test_a_disabled_account_can_do_nothing(site: Site) -> None:
    acc.add_account(site, "adm", PASSWORD, "admin", actor=ADMIN)
    disabled = acc.disable_account(site, "adm", actor=ADMIN)
    assert not scope_for(site, disabled).can("results.view")


def test_not_found_is_a_punchd_error() -> None:
    assert issubclass(NotFound, PunchdError)
