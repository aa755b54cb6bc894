"""The leave (请假) and manual punch (签卡) pages: forms and their problems next to the field,
the scope (an HR account assigned OPS meets SALES people as 404), overlapping leave, a form
sent twice, CSRF, leave and punches around a separation, voids and the audit. On every
test database (the ``engine`` fixture)."""

from __future__ import annotations

import re
from datetime import date, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, insert, select

from punchd.app import access as access_errors
from punchd.app import accounts as acc
from punchd.app import people
from punchd.app import rules as rules_ops
from punchd.storage.schema import att_device, att_employee, att_punch, att_reprocess

from .conftest import ADMIN, EVIL, T0, csrf_of, sign_in


@pytest.fixture(autouse=True)
def fixed_clock(clock) -> None:
    clock.value = T0  # 2026-03-02 09:00 in Shanghai


@pytest.fixture
def hr(client_for) -> TestClient:
    return client_for("hr")


@pytest.fixture
def hops(app, site) -> TestClient:
    """An HR account assigned OPS (OPS-A below it: E1); SALES (E2) is outside."""
    acc.add_account(site, "hops", "correct horse battery", "hr", actor=ADMIN, departments=("OPS",))
    client = TestClient(app)
    assert sign_in(client, "hops").status_code == 303
    return client


def _form(client: TestClient, url: str = "/people/leave") -> dict[str, str]:
    page = client.get(url)
    assert page.status_code == 200, page.text
    once = re.search(r'id="add-[a-z]+">.*?name="once" value="([^"]+)"', page.text, re.S)
    assert once, "no one-time token on the form"
    return {"csrf": csrf_of(page.text), "once": once.group(1)}


def _leave(site, employee_no: str | None = None) -> list:
    return rules_ops.list_leave(site, employee_no, date(2020, 1, 1), date(2030, 12, 31))


def _error(html: str, name: str) -> str:
    found = re.search(rf'id="error-{name}"[^>]*>([^<]*)<', html)
    assert found, f"no problem next to {name}"
    return found.group(1)


def _queue(site) -> int:
    with site.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(att_reprocess)).scalar_one()


def _add_employee(site, no: str, dept: str, name: str) -> None:
    with site.engine.begin() as conn:
        conn.execute(
            insert(att_employee).values(
                employee_no=no,
                name=name,
                department_id=people.store.department_id(conn, dept),
                enroll_no=no[1:] + "000",
                hire_date=date(2020, 1, 1),
                created_at=T0,
                updated_at=T0,
                updated_by="t",
            )
        )


# ------------------------------------------------------------------------------------ leave


def test_full_day_leave_is_entered_listed_and_processed(hr, site) -> None:
    sent = {
        **_form(hr),
        "employee": "E1",
        "kind": "annual",
        "span": "days",
        "start_day": "2026-03-03",
        "end_day": "2026-03-05",
        "note": "spring",
    }
    r = hr.post("/people/leave", data=sent, follow_redirects=False)
    assert r.status_code == 303
    assert "done=added" in r.headers["location"]
    (row,) = _leave(site, "E1")
    assert (row.kind, row.full_day, row.start_at, row.end_at, row.note, row.created_by) == (
        "annual",
        True,
        datetime(2026, 3, 3),
        datetime(2026, 3, 5),
        "spring",
        "harry",
    )
    assert _queue(site) == 0  # its days were re-processed after the change
    page = hr.get(r.headers["location"])
    assert 'data-done="added"' in page.text
    assert f'data-leave="{row.id}"' in page.text and "3 days" in page.text
    assert re.search(r'id="leave-changes".*data-action="add"', page.text, re.S)


def test_part_day_leave(hr, site) -> None:
    sent = {
        **_form(hr),
        "employee": "E1",
        "kind": "personal",
        "span": "times",
        "start_at": "2026-03-03T13:00",
        "end_at": "2026-03-03T17:30",
    }
    assert hr.post("/people/leave", data=sent, follow_redirects=False).status_code == 303
    (row,) = _leave(site, "E1")
    assert (row.full_day, row.start_at, row.end_at) == (
        False,
        datetime(2026, 3, 3, 13),
        datetime(2026, 3, 3, 17, 30),
    )
    page = hr.get("/people/leave?from=2026-03-01&to=2026-03-31")
    assert f'data-leave="{row.id}"' in page.text


def test_several_people_ticked_get_the_same_leave_or_nobody_does(hr, site) -> None:
    _add_employee(site, "E3", "OPS", "Wang Wu")
    page = hr.get("/people/leave?department=OPS")
    assert 'data-employee="E1"' in page.text and 'data-employee="E3"' in page.text
    assert 'type="checkbox" name="employees" value="E2"' not in page.text  # SALES
    rules_ops.add_leave(site, "E3", "sick", date(2026, 3, 4), actor=ADMIN)
    form = _form(hr, "/people/leave?department=OPS")
    sent = {
        **form,
        "employees": ["E1", "E3"],
        "kind": "trip",
        "span": "days",
        "start_day": "2026-03-03",
        "end_day": "2026-03-06",
        "department": "OPS",
    }
    r = hr.post("/people/leave", data=sent)
    assert r.status_code == 400
    assert "E3 already has leave at this time" in _error(r.text, "employees")
    assert _leave(site, "E1") == []  # all or nothing
    assert 'value="E1" data-employee="E1" checked' in r.text  # the ticks are kept
    sent["start_day"] = "2026-03-05"
    sent["once"] = _form(hr)["once"]
    assert hr.post("/people/leave", data=sent, follow_redirects=False).status_code == 303
    assert [r.kind for r in _leave(site, "E1")] == ["trip"]
    assert [r.kind for r in _leave(site, "E3")] == ["sick", "trip"]


def test_overlapping_leave_is_refused_next_to_the_field(hr, site) -> None:
    rules_ops.add_leave(site, "E1", "annual", date(2026, 3, 3), date(2026, 3, 5), actor=ADMIN)
    sent = {
        **_form(hr),
        "employee": "E1",
        "kind": "sick",
        "span": "times",
        "start_at": "2026-03-05T08:00",
        "end_at": "2026-03-05T12:00",
    }
    r = hr.post("/people/leave", data=sent)
    assert r.status_code == 400
    assert _error(r.text, "start") == (
        "E1 already has leave at this time: annual 2026-03-03 – 2026-03-05"
    )
    assert len(_leave(site, "E1")) == 1
    # touching is not overlapping: the day after the last one
    sent.update(start_at="2026-03-06T08:00", end_at="2026-03-06T12:00", once=_form(hr)["once"])
    assert hr.post("/people/leave", data=sent, follow_redirects=False).status_code == 303


@pytest.mark.parametrize(
    ("fields", "name", "problem"),
    [
        (
            {"start_day": "2026-03-03", "end_day": "2036-03-02"},
            "end",
            "at most 366 days at a time; this is 3653 days",
        ),
        ({"start_day": "2026-03-05", "end_day": "2026-03-03"}, "end", "ends before it starts"),
        ({"start_day": "3 March"}, "start", "not a date"),
        ({"start_day": ""}, "start", "required"),
        ({"kind": ""}, "kind", "required"),
        ({"kind": "x" * 33}, "kind", "at most 32 characters"),
        ({"employee": ""}, "employees", "choose at least one employee"),
        (
            {"span": "times", "start_at": "2026-03-03", "end_at": "2026-03-03T12:00"},
            "start",
            "not a date and time",
        ),
    ],
)
def test_form_problems_are_shown_next_to_the_field(hr, site, fields, name, problem) -> None:
    sent = {
        **_form(hr),
        "employee": "E1",
        "kind": "annual",
        "span": "days",
        "start_day": "2026-03-03",
        "end_day": "2026-03-04",
        **fields,
    }
    r = hr.post("/people/leave", data=sent)
    assert r.status_code == 400
    assert _error(r.text, name) == problem
    assert r.text.count('class="field-error"') == 1  # that one only
    assert _leave(site) == []


def test_ten_years_is_refused_in_chinese_too(hr, site) -> None:
    hr.post("/language", data={"csrf": csrf_of(hr.get("/account").text), "lang": "zh_Hans"})
    sent = {
        **_form(hr),
        "employee": "E1",
        "kind": "annual",
        "span": "days",
        "start_day": "2026-03-03",
        "end_day": "2036-03-02",
    }
    r = hr.post("/people/leave", data=sent)
    assert r.status_code == 400
    assert "3653" in _error(r.text, "end") and "366" in _error(r.text, "end")
    assert "请假" in r.text
    assert _leave(site) == []


def test_a_form_sent_twice_enters_the_leave_once(hr, site) -> None:
    sent = {
        **_form(hr),
        "employee": "E1",
        "kind": "annual",
        "span": "days",
        "start_day": "2026-03-03",
        "end_day": "2026-03-03",
    }
    first = hr.post("/people/leave", data=sent, follow_redirects=False)
    again = hr.post("/people/leave", data=sent, follow_redirects=False)
    assert first.status_code == again.status_code == 303
    assert again.headers["location"] == first.headers["location"]
    assert len(_leave(site, "E1")) == 1
    # without the one-time token the overlap check still refuses the second one
    sent.pop("once")
    assert hr.post("/people/leave", data=sent).status_code == 400
    assert len(_leave(site, "E1")) == 1


def test_a_change_without_the_csrf_token_is_refused(hr, site) -> None:
    sent = {
        **_form(hr),
        "employee": "E1",
        "kind": "annual",
        "span": "days",
        "start_day": "2026-03-03",
    }
    for token in (None, "forged"):
        data = {k: v for k, v in sent.items() if k != "csrf"}
        if token:
            data["csrf"] = token
        r = hr.post("/people/leave", data=data, follow_redirects=False)
        assert r.status_code == 403 and 'data-kind="csrf"' in r.text
    assert _leave(site) == []


def test_cancel_leave(hr, site) -> None:
    leave_id = rules_ops.add_leave(site, "E1", "sick", date(2026, 3, 3), actor=ADMIN)
    page = hr.get("/people/leave")
    once = re.search(
        rf'name="leave_id" value="{leave_id}">.*?name="once" value="([^"]+)"', page.text, re.S
    ).group(1)
    sent = {"csrf": csrf_of(page.text), "leave_id": str(leave_id), "once": once}
    r = hr.post("/people/leave/cancel", data=sent, follow_redirects=False)
    assert r.status_code == 303 and "done=cancelled" in r.headers["location"]
    again = hr.post("/people/leave/cancel", data=sent, follow_redirects=False)
    assert again.status_code == 303  # sent twice: the first answer
    assert _leave(site) == []
    page = hr.get("/people/leave")
    assert f'data-action="remove" data-key="{leave_id}"' in page.text
    # a leave that is not there (any more), or no id at all: 404
    for leave in (str(leave_id), "99999999999999999999", "x"):
        sent.update(once=f"another-token-{leave}-0123456789", leave_id=leave)
        assert hr.post("/people/leave/cancel", data=sent).status_code == 404


def test_leave_around_a_separation_in_either_order(hr, site) -> None:
    # entered first, the separation after it: both stay
    rules_ops.add_leave(site, "E1", "annual", date(2026, 3, 9), date(2026, 3, 10), actor=ADMIN)
    people.separate(site, "E1", date(2026, 3, 10), actor=ADMIN)
    # separated first: leave up to the last day is accepted, after it refused clearly
    sent = {
        **_form(hr),
        "employee": "E1",
        "kind": "sick",
        "span": "days",
        "start_day": "2026-03-05",
        "end_day": "2026-03-06",
    }
    assert hr.post("/people/leave", data=sent, follow_redirects=False).status_code == 303
    sent.update(start_day="2026-03-11", end_day="2026-03-12", once=_form(hr)["once"])
    r = hr.post("/people/leave", data=sent)
    assert r.status_code == 400
    assert _error(r.text, "start") == (
        "E1 left: the last day was 2026-03-10; leave after it is not needed"
    )
    assert [(r.kind, r.start_at.day) for r in _leave(site, "E1")] == [("sick", 5), ("annual", 9)]


def test_user_text_is_escaped(hr, site) -> None:
    sent = {
        **_form(hr),
        "employee": "E1",
        "kind": "<b>x</b>",
        "span": "days",
        "start_day": "2026-03-03",
        "note": EVIL,
    }
    r = hr.post("/people/leave", data=sent)
    assert EVIL not in r.text and "&lt;script&gt;" in r.text
    assert "<b>x</b>" not in r.text


# ------------------------------------------------------------------------------------ scope


def test_an_hr_of_ops_meets_sales_people_as_missing(hops, site) -> None:
    rules_ops.add_leave(site, "E2", "annual", date(2026, 3, 3), actor=ADMIN)
    e1 = rules_ops.add_leave(site, "E1", "annual", date(2026, 3, 4), actor=ADMIN)
    e2_punch = rules_ops.add_punch(
        site, "E2", datetime(2026, 3, 3, 9), reason="r", state="in", actor=ADMIN
    )
    page = hops.get("/people/leave")
    assert f'data-leave="{e1}"' in page.text and 'data-employee="E2"' not in page.text
    assert 'value="SALES"' not in page.text
    for url in (
        "/people/leave?employee=E2",
        "/people/leave?department=SALES",
        "/people/punches?employee=E2",
        "/people/leave?employee=NOBODY",
    ):
        r = hops.get(url)
        assert r.status_code == 404 and 'data-kind="not_found"' in r.text, url
    form = _form(hops)
    sent = {**form, "employee": "E2", "kind": "annual", "span": "days", "start_day": "2026-03-05"}
    assert hops.post("/people/leave", data=sent).status_code == 404
    # out of scope comes first, whatever else is wrong with the form
    sent.update(employee="E1 E2", start_day="not a day")
    assert hops.post("/people/leave", data=sent).status_code == 404
    e2_leave = _leave(site, "E2")[0].id
    cancel = {"csrf": form["csrf"], "leave_id": str(e2_leave)}
    assert hops.post("/people/leave/cancel", data=cancel).status_code == 404
    csrf = form["csrf"]
    for url, data in (
        ("/people/punches", {"employee": "E2", "at": "2026-03-03T08:00", "reason": "x"}),
        ("/people/punches", {"employee": "E2", "at": "nonsense", "reason": ""}),
        ("/people/punches/void", {"employee": "E2", "punch_id": str(e2_punch), "reason": "x"}),
        # a punch of E2 asked for through E1, whom the account sees
        ("/people/punches/void", {"employee": "E1", "punch_id": str(e2_punch), "reason": "x"}),
        ("/people/punches/unvoid", {"employee": "E1", "punch_id": str(e2_punch)}),
    ):
        r = hops.post(url, data={"csrf": csrf, **data})
        assert r.status_code == 404 and 'data-kind="not_found"' in r.text, (url, data)
    assert len(_leave(site, "E2")) == 1 and len(_leave(site)) == 2
    listing = rules_ops.list_punches(site, "E2", date(2026, 3, 3), date(2026, 3, 3))
    assert [p.void for p in listing.punches] == [False]


# ---------------------------------------------------------------------------------- punches


def _device_punch(site, at: datetime) -> int:
    with site.engine.begin() as conn:
        device = conn.execute(
            insert(att_device).values(
                name="door", driver="memory", address="mem", created_at=T0, updated_at=T0
            )
        ).inserted_primary_key[0]
        return conn.execute(
            insert(att_punch).values(
                device_id=device,
                enroll_no="1000",
                punched_at=at,
                punched_at_utc=at.replace(hour=at.hour - 8),
                state="in",
                source="device",
                collected_at=T0,
            )
        ).inserted_primary_key[0]


#: the list's days, sent back by every form of the punch page
DAY = {"from": "2026-03-03", "to": "2026-03-03"}


def _punch_forms(client: TestClient, url: str) -> tuple[str, dict[str, str]]:
    page = client.get(url)
    assert page.status_code == 200, page.text
    onces = dict(re.findall(r'name="once" value="([^"]+-((?:un)?void-\d+|add))"', page.text))
    return csrf_of(page.text), {key: token for token, key in onces.items()}


def test_manual_punch_void_unvoid_and_who_did_it(hr, site) -> None:
    device = _device_punch(site, datetime(2026, 3, 3, 8, 58))
    url = "/people/punches?employee=E1&from=2026-03-03&to=2026-03-03"
    csrf, onces = _punch_forms(hr, url)
    assert f'data-punch="{device}" data-source="device"' in hr.get(url).text
    sent = {
        "csrf": csrf,
        "once": onces["add"],
        "employee": "E1",
        "at": "2026-03-03T18:02",
        "state": "out",
        "reason": "forgot the card",
        "from": "2026-03-03",
        "to": "2026-03-03",
    }
    r = hr.post("/people/punches", data=sent, follow_redirects=False)
    assert r.status_code == 303 and "done=added" in r.headers["location"]
    again = hr.post("/people/punches", data=sent, follow_redirects=False)
    assert again.headers["location"] == r.headers["location"]  # sent twice: added once
    listing = rules_ops.list_punches(site, "E1", date(2026, 3, 3), date(2026, 3, 3)).punches
    assert [(p.source, p.state, p.note, p.created_by) for p in listing] == [
        ("device", "in", None, None),
        ("manual", "out", "forgot the card", "harry"),
    ]
    assert _queue(site) == 0
    # void the device punch: a reason is required
    csrf, onces = _punch_forms(hr, url)
    void = {
        "csrf": csrf,
        "once": onces[f"void-{device}"],
        "employee": "E1",
        "punch_id": str(device),
        "reason": " ",
        **DAY,
    }
    r = hr.post("/people/punches/void", data=void)
    assert r.status_code == 400 and _error(r.text, "reason") == "required"
    void["reason"] = "swiped for a visitor"
    assert hr.post("/people/punches/void", data=void, follow_redirects=False).status_code == 303
    listing = rules_ops.list_punches(site, "E1", date(2026, 3, 3), date(2026, 3, 3)).punches
    assert (listing[0].void, listing[0].void_reason, listing[0].voided_by) == (
        True,
        "swiped for a visitor",
        "harry",
    )
    csrf, onces = _punch_forms(hr, url)
    unvoid = {
        "csrf": csrf,
        "once": onces[f"unvoid-{device}"],
        "employee": "E1",
        "punch_id": str(device),
        **DAY,
    }
    assert hr.post("/people/punches/unvoid", data=unvoid, follow_redirects=False).status_code == 303
    page = hr.get(url).text
    assert f'data-punch="{device}" data-source="device" data-void="no"' in page
    actions = re.findall(r'data-action="(\w+)" data-key="(\d+)"', page)
    assert actions == [("unvoid", str(device)), ("void", str(device)), ("add", str(listing[1].id))]


@pytest.mark.parametrize(
    ("fields", "name", "problem"),
    [
        ({"reason": ""}, "reason", "required"),
        ({"at": ""}, "at", "required"),
        ({"at": "2026-03-03"}, "at", "not a date and time"),
        ({"state": "sideways"}, "state", "not one of the choices"),
    ],
)
def test_punch_form_problems(hr, site, fields, name, problem) -> None:
    csrf, onces = _punch_forms(hr, "/people/punches?employee=E1")
    sent = {
        "csrf": csrf,
        "once": onces["add"],
        "employee": "E1",
        "at": "2026-03-03T08:00",
        "state": "in",
        "reason": "forgot",
        **fields,
    }
    r = hr.post("/people/punches", data=sent)
    assert r.status_code == 400 and _error(r.text, name) == problem
    assert r.text.count('class="field-error"') == 1
    assert rules_ops.list_punches(site, "E1", date(2026, 3, 3), date(2026, 3, 3)).punches == []


def test_punches_around_a_separation(hr, site) -> None:
    people.separate(site, "E1", date(2026, 3, 10), actor=ADMIN)
    csrf, onces = _punch_forms(hr, "/people/punches?employee=E1")
    sent = {
        "csrf": csrf,
        "once": onces["add"],
        "employee": "E1",
        "at": "2026-03-10T08:00",
        "state": "in",
        "reason": "forgot",
    }
    assert hr.post("/people/punches", data=sent, follow_redirects=False).status_code == 303
    sent.update(at="2026-03-12T08:00", once="second-form-token-0123")
    r = hr.post("/people/punches", data=sent)
    assert r.status_code == 400
    assert _error(r.text, "at") == "E1 left: the last day was 2026-03-10"
    # the same minute twice (another form): refused by the application
    sent.update(at="2026-03-10T08:00", once="third-form-token-0123")
    r = hr.post("/people/punches", data=sent)
    assert r.status_code == 400 and "already has a manual punch" in _error(r.text, "at")


def test_lists_need_sane_dates(hr) -> None:
    r = hr.get("/people/leave?from=2026-01-01&to=2030-01-01")
    assert r.status_code == 400 and _error(r.text, "to") == "at most 366 days at a time"
    r = hr.get("/people/punches?employee=E1&from=yesterday")
    assert r.status_code == 400 and _error(r.text, "from") == "not a date"
    assert hr.get("/people/punches").status_code == 200  # no one chosen yet


def test_other_roles_do_not_get_the_pages(client_for) -> None:
    for role in ("leader", "payroll", "employee"):
        client = client_for(role)
        assert client.get("/people/leave").status_code == 404
        assert client.get("/people/punches?employee=E1").status_code == 404
        assert 'id="nav-absences"' not in client.get("/").text
    assert 'id="nav-absences"' in client_for("hr").get("/").text


def test_a_closed_month_refuses_leave_and_punches_next_to_the_field(hr, site) -> None:
    from punchd.app import attendance, periods

    attendance.process(site, date(2026, 2, 1), date(2026, 3, 31), actor=ADMIN)
    periods.close_period(site, "2026-02", force=True, reason="test", actor=ADMIN)
    sent = {**_form(hr), "employee": "E1", "kind": "annual", "span": "days",
            "start_day": "2026-02-27", "end_day": "2026-03-02"}  # fmt: skip
    r = hr.post("/people/leave", data=sent)
    assert r.status_code == 409 and "closed" in _error(r.text, "start")
    assert _leave(site) == []
    csrf, onces = _punch_forms(hr, "/people/punches?employee=E1")
    punch = {"csrf": csrf, "once": onces["add"], "employee": "E1", "at": "2026-02-27T08:00",
             "state": "in", "reason": "forgot"}  # fmt: skip
    r = hr.post("/people/punches", data=punch)
    assert r.status_code == 409 and "closed" in _error(r.text, "at")


def test_the_same_form_sent_twice_at_once_enters_one_leave(hr, site) -> None:
    from concurrent.futures import ThreadPoolExecutor

    sent = {**_form(hr), "employee": "E1", "kind": "annual", "span": "days",
            "start_day": "2026-03-03"}  # fmt: skip
    with ThreadPoolExecutor(2) as pool:
        answers = list(
            pool.map(lambda _: hr.post("/people/leave", data=sent, follow_redirects=False), (1, 2))
        )
    assert [a.status_code for a in answers] == [303, 303]
    assert answers[0].headers["location"] == answers[1].headers["location"]
    assert len(_leave(site, "E1")) == 1


# -------------------------------------------------------------------- the application's checks


def test_overlap_boundaries_in_the_application(site) -> None:
    from punchd.app import absences
    from punchd.app.access import scope_for

    scope = scope_for(site, acc.get_account(site, "harry"))
    actor = ADMIN

    def add(start, end):
        return absences.add_leave_in(site, scope, ["E1"], "x", start, end, actor=actor, now=T0)

    add(datetime(2026, 3, 3, 9), datetime(2026, 3, 3, 12))
    add(datetime(2026, 3, 3, 12), datetime(2026, 3, 3, 13))  # touching: fine
    add(date(2026, 3, 4), date(2026, 3, 4))  # the next whole day: fine
    for start, end in (
        (datetime(2026, 3, 3, 11, 59), datetime(2026, 3, 3, 12, 30)),
        (date(2026, 3, 3), date(2026, 3, 3)),  # a whole day over part-day leave
        (datetime(2026, 3, 4, 23, 0), datetime(2026, 3, 5, 1, 0)),  # into a whole day
    ):
        with pytest.raises(absences.FormProblems) as refused:
            add(start, end)
        assert "already has leave" in str(refused.value.problems["start"])
    add(datetime(2026, 3, 5, 0, 0), datetime(2026, 3, 5, 1, 0))  # after the whole day
    add(date(2026, 3, 6), date(2027, 3, 6))  # 366 days: the most at once
    with pytest.raises(absences.FormProblems) as refused:
        add(date(2027, 4, 1), date(2028, 4, 1))  # 367
    assert str(refused.value.problems["end"]) == ("at most 366 days at a time; this is 367 days")
    assert len(_leave(site, "E1")) == 5
    # out of scope, missing: the same NotFound
    hops = acc.add_account(site, "hops2", "correct horse battery", "hr", actor=ADMIN,
                           departments=("OPS",))  # fmt: skip
    narrow = scope_for(site, hops)
    for no in ("E2", "NOBODY"):
        with pytest.raises(access_errors.NotFound):
            absences.add_leave_in(
                site, narrow, [no], "x", date(2026, 3, 9), date(2026, 3, 9), actor=actor
            )
