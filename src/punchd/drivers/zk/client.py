"""pyzk 0.9 with the parts punchd cannot use as released replaced.

pyzk stays in charge of the session (connect, comm-key auth, options, time, enable /
disable). Replaced here, each for a reason found in pyzk 0.9:

* no ``ping`` subprocess and no extra probing TCP connection before connecting;
* a real ``connect()`` on the TCP socket so "refused" / "no route" surface as such
  (pyzk uses ``connect_ex`` and ignores its result);
* over TCP every reply, and every 1504 chunk, is read as whole frames by their length
  prefix: a reply split into many small segments, paced or not, is reassembled (pyzk
  reads one ``recv`` and takes a partial reply for an empty or invalid one), a closed
  connection ends the read (pyzk spins forever), and a corrupt frame is detected;
* users and attendance are parsed in one linear pass (pyzk re-slices the buffer for
  every record, which is quadratic) and the 49-byte attendance format is understood;
* ``clear_data`` (which wipes users and fingerprints too, and is broken on Python 3) is
  refused on purpose: punchd only ever clears attendance, with CMD_CLEAR_ATTLOG;
* nothing the device says is trusted for sizes or time: every socket read waits at most
  the per-read timeout *and* what is left of the run's deadline; a bulk read announcing
  more than its record count makes plausible (or more than the configured ceiling) is
  refused before a byte is read, and no chunk may carry more than was asked for (pyzk
  ``recv``s whatever size the device announces and reads UDP chunk data until the device
  says stop, so a lying or flooding device took gigabytes and never ended);
* a reply that is not a ZK packet (too short, unknown reply code, bad TCP prefix) is
  reported as a garbage reply, over UDP too (pyzk calls that a network error, which read
  like "busy").
"""

from __future__ import annotations

import contextlib
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

from zk import ZK
from zk.exception import ZKError, ZKErrorConnection, ZKErrorResponse, ZKNetworkError

from punchd.drivers.zk import protocol as p

#: Reply codes a terminal sends; anything else is not a ZK reply.
REPLY_CODES = frozenset(
    {
        p.ACK_OK,
        p.ACK_ERROR,
        p.ACK_DATA,
        2003,  # ACK_RETRY
        2004,  # ACK_REPEAT
        p.ACK_UNAUTH,
        p.ACK_UNKNOWN,
        0xFFFD,  # ACK_ERROR_CMD
        0xFFFC,  # ACK_ERROR_INIT
        0xFFFB,  # ACK_ERROR_DATA
        p.CMD_PREPARE_DATA,
        p.CMD_DATA,
    }
)
#: Largest TCP frame accepted (a 0xFFC0-byte chunk or an inline answer fits easily).
MAX_FRAME = 0x100000
#: Records a count may be short by (punches made between the count and the read, on
#: firmware that ignores "disable device"); part of the plausible-size slack.
SLACK_RECORDS = 1000
#: Bulk-read chunk sizes, as pyzk and the vendor SDK request them.
TCP_CHUNK = 0xFFC0
UDP_CHUNK = 16 * 1024
#: Records sampled when checking that the data reads as the record size the count implies.
LAYOUT_SAMPLE = 2048


class CorruptReply(ZKError):
    """A reply that is not a ZK reply (garbage, bad length, unexpected command)."""


class TooLarge(ZKError):
    """The device announced more data than is plausible or allowed."""


class DeadlinePassed(ZKError):
    """The run's deadline passed while waiting for the device."""


class _NoProbe:
    """Replaces pyzk's helper: no ping subprocess, no extra TCP connection."""

    def test_ping(self) -> bool:
        return True

    def test_tcp(self) -> int:
        return 0


def plausible_bytes(count: int, record_size: int, ceiling: int) -> int:
    """Most bytes (size prefix included) a bulk read of ``count`` records may announce."""
    return min(ceiling, 4 + (max(count, 0) + SLACK_RECORDS) * record_size)


class PunchdZK(ZK):
    def __init__(self, *args: Any, max_transfer_bytes: int = 1 << 25, **kwargs: Any) -> None:
        kwargs["ommit_ping"] = True
        super().__init__(*args, **kwargs)
        self.helper = _NoProbe()
        if self.force_udp:
            # pyzk picks the 72-byte user layout only after its TCP probe; the record
            # size is derived from the data anyway (see read_users).
            self.user_packet_size = 28
        self.on_chunk: Callable[[int, int], None] | None = None
        self.tcp_connected = False  # the TCP handshake succeeded (someone is there)
        #: ``time.monotonic()`` by which every wait for the device ends (None: no deadline)
        self.deadline: float | None = None
        self.max_transfer_bytes = max_transfer_bytes
        #: user id → (password, group) from the last read_users
        self.user_kept: dict[str, tuple[str, str]] = {}
        #: ``user_packet_size`` was measured on the device's users or read from its options
        self.user_layout_known = False

    # -- socket -------------------------------------------------------------------------
    def _wait_for(self) -> float:
        """Seconds the next socket wait may take: the per-read timeout, or less when the
        run's deadline is nearer. DeadlinePassed when it has passed."""
        timeout = float(self._ZK__timeout)
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise DeadlinePassed("the run's deadline passed")
            timeout = min(timeout, left)
        return timeout

    def _waited_out(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline - 0.01

    def _ZK__create_socket(self) -> None:  # overrides pyzk's private method
        address = self._ZK__address
        timeout = self._wait_for()
        if self.tcp:
            try:
                sock = socket.create_connection(address, timeout=timeout)
            except TimeoutError:
                if self._waited_out():
                    raise DeadlinePassed("the run's deadline passed") from None
                raise
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.tcp_connected = True
        else:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.settimeout(timeout)
            # Connected: datagrams from anyone else are dropped by the kernel, and an ICMP
            # "port unreachable" surfaces as ConnectionRefusedError.
            sock.connect(address)
        self._ZK__sock = sock

    def close_socket(self) -> None:
        sock = getattr(self, "_ZK__sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()
        self.is_connect = False

    def _recv(self, size: int) -> bytes:
        """One ``recv`` (TCP) within the per-read timeout and the run's deadline."""
        sock = self._ZK__sock
        sock.settimeout(self._wait_for())
        try:
            return sock.recv(size)
        except TimeoutError:
            if self._waited_out():
                raise DeadlinePassed("the run's deadline passed") from None
            raise

    def _recv_exact(self, size: int) -> bytes:
        buf = bytearray()
        while len(buf) < size:
            part = self._recv(min(size - len(buf), 1 << 16))
            if not part:
                raise ZKNetworkError("connection closed by the device")
            buf += part
        return bytes(buf)

    def _recv_datagram(self) -> bytes:
        """The next UDP datagram (the socket is connected: only the device's count)."""
        sock = self._ZK__sock
        sock.settimeout(self._wait_for())
        try:
            return sock.recv(65536)
        except TimeoutError:
            if self._waited_out():
                raise DeadlinePassed("the run's deadline passed") from None
            raise

    def _recv_packet(self) -> bytes:
        """One whole reply packet (TCP frame without its prefix, or UDP datagram), checked
        to be a ZK reply."""
        if self.tcp:
            magic1, magic2, length = p.TCP_PREFIX.unpack(self._recv_exact(p.TCP_PREFIX.size))
            if (magic1, magic2) != p.TCP_MAGIC or not 8 <= length <= MAX_FRAME:
                raise CorruptReply("garbage reply from the device (bad frame header)")
            packet = self._recv_exact(length)
        else:
            packet = self._recv_datagram()
            if len(packet) < p.HEADER.size:
                raise CorruptReply(
                    f"garbage reply from the device ({len(packet)} bytes: not a ZK packet)"
                )
        command = p.HEADER.unpack_from(packet)[0]
        if command not in REPLY_CODES:
            raise CorruptReply(f"garbage reply from the device (unknown reply code {command})")
        return packet

    def _recv_frame(self) -> tuple[int, bytes]:
        """One reply → (command, payload); the reply id is adopted like pyzk."""
        frame = self._recv_packet()
        command, _checksum, _session, reply_id = p.HEADER.unpack_from(frame)
        self._ZK__reply_id = reply_id
        return command, frame[p.HEADER.size :]

    def _send_packet(self, command: int, payload: bytes = b"") -> None:
        request = self._ZK__create_header(
            command, payload, self._ZK__session_id, self._ZK__reply_id
        )
        if self.tcp:
            self._ZK__sock.settimeout(self._wait_for())
            self._ZK__sock.sendall(self._ZK__create_tcp_top(request))
        else:
            self._ZK__sock.send(request)

    def _ZK__send_command(
        self, command: int, command_string: bytes = b"", response_size: int = 8
    ) -> dict[str, Any]:  # overrides pyzk's private method
        """Send a command and read its whole reply, however it was segmented, within the
        per-read timeout and the run's deadline.

        pyzk reads a reply with a single ``recv``: a reply that arrives in pieces is
        taken for an empty one (free sizes then say 0 records) or as invalid.
        """
        if command not in (p.CMD_CONNECT, p.CMD_AUTH) and not self.is_connect:
            raise ZKErrorConnection("instance are not connected.")
        try:
            self._send_packet(command, command_string)
            frame = self._recv_packet()
        except OSError as exc:
            raise ZKNetworkError(str(exc)) from exc
        header = p.HEADER.unpack_from(frame)
        # The state pyzk's other methods read after a command.
        self._ZK__tcp_length = len(frame)
        self._ZK__tcp_data_recv = p.TCP_PREFIX.pack(*p.TCP_MAGIC, len(frame)) + frame
        self._ZK__header = header
        self._ZK__data_recv = frame
        self._ZK__response = header[0]
        self._ZK__reply_id = header[3]
        self._ZK__data = frame[p.HEADER.size :]
        ok = header[0] in (p.ACK_OK, p.CMD_PREPARE_DATA, p.CMD_DATA)
        return {"status": ok, "code": header[0]}

    def _ZK__recieve_raw_data(self, size: int) -> bytes:  # pyzk's spelling
        # pyzk loops forever (100 % CPU) when the device closes here; end it instead.
        return self._recv_exact(size)

    # -- bulk reads ---------------------------------------------------------------------
    def read_with_buffer(self, command: int, fct: int = 0, ext: int = 0) -> tuple[bytes, int]:
        data = self.read_buffer(command, fct, self.max_transfer_bytes)
        return bytes(data), len(data)

    def read_buffer(self, command: int, fct: int, limit: int) -> bytearray:
        """A bulk read (1503 / 1504… / 1502): the records with their 4-byte size prefix.

        ``limit``: most bytes accepted; an announcement beyond it is refused before any
        data is read (TooLarge).
        """
        reply = self._ZK__send_command(
            p.CMD_PREPARE_BUFFER, struct.pack("<bhii", 1, command, fct, 0), 1024
        )
        if not reply["status"]:
            raise ZKErrorResponse("RWB Not supported")
        data = self._ZK__data
        if reply["code"] == p.CMD_DATA:  # small sets come inline
            if len(data) > limit:
                raise TooLarge(f"the device sent {len(data)} bytes, at most {limit} expected")
            return bytearray(data)
        if reply["code"] != p.ACK_OK or len(data) < 5:
            raise CorruptReply(f"unexpected reply {reply['code']} to a bulk read")
        size = struct.unpack_from("<I", data, 1)[0]
        if size > limit:
            raise TooLarge(f"the device announced {size} bytes, at most {limit} expected")
        step = TCP_CHUNK if self.tcp else UDP_CHUNK
        buf = bytearray()
        while len(buf) < size:
            start = len(buf)
            want = min(step, size - start)
            try:
                buf += self._read_chunk(start, want)
            except (OSError, struct.error) as exc:
                raise ZKNetworkError(str(exc)) from exc
            if self.on_chunk is not None:
                self.on_chunk(len(buf), size)
        self.free_data()
        return buf

    def _read_chunk(self, start: int, size: int) -> bytes:
        self._send_packet(p.CMD_READ_BUFFER, struct.pack("<ii", start, size))
        command, payload = self._recv_frame()
        if command == p.CMD_DATA:
            if len(payload) != size:
                raise CorruptReply(f"chunk at {start}: got {len(payload)} bytes, expected {size}")
            return payload
        return self._chunk_parts(start, size, command, payload)

    def _chunk_parts(self, start: int, size: int, command: int, payload: bytes) -> bytes:
        """PREPARE_DATA, then CMD_DATA parts, then ACK_OK: never more than ``size`` bytes."""
        if command != p.CMD_PREPARE_DATA or len(payload) < 4:
            raise CorruptReply(f"unexpected reply {command} to a chunk read")
        expected = struct.unpack_from("<I", payload)[0]
        if expected != size:
            raise CorruptReply(f"chunk at {start}: announced {expected} bytes, asked for {size}")
        buf = bytearray()
        while True:
            command, payload = self._recv_frame()
            if command == p.CMD_DATA:
                buf += payload
                if len(buf) > size:
                    raise CorruptReply(f"chunk at {start}: more than the {size} bytes asked for")
            elif command == p.ACK_OK:
                break
            else:
                raise CorruptReply(f"unexpected reply {command} inside a chunk")
        if len(buf) != size:
            raise CorruptReply(f"chunk at {start}: got {len(buf)} bytes, expected {size}")
        return bytes(buf)

    # -- records ------------------------------------------------------------------------
    def _counts(self) -> tuple[int, int]:
        """(users, records) as the device reports them now, checked for sense."""
        self.read_sizes()
        users, records = int(self.users), int(self.records)
        if users < 0 or records < 0:
            raise CorruptReply(f"the device reports {users} users and {records} records")
        return users, records

    def _buffer(self, command: int, fct: int, limit: int) -> memoryview:
        """A bulk read's records, without the 4-byte total prefix; checked for length."""
        data = self.read_buffer(command, fct, limit)
        if len(data) < 4:
            return memoryview(b"")
        total = struct.unpack_from("<I", data)[0]
        body = memoryview(data)[4 : 4 + total]
        if len(body) < total:
            raise CorruptReply(f"short transfer: {len(body)} of {total} bytes")
        return body

    def read_users(self) -> list[tuple[int, str, str, int | None, int]]:
        """(uid, user_id, name, card, privilege) for every enrolled user."""
        users, _records = self._counts()
        if users == 0:
            self.user_kept = {}
            return []
        limit = plausible_bytes(users, max(p.USER_SIZES), self.max_transfer_bytes)
        body = self._buffer(p.CMD_USERTEMP_RRQ, p.FCT_USER, limit)
        size = len(body) // users
        if size not in (28, 72):
            size = 72 if len(body) % 72 == 0 else 28
        self.user_packet_size = size  # the layout a user write must use on this device
        self.user_layout_known = True
        enc = self.encoding
        out = []
        # what a user write must carry over unchanged: password and group, by user id
        kept: dict[str, tuple[str, str]] = {}
        if size == 28:
            for uid, priv, pw, name, card, grp, _tz, user_id in p.USER_28.iter_unpack(
                body[: len(body) - len(body) % 28]
            ):
                out.append((uid, str(user_id), p.text_field(name, enc), card or None, priv))
                kept[str(user_id)] = (p.text_field(pw, enc), str(grp))
        else:
            for uid, priv, pw, name, card, grp, user_id in p.USER_72.iter_unpack(
                body[: len(body) - len(body) % 72]
            ):
                text_id = p.text_field(user_id, enc)
                out.append((uid, text_id, p.text_field(name, enc), card or None, priv))
                kept[text_id] = (p.text_field(pw, enc), p.text_field(grp, enc))
        self.user_kept = kept
        return out

    def change(self, command: int, payload: bytes) -> int:
        """Send a command that changes the device (user write / delete); its reply code.
        The caller decides what an ACK_ERROR or ACK_UNKNOWN means."""
        return int(self._ZK__send_command(command, payload)["code"])

    def read_option(self, key: str) -> str | None:
        """An option's value (CMD_OPTIONS_RRQ ``key``), None when the firmware has none."""
        reply = self._ZK__send_command(p.CMD_OPTIONS_RRQ, key.encode("ascii") + b"\x00", 1024)
        if not reply["status"]:
            return None
        value = self._ZK__data.split(b"=", 1)[-1].split(b"\x00")[0]
        return value.decode("ascii", errors="replace").strip()

    def learn_user_layout(self) -> None:
        """For a clock without users (nothing to measure a record on): its ``~UserExtFmt``
        option says 72-byte (1) or 28-byte (0) records; without it pyzk's guess stays (72
        over TCP, 28 over UDP)."""
        value = self.read_option("~UserExtFmt")
        if value in ("0", "1"):
            self.user_packet_size = 72 if value == "1" else 28
        self.user_layout_known = True

    def read_templates(self) -> list[tuple[int, int, int, bytes]]:
        """(uid, finger, valid, template) of every fingerprint template on the device
        (CMD_DB_RRQ, FCT_FINGERTMP: pyzk ``get_templates``)."""
        self.read_sizes()
        fingers = int(getattr(self, "fingers", 0) or 0)
        if fingers <= 0:
            return []
        limit = plausible_bytes(
            fingers, p.TEMPLATE_HEAD.size + p.TEMPLATE_MAX, self.max_transfer_bytes
        )
        body = self._buffer(p.CMD_DB_RRQ, p.FCT_FINGERTMP, limit)
        try:
            return list(p.iter_templates(body))
        except ValueError as exc:
            raise CorruptReply(str(exc)) from None

    def free_fingers(self) -> tuple[int, int]:
        """(templates stored, template capacity) as the device reports them now."""
        self.read_sizes()
        return int(getattr(self, "fingers", 0) or 0), int(getattr(self, "fingers_cap", 0) or 0)

    def upload(self, data: bytes) -> int:
        """Hand ``data`` to the device for the next command (CMD_PREPARE_DATA with its size,
        then CMD_DATA packets of :data:`~punchd.drivers.zk.protocol.UPLOAD_CHUNK` bytes,
        each acknowledged): ACK_OK, or the reply code of the step the device refused."""
        code = self.change(p.CMD_FREE_DATA, b"")
        if code != p.ACK_OK:
            return code
        code = self.change(p.CMD_PREPARE_DATA, struct.pack("<I", len(data)))
        if code != p.ACK_OK:
            return code
        for start in range(0, len(data), p.UPLOAD_CHUNK):
            code = self.change(p.CMD_DATA, data[start : start + p.UPLOAD_CHUNK])
            if code != p.ACK_OK:
                return code
        return p.ACK_OK

    def free_users(self) -> tuple[int, int]:
        """(users enrolled, user capacity) as the device reports them now."""
        self.read_sizes()
        return int(self.users), int(getattr(self, "users_cap", 0) or 0)

    def read_attendance_buffer(self) -> tuple[memoryview, int]:
        """The attendance transfer's records (no size prefix) and their record size, checked
        (size and layout) but not parsed: :func:`punchd.drivers.zk.protocol.iter_attendance`
        parses them. (0 records: an empty view and size 0.)"""
        _users, records = self._counts()
        if records == 0:
            return memoryview(b""), 0
        limit = plausible_bytes(records, max(p.ATT_SIZES), self.max_transfer_bytes)
        body = self._buffer(p.CMD_ATTLOG_RRQ, 0, limit)
        record_size = infer_record_size(len(body), records)
        check_layout(body, record_size)
        return body, record_size

    def clear_data(self) -> bool:
        raise ZKErrorResponse("punchd never wipes users and fingerprints (CMD_CLEAR_DATA)")


def infer_record_size(total: int, records: int) -> int:
    """The attendance record size, from the buffer length and the announced count.

    The count is read just before the data; on firmware that ignores "disable device" a
    punch made in between can make it off by a few: take the known size whose record
    count is closest, within that tolerance. A count that fits no size is refused: the
    device's count and its data disagree, and guessing would store garbage.
    """
    tolerance = max(2, records // 1000)
    candidates = [
        s for s in p.ATT_SIZES if total % s == 0 and abs(total // s - records) <= tolerance
    ]
    if not candidates:
        raise CorruptReply(
            f"attendance buffer of {total} bytes fits no known record size for the "
            f"{records} records the device reports (count and data disagree)"
        )
    return min(candidates, key=lambda s: (abs(total // s - records), -s))


def layout_share(body: bytes | memoryview, record_size: int, sample: int = LAYOUT_SAMPLE) -> float:
    """Share of the first ``sample`` records that read as real punches in this layout:
    a known punch state and a date between 2001 and 2099."""
    view = memoryview(body)[: sample * record_size]
    good = seen = 0
    low, high = p.encode_time(p.EARLIEST_TIME), p.encode_time(p.LATEST_TIME)
    for _user, _uid, t, _status, punch, _wc in p.iter_attendance(view, record_size):
        seen += 1
        if (punch <= 15 or punch == 255) and low <= t <= high:
            try:
                p.decode_time(t)
            except ValueError:
                continue
            good += 1
    return good / seen if seen else 0.0


def check_layout(body: bytes | memoryview, record_size: int) -> None:
    """Refuse data that reads far better in another layout than the one the count implies
    (a wrong record count would otherwise store every record as garbage)."""
    if len(body) < record_size * 4:
        return  # too few records to tell
    share = layout_share(body, record_size)
    for other in p.ATT_SIZES:
        if other == record_size or len(body) % other:
            continue
        if layout_share(body, other) - share >= 0.5:
            raise CorruptReply(
                f"the record count says {record_size}-byte attendance records, but the data "
                f"reads as {other}-byte records (count and data disagree)"
            )
