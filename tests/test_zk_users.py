"""Writing and removing users on ZK clocks: the packets byte for byte, the simulator
answering unmodified pyzk, punchd's driver on both record layouts, and the pure planner."""

from __future__ import annotations

import struct
from datetime import date, datetime

import pytest
from zk import ZK

from punchd.drivers import DeviceUser
from punchd.drivers.errors import CapacityFull, CommandRefused, NotSupported
from punchd.drivers.zk import protocol as p
from punchd.drivers.zk.driver import ZKConfig, ZKDriver
from punchd.drivers.zk.simulator import SimUser, ZKSimulator
from punchd.hr.enrolment import RosterPerson, cards_at, departments_below, plan_enrolment

# --------------------------------------------------------------------------- byte layouts


def test_command_numbers() -> None:
    assert (p.CMD_USER_WRQ, p.CMD_DELETE_USER, p.CMD_REFRESHDATA) == (8, 18, 1013)


def test_72_byte_user_record_layout() -> None:
    record = p.pack_user(
        72, uid=0x0102, user_id="E-77", name="Ana", privilege=14, password="12", card=0x0A0B0C0D,
        group_id="3",
    )  # fmt: skip
    assert len(record) == 72
    assert record[0:2] == b"\x02\x01"  # uid, little-endian
    assert record[2] == 14  # privilege
    assert record[3:11] == b"12" + b"\x00" * 6  # password, 8 bytes
    assert record[11:35] == b"Ana" + b"\x00" * 21  # name, 24 bytes
    assert record[35:39] == b"\x0d\x0c\x0b\x0a"  # card, u32 little-endian
    assert record[39] == 0  # pad
    assert record[40:47] == b"3" + b"\x00" * 6  # group, 7 bytes
    assert record[47] == 0  # pad
    assert record[48:72] == b"E-77" + b"\x00" * 20  # user id text, 24 bytes
    # pyzk's set_user packs the same fields with this (native, unpadded) format
    theirs = struct.pack(
        "HB8s24s4sx7sx24s", 0x0102, 14, b"12", b"Ana", struct.pack("<I", 0x0A0B0C0D), b"3",
        b"E-77",
    )  # fmt: skip
    assert record == theirs


def test_28_byte_user_record_layout() -> None:
    record = p.pack_user(
        28, uid=7, user_id="4242", name="Benjamin Long", privilege=0, password="99", card=300,
        group_id="2",
    )  # fmt: skip
    assert len(record) == 28
    assert record[0:2] == b"\x07\x00" and record[2] == 0
    assert record[3:8] == b"99\x00\x00\x00"  # password, 5 bytes
    assert record[8:16] == b"Benjamin"  # name cut to 8 bytes
    assert record[16:20] == struct.pack("<I", 300)
    assert record[20] == 0 and record[21] == 2  # pad, group
    assert record[22:24] == b"\x00\x00"  # time zone
    assert record[24:28] == struct.pack("<I", 4242)  # numeric user id
    theirs = struct.pack("HB5s8sIxBHI", 7, 0, b"99", b"Benjamin Long", 300, 2, 0, 4242)
    assert record == theirs


def test_unpack_user_reads_both_layouts() -> None:
    for size in p.USER_SIZES:
        record = p.pack_user(
            size, uid=9, user_id="123", name="Zoë", privilege=14, password="1", card=55,
            group_id="4",
        )  # fmt: skip
        assert p.unpack_user(record) == (9, 14, "1", "Zoë", 55, "4", "123")
    with pytest.raises(ValueError, match="72 or 28 bytes, not 27"):
        p.unpack_user(b"\x00" * 27)


def test_delete_user_payload_and_name_fitting() -> None:
    assert p.pack_delete_user(300) == b"\x2c\x01"
    assert p.pack_delete_user(0xFFFF) == b"\xff\xff"
    assert p.fit_name(72, "张" * 10) == "张" * 8  # 24 bytes of UTF-8, never half a character
    assert p.fit_name(28, "Maria Antonia") == "Maria An"
    assert p.fit_name(72, "Ana") == "Ana"


# --------------------------------------------------------------------------- the simulator


def test_unmodified_pyzk_writes_and_removes_users_on_the_simulator() -> None:
    with ZKSimulator(port=0, users=[SimUser(1, "100001", "Admin", privilege=14)]) as sim:
        zk = ZK("127.0.0.1", port=sim.port, timeout=2, ommit_ping=True)
        conn = zk.connect()
        try:
            conn.get_users()
            conn.set_user(uid=5, name="Ana Silva", privilege=0, user_id="200005", card=123456)
            conn.set_user(uid=5, name="Ana S.", privilege=0, user_id="200005", card=0)
            [_admin, ana] = sorted(conn.get_users(), key=lambda u: u.uid)
            assert (ana.uid, ana.user_id, ana.name, ana.card) == (5, "200005", "Ana S.", 0)
            conn.delete_user(uid=5)
            assert [u.user_id for u in conn.get_users()] == ["100001"]
        finally:
            conn.disconnect()
        assert (
            sim.user_writes == 2 and sim.user_deletes == 1 and sim.refresh_count == 3
        )  # after each change


def test_simulator_refuses_what_firmware_refuses() -> None:
    with ZKSimulator(port=0, user_capacity=1, users=[SimUser(1, "100001", "A")]) as sim:
        zk = ZK("127.0.0.1", port=sim.port, timeout=2, ommit_ping=True)
        conn = zk.connect()
        try:
            conn.get_users()
            with pytest.raises(Exception, match="Can't set user"):  # full
                conn.set_user(uid=2, name="B", user_id="100002")
            with pytest.raises(Exception, match="Can't set user"):  # another uid's user id
                conn.set_user(uid=3, name="B", user_id="100001")
            with pytest.raises(Exception, match="Can't delete user"):  # no such uid
                conn.delete_user(uid=9)
        finally:
            conn.disconnect()
        assert len(sim.users) == 1 and sim.user_writes == 0


# --------------------------------------------------------------------------- the driver


def driver_for(sim: ZKSimulator) -> ZKDriver:
    return ZKDriver(ZKConfig(name="gate", driver="zk", host="127.0.0.1", port=sim.port, timeout=2))


def test_driver_writes_on_a_28_byte_clock_and_keeps_passwords() -> None:
    users = [SimUser(4, "4", "Old", password="321", group_id="2")]
    with ZKSimulator(port=0, record_size=16, users=users) as sim, driver_for(sim) as driver:
        assert driver.users()[0].enroll_no == "4"
        assert driver.fit_name("Christopher") == "Christop"
        driver.write_user(DeviceUser("4", "Renamed", "77", 0))
        driver.write_user(DeviceUser("12", "New"))
        with pytest.raises(NotSupported, match="'E12' is not a number this clock holds"):
            driver.write_user(DeviceUser("E12", "Letters"))
        with pytest.raises(NotSupported, match="does not fit the clock's card field"):
            driver.write_user(DeviceUser("13", "Big card", str(1 << 32)))
        driver.users_written()
        by_id = {u.user_id: u for u in sim.users}
        assert (by_id["4"].name, by_id["4"].card, by_id["4"].password) == ("Renamed", 77, "321")
        assert by_id["4"].group_id == "2"
        assert (by_id["12"].uid, by_id["12"].name) == (5, "New")  # after the highest uid


def test_driver_tells_full_refused_and_unknown_apart() -> None:
    with ZKSimulator(port=0, user_capacity=1, users=[SimUser(1, "1", "A")]) as sim:
        with driver_for(sim) as driver:
            with pytest.raises(CapacityFull, match=r"full \(1 of 1 users\)"):
                driver.write_user(DeviceUser("2", "B"))
            sim.faults = ["refuse-write"]
            with pytest.raises(CommandRefused, match="refused to remove user '1'"):
                driver.delete_user("1")
            sim.faults = ["no-user-write"]
            with pytest.raises(NotSupported, match="does not take user removals"):
                driver.delete_user("1")
            driver.delete_user("nobody")  # not on the clock: nothing to do
            sim.faults = []
            driver.delete_user("1")  # the conversation is still in step after refusals
        assert sim.users == []


# --------------------------------------------------------------------------- the planner

DAY = date(2026, 3, 10)


def person(no: int, **kw: object) -> RosterPerson:
    fields: dict[str, object] = {
        "employee_no": f"E{no}",
        "enroll_no": str(no),
        "name": f"P{no}",
        "department_code": "OPS",
        "hire_date": date(2024, 1, 1),
    }
    fields.update(kw)
    return RosterPerson(**fields)  # type: ignore[arg-type]


def test_planner_rules() -> None:
    roster = [
        person(1),  # missing: add
        person(2, card="0099"),  # on the clock as card 99: unchanged
        person(3, name="New name"),  # update
        person(4, separation_date=DAY),  # last day today: stays
        person(5, separation_date=date(2026, 3, 9)),  # left yesterday: removed
        person(6, hire_date=date(2026, 3, 20)),  # future hire on the clock: left alone
        person(7, hire_date=date(2026, 3, 20)),  # future hire not on it: not added
        person(8, department_code="QA"),  # other department: removed
        person(9, separation_date=date(2025, 1, 1)),  # long gone, admin: kept
    ]
    clock = [
        DeviceUser("2", "P2", "99"),
        DeviceUser("3", "P3"),
        DeviceUser("4", "P4"),
        DeviceUser("5", "P5"),
        DeviceUser("6", "P6"),
        DeviceUser("8", "P8"),
        DeviceUser("9", "P9", privilege=14),
        DeviceUser("77", "Stranger"),
    ]
    plan = plan_enrolment(roster, clock, on=DAY, wanted=lambda p: p.department_code == "OPS")
    assert [c.enroll_no for c in plan.adds] == ["1"]
    assert [(c.enroll_no, c.fields) for c in plan.updates] == [("3", ("name",))]
    assert [(c.enroll_no, c.reason) for c in plan.removes] == [
        ("5", "left on 2026-03-09"),
        ("8", "not in this clock's departments"),
    ]
    assert [(k.enroll_no, k.reason) for k in plan.kept] == [
        ("6", "starts on 2026-03-20"),
        ("9", "admin or enroller on the clock"),
    ]
    assert (plan.unknown_kept, plan.unchanged) == (1, 2)
    assert [c.kind for c in plan.changes] == ["remove", "remove", "update", "add"]

    told = plan_enrolment(roster, clock, on=DAY, remove_unknown=True, include_admins=True)
    assert sorted(c.enroll_no for c in told.removes) == ["5", "77", "9"]
    assert told.kept == [told.kept[0]] and told.kept[0].enroll_no == "6"


def test_planner_compares_names_as_the_clock_keeps_them() -> None:
    roster = [person(1, name="A very long name indeed")]
    clock = [DeviceUser("1", "A very l")]
    assert plan_enrolment(roster, clock, on=DAY, fit_name=lambda n: n[:8]).empty
    assert not plan_enrolment(roster, clock, on=DAY).empty


def test_cards_at_and_departments_below() -> None:
    rows = [
        ("100", 1, datetime(2026, 1, 1)),
        ("200", 1, datetime(2026, 2, 1)),  # issued later: the one the clock holds
        ("300", 2, datetime(2026, 1, 1)),
        ("300", None, datetime(2026, 3, 11)),  # withdrawn tomorrow: still held today
        ("400", 3, datetime(2026, 3, 11)),  # from tomorrow
        ("500", 4, datetime(2026, 1, 1)),
        ("500", None, datetime(2026, 3, 1)),  # withdrawn
    ]
    assert cards_at(rows, datetime(2026, 3, 10, 23, 59)) == {1: "200", 2: "300"}
    parents = {"HQ": None, "OPS": "HQ", "LINE1": "OPS", "QA": None}
    assert departments_below(["OPS", "XX"], parents) == ({"OPS", "LINE1"}, ["XX"])
    assert departments_below(["HQ"], parents)[0] == {"HQ", "OPS", "LINE1"}


@pytest.mark.parametrize(("record_size", "udp"), [(16, False), (40, True)])
def test_an_empty_clock_is_written_in_its_own_user_layout(record_size: int, udp: bool) -> None:
    # no user to measure a record on: the ~UserExtFmt option decides (pyzk would guess
    # 72 bytes over TCP and 28 over UDP: wrong both times here)
    with ZKSimulator(port=0, record_size=record_size, udp=udp) as sim:
        config = ZKConfig(
            name="gate", driver="zk", host="127.0.0.1", port=sim.port, timeout=2,
            protocol="udp" if udp else "tcp",
        )  # fmt: skip
        with ZKDriver(config) as driver:
            assert driver.users() == []
            driver.write_user(DeviceUser("123", "First"))
        assert [(u.user_id, u.name) for u in sim.users] == [("123", "First")]
