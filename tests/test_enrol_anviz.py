"""People on Anviz clocks: ``enrol plan`` / ``enrol apply`` against the Anviz simulator, over a
pty pair (a serial line) and over TCP, on every database the suite has. The site date is
always given (``today=``): nothing depends on the host's date."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from punchd.app import Actor, Site, people
from punchd.app.enrolment import enrol_apply, enrol_plan
from punchd.collector.collect import collect_device
from punchd.config import load_settings
from punchd.drivers.anviz.codec import AUTHORITY_ADMIN, STAFF_ANSI, STAFF_UNICODE, Staff
from punchd.drivers.anviz.simulator import AnvizSimulator, SimDevice
from punchd.storage.schema import att_audit

CLERK = Actor("clerk")
HEADER = "employee_no,name,department,department_name,enroll_no,card_no,hire_date,separation_date"
DAY = date(2026, 3, 10)
PEOPLE = 300
ADMIN = Staff(900001, "Site Admin", authority=AUTHORITY_ADMIN)
STRANGER = Staff(900002, "Contractor", card=777)


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


class Clock:
    """One simulated Anviz clock (device id 3) on a pty pair or TCP, and where to reach it."""

    def __init__(self, transport: str, **device: object) -> None:
        staff = device.pop("staff", [ADMIN, STRANGER])
        self.sim = AnvizSimulator(devices=[SimDevice(3, staff=staff, **device)])  # type: ignore[arg-type]
        self._slave: int | None = None
        if transport == "pty":
            master, self._slave = os.openpty()
            self.sim.serve_fd(master)
            self.where: dict[str, object] = {"port": os.ttyname(self._slave)}
        else:
            self.where = {"host": "127.0.0.1", "tcp_port": self.sim.listen_tcp()}

    @property
    def device(self) -> SimDevice:
        return self.sim.device(3)

    def users(self) -> dict[str, Staff]:
        return {str(s.user_id): s for s in self.device.people.values()}

    def stop(self) -> None:
        self.sim.stop()
        if self._slave is not None:
            os.close(self._slave)


@pytest.fixture(params=["pty", "tcp"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def clocks() -> Iterator[list[Clock]]:
    made: list[Clock] = []
    yield made
    for c in made:
        c.stop()


def site_for(engine: Engine, tmp_path: Path, clock: Clock, **device: object) -> Site:
    devices = [
        {
            "name": "door",
            "driver": "anviz",
            "device_id": 3,
            "timeout": 1,
            "enrol": "all",
            **clock.where,
            **device,
        }
    ]
    s = load_settings(None, data_dir=tmp_path / "data", timezone="Asia/Shanghai", devices=devices)
    return Site(s, engine)


def audit_count(engine: Engine, action: str) -> int:
    with engine.connect() as conn:
        query = select(func.count()).select_from(att_audit).where(att_audit.c.action == action)
        return int(conn.execute(query).scalar_one())


@pytest.mark.parametrize("size", [STAFF_ANSI, STAFF_UNICODE])
def test_roster_of_300_plan_apply_then_nothing_left(
    engine: Engine, tmp_path: Path, transport: str, clocks: list[Clock], size: int
) -> None:
    clock = Clock(transport, staff_size=size)
    clocks.append(clock)
    site = site_for(engine, tmp_path, clock)
    load_roster(site, tmp_path, roster_lines())

    [door] = enrol_plan(site, today=DAY).devices
    assert door.error is None and door.skipped is None and door.plan is not None
    assert (len(door.plan.adds), len(door.plan.updates), len(door.plan.removes)) == (300, 0, 0)
    assert door.plan.unknown_kept == 1  # the contractor
    assert [k.enroll_no for k in door.plan.kept] == ["900001"]  # the admin
    assert clock.device.staff_writes == 0 and len(clock.users()) == 2  # a plan changes nothing

    done = enrol_apply(site, actor=CLERK, today=DAY).devices[0]
    assert done.error is None and done.failures == []
    assert len(done.done) == 300
    users = clock.users()
    assert len(users) == 302
    assert (users["100003"].name, users["100003"].card, users["100003"].authority) == (
        "Person 3",
        5_000_003,
        1,
    )
    assert users["100001"].card is None
    assert users["900001"].authority == AUTHORITY_ADMIN and users["900002"].name == "Contractor"
    assert audit_count(engine, "enrol-add") == 300
    assert audit_count(engine, "enrol-apply") == 1

    again = enrol_plan(site, today=DAY).devices[0]
    assert again.plan is not None and again.plan.empty and again.plan.unchanged == 300
    writes = clock.device.staff_writes
    second = enrol_apply(site, actor=CLERK, today=DAY).devices[0]
    assert second.done == [] and second.failures == []
    assert clock.device.staff_writes == writes and clock.device.staff_deletes == 0
    assert audit_count(engine, "enrol-apply") == 1  # nothing done, nothing audited

    downloads = clock.device.staff_downloads
    collected = collect_device(engine, site.settings.device("door"), lock_dir=tmp_path / "locks")
    assert collected.ok and collected.users_read == 0
    assert clock.device.staff_downloads == downloads  # a collection leaves the users alone


def test_a_leaver_is_removed_and_a_rename_is_an_update(
    engine: Engine, tmp_path: Path, transport: str, clocks: list[Clock]
) -> None:
    clock = Clock(transport, staff_size=STAFF_ANSI)
    clocks.append(clock)
    site = site_for(engine, tmp_path, clock)
    load_roster(site, tmp_path, roster_lines(5))
    enrol_apply(site, actor=CLERK, today=DAY)
    before = clock.users()["100002"]
    lines = roster_lines(5)
    lines[0] = lines[0].replace(",2024-01-01,", ",2024-01-01,2026-03-01")  # left
    lines[1] = lines[1].replace("Person 2", "Personne Deux Longue")  # 10 bytes kept
    load_roster(site, tmp_path, lines)

    plan = enrol_plan(site, today=DAY).devices[0].plan
    assert plan is not None
    assert [c.enroll_no for c in plan.removes] == ["100001"]
    assert [(c.enroll_no, c.name) for c in plan.updates] == [("100002", "Personne D")]
    done = enrol_apply(site, actor=CLERK, today=DAY).devices[0]
    assert done.failures == [] and len(done.done) == 2
    users = clock.users()
    assert "100001" not in users and users["100002"].name == "Personne D"
    # what punchd does not manage stays as the clock had it
    assert (users["100002"].department, users["100002"].group) == (before.department, before.group)
    assert clock.device.staff_deletes == 1
    assert audit_count(engine, "enrol-remove") == 1
    assert enrol_plan(site, today=DAY).devices[0].plan.empty  # type: ignore[union-attr]


def test_full_clock_reported_per_person_and_nothing_else_touched(
    engine: Engine, tmp_path: Path, transport: str, clocks: list[Clock]
) -> None:
    clock = Clock(transport, staff_size=STAFF_UNICODE, user_capacity=2 + 250)
    clocks.append(clock)
    site = site_for(engine, tmp_path, clock)
    load_roster(site, tmp_path, roster_lines())
    door = enrol_apply(site, actor=CLERK, today=DAY).devices[0]
    assert door.error is None
    assert len(door.done) == 250 and len(door.failures) == 50
    assert {f.kind for f in door.failures} == {"capacity_full"}
    assert len({f.change.enroll_no for f in door.failures}) == 50
    assert "full (252 of 252 users)" in door.failures[0].message
    users = clock.users()
    assert len(users) == 252
    assert users["900001"].authority == AUTHORITY_ADMIN and users["900002"].card == 777
    writes = clock.device.staff_writes
    again = enrol_apply(site, actor=CLERK, today=DAY).devices[0]
    assert again.done == [] and len(again.failures) == 50
    assert clock.device.staff_writes == writes and len(clock.users()) == 252


def test_refusals_and_what_the_clock_cannot_hold_reported_per_person(
    engine: Engine, tmp_path: Path, clocks: list[Clock]
) -> None:
    clock = Clock("tcp", staff_size=STAFF_ANSI, refuse_ids={100002})
    clocks.append(clock)
    site = site_for(engine, tmp_path, clock)
    lines = roster_lines(4)
    lines.append("E0099,Big Card,OPS,,100099,99999999999,2024-01-01,")
    lines.append("E0098,Huge Number,OPS,,1099511627776,,2024-01-01,")  # 2**40: 6 bytes
    load_roster(site, tmp_path, lines)
    door = enrol_apply(site, actor=CLERK, today=DAY).devices[0]
    kinds = {f.change.enroll_no: (f.kind, f.message) for f in door.failures}
    assert (
        kinds["100002"][0] == "refused" and "refused to write user '100002'" in kinds["100002"][1]
    )
    assert kinds["100099"][0] == "not_supported" and "card 99999999999" in kinds["100099"][1]
    assert kinds["1099511627776"][0] == "not_supported"
    assert "no user id it holds" in kinds["1099511627776"][1]
    assert sorted(c.enroll_no for c in door.done) == ["100001", "100003", "100004"]


def test_an_empty_clock_needs_its_layout(
    engine: Engine, tmp_path: Path, clocks: list[Clock]
) -> None:
    clock = Clock("tcp", staff=[], staff_size=STAFF_UNICODE)
    clocks.append(clock)
    site = site_for(engine, tmp_path, clock)
    load_roster(site, tmp_path, roster_lines(3))
    door = enrol_apply(site, actor=CLERK, today=DAY).devices[0]
    assert door.done == [] and {f.kind for f in door.failures} == {"not_supported"}
    assert 'set user_record = "ansi"' in door.failures[0].message
    assert clock.device.staff_writes == 0

    site = site_for(engine, tmp_path, clock, user_record="unicode")
    door = enrol_apply(site, actor=CLERK, today=DAY).devices[0]
    assert door.failures == [] and len(door.done) == 3
    assert clock.users()["100001"].name == "Person 1"


def test_a_clock_without_the_user_commands_says_so(
    engine: Engine, tmp_path: Path, clocks: list[Clock]
) -> None:
    clock = Clock("tcp", staff_size=STAFF_ANSI)
    clocks.append(clock)
    original = clock.sim._handle

    def old_firmware(d: SimDevice, cmd: int, data: bytes) -> tuple[int, bytes]:
        if cmd in (0x72, 0x73, 0x4C):
            return 0x01, b""  # unknown to this model: ACK_FAIL
        return original(d, cmd, data)

    clock.sim._handle = old_firmware  # type: ignore[method-assign]
    site = site_for(engine, tmp_path, clock)
    load_roster(site, tmp_path, roster_lines(2))
    door = enrol_apply(site, actor=CLERK, today=DAY).devices[0]
    assert door.error is None and door.done == []
    assert {f.kind for f in door.failures} == {"not_supported"}
    assert "without the extended user commands" in door.failures[0].message


KEY = base64.urlsafe_b64encode(bytes(range(32))).decode()
PRINT = bytes((i * 7 + 3) % 256 for i in range(338))


def test_fingers_learnt_from_one_clock_are_copied_to_the_other(
    engine: Engine, tmp_path: Path, transport: str, clocks: list[Clock]
) -> None:
    gate = Clock(transport, staff=[Staff(100001, "Person 1", fingers=0b01)])
    gate.device.fingerprints[(100001, 1)] = PRINT
    canteen = Clock("tcp")
    clocks.extend([gate, canteen])
    devices = [
        {"name": name, "driver": "anviz", "device_id": 3, "timeout": 1, "enrol": "all", **c.where}
        for name, c in (("gate", gate), ("canteen", canteen))
    ]
    settings = load_settings(
        None,
        data_dir=tmp_path / "data",
        timezone="Asia/Shanghai",
        devices=devices,
        enrolment={"template_key": KEY},
    )
    site = Site(settings, engine)
    load_roster(site, tmp_path, roster_lines(2))
    run = enrol_apply(site, actor=CLERK, today=DAY)
    by_name = {d.device: d for d in run.devices}
    assert all(d.error is None and d.failures == [] for d in run.devices)
    assert [c.enroll_no for c in by_name["canteen"].templates_done] == ["100001"]
    assert canteen.device.fingerprints == {(100001, 1): PRINT}
    assert canteen.users()["100001"].fingers == 0b01
    assert by_name["gate"].templates_done == []  # it has them already
    again = enrol_apply(site, actor=CLERK, today=DAY)
    assert all(d.templates_done == [] and d.done == [] for d in again.devices)
    assert canteen.device.template_writes == 1
