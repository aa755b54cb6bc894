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
  refused on purpose: punchd only ever clears attendance, with CMD_CLEAR_ATTLOG.
"""

from __future__ import annotations

import contextlib
import socket
import struct
from collections.abc import Callable
from typing import Any

from zk import ZK
from zk.exception import ZKErrorConnection, ZKErrorResponse, ZKNetworkError

from . import protocol as p


class CorruptReply(ZKErrorResponse):
    """A frame that is not a ZK frame (bad magic, bad length, unexpected command)."""


class _NoProbe:
    """Replaces pyzk's helper: no ping subprocess, no extra TCP connection."""

    def test_ping(self) -> bool:
        return True

    def test_tcp(self) -> int:
        return 0


class PunchdZK(ZK):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ommit_ping"] = True
        super().__init__(*args, **kwargs)
        self.helper = _NoProbe()
        if self.force_udp:
            # pyzk picks the 72-byte user layout only after its TCP probe; the record
            # size is derived from the data anyway (see read_users).
            self.user_packet_size = 28
        self.on_chunk: Callable[[int, int], None] | None = None
        self.tcp_connected = False  # the TCP handshake succeeded (someone is there)
        self._transfer_total = 0

    # -- socket -------------------------------------------------------------------------
    def _ZK__create_socket(self) -> None:  # overrides pyzk's private method
        address = self._ZK__address
        timeout = self._ZK__timeout
        if self.tcp:
            sock = socket.create_connection(address, timeout=timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.tcp_connected = True
        else:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.settimeout(timeout)
        self._ZK__sock = sock

    def close_socket(self) -> None:
        sock = getattr(self, "_ZK__sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()
        self.is_connect = False

    # -- chunked reads ------------------------------------------------------------------
    def _ZK__read_chunk(self, start: int, size: int) -> bytes:  # overrides pyzk's private
        if start == 0:
            # Still the 1503 reply: ACK_OK with the announced total at bytes 1..5.
            announced = self._ZK__data
            if len(announced) >= 5:
                self._transfer_total = struct.unpack_from("<I", announced, 1)[0]
        if self.tcp:
            data = self._read_chunk_tcp(start, size)
        else:
            data = ZK._ZK__read_chunk(self, start, size)
        if self.on_chunk is not None:
            self.on_chunk(start + len(data), self._transfer_total)
        return data

    def _recv_exact(self, size: int) -> bytes:
        sock = self._ZK__sock
        buf = bytearray()
        while len(buf) < size:
            part = sock.recv(size - len(buf))
            if not part:
                raise ZKNetworkError("connection closed by the device")
            buf += part
        return bytes(buf)

    def _recv_frame(self) -> tuple[int, bytes]:
        """One whole TCP frame → (command, payload); the reply id is adopted like pyzk."""
        frame = self._recv_frame_raw()
        command, _checksum, _session, reply_id = p.HEADER.unpack_from(frame)
        self._ZK__reply_id = reply_id
        return command, frame[p.HEADER.size :]

    def _recv_frame_raw(self) -> bytes:
        magic1, magic2, length = p.TCP_PREFIX.unpack(self._recv_exact(p.TCP_PREFIX.size))
        if (magic1, magic2) != p.TCP_MAGIC or not 8 <= length <= 0x100000:
            raise CorruptReply("corrupt reply from the device (bad frame header)")
        return self._recv_exact(length)

    def _ZK__send_command(
        self, command: int, command_string: bytes = b"", response_size: int = 8
    ) -> dict[str, Any]:  # overrides pyzk's private method
        """Over TCP, read the reply as one whole frame, however it was segmented.

        pyzk reads a reply with a single ``recv``: a reply that arrives in pieces is
        taken for an empty one (free sizes then say 0 records) or as invalid.
        """
        if not self.tcp:
            return ZK._ZK__send_command(self, command, command_string, response_size)
        if command not in (p.CMD_CONNECT, p.CMD_AUTH) and not self.is_connect:
            raise ZKErrorConnection("instance are not connected.")
        request = self._ZK__create_header(
            command, command_string, self._ZK__session_id, self._ZK__reply_id
        )
        try:
            self._ZK__sock.sendall(self._ZK__create_tcp_top(request))
            frame = self._recv_frame_raw()
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

    def _read_chunk_tcp(self, start: int, size: int) -> bytes:
        request = self._ZK__create_header(
            p.CMD_READ_BUFFER,
            struct.pack("<ii", start, size),
            self._ZK__session_id,
            self._ZK__reply_id,
        )
        try:
            self._ZK__sock.sendall(self._ZK__create_tcp_top(request))
            command, payload = self._recv_frame()
            if command == p.CMD_DATA:
                return payload
            if command != p.CMD_PREPARE_DATA or len(payload) < 4:
                raise CorruptReply(f"unexpected reply {command} to a chunk read")
            expected = struct.unpack_from("<I", payload)[0]
            parts: list[bytes] = []
            received = 0
            while True:
                command, payload = self._recv_frame()
                if command == p.CMD_DATA:
                    parts.append(payload)
                    received += len(payload)
                elif command == p.ACK_OK:
                    break
                else:
                    raise CorruptReply(f"unexpected reply {command} inside a chunk")
        except (OSError, struct.error) as exc:
            raise ZKNetworkError(str(exc)) from exc
        if received != expected or received != size:
            raise CorruptReply(f"chunk at {start}: got {received} bytes, expected {size}")
        return b"".join(parts)

    # -- records ------------------------------------------------------------------------
    def _buffer(self, command: int, fct: int = 0) -> bytes:
        """A bulk read's records, without the 4-byte total prefix; checked for length."""
        self._transfer_total = 0
        data, _size = self.read_with_buffer(command, fct)
        if len(data) < 4:
            return b""
        total = struct.unpack_from("<I", data)[0]
        body = memoryview(data)[4 : 4 + total]
        if len(body) < total:
            raise CorruptReply(f"short transfer: {len(body)} of {total} bytes")
        return bytes(body)

    def read_users(self) -> list[tuple[int, str, str, int | None, int]]:
        """(uid, user_id, name, card, privilege) for every enrolled user."""
        self.read_sizes()
        if self.users == 0:
            return []
        body = self._buffer(p.CMD_USERTEMP_RRQ, p.FCT_USER)
        size = len(body) // self.users if self.users else 0
        if size not in (28, 72):
            size = 72 if len(body) % 72 == 0 else 28
        enc = self.encoding
        out = []
        if size == 28:
            for uid, priv, _pw, name, card, _grp, _tz, user_id in p.USER_28.iter_unpack(
                body[: len(body) - len(body) % 28]
            ):
                out.append((uid, str(user_id), p.text_field(name, enc), card or None, priv))
        else:
            for uid, priv, _pw, name, card, _grp, user_id in p.USER_72.iter_unpack(
                body[: len(body) - len(body) % 72]
            ):
                out.append(
                    (uid, p.text_field(user_id, enc), p.text_field(name, enc), card or None, priv)
                )
        return out

    def read_attendance(self) -> tuple[list[p.AttRow], int]:
        """Raw attendance rows and the record size they were parsed with."""
        self.read_sizes()
        if self.records == 0:
            return [], 0
        body = self._buffer(p.CMD_ATTLOG_RRQ)
        record_size = infer_record_size(len(body), self.records)
        return list(p.iter_attendance(body, record_size)), record_size

    def clear_data(self) -> bool:
        raise ZKErrorResponse("punchd never wipes users and fingerprints (CMD_CLEAR_DATA)")


def infer_record_size(total: int, records: int) -> int:
    """The attendance record size, from the buffer length and the announced count.

    The count comes from an earlier command, so a punch made in between can make it
    off by a few: take the known size whose record count is closest.
    """
    candidates = [s for s in p.ATT_SIZES if total % s == 0]
    if not candidates:
        raise CorruptReply(f"attendance buffer of {total} bytes fits no known record size")
    return min(candidates, key=lambda s: (abs(total // s - records), -s))
