"""The people pages as HR uses them: the department tree (add, rename, move, leaders), the
employee list (search, filter, pages), adding and editing an employee, cards, separation and
its undo. Organisation (conftest): OPS > OPS-A (E1), SALES (E2)."""

from __future__ import annotations

import re
from datetime import date, datetime

import pytest
from sqlalchemy import func, select

from punchd.app import accounts as acc
from punchd.app import people
from punchd.storage.schema import att_audit, att_card, att_department, att_employee

from .conftest import ADMIN, EVIL, PASSWORD, csrf_of


@pytest.fixture
def hr(client_for):
    return client_for("hr")


def _post(client, url: str, data: dict | None = None, page: str = "/people/employees"):
    token = csrf_of(client.get(page).text)
    return client.post(url, data={"csrf": token, **(data or {})}, follow_redirects=False)


def _count(site, table) -> int:
    with site.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


# ----------------------------------------------------------------------------- departments


def test_the_tree_shows_every_department_under_its_parent(hr) -> None:
    page = hr.get("/people/departments")
    assert page.status_code == 200
    rows = re.findall(r'<tr data-department="([^"]+)" data-depth="(\d)"', page.text)
    assert rows == [("OPS", "0"), ("OPS-A", "1"), ("SALES", "0")]


def test_add_rename_and_move_a_department(hr, site) -> None:
    r = _post(hr, "/people/departments", {"code": "OPS-B", "name": "Line B", "parent": "OPS"})
    assert r.status_code == 303 and r.headers["location"] == "/people/department/OPS-B"
    r = _post(hr, "/people/rename-department/OPS-B", {"name": "Line B (night)"})
    assert r.status_code == 303
    r = _post(hr, "/people/move-department/OPS-B", {"parent": "SALES"})
    assert r.status_code == 303
    tree = {n.department.code: n for n in people.department_tree(site, _all(site))}
    assert tree["OPS-B"].department.name == "Line B (night)"
    assert tree["OPS-B"].parent_code == "SALES"
    page = hr.get("/people/department/OPS-B").text
    assert "Line B (night)" in page


def _all(site):
    from punchd.app import access

    return access.scope_for(site, acc.get_account(site, "harry"))


def test_department_form_problems_are_shown_next_to_the_field(hr, site) -> None:
    before = _count(site, att_department)
    r = _post(hr, "/people/departments", {"code": "OPS", "name": "", "parent": ""})
    assert r.status_code == 400
    assert 'id="error-code"' in r.text and 'id="error-name"' in r.text
    assert _count(site, att_department) == before
    r = _post(hr, "/people/departments", {"code": "X" * 40, "name": "ok"})
    assert r.status_code == 400 and 'id="error-code"' in r.text
    # a cycle: OPS under OPS-A (which is below it)
    r = _post(hr, "/people/move-department/OPS", {"parent": "OPS-A"})
    assert r.status_code == 400 and 'id="error-parent"' in r.text
    r = _post(hr, "/people/rename-department/SALES", {"name": " "})
    assert r.status_code == 400 and 'id="error-name"' in r.text


def test_markup_in_a_department_name_is_text(hr) -> None:
    r = _post(hr, "/people/departments", {"code": "EVIL", "name": EVIL})
    assert r.status_code == 303
    for url in ("/people/departments", "/people/department/EVIL", "/people/employees"):
        page = hr.get(url).text
        assert EVIL not in page and "&lt;script&gt;" in page


def test_leaders_are_added_and_removed(hr, site) -> None:
    acc.add_account(site, "leo", PASSWORD, "leader", actor=ADMIN, departments=("SALES",))
    r = _post(hr, "/people/department-leader/OPS-A", {"leader": "leo", "action": "add"})
    assert r.status_code == 303
    assert set(acc.get_account(site, "leo").departments) == {"SALES", "OPS-A"}
    page = hr.get("/people/department/OPS-A").text
    assert 'data-leader="leo"' in page
    r = _post(hr, "/people/department-leader/OPS-A", {"leader": "leo", "action": "remove"})
    assert r.status_code == 303
    assert acc.get_account(site, "leo").departments == ("SALES",)
    # the last department of a leader stays (a leader leads at least one)
    r = _post(hr, "/people/department-leader/SALES", {"leader": "leo", "action": "remove"})
    assert r.status_code == 400 and 'id="error-leader"' in r.text
    # only leader accounts
    r = _post(hr, "/people/department-leader/SALES", {"leader": "paul", "action": "add"})
    assert r.status_code == 400 and 'id="error-leader"' in r.text
    assert acc.get_account(site, "paul").departments == ()


# ----------------------------------------------------------------------------- employees


def _many(site, n: int) -> None:
    rows = [
        {
            "employee_no": f"P{i:05d}",
            "name": f"Person {i}",
            "department": "SALES" if i % 2 else "OPS-A",
            "enroll_no": str(50000 + i),
            "card_no": str(80000000 + i),
            "hire_date": "2020-01-01",
        }
        for i in range(n)
    ]
    from punchd.hr.roster import parse_rows

    header = list(rows[0])
    roster = parse_rows([(1, header)] + [(i + 2, list(r.values())) for i, r in enumerate(rows)])
    assert not roster.errors
    people.import_roster(site, roster, actor=ADMIN)


def test_search_by_staff_no_name_enrolment_no_and_card(hr, site) -> None:
    _many(site, 120)

    def found(**params) -> list[str]:
        page = hr.get("/people/employees", params=params)
        assert page.status_code == 200
        return re.findall(r'<tr data-employee="([^"]+)"', page.text)

    assert found(q="P00007") == ["P00007"]
    assert found(q="person 11")[:3] == ["P00011", "P00110", "P00111"]
    assert found(q="50042") == ["P00042"]
    assert found(q="80000099") == ["P00099"]
    assert found(q="8000009") == []  # a card number is matched whole
    assert found(q="Zhang") == ["E1"]
    assert found(q="%") == []  # LIKE wildcards are text
    assert found(q="P0001", department="SALES") == [
        "P00011",
        "P00013",
        "P00015",
        "P00017",
        "P00019",
    ]
    assert found(department="OPS")[:2] == ["E1", "P00000"]  # OPS and the departments below it


def test_paging_keeps_the_search_and_stops_at_the_last_page(hr, site) -> None:
    _many(site, 120)
    first = hr.get("/people/employees", params={"q": "P"})
    assert 'data-total="120"' in first.text
    assert len(re.findall(r"<tr data-employee=", first.text)) == people.PAGE_SIZE
    assert "Page 1 of 3" in first.text
    nxt = re.search(r'id="next-page" [^>]*|href="([^"]+)" id="next-page"', first.text)
    assert nxt and "q=P" in nxt.group(1) and "page=2" in nxt.group(1)
    last = hr.get("/people/employees", params={"q": "P", "page": 99})
    rows = re.findall(r'<tr data-employee="([^"]+)"', last.text)
    assert rows[0] == "P00100" and rows[-1] == "P00119"
    assert hr.get("/people/employees", params={"page": 0}).status_code == 400


def test_leavers_are_hidden_unless_asked_for(hr, site) -> None:
    people.separate(site, "E2", date(2021, 6, 30), actor=ADMIN)
    current = hr.get("/people/employees").text
    assert 'data-employee="E2"' not in current and 'data-employee="E1"' in current
    leavers = hr.get("/people/employees", params={"status": "leavers"}).text
    assert 'data-employee="E2"' in leavers and 'data-employee="E1"' not in leavers
    everyone = hr.get("/people/employees", params={"status": "all"}).text
    assert 'data-employee="E2"' in everyone and 'data-employee="E1"' in everyone


def test_add_an_employee_with_a_card(hr, site) -> None:
    data = {
        "employee_no": "E9",
        "name": "Chen Qi",
        "department": "OPS-A",
        "enroll_no": "9009",
        "card_no": "12345678",
        "hire_date": "2024-05-06",
    }
    r = _post(hr, "/people/new-employee", data)
    assert r.status_code == 303 and r.headers["location"] == "/people/employee/E9?done=added"
    detail = people.show_employee(site, "E9")
    assert detail.employee.hire_date == date(2024, 5, 6)
    assert detail.cards == ["12345678"]
    assert detail.card_history[0].effective_from == datetime(2024, 5, 6)
    page = hr.get(r.headers["location"]).text
    assert 'data-done="added"' in page and "Chen Qi" in page
    # sent again (a double click): refused, one employee
    again = _post(hr, "/people/new-employee", data)
    assert again.status_code == 400 and 'id="error-employee_no"' in again.text
    with site.engine.connect() as conn:
        query = select(func.count()).select_from(att_employee)
        assert conn.execute(query.where(att_employee.c.employee_no == "E9")).scalar_one() == 1


def test_add_shows_every_problem_and_saves_nothing(hr, site) -> None:
    before = _count(site, att_employee)
    data = {
        "employee_no": "E1",  # taken
        "name": "",
        "department": "NOPE",
        "enroll_no": "12a",
        "card_no": "",
        "hire_date": "2024-13-01",
    }
    r = _post(hr, "/people/new-employee", data)
    assert r.status_code == 400
    for name in ("employee_no", "name", "department", "enroll_no", "hire_date"):
        assert f'id="error-{name}"' in r.text, name
    assert 'value="12a"' in r.text  # what was typed is kept
    assert _count(site, att_employee) == before
    # an enrolment number that belongs to someone else
    r = _post(
        hr,
        "/people/new-employee",
        {**data, "employee_no": "E9", "name": "x", "department": "SALES", "enroll_no": "1000",
         "hire_date": "2024-01-01"},
    )  # fmt: skip
    assert r.status_code == 400 and 'id="error-enroll_no"' in r.text
    assert "belongs to employee E1" in r.text
    assert _count(site, att_employee) == before


def test_edit_an_employee(hr, site) -> None:
    data = {
        "name": "Zhang San Feng",
        "department": "SALES",
        "enroll_no": "",
        "hire_date": "2019-12-01",
    }
    r = _post(hr, "/people/edit-employee/E1", data)
    assert r.status_code == 303
    emp = people.show_employee(site, "E1").employee
    assert (emp.name, emp.department_code, emp.enroll_no, emp.hire_date) == (
        "Zhang San Feng", "SALES", "1000", date(2019, 12, 1),
    )  # fmt: skip
    bad = _post(hr, "/people/edit-employee/E1", {**data, "name": "x" * 200})
    assert bad.status_code == 400 and 'id="error-name"' in bad.text
    assert people.show_employee(site, "E1").employee.name == "Zhang San Feng"


# ----------------------------------------------------------------------------- cards


def test_issue_withdraw_and_history(hr, site) -> None:
    r = _post(hr, "/people/issue-card/E1", {"card_no": "555", "at": "2025-01-02T08:30"})
    assert r.status_code == 303
    # the same card to E2 later: it passes on
    r = _post(hr, "/people/issue-card/E2", {"card_no": "555", "at": "2025-02-01T00:00"})
    assert r.status_code == 303
    assert people.show_employee(site, "E1").cards == []
    assert people.show_employee(site, "E2").cards == ["555"]
    page = hr.get("/people/employee/E1").text
    holders = re.findall(r'<tr data-card="555" data-holder="([^"]*)"', page)
    assert holders == ["E1", "E2"]
    r = _post(hr, "/people/withdraw-card/E2", {"card_no": "555"})
    assert r.status_code == 303
    assert people.show_employee(site, "E2").cards == []


def test_card_problems(hr, site) -> None:
    before = _count(site, att_card)
    for data, field in (
        ({"card_no": "12ab", "at": ""}, "card_no"),
        ({"card_no": "", "at": ""}, "card_no"),
        ({"card_no": "777", "at": "yesterday"}, "at"),
    ):
        r = _post(hr, "/people/issue-card/E1", data)
        assert r.status_code == 400 and f'id="error-{field}"' in r.text, data
    _post(hr, "/people/issue-card/E1", {"card_no": "777", "at": "2025-01-02T08:30"})
    again = _post(hr, "/people/issue-card/E1", {"card_no": "777", "at": "2025-03-02T08:30"})
    assert again.status_code == 400 and 'id="error-at"' in again.text  # already theirs
    r = _post(hr, "/people/withdraw-card/E2", {"card_no": "777"})  # not E2's card
    assert r.status_code == 400 and "does not hold this card" in r.text
    assert _count(site, att_card) == before + 1


# ----------------------------------------------------------------------------- separation


def test_separation_confirm_page_says_what_will_happen(hr, site) -> None:
    people.issue_card(site, "4242", "E1", datetime(2024, 1, 1), actor=ADMIN)
    page = hr.get("/people/separate/E1", params={"on": "2025-06-30"})
    assert page.status_code == 200
    text = re.sub(r"\s+", " ", page.text)
    assert 'data-what="accounts"' in text and "emma" in text  # E1's account
    assert "4242" in text and "1 Jul 2025" in text
    assert 'data-what="records"' in text
    # nothing changed yet
    assert people.show_employee(site, "E1").employee.separation_date is None


def test_separate_withdraws_cards_and_undo_gives_them_back(hr, site) -> None:
    people.issue_card(site, "4242", "E1", datetime(2024, 1, 1), actor=ADMIN)
    r = _post(hr, "/people/separate/E1", {"on": "2025-06-30"})
    assert r.status_code == 303 and r.headers["location"].endswith("done=separated")
    detail = people.show_employee(site, "E1")
    assert detail.employee.separation_date == date(2025, 6, 30)
    assert detail.cards == []
    assert [(h.employee_no, h.effective_from) for h in detail.card_history] == [
        ("E1", datetime(2024, 1, 1)), (None, datetime(2025, 7, 1)),
    ]  # fmt: skip
    undo = hr.get("/people/unseparate/E1").text
    assert "4242" in undo and 'data-what="cards"' in undo
    r = _post(hr, "/people/unseparate/E1")
    assert r.status_code == 303
    detail = people.show_employee(site, "E1")
    assert detail.employee.separation_date is None and detail.cards == ["4242"]
    assert len(detail.card_history) == 1
    with site.engine.connect() as conn:
        actions = [
            r.action
            for r in conn.execute(select(att_audit.c.action).where(att_audit.c.entity_key == "E1"))
        ]
    assert "separate" in actions and "unseparate" in actions


def test_a_card_passed_on_after_the_separation_stays_with_its_new_holder(hr, site) -> None:
    people.issue_card(site, "4242", "E1", datetime(2024, 1, 1), actor=ADMIN)
    _post(hr, "/people/separate/E1", {"on": "2025-06-30"})
    people.issue_card(site, "4242", "E2", datetime(2025, 8, 1), actor=ADMIN)
    undo = hr.get("/people/unseparate/E1").text
    assert 'data-what="cards-kept"' in undo
    _post(hr, "/people/unseparate/E1")
    assert people.show_employee(site, "E2").cards == ["4242"]
    assert people.show_employee(site, "E1").cards == []


def test_separation_problems(hr, site) -> None:
    r = hr.get("/people/separate/E1", params={"on": "2019-12-31"})  # before the hire date
    assert r.status_code == 400 and 'id="error-on"' in r.text
    r = hr.get("/people/separate/E1", params={"on": "soon"})
    assert r.status_code == 400 and 'id="error-on"' in r.text
    r = _post(hr, "/people/separate/E1", {"on": ""})
    assert r.status_code == 400 and 'id="error-on"' in r.text
    assert people.show_employee(site, "E1").employee.separation_date is None


def test_every_post_needs_the_form_token(hr, site) -> None:
    for url, data in (
        ("/people/departments", {"code": "NEW", "name": "New"}),
        ("/people/separate/E1", {"on": "2025-06-30"}),
        ("/people/issue-card/E1", {"card_no": "1"}),
        ("/people/new-employee", {"employee_no": "E9"}),
    ):
        r = hr.post(url, data={**data, "csrf": "forged"}, follow_redirects=False)
        assert r.status_code == 403, url
    assert people.show_employee(site, "E1").employee.separation_date is None
    assert people.show_employee(site, "E1").cards == []
