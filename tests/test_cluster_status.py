"""Who polls which device (rendezvous with bounded load), and the cluster-wide status:
daemons by the database server's clock, silent daemons, skewed hosts, unpolled devices."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import Engine

from punchd.app import Site, collection
from punchd.collector import membership
from punchd.config import load_settings

from .helpers.cluster import register_daemon, silence

T0 = datetime(2026, 3, 2, 8, 0)


def _member(i: int, devices: set[str], age: float = 0.0) -> membership.Member:
    return membership.Member(
        id=i,
        instance=f"inst-{i}",
        host="same-host",
        pid=1,
        version="1",
        site=None,
        devices=frozenset(devices),
        started_at=T0,
        heartbeat_at=T0,
        host_clock_at=T0,
        holding=None,
        age=age,
    )


NAMES = {f"gate-{i:03d}" for i in range(30)}


def test_every_device_has_one_owner_and_the_shares_are_even() -> None:
    three = [_member(i, NAMES) for i in (1, 2, 3)]
    placed = membership.assignment(three)
    assert set(placed) == NAMES
    counts = sorted(sum(1 for m in placed.values() if m.id == i) for i in (1, 2, 3))
    assert counts == [10, 10, 10]
    # every daemon computes the same thing, whatever order it reads the rows in
    assert membership.assignment(list(reversed(three))) == placed
    mine = [membership.owned_by(m.instance, NAMES, three) for m in three]
    assert set().union(*mine) == NAMES and sum(len(x) for x in mine) == 30


def test_a_dead_daemons_devices_go_to_the_live_ones() -> None:
    three = [_member(1, NAMES), _member(2, NAMES), _member(3, NAMES, age=25)]
    alive = membership.live(three, takeover_within=30)  # dead after 20 s
    assert [m.id for m in alive] == [1, 2]
    placed = membership.assignment(alive)
    assert set(placed) == NAMES and {m.id for m in placed.values()} == {1, 2}


def test_a_host_limited_to_its_own_devices_polls_only_those() -> None:
    branch = {"branch-1", "branch-2"}
    members = [_member(1, NAMES), _member(2, NAMES), _member(3, branch)]
    placed = membership.assignment(members)
    assert {d for d, m in placed.items() if m.id == 3} <= branch
    assert membership.owner("gate-000", [_member(3, branch)]) is None


def test_status_names_silent_daemons_skewed_hosts_and_unpolled_devices(
    engine: Engine, tmp_path: Path
) -> None:
    settings = load_settings(
        None,
        data_dir=tmp_path,
        devices=[
            {"name": "gate-1", "driver": "memory"},
            {"name": "gate-2", "driver": "memory"},
            {"name": "gate-3", "driver": "memory"},
        ],
        daemon={"takeover_within": 30, "max_host_skew": 10},
    )
    live = register_daemon(engine, "host-a", ["gate-1", "gate-2"])
    skewed = register_daemon(engine, "host-b", ["gate-1", "gate-2"], skew_s=-300)
    dead = register_daemon(engine, "host-c", ["gate-1", "gate-2"])
    silence(engine, dead, 45)  # host-c's last heartbeat 45 s ago by the server's clock
    report = collection.site_status(Site(settings, engine))
    assert sorted(d["id"] for d in report.daemons) == [live, skewed]
    assert [d["id"] for d in report.silent] == [dead]
    owners = {r["name"]: r["owner"] for r in report.devices}
    assert {owners["gate-1"], owners["gate-2"]} <= {f"host-a (#{live})", f"host-b (#{skewed})"}
    assert owners["gate-3"] is None
    held = sorted(d for x in report.daemons for d in x["held"])
    assert held == ["gate-1", "gate-2"]
    by = {(n.code, n.params.get("device") or n.params.get("daemon")): n for n in report.notices}
    silent = by["daemon_silent", dead]
    assert silent.params["host"] == "host-c" and 44 <= silent.params["seconds"] <= 60
    assert "no heartbeat for" in silent.text
    skew = by["host_skew", skewed]
    assert skew.params["seconds"] == -300 and "behind the database server's" in skew.text
    assert ("host_skew", live) not in by
    assert "gate-3: no running daemon may poll it" in by["device_unpolled", "gate-3"].text
    assert ("no_daemon", None) not in by
