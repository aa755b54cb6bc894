"""HR assigned to some departments sees and changes only those (and the departments below
them): everything else answers 404 like what does not exist, and nothing of it leaks into
a form's messages. Organisation (conftest): OPS > OPS-A (E1), SALES (E2); here the HR
account ``hops`` is assigned OPS."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from fastapi.testclient import TestClient

from punchd.app import access, people
from punchd.app import accounts as acc

from .conftest import ADMIN, PASSWORD, csrf_of, sign_in


@pytest.fixture
def hops(app, site):
    acc.add_account(site, "hops", PASSWORD, "hr", actor=ADMIN, departments=("OPS",))
    with TestClient(app) as client:
        assert sign_in(client, "hops").status_code == 303
        yield client


def _shown(page: str) -> str:
    """The page without its form tokens: a random token may hold any two letters."""
    return re.sub(r'name="csrf" value="[^"]*"', "", page)


def _post(client, url: str, data: dict | None = None):
    token = csrf_of(client.get("/people/employees").text)
    return client.post(url, data={"csrf": token, **(data or {})}, follow_redirects=False)


def test_the_tree_and_the_list_hold_only_the_assigned_departments(hops) -> None:
    tree = hops.get("/people/departments").text
    assert re.findall(r'<tr data-department="([^"]+)"', tree) == ["OPS", "OPS-A"]
    assert "SALES" not in tree
    listing = hops.get("/people/employees", params={"status": "all"}).text
    assert re.findall(r'<tr data-employee="([^"]+)"', listing) == ["E1"]
    assert "SALES" not in listing and "Li Si" not in listing
    # searching for someone else finds nothing
    assert 'data-total="0"' in hops.get("/people/employees", params={"q": "Li Si"}).text
    assert hops.get("/people/employees", params={"department": "SALES"}).status_code == 404
    assert hops.get("/people/employees", params={"department": "NOPE"}).status_code == 404


@pytest.mark.parametrize(
    ("method", "url", "data"),
    [
        ("GET", "/people/employee/E2", None),
        ("GET", "/people/separate/E2?on=2025-01-01", None),
        ("GET", "/people/separate/E2?on=bad", None),
        ("GET", "/people/unseparate/E2", None),
        ("GET", "/people/department/SALES", None),
        ("POST", "/people/edit-employee/E2", {"name": "x", "department": "OPS"}),
        ("POST", "/people/issue-card/E2", {"card_no": "1", "at": "nonsense"}),
        ("POST", "/people/withdraw-card/E2", {"card_no": "1"}),
        ("POST", "/people/separate/E2", {"on": "2025-01-01"}),
        ("POST", "/people/separate/E2", {"on": "bad"}),
        ("POST", "/people/unseparate/E2", None),
        ("POST", "/people/rename-department/SALES", {"name": "Mine now"}),
        ("POST", "/people/move-department/SALES", {"parent": "OPS"}),
        ("POST", "/people/department-leader/SALES", {"leader": "lena"}),
    ],
)
def test_outside_the_scope_is_404_and_changes_nothing(hops, site, method, url, data) -> None:
    r = hops.get(url) if method == "GET" else _post(hops, url, data)
    assert r.status_code == 404 and 'data-kind="not_found"' in r.text
    assert "Li Si" not in r.text
    e2 = people.show_employee(site, "E2")
    assert (e2.employee.name, e2.employee.separation_date, e2.cards) == ("Li Si", None, [])
    sales = {n.department.code: n for n in people.department_tree(site, _everything(site))}
    assert sales["SALES"].department.name == "Sales" and sales["SALES"].parent_code is None
    assert acc.get_account(site, "lena").departments == ("OPS",)


def _everything(site) -> access.Scope:
    return access.scope_for(site, acc.get_account(site, "alice"))


def test_forms_keep_to_the_scope(hops, site) -> None:
    # a new employee only in a department of the account's
    r = _post(
        hops,
        "/people/new-employee",
        {"employee_no": "N1", "name": "n", "department": "SALES", "hire_date": "2024-01-01"},
    )
    assert r.status_code == 400 and 'id="error-department"' in r.text
    # moved out of the scope: refused
    r = _post(hops, "/people/edit-employee/E1", {"name": "Zhang San", "department": "SALES",
                                                 "hire_date": "2020-01-01"})  # fmt: skip
    assert r.status_code == 400 and 'id="error-department"' in r.text
    assert people.show_employee(site, "E1").employee.department_code == "OPS-A"
    # departments: not at the top, not under someone else's; the assigned one stays put
    r = _post(hops, "/people/departments", {"code": "TOP", "name": "Top", "parent": ""})
    assert r.status_code == 400 and 'id="error-parent"' in r.text
    r = _post(hops, "/people/departments", {"code": "X", "name": "X", "parent": "SALES"})
    assert r.status_code == 400 and 'id="error-parent"' in r.text
    r = _post(hops, "/people/move-department/OPS", {"parent": ""})
    assert r.status_code == 400
    r = _post(hops, "/people/move-department/OPS-A", {"parent": "SALES"})
    assert r.status_code == 400 and 'id="error-parent"' in r.text
    r = _post(hops, "/people/departments", {"code": "OPS-B", "name": "Line B", "parent": "OPS"})
    assert r.status_code == 303
    assert "OPS-B" in hops.get("/people/departments").text


def test_someone_elses_enrolment_no_or_card_is_not_named(hops, site) -> None:
    people.issue_card(site, "31337", "E2", datetime(2024, 1, 1), actor=ADMIN)
    r = _post(hops, "/people/issue-card/E1", {"card_no": "31337", "at": "2025-01-01T00:00"})
    assert r.status_code == 400 and "outside your departments" in r.text
    assert "E2" not in _shown(r.text) and "Li Si" not in r.text
    assert people.show_employee(site, "E2").cards == ["31337"]
    r = _post(
        hops,
        "/people/new-employee",
        {"employee_no": "N1", "name": "n", "department": "OPS", "enroll_no": "2000",
         "hire_date": "2024-01-01"},
    )  # fmt: skip
    assert r.status_code == 400 and 'id="error-enroll_no"' in r.text
    assert "E2" not in _shown(r.text) and "Li Si" not in r.text


def test_a_roster_may_not_reach_outside(hops, site) -> None:
    csv = (
        "employee_no,name,department,enroll_no,hire_date\n"
        "N1,New One,OPS-A,,2024-01-01\n"
        "N2,New Two,SALES,,2024-01-01\n"
        "E2,Li Si,OPS,,2020-01-01\n"
        "N3,New Three,NEWDEPT,,2024-01-01\n"
        "N4,New Four,OPS,2000,2024-01-01\n"
    )
    token = csrf_of(hops.get("/people/roster").text)
    r = hops.post(
        "/people/roster", data={"csrf": token}, files={"file": ("r.csv", csv.encode(), "text/csv")}
    )
    assert r.status_code == 400
    problems = re.findall(r'<tr data-row="(\d+)" data-column="([^"]*)"', r.text)
    assert ("3", "department") in problems
    assert ("4", "employee_no") in problems
    assert ("5", "department") in problems
    assert ("6", "enroll_no") in problems
    assert "Li Si" not in r.text  # nothing of the employee outside the scope
    assert "belongs to employee E2" not in r.text
    assert people.show_employee(site, "E2").employee.department_code == "SALES"
    with pytest.raises(people.HRError):
        people.show_employee(site, "N1")
