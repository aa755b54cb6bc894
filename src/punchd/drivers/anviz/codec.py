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


# ---------------------------------------------------------------------------- staff (users)
#
# 0x72 "download staff info (extended)" and 0x73 "upload staff info (extended)" carry
# fixed-size user records. Layout per the TC_B specs V2.1 (MxLabs/Anviz, Docs) and V2.15
# (WhiteaglePT/node-anviz, dev/), command 44/45, both identical:
#
#   ANSI version, 30 bytes, at most 12 a packet   UNICODE version, 40 bytes, at most 8
#   1-5   user id, big-endian                     1-5   user id
#   6-8   password length (high nibble) + low     6-8   password length + password
#         20 bits of the password; FF FF FF: none
#   9-12  card id, big-endian; FF FF FF FF: none  9-12  card id
#   13-22 name, 10 bytes in the clock's code page 13-32 name, 20 bytes UTF-16BE
#   23    department  24 group  25 attendance     33 department 34 group 35 attendance mode
#         mode
#   26-27 fingerprint enrol state (bit 0 FP1,     36-37 fingerprint enrol state
#         bit 1 FP2); always 0 on upload
#   28    password, high 8 bits                   38    password, high 8 bits
#   29    reserved                                39    reserved
#   30    special: bits 7-6 authority (1 user,    40    special
#         3 admin), bit 4 card length (1: 32 bits, 0: 24 bits)
#
# The 30-byte layout is also what Monits/Anviz-Protocol reads (5-byte id, 7 bytes, 10-byte
# name, 8 bytes, 12 a packet); the 40-byte one what MxLabs/Anviz reads and writes (UTF-16BE
# name, FF for no password or card, 8 a packet). Which one a clock speaks is its model's:
# the download answer tells (1 + N x 30 or 1 + N x 40 bytes).
STAFF_ANSI = 30
STAFF_UNICODE = 40
STAFF_SIZES = (STAFF_ANSI, STAFF_UNICODE)
#: records per 0x72 / 0x73 packet: 12 (ANSI) or 8 (UNICODE); punchd asks for 8, valid for both
STAFF_PER_PACKET = {STAFF_ANSI: 12, STAFF_UNICODE: 8}
STAFF_ASK = 8
NO_CARD = 0xFFFFFFFF
MAX_CARD = NO_CARD - 1
MAX_USER_ID = MAX_USER_CODE
AUTHORITY_USER = 1
AUTHORITY_ADMIN = 3
CARD_32_BITS = 0x10
#: what a new user gets where punchd has nothing to say: department 1, group 1, attendance
#: mode 6 and special 0x40 (an ordinary user) are MxLabs/Anviz's defaults for a new user
#: (a group of 0xFF could leave the person without access); no password (FF FF FF, high
#: byte FF) and reserved FF as the specs ask for empty fields ("set as 0xFF").
NEW_DEPARTMENT = 1
NEW_GROUP = 1
NEW_MODE = 6
#: 0x4C backup code 0xFF: remove all the user's data, the staff record included (specs)
DELETE_ALL_DATA = 0xFF


@dataclass(frozen=True, slots=True)
class Staff:
    """One user record of the clock (0x72 / 0x73)."""

    user_id: int
    name: str = ""
    card: int | None = None
    authority: int = AUTHORITY_USER  # 1 ordinary user, 3 administrator
    fingers: int = 0  # fingerprint enrol state: bit 0 FP1, bit 1 FP2
    password: bytes = b"\xff\xff\xff"  # as stored: length nibble + low 20 bits
    password_high: int = 0xFF
    department: int = NEW_DEPARTMENT
    group: int = NEW_GROUP
    mode: int = NEW_MODE
    reserved: int = 0xFF


def _name_bytes(name: str, size: int, encoding: str) -> bytes:
    """``name`` in the record's name field: cut to whole characters that fit, NUL padded."""
    field, codec_name = (20, "utf-16-be") if size == STAFF_UNICODE else (10, encoding)
    out = b""
    for ch in name:
        piece = ch.encode(codec_name, errors="replace")
        if len(out) + len(piece) > field:
            break
        out += piece
    return out.ljust(field, b"\x00")


def fit_staff_name(name: str, size: int, encoding: str) -> str:
    """``name`` as a clock of record ``size`` keeps it (what a download gives back)."""
    return _decode_name(_name_bytes(name, size, encoding), size, encoding)


def _decode_name(raw: bytes, size: int, encoding: str) -> str:
    if size == STAFF_UNICODE:
        if len(raw) % 2:
            raw = raw[:-1]
        text = raw.decode("utf-16-be", errors="replace")
        return text.split("\x00", 1)[0].replace("\uffff", "").strip()
    raw = raw.split(b"\x00", 1)[0].rstrip(b"\xff")
    return raw.decode(encoding, errors="replace").strip()


def encode_staff(s: Staff, size: int, encoding: str = "latin-1") -> bytes:
    """``s`` as one record of ``size`` (30 or 40) bytes; ValueError for a value it cannot hold."""
    if size not in STAFF_SIZES:
        raise ValueError(f"no staff record of {size} bytes")
    if not 0 <= s.user_id <= MAX_USER_ID:
        raise ValueError(f"user id {s.user_id} does not fit 5 bytes")
    if s.card is not None and not 0 <= s.card <= MAX_CARD:
        raise ValueError(f"card {s.card} does not fit 4 bytes")
    card = NO_CARD if s.card is None else s.card
    special = (s.authority & 0x03) << 6
    if s.card is not None and s.card > 0xFFFFFF:
        special |= CARD_32_BITS
    return b"".join(
        (
            s.user_id.to_bytes(5, "big"),
            bytes(s.password[:3]).ljust(3, b"\xff"),
            card.to_bytes(4, "big"),
            _name_bytes(s.name, size, encoding),
            bytes((s.department, s.group, s.mode)),
            (s.fingers & 0xFFFF).to_bytes(2, "big"),  # enrol state: 0 on upload (specs)
            bytes((s.password_high, s.reserved, special)),
        )
    )


def decode_staff(raw: bytes, size: int, encoding: str = "latin-1") -> Staff:
    name_end = 32 if size == STAFF_UNICODE else 22
    card = int.from_bytes(raw[8:12], "big")
    tail = raw[name_end:]
    return Staff(
        user_id=int.from_bytes(raw[0:5], "big"),
        name=_decode_name(bytes(raw[12:name_end]), size, encoding),
        card=None if card == NO_CARD else card,
        authority=tail[7] >> 6,
        fingers=int.from_bytes(tail[3:5], "big"),
        password=bytes(raw[5:8]),
        password_high=tail[5],
        department=tail[0],
        group=tail[1],
        mode=tail[2],
        reserved=tail[6],
    )


def encode_staff_packet(records: list[bytes]) -> bytes:
    """A 0x72 answer's / 0x73 request's DATA: the count, then the packed records."""
    return bytes((len(records),)) + b"".join(records)


def staff_size(data: bytes) -> int:
    """The record size of a 0x72 answer / 0x73 request DATA (30 or 40), checked."""
    if not data:
        raise BadData("staff packet without a count")
    count = data[0]
    for size in STAFF_SIZES:
        if count and len(data) == 1 + count * size:
            return size
    raise BadData(f"staff packet of {len(data)} bytes for {count} records (30 or 40 bytes each)")


def split_staff(data: bytes, *, most: int) -> tuple[int, list[bytes]]:
    """A 0x72 answer's DATA: (record size, the raw records), 1..``most`` of them."""
    size = staff_size(data)
    count = data[0]
    if count > most:
        raise BadData(f"staff packet holds {count} records, asked for at most {most}")
    body = bytes(data[1:])
    return size, [body[i : i + size] for i in range(0, count * size, size)]


def encode_user_ref(user_id: int, code: int) -> bytes:
    """0x4C / 0x44 DATA: the 5-byte user id and a backup code."""
    if not 0 <= user_id <= MAX_USER_ID:
        raise ValueError(f"user id {user_id} does not fit 5 bytes")
    return user_id.to_bytes(5, "big") + bytes((code,))


# ---------------------------------------------------------------------------- templates
#
# 0x44 download / 0x45 upload one fingerprint template, specs V2.1 / V2.15 commands 14/15:
# request DATA user id (5 bytes) + backup code 1 (FP1) or 2 (FP2) [+ the template for 0x45];
# the template is 338 bytes on fingerprint clocks (1280 on iris, 2048 / 6144 on OA1000
# models: taken as the clock sends it). MxLabs/Anviz sends the same (backup code = finger
# index + 1, a 338-byte template in a 344-byte request). Two fingers a person: the staff
# record's enrol state has a bit for FP1 and FP2 only (specs).
FP_SLOTS = (1, 2)
FP_TEMPLATE_SIZE = 338


def finger_slot(finger: int) -> int:
    """The backup code of finger index ``finger`` (0 → FP1, 1 → FP2); ValueError otherwise."""
    if finger not in (0, 1):
        raise ValueError(f"finger {finger}: the clock keeps FP1 and FP2 only (fingers 0 and 1)")
    return finger + 1
