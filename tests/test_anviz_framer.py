"""Anviz TC_B framing, CRC and record layouts, byte for byte; and a 10,000-frame fuzz."""

from __future__ import annotations

import contextlib
import random
import time
from datetime import datetime

import pytest

from punchd.drivers.anviz import codec
from punchd.drivers.anviz import framer as f
from punchd.drivers.anviz.codec import Record


def test_crc_is_mcrf4xx_not_x25() -> None:
    assert f.crc16(b"123456789") == 0x6F91  # CRC-16/MCRF4XX check value
    assert f.crc16(b"123456789") != 0x906E  # X-25 would XOR the result


@pytest.mark.parametrize(
    ("command", "data", "wire"),
    [
        (0x3C, b"", "a5 00 00 00 01 3c 00 00 49 a9"),  # get record info
        (0x40, bytes((2, 25)), "a5 00 00 00 01 40 00 02 02 19 3e c0"),  # download new, 25
        (0x38, b"", "a5 00 00 00 01 38 00 00 28 ca"),  # get time
    ],
)
def test_requests_match_the_protocol_notes(command: int, data: bytes, wire: str) -> None:
    assert f.encode_request(1, command, data) == bytes.fromhex(wire)


def test_device_id_is_four_bytes_big_endian_and_crc_low_byte_first() -> None:
    wire = f.encode_response(0x01020304, 0x3C, 0, b"\xaa")
    assert wire[:9] == bytes.fromhex("a5 01 02 03 04 bc 00 00 01")
    crc = f.crc16(wire[:-2])
    assert wire[-2:] == bytes((crc & 0xFF, crc >> 8))
    with pytest.raises(ValueError):
        f.encode_request(1 << 32, 0x3C)


def _answer(device_id: int = 1, command: int = 0x40, data: bytes = b"\x00", ret: int = 0) -> bytes:
    return f.encode_response(device_id, command, ret, data)


def test_decoder_takes_a_frame_byte_by_byte() -> None:
    wire = _answer(7, 0x3C, bytes(range(18)))
    d = f.Decoder()
    got = []
    for i in range(len(wire)):
        got += d.feed(wire[i : i + 1])
    assert got == [f.Frame(7, 0xBC, bytes(range(18)), 0)]
    assert len(d) == 0 and d.skipped == 0


def test_decoder_skips_garbage_and_resynchronises_on_a5() -> None:
    a, b = _answer(1, 0x38, b"\x1a\x0b\x02\x08\x00\x00"), _answer(2, 0x24, b"SN")
    d = f.Decoder()
    frames = d.feed(b"\x00\xa5\xa5\xff junk \xa5" + a + b"\xa5\x01" + b)
    assert [(x.device_id, x.command) for x in frames] == [(1, 0x38), (2, 0x24)]
    assert d.skipped == len(b"\x00\xa5\xa5\xff junk \xa5") + 2


def test_a_false_header_does_not_hold_back_the_real_answer() -> None:
    # A5 + our id + ACK 0xC0 + LEN 256 in the garbage: 267 bytes that never come
    false_header = bytes.fromhex("a5 00 00 00 01 c0 00 01 00")
    real = _answer(1, 0x40, codec.encode_records([Record(5, datetime(2026, 1, 5, 8))]))
    d = f.Decoder()
    assert d.feed(false_header + real) == [f.Frame(1, 0xC0, real[9:-2], 0)]
    assert len(d) == 0


def test_bad_crc_is_rejected_and_reported_for_that_device() -> None:
    wire = bytearray(_answer(3, 0x3C, bytes(18)))
    wire[-1] ^= 0x55
    d = f.Decoder()
    assert d.feed(bytes(wire)) == []
    assert d.crc_errors == 1 and d.take_rejected() == [(3, 0xBC)]
    assert d.take_rejected() == []
    assert d.feed(_answer(3, 0x3C, bytes(18)))[0].data == bytes(18)


def test_a_request_echoed_by_the_line_is_never_an_answer() -> None:
    echo = f.encode_request(1, 0x40, bytes((2, 25)))
    assert f.Decoder().feed(echo) == []
    assert f.Decoder(responses=False).feed(echo) == [f.Frame(1, 0x40, bytes((2, 25)))]


def test_oversized_length_is_garbage() -> None:
    d = f.Decoder(max_data=16)
    big = _answer(1, 0x40, bytes(17))
    assert d.feed(big + _answer(1, 0x40, b"\x00")) == [f.Frame(1, 0xC0, b"\x00", 0)]


def test_three_byte_counters_are_right_past_65535() -> None:
    data = b"".join(v.to_bytes(3, "big") for v in (1, 2, 3, 65_535, 65_536, 0xFFFFFF))
    counts = codec.decode_counts(data)
    assert (counts.records, counts.new_records, counts.cards) == (65_536, 16_777_215, 65_535)
    assert codec.encode_counts(counts) == data
    with pytest.raises(codec.BadData):
        codec.decode_counts(data[:17])


def test_record_layout_and_epoch() -> None:
    r = Record(0xFF_FF_FF_FF_FE, datetime(2000, 1, 3, 0, 0, 1), 3, 0x81, 0x010203)
    packed = r.pack()
    assert packed == bytes.fromhex("ff ff ff ff fe 00 01 51 81 03 81 01 02 03")
    assert codec.decode_records(b"\x01" + packed, most=25) == [r]
    assert codec.decode_record_time(0) == datetime(2000, 1, 2)
    with pytest.raises(ValueError):
        Record(1, datetime(2000, 1, 1)).pack()


def test_record_times_never_depend_on_the_host_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    packed = b"\x01" + Record(9, datetime(2026, 3, 29, 2, 30)).pack()  # a DST gap in Europe
    for tz in ("UTC", "Europe/Berlin", "Asia/Shanghai", "America/Sao_Paulo"):
        monkeypatch.setenv("TZ", tz)
        time.tzset()
        assert codec.decode_records(packed, most=1)[0].when == datetime(2026, 3, 29, 2, 30)
    monkeypatch.delenv("TZ")
    time.tzset()


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00", b"\x02" + bytes(14), b"\x01" + bytes(15), b"\x1a" + bytes(26 * 14)],
    ids=["empty", "zero", "short", "long", "over-25"],
)
def test_bad_record_packets_are_refused(data: bytes) -> None:
    with pytest.raises(codec.BadData):
        codec.decode_records(data, most=25)


def test_clock_and_text_fields() -> None:
    when = datetime(2026, 11, 2, 8, 30, 59)
    assert codec.encode_clock(when) == bytes((26, 11, 2, 8, 30, 59))
    assert codec.decode_clock(codec.encode_clock(when)) == when
    with pytest.raises(codec.BadData, match="impossible date"):
        codec.decode_clock(bytes((26, 13, 2, 8, 30, 59)))
    assert codec.decode_text(b"AB1234\x00\x00") == "AB1234"
    assert codec.decode_text("C2 Pro".encode("utf-16-be")) == "C2 Pro"
    assert codec.decode_text(b"\x00\x01\xe2\x40") == "123456"  # binary serial, older firmware
    assert codec.decode_text(b"\x00\x00") is None
    assert codec.decode_firmware(b"V5.12a\x00\x00" + bytes(10)) == "V5.12a"


# --------------------------------------------------------------------------- fuzz


def _valid_frame(rng: random.Random) -> bytes:
    device_id = rng.choice((1, 2, 3, 77, 0xFFFFFFFF))
    if rng.random() < 0.6:
        n = rng.randint(1, 25)
        records = [
            Record(
                rng.randrange(1 << 40),
                codec.decode_record_time(rng.randrange(900_000_000)),
                rng.randrange(4),
                rng.randrange(256),
                rng.randrange(1 << 24),
            )
            for _ in range(n)
        ]
        return f.encode_response(device_id, 0x40, 0, codec.encode_records(records))
    return f.encode_response(device_id, rng.choice((0x3C, 0x38, 0x24)), 0, rng.randbytes(18))


def _mutate(rng: random.Random, wire: bytes) -> bytes:
    b = bytearray(wire)
    kind = rng.randrange(5)
    if kind == 0:  # flip bits
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
    elif kind == 1:  # truncate
        del b[rng.randrange(1, len(b)) :]
    elif kind == 2:  # drop a byte in the middle
        del b[rng.randrange(1, len(b))]
    elif kind == 3:  # insert bytes, often A5
        for _ in range(rng.randint(1, 3)):
            b.insert(rng.randrange(1, len(b)), rng.choice((0xA5, rng.randrange(256))))
    else:  # corrupt the length field
        b[7:9] = rng.randrange(1 << 16).to_bytes(2, "big")
    return bytes(b)


def test_fuzz_10000_random_and_mutated_frames() -> None:
    """No exception escapes; every frame decoded has a correct CRC (checked here, apart from
    the decoder) — so no garbage becomes a punch —; intact frames survive the garbage."""
    rng = random.Random(20261102)
    stream = bytearray()
    intact: list[bytes] = []
    for _ in range(10_000):
        pick = rng.random()
        if pick < 0.35:
            wire = _valid_frame(rng)
            intact.append(wire)
        elif pick < 0.75:
            wire = _mutate(rng, _valid_frame(rng))
        else:
            wire = rng.randbytes(rng.randint(1, 60))
            if rng.random() < 0.5:
                wire = b"\xa5" + wire
        stream += wire
    decoder = f.Decoder()
    decoded: list[f.Frame] = []
    pos = 0
    while pos < len(stream):  # arbitrary chunking, as a serial line delivers
        step = rng.randint(1, 700)
        decoded += decoder.feed(bytes(stream[pos : pos + step]))
        pos += step

    records = 0
    for frame in decoded:
        wire = frame.encode()
        body, crc = wire[:-2], wire[-2:]
        assert int.from_bytes(crc, "little") == f.crc16(body)
        assert bytes(wire) in stream  # it is really there, byte for byte
        if frame.code == 0xC0 and frame.ret == 0:
            with contextlib.suppress(codec.BadData):
                records += len(codec.decode_records(frame.data, most=25))
    # every intact frame comes out, in order (mutated ones may by chance still be valid)
    it = iter(x.encode() for x in decoded)
    assert all(any(w == got for got in it) for w in intact)
    assert records >= sum(w[9] for w in intact if w[5] == 0xC0)  # their records too
    assert decoder.crc_errors > 0 and decoder.skipped > 0


def test_fuzz_request_decoder_never_raises() -> None:
    rng = random.Random(7)
    d = f.Decoder(responses=False)
    for _ in range(2_000):
        wire = f.encode_request(rng.randrange(1 << 32), rng.randrange(0x80), rng.randbytes(4))
        chunk = _mutate(rng, wire) if rng.random() < 0.5 else wire
        for frame in d.feed(chunk):
            assert f.crc16(frame.encode()[:-2]) == int.from_bytes(frame.encode()[-2:], "little")
