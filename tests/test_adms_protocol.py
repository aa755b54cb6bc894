"""The ADMS / iclock push protocol module: tolerant parsing, strict replies, the config."""

from __future__ import annotations

import random
from datetime import datetime

import pytest
from pydantic import ValidationError

from punchd.drivers.adms import protocol as p
from punchd.drivers.adms.driver import NOT_POLLED, ADMSConfig, ADMSDriver
from punchd.drivers.errors import NotSupported

T = datetime(2024, 3, 5, 8, 1, 2)


# -- ATTLOG ---------------------------------------------------------------------------


def test_attlog_5_7_12_fields_crlf_bom_blank_lines() -> None:
    body = (
        b"\xef\xbb\xbf1\t2024-03-05 08:01:02\t0\t1\t0\r\n"
        b"\r\n"
        b"2\t2024-03-05 08:01:03\t1\t15\t0\t\t\r\n"
        b"   \n"
        b"3\t2024-03-05 08:01:04\t255\t4\t7\t\t\t0\t36.5\t0\t3600\t\n"
        b"4\t2024-03-05 08:01:05\t\t\t\t\t\n"
        b"5\t2024-03-05 08:01:06\n"
    )
    records, problems = p.parse_attlog(body)
    assert problems == []
    assert [r.pin for r in records] == ["1", "2", "3", "4", "5"]
    assert records[0] == p.AttLog("1", T, 0, 1, "0")
    assert records[1].status == 1 and records[1].verify == 15
    # TimeOffset (seconds) applied
    assert records[2].when == datetime(2024, 3, 5, 9, 1, 4)
    assert (records[2].status, records[2].workcode) == (255, "7")
    assert records[3] == p.AttLog("4", datetime(2024, 3, 5, 8, 1, 5), None, None, None)
    assert records[4].status is None


def test_attlog_problems_carry_line_numbers_and_reasons() -> None:
    body = (
        b"1\t2024-03-05 08:01:02\t0\t1\n"
        b"\n"
        b"2\n"
        b"\t2024-03-05 08:01:02\n" + b"9" * 25 + b"\t2024-03-05 08:01:02\n"
        b"3\t2024-13-05 08:01:02\n"
        b"4\tyesterday\n"
        b"5\t0000-00-00 00:00:00\x01\n"
    )
    records, problems = p.parse_attlog(body)
    assert [r.pin for r in records] == ["1"]
    assert [(x.line_no, x.reason) for x in problems] == [
        (3, "too few fields (need PIN and time)"),
        (4, "empty PIN"),
        (5, "PIN longer than 24 characters"),
        (6, "time does not parse"),
        (7, "time does not parse"),
        (8, "time does not parse"),
    ]
    assert problems[-1].text.endswith("\\x01")
    assert "\\t" in problems[-1].text


def test_attlog_garbled_optional_fields_keep_the_punch() -> None:
    records, problems = p.parse_attlog(b"7\t2024-03-05 08:01:02\tX\t-3\tcode\t\t\t\t\t\tnope\n")
    assert problems == []
    assert records == [p.AttLog("7", T, None, None, "code")]


def test_attlog_space_separated_and_power_loss_dates() -> None:
    records, problems = p.parse_attlog(b"12 2000-01-01 00:00:10 0 1\n")
    assert problems == []
    assert records == [p.AttLog("12", datetime(2000, 1, 1, 0, 0, 10), 0, 1, None)]


def test_attlog_long_line_is_quoted_short() -> None:
    _, problems = p.parse_attlog(b"1\t" + b"x" * 500 + b"\n")
    assert len(problems[0].text) == 120


def test_format_attlog_round_trips() -> None:
    record = p.AttLog("42", T, 1, 15, "0")
    for fields in (5, 7, 12):
        line = p.format_attlog(record, fields=fields, time_offset=3600 if fields == 12 else 0)
        assert len(line.split("\t")) == fields
        records, problems = p.parse_attlog(line.encode() + b"\n")
        assert problems == [] and records == [record]
    with pytest.raises(ValueError):
        p.format_attlog(record, fields=6)


_PIECES = [
    b"1",
    b"",
    b"\t",
    b"\r",
    b"\n",
    b" ",
    b"\x00",
    b"\xff\xfe",
    b"\xef\xbb\xbf",
    b"2024-03-05 08:01:02",
    b"2024-02-30 08:01:02",
    b"9999-12-31 23:59:59",
    b"0001-01-01 00:00:00",
    b"86400",
    b"-99999999999999999999",
    "张伟".encode("gb2312"),
    "张伟".encode(),
    b"=",
    b"PIN=",
    b"USER ",
    b"ID=1&Return=0&CMD=INFO",
    b"x" * 40,
]


@pytest.mark.parametrize("seed", range(20))
def test_fuzz_never_raises_and_every_line_is_accounted(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(200):
        body = b"".join(rng.choice(_PIECES) for _ in range(rng.randrange(1, 30)))
        nonblank = sum(
            1
            for line in body.split(b"\n")
            if p.decode(line).replace("\ufeff", "").strip(" \t\r\x00")
        )
        records, problems = p.parse_attlog(body)
        assert len(records) + len(problems) == nonblank
        for r in records:
            assert r.pin and len(r.pin) <= p.MAX_PIN_LENGTH
        users, taken, oproblems = p.parse_operlog(body)
        assert taken + len(oproblems) == nonblank
        assert len(users) <= taken
        for result in p.parse_devicecmd(body):
            assert result.id
        p.parse_info(p.decode(body))


# -- OPERLOG --------------------------------------------------------------------------


def test_operlog_users_with_and_without_prefix_and_counted_lines() -> None:
    body = (
        "USER PIN=1\tName=Ana Silva\tPri=14\tPasswd=123\tCard=[0012345]\tGrp=1\tTZ=0\tVerify=0\n"
        "PIN=2\tName=José\tPri=0\tPasswd=\tCard=0\n"
        "OPLOG 4\t0\t2024-03-05 08:00:00\t0\t0\t0\t0\n"
        "FP PIN=1\tFID=0\tSize=4\tValid=1\tTMP=AAAA\n"
        "BIODATA Pin=1\tNo=0\tType=9\tTmp=AAAA\n"
        "USER PIN=\tName=nobody\n"
        "WHATEVER 1 2 3\n"
    ).encode()
    users, taken, problems = p.parse_operlog(body)
    assert users == [
        p.UserRecord("1", "Ana Silva", 14, "0012345", True),
        p.UserRecord("2", "José", 0, None, False),
    ]
    assert taken == 5
    assert [(x.line_no, x.reason) for x in problems] == [
        (6, "USER: empty PIN"),
        (7, "unknown OPERLOG record type 'WHATEVER'"),
    ]


def test_operlog_gb2312_name_beside_utf8_lines() -> None:
    body = (
        "USER PIN=1\tName=张伟\tPri=0\n".encode("gb2312")
        + "USER PIN=2\tName=Jürgen\tPri=0\n".encode()
        + "USER PIN=3\tName=王芳\n".encode("gb18030")
    )
    users, taken, problems = p.parse_operlog(body)
    assert problems == [] and taken == 3
    assert [u.name for u in users] == ["张伟", "Jürgen", "王芳"]


def test_decode_never_raises() -> None:
    assert p.decode("张伟".encode("gb18030")) == "张伟"
    assert p.decode(b"\xef\xbb\xbfabc") == "abc"
    assert p.decode("Jürgen".encode()) == "Jürgen"
    assert "\ufffd" in p.decode(b"\x81\x20\xff")


# -- devicecmd, INFO --------------------------------------------------------------------


def test_devicecmd_batched_results_with_info_and_sum() -> None:
    body = (
        b"ID=1&Return=0&CMD=DATA UPDATE USERINFO\n"
        b"ID=2&Return=-10&CMD=DATA DELETE USERINFO\r\n"
        b"\n"
        b"ID=3&Return=0&CMD=INFO\n"
        b"~DeviceName=iClock 880\n"
        b"UserCount=12\n"
        b"FWVersion=Ver 8.0.4\n"
        b"ID=4&Return=0&CMD=VERIFY SUM&AttlogSum=355\n"
        b"garbage line\n"
        b"ID=&Return=0&CMD=X\n"
        b"ID=5&Return=zero&CMD=X\n"
        b"id=6&return=-1002&cmd=SHELL\n"
    )
    results = p.parse_devicecmd(body)
    assert [(r.id, r.code, r.command) for r in results] == [
        ("1", 0, "DATA UPDATE USERINFO"),
        ("2", -10, "DATA DELETE USERINFO"),
        ("3", 0, "INFO"),
        ("4", 0, "VERIFY SUM"),
        ("6", -1002, "SHELL"),
    ]
    assert results[2].fields == {
        "DeviceName": "iClock 880",
        "UserCount": "12",
        "FWVersion": "Ver 8.0.4",
    }
    assert results[3].fields == {"AttlogSum": "355"}


def test_parse_info_forms() -> None:
    assert p.parse_info("~DeviceName=X,MAC=00:17,TransFlag=TransData AttLog") == {
        "DeviceName": "X",
        "MAC": "00:17",
        "TransFlag": "TransData AttLog",
    }
    assert p.parse_info("UserCount=3\nFPCount=1\n\nbogus\n") == {"UserCount": "3", "FPCount": "1"}
    info = p.parse_info("Ver 6.60 Apr 28 2017,100,0,5000,192.168.1.201,10")
    assert info == {
        "fw": "Ver 6.60 Apr 28 2017",
        "users": "100",
        "fps": "0",
        "logs": "5000",
        "ip": "192.168.1.201",
        "fp_alg": "10",
    }


# -- replies --------------------------------------------------------------------------


def test_handshake_block_exact_text() -> None:
    assert p.handshake_reply("CQZ7224460246", attlog_stamp=None, tz_minutes=480) == (
        "GET OPTION FROM: CQZ7224460246\n"
        "ATTLOGStamp=None\n"
        "OPERLOGStamp=9999\n"
        "ATTPHOTOStamp=None\n"
        "ErrorDelay=30\n"
        "Delay=10\n"
        "TransTimes=00:00;14:05\n"
        "TransInterval=1\n"
        "TransFlag=TransData AttLog\tOpLog\tEnrollUser\tChgUser\n"
        "TimeZone=8\n"
        "Realtime=1\n"
        "Encrypt=None\n"
    )
    block = p.handshake_reply("A1", attlog_stamp="9157", tz_minutes=330, delay=2, error_delay=5)
    assert "ATTLOGStamp=9157\n" in block and "TimeZone=330\n" in block
    assert "Delay=2\n" in block and "ErrorDelay=5\n" in block
    for bad in ({"serial": "A\nB"}, {"attlog_stamp": "1\n2"}, {"delay": 0}):
        kwargs = {"serial": "A1", "attlog_stamp": None, "tz_minutes": 0, **bad}
        with pytest.raises(ValueError):
            p.handshake_reply(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("minutes", "option"),
    [(480, "8"), (330, "330"), (-300, "-5"), (0, "0"), (345, "345"), (-210, "-210"), (840, "14")],
)
def test_timezone_option(minutes: int, option: str) -> None:
    assert p.timezone_option(minutes) == option


def test_timezone_option_refuses_absurd_offsets() -> None:
    for minutes in (-721, 841, 10_000):
        with pytest.raises(ValueError):
            p.timezone_option(minutes)


def test_clean_stamp() -> None:
    assert p.clean_stamp("9157") == "9157"
    assert p.clean_stamp(" 12 ") == "12"
    for bad in (None, "", "None", "1 2", "x" * 33, "1;DROP"):
        assert p.clean_stamp(bad) is None


def test_acknowledge() -> None:
    assert p.acknowledge(128) == "OK: 128"
    assert p.acknowledge(0) == "OK: 0"
    with pytest.raises(ValueError):
        p.acknowledge(-1)


def test_check_command_normalises_allowed_verbs() -> None:
    assert p.check_command("info") == "INFO"
    assert p.check_command("  data  delete userinfo PIN=7") == "DATA DELETE USERINFO PIN=7"
    assert (
        p.check_command("DATA UPDATE USERINFO PIN=7\tName=Ana B\tPri=0")
        == "DATA UPDATE USERINFO PIN=7\tName=Ana B\tPri=0"
    )
    assert (
        p.check_command(
            "VERIFY SUM ATTLOG StartTime=2024-03-01 00:00:00\tEndTime=2024-03-01 23:59:59"
        )
        == "VERIFY SUM ATTLOG StartTime=2024-03-01 00:00:00\tEndTime=2024-03-01 23:59:59"
    )
    assert p.check_command("SET OPTION Delay=10") == "SET OPTION Delay=10"
    for verb in ("CHECK", "LOG", "REBOOT"):
        assert p.check_command(verb.lower()) == verb


@pytest.mark.parametrize(
    "text",
    [
        "CLEAR LOG",
        "clear  log",
        "CLEAR DATA",
        "SHELL rm -rf /",
        "shell",
        "CLEAR PHOTO",
        "INFO\nC:99:CLEAR LOG",
        "INFO\r",
        "DATA DELETE USERINFO PIN=1\x00",
        "",
        "   ",
        "USER DEL PIN=1",
        "DATA DELETE USERINFO",
        "DATA DELETE USERINFO PIN=" + "1" * 25,
        "DATA QUERY ATTLOG StartTime=2024-03-01 00:00:00",
        "VERIFY SUM ATTLOG StartTime=yesterday\tEndTime=today",
        "REBOOT now",
        "SET OPTION",
        "INFORMATION",
        "INFO " + "x" * 5000,
    ],
)
def test_check_command_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        p.check_command(text)


def test_check_command_names_the_forbidden_command() -> None:
    with pytest.raises(ValueError, match="CLEAR LOG is never sent"):
        p.check_command("clear log")
    with pytest.raises(ValueError, match="SHELL is never sent"):
        p.check_command("SHELL ls")


def test_command_lines_format_and_caps() -> None:
    assert p.command_lines([]) == ""
    assert p.command_lines([("1", "info"), ("a2B", "DATA DELETE USERINFO PIN=3")]) == (
        "C:1:INFO\nC:a2B:DATA DELETE USERINFO PIN=3\n"
    )
    many = [(str(i), "INFO") for i in range(500)]
    assert p.command_lines(many).count("\n") == p.MAX_COMMANDS_PER_POLL
    name = "N" * 1000
    big = [(str(i), f"DATA UPDATE USERINFO PIN={i}\tName={name}") for i in range(150)]
    text = p.command_lines(big)
    assert len(text.encode()) <= p.MAX_COMMAND_BYTES
    assert 30 < text.count("\n") < 150
    assert p.fit_commands(big) == [(i, c) for i, c in big[: text.count("\n")]]
    for bad_id in ("", "x" * 17, "a-b", "1:2"):
        with pytest.raises(ValueError):
            p.command_lines([(bad_id, "INFO")])
    with pytest.raises(ValueError):
        p.command_lines([("1", "INFO"), ("2", "CLEAR LOG")])


# -- the driver config ------------------------------------------------------------------


def test_config_and_driver_refuse_polling() -> None:
    config = ADMSConfig(name="gate", serial="CQZ-7224_1", timezone="Asia/Shanghai")
    assert config.address() == "push:CQZ-7224_1"
    assert config.allows("203.0.113.9")
    driver = ADMSDriver(config)
    for call in (
        driver.connect,
        driver.device_info,
        driver.users,
        driver.punches,
        driver.get_time,
        driver.record_count,
    ):
        with pytest.raises(NotSupported, match=r"never polled") as info:
            call()
        assert NOT_POLLED in str(info.value) and "gate" in str(info.value)
    driver.close()


def test_config_validation_and_allow_list() -> None:
    for serial in ("", "a b", "x" * 33, "sn/1", "SN\n"):
        with pytest.raises(ValidationError):
            ADMSConfig(name="g", serial=serial)
    with pytest.raises(ValidationError, match="not an address or network"):
        ADMSConfig(name="g", serial="A", allow_from=["10.0.0.0/33"])
    config = ADMSConfig(
        name="g", serial="A", allow_from=["10.1.2.0/24", " 192.0.2.7", "2001:db8::/32"]
    )
    assert config.allow_from == ["10.1.2.0/24", "192.0.2.7", "2001:db8::/32"]
    assert config.allows("10.1.2.200") and config.allows("192.0.2.7")
    assert config.allows("::ffff:10.1.2.3") and config.allows("2001:db8::1")
    assert not config.allows("10.1.3.1") and not config.allows("not-an-ip")
