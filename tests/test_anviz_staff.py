"""The Anviz user commands frame by frame: 0x72 download / 0x73 upload staff info, 0x4C
delete a user, 0x5D capacity — the record layouts byte for byte (specs V2.1 / V2.15,
command 44/45), the simulator's answers on the wire, and the driver's reading of them."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from punchd.drivers.anviz import codec
from punchd.drivers.anviz import framer as f
from punchd.drivers.anviz.codec import Staff
from punchd.drivers.anviz.driver import AnvizConfig, AnvizDriver
from punchd.drivers.anviz.simulator import AnvizSimulator, SimDevice
from punchd.drivers.errors import CapacityFull, CommandRefused, NotSupported
from punchd.drivers.records import DeviceUser, FingerTemplate

ANN = Staff(123456, "Ann", card=0x01020304)


def test_ansi_record_byte_for_byte() -> None:
    raw = codec.encode_staff(ANN, codec.STAFF_ANSI)
    assert raw.hex(" ") == (
        "00 00 01 e2 40"  # user id 123456, 5 bytes big-endian
        " ff ff ff"  # no password
        " 01 02 03 04"  # card, 4 bytes big-endian
        " 41 6e 6e 00 00 00 00 00 00 00"  # name, 10 bytes
        " 01 01 06"  # department, group, attendance mode (new user)
        " 00 00"  # fingerprint enrol state: 0 on upload
        " ff ff"  # password high byte, reserved
        " 50"  # special: authority 1 (bits 7-6), card of 32 bits (bit 4)
    )
    assert len(raw) == 30
    assert codec.decode_staff(raw, codec.STAFF_ANSI) == ANN


def test_unicode_record_byte_for_byte() -> None:
    s = Staff(7, "Zoë", authority=codec.AUTHORITY_ADMIN)
    raw = codec.encode_staff(s, codec.STAFF_UNICODE)
    assert len(raw) == 40
    assert raw[:12].hex(" ") == "00 00 00 00 07 ff ff ff ff ff ff ff"  # no card: FF x 4
    assert raw[12:32] == "Zoë".encode("utf-16-be").ljust(20, b"\x00")
    assert raw[32:].hex(" ") == "01 01 06 00 00 ff ff c0"  # admin, 24-bit card flag clear
    assert codec.decode_staff(raw, codec.STAFF_UNICODE) == s


def test_names_cut_to_whole_characters_of_the_field() -> None:
    assert codec.fit_staff_name("Maximilian Muster", codec.STAFF_ANSI, "latin-1") == "Maximilian"
    assert codec.fit_staff_name("王小明张三李四", codec.STAFF_ANSI, "gbk") == "王小明张三"
    assert codec.fit_staff_name("王小明张三李四", codec.STAFF_ANSI, "utf-8") == "王小明"
    long = "Alexandra Wilhelmina"
    assert codec.fit_staff_name(long, codec.STAFF_UNICODE, "latin-1") == "Alexandra "[:10].strip()


def test_values_the_record_cannot_hold() -> None:
    with pytest.raises(ValueError, match="5 bytes"):
        codec.encode_staff(Staff(1 << 40), codec.STAFF_ANSI)
    with pytest.raises(ValueError, match="4 bytes"):
        codec.encode_staff(Staff(1, card=codec.NO_CARD), codec.STAFF_ANSI)


def test_staff_packets_are_checked() -> None:
    two = [codec.encode_staff(Staff(i), codec.STAFF_ANSI) for i in (1, 2)]
    size, records = codec.split_staff(codec.encode_staff_packet(two), most=8)
    assert size == 30 and records == two
    with pytest.raises(codec.BadData, match="30 or 40"):
        codec.split_staff(codec.encode_staff_packet(two)[:-1], most=8)
    with pytest.raises(codec.BadData, match="at most 1"):
        codec.split_staff(codec.encode_staff_packet(two), most=1)


def test_request_frames() -> None:
    assert f.encode_request(1, f.CMD_DOWNLOAD_STAFF, bytes((1, 8)))[:10].hex(" ") == (
        "a5 00 00 00 01 72 00 02 01 08"
    )
    delete = f.encode_request(1, f.CMD_DELETE_USER, codec.encode_user_ref(100001, 0xFF))
    assert delete[:14].hex(" ") == "a5 00 00 00 01 4c 00 06 00 00 01 86 a1 ff"
    assert len(delete) == 16


# --------------------------------------------------------------------------- on the wire


@pytest.fixture
def sim() -> Iterator[AnvizSimulator]:
    device = SimDevice(1, staff=[ANN, Staff(5, "Bo")], user_capacity=3)
    with AnvizSimulator(devices=[device]) as s:
        s.listen_tcp()
        yield s


def exchange(sim: AnvizSimulator, request: bytes) -> bytes:
    """Send ``request`` and return the whole answer frame."""
    assert sim.port is not None
    with socket.create_connection(("127.0.0.1", sim.port), timeout=2) as sock:
        sock.sendall(request)
        decoder = f.Decoder(responses=True)
        buf = b""
        while True:
            chunk = sock.recv(4096)
            assert chunk, "connection closed"
            buf += chunk
            if decoder.feed(chunk):
                return buf


def test_simulator_answers_byte_for_byte(sim: AnvizSimulator) -> None:
    packet = exchange(sim, f.encode_request(1, f.CMD_DOWNLOAD_STAFF, bytes((1, 8))))
    data = codec.encode_staff_packet(
        [codec.encode_staff(s, codec.STAFF_ANSI) for s in (ANN, Staff(5, "Bo"))]
    )
    assert packet == f.encode_response(1, f.CMD_DOWNLOAD_STAFF, f.RET_SUCCESS, data)

    new = codec.encode_staff_packet([codec.encode_staff(Staff(9, "Cy"), codec.STAFF_ANSI)])
    taken = exchange(sim, f.encode_request(1, f.CMD_UPLOAD_STAFF, new))
    assert taken == f.encode_response(1, f.CMD_UPLOAD_STAFF, f.RET_SUCCESS, b"\x00\x01")
    full = codec.encode_staff_packet([codec.encode_staff(Staff(10, "Di"), codec.STAFF_ANSI)])
    refused = exchange(sim, f.encode_request(1, f.CMD_UPLOAD_STAFF, full))
    assert refused == f.encode_response(1, f.CMD_UPLOAD_STAFF, f.RET_SUCCESS, b"\x00\x00")
    wrong_size = codec.encode_staff_packet([codec.encode_staff(Staff(11), codec.STAFF_UNICODE)])
    assert exchange(sim, f.encode_request(1, f.CMD_UPLOAD_STAFF, wrong_size)) == (
        f.encode_response(1, f.CMD_UPLOAD_STAFF, f.RET_FAIL)
    )

    gone = exchange(sim, f.encode_request(1, f.CMD_DELETE_USER, codec.encode_user_ref(5, 0xFF)))
    assert gone == f.encode_response(1, f.CMD_DELETE_USER, f.RET_SUCCESS)
    again = exchange(sim, f.encode_request(1, f.CMD_DELETE_USER, codec.encode_user_ref(5, 0xFF)))
    assert again == f.encode_response(1, f.CMD_DELETE_USER, f.RET_NO_USER)
    capacity = exchange(sim, f.encode_request(1, f.CMD_CAPACITY))
    assert capacity[9:18].hex(" ") == "00 00 03 00 17 70 01 86 a0"
    unknown = exchange(sim, f.encode_request(1, 0x7C))
    assert unknown == f.encode_response(1, 0x7C, f.RET_FAIL)
    assert sorted(sim.device(1).people) == [9, 123456]


def driver_for(sim: AnvizSimulator, **config: object) -> AnvizDriver:
    assert sim.port is not None
    cfg = AnvizConfig(
        name="door", device_id=1, host="127.0.0.1", tcp_port=sim.port, timeout=0.3, **config
    )
    return AnvizDriver(cfg)


def test_driver_reads_writes_and_maps_the_answers(sim: AnvizSimulator) -> None:
    with driver_for(sim) as d:
        assert d.users() == [
            DeviceUser("123456", "Ann", str(0x01020304), 0),
            DeviceUser("5", "Bo", None, 0),
        ]
        assert d.fit_name("Christopher Columbus") == "Christophe"
        d.write_user(DeviceUser("6", "Cy", "42"))
        with pytest.raises(CapacityFull, match="full \\(3 of 3 users\\)"):
            d.write_user(DeviceUser("7", "Di"))
        d.write_user(DeviceUser("5", "Bo Renamed"))  # an update: no room needed
        d.delete_user("6")
        d.delete_user("999")  # not on the clock: nothing sent
    assert {i: s.name for i, s in sim.device(1).people.items()} == {123456: "Ann", 5: "Bo Renamed"}


@pytest.mark.parametrize(
    ("ret", "error"),
    [(f.RET_FULL, CapacityFull), (f.RET_FAIL, CommandRefused), (f.RET_NO_USER, CommandRefused)],
)
def test_driver_maps_refusing_ret_codes(sim: AnvizSimulator, ret: int, error: type) -> None:
    original = sim._handle

    def refuse(d: SimDevice, cmd: int, data: bytes) -> tuple[int, bytes]:
        if cmd in (f.CMD_UPLOAD_STAFF, f.CMD_DELETE_USER):
            return ret, b""
        return original(d, cmd, data)

    sim._handle = refuse  # type: ignore[method-assign]
    with driver_for(sim) as d:
        d.users()
        with pytest.raises(error):
            d.write_user(DeviceUser("5", "Bo"))
        if ret == f.RET_NO_USER:
            d.delete_user("5")  # gone already: as wanted
        else:
            with pytest.raises(CommandRefused, match="refused to remove user '5'"):
                d.delete_user("5")


def test_the_clock_layout_wins_and_an_early_empty_ends_the_download(
    sim: AnvizSimulator,
) -> None:
    with driver_for(sim, user_record="unicode") as d:
        assert len(d.users()) == 2
        assert d.fit_name("Christopher") == "Christophe"  # 10 bytes: the clock's 30-byte layout
    original = sim._handle

    def overcounting(dev: SimDevice, cmd: int, data: bytes) -> tuple[int, bytes]:
        ret, out = original(dev, cmd, data)
        if cmd == f.CMD_RECORD_INFO:
            out = (50).to_bytes(3, "big") + out[3:]  # says 50 users, holds 2
        return ret, out

    sim._handle = overcounting  # type: ignore[method-assign]
    with driver_for(sim) as d:
        assert [u.enroll_no for u in d.users()] == ["123456", "5"]


@pytest.mark.parametrize("fault", ["lose:4", "lose:5", "crc:2", "dup:2:1", "garbage:24", "split"])
def test_user_download_survives_a_bad_line(fault: str) -> None:
    people = [Staff(1000 + i, f"P{i}", card=i or None) for i in range(37)]
    device = SimDevice(1, staff=people, staff_size=codec.STAFF_UNICODE)
    with AnvizSimulator(devices=[device], faults=[fault], seed=4) as sim:
        sim.listen_tcp()
        with driver_for(sim, retries=6) as d:
            users = d.users()
    assert [u.enroll_no for u in users] == [str(p.user_id) for p in people]
    assert [u.name for u in users] == [p.name for p in people]


# --------------------------------------------------------------------------- templates

PRINT = bytes((i * 7 + 3) % 256 for i in range(codec.FP_TEMPLATE_SIZE))


def test_template_frames_byte_for_byte(sim: AnvizSimulator) -> None:
    put = codec.encode_user_ref(5, 2) + PRINT
    assert len(put) == 344  # the specs' 0x45 DATA: user id, backup code, 338 bytes
    stored = exchange(sim, f.encode_request(1, f.CMD_PUT_TEMPLATE, put))
    assert stored == f.encode_response(1, f.CMD_PUT_TEMPLATE, f.RET_SUCCESS)
    got = exchange(sim, f.encode_request(1, f.CMD_GET_TEMPLATE, codec.encode_user_ref(5, 2)))
    assert got == f.encode_response(1, f.CMD_GET_TEMPLATE, f.RET_SUCCESS, PRINT)
    nobody = exchange(
        sim, f.encode_request(1, f.CMD_PUT_TEMPLATE, codec.encode_user_ref(8, 1) + PRINT)
    )
    assert nobody == f.encode_response(1, f.CMD_PUT_TEMPLATE, f.RET_NO_USER)
    short = exchange(sim, f.encode_request(1, f.CMD_PUT_TEMPLATE, put[:-1]))
    assert short == f.encode_response(1, f.CMD_PUT_TEMPLATE, f.RET_FAIL)
    assert sim.device(1).people[5].fingers == 0b10  # FP2 enrolled


def test_driver_reads_and_writes_templates(sim: AnvizSimulator) -> None:
    sim.device(1).fingerprint_capacity = 2
    with driver_for(sim) as d:
        d.users()
        assert d.template_format() == "anviz:TC-B SIM"
        assert d.templates() == []
        bo = DeviceUser("5", "Bo")
        d.write_templates(bo, [FingerTemplate("5", 0, PRINT), FingerTemplate("5", 1, PRINT[::-1])])
        found = d.templates()
        assert [(t.enroll_no, t.finger, t.template) for t in found] == [
            ("5", 0, PRINT),
            ("5", 1, PRINT[::-1]),
        ]
        with pytest.raises(NotSupported, match="FP1 and FP2 only"):
            d.write_templates(bo, [FingerTemplate("5", 6, PRINT)])
        with pytest.raises(CapacityFull, match="no more fingerprints"):
            d.write_templates(DeviceUser("123456", "Ann"), [FingerTemplate("123456", 0, PRINT)])
        with pytest.raises(CommandRefused, match="not on the clock"):
            d.write_templates(DeviceUser("77", "X"), [FingerTemplate("77", 0, PRINT)])
