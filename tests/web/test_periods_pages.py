"""The pay-period pages: the month list, a month's open items, close (refused with open
items, forced only with a reason), reopen (with a reason), a form sent twice closing once,
payroll reading but never changing, an HR account limited to some departments closing only
those, anonymous and CSRF-less requests refused."""

from __future__ import annotations

import re
from datetime import date

import pytest
from fastapi.testclient import TestClient

from punchd import clock as punchd_clock
from punchd.app import Actor, Site, attendance
from punchd.app import accounts as acc
from punchd.app import periods as ops

from .conftest import csrf_of, sign_in

FEB1, FEB28 = date(2026, 2, 1), date(2026, 2, 28)
MONTH = "2026-02"
HR = Actor("test-setup")


@pytest.fixture(autouse=True)
def march(monkeypatch: pytest.MonkeyPatch) -> None:
    """Today is 10 March 2026 on the site: every day of February has ended."""
    monkeypatch.setattr(punchd_clock, "_shift", punchd_clock.clock_shift())
    punchd_clock.set_today(date(2026, 3, 10), punchd_clock.zone("Asia/Shanghai"))


def seen_of(html: str, form: str) -> str:
    part = html[html.index(f'id="{form}"') :]
    found = re.search(r'name="seen" value="(\d+)"', part)
    assert found
    return found.group(1)


def processed(site: Site) -> None:
    attendance.process(site, FEB1, FEB28, actor=HR)
    assert ops.open_items(site, MONTH).count == 0


def close_form(client: TestClient, **extra: str) -> dict[str, str]:
    page = client.get(f"/periods/{MONTH}")
    assert page.status_code == 200
    return {"csrf": csrf_of(page.text), "seen": seen_of(page.text, "close-form"), **extra}


def test_the_list_shows_each_month_and_its_state(client_for, site) -> None:
    processed(site)
    ops.close_period(site, MONTH, actor=HR)
    ops.reopen_period(site, MONTH, reason="late leave", actor=HR)
    ops.close_period(site, MONTH, actor=Actor("hr-anna"))
    page = client_for("payroll").get("/periods")
    assert page.status_code == 200
    row = re.search(r'<tr data-month="2026-02" data-state="closed">.*?</tr>', page.text, re.S)
    assert row, page.text
    assert 'data-version="2"' in row.group(0) and "hr-anna" in row.group(0)
    assert 'data-month="2026-03" data-state="open"' in page.text  # this month, never closed
    assert 'id="nav-periods"' in page.text


def test_a_blocked_close_shows_the_items_and_changes_nothing(client_for, site) -> None:
    hr = client_for("hr")
    page = hr.get(f"/periods/{MONTH}")
    # nothing processed yet: every day of E1 and E2 is an open item, linked to the employee
    assert page.text.count('data-kind="unprocessed"') == 2 * 28
    assert '<a href="/employees/E1">E1</a>' in page.text
    assert 'name="force"' in page.text  # force is offered only while items are open
    r = hr.post(f"/periods/{MONTH}/close", data=close_form(hr))
    assert r.status_code == 409
    assert 'id="error-force"' in r.text and 'data-employee="E2"' in r.text
    assert ops.list_periods(site) == []


def test_a_forced_close_needs_a_reason(client_for, site) -> None:
    hr = client_for("hr")
    r = hr.post(f"/periods/{MONTH}/close", data=close_form(hr, force="1", reason="  "))
    assert r.status_code == 400 and 'id="error-reason"' in r.text
    assert ops.list_periods(site) == []
    r = hr.post(
        f"/periods/{MONTH}/close",
        data=close_form(hr, force="1", reason="payroll run"),
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == f"/periods/{MONTH}?done=closed"
    (row,) = ops.list_periods(site)
    assert (row.version, row.forced, row.close_reason, row.closed_by) == (
        1,
        True,
        "payroll run",
        "harry",
    )


def test_close_then_reopen_with_a_reason_then_close_again(client_for, site) -> None:
    processed(site)
    admin = client_for("admin")
    page = admin.get(f"/periods/{MONTH}")
    assert 'name="force"' not in page.text and 'id="reopen-form"' not in page.text
    r = admin.post(f"/periods/{MONTH}/close", data=close_form(admin))
    assert r.status_code == 200 and 'data-state="closed"' in r.text and 'id="done"' in r.text
    assert [(p.version, p.state) for p in ops.list_periods(site)] == [(1, "closed")]

    page = admin.get(f"/periods/{MONTH}")
    token, seen = csrf_of(page.text), seen_of(page.text, "reopen-form")
    r = admin.post(f"/periods/{MONTH}/reopen", data={"csrf": token, "seen": seen})
    assert r.status_code == 400 and 'id="error-reopen_reason"' in r.text
    assert ops.list_periods(site)[0].state == "closed"
    r = admin.post(
        f"/periods/{MONTH}/reopen", data={"csrf": token, "seen": seen, "reopen_reason": "fix"}
    )
    assert r.status_code == 200 and 'data-state="open"' in r.text
    assert [(p.version, p.state, p.reopen_reason) for p in ops.list_periods(site)] == [
        (1, "reopened", "fix")
    ]
    r = admin.post(f"/periods/{MONTH}/close", data=close_form(admin))
    assert [(p.version, p.state) for p in ops.list_periods(site)] == [
        (1, "reopened"),
        (2, "closed"),
    ]
    assert re.search(r'<tr data-version="2" data-state="closed">', r.text)


def test_a_close_sent_twice_closes_once(client_for, site) -> None:
    processed(site)
    hr = client_for("hr")
    form = close_form(hr)
    first = hr.post(f"/periods/{MONTH}/close", data=form, follow_redirects=False)
    second = hr.post(f"/periods/{MONTH}/close", data=form, follow_redirects=False)
    assert first.status_code == second.status_code == 303
    assert [(p.version, p.state) for p in ops.list_periods(site)] == [(1, "closed")]
    # a reopen sent twice reopens once, too
    page = hr.get(f"/periods/{MONTH}")
    again = {"csrf": csrf_of(page.text), "seen": seen_of(page.text, "reopen-form")}
    again["reopen_reason"] = "correction"
    for _ in range(2):
        r = hr.post(f"/periods/{MONTH}/reopen", data=again, follow_redirects=False)
        assert r.status_code == 303
    assert [(p.version, p.state) for p in ops.list_periods(site)] == [(1, "reopened")]
    # a close from a page shown before someone else's close: nothing more is done
    stale = close_form(hr)
    ops.close_period(site, MONTH, actor=Actor("hr-anna"))
    r = hr.post(f"/periods/{MONTH}/close", data=stale)
    assert r.status_code == 200 and 'id="done"' in r.text
    assert [p.version for p in ops.list_periods(site)] == [1, 2]
    # a close of a month already closed when the page was shown: refused, said next to it
    current = {**stale, "seen": "2"}
    r = hr.post(f"/periods/{MONTH}/close", data=current)
    assert r.status_code == 409 and 'id="error-close"' in r.text
    assert [p.version for p in ops.list_periods(site)] == [1, 2]
    assert 'id="close-form"' not in hr.get(f"/periods/{MONTH}").text  # closed for everyone


def test_payroll_sees_but_cannot_close_or_reopen(client_for, site) -> None:
    processed(site)
    pay = client_for("payroll")
    page = pay.get(f"/periods/{MONTH}")
    assert page.status_code == 200
    assert 'id="close-form"' not in page.text and 'id="reopen-form"' not in page.text
    token = csrf_of(page.text)
    r = pay.post(f"/periods/{MONTH}/close", data={"csrf": token}, follow_redirects=False)
    assert r.status_code == 404
    assert ops.list_periods(site) == []
    ops.close_period(site, MONTH, actor=HR)
    r = pay.post(
        f"/periods/{MONTH}/reopen", data={"csrf": token, "reopen_reason": "x"},
        follow_redirects=False,
    )  # fmt: skip
    assert r.status_code == 404
    assert ops.list_periods(site)[0].state == "closed"


@pytest.mark.parametrize("role", ["leader", "employee"])
def test_other_roles_do_not_see_periods(client_for, role) -> None:
    client = client_for(role)
    assert client.get("/periods").status_code == 404
    assert client.get(f"/periods/{MONTH}").status_code == 404
    assert 'id="nav-periods"' not in client.get("/").text


def test_anonymous_is_sent_to_sign_in(anonymous, site) -> None:
    for url in ("/periods", f"/periods/{MONTH}"):
        r = anonymous.get(url, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/signin?next=")
    r = anonymous.post(f"/periods/{MONTH}/close", data={"csrf": "x"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/signin")
    assert ops.list_periods(site) == []


def test_a_close_without_the_form_token_is_refused(client_for, site) -> None:
    processed(site)
    hr = client_for("hr")
    for data in ({}, {"csrf": "forged", "seen": "0"}):
        r = hr.post(f"/periods/{MONTH}/close", data=data)
        assert r.status_code == 403 and 'data-kind="csrf"' in r.text
    assert ops.list_periods(site) == []


def test_a_bad_month_is_not_found(client_for) -> None:
    hr = client_for("hr")
    for month in ("2026-13", "Feb", "2026-2"):
        assert hr.get(f"/periods/{month}").status_code == 404


def test_an_hr_account_of_some_departments_closes_only_those(app, site) -> None:
    processed(site)
    acc.add_account(site, "hops", "correct horse battery", "hr", actor=HR, departments=("OPS",))
    client = TestClient(app)
    assert sign_in(client, "hops").status_code == 303
    page = client.get(f"/periods/{MONTH}")
    assert 'value="OPS-A"' in page.text and 'value="SALES"' not in page.text
    # a department outside its scope: as missing as one that does not exist
    r = client.post(f"/periods/{MONTH}/close", data=close_form(client, department="SALES"))
    assert r.status_code == 404
    assert ops.list_periods(site) == []
    # naming none: its own departments, never everyone
    r = client.post(f"/periods/{MONTH}/close", data=close_form(client), follow_redirects=False)
    assert r.status_code == 303
    closes = ops.list_periods(site)
    assert {(p.version, p.department_code) for p in closes} == {(1, "OPS"), (1, "OPS-A")}
    # a month closed for everyone is reopened for everyone only
    ops.reopen_period(site, MONTH, departments=["OPS", "OPS-A"], reason="t", actor=HR)
    ops.close_period(site, MONTH, actor=HR)
    page = client.get(f"/periods/{MONTH}")
    data = {"csrf": csrf_of(page.text), "seen": seen_of(page.text, "reopen-form")}
    r = client.post(f"/periods/{MONTH}/reopen", data={**data, "reopen_reason": "mine"})
    assert r.status_code == 409 and 'id="error-reopen"' in r.text
    assert ops.list_periods(site)[-1].state == "closed"


def test_the_month_page_in_chinese(client_for, site) -> None:
    hr = client_for("hr")
    hr.cookies.set("lang", "zh_Hans")
    r = hr.post(f"/periods/{MONTH}/close", data=close_form(hr, force="1"))
    assert r.status_code == 400
    assert "Pay period" not in r.text and "薪资期间 2026-02" in r.text
    assert "必填：为何在有未决事项时结账" in r.text  # the problem next to the reason
