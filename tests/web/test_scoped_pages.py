"""A department's day and one person's days, in the app layer, the pages and the API: each
role sees its scope and nothing more, and what it may not see answers exactly like what does
not exist (404). Organisation (conftest): OPS > OPS-A (E1), SALES (E2); here also E3 in
OPS, E4 in OPS who left before the day, E5 in OPS-A with markup in the name."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select

from punchd.app import Actor, access, results
from punchd.app import accounts as acc
from punchd.errors import InvalidInput
from punchd.storage import hr as hr_store
from punchd.storage.collection import upsert_device
from punchd.storage.schema import (
    att_audit,
    att_card,
    att_day,
    att_employee,
    att_exception,
    att_punch,
    web_api_token,
)

from .conftest import ADMIN, EVIL, PASSWORD, T0

DAY = date(2026, 3, 2)  # T0 in Shanghai
YESTERDAY = DAY - timedelta(days=1)
ZERO = dict.fromkeys(
    (
        "scheduled_minutes", "worked_minutes", "late_minutes", "early_minutes",
        "absent_minutes", "leave_minutes", "overtime_minutes", "holiday_overtime_minutes",
        "rest_overtime_minutes", "missing_punches",
    ),
    0,
)  # fmt: skip


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, datetime.min.time()).replace(hour=hour, minute=minute)


@pytest.fixture
def org(site):
    """Results, exceptions and punches of DAY (and the day before) for the organisation."""
    with site.engine.begin() as conn:
        dept = {code: hr_store.department_id(conn, code) for code in ("OPS", "OPS-A", "SALES")}
        for no, name, code, left in (
            ("E3", "Wang Wu", "OPS", None),
            ("E4", "Gone Early", "OPS", date(2026, 2, 1)),
            ("E5", EVIL, "OPS-A", None),
        ):
            conn.execute(
                insert(att_employee).values(
                    employee_no=no,
                    name=name,
                    department_id=dept[code],
                    enroll_no=None,
                    hire_date=date(2020, 1, 1),
                    separation_date=left,
                    created_at=T0,
                    updated_at=T0,
                    updated_by="t",
                )
            )
        ids = {no: hr_store.find_employee(conn, no)["id"] for no in ("E1", "E2", "E3")}
        for no, day, status, extra in (
            ("E1", DAY, "present", {"late_minutes": 12, "worked_minutes": 468}),
            ("E2", DAY, "absent", {"absent_minutes": 480}),
            ("E1", YESTERDAY, "present", {"worked_minutes": 480}),
        ):
            conn.execute(
                insert(att_day).values(
                    employee_id=ids[no],
                    work_date=day,
                    shift_code="DAY",
                    status=status,
                    first_punch=_at(day, 8, 12) if status == "present" else None,
                    last_punch=_at(day, 17) if status == "present" else None,
                    processed_at=T0,
                    **{**ZERO, **extra},
                )
            )
        for no, day, kind, minutes in (("E1", DAY, "late", 12), ("E2", DAY, "absent", 480)):
            conn.execute(
                insert(att_exception).values(
                    employee_id=ids[no],
                    work_date=day,
                    period="1",
                    kind=kind,
                    minutes=minutes,
                    detail=f"{kind} {minutes}",
                )
            )
        gate = upsert_device(conn, name="gate-1", driver="memory", address="memory:gate-1")
        cards = upsert_device(
            conn, name="card-gate", driver="memory", address="memory:cards", user_code="card"
        )
        for card, no in (("C9", "E1"), ("C8", "E2")):
            conn.execute(
                insert(att_card).values(
                    card_no=card,
                    employee_id=ids[no],
                    effective_from=_at(YESTERDAY, 0),
                    created_at=T0,
                    created_by="t",
                )
            )

        def punch(device, enroll, at, **kw):
            values = {
                "device_id": device,
                "enroll_no": enroll,
                "punched_at": at,
                "punched_at_utc": at - timedelta(hours=8),
                "state": "in",
                "source": "device",
                "collected_at": T0,
                "void": False,
            }
            conn.execute(insert(att_punch).values(**{**values, **kw}))

        punch(gate, "1000", _at(DAY, 8, 12))  # E1's enrolment number
        punch(gate, "1000", _at(DAY, 17), state="out")
        punch(gate, "1000", _at(DAY, 12), void=True, void_reason="double")
        punch(gate, "1000", datetime(2000, 1, 1, 0, 0), flag="power_loss")  # out of range
        punch(gate, "1000", _at(YESTERDAY, 9), flag="future")
        punch(gate, "2000", _at(DAY, 7, 55))  # E2's
        punch(cards, "C9", _at(DAY, 8, 10))  # E1's card
        punch(cards, "C8", _at(DAY, 8, 11))  # E2's card
        punch(cards, "C9", _at(YESTERDAY - timedelta(days=2), 8))  # before E1 held it
        punch(
            None,
            "1000",
            _at(YESTERDAY, 18),
            source="manual",
            employee_id=ids["E1"],
            note="forgot to punch",
            created_by="clerk",
        )
    return site


def _scope(site, name):
    return access.scope_for(site, acc.get_account(site, name))


# ------------------------------------------------------------------------- the app layer


def test_department_day_in_the_leaders_scope(org) -> None:
    view = results.department_day(org, _scope(org, "lena"), "OPS", DAY, today=DAY)
    assert (view.code, view.day, view.today) == ("OPS", DAY, DAY)
    assert [(g.code, g.depth, g.parent_code) for g in view.groups] == [
        ("OPS", 0, None),
        ("OPS-A", 1, "OPS"),
    ]
    ops, line_a = view.groups
    assert [p.employee_no for p in ops.people] == ["E3"]  # E4 left before the day
    assert ops.people[0].status is None  # employed, not processed
    assert [p.employee_no for p in line_a.people] == ["E1", "E5"]
    e1 = line_a.people[0]
    assert (e1.status, e1.late_minutes, e1.first_punch) == ("present", 12, _at(DAY, 8, 12))
    assert [(x.kind, x.minutes) for x in e1.exceptions] == [("late", 12)]
    assert view.people == 3
    # another day: that day's results; default: today
    before = results.department_day(org, _scope(org, "lena"), "OPS-A", YESTERDAY, today=DAY)
    assert [(p.employee_no, p.status) for p in before.groups[0].people] == [
        ("E1", "present"),
        ("E5", None),
    ]
    assert results.department_day(org, _scope(org, "lena"), "OPS-A", today=DAY).day == DAY


def test_outside_the_scope_is_missing(org) -> None:
    leader = _scope(org, "lena")
    with pytest.raises(access.NotFound) as forbidden:
        results.department_day(org, leader, "SALES", DAY, today=DAY)
    with pytest.raises(access.NotFound) as missing:
        results.department_day(org, leader, "NOPE", DAY, today=DAY)
    assert str(forbidden.value).replace("SALES", "X") == str(missing.value).replace("NOPE", "X")
    # an hr clerk assigned OPS-A: not the department above it
    acc.add_account(org, "olga", PASSWORD, "hr", actor=ADMIN, departments=("OPS-A",))
    olga = _scope(org, "olga")
    with pytest.raises(access.NotFound):
        results.department_day(org, olga, "OPS", DAY, today=DAY)
    assert [g.code for g in results.department_day(org, olga, "OPS-A", DAY).groups] == ["OPS-A"]
    with pytest.raises(access.NotFound):
        results.employee_days(org, olga, "E3", today=DAY)  # in OPS
    # an employee sees no department at all, not even their own
    with pytest.raises(access.NotFound):
        results.department_day(org, _scope(org, "emma"), "OPS-A", DAY, today=DAY)
    # payroll and hr without departments: everything
    for name in ("paul", "harry", "alice"):
        whole = results.department_day(org, _scope(org, name), "SALES", DAY, today=DAY)
        assert [p.employee_no for p in whole.groups[0].people] == ["E2"]


def test_employee_days_for_whom(org) -> None:
    me = results.employee_days(org, _scope(org, "emma"), "E1", today=DAY)
    assert (me.date_from, me.date_to) == (DAY - timedelta(days=29), DAY)
    assert [d.work_date for d in me.days] == [DAY, YESTERDAY]
    assert [(x.work_date, x.kind) for x in me.exceptions] == [(DAY, "late")]
    for who, no in (("emma", "E2"), ("emma", "E3"), ("lena", "E2"), ("emma", "NOBODY")):
        with pytest.raises(access.NotFound, match=f"no employee '{no}'"):
            results.employee_days(org, _scope(org, who), no, today=DAY)
    assert results.employee_days(org, _scope(org, "lena"), "E1", today=DAY).name == "Zhang San"
    assert results.employee_days(org, _scope(org, "paul"), "E2", today=DAY).days[0].status == (
        "absent"
    )


def test_employee_punches(org) -> None:
    me = results.employee_days(org, _scope(org, "emma"), "E1", today=DAY)
    seen = [(p.punched_at, p.device, p.source, p.void, p.flag) for p in me.punches]
    assert seen == [
        (_at(DAY, 17), "gate-1", "device", False, None),
        (_at(DAY, 12), "gate-1", "device", True, None),
        (_at(DAY, 8, 12), "gate-1", "device", False, None),
        (_at(DAY, 8, 10), "card-gate", "device", False, None),  # the card E1 held
        (_at(YESTERDAY, 18), None, "manual", False, None),
        (_at(YESTERDAY, 9), "gate-1", "device", False, "future"),
    ]  # not E2's punches, not the card's before E1 held it, not outside the range
    assert me.punches[4].note == "forgot to punch"
    assert me.punches[1].void_reason == "double"


def test_ranges(org) -> None:
    emma = _scope(org, "emma")
    one = results.employee_days(org, emma, "E1", date_from=DAY, date_to=DAY, today=DAY)
    assert [d.work_date for d in one.days] == [DAY]
    assert [p.punched_at.date() for p in one.punches] == [DAY] * 4
    later = results.employee_days(org, emma, "E1", date_from=YESTERDAY, today=DAY)
    assert (later.date_from, later.date_to) == (YESTERDAY, YESTERDAY + timedelta(days=29))
    earlier = results.employee_days(org, emma, "E1", date_to=YESTERDAY, today=DAY)
    assert earlier.date_from == YESTERDAY - timedelta(days=29)
    quarter = results.employee_days(
        org, emma, "E1", date_from=DAY - timedelta(days=91), date_to=DAY, today=DAY
    )
    assert len(quarter.days) == 2
    with pytest.raises(InvalidInput, match="at most 92 days"):
        results.employee_days(
            org, emma, "E1", date_from=DAY - timedelta(days=92), date_to=DAY, today=DAY
        )
    with pytest.raises(InvalidInput, match="before it starts"):
        results.employee_days(org, emma, "E1", date_from=DAY, date_to=YESTERDAY, today=DAY)
    # someone else's, with a bad range: still just missing
    with pytest.raises(access.NotFound):
        results.employee_days(org, emma, "E2", date_from=DAY, date_to=YESTERDAY, today=DAY)


# ---------------------------------------------------------------------------- the pages


def _without_path(html: str) -> str:
    """The page without the echoes of its own address (the language form's next field)."""
    return re.sub(r'name="next" value="[^"]*"', "", html)


def test_department_page(org, client_for, clock) -> None:
    clock.value = T0
    leader = client_for("leader")
    page = leader.get("/departments/OPS")
    assert page.status_code == 200
    html = page.text
    assert 'id="department-day"' in html and 'data-date="2026-03-02"' in html
    rows = re.findall(r'<tr data-employee="([^"]+)"', html)
    assert rows == ["E3", "E1", "E5"]
    assert '<tbody data-department="OPS-A" data-depth="1">' in html
    assert 'href="/employees/E1"' in html and 'href="/departments/OPS-A?date=2026-03-02"' in html
    assert "Li Si" not in html and "SALES" not in html
    assert EVIL not in html and "&lt;script&gt;" in html  # escaped
    assert 'data-kind="late"' in html
    other = leader.get("/departments/OPS-A?date=2026-03-01").text
    assert re.findall(r'<tr data-employee="([^"]+)" data-status="([^"]*)"', other) == [
        ("E1", "present"),
        ("E5", ""),
    ]
    assert leader.get("/departments/OPS?date=yesterday").status_code == 400


def test_department_outside_the_scope_is_the_not_found_page(org, client_for, clock) -> None:
    clock.value = T0
    leader = client_for("leader")
    with org.engine.connect() as conn:
        audited = conn.execute(select(func.count()).select_from(att_audit)).scalar_one()
    forbidden = leader.get("/departments/SALES?date=2026-03-02")
    missing = leader.get("/departments/NO-SUCH?date=2026-03-02")
    assert forbidden.status_code == missing.status_code == 404
    assert _without_path(forbidden.text) == _without_path(missing.text)
    assert "Li Si" not in forbidden.text and "Sales" not in forbidden.text
    for url in ("/employees/E2", "/employees/NO-SUCH"):
        r = leader.get(url)
        assert r.status_code == 404 and "Li Si" not in r.text
    assert _without_path(leader.get("/employees/E2").text) == _without_path(
        leader.get("/employees/NO-SUCH").text
    )
    with org.engine.connect() as conn:  # nothing was written for any of it
        assert conn.execute(select(func.count()).select_from(att_audit)).scalar_one() == audited
    # an employee has no department page at all
    assert client_for("employee").get("/departments/OPS-A").status_code == 404


def test_employee_page(org, client_for, clock) -> None:
    clock.value = T0
    emma = client_for("employee")
    page = emma.get("/employees/E1")
    assert page.status_code == 200
    html = page.text
    assert 'id="employee-days"' in html
    assert re.findall(r'<tr data-date="([^"]+)" data-status', html) == ["2026-03-02", "2026-03-01"]
    assert 'id="employee-punches"' in html and 'data-void="1"' in html
    assert 'data-flag="future"' in html and "forgot to punch" in html
    assert 'id="employee-exceptions"' in html
    assert "Li Si" not in html and "card-gate" in html
    assert emma.get("/employees/E2").status_code == 404
    one = emma.get("/employees/E1?from=2026-03-01&to=2026-03-01").text
    assert re.findall(r'<tr data-date="([^"]+)" data-status', one) == ["2026-03-01"]
    bad = emma.get("/employees/E1?from=2026-03-02&to=2026-03-01")
    assert bad.status_code == 400 and 'id="range-error"' in bad.text
    assert emma.get("/employees/E1?from=2025-01-01&to=2026-03-01").status_code == 400
    assert emma.get("/employees/E1?from=March").status_code == 400
    # someone else's with a bad range: the not-found page, not the range message
    assert emma.get("/employees/E2?from=2026-03-02&to=2026-03-01").status_code == 404
    zh = client_for("employee")
    zh.post("/language", data={"lang": "zh_Hans", "csrf": _csrf(zh), "next": "/"})
    assert "打卡记录" in zh.get("/employees/E1").text


def _csrf(client) -> str:
    from .conftest import csrf_of

    return csrf_of(client.get("/account").text)


def test_home_links(org, client_for, clock) -> None:
    clock.value = T0
    leader = client_for("leader").get("/").text
    assert 'href="/departments/OPS"' in leader  # the department led
    assert 'href="/departments/OPS-A"' in leader and 'href="/employees/E1"' in leader
    hr = client_for("hr").get("/").text
    assert 'href="/employees/E2"' in hr and 'href="/departments/SALES"' in hr
    own = client_for("employee").get("/").text
    assert 'href="/employees/E1"' in own and "/departments/" not in own


# ------------------------------------------------------------------------------ the API


def _bearer(site, name: str) -> dict[str, str]:
    token = acc.create_api_token(site, name, "it", actor=Actor("t"), now=T0)
    return {"authorization": f"Bearer {token}"}


def test_api(org, anonymous, clock) -> None:
    clock.value = T0
    lena, emma = _bearer(org, "lena"), _bearer(org, "emma")
    day = anonymous.get("/api/v1/departments/OPS/day", headers=lena)
    assert day.status_code == 200, day.text
    body = day.json()
    assert (body["code"], body["day"], body["timezone"]) == ("OPS", "2026-03-02", "Asia/Shanghai")
    assert [g["code"] for g in body["groups"]] == ["OPS", "OPS-A"]
    e1 = body["groups"][1]["people"][0]
    assert (e1["employee_no"], e1["late_minutes"], e1["first_punch"]) == (
        "E1",
        12,
        "2026-03-02T08:12:00",
    )
    assert e1["exceptions"][0]["kind"] == "late"
    before = anonymous.get("/api/v1/departments/OPS-A/day?date=2026-03-01", headers=lena)
    assert before.json()["groups"][0]["people"][0]["status"] == "present"
    for url in ("/api/v1/departments/SALES/day", "/api/v1/departments/NOPE/day"):
        r = anonymous.get(url, headers=lena)
        assert (r.status_code, r.json()) == (404, {"detail": "not found"})
    assert anonymous.get("/api/v1/departments/OPS-A/day", headers=emma).status_code == 404
    assert anonymous.get("/api/v1/departments/OPS/day").status_code == 401

    mine = anonymous.get("/api/v1/employees/E1/days", headers=emma).json()
    assert [d["work_date"] for d in mine["days"]] == ["2026-03-02", "2026-03-01"]
    assert (mine["date_from"], mine["date_to"]) == ("2026-02-01", "2026-03-02")
    assert len(mine["punches"]) == 6 and mine["punches"][4]["source"] == "manual"
    for who in (emma, lena):
        for no in ("E2", "NOBODY"):
            r = anonymous.get(f"/api/v1/employees/{no}/days", headers=who)
            assert (r.status_code, r.json()) == (404, {"detail": "not found"})
    bad = anonymous.get("/api/v1/employees/E1/days?from=2026-03-02&to=2026-03-01", headers=emma)
    assert bad.status_code == 400 and "before it starts" in bad.json()["detail"]
    ranged = anonymous.get("/api/v1/employees/E1/days?from=2026-03-01&to=2026-03-01", headers=lena)
    assert [d["work_date"] for d in ranged.json()["days"]] == ["2026-03-01"]


# ----------------------------------------------------------- the console's clock (now=)


def test_password_change_and_token_on_the_injected_clock(site, client_for, clock) -> None:
    # the console's clock months before the real one: a session of T0 is live at T0 only
    clock.value = T0
    emma = client_for("employee")
    done = emma.post(
        "/account/password",
        data={
            "csrf": _csrf(emma),
            "old_password": PASSWORD,
            "new_password": "a brand new one",
            "new_password_again": "a brand new one",
        },
        follow_redirects=False,
    )
    assert done.status_code == 200, done.headers.get("location")
    assert acc.resume(site, emma.cookies["punchd_session"], now=T0).account.name == "emma"
    acc.create_api_token(site, "emma", "at T0", actor=Actor("t"), now=T0 + timedelta(seconds=5))
    with site.engine.connect() as conn:
        created = conn.execute(
            select(web_api_token.c.created_at).where(web_api_token.c.label == "at T0")
        ).scalar_one()
    assert created == T0 + timedelta(seconds=5)
