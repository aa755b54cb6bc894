"""People on the clocks: ``enrol plan`` / ``enrol apply`` against the ZK simulator over real
TCP loopback, on every database the suite has. The site date is always given (``today=``):
nothing depends on the host's date."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from zk import ZK

from punchd.app import Actor, Site, people
from punchd.app.enrolment import enrol_apply, enrol_plan
from punchd.collector.errors import NoDevices
from punchd.collector.lease import database_lease
from punchd.config import ConfigError, load_settings
from punchd.drivers.zk.simulator import SimUser, ZKSimulator
from punchd.storage import collection as store
from punchd.storage.schema import att_audit

from .cli_helpers import punchd, subprocess_env

CLERK = Actor("clerk")
HEADER = "employee_no,name,department,department_name,enroll_no,card_no,hire_date,separation_date"
DAY = date(2026, 3, 10)
PEOPLE = 300
ADMIN = SimUser(1, "900001", "Site Admin", privilege=14)
STRANGER = SimUser(2, "900002", "Contractor", card=777)


def roster_lines(count: int = PEOPLE) -> list[str]:
    lines = []
    for i in range(1, count + 1):
        dept = "OPS" if i % 2 else "QA"
        card = str(5_000_000 + i) if i % 3 == 0 else ""
        lines.append(f"E{i:04d},Person {i},{dept},,{100000 + i},{card},2024-01-01,")
    return lines


def load_roster(site: Site, tmp_path: Path, lines: list[str]) -> None:
    path = tmp_path / "roster.csv"
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    people.import_roster(site, people.read_roster_file(site.settings, path), actor=CLERK)


def make_sim(**kwargs: object) -> ZKSimulator:
    users = [SimUser(**vars(ADMIN)), SimUser(**vars(STRANGER))]
    return ZKSimulator(port=0, users=users, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def sim() -> Iterator[ZKSimulator]:
    with make_sim(user_capacity=1000) as s:
        yield s


def site_for(
    engine: Engine, tmp_path: Path, sim: ZKSimulator, enrol: object = "all", **device: object
) -> Site:
    devices = [
        {
            "name": "gate",
            "driver": "zk",
            "host": "127.0.0.1",
            "port": sim.port,
            "timeout": 2,
            "enrol": enrol,
            **device,
        },
        {"name": "canteen", "driver": "zk", "host": "127.0.0.1", "port": 1, "timeout": 1},
    ]
    s = load_settings(None, data_dir=tmp_path / "data", timezone="Asia/Shanghai", devices=devices)
    return Site(s, engine)


@pytest.fixture
def site(engine: Engine, tmp_path: Path, sim: ZKSimulator) -> Site:
    site = site_for(engine, tmp_path, sim)
    load_roster(site, tmp_path, roster_lines())
    return site


def on_clock(sim: ZKSimulator) -> dict[str, SimUser]:
    return {u.user_id: u for u in sim.users}


def audit_count(engine: Engine, action: str) -> int:
    with engine.connect() as conn:
        query = select(func.count()).select_from(att_audit).where(att_audit.c.action == action)
        return int(conn.execute(query).scalar_one())


# --------------------------------------------------------------------------- the whole path


def test_roster_of_300_plan_apply_then_nothing_left(site: Site, sim: ZKSimulator) -> None:
    run = enrol_plan(site, today=DAY)
    [gate] = run.devices  # canteen has enrol = "none": not picked
    assert gate.device == "gate" and gate.error is None and gate.plan is not None
    assert (len(gate.plan.adds), len(gate.plan.updates), len(gate.plan.removes)) == (300, 0, 0)
    assert gate.plan.unknown_kept == 1  # the contractor
    assert [k.enroll_no for k in gate.plan.kept] == ["900001"]  # the admin
    assert sim.user_writes == 0 and len(sim.users) == 2  # a plan touches nothing

    done = enrol_apply(site, actor=CLERK, today=DAY).devices[0]
    assert done.error is None and done.failures == []
    assert len(done.done) == 300
    users = on_clock(sim)
    assert len(users) == 302
    assert (users["100003"].name, users["100003"].card, users["100003"].privilege) == (
        "Person 3",
        5_000_003,
        0,
    )
    assert users["100001"].card == 0
    assert users["900001"].privilege == 14 and users["900002"].name == "Contractor"
    assert sim.refresh_count == 1 and sim.enabled  # refreshed once, re-enabled
    assert audit_count(site.engine, "enrol-add") == 300
    assert audit_count(site.engine, "enrol-apply") == 1

    again = enrol_plan(site, today=DAY).devices[0]
    assert again.plan is not None and again.plan.empty and again.plan.unchanged == 300
    writes = sim.user_writes
    second = enrol_apply(site, actor=CLERK, today=DAY).devices[0]
    assert second.done == [] and second.failures == []
    assert sim.user_writes == writes and sim.user_deletes == 0
    assert audit_count(site.engine, "enrol-apply") == 1  # nothing done, nothing audited


def test_name_and_card_changes_are_updates(site: Site, sim: ZKSimulator, tmp_path: Path) -> None:
    enrol_apply(site, actor=CLERK, today=DAY)
    lines = roster_lines()
    lines[0] = "E0001,Person One Renamed,OPS,,100001,,2024-01-01,"
    load_roster(site, tmp_path, lines)
    people.issue_card(site, "4242", "E0001", datetime(2026, 3, 1, 8, 0), actor=CLERK)
    # a card issued from tomorrow is not written today
    people.issue_card(site, "4343", "E0002", datetime(2026, 3, 11), actor=CLERK)
    plan = enrol_plan(site, today=DAY).devices[0].plan
    assert plan is not None
    [update] = plan.updates
    assert (update.enroll_no, update.fields) == ("100001", ("name", "card"))
    enrol_apply(site, actor=CLERK, today=DAY)
    assert (on_clock(sim)["100001"].name, on_clock(sim)["100001"].card) == (
        "Person One Renamed",
        4242,
    )
    assert enrol_plan(site, today=DAY).devices[0].plan.empty  # type: ignore[union-attr]


def test_long_names_are_compared_as_the_clock_keeps_them(
    engine: Engine, tmp_path: Path, sim: ZKSimulator
) -> None:
    site = site_for(engine, tmp_path, sim)
    load_roster(site, tmp_path, [f"E0001,{'Ä' * 30},OPS,,100001,,2024-01-01,"])
    enrol_apply(site, actor=CLERK, today=DAY)
    assert on_clock(sim)["100001"].name == "Ä" * 12  # 24 bytes of UTF-8
    assert enrol_plan(site, today=DAY).devices[0].plan.empty  # type: ignore[union-attr]


# --------------------------------------------------------------------------- separation


def test_separation_removes_the_day_after_and_unseparating_restores(
    site: Site, sim: ZKSimulator
) -> None:
    enrol_apply(site, actor=CLERK, today=DAY)
    people.separate(site, "E0006", DAY, actor=CLERK)  # DAY is the last day that counts

    on_the_day = enrol_plan(site, today=DAY).devices[0].plan
    assert on_the_day is not None and on_the_day.empty  # the card too: withdrawn from D+1
    enrol_apply(site, actor=CLERK, today=DAY)
    assert "100006" in on_clock(sim)

    next_day = DAY + timedelta(days=1)
    plan = enrol_plan(site, today=next_day).devices[0].plan
    assert plan is not None
    assert [(c.kind, c.enroll_no, c.reason) for c in plan.changes] == [
        ("remove", "100006", f"left on {DAY.isoformat()}")
    ]
    removed = enrol_apply(site, actor=CLERK, today=next_day).devices[0]
    assert [c.enroll_no for c in removed.done] == ["100006"]
    assert "100006" not in on_clock(sim) and len(sim.users) == 301
    assert audit_count(site.engine, "enrol-remove") == 1

    people.unseparate(site, "E0006", actor=CLERK)
    back = enrol_apply(site, actor=CLERK, today=next_day).devices[0]
    assert [(c.kind, c.enroll_no) for c in back.done] == [("add", "100006")]
    assert on_clock(sim)["100006"].card == 5_000_006  # the card came back with them


def test_future_hire_enrolled_from_the_hire_date(
    engine: Engine, tmp_path: Path, sim: ZKSimulator
) -> None:
    site = site_for(engine, tmp_path, sim)
    start = DAY + timedelta(days=5)
    load_roster(
        site,
        tmp_path,
        ["E0001,Early,OPS,,100001,,2024-01-01,", f"E0002,Newcomer,OPS,,100002,,{start},"],
    )
    plan = enrol_plan(site, today=DAY).devices[0].plan
    assert plan is not None and [c.enroll_no for c in plan.adds] == ["100001"]
    enrol_apply(site, actor=CLERK, today=DAY)
    assert "100002" not in on_clock(sim)
    on_start = enrol_apply(site, actor=CLERK, today=start).devices[0]
    assert [(c.kind, c.enroll_no) for c in on_start.done] == [("add", "100002")]


# --------------------------------------------------------------------------- refusals


def test_full_clock_reported_per_person_and_nothing_else_touched(
    engine: Engine, tmp_path: Path
) -> None:
    with make_sim(user_capacity=2 + 250) as sim:
        site = site_for(engine, tmp_path, sim)
        load_roster(site, tmp_path, roster_lines())
        gate = enrol_apply(site, actor=CLERK, today=DAY).devices[0]
        assert gate.error is None
        assert len(gate.done) == 250
        assert len(gate.failures) == 50
        assert {f.kind for f in gate.failures} == {"capacity_full"}
        assert len({f.change.enroll_no for f in gate.failures}) == 50
        assert "full (252 of 252 users)" in gate.failures[0].message
        users = on_clock(sim)
        assert len(users) == 252
        assert users["900001"].privilege == 14 and users["900002"].name == "Contractor"
        assert sim.enabled
        # the next run retries the 50 and changes nothing else
        writes = sim.user_writes
        again = enrol_apply(site, actor=CLERK, today=DAY).devices[0]
        assert again.done == [] and len(again.failures) == 50
        assert sim.user_writes == writes and len(sim.users) == 252


def test_refused_and_unsupported_commands_reported(engine: Engine, tmp_path: Path) -> None:
    with make_sim(faults=["refuse-write:1"]) as sim:
        site = site_for(engine, tmp_path, sim)
        load_roster(site, tmp_path, roster_lines(5))
        gate = enrol_apply(site, actor=CLERK, today=DAY).devices[0]
        [failure] = gate.failures
        assert failure.kind == "refused" and failure.change.enroll_no == "100001"
        assert "refused to write user '100001'" in failure.message
        assert len(gate.done) == 4 and "100001" not in on_clock(sim)
        retry = enrol_apply(site, actor=CLERK, today=DAY).devices[0]
        assert [c.enroll_no for c in retry.done] == ["100001"] and retry.failures == []

    with make_sim(faults=["no-user-write"]) as sim:
        site = site_for(engine, tmp_path, sim)
        gate = enrol_apply(site, actor=CLERK, today=DAY).devices[0]
        assert len(gate.failures) == 5 and gate.done == []
        assert {f.kind for f in gate.failures} == {"not_supported"}
        assert "does not take user writes" in gate.failures[0].message
        assert len(sim.users) == 2


def test_a_run_broken_part_way_audits_what_it_did_and_the_next_one_finishes(
    engine: Engine, tmp_path: Path
) -> None:
    with make_sim() as sim:
        site = site_for(engine, tmp_path, sim, timeout=1)
        load_roster(site, tmp_path, roster_lines(40))
        writes: list[int] = []

        def slow_after_twenty(command: int) -> None:
            if command == 8:  # CMD_USER_WRQ
                writes.append(command)
                if len(writes) == 20:
                    sim.faults = ["slow:1.5"]  # the next answer comes after the timeout

        sim.on_command = slow_after_twenty
        broken = enrol_apply(site, actor=CLERK, today=DAY).devices[0]
        assert broken.error_kind == "timeout" and "stopped answering" in (broken.error or "")
        assert len(broken.done) == 20
        assert audit_count(site.engine, "enrol-add") == 20  # what it knows it did
        assert 22 <= len(sim.users) <= 23  # the 21st write may have landed unanswered

        sim.on_command, sim.faults = None, []
        done = enrol_apply(site, actor=CLERK, today=DAY).devices[0]
        assert done.error is None and done.failures == []
        assert len(on_clock(sim)) == 42 and sim.enabled
        assert enrol_plan(site, today=DAY).devices[0].plan.empty  # type: ignore[union-attr]


def test_busy_device_is_reported_and_left_alone(site: Site, sim: ZKSimulator) -> None:
    with site.engine.begin() as conn:
        device_id = store.upsert_device(
            conn, name="gate", driver="zk", address="x", user_code="enroll"
        )
    with database_lease(site.engine, device_id, "gate", purpose="collect"):
        gate = enrol_apply(site, actor=CLERK, today=DAY).devices[0]
    assert gate.error_kind == "leased" and "busy" in (gate.error or "")
    assert sim.user_writes == 0 and sim.connections == 0

    # a vendor program connected to the clock: the clock is busy, nothing is written
    sim.faults = ["busy"]
    vendor = ZK("127.0.0.1", port=sim.port, timeout=2, ommit_ping=True).connect()
    try:
        gate = enrol_apply(site, actor=CLERK, today=DAY).devices[0]
    finally:
        vendor.disconnect()
    assert gate.error_kind == "busy" and "another client" in (gate.error or "")
    assert sim.user_writes == 0


# --------------------------------------------------------------------------- who is kept


def test_unknown_users_and_admins_left_alone_unless_told(site: Site, sim: ZKSimulator) -> None:
    enrol_apply(site, actor=CLERK, today=DAY)
    assert {"900001", "900002"} <= set(on_clock(sim))

    plan = enrol_plan(site, today=DAY, remove_unknown=True).devices[0].plan
    assert plan is not None
    assert [(c.kind, c.enroll_no) for c in plan.changes] == [("remove", "900002")]
    enrol_apply(site, actor=CLERK, today=DAY, remove_unknown=True)
    users = on_clock(sim)
    assert "900002" not in users and users["900001"].privilege == 14

    both = enrol_plan(site, today=DAY, remove_unknown=True, include_admins=True).devices[0]
    assert both.plan is not None
    assert [(c.kind, c.enroll_no) for c in both.plan.changes] == [("remove", "900001")]


def test_admin_on_the_roster_kept_unless_included(
    engine: Engine, tmp_path: Path, sim: ZKSimulator
) -> None:
    site = site_for(engine, tmp_path, sim)
    load_roster(site, tmp_path, ["E0001,Site Admin,OPS,,900001,,2024-01-01,"])
    plan = enrol_plan(site, today=DAY).devices[0].plan
    assert plan is not None and plan.empty
    assert [(k.enroll_no, k.reason) for k in plan.kept] == [
        ("900001", "admin or enroller on the clock")
    ]
    enrol_apply(site, actor=CLERK, today=DAY)
    assert on_clock(sim)["900001"].privilege == 14
    included = enrol_plan(site, today=DAY, include_admins=True).devices[0].plan
    assert included is not None
    [update] = included.updates
    assert update.fields == ("privilege",)


def test_departments_and_the_ones_below_them(
    engine: Engine, tmp_path: Path, sim: ZKSimulator
) -> None:
    site = site_for(engine, tmp_path, sim, enrol=["OPS", "NOPE"])
    load_roster(
        site,
        tmp_path,
        [
            "E0001,A,OPS,,100001,,2024-01-01,",
            "E0002,B,QA,,100002,,2024-01-01,",
            "E0003,C,LINE1,,100003,,2024-01-01,",
        ],
    )
    people.set_department_parent(site, "LINE1", "OPS", actor=CLERK)
    gate = enrol_plan(site, today=DAY).devices[0]
    assert gate.unknown_departments == ["NOPE"]
    assert gate.plan is not None
    assert sorted(c.enroll_no for c in gate.plan.adds) == ["100001", "100003"]
    enrol_apply(site, actor=CLERK, today=DAY)
    # moved out of the clock's departments: known to the roster, so removed
    site2 = site_for(engine, tmp_path, sim, enrol=["QA"])
    plan = enrol_plan(site2, today=DAY).devices[0].plan
    assert plan is not None
    assert sorted((c.kind, c.enroll_no) for c in plan.changes) == [
        ("add", "100002"),
        ("remove", "100001"),
        ("remove", "100003"),
    ]
    assert {c.reason for c in plan.removes} == {"not in this clock's departments"}


# --------------------------------------------------------------------------- configuration


def test_enrol_setting_validated_with_a_clear_error(tmp_path: Path) -> None:
    base = {"name": "gate", "driver": "zk", "host": "127.0.0.1"}
    assert load_settings(None, data_dir=tmp_path, devices=[base]).devices[0].enrol == "none"
    s = load_settings(None, data_dir=tmp_path, devices=[{**base, "enrol": [" OPS ", "QA"]}])
    assert s.devices[0].enrol == ("OPS", "QA")
    for bad, words in (
        ("some", 'enrol: "all", "none" or a list of department codes, not \'some\''),
        ([], 'an empty list enrols nobody; write enrol = "none"'),
        (["OPS", "OPS"], "the department 'OPS' is listed twice"),
        (["OPS", ""], "department codes are non-blank text"),
        (3, 'enrol: "all", "none" or a list of department codes'),
    ):
        with pytest.raises(ConfigError) as caught:
            load_settings(None, data_dir=tmp_path, devices=[{**base, "enrol": bad}])
        assert "devices[0] ('gate')" in str(caught.value) and words in str(caught.value)


def test_device_selection(engine: Engine, tmp_path: Path, sim: ZKSimulator) -> None:
    site = site_for(engine, tmp_path, sim, enrol="none")
    with pytest.raises(NoDevices, match="no device takes part in enrolment"):
        enrol_plan(site, today=DAY)
    [gate] = enrol_plan(site, ["gate"], today=DAY).devices
    assert gate.skipped is not None and "left alone" in gate.skipped
    with pytest.raises(ConfigError, match="no device named 'nope'"):
        enrol_plan(site, ["nope"], today=DAY)


def test_cli_plan_and_apply(engine: Engine, db_url: str, tmp_path: Path, sim: ZKSimulator) -> None:
    site = site_for(engine, tmp_path, sim)
    load_roster(site, tmp_path, roster_lines(3))
    config = tmp_path / "punchd.toml"
    config.write_text(
        f"""
timezone = "Asia/Shanghai"
data_dir = "{tmp_path / "data"}"
[[devices]]
name = "gate"
driver = "zk"
host = "127.0.0.1"
port = {sim.port}
timeout = 2
enrol = "all"
""",
        encoding="utf-8",
    )
    env = subprocess_env(PUNCHD_DATABASE_URL=db_url, COLUMNS="200", NO_COLOR="1")
    planned = punchd("-c", str(config), "enrol", "plan", "--on", DAY.isoformat(), env=env)
    assert planned.returncode == 0, planned.stderr
    assert "gate: 3 to add, 0 to update, 0 to remove" in planned.stdout
    assert "+ 100002 Person 2 (E0002): new" in planned.stdout
    assert "= 900001 Site Admin: left alone (admin or enroller on the clock)" in planned.stdout
    assert sim.user_writes == 0

    applied = punchd("-c", str(config), "enrol", "apply", "--by", "hr-lead", env=env)
    assert applied.returncode == 0, applied.stderr
    assert "gate: added 3, updated 0, removed 0" in applied.stdout
    assert sim.user_writes == 3
    again = punchd("-c", str(config), "enrol", "apply", env=env)
    assert again.returncode == 0 and "gate: nothing to do (3 unchanged)" in again.stdout
    with engine.connect() as conn:
        who = conn.execute(
            select(att_audit.c.changed_by).where(att_audit.c.action == "enrol-apply")
        ).scalars()
        assert list(who) == ["hr-lead"]

    sim.faults = ["refuse-write"]
    # left a month ago, whatever day the test runs (`apply` has no --on: it acts today)
    people.separate(site, "E0001", date.today() - timedelta(days=30), actor=CLERK)
    refused = punchd("-c", str(config), "enrol", "apply", env=env)
    assert refused.returncode == 1
    assert "gate: added 0, updated 0, removed 0; 1 failed" in refused.stdout
    assert "! remove 100001 Person 1: refused: gate" in refused.stdout
