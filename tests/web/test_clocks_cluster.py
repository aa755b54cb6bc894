"""Several collectors on one database, as the console's clocks page shows them: every
daemon with its host, heartbeat (the database server's clock) and host clock skew, the
silent ones, and which daemon collects each clock — or nobody."""

from __future__ import annotations

import html
import re

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from punchd.app import Site
from punchd.app import accounts as acc
from punchd.web import security

from ..helpers.cluster import register_daemon, silence
from .conftest import ADMIN, EVIL, ROLE_ACCOUNTS

ODD_HOST = "<b>host-b</b>"


def _row(page: str, name: str) -> str:
    return page.split(f'<tr data-device="{name}"', 1)[1].split("</tr>", 1)[0]


def _owner(page: str, name: str) -> str:
    return re.search(r'<td class="owner">(.*?)</td>', _row(page, name), re.S).group(1)


def test_the_clocks_page_names_each_collector_and_who_collects_each_clock(
    site: Site, engine: Engine, client_for
) -> None:
    a = register_daemon(engine, "host-a", ["gate-1", "gate-2"])
    b = register_daemon(engine, ODD_HOST, ["gate-1", "gate-2"], skew_s=-300)
    dead = register_daemon(engine, "host-c", ["gate-1", "gate-2"])
    silence(engine, dead, 45)  # host-c last beat 45 s ago by the server's clock
    page = client_for("hr").get("/clocks").text
    table = page.split('<table id="collectors">', 1)[1].split("</table>", 1)[0]
    rows = dict(re.findall(r'<tr data-daemon="(\d+)" data-live="(\d)"', table))
    assert rows == {str(a): "1", str(b): "1", str(dead): "0"}
    assert html.escape(ODD_HOST) in table and ODD_HOST not in page
    assert "300 s behind" in table and "silent: stopped or stalled" in table
    owners = {_owner(page, n) for n in ("gate-1", "gate-2")}
    assert owners <= {f"host-a (#{a})", f"{html.escape(ODD_HOST)} (#{b})"}
    # no running daemon may collect the third clock: said on the row and in the notices
    assert "nobody" in _owner(page, html.escape(EVIL))
    assert 'data-notice="device_unpolled"' in page and 'data-notice="daemon_silent"' in page
    assert 'data-notice="host_skew"' in page

    client = client_for("admin")
    client.cookies.set(security.LANG_COOKIE, "zh_Hans")
    chinese = client.get("/clocks").text
    assert "共用此数据库的采集程序" in chinese and "慢 300 秒" in chinese
    assert "无人采集" in _owner(chinese, html.escape(EVIL))


def test_one_collector_keeps_the_page_as_it_was(site: Site, engine: Engine, client_for) -> None:
    register_daemon(engine, "host-a", [])
    page = client_for("hr").get("/clocks").text
    assert 'id="collectors"' not in page and 'class="owner"' not in page
    assert "Daemon on host-a: last heartbeat" in page


def test_the_api_gives_each_clocks_collector(
    site: Site, engine: Engine, anonymous: TestClient
) -> None:
    a = register_daemon(engine, "host-a", ["gate-1", "gate-2", EVIL])
    register_daemon(engine, "host-b", ["gate-9"])  # limited to a clock this site does not have
    made = acc.create_api_token(site, ROLE_ACCOUNTS["hr"], "it", actor=ADMIN)
    body = anonymous.get("/api/v1/clocks", headers={"authorization": f"Bearer {made}"}).json()
    owners = {c["name"]: c["owner"] for c in body["clocks"]}
    assert owners == {
        "gate-1": f"host-a (#{a})",
        "gate-2": f"host-a (#{a})",
        EVIL: f"host-a (#{a})",
        "spare": None,
    }
