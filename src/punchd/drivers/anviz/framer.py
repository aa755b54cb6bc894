"""Anviz TC_B frames: encoding, CRC and a stream decoder. Pure functions, no I/O.

Request:  ``A5 | CH (4, BE device id) | CMD | LEN (2, BE) | DATA | CRC16``
Response: ``A5 | CH | ACK (= CMD + 0x80) | RET | LEN | DATA | CRC16``

The CRC is CRC-16/MCRF4XX (reflected 0x1021, init 0xFFFF, no final XOR) over every byte from
``A5`` through DATA, sent low byte first. It comes from crcmod (C extension), not from a table
typed in here.

``Decoder`` takes bytes as they arrive (partial frames, garbage, frames for other device ids
on a shared bus) and returns whole frames whose CRC is right. After garbage it resynchronises
on the next ``A5``. A false ``A5`` inside garbage can look like the header of a long frame;
rather than wait for bytes that will never come, the decoder looks past such an incomplete
candidate for a complete frame with a correct CRC further on, so a real answer is never held
back by the garbage in front of it.
"""

from __future__ import annotations

from dataclasses import dataclass

import crcmod

STX = 0xA5
REQUEST_HEADER = 8  # A5, CH(4), CMD, LEN(2)
RESPONSE_HEADER = 9  # A5, CH(4), ACK, RET, LEN(2)
CRC_SIZE = 2
#: The largest DATA accepted. The specs say 400 (V2.1) / 600 (V2.15); some models send more.
MAX_DATA = 2048
MAX_DEVICE_ID = 0xFFFFFFFF
#: RET values above this are taken for garbage (the specs define 0x00..0x0B).
MAX_RET = 0x1F

# Commands
CMD_GET_INFO1 = 0x30
CMD_GET_TIME = 0x38
CMD_SET_TIME = 0x39
CMD_RECORD_INFO = 0x3C
CMD_DOWNLOAD = 0x40
CMD_CLEAR = 0x4E
CMD_SERIAL_NUMBER = 0x24
CMD_GET_DEVICE_ID = 0x46
CMD_DEVICE_TYPE = 0x48
CMD_REALTIME_RECORD = 0x5F
# people on the clock (specs V2.1 / V2.15 commands 22, 39, 44, 45; see codec.Staff)
CMD_DELETE_USER = 0x4C
CMD_GET_TEMPLATE = 0x44
CMD_PUT_TEMPLATE = 0x45
CMD_CAPACITY = 0x5D
CMD_DOWNLOAD_STAFF = 0x72
CMD_UPLOAD_STAFF = 0x73

# 0x40 parameters
DOWNLOAD_ALL = 1
DOWNLOAD_NEW = 2
DOWNLOAD_NEXT = 0
DOWNLOAD_RESEND = 0x10
MAX_RECORDS_PER_PACKET = 25

# 0x4E types
CLEAR_DELETE_ALL = 0  # never sent by punchd
CLEAR_ALL_FLAGS = 1
CLEAR_FLAGS = 2

# RET
RET_SUCCESS = 0x00
RET_FAIL = 0x01
RET_FULL = 0x04
RET_EMPTY = 0x05
RET_NO_USER = 0x06
RET_TIMEOUT = 0x08
RET_USER_EXISTS = 0x0A
RET_FP_EXISTS = 0x0B
RET_NAMES = {
    RET_SUCCESS: "success",
    RET_FAIL: "fail",
    RET_FULL: "full",
    RET_EMPTY: "empty",
    RET_NO_USER: "no user",
    RET_TIMEOUT: "timeout",
    RET_USER_EXISTS: "user exists",
    RET_FP_EXISTS: "fingerprint exists",
}

crc16 = crcmod.mkCrcFun(0x11021, initCrc=0xFFFF, rev=True, xorOut=0)


def ret_name(ret: int) -> str:
    return f"{RET_NAMES.get(ret, 'unknown')} (0x{ret:02X})"


@dataclass(frozen=True, slots=True)
class Frame:
    """A decoded frame. ``code`` is CMD for a request, ACK (CMD | 0x80) for a response;
    ``ret`` is None for a request."""

    device_id: int
    code: int
    data: bytes
    ret: int | None = None

    @property
    def command(self) -> int:
        return self.code & 0x7F

    @property
    def is_response(self) -> bool:
        return self.ret is not None

    def encode(self) -> bytes:
        """The frame's bytes on the wire."""
        if self.ret is None:
            return encode_request(self.device_id, self.code, self.data)
        return encode_response(self.device_id, self.code & 0x7F, self.ret, self.data)


def _with_crc(body: bytes) -> bytes:
    return body + crc16(body).to_bytes(2, "little")


def _check_id(device_id: int) -> None:
    if not 0 <= device_id <= MAX_DEVICE_ID:
        raise ValueError(f"device id {device_id} out of range 0..{MAX_DEVICE_ID}")


def encode_request(device_id: int, command: int, data: bytes = b"") -> bytes:
    _check_id(device_id)
    if not 0 <= command < 0x80:
        raise ValueError(f"command 0x{command:X} out of range")
    if len(data) > 0xFFFF:
        raise ValueError("data longer than 65535 bytes")
    head = bytes((STX,)) + device_id.to_bytes(4, "big") + bytes((command,))
    return _with_crc(head + len(data).to_bytes(2, "big") + data)


def encode_response(device_id: int, command: int, ret: int, data: bytes = b"") -> bytes:
    """A device's answer to ``command`` (ACK = command | 0x80)."""
    _check_id(device_id)
    if not 0 <= command < 0x80 or not 0 <= ret <= 0xFF:
        raise ValueError("command or RET out of range")
    if len(data) > 0xFFFF:
        raise ValueError("data longer than 65535 bytes")
    head = bytes((STX,)) + device_id.to_bytes(4, "big") + bytes((command | 0x80, ret))
    return _with_crc(head + len(data).to_bytes(2, "big") + data)


_INCOMPLETE = object()


class Decoder:
    """Whole frames out of a byte stream.

    ``responses=True`` decodes device answers (what a collector reads); ``False`` decodes
    requests (what a device, i.e. the simulator, reads). A header is plausible when its code
    has the right high bit (requests < 0x80, answers >= 0x80: a collector's own request echoed
    by an RS-485 adapter is never taken for an answer), RET is small and LEN <= ``max_data``.

    Counters: ``crc_errors`` (plausible, complete frames whose CRC was wrong), ``skipped``
    (bytes thrown away as garbage). ``rejected`` holds ``(device_id, code)`` of the frames
    refused for their CRC since the last ``take_rejected()``, so a client can ask again at
    once instead of waiting for its timeout.
    """

    __slots__ = ("_buf", "crc_errors", "header", "max_data", "rejected", "responses", "skipped")

    def __init__(self, *, responses: bool = True, max_data: int = MAX_DATA) -> None:
        self.responses = responses
        self.header = RESPONSE_HEADER if responses else REQUEST_HEADER
        self.max_data = max_data
        self._buf = bytearray()
        self.crc_errors = 0
        self.skipped = 0
        self.rejected: list[tuple[int, int]] = []

    def __len__(self) -> int:
        """Bytes held, waiting for the rest of a frame."""
        return len(self._buf)

    def reset(self) -> None:
        self.skipped += len(self._buf)
        self._buf.clear()
        self.rejected.clear()

    def take_rejected(self) -> list[tuple[int, int]]:
        out, self.rejected = self.rejected, []
        return out

    def feed(self, data: bytes) -> list[Frame]:
        if data:
            self._buf += data
        buf = self._buf
        out: list[Frame] = []
        framed = 0  # bytes of the frames returned
        pos = 0
        while True:
            i = buf.find(STX, pos)
            if i < 0:
                pos = len(buf)
                break
            found = self._try(buf, i)
            if found is None:  # not a frame here: resynchronise on the next A5
                pos = i + 1
                continue
            if found is _INCOMPLETE:
                later = self._complete_after(buf, i + 1)
                if later is None:
                    pos = i  # keep from here and wait for more bytes
                    break
                pos = later  # the candidate at i was garbage in front of a real frame
                continue
            frame, end = found  # type: ignore[misc]
            out.append(frame)
            framed += end - i
            pos = end
        if pos:
            self.skipped += pos - framed
            del buf[:pos]
        return out

    def _complete_after(self, buf: bytearray, start: int) -> int | None:
        """Position of the first complete, CRC-valid frame at or after ``start``."""
        j = buf.find(STX, start)
        while j >= 0:
            found = self._try(buf, j, count=False)
            if found is not None and found is not _INCOMPLETE:
                return j
            j = buf.find(STX, j + 1)
        return None

    def _try(self, buf: bytearray, i: int, *, count: bool = True) -> object:
        """``(Frame, end)``, ``_INCOMPLETE`` or None (no frame starts at ``i``)."""
        have = len(buf) - i
        header = self.header
        if self.responses:
            if have > 5 and buf[i + 5] < 0x80:
                return None
            if have > 6 and buf[i + 6] > MAX_RET:
                return None
        elif have > 5 and buf[i + 5] >= 0x80:
            return None
        if have < header:
            return _INCOMPLETE
        length = (buf[i + header - 2] << 8) | buf[i + header - 1]
        if length > self.max_data:
            return None
        end = i + header + length
        if len(buf) < end + CRC_SIZE:
            return _INCOMPLETE
        body = bytes(buf[i:end])
        device_id = int.from_bytes(body[1:5], "big")
        code = body[5]
        if crc16(body) != buf[end] | (buf[end + 1] << 8):
            if count:
                self.crc_errors += 1
            # also from a look-ahead: a damaged answer behind a false header is reported
            self.rejected.append((device_id, code))
            if len(self.rejected) > 64:
                del self.rejected[:-16]
            return None
        ret = body[6] if self.responses else None
        return Frame(device_id, code, body[header:], ret), end + CRC_SIZE
