"""The web console under test: a site on the test database (SQLite always), memory clocks,
one account per role, and TestClients signed in as them."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import insert
from sqlalchemy.engine import Engine

from punchd.app import Actor, Site, people
from punchd.app import accounts as acc
from punchd.clock import utc_stamp
from punchd.drivers.records import Punch, PunchState
from punchd.drivers.testing import memory
from punchd.storage.schema import att_employee
from punchd.web.app import create_app

ADMIN = Actor("test-setup")
PASSWORD = "correct horse battery"
EVIL = "<script>alert(1)</script>"
T0 = datetime(2026, 3, 2, 1, 0, 0)  # naive UTC; 09:00 in Shanghai
#: the account of each role (leader of OPS; employee E1 in OPS-A)
ROLE_ACCOUNTS = {
    "admin": "alice",
    "hr": "harry",
    "leader": "lena",
    "payroll": "paul",
    "employee": "emma",
}


class Clock:
    """The console's ``now`` (naive UTC), moved by tests."""

    def __init__(self, start: datetime) -> None:
        self.value = start

    def __call__(self) -> datetime:
        return self.value

    def advance(self, **kw: float) -> None:
        self.value += timedelta(**kw)


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """argon2 at its cheapest: what is tested does not depend on the cost."""
    monkeypatch.setattr(acc, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    monkeypatch.setattr(acc, "_dummy_hash", None)
    yield


def punches(n: int, start: datetime = datetime(2026, 3, 1, 8, 0)) -> list[Punch]:
    return [Punch(str(1000 + i % 7), start + timedelta(minutes=i), PunchState.IN) for i in range(n)]


@pytest.fixture
def clocks(memory_device) -> dict[str, memory.MemoryDevice]:
    return {
        "gate-1": memory_device("gate-1", punches=punches(25)),
        "gate-2": memory_device("gate-2", punches=punches(7)),
        EVIL: memory_device("evil", punches=punches(3)),
    }


@pytest.fixture
def site(engine: Engine, tmp_path: Path, clocks) -> Site:
    from punchd.config import load_settings

    settings = load_settings(
        None,
        data_dir=tmp_path / "data",
        timezone="Asia/Shanghai",
        devices=[
            {"name": "gate-1", "driver": "memory"},
            {"name": "gate-2", "driver": "memory"},
            {"name": EVIL, "driver": "memory", "channel": "evil"},
            {"name": "spare", "driver": "memory", "channel": "nowhere", "enabled": False},
        ],
        web={"max_failed_signins": 3, "throttle_minutes": 15, "max_body_bytes": 4096},
    )
    s = Site(settings, engine)
    _org(s)
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
    return s


def _org(site: Site) -> None:
    """Departments OPS, OPS-A (under OPS), SALES; employees E1 (OPS-A) and E2 (SALES)."""
    people.add_department(site, "OPS", "Operations", actor=ADMIN)
    people.add_department(site, "OPS-A", "Line A", actor=ADMIN)
    people.add_department(site, "SALES", "Sales", actor=ADMIN)
    people.set_department_parent(site, "OPS-A", "OPS", actor=ADMIN)
    with site.engine.begin() as conn:
        for no, name, dept in (("E1", "Zhang San", "OPS-A"), ("E2", "Li Si", "SALES")):
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


@pytest.fixture
def clock() -> Clock:
    # The console's clock, injected; it starts at the running clock's time because accounts
    # and sessions some tests make directly are stamped with it (a test that needs a date
    # sets one: clock.value = T0). Nothing asserted depends on which day that is.
    return Clock(utc_stamp())


@pytest.fixture
def app(site: Site, clock: Clock) -> Iterator[FastAPI]:
    application = create_app(site, now=clock)
    yield application
    application.state.console.jobs.wait(timeout=30)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]*)"', html)
    assert found, "no csrf field on the page"
    return found.group(1)


def sign_in(client: TestClient, name: str, password: str = PASSWORD, next_path: str = "/"):
    page = client.get("/signin")
    token = csrf_of(page.text)
    return client.post(
        "/signin",
        data={"username": name, "password": password, "csrf": token, "next": next_path},
        follow_redirects=False,
    )


@pytest.fixture
def client_for(app: FastAPI) -> Iterator[Callable[[str], TestClient]]:
    """``client_for(role)``: a TestClient signed in as that role's account."""
    made: list[TestClient] = []

    def make(role: str) -> TestClient:
        client = TestClient(app, raise_server_exceptions=True)
        made.append(client)
        done = sign_in(client, ROLE_ACCOUNTS[role])
        assert done.status_code == 303, done.text
        return client

    yield make
    for c in made:
        c.close()


@pytest.fixture
def anonymous(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client
