"""ZK wire-format helpers, checked against pyzk's own arithmetic."""

from __future__ import annotations

import random
import struct
from datetime import datetime

import pytest
from zk.base import ZK

from punchd.drivers.zk import protocol as p
from punchd.drivers.zk.client import (
    SLACK_RECORDS,
    CorruptReply,
    check_layout,
    infer_record_size,
    plausible_bytes,
)


def test_checksum_matches_pyzk_for_random_packets() -> None:
    zk = ZK("127.0.0.1")
    rng = random.Random(5)
    for _ in range(3000):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 64)))
        theirs = struct.unpack("H", zk._ZK__create_checksum(struct.unpack(f"{len(data)}B", data)))
        assert p.checksum(data) == theirs[0], data.hex()


def test_make_packet_carries_its_checksum() -> None:
    packet = p.make_packet(p.CMD_CONNECT, 0, 65534, b"")
    command, chk, session, reply = p.HEADER.unpack(packet)
    assert (command, session, reply) == (p.CMD_CONNECT, 0, 65534)
    assert chk == p.checksum(p.HEADER.pack(command, 0, session, reply))


def test_tcp_wrap_prefix() -> None:
    assert p.tcp_wrap(b"12345678")[:8] == struct.pack("<HHI", 0x5050, 0x7D82, 8)


@pytest.mark.parametrize(
    "when",
    [datetime(2000, 1, 1), datetime(2026, 2, 28, 23, 59, 59), datetime(2099, 12, 31, 12, 0, 7)],
)
def test_time_round_trip(when: datetime) -> None:
    assert p.decode_time(p.encode_time(when)) == when


def test_time_encoding_is_the_firmware_formula() -> None:
    # ((yy*12*31 + (mm-1)*31 + dd-1)*86400 + (h*60+m)*60 + s), from the protocol notes
    assert p.encode_time(datetime(2026, 11, 2, 8, 1, 5)) == (
        (26 * 12 * 31 + 10 * 31 + 1) * 86400 + (8 * 60 + 1) * 60 + 5
    )


def test_impossible_date_raises_value_error() -> None:
    # day 31 of February exists in the encoding but not in the calendar
    with pytest.raises(ValueError):
        p.decode_time(((26 * 12 * 31) + 1 * 31 + 30) * 86400)


@pytest.mark.parametrize("size", p.ATT_SIZES)
def test_pack_and_linear_parse_every_record_size(size: int) -> None:
    when = datetime(2026, 11, 2, 8, 1, 5)
    records = b"".join(
        p.pack_attendance(
            size, uid=i + 1, user_id=str(100000 + i), when=when, status=15, punch=i % 6, workcode=7
        )
        for i in range(50)
    )
    assert len(records) == 50 * size
    rows = list(p.iter_attendance(records, size))
    assert len(rows) == 50
    user_id, uid, t, status, punch, workcode = rows[3]
    assert p.decode_time(t) == when and status == 15 and punch == 3
    assert user_id == ("4" if size == 8 else "100003")  # 8-byte records carry only the uid
    assert uid == (0 if size == 16 else 4)  # 16-byte records carry only the user id
    assert workcode == (7 if size in (16, 49) else None)


def test_record_size_from_buffer_and_count() -> None:
    assert infer_record_size(49 * 100, 100) == 49
    assert infer_record_size(40 * 100, 100) == 40
    assert infer_record_size(16 * 1000, 1000) == 16
    assert infer_record_size(8 * 10, 10) == 8
    # 1960 bytes is 49×40 and 40×49: the announced count decides
    assert infer_record_size(1960, 40) == 49
    assert infer_record_size(1960, 49) == 40
    # the count was read a moment earlier; two punches arrived since
    assert infer_record_size(40 * 1002, 1000) == 40
    with pytest.raises(CorruptReply, match="fits no known record size"):
        infer_record_size(41, 1)
    # a count far from every size the data could have: refused, not guessed
    with pytest.raises(CorruptReply, match="count and data disagree"):
        infer_record_size(40 * 1000, 3000)


def _records(size: int, n: int, when: datetime) -> bytes:
    return b"".join(
        p.pack_attendance(
            size, uid=i + 1, user_id=str(100001 + i), when=when, status=1, punch=i % 2
        )
        for i in range(n)
    )


def test_data_that_reads_as_another_record_size_is_refused() -> None:
    sixteen = _records(16, 50, datetime(2026, 3, 4, 8, 0))
    check_layout(sixteen, 16)  # what it is
    with pytest.raises(CorruptReply, match="reads as 16-byte records"):
        check_layout(sixteen, 8)  # what a doubled count would make of it
    forty = _records(40, 50, datetime(2026, 3, 4, 8, 0))
    check_layout(forty, 40)
    with pytest.raises(CorruptReply, match="count and data disagree"):
        check_layout(forty, 8)
    # A clock that lost its time (every record dated 2000) is not evidence of a wrong size.
    check_layout(_records(40, 50, datetime(2000, 1, 1, 0, 5)), 40)


def test_plausible_transfer_size() -> None:
    assert plausible_bytes(100, 49, 1 << 25) == 4 + (100 + SLACK_RECORDS) * 49
    assert plausible_bytes(1 << 31, 49, 1 << 25) == 1 << 25  # the ceiling wins
    assert plausible_bytes(-5, 49, 1 << 25) == 4 + SLACK_RECORDS * 49
