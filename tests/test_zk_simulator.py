"""The ZK simulator against unmodified pyzk 0.9, over real loopback sockets."""

from __future__ import annotations

import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from functools import cache

import pytest
from zk import ZK
from zk.exception import ZKErrorResponse, ZKNetworkError

from punchd.drivers.zk import protocol as p
from punchd.drivers.zk.simulator import (
    Fault,
    SimPunch,
    SimUser,
    ZKSimulator,
    generate,
    parse_fault,
)

TCP_CHUNK = 0xFFC0  # pyzk's chunk size over TCP
UDP_CHUNK = 16 * 1024


@cache
def population(users: int = 50, punches: int = 30_000, seed: int = 7):
    return generate(users, punches, seed=seed)


def client(sim: ZKSimulator, *, timeout: float = 5, password: int = 0, **kw) -> ZK:
    return ZK(
        "127.0.0.1",
        port=sim.port,
        timeout=timeout,
        password=password,
        force_udp=sim.udp,
        ommit_ping=True,
        **kw,
    )


def key(punch: SimPunch) -> tuple:
    return (punch.user_id, punch.when, punch.status, punch.punch)


def att_key(att) -> tuple:
    return (att.user_id, att.timestamp, att.status, att.punch)


def sim_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("zksim")]


class Raw:
    """A minimal hand-written ZK client, to look at the wire itself."""

    def __init__(self, sim: ZKSimulator) -> None:
        self.udp = sim.udp
        self.addr = ("127.0.0.1", sim.port)
        if self.udp:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        else:
            self.sock = socket.create_connection(self.addr)
        self.sock.settimeout(3)
        self.session = 0
        self.reply_id = 0

    def send(self, command: int, payload: bytes = b"", session: int | None = None) -> None:
        self.reply_id += 1
        sid = self.session if session is None else session
        packet = p.make_packet(command, sid, self.reply_id, payload)
        if self.udp:
            self.sock.sendto(packet, self.addr)
        else:
            self.sock.sendall(p.tcp_wrap(packet))

    def recv_exact(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            piece = self.sock.recv(n - len(buf))
            if not piece:
                raise EOFError(len(buf))
            buf += piece
        return buf

    def packet(self) -> tuple[int, int, int, bytes]:
        if self.udp:
            raw = self.sock.recv(65535)
        else:
            magic1, magic2, length = p.TCP_PREFIX.unpack(self.recv_exact(8))
            assert (magic1, magic2) == p.TCP_MAGIC
            raw = self.recv_exact(length)
        command, chk, session, reply = p.HEADER.unpack_from(raw)
        assert chk == p.checksum(p.HEADER.pack(command, 0, session, reply) + raw[8:])
        return command, session, reply, raw[8:]

    def call(self, command: int, payload: bytes = b"", session: int | None = None):
        self.send(command, payload, session)
        return self.packet()

    def connect(self, comm_key: int = 0) -> None:
        command, session, _, _ = self.call(p.CMD_CONNECT)
        self.session = session
        if command == p.ACK_UNAUTH:
            command, *_ = self.call(p.CMD_AUTH, p.make_commkey(comm_key, session))
        assert command == p.ACK_OK

    def close(self) -> None:
        self.sock.close()


# --------------------------------------------------------------------------- data


def test_generate_is_deterministic_realistic_and_in_the_past():
    start = datetime(2026, 3, 2, 0, 0)
    users, punches = generate(20, 2000, seed=3, start=start)
    assert (users, punches) == generate(20, 2000, seed=3, start=start)
    assert generate(20, 2000, seed=4, start=start)[1] != punches
    assert len(users) == 20 and len(punches) == 2000
    assert [u.uid for u in users] == list(range(1, 21))
    assert all(
        u.user_id.isdigit() and len(u.user_id) == 6 and u.user_id != str(u.uid) for u in users
    )
    assert users[0].privilege == 14
    times = [x.when for x in punches]
    assert times == sorted(times) and times[-1] < start
    assert all(t.microsecond == 0 for t in times)
    assert len({(x.user_id, x.when) for x in punches}) == len(punches)
    by_uid = {u.uid: u.user_id for u in users}
    assert all(by_uid[x.uid] == x.user_id for x in punches)
    states = [x.punch for x in punches]
    assert states.count(0) > 0.3 * len(states) and states.count(1) > 0.3 * len(states)
    assert {2, 3} <= set(states) and set(states) <= {0, 1, 2, 3, 4, 5}
    assert {x.status for x in punches} >= {1, 15} and {x.status for x in punches} <= {1, 3, 4, 15}
    ins = [x.when.hour * 60 + x.when.minute for x in punches if x.punch == 0]
    outs = [x.when.hour * 60 + x.when.minute for x in punches if x.punch == 1]
    assert 7 * 60 + 30 < sum(ins) / len(ins) < 8 * 60 + 30
    assert 16 * 60 + 30 < sum(outs) / len(outs) < 17 * 60 + 30
    assert sum(x.when.weekday() < 5 for x in punches) > 0.9 * len(punches)


def test_generate_names_and_limits():
    users, _ = generate(30, 0, encoding_names=True)
    for u in users:
        u.name.encode("gbk")
    assert any(ord(c) > 0x3000 for u in users for c in u.name)
    with pytest.raises(ValueError):
        generate(0, 10)
    with pytest.raises(ValueError, match="2000"):
        generate(1, 100_000, start=datetime(2001, 1, 1))


def test_parse_fault_grammar():
    assert parse_fault("drop") == Fault("drop", 0.5, None)
    assert parse_fault("drop:0.25:2") == Fault("drop", 0.25, 2)
    assert parse_fault("reset:0") == Fault("reset", 0.0, None)
    assert parse_fault("stall:1") == Fault("stall", 1.0, None)
    assert parse_fault("slow:0.2") == Fault("slow", 0.2, None)
    assert parse_fault("slow") == Fault("slow", 0.1, None)
    assert parse_fault("late-disable") == Fault("late-disable", 2.0, None)
    assert parse_fault("late-disable:1.5:1") == Fault("late-disable", 1.5, 1)
    assert parse_fault("split") == Fault("split", 1024, None)
    assert parse_fault("split:512") == Fault("split", 512, None)
    assert parse_fault("split-paced") == Fault("split-paced", 0.005, None)
    assert parse_fault("fragment") == Fault("fragment", 1460, None)
    assert parse_fault("busy") == Fault("busy", None, None)
    assert parse_fault("corrupt:3:1") == Fault("corrupt", 3, 1)
    assert parse_fault(" Busy ") == Fault("busy", None, None)
    for bad in ("explode", "drop:1.5", "drop:x", "busy:1", "slow:-1", "split:0", "drop:0.5:0"):
        with pytest.raises(ValueError):
            parse_fault(bad)


# --------------------------------------------------------------------------- session


@pytest.mark.parametrize("udp", [False, True], ids=["tcp", "udp"])
def test_device_info(udp):
    with ZKSimulator(
        udp=udp,
        serial_number="ABC123",
        device_name="Front door",
        firmware="Ver 6.60 Apr 28 2026",
        platform="ZMM220_TFT",
        mac="00:17:61:aa:bb:cc",
    ) as sim:
        conn = client(sim).connect()
        assert conn.get_serialnumber() == "ABC123"
        assert conn.get_device_name() == "Front door"
        assert conn.get_firmware_version() == "Ver 6.60 Apr 28 2026"
        assert conn.get_platform() == "ZMM220_TFT"
        assert conn.get_mac() == "00:17:61:aa:bb:cc"
        assert conn.get_fp_version() == 10
        assert conn.get_extend_fmt() == 1
        assert conn.get_user_extend_fmt() == 1
        assert conn.get_face_fun_on() == 0
        assert conn.get_compat_old_firmware() == 0
        assert conn.get_pin_width() == 9
        assert conn.get_network_params() == {
            "ip": "127.0.0.1",
            "mask": "255.255.255.0",
            "gateway": "127.0.0.1",
        }
        # unknown option: ACK_ERROR, pyzk returns None; the conversation stays in step
        assert conn.get_face_version() is None
        assert conn.get_serialnumber() == "ABC123"
        conn.disconnect()
        assert p.CMD_EXIT in sim.commands


@pytest.mark.parametrize("udp", [False, True], ids=["tcp", "udp"])
def test_unknown_commands_are_answered(udp):
    with ZKSimulator(udp=udp) as sim:
        conn = client(sim, timeout=2).connect()
        reply = conn._ZK__send_command(1234, b"", 1024)
        assert reply == {"status": False, "code": p.ACK_UNKNOWN}
        conn._clear_error(b"~Nothing\x00")  # sends 2001 and 3 x 0xFFFF, waits for each
        assert list(sim.commands)[-4:] == [p.ACK_ERROR, 0xFFFF, 0xFFFF, 0xFFFF]
        assert conn.get_serialnumber() == "SIM0001"
        conn.disconnect()
        raw = Raw(sim)
        raw.connect()
        command, session, reply_id, payload = raw.call(4321, b"xyz")
        assert (command, session, reply_id, payload) == (p.ACK_UNKNOWN, raw.session, 2, b"")
        raw.close()


@pytest.mark.parametrize("udp", [False, True], ids=["tcp", "udp"])
def test_comm_key(udp):
    with ZKSimulator(udp=udp, comm_key=123456) as sim:
        conn = client(sim, password=123456).connect()
        assert conn.get_serialnumber() == "SIM0001"
        conn.disconnect()
        with pytest.raises(ZKErrorResponse, match=r"^Unauthenticated$"):
            client(sim, password=654321).connect()
        with pytest.raises(ZKErrorResponse, match=r"^Unauthenticated$"):
            client(sim).connect()
        raw = Raw(sim)
        command, session, _, _ = raw.call(p.CMD_CONNECT)
        assert command == p.ACK_UNAUTH and session
        raw.session = session
        assert raw.call(p.CMD_GET_TIME)[0] == p.ACK_UNAUTH  # before CMD_AUTH
        assert raw.call(p.CMD_AUTH, p.make_commkey(123456, session, ticks=77))[0] == p.ACK_OK
        assert raw.call(p.CMD_GET_TIME)[0] == p.ACK_OK
        raw.close()


def test_commands_without_session_are_refused():
    with ZKSimulator() as sim:
        raw = Raw(sim)
        command, _, reply_id, _ = raw.call(p.CMD_GET_FREE_SIZES, session=777)
        assert (command, reply_id) == (p.ACK_UNAUTH, 1)
        raw.connect()
        assert raw.call(p.CMD_GET_FREE_SIZES, session=raw.session + 1)[0] == p.ACK_UNAUTH
        assert raw.call(p.CMD_GET_FREE_SIZES)[0] == p.ACK_OK
        assert raw.call(p.CMD_EXIT)[0] == p.ACK_OK
        assert raw.sock.recv(10) == b""  # the device closed the connection
        raw.close()


# --------------------------------------------------------------------------- users


@pytest.mark.parametrize(("record_size", "user_size"), [(40, 72), (49, 72), (16, 28), (8, 28)])
def test_get_users_gbk(record_size, user_size):
    users, _ = generate(40, 0, seed=5, encoding_names=True)
    users[4].name = "欧阳娜娜"
    users[5].card, users[5].password = 12345678, "4321"
    with ZKSimulator(users=users, record_size=record_size, encoding="gbk") as sim:
        conn = client(sim, encoding="gbk").connect()
        got = conn.get_users()
        assert conn.user_packet_size == user_size
        assert [(u.uid, u.user_id, u.privilege, u.card) for u in got] == [
            (u.uid, u.user_id, u.privilege, u.card) for u in users
        ]
        width = 24 if user_size == 72 else 8
        for mine, theirs in zip(users, got, strict=True):
            expected = mine.name.encode("gbk")[:width].decode("gbk", errors="ignore").strip()
            assert theirs.name == expected
        assert got[4].name == "欧阳娜娜"  # 8 bytes in GBK: fits even the 28-byte record
        assert got[5].password == "4321"
        conn.disconnect()


# --------------------------------------------------------------------------- attendance


@pytest.mark.parametrize("record_size", [8, 16, 40])
def test_get_attendance_record_sizes(record_size):
    users, punches = population(50, 3000, 11)
    with ZKSimulator(users=users, punches=punches, record_size=record_size) as sim:
        conn = client(sim).connect()
        conn.disable_device()
        assert sim.enabled is False
        got = conn.get_attendance()
        conn.enable_device()
        assert [att_key(a) for a in got] == [key(x) for x in punches]
        assert {a.uid for a in got} <= {u.uid for u in users}
        assert (sim.enabled, sim.disable_count, sim.enable_count) == (True, 1, 1)
        conn.disconnect()


def test_a_terminal_that_honours_disable_takes_punches_once_enabled():
    users, punches = population(50, 100, 11)
    later = [SimPunch(users[0].user_id, punches[-1].when + timedelta(minutes=m)) for m in (1, 2)]
    with ZKSimulator(users=users, punches=punches) as sim:
        conn = client(sim).connect()
        conn.disable_device()
        sim.add_punches(later[:1], wait_while_disabled=True)  # busy: it waits
        sim.add_punches(later[1:])  # firmware that ignores "disable": in at once
        assert [key(a) for a in sim.punches] == [key(x) for x in [*punches, later[1]]]
        assert len(conn.get_attendance()) == 101
        conn.enable_device()
        assert [key(a) for a in sim.punches] == [key(x) for x in [*punches, *later[::-1]]]
        sim.add_punches(later[:1], wait_while_disabled=True)  # enabled: in at once
        assert len(sim.punches) == 103
        conn.disconnect()


def test_record_size_49_raw_buffer():
    users, punches = population(50, 3000, 11)
    punches = [SimPunch(x.user_id, x.when, x.status, x.punch, 7, x.uid) for x in punches]
    with ZKSimulator(users=users, punches=punches, record_size=49) as sim:
        conn = client(sim).connect()
        data, size = conn.read_with_buffer(p.CMD_ATTLOG_RRQ)
        assert size == len(data) == 4 + 49 * len(punches)
        assert struct.unpack_from("<I", data)[0] == 49 * len(punches)
        rows = list(p.iter_attendance(data[4:], 49))
        assert [(r[0], p.decode_time(r[2]), r[3], r[4]) for r in rows] == [key(x) for x in punches]
        assert {r[5] for r in rows} == {7} and [r[1] for r in rows] == [x.uid for x in punches]
        # pyzk 0.9 steps 40 bytes through 49-byte records: wrong rows or a ValueError
        try:
            got = conn.get_attendance()
        except ValueError:
            got = None
        assert got is None or [att_key(a) for a in got] != [key(x) for x in punches]
        conn.disconnect()


@pytest.mark.parametrize("udp", [False, True], ids=["tcp", "udp"])
def test_thirty_thousand_punches(udp):
    users, punches = population()
    with ZKSimulator(udp=udp, users=users, punches=punches) as sim:
        conn = client(sim).connect()
        started = time.monotonic()
        got = conn.get_attendance()
        elapsed = time.monotonic() - started
        assert len(got) == 30_000
        assert [att_key(a) for a in got] == [key(x) for x in punches]
        total = 4 + 40 * 30_000
        chunk = UDP_CHUNK if udp else TCP_CHUNK
        reads = list(sim.commands).count(p.CMD_READ_BUFFER)
        user_reads = -(-(4 + 72 * 50) // chunk)
        assert reads == -(-total // chunk) + user_reads
        assert list(sim.commands).count(p.CMD_FREE_DATA) == 2
        assert elapsed < 10
        conn.disconnect()


@pytest.mark.parametrize(
    ("udp", "record_size", "count", "inline"),
    [
        (True, 40, 25, True),  # 1004 bytes: fits pyzk's recv(1024) over UDP
        (True, 40, 26, False),
        (True, 8, 127, False),  # 1020 bytes: would be cut by recv(1024) over UDP
        (False, 8, 127, True),
        (False, 40, 26, False),
    ],
)
def test_inline_or_buffered(udp, record_size, count, inline):
    users, punches = population(50, 3000, 11)
    with ZKSimulator(udp=udp, users=users, punches=punches[:count], record_size=record_size) as s:
        conn = client(s).connect()
        users_seen = list(s.commands).count(p.CMD_READ_BUFFER)
        got = conn.get_attendance()
        assert [att_key(a) for a in got] == [key(x) for x in punches[:count]]
        reads = list(s.commands).count(p.CMD_READ_BUFFER) - users_seen
        user_reads = 1  # 50 users x 72 bytes never fit inline
        assert (reads == user_reads) is inline
        conn.disconnect()


def test_punches_added_mid_collection_wait_for_the_next_read():
    users, punches = population(50, 3000, 11)
    extra = [SimPunch(users[0].user_id, datetime(2026, 4, 1, 9, i), 1, 0) for i in range(5)]
    with ZKSimulator(users=users, punches=punches) as sim:
        seen = []

        def inject(command: int) -> None:
            seen.append(command)
            if command == p.CMD_PREPARE_BUFFER and seen.count(p.CMD_PREPARE_BUFFER) == 2:
                sim.add_punches(extra)  # right after the attendance snapshot

        sim.on_command = inject
        conn = client(sim).connect()
        first = conn.get_attendance()
        assert len(first) == len(punches)
        assert len(sim.punches) == len(punches) + 5
        sim.on_command = None
        second = conn.get_attendance()
        assert [att_key(a) for a in second[-5:]] == [key(x) for x in extra]
        assert second[-1].uid == users[0].uid  # uid filled in from the user list
        sim.add_punches([SimPunch(users[1].user_id, datetime(2026, 4, 2, 8, 0), 4, 0)])
        assert len(conn.get_attendance()) == len(punches) + 6
        assert sim.callback_errors == []
        conn.disconnect()


def test_clear_attendance_and_free_sizes():
    users, punches = population(50, 3000, 11)
    with ZKSimulator(users=users, punches=punches, record_capacity=100_000) as sim:
        conn = client(sim).connect()
        conn.read_sizes()
        assert (conn.users, conn.records, conn.fingers, conn.faces) == (50, 3000, 0, 0)
        assert conn.cards == sum(1 for u in users if u.card)
        assert (conn.users_cap, conn.rec_cap, conn.fingers_cap) == (10_000, 100_000, 3000)
        assert (conn.users_av, conn.rec_av) == (10_000 - 50, 100_000 - 3000)
        assert conn.clear_attendance() is True
        assert sim.clear_count == 1 and sim.punches == [] and len(sim.users) == 50
        conn.read_sizes()
        assert (conn.records, conn.rec_av) == (0, 100_000)
        assert conn.get_attendance() == []
        data, size = conn.read_with_buffer(p.CMD_ATTLOG_RRQ)
        assert (data, size) == (b"\x00\x00\x00\x00", 4)
        conn.disconnect()


def test_full_log_overwrites_the_oldest():
    users, punches = population(50, 3000, 11)
    with ZKSimulator(users=users, punches=punches[:150], record_capacity=100) as sim:
        assert sim.overwritten == 50
        conn = client(sim).connect()
        assert [att_key(a) for a in conn.get_attendance()] == [key(x) for x in punches[50:150]]
        conn.disconnect()


@pytest.mark.parametrize("udp", [False, True], ids=["tcp", "udp"])
def test_device_clock(udp):
    with ZKSimulator(udp=udp, clock_offset=timedelta(hours=-2, minutes=-3)) as sim:
        conn = client(sim).connect()
        expected = datetime.now() - timedelta(hours=2, minutes=3)
        assert abs(conn.get_time() - expected) < timedelta(seconds=2)
        assert abs(sim.device_time() - expected) < timedelta(seconds=2)
        target = datetime(2026, 5, 17, 6, 30, 0)
        assert conn.set_time(target) is True
        assert abs(conn.get_time() - target) < timedelta(seconds=2)
        now_offset = target - datetime.now()
        assert abs(sim.clock_offset - now_offset) < timedelta(seconds=2)
        conn.disconnect()


# --------------------------------------------------------------------------- faults


def pyzk_in_thread(sim: ZKSimulator, timeout: float, join: float, **kw):
    """Run connect + get_attendance in a thread; (result or exception, thread, ZK)."""
    zk = client(sim, timeout=timeout, **kw)
    box: dict = {}

    def run() -> None:
        try:
            box["result"] = zk.connect().get_attendance()
        except BaseException as exc:
            box["result"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(join)
    return box.get("result"), thread, zk


def test_drop_tcp_hangs_pyzk():
    users, punches = population(50, 3000, 11)
    with ZKSimulator(users=users, punches=punches, faults=["drop"]) as sim:
        result, thread, zk = pyzk_in_thread(sim, timeout=0.5, join=1.5)
        # pyzk 0.9 spins in __recieve_raw_data on recv() == b"": no timeout ever fires
        assert thread.is_alive() and result is None
        zk._ZK__sock.close()
        thread.join(2)
        assert not thread.is_alive()


@pytest.mark.parametrize("kind", ["drop", "reset", "stall"])
def test_break_point_on_the_wire(kind):
    users, punches = population(50, 3000, 11)
    with ZKSimulator(users=users, punches=punches, faults=[f"{kind}:0.3"]) as sim:
        raw = Raw(sim)
        raw.sock.settimeout(0.5)
        raw.connect()
        command, *_, payload = raw.call(p.CMD_PREPARE_BUFFER, struct.pack("<bhii", 1, 13, 0, 0))
        total = struct.unpack_from("<I", payload, 1)[0]
        assert (command, total) == (p.ACK_OK, 4 + 40 * 3000)
        received, outcome = 0, None
        for start in range(0, total, 8000):
            size = min(8000, total - start)
            raw.send(p.CMD_READ_BUFFER, struct.pack("<ii", start, size))
            want = 24 + 16 + size + 16  # PREPARE_DATA, CMD_DATA, ACK_OK
            try:
                while want:
                    piece = raw.sock.recv(want)
                    if not piece:
                        outcome = "eof"
                        break
                    received += len(piece)
                    want -= len(piece)
            except TimeoutError:
                outcome = "timeout"
            except ConnectionResetError:
                outcome = "reset"
            if outcome:
                break
        assert outcome == {"drop": "eof", "reset": "reset", "stall": "timeout"}[kind]
        whole, part = divmod(int(total * 0.3), 8000)
        expected = whole * (8000 + 56) + 24 + 16 + part
        if kind == "reset":  # an RST may discard what was still in flight
            assert whole * (8000 + 56) <= received <= expected
        else:
            assert received == expected
        raw.close()


def test_drop_udp_once_then_recovers():
    users, punches = population(50, 3000, 11)
    with ZKSimulator(udp=True, users=users, punches=punches, faults=["drop:0.5:1"]) as sim:
        started = time.monotonic()
        result, _, _ = pyzk_in_thread(sim, timeout=0.5, join=5)
        assert isinstance(result, TimeoutError) and str(result) == "timed out"
        assert time.monotonic() - started < 3
        conn = client(sim).connect()  # TIMES=1: the next transfer is whole
        assert [att_key(a) for a in conn.get_attendance()] == [key(x) for x in punches]
        conn.disconnect()


def test_reset_tcp_raises_connection_reset():
    users, punches = population(50, 3000, 11)
    with ZKSimulator(users=users, punches=punches, faults=["reset"]) as sim:
        result, _, _ = pyzk_in_thread(sim, timeout=2, join=5)
        assert isinstance(result, ConnectionResetError | ZKNetworkError), result


@pytest.mark.parametrize("udp", [False, True], ids=["tcp", "udp"])
def test_stall_times_out_and_stop_is_fast(udp):
    users, punches = population(50, 3000, 11)
    sim = ZKSimulator(udp=udp, users=users, punches=punches, faults=["stall"]).start()
    started = time.monotonic()
    result, _, zk = pyzk_in_thread(sim, timeout=0.5, join=5)
    assert isinstance(result, TimeoutError)
    assert 0.4 < time.monotonic() - started < 3
    t0 = time.monotonic()
    sim.stop()  # the stalled TCP connection is still open on the client side
    assert time.monotonic() - t0 < 1
    assert sim_threads() == []
    zk._ZK__sock.close()


def test_slow_delays_every_reply():
    with ZKSimulator(faults=["slow:0.15"]) as sim:
        started = time.monotonic()
        conn = client(sim).connect()
        conn.get_serialnumber()
        assert time.monotonic() - started >= 0.3
        conn.disconnect()


def test_split_frames_on_the_wire():
    users, punches = population(50, 3000, 11)
    with ZKSimulator(users=users, punches=punches, faults=["split"]) as sim:
        raw = Raw(sim)
        raw.connect()
        raw.call(p.CMD_PREPARE_BUFFER, struct.pack("<bhii", 1, 13, 0, 0))
        raw.send(p.CMD_READ_BUFFER, struct.pack("<ii", 0, 5000))
        command, _, reply_id, payload = raw.packet()
        assert (command, struct.unpack_from("<I", payload)[0]) == (p.CMD_PREPARE_DATA, 5000)
        sizes, data = [], b""
        while True:
            command, _, rid, payload = raw.packet()
            assert rid == reply_id
            if command == p.ACK_OK:
                break
            assert command == p.CMD_DATA
            sizes.append(len(payload))
            data += payload
        assert sizes == [1024, 1024, 1024, 1024, 904]
        records = [
            p.pack_attendance(
                40, uid=x.uid, user_id=x.user_id, when=x.when, status=x.status, punch=x.punch
            )
            for x in punches[:125]
        ]
        assert data == struct.pack("<I", 40 * 3000) + b"".join(records)[:4996]
        raw.close()


def test_split_unpaced_defeats_pyzk_paced_does_not():
    users, punches = population(50, 3000, 11)
    with ZKSimulator(users=users, punches=punches, faults=["split"]) as sim:
        result, _, _ = pyzk_in_thread(sim, timeout=0.5, join=5)
        assert isinstance(result, TimeoutError | TypeError), result
    with ZKSimulator(users=users, punches=punches[:1000], faults=["split-paced:0.003"]) as sim:
        conn = client(sim).connect()
        assert [att_key(a) for a in conn.get_attendance()] == [key(x) for x in punches[:1000]]
        conn.disconnect()


def test_fragmented_stream():
    users, punches = population(50, 3000, 11)
    with ZKSimulator(users=users, punches=punches, faults=["fragment"]) as sim:
        conn = client(sim).connect()
        assert [att_key(a) for a in conn.get_attendance()] == [key(x) for x in punches]
        conn.disconnect()
    # pyzk reads each reply with a single recv(): the 108-byte free-sizes reply written as
    # 50 + 50 + 8 bytes leaves it with 34 bytes of fields, so it believes there are no
    # records and returns [] (or, a step later, trips over the leftover bytes)
    with ZKSimulator(users=users, punches=punches, faults=["fragment:50"]) as sim:
        try:
            got = client(sim, timeout=1).connect().get_attendance()
        except ZKNetworkError:
            got = None
        assert got in ([], None)


@pytest.mark.parametrize("udp", [False, True], ids=["tcp", "udp"])
def test_busy(udp):
    with ZKSimulator(udp=udp, faults=["busy"]) as sim:
        first = client(sim).connect()
        with pytest.raises(ZKNetworkError) as err:
            client(sim, timeout=0.5).connect()
        if udp:
            assert str(err.value) == "timed out"
        else:
            assert str(err.value) in ("TCP packet invalid", "[Errno 104] Connection reset by peer")
        assert sim.busy_rejections >= 1
        assert first.get_serialnumber() == "SIM0001"  # the holder is unaffected
        first.disconnect()
        again = client(sim).connect()
        assert again.get_serialnumber() == "SIM0001"
        again.disconnect()


@pytest.mark.parametrize("udp", [False, True], ids=["tcp", "udp"])
def test_corrupt_once_per_connection(udp):
    users, punches = population(50, 3000, 11)
    with ZKSimulator(udp=udp, users=users, punches=punches, faults=["corrupt:1:1"]) as sim:
        with pytest.raises((ZKNetworkError, ZKErrorResponse)) as err:
            client(sim, timeout=0.5).connect().get_attendance()
        if udp:
            assert str(err.value) == f"can't read chunk {UDP_CHUNK}:[{UDP_CHUNK}]"
        else:
            assert str(err.value) == "TCP packet invalid"
        conn = client(sim).connect()
        assert [att_key(a) for a in conn.get_attendance()] == [key(x) for x in punches]
        conn.disconnect()


def test_corrupt_reply_is_garbage_of_the_same_length():
    users, punches = population(50, 3000, 11)
    with ZKSimulator(users=users, punches=punches, faults=["corrupt"]) as sim:
        raw = Raw(sim)
        raw.connect()
        raw.call(p.CMD_PREPARE_BUFFER, struct.pack("<bhii", 1, 13, 0, 0))
        raw.send(p.CMD_READ_BUFFER, struct.pack("<ii", 0, 1000))
        junk = raw.recv_exact(24 + 16 + 1000 + 16)
        assert junk[:2] == b"\xee\xee"
        raw.sock.settimeout(0.2)
        with pytest.raises(TimeoutError):
            raw.sock.recv(1)  # nothing beyond the same length
        raw.close()


# --------------------------------------------------------------------------- lifecycle


def test_stop_is_fast_with_clients_connected_and_leaves_no_threads():
    users, punches = population(50, 3000, 11)
    sims = [ZKSimulator(users=users, punches=punches, udp=bool(i % 2)).start() for i in range(4)]
    conns = [client(s).connect() for s in sims]
    for conn in conns:
        conn.get_serialnumber()
    started = time.monotonic()
    for s in sims:
        s.stop()
    assert time.monotonic() - started < 1
    assert sim_threads() == []
    with ZKSimulator(port=sims[0].port) as again:  # the port can be reused at once
        assert again.port == sims[0].port
    for conn in conns:
        conn._ZK__sock.close()


def test_users_and_punches_properties_are_copies():
    users = [SimUser(1, "7", "A")]
    sim = ZKSimulator(users=users, punches=[SimPunch("7", datetime(2026, 1, 5, 8, 0))])
    sim.users.clear()
    sim.punches.clear()
    assert len(sim.users) == 1 and sim.punches[0].uid == 1
    with pytest.raises(ValueError):
        ZKSimulator(record_size=32)


def test_serve_cli_entry_point():
    code = (
        "from punchd.drivers.zk.simulator import serve\n"
        "serve(port=0, udp=False, users=5, punches=40, seed=1, comm_key=97531,"
        " record_size=40, faults=['slow:0.01'], punch_every=0.05)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        line = proc.stdout.readline()
        match = re.search(r"tcp://127\.0\.0\.1:(\d+)", line)
        assert match, line
        assert "97531" not in line and "users=5" in line and "punches=40" in line
        port = int(match.group(1))
        zk = ZK("127.0.0.1", port=port, timeout=5, password=97531, ommit_ping=True)
        conn = zk.connect()
        conn.read_sizes()
        first = conn.records
        assert first >= 40
        time.sleep(0.3)
        conn.read_sizes()
        assert conn.records > first
        conn.disconnect()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
