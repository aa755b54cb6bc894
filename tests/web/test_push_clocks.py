"""Push clocks on the console's clocks page: online or offline from their last contact, no
"collect now" for them, the serial numbers waiting to be accepted (escaped), and the new
notices worded in Chinese."""

from __future__ import annotations

import html
import re
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from punchd.app import Site
from punchd.app import accounts as acc
from punchd.drivers.testing import memory
from punchd.storage import collection as store
from punchd.storage import push as push_store
from punchd.web import security

from .conftest import ADMIN, ROLE_ACCOUNTS, Clock, _org, punches

MARKUP = "<i>depot</i>"
ESCAPED = "&lt;i&gt;depot&lt;/i&gt;"
#: the receiver refuses such a serial; the page must escape it all the same
ODD_SERIAL = "<b>SN</b>"


@pytest.fixture
def clocks(memory_device) -> dict[str, memory.MemoryDevice]:
    return {"gate-1": memory_device("gate-1", punches=punches(3))}


@pytest.fixture
def site(engine: Engine, tmp_path: Path, clocks, clock: Clock) -> Site:
    """gate-1 polled; branch (push) heard from 20 s ago, <i>depot</i> (push) 2 h ago; two
    unknown serials called in."""
    from punchd.config import load_settings

    settings = load_settings(
        None,
        data_dir=tmp_path / "data",
        timezone="Asia/Shanghai",
        devices=[
            {"name": "gate-1", "driver": "memory"},
            {"name": "branch", "driver": "adms", "serial": "SN0001"},
            {"name": MARKUP, "driver": "adms", "serial": "SN0002"},
        ],
    )
    s = Site(settings, engine)
    _org(s)
    for role, name in ROLE_ACCOUNTS.items():
        acc.add_account(
            s,
            name,
            "correct horse battery",
            role,
            actor=ADMIN,
            departments=("OPS",) if role == "leader" else (),
            employee_no="E1" if role == "employee" else None,
        )
    now = clock.value  # the console's clock
    with engine.begin() as conn:
        for name, serial, ago in (
            ("branch", "SN0001", timedelta(seconds=20)),
            (MARKUP, "SN0002", timedelta(hours=2)),
        ):
            device_id = store.upsert_device(
                conn, name=name, driver="adms", address=f"push:{serial}"
            )
            push_store.record_seen(conn, device_id, at=now - ago, address="10.1.2.3")
        push_store.record_pending(
            conn, "ROGUE-7", at=now - timedelta(minutes=3), address="203.0.113.9", requests=4
        )
        push_store.record_pending(conn, ODD_SERIAL, at=now, address="203.0.113.10")
    return s


def _row(page: str, name: str) -> str:
    return page.split(f'<tr data-device="{name}"', 1)[1].split("</tr>", 1)[0]


def test_push_clocks_show_online_offline_and_cannot_be_collected(site: Site, client_for) -> None:
    page = client_for("hr").get("/clocks").text  # hr may collect
    branch, depot, gate = _row(page, "branch"), _row(page, ESCAPED), _row(page, "gate-1")
    assert 'data-status="online"' in branch and ">online<" in branch
    assert 'data-status="offline"' in depot and "offline (last contact " in depot
    for row in (branch, depot):
        assert 'type="checkbox"' not in row
        assert "push clock: sends its punches itself" in row
    assert '<input type="checkbox" name="device" value="gate-1"' in gate
    assert "push clock" not in gate
    assert MARKUP not in page


def test_the_serials_waiting_to_be_accepted_are_listed_escaped(site: Site, client_for) -> None:
    client: TestClient = client_for("hr")
    page = client.get("/clocks").text
    section = page.split('id="pending-clocks"', 1)[1].split("</section>", 1)[0]
    assert "Waiting to be accepted" in section
    serials = re.findall(r'<td class="serial">(.*?)</td>', section)
    assert serials == [html.escape(ODD_SERIAL), "ROGUE-7"]  # the most recently seen first
    assert ODD_SERIAL not in page
    assert "203.0.113.9" in section and 'driver = "adms"' in html.unescape(section)


def test_only_who_may_see_the_clocks_sees_the_pending_serials(site: Site, client_for) -> None:
    for role in ("payroll", "leader", "employee"):  # without clocks.view
        page = client_for(role).get("/clocks")
        assert page.status_code == 404 and "ROGUE-7" not in page.text, role


def test_the_chinese_page_words_the_push_notices(site: Site, client_for) -> None:
    client: TestClient = client_for("admin")
    client.cookies.set(security.LANG_COOKIE, "zh_Hans")
    page = client.get("/clocks").text
    block = page.split('id="attention"', 1)[1].split("</section>", 1)[0]
    said = dict(re.findall(r'<li data-notice="([a-z_]+)">(.*?)</li>', block, re.S))
    assert said["push_offline"].startswith(f"{ESCAPED}：这台推送考勤机自 ")
    assert "没有连接过服务器" in said["push_offline"]
    assert said["push_pending"].startswith("2 台序列号未登记的推送考勤机尝试连接")
    assert html.escape(ODD_SERIAL) in said["push_pending"] and "ROGUE-7" in said["push_pending"]
    for text in said.values():
        assert not re.search(r"push clock|offline|refused", text), text
    assert ">在线<" in _row(page, "branch")
    assert "离线（最后连接 " in _row(page, ESCAPED)
    assert "推送考勤机：自行上传打卡记录" in _row(page, "branch")
    assert "等待接收" in page
    assert MARKUP not in page and ODD_SERIAL not in page
    english = client_for("hr").get("/clocks").text
    assert "has not called in since" in english
    assert "2 push clocks with unknown serial numbers tried to connect" in english


def test_the_api_lists_the_pending_serials_beside_the_clocks(
    site: Site, anonymous: TestClient, clock: Clock
) -> None:
    def token(name: str) -> dict[str, str]:
        made = acc.create_api_token(site, name, "it", actor=ADMIN)
        return {"authorization": f"Bearer {made}"}

    body = anonymous.get("/api/v1/clocks", headers=token(ROLE_ACCOUNTS["hr"])).json()
    assert [c["name"] for c in body["clocks"]] == ["gate-1", "branch", MARKUP]
    assert {c["name"]: c["status"] for c in body["clocks"]}["branch"] == "online"
    pending = body["pending"]
    # the most recently seen first; site wall-clock times (Asia/Shanghai, UTC+8)
    assert [p["serial"] for p in pending] == [ODD_SERIAL, "ROGUE-7"]
    rogue = pending[1]
    assert (rogue["address"], rogue["requests"]) == ("203.0.113.9", 4)
    assert rogue["first_seen_at"] == rogue["last_seen_at"]
    called = clock.value - timedelta(minutes=3) + timedelta(hours=8)
    assert rogue["last_seen_at"] == called.replace(microsecond=0).isoformat()
    # without clocks.view, nothing of it
    payroll = anonymous.get("/api/v1/clocks", headers=token(ROLE_ACCOUNTS["payroll"]))
    assert payroll.status_code == 404 and "ROGUE-7" not in payroll.text
