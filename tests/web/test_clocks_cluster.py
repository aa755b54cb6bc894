"""Several collectors on one database, as the console's clocks page shows them: every
daemon with its host, heartbeat (the database server's clock) and host clock skew, the
silent ones, and which daemon collects each clock — or nobody."""

from __future__ import annotations

import html
import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.engine import Engine

from punchd.app import Site
from punchd.app import accounts as acc
from punchd.clock import utc_stamp
from punchd.storage import cluster, schema
from punchd.web import security

from .conftest import ADMIN, EVIL, ROLE_ACCOUNTS

ODD_HOST = "<b>host-b</b>"


def _register(engine: Engine, host: str, devices: list[str], skew_s: float = 0) -> int:
    with engine.begin() as conn:
        return cluster.register_daemon(
            conn,
            instance=f"i-{host}",
            host=host,
            pid=4242,
            version="9.9",
            site=None,
            devices=devices,
            host_clock=utc_stamp() + timedelta(seconds=skew_s),
        )


def _row(page: str, name: str) -> str:
    return page.split(f'<tr data-device="{name}"', 1)[1].split("</tr>", 1)[0]


def _owner(page: str, name: str) -> str:
    return re.search(r'<td class="owner">(.*?)</td>', _row(page, name), re.S).group(1)


def test_the_clocks_page_names_each_collector_and_who_collects_each_clock(
    site: Site, engine: Engine, client_for
) -> None:
    a = _register(engine, "host-a", ["gate-1", "gate-2"])
    b = _register(engine, ODD_HOST, ["gate-1", "gate-2"], skew_s=-300)
    dead = _register(engine, "host-c", ["gate-1", "gate-2"])
    with engine.begin() as conn:  # host-c last beat 45 s ago by the server's clock
        now = cluster.database_now(conn)
        conn.execute(
            update(schema.att_daemon)
            .where(schema.att_daemon.c.id == dead)
            .values(heartbeat_at=now - timedelta(seconds=45))
        )
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
    _register(engine, "host-a", [])
    page = client_for("hr").get("/clocks").text
    assert 'id="collectors"' not in page and 'class="owner"' not in page
    assert "Daemon on host-a: last heartbeat" in page


def test_the_api_gives_each_clocks_collector(
    site: Site, engine: Engine, anonymous: TestClient
) -> None:
    a = _register(engine, "host-a", ["gate-1", "gate-2", EVIL])
    _register(engine, "host-b", ["gate-9"])  # limited to a clock this site does not have
    made = acc.create_api_token(site, ROLE_ACCOUNTS["hr"], "it", actor=ADMIN)
    body = anonymous.get("/api/v1/clocks", headers={"authorization": f"Bearer {made}"}).json()
    owners = {c["name"]: c["owner"] for c in body["clocks"]}
    assert owners == {
        "gate-1": f"host-a (#{a})",
        "gate-2": f"host-a (#{a})",
        EVIL: f"host-a (#{a})",
        "spare": None,
    }
