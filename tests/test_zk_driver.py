"""The zk driver against the simulator over real loopback sockets."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import pytest

from punchd.drivers import (
    AuthenticationRefused,
    DeviceBusy,
    DeviceUnreachable,
    PunchState,
    TransferBroken,
    TransferTimeout,
    get_driver,
)
from punchd.drivers.zk import protocol as p
from punchd.drivers.zk.driver import ZKConfig, ZKDriver
from punchd.drivers.zk.simulator import SimPunch, SimUser, ZKSimulator, generate

USERS, PUNCHES = generate(users=60, punches=3_000, seed=11)
KEY = 314159


@pytest.fixture
def sim_factory() -> Iterator[Callable[..., ZKSimulator]]:
    started: list[ZKSimulator] = []

    def make(**kwargs: object) -> ZKSimulator:
        kwargs.setdefault("users", USERS)
        kwargs.setdefault("punches", PUNCHES)
        sim = ZKSimulator(port=0, **kwargs).start()  # type: ignore[arg-type]
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


def driver(sim: ZKSimulator, **overrides: object) -> ZKDriver:
    cfg: dict[str, object] = {
        "name": "gate",
        "host": "127.0.0.1",
        "port": sim.port,
        "protocol": "udp" if sim.udp else "tcp",
        "comm_key": sim.comm_key,
        "timeout": 2.0,
    }
    cfg.update(overrides)
    return ZKDriver(ZKConfig(driver="zk", **cfg))  # type: ignore[arg-type]


def as_tuples(punches: list) -> list[tuple[str, datetime, str, int]]:
    return [(p.enroll_no, p.punched_at, p.state.value, p.verify_mode) for p in punches]


STATE_NAMES = ["in", "out", "break_out", "break_in", "ot_in", "ot_out"]
EXPECTED = [(p.user_id, p.when, STATE_NAMES[p.punch], p.status) for p in PUNCHES]


def test_registry_knows_zk() -> None:
    assert get_driver("zk") is ZKDriver


@pytest.mark.parametrize("udp", [False, True], ids=["tcp", "udp"])
@pytest.mark.parametrize("record_size", [8, 16, 40, 49])
@pytest.mark.parametrize("key", [0, KEY], ids=["no-key", "comm-key"])
def test_reads_every_punch_exactly(
    sim_factory: Callable[..., ZKSimulator], udp: bool, record_size: int, key: int
) -> None:
    sim = sim_factory(udp=udp, record_size=record_size, comm_key=key)
    with driver(sim) as d, d.hold():
        assert not sim.enabled  # held while reading
        users = d.users()
        punches = d.punches()
    assert as_tuples(punches) == EXPECTED
    assert {u.enroll_no for u in users} == {u.user_id for u in USERS}
    assert sim.enabled and sim.disable_count == 1 and sim.enable_count == 1


def test_device_info_and_users(sim_factory: Callable[..., ZKSimulator]) -> None:
    users = [
        SimUser(uid=1, user_id="100001", name="张伟", privilege=14, card=12345678),
        SimUser(uid=2, user_id="100002", name="李娜 Lopez"),
    ]
    sim = sim_factory(users=users, punches=PUNCHES[:10], encoding="gbk", serial_number="SN-42")
    with driver(sim, encoding="gbk") as d:
        info = d.device_info()
        got = d.users()
    assert info.serial_number == "SN-42"
    assert info.firmware == sim.firmware and info.platform == sim.platform
    assert info.model == sim.device_name and info.mac == sim.mac
    assert (info.user_count, info.record_count, info.record_capacity) == (2, 10, 200_000)
    assert [(u.enroll_no, u.name, u.card, u.privilege) for u in got] == [
        ("100001", "张伟", "12345678", 14),
        ("100002", "李娜 Lopez", None, 0),
    ]


def test_clock_get_and_set(sim_factory: Callable[..., ZKSimulator]) -> None:
    sim = sim_factory(clock_offset=timedelta(minutes=-7))
    with driver(sim) as d:
        drift = (d.get_time() - datetime.now()).total_seconds()
        assert -425 < drift < -415
        d.set_time(datetime.now().replace(microsecond=0))
        assert abs((d.get_time() - datetime.now()).total_seconds()) < 3


def test_progress_reaches_the_total(sim_factory: Callable[..., ZKSimulator]) -> None:
    sim = sim_factory(punches=generate(users=60, punches=20_000, seed=3)[1])
    seen: list[tuple[int, int]] = []
    with driver(sim) as d:
        assert len(d.punches(progress=lambda done, total: seen.append((done, total)))) == 20_000
    assert len(seen) >= 2
    assert seen[-1][0] == seen[-1][1] == 4 + 20_000 * 40  # size prefix + records
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


def test_unknown_states_and_unenrolled_users_are_kept(
    sim_factory: Callable[..., ZKSimulator],
) -> None:
    when = datetime(2026, 11, 2, 8, 0, 0)
    sim = sim_factory(
        users=USERS[:1],
        punches=[
            SimPunch(user_id="4242", when=when, punch=0),
            SimPunch(user_id=USERS[0].user_id, when=when, punch=7),
        ],
    )
    with driver(sim) as d:
        got = d.punches()
    assert [(p.enroll_no, p.state) for p in got] == [
        ("4242", PunchState.IN),
        (USERS[0].user_id, PunchState.UNKNOWN),
    ]


def test_clear_punches(sim_factory: Callable[..., ZKSimulator]) -> None:
    sim = sim_factory()
    with driver(sim) as d:
        assert d.record_count() == len(PUNCHES)
        d.clear_punches()
        assert d.record_count() == 0
    assert sim.clear_count == 1 and sim.punches == []


def test_hold_re_enables_when_the_caller_fails(sim_factory: Callable[..., ZKSimulator]) -> None:
    sim = sim_factory()
    with pytest.raises(RuntimeError), driver(sim) as d, d.hold():
        raise RuntimeError("caller bug")
    assert sim.enabled


@pytest.mark.parametrize("udp", [False, True], ids=["tcp", "udp"])
def test_a_disable_answered_too_late_is_followed_by_an_enable(
    sim_factory: Callable[..., ZKSimulator], udp: bool
) -> None:
    # The terminal locks itself at once but its answer comes after the driver gave up:
    # the driver cannot know it acted, so it enables it again before reporting the error.
    sim = sim_factory(udp=udp, faults=["late-disable:1.5:1"])
    entered = False
    with (
        pytest.raises(TransferTimeout, match="disable device"),
        driver(sim, timeout=1.0) as d,
        d.hold(),
    ):
        entered = True
    assert not entered, "the read must not start on a device whose disable failed"
    assert sim.disable_count == 1
    assert sim.enabled, "the device acted on the disable: it must be enabled again"
    assert not d.left_disabled


@pytest.mark.parametrize("udp", [False, True], ids=["tcp", "udp"])
def test_wrong_comm_key_is_refused_without_showing_it(
    sim_factory: Callable[..., ZKSimulator], udp: bool
) -> None:
    sim = sim_factory(udp=udp, comm_key=KEY)
    with pytest.raises(AuthenticationRefused) as info, driver(sim, comm_key=271828):
        pass
    assert "refused the comm key" in str(info.value)
    assert "271828" not in str(info.value) and str(KEY) not in str(info.value)


def test_unreachable_tcp() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = ZKConfig(name="gone", driver="zk", host="127.0.0.1", port=port, timeout=1)
    with pytest.raises(
        DeviceUnreachable, match=r"gone \(tcp://127.0.0.1:\d+\): connection refused"
    ):
        ZKDriver(cfg).connect()


def test_unreachable_udp_times_out() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        cfg = ZKConfig(
            name="gone", driver="zk", host="127.0.0.1", port=port, protocol="udp", timeout=0.5
        )
        with pytest.raises(DeviceUnreachable, match=r"no answer within 0\.5s"):
            ZKDriver(cfg).connect()


def test_unreachable_udp_port_closed_is_refused() -> None:
    # Nobody listens: the host answers ICMP "port unreachable", which the connected UDP
    # socket reports at once (not a timeout, not "busy").
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = ZKConfig(name="gone", driver="zk", host="127.0.0.1", port=port, protocol="udp", timeout=5)
    with pytest.raises(DeviceUnreachable, match=r"udp://127.0.0.1:\d+\): connection refused"):
        ZKDriver(cfg).connect()


def test_busy_device(sim_factory: Callable[..., ZKSimulator]) -> None:
    sim = sim_factory(faults=["busy"])
    with driver(sim) as first:
        with pytest.raises(DeviceBusy, match="another client"), driver(sim):
            pass
        assert len(first.punches()) == len(PUNCHES)  # the first session is unaffected


@pytest.mark.parametrize(
    ("fault", "udp", "error", "message"),
    [
        ("drop", False, TransferBroken, "read attendance: connection lost"),
        ("reset", False, TransferBroken, "read attendance: connection lost"),
        ("stall", False, TransferTimeout, "read attendance: the device stopped answering"),
        ("corrupt", False, TransferBroken, "read attendance: garbage reply"),
        ("drop", True, TransferTimeout, "read attendance: the device stopped answering"),
        ("corrupt", True, TransferBroken, "read attendance: garbage reply"),
    ],
)
def test_broken_transfers_fail_clearly_and_re_enable(
    sim_factory: Callable[..., ZKSimulator],
    fault: str,
    udp: bool,
    error: type[Exception],
    message: str,
) -> None:
    sim = sim_factory(udp=udp, faults=[fault], punches=generate(60, 20_000, seed=2)[1])
    with pytest.raises(error, match=message), driver(sim, timeout=0.5) as d, d.hold():
        d.punches()
    assert sim.enabled, "the device must be re-enabled even after a broken session"


def test_a_broken_session_is_not_reopened_once_the_device_may_be_anothers(
    sim_factory: Callable[..., ZKSimulator],
) -> None:
    # A collector stalled past its hold (another took the device meanwhile) must not open
    # a second session beside the new holder's just to re-enable the device.
    sim = sim_factory(faults=["drop"], punches=generate(60, 20_000, seed=2)[1])
    asked: list[bool] = []

    def lost() -> bool:
        asked.append(True)
        return False

    with pytest.raises(TransferBroken), driver(sim, timeout=0.5) as d:
        d.may_reopen = lost
        with d.hold():
            d.punches()
    assert asked == [True]
    assert sim.connections == 1, "no fresh session after the hold was lost"
    assert d.left_disabled  # said, not hidden: the holder re-enables it


@pytest.mark.parametrize(
    ("fault", "udp"),
    [
        ("slow:0.01", False),
        ("split", False),  # unpaced: pyzk 0.9 itself times out here
        ("split-paced:0.001", False),
        ("fragment", False),
        ("slow:0.005", True),
    ],
)
def test_slow_and_fragmented_transfers_complete(
    sim_factory: Callable[..., ZKSimulator], fault: str, udp: bool
) -> None:
    sim = sim_factory(udp=udp, faults=[fault], punches=generate(60, 8_000, seed=4)[1])
    with driver(sim) as d, d.hold():
        assert len(d.punches()) == 8_000
    assert sim.enabled


def test_punches_added_while_connected_are_read_next_time(
    sim_factory: Callable[..., ZKSimulator],
) -> None:
    sim = sim_factory()
    new = SimPunch(user_id=USERS[3].user_id, when=datetime(2030, 1, 2, 9, 0, 0), punch=1)
    with driver(sim) as d:
        assert len(d.punches()) == len(PUNCHES)
        sim.add_punches([new])
        again = d.punches()
    assert len(again) == len(PUNCHES) + 1
    assert (again[-1].enroll_no, again[-1].punched_at) == (new.user_id, new.when)


def test_old_firmware_user_list_is_downloaded_once_per_run(
    sim_factory: Callable[..., ZKSimulator],
) -> None:
    # 8-byte records carry only the internal uid: punches() maps it through the user list
    # that users() already read, instead of downloading it again.
    sim = sim_factory(record_size=8)
    with driver(sim) as d:
        d.users()
        assert as_tuples(d.punches()) == EXPECTED
    assert list(sim.commands).count(p.CMD_PREPARE_BUFFER) == 2  # users, attendance
    with driver(sim) as d:  # without users() first, punches() still maps correctly
        assert as_tuples(d.punches()) == EXPECTED
