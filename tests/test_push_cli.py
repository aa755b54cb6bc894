"""Push clocks in the front doors: ``punchd devices`` lists them online or offline with the
serial numbers waiting to be accepted, ``punchd status`` words what needs attention, and
``punchd devices command/commands`` queue and list a push clock's commands.

The application functions run on every database; the real ``punchd`` command on SQLite. Last
contacts and pending serials are written with :mod:`punchd.storage.push`, their times chosen
(no sleeping)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from punchd.app import Actor, Site
from punchd.app import collection as ops
from punchd.clock import utc_stamp
from punchd.config import ConfigError, load_settings
from punchd.errors import InvalidInput
from punchd.storage import collection as store
from punchd.storage import push as push_store
from punchd.storage.schema import att_audit, att_device_command

from .cli_helpers import punchd, subprocess_env

NOW = datetime(2026, 3, 2, 1, 0, 0)  # naive UTC: 09:00 in Shanghai
PUSH_CLOCKS = [
    {"name": "branch", "driver": "adms", "serial": "SN0001"},
    {"name": "depot", "driver": "adms", "serial": "SN0002"},
    {"name": "new-one", "driver": "adms", "serial": "SN0003"},
]
PULL_CLOCK = {"name": "gate", "driver": "zk", "host": "127.0.0.1", "port": 1, "timeout": 1}


def seen(engine: Engine, name: str, serial: str, at: datetime, address: str) -> None:
    """The receiver's record of a push clock's last contact, at a chosen time."""
    with engine.begin() as conn:
        device_id = store.upsert_device(conn, name=name, driver="adms", address=f"push:{serial}")
        push_store.record_seen(conn, device_id, at=at, address=address)


def pending(engine: Engine, serial: str, at: datetime, address: str, requests: int) -> None:
    with engine.begin() as conn:
        push_store.record_pending(conn, serial, at=at, address=address, requests=requests)


@pytest.fixture
def site(engine: Engine, tmp_path: Path) -> Site:
    """branch heard from 30 s ago, depot an hour ago, new-one never; ROGUE-7 pending (and
    SN0001 too, which has been configured since: not pending any more)."""
    s = load_settings(
        None,
        data_dir=tmp_path / "data",
        timezone="Asia/Shanghai",
        devices=[PULL_CLOCK, *PUSH_CLOCKS],
    )
    seen(engine, "branch", "SN0001", NOW - timedelta(seconds=30), "10.1.2.3")
    seen(engine, "depot", "SN0002", NOW - timedelta(hours=1), "10.1.2.4")
    pending(engine, "ROGUE-7", NOW - timedelta(hours=2), "203.0.113.9", 1)
    pending(engine, "ROGUE-7", NOW - timedelta(minutes=5), "203.0.113.10", 4)
    pending(engine, "SN0001", NOW - timedelta(days=1), "10.1.2.3", 2)
    return Site(s, engine)


def test_devices_lists_push_clocks_online_offline_and_the_pending_serials(site: Site) -> None:
    listing = ops.list_devices(site, now=NOW)
    rows = {r.name: r for r in listing.devices}
    assert [r.name for r in listing.devices] == ["gate", "branch", "depot", "new-one"]
    assert not rows["gate"].push and rows["gate"].online is None
    branch, depot, new = rows["branch"], rows["depot"], rows["new-one"]
    assert branch.push and branch.online and branch.address == "push:SN0001"
    assert branch.last_contact_at == datetime(2026, 3, 2, 8, 59, 30)  # the site's wall clock
    assert branch.last_contact_address == "10.1.2.3"
    assert depot.push and depot.online is False
    assert depot.last_contact_at == datetime(2026, 3, 2, 8, 0)
    assert new.push and new.online is False and new.last_contact_at is None
    [rogue] = listing.pending
    assert (rogue.serial, rogue.address, rogue.requests) == ("ROGUE-7", "203.0.113.10", 5)
    assert rogue.first_seen_at == datetime(2026, 3, 2, 7, 0)
    assert rogue.last_seen_at == datetime(2026, 3, 2, 8, 55)
    # online: seen within 3 × [push] delay, at least a minute
    assert ops.list_devices(site, now=NOW + timedelta(seconds=29)).devices[1].online
    assert not ops.list_devices(site, now=NOW + timedelta(seconds=31)).devices[1].online
    slow = Site(
        load_settings(
            None,
            data_dir=site.settings.data_dir,
            timezone="Asia/Shanghai",
            devices=PUSH_CLOCKS,
            push={"delay": 600},
        ),
        site.engine,
    )
    assert ops.list_devices(slow, now=NOW + timedelta(minutes=29)).devices[0].online


def test_status_says_offline_push_clocks_and_pending_serials(site: Site) -> None:
    status = ops.site_status(site, now=NOW)
    by = {(n.code, n.params.get("device")): n for n in status.notices}
    offline = by["push_offline", "depot"]
    assert offline.params["minutes"] == 60 and offline.params["since_at"] == "2026-03-02 08:00:00"
    assert "depot: push clock offline, no contact since 2026-03-02 00:00 UTC" in offline.text
    assert ("push_offline", "branch") not in by  # online
    assert ("push_offline", "new-one") not in by  # never heard from: perhaps not set up yet
    assert by["push_pending", None].params == {"count": 1, "serials": "ROGUE-7"}
    assert 'driver = "adms", serial = "…"' in by["push_pending", None].text
    devices = {d["name"]: d for d in status.devices}
    assert devices["branch"]["online"] and not devices["depot"]["online"]
    assert [p["serial"] for p in status.pending] == ["ROGUE-7"]
    # offline for less than ten minutes is no notice yet
    early = ops.site_status(site, now=NOW - timedelta(minutes=55))
    assert not [n for n in early.notices if n.code == "push_offline"]


def test_collect_all_leaves_push_clocks_out(site: Site) -> None:
    assert [d.name for d in ops.pick_devices(site.settings)] == ["gate"]


def test_a_command_is_queued_audited_and_listed_with_its_answer(site: Site) -> None:
    queued = ops.queue_device_command(
        site, "branch", "  data delete userinfo   PIN=1001 ", actor=Actor("alice")
    )
    assert queued.command == "DATA DELETE USERINFO PIN=1001"
    other = ops.queue_device_command(site, "branch", "INFO", actor=Actor("bob"))
    with site.engine.begin() as conn:
        device_id = store.upsert_device(conn, name="branch", driver="adms", address="push:SN0001")
        push_store.mark_sent(conn, device_id, [queued.id], at=NOW)
        push_store.record_result(
            conn, device_id, queued.id, return_code=-10, result="PIN=1001", at=NOW
        )
        audit = conn.execute(
            select(att_audit.c.changed_by, att_audit.c.action, att_audit.c.entity_key)
            .where(att_audit.c.entity == "device")
            .order_by(att_audit.c.id)
        ).all()
    assert [tuple(a) for a in audit] == [
        ("alice", "queue_command", "branch"),
        ("bob", "queue_command", "branch"),
    ]
    listed = ops.device_commands(site, "branch")
    assert [c.id for c in listed] == [other.id, queued.id]  # newest first
    info, delete = listed
    assert (info.sent_at, info.send_count, info.return_code, info.meaning) == (None, 0, None, None)
    assert delete.sent_at == datetime(2026, 3, 2, 9, 0) and delete.send_count == 1
    assert (delete.return_code, delete.meaning, delete.result) == (
        -10,
        "PIN not on the device",
        "PIN=1001",
    )
    assert delete.created_by == "alice"
    assert ops.device_commands(site, "depot") == []


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("CLEAR LOG", "CLEAR LOG is never sent by punchd"),
        ("clear data", "CLEAR DATA is never sent by punchd"),
        ("SHELL rm -rf /", "SHELL is never sent by punchd"),
        ("INFO\nCLEAR LOG", "control characters"),
        ("FORMAT DISK", "unknown"),
    ],
)
def test_a_forbidden_command_is_refused_and_nothing_is_queued(
    site: Site, text: str, why: str
) -> None:
    with pytest.raises(InvalidInput, match="command refused") as refused:
        ops.queue_device_command(site, "branch", text, actor=Actor("alice"))
    assert why.lower() in str(refused.value).lower()
    with site.engine.connect() as conn:
        assert conn.execute(select(att_device_command.c.id)).first() is None
        assert (
            conn.execute(select(att_audit.c.id).where(att_audit.c.entity == "device")).first()
            is None
        )


def test_commands_are_for_push_clocks_only(site: Site) -> None:
    with pytest.raises(ConfigError, match=r"gate is not a push clock \(driver 'zk'\)"):
        ops.queue_device_command(site, "gate", "INFO", actor=Actor("alice"))
    with pytest.raises(ConfigError, match="not a push clock"):
        ops.device_commands(site, "gate")
    with pytest.raises(ConfigError, match="no device named 'nope'"):
        ops.queue_device_command(site, "nope", "INFO", actor=Actor("alice"))


# ------------------------------------------------------------------ the real command


def test_the_cli_lists_push_clocks_and_queues_and_lists_commands(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("the command's own tests run on SQLite; the functions run everywhere")
    lines = [
        "[push]",
        "delay = 600",  # online for 30 min after a contact: no race with a slow machine
        "",
        *(
            f'[[devices]]\nname = "{d["name"]}"\ndriver = "adms"\nserial = "{d["serial"]}"\n'
            for d in PUSH_CLOCKS
        ),
        '[[devices]]\nname = "gate"\ndriver = "zk"\nhost = "127.0.0.1"\nport = 1\n',
    ]
    config = tmp_path / "punchd.toml"
    config.write_text("\n".join(lines), encoding="utf-8")
    env = subprocess_env(
        XDG_DATA_HOME=str(tmp_path / "xdg"),
        COLUMNS="250",
        NO_COLOR="1",
        PUNCHD_DATABASE_URL=db_url,
        PUNCHD_CONFIG=str(config),
    )
    now = utc_stamp()  # the command reads the running clock: contacts relative to it
    seen(engine, "branch", "SN0001", now - timedelta(seconds=5), "10.1.2.3")
    seen(engine, "depot", "SN0002", now - timedelta(hours=2), "10.1.2.4")
    pending(engine, "ROGUE-7", now - timedelta(minutes=3), "203.0.113.9", 2)

    listed = punchd("devices", env=env)
    assert listed.returncode == 0, listed.stderr
    text = listed.stdout
    assert re.search(
        r"branch\s+│\s+adms\s+│\s+push:SN0001\s+│.*│\s+online\s+│\s+\S+ \S+ from 10\.1\.2\.3", text
    )
    assert re.search(r"depot\s+│.*│\s+offline\s+│\s+\S+ \S+ from 10\.1\.2\.4", text)
    assert re.search(r"new-one\s+│.*│\s+offline \(never contacted\)\s+│\s+-\s+│", text)
    assert re.search(r"gate\s+│\s+zk\s+│.*│\s+never run\s+│\s+-\s+│", text)
    assert "Pending push clocks" in text
    assert re.search(r"ROGUE-7\s+│\s+\S+ \S+\s+│\s+\S+ \S+\s+│\s+203\.0\.113\.9\s+│\s+2", text)
    assert 'ROGUE-7: add [[devices]] driver = "adms", serial = "ROGUE-7" to accept it' in text

    status = punchd("status", env=env)
    assert status.returncode == 1  # needs attention
    assert "depot: push clock offline, no contact since" in status.stdout
    assert "1 unknown push clock(s) tried to connect and were refused (ROGUE-7)" in status.stdout
    assert re.search(r"branch\s+│.*online \(push\)", status.stdout)

    queued = punchd(
        "devices", "command", "branch", "DATA DELETE USERINFO PIN=1001", "--by", "tester", env=env
    )
    assert queued.returncode == 0, queued.stderr
    assert "branch: queued command 1: DATA DELETE USERINFO PIN=1001" in queued.stdout
    with engine.begin() as conn:
        device_id = store.upsert_device(conn, name="branch", driver="adms", address="push:SN0001")
        push_store.mark_sent(conn, device_id, ["1"], at=now)
        push_store.record_result(conn, device_id, "1", return_code=-10, result="PIN=1001", at=now)

    forbidden = punchd("devices", "command", "branch", "CLEAR LOG", env=env)
    assert forbidden.returncode == 2
    assert "command refused: CLEAR LOG is never sent by punchd" in forbidden.stderr
    not_push = punchd("devices", "command", "gate", "INFO", env=env)
    assert not_push.returncode == 2
    assert "gate is not a push clock (driver 'zk')" in not_push.stderr

    commands = punchd("devices", "commands", "branch", env=env)
    assert commands.returncode == 0, commands.stderr
    [row] = [line for line in commands.stdout.splitlines() if "USERINFO" in line]
    assert re.search(
        r"1\s+│\s+DATA DELETE USERINFO PIN=1001\s+│\s+\S+ \S+ by tester\s+│\s+\S+ \S+\s+│\s+1\s+│"
        r"\s+\S+ \S+\s+│\s+-10 \(PIN not on the device\)\s+│\s+PIN=1001",
        row,
    ), commands.stdout
    assert "CLEAR LOG" not in commands.stdout  # the refused one was never queued
