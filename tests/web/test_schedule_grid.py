"""The schedule month grid: what each person-day shows (schedules, temporary schedules, the
holiday calendar), the batch fill, a department's schedule, one day set and cleared, the
problems of a form next to their field, the scope, CSRF — on every test database."""

from __future__ import annotations

import json
import re
from datetime import date

import pytest
from sqlalchemy import func, select

from punchd.app import Actor
from punchd.app import accounts as acc
from punchd.app.attendance import process
from punchd.rules import sync
from punchd.rules.file import parse_rules
from punchd.storage.schema import (
    att_audit,
    att_day,
    att_employee,
    att_schedule,
    att_schedule_override,
)

from .conftest import PASSWORD, T0, csrf_of, sign_in

RULES = """
[calendar]
china = false
holidays = [{ date = 2026-03-10, name = "Founders day" }]
workdays = [{ date = 2026-03-14, name = "Make-up Saturday" }]

[[period]]
code = "P9"
start = "09:00"
end = "18:00"

[[period]]
code = "PN"
start = "22:00"
end = "06:00"

[[shift]]
code = "DAY"
name = "Office day"
periods = ["P9"]

[[shift]]
code = "NIGHT"
name = "Night watch"
unit = "day"
follows_calendar = false
days = [["PN"], []]

[[schedule]]
shift = "DAY"
department = "OPS-A"
from = 2026-01-01
"""


@pytest.fixture
def rules(site) -> None:
    with site.engine.begin() as conn:
        sync.apply_rules_file(conn, parse_rules(RULES), actor="test-setup")


@pytest.fixture
def hr(client_for, clock, rules):
    clock.value = T0  # 2026-03-02 in Shanghai: the grid opens on March 2026
    return client_for("hr")


def cells(html: str, employee_no: str) -> dict[str, tuple[str, str, str | None]]:
    """day → (kind, shift, override) of one row of the grid (a cell's day: its column's)."""
    days = re.findall(r'<th class="d[^"]*" data-day="([^"]+)"', html)
    row = re.search(rf'<tr data-employee="{employee_no}">(.*?)</tr>', html, re.S)
    assert row, f"no row of {employee_no}"
    found = re.findall(
        r'<td class="c k-(\w+)[^"]*"(?: data-shift="([^"]*)")?(?: data-override="([^"]+)")?',
        row.group(1),
    )
    assert len(found) == len(days)
    return {
        d: (kind, shift, override or None)
        for d, (kind, shift, override) in zip(days, found, strict=True)
    }


def post(client, page: str, url: str, data: dict) -> object:
    token = csrf_of(client.get(page).text)
    return client.post(url, data={"csrf": token, **data}, follow_redirects=False)


def count(site, table) -> int:
    with site.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def e1_day(site, day: date) -> tuple[str, str | None]:
    """E1's processed day: (status, shift)."""
    e1 = select(att_employee.c.id).where(att_employee.c.employee_no == "E1").scalar_subquery()
    with site.engine.connect() as conn:
        row = conn.execute(
            select(att_day.c.status, att_day.c.shift_code).where(
                att_day.c.employee_id == e1, att_day.c.work_date == day
            )
        ).one()
    return row.status, row.shift_code


GRID = "/schedules/department/OPS?month=2026-03"


def test_the_grid_shows_schedule_override_and_calendar(site, hr) -> None:
    from punchd.app import rules as rule_ops

    rule_ops.set_override(
        site, date(2026, 3, 7), employee_no="E1", shift_code="NIGHT", actor=Actor("t")
    )
    page = hr.get("/schedules")  # the first department, this month (the injected clock)
    assert page.status_code == 200
    assert 'data-month="2026-03"' in page.text
    assert 'id="nav-schedules"' in page.text
    row = cells(page.text, "E1")
    assert len(row) == 31
    assert row["2026-03-02"] == ("workday", "DAY", None)  # a Monday of OPS-A's schedule
    assert row["2026-03-01"] == ("rest", "DAY", None)  # Sunday
    assert row["2026-03-07"] == ("workday", "NIGHT", "employee")  # the temporary schedule
    assert row["2026-03-10"] == ("holiday", "DAY", None)
    assert row["2026-03-14"] == ("workday", "DAY", None)  # make-up workday on a Saturday
    assert '<tr data-employee="E2">' not in page.text  # SALES is not below OPS
    # the columns: weekday, the holiday and make-up workday marked with their names
    assert re.search(r'class="d hol" data-day="2026-03-10" title="Founders day"', page.text)
    assert re.search(r'class="d we mk" data-day="2026-03-14" title="Make-up Saturday"', page.text)
    assert "Sun" in page.text
    # the legend: name and times, a colour per shift, the same class in the cells
    assert re.search(
        r'class="chip s0" data-shift="DAY">DAY</span> Office day <small>09:00–18:00', page.text
    )
    assert re.search(
        r'class="chip s1" data-shift="NIGHT">NIGHT</span> Night watch <small>22:00–\+1 06:00',
        page.text,
    )
    assert '<td class="c k-workday s0" data-shift="DAY">' in page.text
    # the month's links; the next month has no temporary schedule on the 7th
    assert "/schedules/department/OPS?month=2026-02" in page.text
    nxt = hr.get("/schedules/department/OPS?month=2026-04")
    assert cells(nxt.text, "E1")["2026-04-07"] == ("workday", "DAY", None)
    # a selection of people; SALES chosen in the department form; Chinese weekdays
    assert '<tr data-employee="E1">' not in hr.get(GRID + "&people=NOBODY").text
    for odd in ("9999-12", "0001-01", "2026-13", "March"):  # this month instead
        assert 'data-month="2026-03"' in hr.get(f"/schedules/department/OPS?month={odd}").text
    assert hr.get("/schedules/cell/E1?day=9999-12-31").status_code == 200
    sales = hr.get("/schedules?department=SALES&month=2026-03")
    assert cells(sales.text, "E2")["2026-03-02"] == ("unscheduled", "", None)
    zh = hr.get(GRID, headers={"accept-language": "zh-CN"})
    assert "周一" in zh.text and "排班表" in zh.text


def test_batch_fill_saves_audits_and_processes_again(site, hr) -> None:
    process(site, date(2026, 3, 1), date(2026, 3, 31), actor=Actor("t"))
    assert e1_day(site, date(2026, 3, 3)) == ("absent", "DAY")  # no punches
    data = {"month": "2026-03", "shift": "~rest", "date_from": "2026-03-03",
            "date_to": "2026-03-05", "people": ["E1"]}  # fmt: skip
    r = post(hr, GRID, "/schedules/fill/OPS", data)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/schedules/department/OPS?month=2026-03&saved=3"
    page = hr.get(r.headers["location"])
    assert 'data-changes="3"' in page.text
    row = cells(page.text, "E1")
    assert [row[f"2026-03-0{d}"] for d in (3, 4, 5)] == [("rest", "", "employee")] * 3
    assert row["2026-03-06"] == ("workday", "DAY", None)
    # audited, and the processed days were processed again
    with site.engine.connect() as conn:
        trail = conn.execute(
            select(att_audit.c.action, att_audit.c.changed_by, att_audit.c.detail).where(
                att_audit.c.entity == "schedule_override"
            )
        ).all()
    # one audit row per person of the batch, naming the days it changed
    assert [tuple(t[:2]) for t in trail] == [("override", "harry")]
    assert json.loads(trail[0].detail)["days"] == ["2026-03-03", "2026-03-04", "2026-03-05"]
    assert e1_day(site, date(2026, 3, 3)) == ("rest", None)
    # sent twice: nothing more; a shift over a weekend works the shift's first day
    r = post(hr, GRID, "/schedules/fill/OPS", data)
    assert r.headers["location"].endswith("saved=0")
    assert count(site, att_schedule_override) == 3
    data = {**data, "shift": "DAY", "date_from": "2026-03-07", "date_to": "2026-03-08"}
    assert post(hr, GRID, "/schedules/fill/OPS", data).status_code == 303
    row = cells(hr.get(GRID).text, "E1")
    assert row["2026-03-07"] == row["2026-03-08"] == ("workday", "DAY", "employee")


def test_a_department_schedule_from_a_date(site, hr) -> None:
    url, data = "/schedules/assign/OPS", {"month": "2026-03", "schedule_shift": "NIGHT",
                                          "start": "2026-03-16", "until": ""}  # fmt: skip
    before = count(site, att_schedule)
    r = post(hr, GRID, url, data)
    assert r.status_code == 303 and r.headers["location"].endswith("saved=2")  # OPS, OPS-A
    row = cells(hr.get(GRID).text, "E1")
    assert row["2026-03-13"] == ("workday", "DAY", None)
    assert (row["2026-03-16"], row["2026-03-17"]) == (
        ("workday", "NIGHT", None),
        ("rest", "NIGHT", None),
    )
    assert post(hr, GRID, url, data).headers["location"].endswith("saved=0")  # sent twice
    assert count(site, att_schedule) == before + 2
    with site.engine.connect() as conn:
        assigned = conn.execute(
            select(func.count()).where(
                att_audit.c.entity == "schedule", att_audit.c.action == "assign"
            )
        ).scalar_one()
    assert assigned == 2
    # rest is not a department schedule; an end before the start
    r = post(hr, GRID, url, {**data, "schedule_shift": "~rest", "until": "2026-03-01"})
    assert r.status_code == 400
    assert 'id="error-schedule_shift"' in r.text and 'id="error-until"' in r.text
    assert count(site, att_schedule) == before + 2


def test_one_day_set_and_cleared(site, hr) -> None:
    cell = "/schedules/cell/E1?back=OPS&day=2026-03-02"
    page = hr.get(GRID)
    assert 'href="' + cell.replace("&", "&amp;") + '"' in page.text
    form = hr.get(cell)
    assert form.status_code == 200 and 'data-kind="workday"' in form.text
    assert 'id="clear-day"' not in form.text
    r = post(hr, cell, "/schedules/cell/E1", {"day": "2026-03-02", "shift": "NIGHT", "back": "OPS"})
    assert r.status_code == 303
    assert r.headers["location"] == "/schedules/department/OPS?month=2026-03&saved=1"
    assert cells(hr.get(GRID).text, "E1")["2026-03-02"] == ("workday", "NIGHT", "employee")
    form = hr.get(cell)
    assert 'data-override="employee"' in form.text and 'id="clear-day"' in form.text
    data = {"day": "2026-03-02", "action": "clear", "back": "OPS"}
    assert post(hr, cell, "/schedules/cell/E1", data).status_code == 303
    assert post(hr, cell, "/schedules/cell/E1", data).status_code == 303  # twice: no error
    assert cells(hr.get(GRID).text, "E1")["2026-03-02"] == ("workday", "DAY", None)
    assert count(site, att_schedule_override) == 0
    r = post(hr, cell, "/schedules/cell/E1", {"day": "2026-03-02", "shift": "NOPE"})
    assert r.status_code == 400 and 'id="error-shift"' in r.text
    r = post(hr, cell, "/schedules/cell/E1", {"day": "2 March", "shift": "DAY"})
    assert r.status_code == 400 and 'id="error-day"' in r.text
    assert count(site, att_schedule_override) == 0


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"shift": "NOPE"}, "shift"),
        ({"date_to": "2026-04-01"}, "date_to"),
        ({"date_from": "2026-03-01", "date_to": "2036-03-01"}, "date_to"),  # ten years
        ({"date_from": "2016-03-01", "date_to": "2026-03-31"}, "date_from"),
        ({"date_from": "2026-03-09", "date_to": "2026-03-02"}, "date_to"),
        ({"date_from": "yesterday"}, "date_from"),
        ({"people": []}, "people"),
        ({"people": ["E1", "E2"]}, "people"),  # E2 is not in OPS
    ],
)
def test_fill_problems_next_to_their_field(site, hr, data, field) -> None:
    sent = {"month": "2026-03", "shift": "DAY", "date_from": "2026-03-02",
            "date_to": "2026-03-06", "people": ["E1"], **data}  # fmt: skip
    r = post(hr, GRID, "/schedules/fill/OPS", sent)
    assert r.status_code == 400
    assert f'id="error-{field}"' in r.text
    assert count(site, att_schedule_override) == 0
    # the form keeps what was sent
    if field != "people":
        assert 'value="E1" form="fill" checked' in r.text


def test_scope_csrf_and_roles(site, app, client_for, rules, clock) -> None:
    clock.value = T0
    acc.add_account(site, "hops", PASSWORD, "hr", actor=Actor("t"), departments=("OPS",))
    from fastapi.testclient import TestClient

    hops = TestClient(app)
    assert sign_in(hops, "hops").status_code == 303
    token = csrf_of(hops.get("/account").text)
    assert hops.get("/schedules/department/SALES").status_code == 404
    assert hops.get("/schedules?department=SALES").status_code == 404
    assert hops.get("/schedules/cell/E2?day=2026-03-02").status_code == 404
    page = hops.get("/schedules")
    assert page.status_code == 200 and 'value="SALES"' not in page.text
    for url, data in (
        ("/schedules/fill/SALES", {"shift": "DAY", "date_from": "2026-03-02",
                                   "date_to": "2026-03-02", "people": ["E2"], "month": "2026-03"}),
        ("/schedules/assign/SALES", {"schedule_shift": "DAY", "start": "2026-03-02"}),
        ("/schedules/cell/E2", {"day": "2026-03-02", "shift": "DAY"}),
    ):  # fmt: skip
        r = hops.post(url, data={"csrf": token, **data}, follow_redirects=False)
        assert r.status_code == 404 and 'data-kind="not_found"' in r.text, url
        r = hops.post(url.replace("SALES", "OPS").replace("E2", "E1"),
                      data={**data, "csrf": "forged"}, follow_redirects=False)  # fmt: skip
        assert r.status_code == 403, url
    assert count(site, att_schedule_override) == 0
    # the leader and the employee do not get the pages at all
    for role in ("leader", "employee", "payroll"):
        client = client_for(role)
        assert client.get(GRID).status_code == 404
        assert 'id="nav-schedules"' not in client.get("/").text
    with site.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(att_employee)).scalar_one() == 2


def test_a_closed_month_refuses_the_change(site, hr) -> None:
    from punchd.app import periods

    process(site, date(2026, 3, 1), date(2026, 3, 31), actor=Actor("t"))
    periods.close_period(site, "2026-03", force=True, reason="payroll", actor=Actor("t"))
    data = {"month": "2026-03", "shift": "NIGHT", "date_from": "2026-03-02",
            "date_to": "2026-03-03", "people": ["E1"]}  # fmt: skip
    r = post(hr, GRID, "/schedules/fill/OPS", data)  # a valid form the closed month refuses
    assert r.status_code == 409 and 'id="error-shift"' in r.text
    assert "closed" in r.text
    assert count(site, att_schedule_override) == 0
    assert e1_day(site, date(2026, 3, 2)) == ("absent", "DAY")


def test_names_are_escaped(site, hr) -> None:
    from sqlalchemy import update

    from .conftest import EVIL

    with site.engine.begin() as conn:
        conn.execute(
            update(att_employee).where(att_employee.c.employee_no == "E1").values(name=EVIL)
        )
    for url in (GRID, "/schedules/cell/E1?day=2026-03-02"):
        page = hr.get(url)
        assert page.status_code == 200
        assert EVIL not in page.text and "&lt;script&gt;" in page.text


@pytest.mark.parametrize("shift", ["NIGHT", None])
def test_the_bulk_fill_writes_what_one_by_one_wrote(site, rules, shift) -> None:
    """set_employee_overrides (the batch fill) leaves the same temporary schedules and
    queues the same employee-days as set_override per person-day did: an equal override
    stays as it was, a different one is replaced, a department's is not touched; days
    before anything was processed are not queued."""
    from punchd.rules import schedules
    from punchd.storage.schema import att_reprocess

    process(site, date(2026, 3, 1), date(2026, 3, 5), actor=Actor("t"))
    with site.engine.begin() as conn:
        schedules.set_override(conn, date(2026, 3, 3), employee_no="E1", shift_code="NIGHT",
                               day_index=1, actor="t")  # fmt: skip
        schedules.set_override(conn, date(2026, 3, 4), employee_no="E2", shift_code="DAY",
                               actor="t")  # fmt: skip
        schedules.set_override(conn, date(2026, 3, 4), department_code="OPS-A", actor="t")
        conn.execute(att_reprocess.delete())

    def day_index(d: date) -> int:
        return d.day % 2 if shift else 0

    def outcome(conn) -> tuple[list, set, int]:
        o = att_schedule_override.c
        rows = conn.execute(
            select(o.work_date, o.employee_id, o.department_id, o.shift_id, o.day_index,
                   o.created_by).order_by(o.work_date, o.employee_id, o.department_id)
        ).all()  # fmt: skip
        queued = set()
        for r in conn.execute(select(att_reprocess)).all():
            d = r.date_from
            while d <= r.date_to:
                queued.add((r.employee_id, r.department_id, d, r.reason))
                d = date.fromordinal(d.toordinal() + 1)
        audits = conn.execute(
            select(func.count()).where(att_audit.c.changed_by == "batch")
        ).scalar_one()
        return [tuple(r) for r in rows], queued, audits

    people, start, end = ["E2", "E1"], date(2026, 3, 2), date(2026, 3, 8)
    with site.engine.connect() as conn:
        trans = conn.begin()
        changed_one_by_one = 0
        for no in sorted(people):
            d = start
            while d <= end:
                what = schedules.set_override(conn, d, employee_no=no, shift_code=shift,
                                              day_index=day_index(d), actor="batch")  # fmt: skip
                changed_one_by_one += what != "unchanged"
                d = date.fromordinal(d.toordinal() + 1)
        rows_one, queued_one, audits_one = outcome(conn)
        trans.rollback()
    with site.engine.connect() as conn:
        trans = conn.begin()
        changed = schedules.set_employee_overrides(
            conn, people, start, end, shift_code=shift, day_index=day_index, actor="batch"
        )
        rows_bulk, queued_bulk, audits_bulk = outcome(conn)
        trans.rollback()
    assert changed == changed_one_by_one == (13 if shift else 14)
    assert rows_bulk == rows_one
    assert queued_bulk == queued_one
    assert {d for _, _, d, _ in queued_bulk} == {date(2026, 3, d) for d in (2, 3, 4, 5)}
    assert (audits_one, audits_bulk) == (changed, 2)  # one per person-day before, per person now
