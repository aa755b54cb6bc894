"""Self-service: an employee's own month at /me, signing in and out for work on the web
(签到 / 签退 → punches of source ``web``), and HR's switch that allows it. Organisation
(conftest): OPS > OPS-A (E1, the employee account emma), SALES (E2); leader lena leads OPS;
HR harry sees every department (here also hilda, HR of SALES only)."""

from __future__ import annotations

import threading
from datetime import date, datetime

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from punchd.app import Actor, Site, access, attendance, selfservice
from punchd.app import accounts as acc
from punchd.storage import hr as hr_store
from punchd.storage.schema import att_audit, att_day, att_employee, att_punch
from punchd.web.app import create_app

from ..helpers.rows import add_period, add_schedule, add_shift
from .conftest import ADMIN, PASSWORD, T0, Clock, csrf_of, sign_in

DAY = date(2026, 3, 2)  # T0 (01:00 UTC) is 09:00 on this day in Shanghai
OFFICE = "10.20.0.0/16"
INSIDE = ("10.20.3.4", 50000)
OUTSIDE = ("192.0.2.7", 50000)
PROXY = ("127.0.0.1", 50000)


@pytest.fixture
def web_site(site: Site) -> Site:
    """The conftest site with ``[web] self_punch_networks`` set and a proxy trusted."""
    web = site.settings.web.model_copy(
        update={"self_punch_networks": [OFFICE], "trusted_proxies": ["127.0.0.1"]}
    )
    return Site(site.settings.model_copy(update={"web": web}), site.engine)


@pytest.fixture
def web_app(web_site: Site, clock: Clock) -> FastAPI:
    clock.value = T0
    return create_app(web_site, now=clock)


def _client(app: FastAPI, name: str, address: tuple[str, int] = INSIDE) -> TestClient:
    client = TestClient(app, client=address)
    done = sign_in(client, name)
    assert done.status_code == 303, done.text
    return client


def _enable(site: Site, no: str = "E1", on: bool = True) -> None:
    scope = access.scope_for(site, acc.get_account(site, "harry"))
    selfservice.set_switch(site, scope, no, on, actor=Actor("harry"))


def _web_punches(site: Site) -> list:
    with site.engine.connect() as conn:
        return list(
            conn.execute(
                select(att_punch).where(att_punch.c.source == "web").order_by(att_punch.c.id)
            )
        )


def _press(client: TestClient, state: str, **headers: str):
    page = client.get("/me")
    return client.post(
        "/me/punch",
        data={"state": state, "csrf": csrf_of(page.text)},
        headers=headers,
        follow_redirects=False,
    )


# ------------------------------------------------------------------------- seeing oneself


def test_employee_sees_own_month_and_nobody_else(web_app: FastAPI, web_site: Site) -> None:
    me = _client(web_app, "emma")
    page = me.get("/me")
    assert page.status_code == 200
    assert 'data-employee="E1"' in page.text and "Zhang San" in page.text
    assert 'data-from="2026-03-01" data-to="2026-03-31"' in page.text  # this month by the clock
    assert 'id="nav-me"' in page.text
    other = me.get("/me?month=2026-02")
    assert 'data-from="2026-02-01" data-to="2026-02-28"' in other.text
    assert me.get("/me?month=March").status_code == 400
    # another employee's number, and HR's page: exactly like a missing one
    assert me.get("/employees/E2").status_code == 404
    assert me.get("/employees/NOBODY").status_code == 404
    assert me.get("/employees/E1").status_code == 200
    assert me.get("/people/self-service").status_code == 404
    # not enabled yet: no buttons
    assert 'id="punch-in"' not in page.text


def test_other_roles_have_no_me_page_and_leaders_keep_their_scope(web_app: FastAPI) -> None:
    lena = _client(web_app, "lena")
    assert lena.get("/me").status_code == 404
    assert lena.get("/employees/E1").status_code == 200  # OPS-A is below OPS
    assert lena.get("/employees/E2").status_code == 404  # SALES is not hers
    assert 'id="nav-me"' not in lena.get("/").text
    paul = _client(web_app, "paul")
    assert paul.get("/me").status_code == 404
    assert paul.post("/me/punch", data={"state": "in"}).status_code == 404


# ------------------------------------------------------------------------- 签到 / 签退


def test_sign_in_records_a_web_punch_at_the_server_time(
    web_app: FastAPI, web_site: Site, clock: Clock
) -> None:
    _enable(web_site)
    me = _client(web_app, "emma")
    page = me.get("/me")
    assert 'id="punch-in"' in page.text and 'id="punch-out"' in page.text
    # a time sent by the client is ignored: only state is read
    csrf = csrf_of(page.text)
    done = me.post(
        "/me/punch",
        data={"state": "in", "csrf": csrf, "punched_at": "2020-01-01 00:00"},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/me?done=in"
    [row] = _web_punches(web_site)
    assert row.punched_at == datetime(2026, 3, 2, 9, 0)  # Shanghai wall clock
    assert row.punched_at_utc == T0
    assert (row.state, row.created_by, row.client_address) == ("in", "emma", "10.20.3.4")
    assert row.device_id is None and not row.void
    with web_site.engine.connect() as conn:
        assert row.employee_id == hr_store.find_employee(conn, "E1")["id"]
        audit = conn.execute(
            select(att_audit).where(att_audit.c.entity == "punch", att_audit.c.changed_by == "emma")
        ).all()
    assert len(audit) == 1 and '"web"' in audit[0].detail
    shown = me.get("/me?done=in")
    assert "Your sign-in for work is recorded." in shown.text
    assert f'data-punch="{row.id}"' in shown.text and 'data-source="web"' in shown.text
    # sign out later the same day
    clock.advance(hours=9)
    me = _client(web_app, "emma")  # the morning's session has expired
    assert _press(me, "out").headers["location"] == "/me?done=out"
    assert [(p.state, p.punched_at) for p in _web_punches(web_site)] == [
        ("in", datetime(2026, 3, 2, 9, 0)),
        ("out", datetime(2026, 3, 2, 18, 0)),
    ]


def test_double_submit_stores_one_punch(web_app: FastAPI, web_site: Site, clock: Clock) -> None:
    _enable(web_site)
    me = _client(web_app, "emma")
    page = me.get("/me")
    csrf = csrf_of(page.text)
    first = me.post("/me/punch", data={"state": "in", "csrf": csrf}, follow_redirects=False)
    clock.advance(seconds=2)
    second = me.post("/me/punch", data={"state": "in", "csrf": csrf}, follow_redirects=False)
    assert first.headers["location"] == "/me?done=in"
    assert second.headers["location"] == "/me?done=again"
    assert len(_web_punches(web_site)) == 1
    assert "nothing new was stored" in me.get(second.headers["location"]).text
    # a minute later it is a new punch (sign in again after a slip)
    clock.advance(seconds=60)
    assert _press(me, "in").headers["location"] == "/me?done=in"
    assert len(_web_punches(web_site)) == 2


def test_concurrent_presses_store_one_punch(web_app: FastAPI, web_site: Site) -> None:
    _enable(web_site)
    me = _client(web_app, "emma")
    csrf = csrf_of(me.get("/me").text)
    cookies = dict(me.cookies)
    answers: list[str] = []

    def press() -> None:
        with TestClient(web_app, client=INSIDE, cookies=cookies) as c:
            r = c.post("/me/punch", data={"state": "in", "csrf": csrf}, follow_redirects=False)
            answers.append(r.headers.get("location", str(r.status_code)))

    threads = [threading.Thread(target=press) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == ["/me?done=again"] * 3 + ["/me?done=in"]
    assert len(_web_punches(web_site)) == 1


def test_refused_when_not_enabled(web_app: FastAPI, web_site: Site) -> None:
    me = _client(web_app, "emma")
    refused = _press(me, "in")
    assert refused.status_code == 403
    assert "not enabled for you" in refused.text and 'id="refusal"' in refused.text
    assert _web_punches(web_site) == []
    # enabled, then switched off again
    _enable(web_site)
    _enable(web_site, on=False)
    assert _press(me, "in").status_code == 403
    assert _web_punches(web_site) == []


def test_refused_outside_the_networks(web_app: FastAPI, web_site: Site) -> None:
    _enable(web_site)
    away = _client(web_app, "emma", OUTSIDE)
    page = away.get("/me")
    assert 'id="punch-in"' not in page.text
    refused = _press(away, "in")
    assert refused.status_code == 403
    assert "not allowed from this network" in refused.text and "192.0.2.7" in refused.text
    assert _web_punches(web_site) == []


def test_forwarded_for_counts_only_from_a_trusted_proxy(web_app: FastAPI, web_site: Site) -> None:
    _enable(web_site)
    # an untrusted peer naming an office address: ignored, refused
    away = _client(web_app, "emma", OUTSIDE)
    assert _press(away, "in", **{"X-Forwarded-For": "10.20.3.4"}).status_code == 403
    assert _web_punches(web_site) == []
    # the trusted proxy (127.0.0.1) naming the office address: recorded with that address
    proxied = _client(web_app, "emma", PROXY)
    assert 'id="punch-in"' in proxied.get("/me", headers={"X-Forwarded-For": "10.20.9.9"}).text
    done = _press(proxied, "in", **{"X-Forwarded-For": "10.20.9.9"})
    assert done.status_code == 303
    [row] = _web_punches(web_site)
    assert row.client_address == "10.20.9.9"


def test_no_networks_configured_means_nobody(site: Site, clock: Clock) -> None:
    clock.value = T0
    app = create_app(site, now=clock)  # the conftest settings: self_punch_networks empty
    _enable(site)
    me = _client(app, "emma")
    assert 'id="punch-in"' not in me.get("/me").text
    assert _press(me, "in").status_code == 403
    assert _web_punches(site) == []


def test_csrf_and_bad_state(web_app: FastAPI, web_site: Site) -> None:
    _enable(web_site)
    me = _client(web_app, "emma")
    no_token = me.post("/me/punch", data={"state": "in"}, follow_redirects=False)
    assert no_token.status_code == 403 and 'data-kind="csrf"' in no_token.text
    wrong = me.post("/me/punch", data={"state": "in", "csrf": "x" * 43}, follow_redirects=False)
    assert wrong.status_code == 403
    csrf = csrf_of(me.get("/me").text)
    bad = me.post("/me/punch", data={"state": "break_out", "csrf": csrf}, follow_redirects=False)
    assert bad.status_code == 400
    assert _web_punches(web_site) == []


def test_web_punches_are_processed_like_device_punches(
    web_app: FastAPI, web_site: Site, clock: Clock
) -> None:
    with web_site.engine.begin() as conn:
        day = add_period(conn, "DAY", 480, 1020, late_grace=5)  # 08:00–17:00
        office = add_shift(conn, "OFFICE", {i: [day] for i in range(5)})
        add_schedule(conn, office, department_id=hr_store.department_id(conn, "OPS-A"))
    _enable(web_site)
    me = _client(web_app, "emma")
    assert _press(me, "in").headers["location"] == "/me?done=in"  # 09:00: an hour late
    clock.advance(hours=8, minutes=30)
    me = _client(web_app, "emma")
    assert _press(me, "out").headers["location"] == "/me?done=out"  # 17:30
    done = attendance.refresh_queue(
        web_site.engine, now=datetime(2026, 3, 3, 12, 0), actor=Actor("test")
    )
    assert done.ok, done.error
    with web_site.engine.connect() as conn:
        e1 = hr_store.find_employee(conn, "E1")["id"]
        row = conn.execute(
            select(att_day).where(att_day.c.employee_id == e1, att_day.c.work_date == DAY)
        ).one()
    assert (row.status, row.first_punch, row.last_punch) == (
        "present",
        datetime(2026, 3, 2, 9, 0),
        datetime(2026, 3, 2, 17, 30),
    )
    assert row.late_minutes == 60
    page = me.get("/me")
    assert 'data-date="2026-03-02" data-status="present"' in page.text
    # the leader sees the same day on the results page
    lena = _client(web_app, "lena")
    assert 'data-date="2026-03-02" data-status="present"' in lena.get("/employees/E1").text


# -------------------------------------------------------------------------- HR's switch


def test_hr_allows_and_stops_within_scope(web_app: FastAPI, web_site: Site) -> None:
    acc.add_account(web_site, "hilda", PASSWORD, "hr", actor=ADMIN, departments=("SALES",))
    harry = _client(web_app, "harry")
    page = harry.get("/people/self-service?department=OPS-A")
    assert page.status_code == 200 and 'data-employee="E1" data-enabled="0"' in page.text
    assert OFFICE in page.text
    csrf = csrf_of(page.text)
    for _ in range(2):  # sent twice: one change, one audit row
        done = harry.post(
            "/people/self-service",
            data={"employee_no": "E1", "enabled": "1", "csrf": csrf},
            follow_redirects=False,
        )
        assert done.status_code == 303
        assert done.headers["location"] == "/people/self-service?department=OPS-A&saved=E1"
    assert 'data-employee="E1" data-enabled="1"' in harry.get(done.headers["location"]).text
    with web_site.engine.connect() as conn:
        assert conn.execute(
            select(att_employee.c.web_punch).where(att_employee.c.employee_no == "E1")
        ).scalar()
        changes = conn.execute(
            select(att_audit.c.action, att_audit.c.changed_by).where(
                att_audit.c.action.like("%web_punch")
            )
        ).all()
    assert changes == [("enable_web_punch", "harry")]
    # HR of SALES: E1 (OPS-A) is out of scope, answered like a missing one
    hilda = _client(web_app, "hilda")
    assert hilda.get("/people/self-service?department=OPS-A").status_code == 404
    mine = hilda.get("/people/self-service")
    assert 'data-employee="E2"' in mine.text and 'data-employee="E1"' not in mine.text
    csrf = csrf_of(mine.text)
    for no in ("E1", "NOBODY"):
        refused = hilda.post(
            "/people/self-service", data={"employee_no": no, "enabled": "0", "csrf": csrf}
        )
        assert refused.status_code == 404
    odd = hilda.post(
        "/people/self-service", data={"employee_no": "E2", "enabled": "yes", "csrf": csrf}
    )
    assert odd.status_code == 400
    no_token = hilda.post("/people/self-service", data={"employee_no": "E2", "enabled": "1"})
    assert no_token.status_code == 403
    with web_site.engine.connect() as conn:
        flags = dict(
            conn.execute(select(att_employee.c.employee_no, att_employee.c.web_punch)).all()
        )
    assert flags == {"E1": True, "E2": False}
    # the leader and the employee cannot reach HR's page
    assert _client(web_app, "lena").get("/people/self-service").status_code == 404


def test_app_layer_refuses_outside_scope(web_site: Site) -> None:
    emma = access.scope_for(web_site, acc.get_account(web_site, "emma"))
    with pytest.raises(access.NotFound):
        selfservice.set_switch(web_site, emma, "E1", True, actor=Actor("emma"))
    lena = access.scope_for(web_site, acc.get_account(web_site, "lena"))
    with pytest.raises(access.NotFound):
        selfservice.web_punch(web_site, lena, "in", address="10.20.0.1", now=T0)
    with pytest.raises(access.NotFound):
        selfservice.my_month(web_site, lena, None, address="10.20.0.1", today=DAY)
    assert selfservice.parse_month("2026-02", today=DAY) == date(2026, 2, 1)
    assert selfservice.month_end(date(2024, 2, 1)) == date(2024, 2, 29)
    assert selfservice.network_allows(web_site, "10.20.255.1")
    assert not selfservice.network_allows(web_site, "10.21.0.1")
    assert not selfservice.network_allows(web_site, "testclient")


def test_a_web_punch_into_a_closed_month_is_noted_not_processed(
    web_app: FastAPI, web_site: Site, clock: Clock
) -> None:
    from punchd.app import periods
    from punchd.storage.schema import att_after_close

    with web_site.engine.begin() as conn:
        day = add_period(conn, "DAY", 480, 1020)
        office = add_shift(conn, "OFFICE", {i: [day] for i in range(5)})
        add_schedule(conn, office, department_id=hr_store.department_id(conn, "OPS-A"))
    attendance.process(web_site, date(2026, 3, 1), date(2026, 3, 31), actor=Actor("test"))
    periods.close_period(web_site, "2026-03", force=True, reason="test", actor=Actor("test"))
    _enable(web_site)
    me = _client(web_app, "emma")
    assert _press(me, "in").headers["location"] == "/me?done=in"  # stored all the same
    done = attendance.refresh_queue(
        web_site.engine, now=datetime(2026, 3, 3, 12, 0), actor=Actor("test")
    )
    assert done.ok, done.error
    with web_site.engine.connect() as conn:
        e1 = hr_store.find_employee(conn, "E1")["id"]
        noted = conn.execute(
            select(att_after_close.c.work_date, att_after_close.c.reason).where(
                att_after_close.c.employee_id == e1
            )
        ).all()
        kept = conn.execute(
            select(att_day.c.status, att_day.c.period_state).where(
                att_day.c.employee_id == e1, att_day.c.work_date == DAY
            )
        ).one()
    assert (DAY, "web") in noted
    assert kept == ("absent", "closed")  # the closed day stays as it was
