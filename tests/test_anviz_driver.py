"""The anviz driver against the simulator over real pty pairs and real loopback TCP."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import serial
from pydantic import ValidationError

from punchd.config import ConfigError, load_settings
from punchd.drivers import (
    DeviceBusy,
    DeviceUnreachable,
    NotSupported,
    PunchState,
    TransferBroken,
    TransferTimeout,
    get_driver,
    registry,
)
from punchd.drivers.anviz.codec import Record
from punchd.drivers.anviz.driver import AnvizConfig, AnvizDriver
from punchd.drivers.anviz.simulator import AnvizSimulator, SimDevice, generate_records

from .helpers.anviz import Line, Where


def driver(where: Where, device_id: int = 1, **kw: Any) -> AnvizDriver:
    cfg: dict[str, Any] = {
        "name": f"clock-{device_id}",
        "driver": "anviz",
        "device_id": device_id,
        "timeout": 1.0,
    }
    cfg.update(where)
    cfg.update(kw)
    return AnvizDriver(AnvizConfig(**cfg))


def as_tuples(punches: list) -> list[tuple]:
    return [(p.enroll_no, p.punched_at, p.state, p.verify_mode, p.work_code) for p in punches]


def expected(records: list[Record]) -> list[tuple]:
    states = {0: PunchState.IN, 1: PunchState.OUT}
    return [
        (
            str(r.user_code),
            r.when,
            states.get(r.record_type & 0x0F, PunchState.UNKNOWN),
            r.backup_code,
            str(r.work_type) if r.work_type else None,
        )
        for r in records
    ]


def one_run(d: AnvizDriver, *, all_records: bool = False) -> tuple[list, Any]:
    """What the collector does with a driver, minus the database."""
    with d:
        d.device_info()
        d.get_time()
        with d.hold():
            d.users()
            punches = d.punches(all_records=all_records)
            done = d.after_commit(len(punches))
    return punches, done


# --------------------------------------------------------------------------- config


def test_registered_as_anviz() -> None:
    assert get_driver("anviz") is AnvizDriver
    assert "anviz" in registry.available()


def test_config_needs_exactly_one_transport() -> None:
    with pytest.raises(ValidationError, match="exactly one of `port`"):
        AnvizConfig(name="a", device_id=1)
    with pytest.raises(ValidationError, match="exactly one of `port`"):
        AnvizConfig(name="a", device_id=1, port="/dev/ttyUSB0", host="10.0.0.5")
    with pytest.raises(ValidationError, match="baudrate: only for a serial `port`"):
        AnvizConfig(name="a", device_id=1, host="10.0.0.5", baudrate=19200)
    with pytest.raises(ValidationError, match="`tcp_port` only applies with `host`"):
        AnvizConfig(name="a", device_id=1, port="/dev/ttyUSB0", tcp_port=5010)
    with pytest.raises(ValidationError, match="need rs485 = true"):
        AnvizConfig(name="a", device_id=1, port="/dev/ttyUSB0", rs485_delay_before_tx=0.001)
    with pytest.raises(ValidationError, match="device_id"):
        AnvizConfig(name="a", device_id=0, port="/dev/ttyUSB0")


def test_addresses() -> None:
    serial_cfg = AnvizConfig(name="a", device_id=3, port="/dev/ttyUSB0")
    assert serial_cfg.address() == "serial:///dev/ttyUSB0#3"
    assert (serial_cfg.baudrate, serial_cfg.user_code, serial_cfg.rs485) == (9600, "enroll", False)
    url = AnvizConfig(name="a", device_id=2, port="socket://gw:4001")
    assert url.address() == "socket://gw:4001#2"
    tcp = AnvizConfig(name="a", device_id=1, host="192.0.2.7")
    assert tcp.address() == "tcp://192.0.2.7:5010#1"


def test_settings_file_with_a_bus_and_a_tcp_clock(tmp_path: Path) -> None:
    path = tmp_path / "punchd.toml"
    path.write_text(
        "[[devices]]\nname = 'door-a'\ndriver = 'anviz'\nport = '/dev/ttyUSB0'\ndevice_id = 1\n"
        "rs485 = true\nuser_code = 'card'\n"
        "[[devices]]\nname = 'door-b'\ndriver = 'anviz'\nport = '/dev/ttyUSB0'\ndevice_id = 2\n"
        "[[devices]]\nname = 'gate'\ndriver = 'anviz'\nhost = '192.0.2.9'\ndevice_id = 1\n",
        encoding="utf-8",
    )
    a, b, gate = load_settings(path).devices
    assert isinstance(a, AnvizConfig) and a.user_code == "card" and a.rs485
    assert a.bus() == b.bus() != gate.bus()
    path.write_text("[[devices]]\nname = 'x'\ndriver = 'anviz'\ndevice_id = 1\n")
    with pytest.raises(ConfigError, match=r"devices\[0\] \('x'\): set exactly one of `port`"):
        load_settings(path)


# --------------------------------------------------------------------------- reads


def test_reads_new_records_and_clears_exactly_what_was_read(line: Line) -> None:
    sim, where = line(ids=[1], punches=1_000, seed=3)
    device = sim.device(1)
    records = list(device.records)
    d = driver(where)
    with d:
        info = d.device_info()
        assert (info.serial_number, info.model, info.firmware) == (
            "ANVSIM000001",
            "TC-B SIM",
            "V2.15sim",
        )
        assert (info.record_count, info.user_count) == (1_000, 40)
        assert abs((d.get_time() - datetime.now()).total_seconds()) < 3
        progress: list[tuple[int, int]] = []
        punches = d.punches(lambda done, total: progress.append((done, total)))
        assert as_tuples(punches) == expected(records)
        assert progress[0] == (0, 1_000) and progress[-1] == (1_000, 1_000)
        assert len(progress) == 1 + 40  # packets of 25
        assert device.new == 1_000  # nothing forgotten before the commit
        done = d.after_commit(len(punches))
    assert done.cleared and done.skipped is None
    assert device.clears == [(2, 1_000)] and device.new == 0 and device.delete_all == 0
    assert len(device.records) == 1_000  # flags cleared, records kept
    with driver(where) as d:
        assert d.punches() == []
        assert d.after_commit(0).cleared is False


def test_record_fields_map_to_punches(line: Line) -> None:
    when = datetime(2026, 11, 2, 8, 0, 0)
    rows = [
        Record(1001, when, 0, 0x00, 0),  # fp1, in
        Record(1002, when, 1, 0x01, 0),  # fp2, out
        Record(1003, when, 2, 0x81, 5),  # password, out, door opened
        Record(1004, when, 3, 0x07, 70_000),  # card, a state the specs do not name
        Record((1 << 40) - 1, when, 3, 0x00, 0),  # the largest 5-byte code
    ]
    _sim, where = line(devices=[SimDevice(1, rows)])
    punches, _ = one_run(driver(where))
    assert as_tuples(punches) == [
        ("1001", when, PunchState.IN, 0, None),
        ("1002", when, PunchState.OUT, 1, None),
        ("1003", when, PunchState.OUT, 2, "5"),
        ("1004", when, PunchState.UNKNOWN, 3, "70000"),
        ("1099511627775", when, PunchState.IN, 3, None),
    ]


def test_card_user_codes_are_kept_as_text(line: Line) -> None:
    sim, where = line(ids=[4], punches=60, card=True)
    punches, _ = one_run(driver(where, 4, user_code="card"))
    assert [p.enroll_no for p in punches] == [str(r.user_code) for r in sim.device(4).records]
    assert all(len(p.enroll_no) >= 10 and p.verify_mode == 3 for p in punches)


def test_counters_past_65535(line: Line) -> None:
    start = datetime(2020, 1, 1)
    rows = [Record(1000 + i % 50, start + timedelta(minutes=i)) for i in range(70_000)]
    sim, where = line(devices=[SimDevice(1, rows, new_count=30)])
    with driver(where) as d:
        assert d.device_info().record_count == 70_000
        assert d.record_count() == 70_000
        punches = d.punches()
        assert as_tuples(punches) == expected(rows[-30:])
        assert d.after_commit(30).cleared
    assert sim.device(1).new == 0


def test_all_records_rereads_everything_and_clears_only_the_new_count(line: Line) -> None:
    sim, where = line(ids=[1], punches=400)
    device = sim.device(1)
    late = [Record(4242, datetime(2030, 1, 1, 9, i)) for i in range(4)]

    def punch_during_download(device_id: int, command: int, data: bytes) -> None:
        if command == 0x40 and data[0] == 1:  # right after the first packet of "all"
            sim.add_punches(1, late)

    one_run(driver(where))  # an ordinary run: nothing is new any more
    assert device.new == 0
    sim.add_punches(1, [Record(4241, datetime(2030, 1, 1, 8, 0))])  # one new record
    sim.on_request = punch_during_download
    punches, done = one_run(driver(where), all_records=True)
    assert len(punches) == 401  # all of them, as they were when the download started
    assert done.cleared and device.clears[-1] == (2, 1)  # the one new record, not 5
    assert device.new == 4 and device.new_records() == late  # the late ones stay new
    sim.on_request = None
    punches, _ = one_run(driver(where))
    assert [p.enroll_no for p in punches] == ["4242"] * 4 and device.new == 0
    assert device.delete_all == 0


def test_clock_can_be_set(line: Line) -> None:
    _sim, where = line(devices=[SimDevice(1, clock_offset=timedelta(minutes=-7))])
    with driver(where) as d:
        drift = (d.get_time() - datetime.now()).total_seconds()
        assert -423 <= drift <= -417
        d.set_time(datetime(2031, 5, 6, 7, 8, 9))
        assert abs((d.get_time() - datetime(2031, 5, 6, 7, 8, 9)).total_seconds()) < 3


def test_never_deletes_and_refuses_to_clear_when_someone_else_did(line: Line) -> None:
    sim, where = line(ids=[1], punches=50)
    d = driver(where)
    with d:
        with pytest.raises(NotSupported, match="never deletes"):
            d.clear_punches()
        punches = d.punches()
        sim.device(1).new_count = 20  # a vendor program collected meanwhile
        done = d.after_commit(len(punches))
    assert not done.cleared and "another program" in (done.skipped or "")
    assert sim.device(1).clears == [] and sim.device(1).delete_all == 0


# --------------------------------------------------------------------------- one bus


def test_two_ids_on_one_pty_are_polled_in_turn_from_two_threads(ptys, sims) -> None:
    sim = AnvizSimulator(ids=[1, 2], punches=2_000)
    sims.append(sim)
    master, path = ptys()
    sim.serve_fd(master)
    results: dict[int, list] = {}
    errors: list[BaseException] = []
    go = threading.Barrier(2)

    def collect(device_id: int) -> None:
        try:
            go.wait()
            results[device_id], _ = one_run(driver({"port": path}, device_id))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=collect, args=(i,)) for i in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    for i in (1, 2):
        assert as_tuples(results[i]) == expected(sim.device(i).records)
        assert sim.device(i).new == 0
    runs = [sim.bus_log[0][0]]
    for device_id, _cmd in sim.bus_log:
        if device_id != runs[-1]:
            runs.append(device_id)
    assert sorted(runs) == [1, 2], "the two sessions interleaved on the bus"
    assert sim.bad_requests == 0


def test_bus_lock_waits_then_gives_up_with_a_clear_message(ptys, sims) -> None:
    sim = AnvizSimulator(ids=[1, 2], punches=10)
    sims.append(sim)
    master, path = ptys()
    sim.serve_fd(master)
    with driver({"port": path}, 1) as first:
        first.device_info()
        with pytest.raises(DeviceBusy, match="already open in this thread by device 'clock-1'"):
            driver({"port": path}, 2).connect()
        outcome: list[str] = []

        def wait_for_the_bus() -> None:
            with pytest.raises(DeviceBusy) as caught:
                driver({"port": path}, 2, bus_wait=0.2).connect()
            outcome.append(str(caught.value))

        t = threading.Thread(target=wait_for_the_bus)
        t.start()
        t.join(10)
        assert "still in use by device 'clock-1' after 0.2s" in outcome[0]
    with driver({"port": path}, 2) as second:  # released by close()
        assert second.record_count() == 10


def test_port_held_by_another_program_is_busy(ptys, sims) -> None:
    sim = AnvizSimulator(ids=[1], punches=5)
    sims.append(sim)
    master, path = ptys()
    sim.serve_fd(master)
    other = serial.Serial(path, exclusive=True)  # e.g. the vendor's program
    try:
        with pytest.raises(DeviceBusy, match="in use by another program"):
            driver({"port": path}).connect()
    finally:
        other.close()
    with driver({"port": path}) as d:
        assert d.record_count() == 5


def test_missing_port_and_refused_tcp_are_unreachable(tmp_path: Path) -> None:
    missing = tmp_path / "ttyUSB9"
    with pytest.raises(DeviceUnreachable, match=r"ttyUSB9 does not exist .*by-id"):
        driver({"port": str(missing)}).connect()
    with AnvizSimulator() as sim:
        port = sim.listen_tcp()
    with pytest.raises(DeviceUnreachable, match="connection refused"):
        driver({"host": "127.0.0.1", "tcp_port": port}).connect()


def test_pyserial_url_reaches_a_serial_device_server(sims) -> None:
    sim = AnvizSimulator(ids=[7], punches=120)
    sims.append(sim)
    port = sim.listen_tcp()
    punches, done = one_run(driver({"port": f"socket://127.0.0.1:{port}"}, 7))
    assert as_tuples(punches) == expected(sim.device(7).records) and done.cleared


def test_rs485_mode_is_optional_on_a_pty(ptys, sims) -> None:
    sim = AnvizSimulator(ids=[1], punches=30)
    sims.append(sim)
    master, path = ptys()
    sim.serve_fd(master)
    d = driver({"port": path}, rs485=True, rs485_delay_before_tx=0.001)
    with d:
        assert "no kernel RS-485 mode" in (d.transport.rs485_note or "")  # type: ignore[union-attr]
        assert len(d.punches()) == 30


# --------------------------------------------------------------------------- failures


def test_a_silent_device_is_unreachable(line: Line) -> None:
    _sim, where = line(ids=[1], punches=5, faults=["silent"])
    started = time.monotonic()
    with pytest.raises(DeviceUnreachable, match=r"clock-1 .*no answer from device id 1"):
        one_run(driver(where, timeout=0.2, retries=1))
    assert time.monotonic() - started < 2


def test_wrong_device_id_on_the_bus_is_unreachable(line: Line) -> None:
    sim, where = line(ids=[1, 2], punches=5)
    with pytest.raises(DeviceUnreachable, match="wrong device_id"):
        one_run(driver(where, 3, timeout=0.2, retries=0))
    assert [i for i, _ in sim.bus_log] == [3]


def test_device_going_quiet_mid_download_is_a_timeout_and_nothing_is_returned(
    line: Line,
) -> None:
    sim, where = line(ids=[1], punches=500, faults=["silent:12"])
    d = driver(where, timeout=0.2, retries=2)
    with d, pytest.raises(TransferTimeout, match="stopped answering"):
        d.device_info()
        d.punches()
    assert sim.device(1).new == 500 and sim.device(1).clears == []


def test_crc_failing_every_time_is_a_broken_transfer(line: Line) -> None:
    sim, where = line(ids=[1], punches=50, faults=["crc:1"])
    with pytest.raises(TransferBroken, match=r"corrupt answers .*CRC"):
        one_run(driver(where, retries=2))
    assert sim.device(1).new == 50 and sim.device(1).clears == []


def test_port_vanishing_mid_download_is_reported(line: Line) -> None:
    sim, where = line(ids=[1], punches=300, faults=["vanish:3"])
    with pytest.raises(TransferBroken) as caught:
        one_run(driver(where))
    text = str(caught.value)
    if "port" in where:
        assert "serial port vanished (USB adapter unplugged" in text
    else:
        assert "connection lost" in text
    assert sim.vanished.is_set() and sim.device(1).new == 300


@pytest.mark.parametrize(
    ("fault", "proof"),
    [
        ("crc:3", "bad_answers"),  # re-requested with 0x10
        ("split:0.001", None),
        ("garbage:40", None),
        ("lose:5", "behind"),  # requests lost on the line: "next" asked again, once proven
        ("dup:1", None),  # copies right behind the answer: dropped before the next request
        ("dup:2:1", "stale"),  # late copies, in front of the next answer: recognised
        ("garbage dup:1:1 crc:4 split:0.0005", "stale"),
    ],
)
def test_faults_that_a_run_rides_out(line: Line, fault: str, proof: str | None) -> None:
    sim, where = line(ids=[1, 2], punches=300, faults=fault.split())
    d = driver(where, 2, timeout=0.15)
    punches, done = one_run(d)
    assert as_tuples(punches) == expected(sim.device(2).records)
    assert sim.device(1).new == 300  # the other device on the line is untouched
    if done.cleared:
        assert sim.device(2).clears == [(2, 300)] and sim.device(2).new == 0
    else:  # only when the clear's own answer was damaged or lost: unconfirmed, nothing lost
        assert "unconfirmed" in (done.skipped or "") and sim.device(2).new in (0, 300)
    assert sim.device(2).delete_all == 0
    assert sum(sim.fault_hits.values()) > 0
    if proof is not None:
        assert getattr(d.last_client, proof) > 0


def test_arrivals_during_the_download_stay_new(line: Line) -> None:
    sim, where = line(ids=[1], punches=100, faults=["arrive:3:2"])
    before = list(sim.device(1).records)
    punches, done = one_run(driver(where))
    assert as_tuples(punches) == expected(before) and done.cleared
    assert sim.device(1).new == 3 and sim.device(1).clears == [(2, 100)]
    punches, _ = one_run(driver(where))
    assert as_tuples(punches) == expected(sim.device(1).records[-3:])
    assert sim.device(1).new == 0


def test_generated_records_are_unique_and_ordered() -> None:
    rows = generate_records(3_000, seed=5)
    assert len({(r.user_code, r.when) for r in rows}) == 3_000
    assert [r.when for r in rows] == sorted(r.when for r in rows)
    assert rows[-1].when < datetime.combine(datetime.now().date(), datetime.min.time())
