"""Web console accounts (punchd.app.accounts): add/list, sign-in and throttling, sessions
and their expiry, passwords, disabling, API tokens; on every available database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from punchd.app import Actor, Site, people
from punchd.app import accounts as acc
from punchd.app.accounts import (
    AccountNotFound,
    SessionExpired,
    SignInFailed,
    SignInThrottled,
)
from punchd.clock import utc_stamp
from punchd.config import Settings
from punchd.errors import InvalidInput
from punchd.storage.schema import (
    att_audit,
    att_employee,
    web_account,
    web_api_token,
    web_session,
)

ADMIN = Actor("root-admin")
T0 = datetime(2026, 3, 2, 1, 0, 0)  # naive UTC; 09:00 in Shanghai
PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """argon2 at its cheapest: the rules under test do not depend on the cost."""
    monkeypatch.setattr(acc, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    monkeypatch.setattr(acc, "_dummy_hash", None)
    yield


@pytest.fixture
def site(engine: Engine, tmp_path: Path) -> Site:
    settings = Settings(
        data_dir=tmp_path,
        timezone="Asia/Shanghai",
        web={
            "idle_minutes": 30,
            "absolute_hours": 12,
            "max_failed_signins": 3,
            "throttle_minutes": 15,
        },
    )
    return Site(settings, engine)


@pytest.fixture
def org(site: Site) -> Site:
    """Departments OPS, OPS-A (under OPS), SALES, and employee E1 in OPS-A."""
    people.add_department(site, "OPS", "Operations", actor=ADMIN)
    people.add_department(site, "OPS-A", "Line A", actor=ADMIN)
    people.add_department(site, "SALES", "Sales", actor=ADMIN)
    people.set_department_parent(site, "OPS-A", "OPS", actor=ADMIN)
    with site.engine.begin() as conn:
        dept = people.store.department_id(conn, "OPS-A")
        conn.execute(
            insert(att_employee).values(
                employee_no="E1",
                name="Zhang San",
                department_id=dept,
                hire_date=date(2020, 1, 1),
                created_at=T0,
                updated_at=T0,
                updated_by="t",
            )
        )
    return site


def test_add_get_list(org: Site) -> None:
    admin = acc.add_account(org, " Alice ", PASSWORD, "admin", actor=ADMIN, language="en")
    assert (admin.name, admin.role, admin.language, admin.disabled) == (
        "Alice",
        "admin",
        "en",
        False,
    )
    leader = acc.add_account(org, "bob", PASSWORD, "leader", actor=ADMIN, departments=["OPS"])
    assert leader.departments == ("OPS",)
    me = acc.add_account(org, "zhang", PASSWORD, "employee", actor=ADMIN, employee_no="E1")
    assert me.employee_no == "E1"
    assert acc.get_account(org, "ALICE") == admin
    assert [a.name for a in acc.list_accounts(org)] == ["Alice", "bob", "zhang"]
    with pytest.raises(AccountNotFound):
        acc.get_account(org, "nobody")
    with org.engine.connect() as conn:
        actions = conn.execute(
            select(att_audit.c.changed_by, att_audit.c.action, att_audit.c.entity_key).where(
                att_audit.c.entity == "account"
            )
        ).all()
    assert [tuple(a) for a in actions] == [
        ("root-admin", "create", "Alice"),
        ("root-admin", "create", "bob"),
        ("root-admin", "create", "zhang"),
    ]


@pytest.mark.parametrize(
    ("name", "password", "role", "extra", "message"),
    [
        ("", PASSWORD, "admin", {}, "must not be empty"),
        ("x" * 65, PASSWORD, "admin", {}, "at most 64"),
        ("a\x07b", PASSWORD, "admin", {}, "control characters"),
        ("a\u202eb", PASSWORD, "admin", {}, "control characters"),
        ("ann", "short", "admin", {}, "at least 8"),
        ("ann", "x" * 1025, "admin", {}, "at most 1024"),
        ("ann", PASSWORD, "boss", {}, "unknown role"),
        ("ann", PASSWORD, "leader", {}, "at least one department"),
        ("ann", PASSWORD, "leader", {"departments": ["NOPE"]}, "unknown department"),
        ("ann", PASSWORD, "payroll", {"departments": ["OPS"]}, "hr and leader"),
        ("ann", PASSWORD, "employee", {}, "needs its employee"),
        ("ann", PASSWORD, "employee", {"employee_no": "E404"}, "unknown employee"),
        ("ann", PASSWORD, "admin", {"language": "fr"}, "unknown language"),
    ],
)
def test_add_refused(org: Site, name, password, role, extra, message) -> None:
    with pytest.raises(InvalidInput, match=message):
        acc.add_account(org, name, password, role, actor=ADMIN, **extra)
    assert acc.list_accounts(org) == []


def test_names_are_unique_in_any_case_and_one_account_per_employee(org: Site) -> None:
    acc.add_account(org, "Alice", PASSWORD, "admin", actor=ADMIN)
    with pytest.raises(InvalidInput, match="exists already"):
        acc.add_account(org, "aLICE", PASSWORD, "hr", actor=ADMIN)
    acc.add_account(org, "zhang", PASSWORD, "employee", actor=ADMIN, employee_no="E1")
    with pytest.raises(InvalidInput, match="has an account already"):
        acc.add_account(org, "zhang2", PASSWORD, "employee", actor=ADMIN, employee_no="E1")


def test_update_account(org: Site) -> None:
    acc.add_account(org, "bob", PASSWORD, "hr", actor=ADMIN, departments=["SALES"])
    bob = acc.update_account(org, "bob", actor=ADMIN, role="leader", departments=["OPS"])
    assert (bob.role, bob.departments) == ("leader", ("OPS",))
    bob = acc.update_account(org, "bob", actor=ADMIN, language="zh_Hans", employee_no="E1")
    assert (bob.language, bob.employee_no, bob.departments) == ("zh_Hans", "E1", ("OPS",))
    bob = acc.update_account(org, "bob", actor=ADMIN, role="payroll")  # departments dropped
    assert (bob.role, bob.departments, bob.language) == ("payroll", (), "zh_Hans")
    with pytest.raises(InvalidInput, match="at least one department"):
        acc.update_account(org, "bob", actor=ADMIN, role="leader")


def test_sign_in_and_resume(org: Site) -> None:
    acc.add_account(org, "Alice", PASSWORD, "admin", actor=ADMIN)
    token, session = acc.sign_in(org, "alice", PASSWORD, client="10.0.0.9", user_agent="ua", now=T0)
    assert session.account.name == "Alice"
    assert (session.created_at, session.client) == (T0, "10.0.0.9")
    assert session.expires_at == T0 + timedelta(minutes=30)
    assert session.csrf_token and session.csrf_token not in repr(session)
    resumed = acc.resume(org, token, now=T0 + timedelta(minutes=29))
    assert resumed.id == session.id and resumed.csrf_token == session.csrf_token
    assert resumed.last_seen_at == T0 + timedelta(minutes=29)
    assert [s.id for s in acc.list_sessions(org, "Alice", now=T0 + timedelta(minutes=30))] == [
        session.id
    ]


def test_same_message_for_unknown_wrong_and_disabled(org: Site) -> None:
    acc.add_account(org, "alice", PASSWORD, "admin", actor=ADMIN)
    acc.add_account(org, "carol", PASSWORD, "hr", actor=ADMIN)
    acc.disable_account(org, "carol", actor=ADMIN)
    messages = set()
    for name, password in (("nobody", PASSWORD), ("alice", "wrong password"), ("carol", PASSWORD)):
        with pytest.raises(SignInFailed) as caught:
            acc.sign_in(org, name, password, client=f"c-{name}", now=T0)
        assert not isinstance(caught.value, SignInThrottled)
        messages.add(str(caught.value))
    assert messages == {"wrong user name or password"}
    with org.engine.connect() as conn:
        details = (
            conn.execute(select(att_audit.c.detail).where(att_audit.c.action == "sign_in_failed"))
            .scalars()
            .all()
        )
    assert len(details) == 3 and not any(PASSWORD in d for d in details)


def test_throttling_by_name_and_by_client(org: Site) -> None:
    acc.add_account(org, "alice", PASSWORD, "admin", actor=ADMIN)
    for i in range(3):
        with pytest.raises(SignInFailed):
            acc.sign_in(
                org, "ALICE", "wrong!!!", client=f"10.0.0.{i}", now=T0 + timedelta(minutes=i)
            )
    # the right password is not even tried now (checked first), from any address
    with pytest.raises(SignInThrottled) as caught:
        acc.sign_in(org, "alice", PASSWORD, client="10.9.9.9", now=T0 + timedelta(minutes=5))
    assert caught.value.retry_after_s == 10 * 60  # the oldest failure leaves the window at T0+15
    with pytest.raises(SignInThrottled):
        acc.sign_in(org, "alice", PASSWORD, client="10.9.9.9", now=T0 + timedelta(minutes=14))
    token, _ = acc.sign_in(
        org, "alice", PASSWORD, client="10.9.9.9", now=T0 + timedelta(minutes=15)
    )
    assert token
    # by client: three different names from one address
    for name in ("x", "y", "z"):
        with pytest.raises(SignInFailed):
            acc.sign_in(org, name, "whatever1", client="6.6.6.6", now=T0 + timedelta(minutes=20))
    with pytest.raises(SignInThrottled):
        acc.sign_in(org, "alice", PASSWORD, client="6.6.6.6", now=T0 + timedelta(minutes=21))
    acc.sign_in(org, "alice", PASSWORD, client="7.7.7.7", now=T0 + timedelta(minutes=21))
    acc.sign_in(org, "alice", PASSWORD, client="6.6.6.6", now=T0 + timedelta(minutes=35))


def test_idle_and_absolute_expiry(org: Site) -> None:
    acc.add_account(org, "alice", PASSWORD, "admin", actor=ADMIN)
    token, _ = acc.sign_in(org, "alice", PASSWORD, client="c", now=T0)
    with pytest.raises(SessionExpired) as caught:
        acc.resume(org, token, now=T0 + timedelta(minutes=30))
    assert caught.value.reason == "idle"
    with pytest.raises(SessionExpired) as caught:  # stays dead
        acc.resume(org, token, now=T0 + timedelta(minutes=1))
    assert caught.value.reason == "ended"

    token, _ = acc.sign_in(org, "alice", PASSWORD, client="c", now=T0)
    at = T0
    while at < T0 + timedelta(hours=12) - timedelta(minutes=20):
        at += timedelta(minutes=20)  # active all along
        acc.resume(org, token, now=at)
    with pytest.raises(SessionExpired) as caught:
        acc.resume(org, token, now=T0 + timedelta(hours=12))
    assert caught.value.reason == "absolute"
    with org.engine.connect() as conn:
        reasons = conn.execute(
            select(web_session.c.end_reason).order_by(web_session.c.id)
        ).scalars()
        assert list(reasons) == ["idle", "absolute"]


def test_touch_at_most_once_a_minute(org: Site) -> None:
    acc.add_account(org, "alice", PASSWORD, "admin", actor=ADMIN)
    token, _ = acc.sign_in(org, "alice", PASSWORD, client="c", now=T0)
    assert acc.resume(org, token, now=T0 + timedelta(seconds=59)).last_seen_at == T0
    assert acc.resume(org, token, now=T0 + timedelta(seconds=60)).last_seen_at == T0 + timedelta(
        seconds=60
    )


def test_sign_out(org: Site) -> None:
    acc.add_account(org, "alice", PASSWORD, "admin", actor=ADMIN)
    token, _ = acc.sign_in(org, "alice", PASSWORD, client="c", now=T0)
    acc.sign_out(org, token, now=T0 + timedelta(minutes=1))
    acc.sign_out(org, token, now=T0 + timedelta(minutes=2))  # idempotent
    acc.sign_out(org, "not a token")
    with pytest.raises(SessionExpired):
        acc.resume(org, token, now=T0 + timedelta(minutes=2))
    with pytest.raises(SessionExpired):
        acc.resume(org, "")
    assert acc.list_sessions(org, "alice", now=T0 + timedelta(minutes=2)) == []


def test_set_password_ends_other_sessions(org: Site) -> None:
    acc.add_account(org, "alice", PASSWORD, "admin", actor=ADMIN)
    now = utc_stamp()  # set_password ends sessions live now
    t1, s1 = acc.sign_in(org, "alice", PASSWORD, client="a", now=now)
    t2, _ = acc.sign_in(org, "alice", PASSWORD, client="b", now=now)
    t3, _ = acc.sign_in(org, "alice", PASSWORD, client="c", now=now)
    assert acc.set_password(org, "alice", "new password 1", actor=ADMIN, keep_session_id=s1.id) == 2
    assert acc.resume(org, t1, now=now).id == s1.id
    for token in (t2, t3):
        with pytest.raises(SessionExpired):
            acc.resume(org, token, now=now)
    with pytest.raises(SignInFailed):
        acc.sign_in(org, "alice", PASSWORD, client="a", now=now)
    acc.sign_in(org, "alice", "new password 1", client="a", now=now)
    with pytest.raises(InvalidInput):
        acc.set_password(org, "alice", "short", actor=ADMIN)
    with pytest.raises(AccountNotFound):
        acc.set_password(org, "nobody", "long enough", actor=ADMIN)


def test_change_own_password(org: Site) -> None:
    acc.add_account(org, "alice", PASSWORD, "hr", actor=ADMIN)
    now = utc_stamp()
    mine, session = acc.sign_in(org, "alice", PASSWORD, client="a", now=now)
    other, _ = acc.sign_in(org, "alice", PASSWORD, client="b", now=now)
    with pytest.raises(SignInFailed, match="current password is wrong"):
        acc.change_own_password(org, mine, "not it at all", "brand new pass")
    assert acc.change_own_password(org, mine, PASSWORD, "brand new pass") == 1
    assert acc.resume(org, mine).id == session.id
    with pytest.raises(SessionExpired):
        acc.resume(org, other)
    with pytest.raises(SessionExpired):
        acc.change_own_password(org, other, "brand new pass", "another one!")
    acc.sign_in(org, "alice", "brand new pass", client="a")
    with org.engine.connect() as conn:
        by = conn.execute(
            select(att_audit.c.changed_by).where(att_audit.c.action == "password")
        ).scalar_one()
    assert by == "alice"


def test_disable_enable_and_sign_out_everywhere(org: Site) -> None:
    acc.add_account(org, "alice", PASSWORD, "hr", actor=ADMIN)
    now = utc_stamp()
    t1, _ = acc.sign_in(org, "alice", PASSWORD, client="a", now=now)
    t2, _ = acc.sign_in(org, "alice", PASSWORD, client="b", now=now)
    assert acc.disable_account(org, "alice", actor=ADMIN).disabled
    for token in (t1, t2):
        with pytest.raises(SessionExpired):
            acc.resume(org, token, now=now)
    with pytest.raises(SignInFailed):
        acc.sign_in(org, "alice", PASSWORD, client="a", now=now)
    assert not acc.enable_account(org, "alice", actor=ADMIN).disabled
    t1, _ = acc.sign_in(org, "alice", PASSWORD, client="a", now=now)
    t2, _ = acc.sign_in(org, "alice", PASSWORD, client="b", now=now)
    assert len(acc.list_sessions(org, "alice", now=now)) == 2
    assert acc.sign_out_everywhere(org, "alice", actor=ADMIN, now=now) == 2
    assert acc.list_sessions(org, "alice", now=now) == []
    with pytest.raises(SessionExpired):
        acc.resume(org, t1, now=now)


def test_separated_employee_cannot_sign_in(org: Site) -> None:
    acc.add_account(org, "zhang", PASSWORD, "employee", actor=ADMIN, employee_no="E1")
    token, _ = acc.sign_in(org, "zhang", PASSWORD, client="a", now=T0)
    # the last day (2026-03-02 in Shanghai) still counts; the next day not
    people.separate(org, "E1", date(2026, 3, 2), actor=ADMIN)
    acc.resume(org, token, now=T0 + timedelta(minutes=10))
    acc.sign_in(org, "zhang", PASSWORD, client="a", now=T0 + timedelta(minutes=10))
    next_day = datetime(2026, 3, 2, 16, 5)  # 00:05 on 03-03 in Shanghai
    with pytest.raises(SessionExpired) as caught:
        acc.resume(org, token, now=next_day)
    assert caught.value.reason == "disabled"
    with pytest.raises(SignInFailed) as failed:
        acc.sign_in(org, "zhang", PASSWORD, client="a", now=next_day)
    assert str(failed.value) == "wrong user name or password"


def test_api_tokens(org: Site) -> None:
    acc.add_account(org, "robot", PASSWORD, "payroll", actor=ADMIN)
    token = acc.create_api_token(org, "robot", "payroll export", actor=ADMIN)
    assert acc.resume_api_token(org, token).name == "robot"
    with pytest.raises(SessionExpired):
        acc.resume_api_token(org, token + "x")
    acc.disable_account(org, "robot", actor=ADMIN)
    with pytest.raises(SessionExpired):
        acc.resume_api_token(org, token)
    acc.enable_account(org, "robot", actor=ADMIN)
    assert acc.revoke_api_tokens(org, "robot", actor=ADMIN) == 1
    with pytest.raises(SessionExpired):
        acc.resume_api_token(org, token)
    with pytest.raises(InvalidInput):
        acc.create_api_token(org, "robot", " ", actor=ADMIN)


def test_secrets_are_stored_only_as_hashes(org: Site) -> None:
    acc.add_account(org, "alice", PASSWORD, "admin", actor=ADMIN)
    session_token, session = acc.sign_in(org, "alice", PASSWORD, client="a", now=T0)
    api_token = acc.create_api_token(org, "alice", "ci", actor=ADMIN)
    with org.engine.connect() as conn:
        dumped = " ".join(
            str(row)
            for table in (web_account, web_session, web_api_token, att_audit)
            for row in conn.execute(select(table))
        )
    for secret in (PASSWORD, session_token, api_token):
        assert secret not in dumped
    assert "$argon2" in dumped
    assert PASSWORD not in repr(acc.get_account(org, "alice"))
    assert session_token not in repr(session)
