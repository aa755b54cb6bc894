"""A lying ZK terminal on loopback: the ZK simulator with one attack switched on.

Each attack is what a broken or malicious terminal did to punchd in the field trial:

=================  ================================================================
``announce-huge``  the attendance bulk read announces 2**31 - 1 bytes (and would send
                   zeros for every chunk asked for)
``count-huge``     the device claims 53 million records and announces a matching size
``drip``           every chunk reply of the attendance transfer is written slowly: one
                   byte (TCP) or one datagram (UDP) every ``drip_every`` seconds
``flood``          a chunk read is answered with CMD_DATA packets that never end
``garbage``        every reply is random bytes (not a ZK packet)
``wrong-count``    the record count is multiplied by ``count_factor``, so that the
                   count implies another record size than the data has
=================  ================================================================

``extra_records`` appends raw attendance records (e.g. with impossible dates) to the
device's log, counted like real ones. Everything else is the ordinary simulator.
"""

from __future__ import annotations

import struct
import threading
import time
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from punchd.drivers.zk import protocol as p
from punchd.drivers.zk.simulator import ZKSimulator
from punchd.drivers.zk.simulator.server import _Reply

ATTACKS = ("announce-huge", "count-huge", "drip", "flood", "garbage", "wrong-count")
#: a flood or drip never outlives this (seconds) or this many bytes, and stops when the
#: client opens another session (it gave up), so a test cannot leak a busy thread
MAX_ATTACK_SECONDS = 120.0
MAX_FLOOD_BYTES = 256 << 20


def raw_time(year: int, month: int, day: int, hour: int = 8, minute: int = 0) -> int:
    """The ZK time value for a date, valid or not (31 February; years past 2099)."""
    return ((year - 2000) * 12 * 31 + (month - 1) * 31 + day - 1) * 86400 + (
        hour * 60 + minute
    ) * 60


def raw_record(record_size: int, user_id: str, uid: int, time_value: int, punch: int = 0) -> bytes:
    """One attendance record with an arbitrary time value (40- or 49-byte layout)."""
    record = p.pack_attendance(
        record_size, uid=uid, user_id=user_id, when=datetime(2020, 1, 1), status=1, punch=punch
    )
    offset = 27  # uid 2 + user id 24 + status 1
    return record[:offset] + struct.pack("<I", time_value) + record[offset + 4 :]


class HostileZK(ZKSimulator):
    def __init__(
        self,
        attack: str | None = None,
        *,
        drip_every: float = 0.3,
        count_factor: int = 2,
        extra_records: Iterable[bytes] = (),
        **kwargs: Any,
    ) -> None:
        if attack is not None and attack not in ATTACKS:
            raise ValueError(f"unknown attack {attack!r}; expected one of {', '.join(ATTACKS)}")
        super().__init__(**kwargs)
        self.attack = attack
        self.drip_every = drip_every
        self.count_factor = count_factor
        self.extra_records = list(extra_records)
        self.attack_bytes = 0  # bytes the attack pushed at the client

    # -- lies about sizes and counts ---------------------------------------------------
    def _cmd_free_sizes(self, s: Any, payload: bytes) -> Any:
        reply = super()._cmd_free_sizes(s, payload)
        fields = list(struct.unpack_from("<20i", reply.payload))
        fields[8] += len(self.extra_records)
        if self.attack == "count-huge":
            fields[8] = (1 << 31) // 40
        elif self.attack == "wrong-count":
            fields[8] *= self.count_factor
        reply.payload = struct.pack("<20i", *fields) + reply.payload[80:]
        return reply

    def _snapshot(self, command: int, fct: int = 0) -> bytes | None:
        data = super()._snapshot(command, fct)
        if command == p.CMD_ATTLOG_RRQ and data is not None and self.extra_records:
            body = data[4:] + b"".join(self.extra_records)
            data = struct.pack("<I", len(body)) + body
        return data

    def _cmd_prepare_buffer(self, s: Any, payload: bytes) -> Any:
        reply = super()._cmd_prepare_buffer(s, payload)
        command = struct.unpack_from("<bhii", payload)[1] if len(payload) >= 11 else None
        if self.attack in ("announce-huge", "count-huge") and command == p.CMD_ATTLOG_RRQ:
            size = (1 << 31) - 1 if self.attack == "announce-huge" else (1 << 31) // 40 * 40 + 4
            s.buffer, s.buffer_kind = b"", command
            return _Reply(p.ACK_OK, struct.pack("<BIII", 0, size, size, 0))
        return reply

    def _cmd_read_buffer(self, s: Any, payload: bytes) -> Any:
        if self.attack in ("announce-huge", "count-huge") and s.buffer == b"":
            _start, size = struct.unpack_from("<ii", payload)
            self.attack_bytes += size
            return _Reply(p.ACK_OK, chunk=bytes(max(size, 0)))
        return super()._cmd_read_buffer(s, payload)

    # -- garbage, drips and floods -----------------------------------------------------
    def _send(self, s: Any, reply: Any, reply_id: int) -> None:
        if self.attack == "garbage":
            junk = self._garbage(16, s.transport == "tcp")
            self._write(s, [junk], chunk=False)
            return
        super()._send(s, reply, reply_id)

    def _write(self, s: Any, wires: list[bytes], *, chunk: bool) -> None:
        if chunk and self.attack == "drip":
            self._in_background(s, self._drip, s, wires)
        elif chunk and self.attack == "flood":
            self._in_background(s, self._flood, s, wires)
        else:
            super()._write(s, wires, chunk=chunk)

    def _in_background(self, s: Any, target: Any, *args: Any) -> None:
        # UDP: the one server thread must keep answering other sessions (the client's
        # re-enable reconnects); TCP: the session thread may block, it is this client's.
        if s.transport == "udp":
            threading.Thread(target=target, args=args, daemon=True).start()
        else:
            target(*args)

    def _emit(self, s: Any, wire: bytes, session_count: int) -> bool:
        """Send one piece; False once the client is gone or has moved on to another
        session, the simulator stops, or the attack has run long enough."""
        if self.connections != session_count or self.attack_bytes > MAX_FLOOD_BYTES:
            return False
        try:
            if s.transport == "udp":
                s.sock.sendto(wire, s.addr)
            else:
                s.sock.sendall(wire)
        except OSError:
            return False
        self.attack_bytes += len(wire)
        return not self._stopping.is_set()

    def _drip(self, s: Any, wires: list[bytes]) -> None:
        ends = time.monotonic() + MAX_ATTACK_SECONDS
        sessions = self.connections
        pieces: list[bytes] = (
            list(wires)
            if s.transport == "udp"
            else [bytes([b]) for b in b"".join(wires)]  # TCP: one byte at a time
        )
        for piece in pieces:
            if time.monotonic() > ends or not self._sleep(self.drip_every):
                return
            if not self._emit(s, piece, sessions):
                return

    def _flood(self, s: Any, wires: list[bytes]) -> None:
        ends = time.monotonic() + MAX_ATTACK_SECONDS
        sessions = self.connections
        prepare, data = wires[0], wires[1]  # PREPARE_DATA, then CMD_DATA for ever
        if not self._emit(s, prepare, sessions):
            return
        while time.monotonic() < ends and self._emit(s, data, sessions):
            if s.transport == "udp":
                time.sleep(0)  # let the client's thread run


# The simulator dispatches through a class-level table of its own functions: point the
# overridden commands at this class's versions.
HostileZK._handlers = {
    **ZKSimulator._handlers,
    p.CMD_GET_FREE_SIZES: HostileZK._cmd_free_sizes,
    p.CMD_PREPARE_BUFFER: HostileZK._cmd_prepare_buffer,
    p.CMD_READ_BUFFER: HostileZK._cmd_read_buffer,
}
