"""The DATA of Anviz TC_B answers: records, counters, the clock. Pure functions, no I/O.

Times are naive device-local wall-clock values throughout: a record's time is seconds since
2000-01-02 00:00 *device local time* (all open implementations agree), so it is decoded by
plain naive arithmetic and never through the host's time zone.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import datetime, timedelta

RECORD_SIZE = 14
RECORD_EPOCH = datetime(2000, 1, 2)
_RECORD = struct.Struct(">5sIBB3s")  # user code, time, backup code, record type, work type
COUNTS_SIZE = 18  # six 3-byte big-endian counters
CLOCK_SIZE = 6
MAX_USER_CODE = (1 << 40) - 1
MAX_WORK_TYPE = (1 << 24) - 1


class BadData(ValueError):
    """DATA that does not have the layout its command promises."""


@dataclass(frozen=True, slots=True)
class Record:
    """One attendance record as the device stores it."""

    user_code: int  # 5 bytes: enroll number, or card number on card-only clocks
    when: datetime  # device-local naive
    backup_code: int = 0  # 0 fp1, 1 fp2, 2 password, 3 card
    record_type: int = 0  # bit 7 door opened, low 4 bits attendance state (0 in, 1 out)
    work_type: int = 0

    def pack(self) -> bytes:
        if not 0 <= self.user_code <= MAX_USER_CODE:
            raise ValueError(f"user code {self.user_code} does not fit 5 bytes")
        if not 0 <= self.work_type <= MAX_WORK_TYPE:
            raise ValueError(f"work type {self.work_type} does not fit 3 bytes")
        return _RECORD.pack(
            self.user_code.to_bytes(5, "big"),
            encode_record_time(self.when),
            self.backup_code,
            self.record_type,
            self.work_type.to_bytes(3, "big"),
        )


@dataclass(frozen=True, slots=True)
class Counts:
    """The 0x3C answer."""

    users: int
    fingerprints: int
    passwords: int
    cards: int
    records: int  # all attendance records
    new_records: int  # records still flagged new


def encode_record_time(when: datetime) -> int:
    seconds = (when.replace(tzinfo=None) - RECORD_EPOCH) // timedelta(seconds=1)
    if not 0 <= seconds <= 0xFFFFFFFF:
        raise ValueError(f"{when} cannot be stored in a record (before 2000-01-02 or too late)")
    return seconds


def decode_record_time(seconds: int) -> datetime:
    return RECORD_EPOCH + timedelta(seconds=seconds)


def u24(data: bytes, offset: int = 0) -> int:
    """A 3-byte big-endian counter, correct past 65535."""
    return int.from_bytes(data[offset : offset + 3], "big")


def decode_counts(data: bytes) -> Counts:
    if len(data) < COUNTS_SIZE:
        raise BadData(f"record counts: {len(data)} bytes, expected {COUNTS_SIZE}")
    return Counts(*(u24(data, i) for i in range(0, COUNTS_SIZE, 3)))


def encode_counts(counts: Counts) -> bytes:
    fields = (
        counts.users,
        counts.fingerprints,
        counts.passwords,
        counts.cards,
        counts.records,
        counts.new_records,
    )
    return b"".join(min(v, 0xFFFFFF).to_bytes(3, "big") for v in fields)


def encode_records(records: list[Record] | list[bytes]) -> bytes:
    """A 0x40 answer's DATA: the count, then the 14-byte records."""
    packed = [r if isinstance(r, bytes | bytearray) else r.pack() for r in records]
    return bytes((len(packed),)) + b"".join(packed)


def decode_records(data: bytes, *, most: int) -> list[Record]:
    """A 0x40 answer's DATA, checked: 1..``most`` records and exactly their bytes."""
    if not data:
        raise BadData("record packet without a count")
    count = data[0]
    if not 1 <= count <= most:
        raise BadData(f"record packet holds {count} records, asked for at most {most}")
    if len(data) != 1 + count * RECORD_SIZE:
        raise BadData(
            f"record packet of {len(data)} bytes for {count} records "
            f"(expected {1 + count * RECORD_SIZE})"
        )
    out = []
    epoch = RECORD_EPOCH
    for user, seconds, backup, rtype, work in _RECORD.iter_unpack(memoryview(data)[1:]):
        out.append(
            Record(
                int.from_bytes(user, "big"),
                epoch + timedelta(seconds=seconds),
                backup,
                rtype,
                int.from_bytes(work, "big"),
            )
        )
    return out


def encode_clock(when: datetime) -> bytes:
    if not 2000 <= when.year <= 2255:
        raise ValueError(f"{when.year} cannot be set on the device (2000..2255)")
    return bytes((when.year - 2000, when.month, when.day, when.hour, when.minute, when.second))


def decode_clock(data: bytes) -> datetime:
    if len(data) < CLOCK_SIZE:
        raise BadData(f"clock: {len(data)} bytes, expected {CLOCK_SIZE}")
    y, mo, d, h, mi, s = data[:CLOCK_SIZE]
    try:
        return datetime(2000 + y, mo, d, h, mi, s)
    except ValueError as exc:
        raise BadData(f"clock: impossible date {bytes(data[:6]).hex(' ')} ({exc})") from None


def decode_text(data: bytes) -> str | None:
    """Serial number / device type: ASCII (UTF-16BE on some models) padded with NULs; an
    answer that is not printable ASCII is a binary number (older firmware): its decimal."""
    raw = bytes(data)
    if not raw.strip(b"\x00"):
        return None
    if len(raw) >= 2 and len(raw) % 2 == 0 and not any(raw[0::2]):
        text = raw.decode("utf-16-be", errors="replace")
    else:
        text = raw.decode("latin-1")
    text = text.replace("\x00", " ").strip()
    if text and all(" " <= ch <= "~" for ch in text):
        return text
    return str(int.from_bytes(raw, "big"))


def decode_firmware(data: bytes) -> str | None:
    """Firmware version: the first 8 bytes of the 0x30 answer, ASCII."""
    return decode_text(bytes(data[:8]))
