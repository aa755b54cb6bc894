"""ZK wire format shared by the driver and the simulator.

Packet: ``<4H`` command, checksum, session id, reply id, then the payload; over TCP
prefixed by ``<HHI`` 0x5050, 0x7D82, length. Record layouts and the time encoding are
those of ZK firmware (see docs/zk.md).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from datetime import datetime

# Commands and replies
CMD_CONNECT = 1000
CMD_EXIT = 1001
CMD_ENABLEDEVICE = 1002
CMD_DISABLEDEVICE = 1003
CMD_AUTH = 1102
CMD_GET_VERSION = 1100
CMD_OPTIONS_RRQ = 11
CMD_OPTIONS_WRQ = 12
CMD_DB_RRQ = 7
CMD_USER_WRQ = 8
CMD_USERTEMP_RRQ = 9
CMD_ATTLOG_RRQ = 13
CMD_CLEAR_DATA = 14
CMD_CLEAR_ATTLOG = 15
CMD_DELETE_USER = 18
CMD_SAVE_USERTEMPS = 110
CMD_GET_FREE_SIZES = 50
CMD_GET_TIME = 201
CMD_SET_TIME = 202
CMD_REFRESHDATA = 1013
CMD_PREPARE_DATA = 1500
CMD_DATA = 1501
CMD_FREE_DATA = 1502
CMD_PREPARE_BUFFER = 1503
CMD_READ_BUFFER = 1504

ACK_OK = 2000
ACK_ERROR = 2001
ACK_DATA = 2002
ACK_UNAUTH = 2005
ACK_UNKNOWN = 0xFFFF

FCT_ATTLOG = 1
FCT_FINGERTMP = 2
FCT_USER = 5

TCP_MAGIC = (0x5050, 0x7D82)
TCP_PREFIX = struct.Struct("<HHI")
HEADER = struct.Struct("<4H")
USHRT_MAX = 0xFFFF

# Record layouts
ATT_8 = struct.Struct("<HB4sB")  # uid, status, time, punch
ATT_16 = struct.Struct("<I4sBB2sI")  # user_id, time, status, punch, reserved, workcode
ATT_40 = struct.Struct("<H24sB4sB8s")  # uid, user_id, status, time, punch, spare
ATT_49 = struct.Struct("<H24sB4sB8sI5s")  # as 40 + workcode, reserved
ATT_SIZES = (8, 16, 40, 49)
USER_28 = struct.Struct("<HB5s8sIxBhI")  # uid, priv, pw, name, card, group, tz, user_id
USER_72 = struct.Struct("<HB8s24sIx7sx24s")  # uid, priv, pw, name, card, group, user_id


def checksum(packet: bytes) -> int:
    """The firmware's checksum (zkemsdk ``CalcChksum``): little-endian word sum, carry
    folded back by subtracting 0xFFFF, a trailing odd byte added as is, then
    complemented and brought back into range the same way. Devices and pyzk agree on
    this exact arithmetic, which differs from a textbook ones' complement by one."""
    total = 0
    even = len(packet) - len(packet) % 2
    for (word,) in struct.iter_unpack("<H", packet[:even]):
        total += word
        if total > USHRT_MAX:
            total -= USHRT_MAX
    if len(packet) % 2:
        total += packet[-1]
    while total > USHRT_MAX:
        total -= USHRT_MAX
    total = ~total
    while total < 0:
        total += USHRT_MAX
    return total


def make_packet(command: int, session_id: int, reply_id: int, payload: bytes = b"") -> bytes:
    """A packet with its checksum filled in (no TCP prefix)."""
    raw = HEADER.pack(command, 0, session_id, reply_id) + payload
    return HEADER.pack(command, checksum(raw), session_id, reply_id) + payload


def tcp_wrap(packet: bytes) -> bytes:
    return TCP_PREFIX.pack(*TCP_MAGIC, len(packet)) + packet


def encode_time(t: datetime) -> int:
    return (
        ((t.year % 100) * 12 * 31 + (t.month - 1) * 31 + t.day - 1) * 86400
        + (t.hour * 60 + t.minute) * 60
        + t.second
    )


def decode_time(value: int) -> datetime:
    """Device-local naive time. Raises ValueError for an impossible date."""
    value, second = divmod(value, 60)
    value, minute = divmod(value, 60)
    value, hour = divmod(value, 24)
    value, day = divmod(value, 31)
    year, month = divmod(value, 12)
    return datetime(year + 2000, month + 1, day + 1, hour, minute, second)


class TimeDecoder:
    """:func:`decode_time` for many records: a clock's records fall on few days, so each
    day number is worked out (and checked) once. Raises the same ValueError."""

    def __init__(self) -> None:
        self._days: dict[int, tuple[int, int, int] | None] = {}

    def __call__(self, value: int) -> datetime:
        days, seconds = divmod(value, 86400)
        ymd = self._days.get(days, False)
        if ymd is False:
            month_no, day = divmod(days, 31)
            year, month = divmod(month_no, 12)
            ymd = (year + 2000, month + 1, day + 1)
            try:
                datetime(*ymd)
            except ValueError:
                ymd = None
            self._days[days] = ymd
        if ymd is None:
            return decode_time(value)  # raises, with the same message
        hour, rest = divmod(seconds, 3600)
        minute, second = divmod(rest, 60)
        return datetime(*ymd, hour, minute, second)


#: The plausible span of a record date for layout checks (encode_time is monotonic in it).
EARLIEST_TIME = datetime(2001, 1, 1)
LATEST_TIME = datetime(2099, 12, 31, 23, 59, 59)


def text_field(raw: bytes, encoding: str = "ascii") -> str:
    """A fixed-width, NUL-terminated text field of a record."""
    return raw.split(b"\x00", 1)[0].decode(encoding, errors="replace").strip()


# A parsed attendance row: user_id text, uid, time value, status (verify), punch (state), workcode
AttRow = tuple[str, int, int, int, int, int | None]


def iter_attendance(data: bytes | memoryview, record_size: int) -> Iterator[AttRow]:
    """Linear parse of an attendance buffer (without its 4-byte size prefix).

    For 8-byte records the user id is the numeric uid: the caller maps it to the
    user's text id through the user list. A clock has few people and many records: each
    distinct user id field is decoded once and the text shared.
    """
    view = memoryview(data)
    usable = len(view) - len(view) % record_size
    view = view[:usable]
    if record_size == 8:
        for uid, status, t, punch in ATT_8.iter_unpack(view):
            yield str(uid), uid, int.from_bytes(t, "little"), status, punch, None
    elif record_size == 16:
        for user_id, t, status, punch, _r, workcode in ATT_16.iter_unpack(view):
            yield str(user_id), 0, int.from_bytes(t, "little"), status, punch, workcode
    elif record_size in (40, 49):
        names: dict[bytes, str] = {}
        if record_size == 40:
            records = ((*r[:5], None) for r in ATT_40.iter_unpack(view))
        else:
            records = ((*r[:5], r[6]) for r in ATT_49.iter_unpack(view))
        for uid, raw, status, t, punch, workcode in records:
            name = names.get(raw)
            if name is None:
                name = names[raw] = text_field(raw)
            yield name, uid, int.from_bytes(t, "little"), status, punch, workcode
    else:
        raise ValueError(f"unsupported attendance record size {record_size}")


def pack_attendance(
    record_size: int,
    *,
    uid: int,
    user_id: str,
    when: datetime,
    status: int,
    punch: int,
    workcode: int = 0,
) -> bytes:
    """One attendance record as a device of that record size stores it."""
    t = encode_time(when).to_bytes(4, "little")
    uid_text = user_id.encode("ascii")
    if record_size == 8:
        return ATT_8.pack(uid, status, t, punch)
    if record_size == 16:
        return ATT_16.pack(int(user_id), t, status, punch, b"\x00\x00", workcode)
    if record_size == 40:
        return ATT_40.pack(uid, uid_text, status, t, punch, b"\x00" * 8)
    if record_size == 49:
        return ATT_49.pack(uid, uid_text, status, t, punch, b"\x00" * 8, workcode, b"\x00" * 5)
    raise ValueError(f"unsupported attendance record size {record_size}")


def make_commkey(key: int, session_id: int, ticks: int = 50) -> bytes:
    """The 4-byte CMD_AUTH payload for a comm key, as pyzk (``make_commkey``) and the
    vendor SDK (``MakeKey``) compute it: the key's 32 bits reversed, plus the session
    id, XORed with ``ZKSO``, its 16-bit halves swapped, then XORed with the tick byte,
    which is also sent in the clear as byte 2. pyzk always uses ticks=50. The sum is
    wrapped to 32 bits (pyzk would raise ``struct.error`` instead; no real key gets there).
    """
    k = 0
    for i in range(32):
        k = (k << 1) | ((int(key) >> i) & 1)
    k = (k + int(session_id)) & 0xFFFFFFFF
    b = k.to_bytes(4, "little")
    b = bytes((b[0] ^ ord("Z"), b[1] ^ ord("K"), b[2] ^ ord("S"), b[3] ^ ord("O")))
    b = b[2:4] + b[0:2]  # swap the two little-endian 16-bit halves
    t = ticks & 0xFF
    return bytes((b[0] ^ t, b[1] ^ t, t, b[3] ^ t))


def _fit(text: str, size: int, encoding: str) -> bytes:
    """``text`` encoded, cut to at most ``size`` bytes without splitting a character."""
    raw = text.encode(encoding, errors="replace")
    if len(raw) <= size:
        return raw
    cut = ""
    for ch in text:
        if len((cut + ch).encode(encoding, errors="replace")) > size:
            break
        cut += ch
    return cut.encode(encoding, errors="replace")


USER_SIZES = (28, 72)


def pack_user(
    user_size: int,
    *,
    uid: int,
    user_id: str,
    name: str = "",
    privilege: int = 0,
    password: str = "",
    card: int = 0,
    group_id: str = "",
    encoding: str = "utf-8",
) -> bytes:
    """One user record as the device sends it in a CMD_USERTEMP_RRQ buffer: 72 bytes
    (text user id, firmware with 40/49-byte attendance records) or 28 bytes (old
    firmware: numeric user id, 8-byte name, numeric group). Text is cut on a
    character boundary to its field width."""
    if user_size == 72:
        return USER_72.pack(
            uid,
            privilege,
            _fit(password, 8, encoding),
            _fit(name, 24, encoding),
            card,
            _fit(group_id, 7, encoding),
            _fit(user_id, 24, encoding),
        )
    if user_size == 28:
        return USER_28.pack(
            uid,
            privilege,
            _fit(password, 5, encoding),
            _fit(name, 8, encoding),
            card,
            int(group_id or 0),
            0,
            int(user_id),
        )
    raise ValueError(f"unsupported user record size {user_size}")


#: Privilege byte of a user record: 0 an ordinary user, 2 enroller, 6 manager, 14 admin.
PRIVILEGE_USER = 0
#: Bytes of the name field per user record size (text is cut to it on the device).
USER_NAME_BYTES = {72: 24, 28: 8}
#: Largest card number a user record holds (an unsigned 32-bit field).
CARD_MAX = 0xFFFF_FFFF


def fit_name(user_size: int, name: str, encoding: str = "utf-8") -> str:
    """``name`` as the device keeps it in a ``user_size`` record: cut on a character
    boundary to the field width (what a later read gives back)."""
    raw = _fit(name, USER_NAME_BYTES[user_size], encoding)
    return raw.decode(encoding, errors="replace").strip()


def unpack_user(record: bytes, encoding: str = "utf-8") -> tuple[int, int, str, str, int, str, str]:
    """A CMD_USER_WRQ payload (one record, 72 or 28 bytes) → (uid, privilege, password,
    name, card, group, user_id), text decoded. ValueError for any other length."""
    if len(record) == 72:
        uid, priv, pw, name, card, group, user_id = USER_72.unpack(record)
        return (
            uid,
            priv,
            text_field(pw, encoding),
            text_field(name, encoding),
            card,
            text_field(group, encoding),
            text_field(user_id, encoding),
        )
    if len(record) == 28:
        uid, priv, pw, name, card, group, _tz, number = USER_28.unpack(record)
        pw_text, name_text = text_field(pw, encoding), text_field(name, encoding)
        return uid, priv, pw_text, name_text, card, str(group), str(number)
    raise ValueError(f"a user record is 72 or 28 bytes, not {len(record)}")


#: CMD_DELETE_USER payload: the device's internal uid, 16 bits.
DELETE_USER = struct.Struct("<H")


def pack_delete_user(uid: int) -> bytes:
    return DELETE_USER.pack(uid)


# --- fingerprint templates ----------------------------------------------------------------

#: One template in a CMD_DB_RRQ / FCT_FINGERTMP buffer: record size (this 6-byte head
#: included), uid, finger (0-9), valid (1; 3 a duress finger), then the template bytes.
TEMPLATE_HEAD = struct.Struct("<HHBB")
#: Largest template accepted from or sent to a clock (ZKFinger 10 templates are ≤ ~1.6 KB;
#: the record size field is 16 bits).
TEMPLATE_MAX = 4096
#: Head of a CMD_SAVE_USERTEMPS upload: bytes of user records, of the table, of templates.
SAVE_HEAD = struct.Struct("<III")
#: A user record in that upload: the read layouts with a leading 2, and on 72-byte
#: firmware a 1 in the byte after the card (pyzk ``User.repack73`` / ``repack29``).
SAVE_USER_72 = struct.Struct("<BHB8s24sIB7sx24s")
SAVE_USER_28 = struct.Struct("<BHB5s8sIxBhI")
#: A table entry: 2, uid, 0x10 + finger, offset of the template in the template bytes.
SAVE_TABLE = struct.Struct("<BHBI")
SAVE_FINGER_BASE = 0x10
#: Each template in the template bytes: its size, then the template.
SAVE_TEMPLATE_SIZE = struct.Struct("<H")
#: CMD_SAVE_USERTEMPS's own payload (as pyzk sends it).
SAVE_COMMIT = struct.Struct("<IHH")
SAVE_COMMIT_ARGS = (12, 0, 8)
#: Bytes per CMD_DATA packet of an upload (CMD_PREPARE_DATA, then CMD_DATA…), as pyzk.
UPLOAD_CHUNK = 1024
#: The option naming the fingerprint algorithm (9, 10…): templates of one version are
#: useless to a clock of another.
FP_VERSION_OPTION = "~ZKFPVersion"


def pack_template(uid: int, finger: int, valid: int, template: bytes) -> bytes:
    """One template record as a clock sends it in its template buffer."""
    return TEMPLATE_HEAD.pack(TEMPLATE_HEAD.size + len(template), uid, finger, valid) + template


def iter_templates(body: bytes | memoryview) -> Iterator[tuple[int, int, int, bytes]]:
    """(uid, finger, valid, template) of a template buffer (without its 4-byte total).
    ValueError for a record whose size does not fit the buffer."""
    view = memoryview(body)
    at = 0
    while at < len(view):
        if len(view) - at < TEMPLATE_HEAD.size:
            raise ValueError(f"template buffer: {len(view) - at} stray bytes at {at}")
        size, uid, finger, valid = TEMPLATE_HEAD.unpack_from(view, at)
        if size < TEMPLATE_HEAD.size or at + size > len(view):
            raise ValueError(f"template record at {at}: size {size} does not fit the buffer")
        yield uid, finger, valid, bytes(view[at + TEMPLATE_HEAD.size : at + size])
        at += size


def save_user_record(record: bytes) -> bytes:
    """A user record of the read layout (72 or 28 bytes, :func:`pack_user`) in the layout
    of a CMD_SAVE_USERTEMPS upload (73 or 29 bytes)."""
    if len(record) == 72:
        return b"\x02" + record[:39] + b"\x01" + record[40:]
    if len(record) == 28:
        return b"\x02" + record
    raise ValueError(f"a user record is 72 or 28 bytes, not {len(record)}")


def pack_save_usertemps(entries: list[tuple[bytes, int, list[tuple[int, bytes]]]]) -> bytes:
    """The upload of CMD_SAVE_USERTEMPS: for each (user record of the read layout, its uid,
    [(finger, template)…]) the user and its templates (pyzk ``HR_save_usertemplates``)."""
    users, table, temps = bytearray(), bytearray(), bytearray()
    for record, uid, fingers in entries:
        users += save_user_record(record)
        for finger, template in fingers:
            table += SAVE_TABLE.pack(2, uid, SAVE_FINGER_BASE + finger, len(temps))
            temps += SAVE_TEMPLATE_SIZE.pack(len(template)) + template
    return SAVE_HEAD.pack(len(users), len(table), len(temps)) + users + table + temps


def unpack_save_usertemps(
    data: bytes, encoding: str = "utf-8"
) -> tuple[list[tuple[int, int, str, str, int, str, str]], list[tuple[int, int, bytes]]]:
    """A CMD_SAVE_USERTEMPS upload → (users as :func:`unpack_user` gives them, [(uid,
    finger, template)…]). ValueError for anything that does not add up."""
    if len(data) < SAVE_HEAD.size:
        raise ValueError("upload shorter than its head")
    n_users, n_table, n_temps = SAVE_HEAD.unpack_from(data)
    if SAVE_HEAD.size + n_users + n_table + n_temps != len(data):
        raise ValueError("upload sizes do not add up")
    at = SAVE_HEAD.size
    user_bytes = data[at : at + n_users]
    table_bytes = data[at + n_users : at + n_users + n_table]
    temp_bytes = data[at + n_users + n_table :]
    users = []
    for size in (SAVE_USER_72.size, SAVE_USER_28.size):
        if n_users % size == 0:
            break
    else:
        raise ValueError(f"{n_users} bytes of user records fit no layout")
    for i in range(0, n_users, size):
        raw = user_bytes[i : i + size]
        if raw[0] != 2:
            raise ValueError("user record without its leading 2")
        read = raw[1:40] + b"\x00" + raw[41:] if size == SAVE_USER_72.size else raw[1:]
        users.append(unpack_user(read, encoding))
    if n_table % SAVE_TABLE.size:
        raise ValueError("table of a size no whole number of entries")
    fingers = []
    for _two, uid, fnum, offset in SAVE_TABLE.iter_unpack(table_bytes):
        if offset + SAVE_TEMPLATE_SIZE.size > len(temp_bytes):
            raise ValueError("table entry beyond the template bytes")
        (size_t,) = SAVE_TEMPLATE_SIZE.unpack_from(temp_bytes, offset)
        start = offset + SAVE_TEMPLATE_SIZE.size
        if start + size_t > len(temp_bytes):
            raise ValueError("template beyond the template bytes")
        fingers.append((uid, fnum - SAVE_FINGER_BASE, bytes(temp_bytes[start : start + size_t])))
    return users, fingers
