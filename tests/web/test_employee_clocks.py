"""The employee page's clocks: for each clock, should the person be on it (the enrolment
planner's rule), are they as the clock last listed them, the state, the fingers punchd holds
(counted, never shown) and the last enrolment change. The clocks are really collected
(memory clocks) or enrolled (`enrol apply` against the ZK simulator over loopback); the
console's clock is fixed, so nothing depends on today's date.

Organisation (conftest): OPS > OPS-A (E1, enrol no 1000), SALES (E2, 2000); here also E3
(OPS-A, 3000, hired after the day) and E2 separated before it.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from punchd.app import Actor, Site, access, clock_people, people
from punchd.app import accounts as acc
from punchd.app.collection import collect_now
from punchd.app.enrolment import enrol_apply
from punchd.drivers.records import DeviceUser
from punchd.drivers.testing import memory
from punchd.drivers.zk.simulator import SimUser, ZKSimulator
from punchd.storage import templates as template_store
from punchd.storage.schema import att_device_user, att_employee, att_finger_template

from .conftest import ADMIN, EVIL, PASSWORD, ROLE_ACCOUNTS, T0, Clock, _org, sign_in

#: the console's now: 10:00 on 2026-03-10 in Shanghai
NOW = datetime(2026, 3, 10, 2, 0)
DAY = date(2026, 3, 10)
LEFT = date(2026, 3, 5)
TEMPLATE = b"FINGER-TEMPLATE-BYTES-" * 20
COLLECTED = ["gate", "canteen", "hall", "shop", "lobby", "store", EVIL]


def _user(enroll_no: str, name: str, card: str | None = None, privilege: int = 0) -> DeviceUser:
    return DeviceUser(enroll_no, name, card, privilege)


@pytest.fixture
def sim() -> Iterator[ZKSimulator]:
    admin = SimUser(1, "900001", "Site Admin", privilege=14)
    with ZKSimulator(port=0, users=[admin], user_capacity=100) as s:
        yield s


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def site(engine: Engine, tmp_path: Path, memory_device, sim: ZKSimulator) -> Site:
    from punchd.config import load_settings

    zhang, li = _user("1000", "Zhang San"), _user("2000", "Li Si")
    memory_device("gate", users=[zhang, li])
    memory_device("canteen", users=[_user("1000", "Zhang San", "999"), _user("3000", "Wang Wu")])
    memory_device("hall", users=[_user("2000", "Li Si", None, 14)])
    memory_device("shop", users=[zhang])
    memory_device("lobby", users=[zhang])
    memory_device("store")
    memory_device("evil", users=[_user("1000", EVIL)])
    devices: list[dict[str, object]] = [
        {"name": "gate", "driver": "memory", "enrol": "all"},
        {"name": "canteen", "driver": "memory", "enrol": ["OPS"]},
        {"name": "hall", "driver": "memory", "enrol": ["OPS"]},
        {"name": "shop", "driver": "memory", "enrol": ["SALES"]},
        {"name": "lobby", "driver": "memory"},  # enrol = "none"
        {"name": "store", "driver": "memory", "enrol": ["SALES"]},
        {"name": EVIL, "driver": "memory", "channel": "evil", "enrol": "all"},
        {"name": "spare", "driver": "memory", "channel": "nowhere", "enrol": "all"},
        {"name": "off", "driver": "memory", "channel": "nowhere", "enabled": False},
        {
            "name": "zk",
            "driver": "zk",
            "host": "127.0.0.1",
            "port": sim.port,
            "timeout": 2,
            "enrol": "all",
        },
    ]
    settings = load_settings(
        None,
        data_dir=tmp_path / "data",
        timezone="Asia/Shanghai",
        devices=devices,
        web={"max_failed_signins": 3, "throttle_minutes": 15, "max_body_bytes": 4096},
    )
    s = Site(settings, engine)
    _org(s)
    with s.engine.begin() as conn:
        conn.execute(
            insert(att_employee).values(
                employee_no="E3",
                name="Wang Wu",
                department_id=people.store.department_id(conn, "OPS-A"),
                enroll_no="3000",
                hire_date=date(2026, 4, 1),
                created_at=T0,
                updated_at=T0,
                updated_by="t",
            )
        )
    people.separate(s, "E2", LEFT, actor=ADMIN)
    for role, name in ROLE_ACCOUNTS.items():
        acc.add_account(
            s,
            name,
            PASSWORD,
            role,
            actor=ADMIN,
            departments=("OPS",) if role == "leader" else (),
            employee_no="E1" if role == "employee" else None,
        )
    acc.add_account(s, "sally", PASSWORD, "hr", actor=ADMIN, departments=("SALES",))
    return s


@pytest.fixture
def collected(site: Site) -> Site:
    assert all(r.ok for r in collect_now(site, COLLECTED, actor=Actor("t")))
    return site


@pytest.fixture
def hr(client_for):
    return client_for("hr")


def states(page: str) -> dict[str, str]:
    """device → data-state of the page's clock rows."""
    table = page.split('id="clock-states"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r'<tr data-device="([^"]*)" data-state="([^"]*)"', table)
    return {html.unescape(device): state for device, state in rows}


def row_of(page: str, device: str) -> str:
    table = page.split('id="clock-states"', 1)[1].split("</table>", 1)[0]
    start = table.index(f'<tr data-device="{html.escape(device, quote=True)}"')
    return table[start : table.index("</tr>", start)]


def test_each_clock_says_whether_the_person_is_on_it(hr, collected) -> None:
    page = hr.get("/people/employee/E1")
    assert page.status_code == 200
    assert states(page.text) == {
        "gate": "on",  # enrol all, on it as the roster says
        "canteen": "differ",  # in OPS; the clock has a card the roster does not
        "hall": "add",  # in OPS, not on it
        "shop": "remove",  # on it, not a SALES person
        "lobby": "unmanaged",  # enrol = "none": listed, on it all the same
        "store": "absent",  # SALES only, not on it
        EVIL: "differ",  # the name differs
        "spare": "unread",  # never collected
        "zk": "unread",
    }  # the disabled clock is not listed
    assert "on the clock" in row_of(page.text, "gate")
    assert "details differ: card" in row_of(page.text, "canteen")
    assert "card 999" in row_of(page.text, "canteen")
    assert "to be added" in row_of(page.text, "hall")
    assert "to be removed (not in this clock's departments)" in row_of(page.text, "shop")
    assert "not managed by punchd" in row_of(page.text, "lobby")
    assert "not on this clock's list" in row_of(page.text, "store")
    assert "not read yet" in row_of(page.text, "spare")
    assert 'data-should="1"' in row_of(page.text, "hall")
    assert 'data-should="0"' in row_of(page.text, "shop")
    assert 'data-should=""' in row_of(page.text, "lobby")
    # a clock with no users still has a last read (its collection)
    assert "never" not in row_of(page.text, "store") and "never" in row_of(page.text, "spare")


def test_a_leaver_a_future_hire_and_an_admin(hr, collected) -> None:
    leaver = hr.get("/people/employee/E2").text
    found = states(leaver)
    assert found["gate"] == "remove" and found["hall"] == "kept-admin"
    assert found["shop"] == "absent" and found["store"] == "absent"
    assert "to be removed (left on" in row_of(leaver, "gate")
    assert 'data-should="0"' in row_of(leaver, "gate")
    assert "admin or enroller on the clock: left alone" in row_of(leaver, "hall")
    later = states(hr.get("/people/employee/E3").text)
    assert later["gate"] == "later"  # hired from 2026-04-01: added from then
    assert later["canteen"] == "kept-early"  # enrolled at the gate before the first day
    assert later["shop"] == "absent"


def test_the_page_agrees_with_the_planner_after_a_change(hr, collected) -> None:
    # E1 moves to SALES: shop now wants them (they are on it), gate still does
    people.save_employee(
        collected,
        access.scope_for(collected, acc.get_account(collected, "alice")),
        {
            "employee_no": "E1",
            "name": "Zhang San",
            "department": "SALES",
            "hire_date": "2020-01-01",
        },
        new=False,
        actor=ADMIN,
    )
    found = states(hr.get("/people/employee/E1").text)
    assert found["shop"] == "on" and found["canteen"] == "remove" and found["hall"] == "absent"


def test_a_name_the_clock_cut_is_the_same_name(hr, collected) -> None:
    everyone = access.scope_for(collected, acc.get_account(collected, "alice"))

    def rename(name: str) -> None:
        values = {"employee_no": "E1", "name": name, "department": "OPS-A"}
        people.save_employee(
            collected, everyone, values | {"hire_date": "2020-01-01"}, new=False, actor=ADMIN
        )

    rename("Zhang Sanford")  # begins with the clock's name, which fills no name field
    assert states(hr.get("/people/employee/E1").text)["gate"] == "differ"
    # the clock keeps 24 bytes of a longer name
    memory.plug("gate").users = [_user("1000", "Zhang San the Third of M")]
    assert all(r.ok for r in collect_now(collected, ["gate"], actor=Actor("t")))
    rename("Zhang San the Third of Many Names")
    assert states(hr.get("/people/employee/E1").text)["gate"] == "on"


def test_markup_from_clocks_is_text(hr, collected) -> None:
    page = hr.get("/people/employee/E1").text
    assert EVIL not in page
    row = row_of(page, EVIL)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in row
    assert "details differ: name" in row


def test_fingers_are_counted_never_shown(hr, collected) -> None:
    cipher = template_store.TemplateCipher(template_store.new_key())
    with collected.engine.begin() as conn:
        emp = conn.execute(select(att_employee.c.id).where(att_employee.c.employee_no == "E1"))
        emp_id = emp.scalar_one()
        template_store.save(
            conn,
            cipher,
            {emp_id: {0: (TEMPLATE, "10", 1, "gate"), 6: (TEMPLATE[::-1], "10", 1, "gate")}},
        )
        sealed = [bytes(r[0]) for r in conn.execute(select(att_finger_template.c.template))]
    page = hr.get("/people/employee/E1").text
    assert 'data-fingers="2"' in page
    assert "punchd holds 2 fingerprint templates for this person." in page
    assert "<td>2</td>" in row_of(page, "gate") and "<td>0</td>" in row_of(page, "canteen")
    for blob in [TEMPLATE, TEMPLATE[::-1], *sealed]:
        for shown in (
            blob[:16].decode("latin-1"),
            blob.hex()[:32],
            base64.b64encode(blob).decode()[:24],
            base64.urlsafe_b64encode(blob).decode()[:24],
        ):
            assert shown not in page


def test_in_chinese(client_for, collected) -> None:
    hr = client_for("hr")
    page = hr.get("/people/employee/E2", headers={"accept-language": "zh-CN"}).text
    assert "to be removed" not in page and "Should be on it" not in page


# ----------------------------------------------------------------------------- scope


def test_scope_on_the_server(app, client_for, collected) -> None:
    from fastapi.testclient import TestClient

    leader = client_for("leader")  # leads OPS, where E1 is: still not the HR page
    assert leader.get("/people/employee/E1").status_code == 404
    with TestClient(app) as sally:  # HR of SALES only
        assert sign_in(sally, "sally").status_code == 303
        assert sally.get("/people/employee/E1").status_code == 404
        page = sally.get("/people/employee/E2")
        assert page.status_code == 200 and states(page.text)["gate"] == "remove"
    employee = client_for("employee")
    assert employee.get("/people/employee/E1").status_code == 404


def test_scope_in_the_application(collected) -> None:
    def scope(name: str) -> access.Scope:
        return access.scope_for(collected, acc.get_account(collected, name))

    # a leader (for a page of theirs): their departments only
    seen = clock_people.employee_clocks(collected, scope("lena"), "E1", today=DAY)
    assert {c.device: c.state for c in seen.clocks}["gate"] == "on"
    for name, no in (("lena", "E2"), ("emma", "E1"), ("sally", "E1"), ("alice", "E9")):
        with pytest.raises(access.NotFound):
            clock_people.employee_clocks(collected, scope(name), no, today=DAY)


# ----------------------------------------------------------------------------- ZK enrol


def test_after_enrol_apply_on_zk_the_page_says_on_the_clock(hr, site, sim) -> None:
    assert states(hr.get("/people/employee/E1").text)["zk"] == "unread"
    done = enrol_apply(site, ["zk"], actor=Actor("clerk"), today=DAY).devices[0]
    assert done.error is None and [c.enroll_no for c in done.done] == ["1000"]
    # no collection since: the apply recorded the clock's users as they are now
    with site.engine.connect() as conn:
        listed = conn.execute(
            select(att_device_user.c.enroll_no, att_device_user.c.present).order_by(
                att_device_user.c.enroll_no
            )
        ).all()
    assert [(r.enroll_no, bool(r.present)) for r in listed] == [("1000", True), ("900001", True)]
    page = hr.get("/people/employee/E1").text
    assert states(page)["zk"] == "on"
    row = row_of(page, "zk")
    assert "on the clock" in row and "added" in row and "clerk" in row
    assert "never" not in row
    assert states(hr.get("/people/employee/E2").text)["zk"] == "absent"  # left: not added
    assert states(hr.get("/people/employee/E3").text)["zk"] == "later"

    # E1 separated: the next apply takes them off, and the page follows
    people.separate(site, "E1", date(2026, 3, 9), actor=ADMIN)
    assert states(hr.get("/people/employee/E1").text)["zk"] == "remove"
    enrol_apply(site, ["zk"], actor=Actor("clerk"), today=DAY)
    assert "1000" not in {u.user_id for u in sim.users}
    page = hr.get("/people/employee/E1").text
    assert states(page)["zk"] == "absent" and "removed" in row_of(page, "zk")
