"""The ZKTeco ADMS / iclock "PUSH" protocol as punchd speaks it: pure text in, dataclasses out.

No I/O here: the receiver (HTTP server) and the push-device simulator (HTTP client) both use
these functions, so the two sides of every test speak the same bytes. Parsing is tolerant
(firmware varies: 5-, 7- and 12-field lines, trailing empty fields, CRLF, a BOM, GB18030
names) and never raises on device input: a line is either taken or returned as a
``LineProblem`` saying why. Building replies is strict: anything punchd would send that a
device could misread raises ``ValueError``. docs/adms.md describes the protocol.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

__all__ = [
    "BIODATA_FINGER",
    "BIODATA_TYPES",
    "CAPACITY_FULL",
    "FORBIDDEN_COMMANDS",
    "MAX_COMMANDS_PER_POLL",
    "MAX_COMMAND_BYTES",
    "MAX_PIN_LENGTH",
    "PIN_NOT_ON_DEVICE",
    "RETURN_CODES",
    "STORED_TEMPLATE",
    "AttLog",
    "BioRecord",
    "CommandResult",
    "FingerRecord",
    "LineProblem",
    "UserRecord",
    "acknowledge",
    "biodata_command",
    "check_command",
    "clean_stamp",
    "command_lines",
    "command_pairs",
    "decode",
    "delete_user_command",
    "fingertmp_command",
    "fit_commands",
    "format_attlog",
    "handshake_reply",
    "parse_attlog",
    "parse_biodata",
    "parse_devicecmd",
    "parse_fingers",
    "parse_info",
    "parse_operlog",
    "timezone_option",
    "userinfo_command",
]

#: ZKTeco's own server sends at most this many commands, and this many bytes, per poll.
MAX_COMMANDS_PER_POLL = 200
MAX_COMMAND_BYTES = 40 * 1024
#: Longer than any PIN a terminal enrols (ZK: 9 digits, newer 24 characters).
MAX_PIN_LENGTH = 24
#: One command's text: a USERINFO line is well under 1 KB; a FINGERTMP line carries one
#: template in base64 (a ZKFinger 10 template is at most 2 KB: 2.7 KB of base64).
MAX_COMMAND_LENGTH = 4096
#: The ``TMP=`` of a FINGERTMP command as it waits in the queue: the receiver puts the stored
#: (encrypted) template in only when it sends the command, so the queue holds no biometrics.
STORED_TEMPLATE = "@stored"
#: A BIODATA command carries one face/palm template: a visible-light face template is some
#: KB of base64, still well inside one poll's 40 KB.
MAX_BIODATA_LENGTH = 32 * 1024

#: BIODATA ``Type=`` values (the PUSH protocol's "unified template" table): 0 general,
#: 1 fingerprint, 2 face (near-infrared), 3 voiceprint, 4 iris, 5 retina, 6 palm print,
#: 7 finger vein, 8 palm, 9 visible-light face.
BIODATA_FINGER = 1
BIODATA_TYPES = {
    0: "general",
    1: "fingerprint",
    2: "face",
    3: "voiceprint",
    4: "iris",
    5: "retina",
    6: "palm print",
    7: "finger vein",
    8: "palm",
    9: "visible-light face",
}
#: A ``LineProblem`` quotes this much of the line.
PROBLEM_TEXT = 120
#: A ``TimeOffset`` beyond this (seconds) is not an offset but noise: ignored.
MAX_TIME_OFFSET = 86_400

#: Never sent by punchd: CLEAR LOG/DATA delete attendance records on the device, SHELL runs a
#: command on its operating system.
FORBIDDEN_COMMANDS = ("CLEAR LOG", "CLEAR DATA", "SHELL")
#: The verbs punchd may queue, longest first (so "DATA UPDATE USERINFO" wins over shorter).
ALLOWED_COMMANDS = (
    "DATA UPDATE BIODATA",
    "DATA UPDATE FINGERTMP",
    "DATA UPDATE USERINFO",
    "DATA DELETE USERINFO",
    "DATA QUERY ATTLOG",
    "VERIFY SUM ATTLOG",
    "SET OPTION",
    "REBOOT",
    "CHECK",
    "INFO",
    "LOG",
)
_NO_ARGUMENTS = frozenset({"REBOOT", "CHECK", "INFO", "LOG"})
_NEEDS_PIN = frozenset(
    {
        "DATA UPDATE USERINFO",
        "DATA DELETE USERINFO",
        "DATA UPDATE FINGERTMP",
        "DATA UPDATE BIODATA",
    }
)
_NEEDS_RANGE = frozenset({"DATA QUERY ATTLOG", "VERIFY SUM ATTLOG"})

#: ``Return=`` of a DATA DELETE USERINFO whose PIN the clock does not hold.
PIN_NOT_ON_DEVICE = -10
#: ``Return=`` of a command the clock has no room for.
CAPACITY_FULL = -1001

#: ``Return=`` codes of a command result.
RETURN_CODES = {
    0: "ok",
    -1: "parameter error",
    -10: "PIN not on the device",
    -1001: "capacity exceeded",
    -1002: "unsupported",
    -1003: "timeout",
    -1005: "busy",
}

#: OPERLOG record types that are taken (counted in ``OK: n``) but carry nothing punchd keeps.
OPERLOG_COUNTED = frozenset({"OPLOG", "FP", "BIODATA", "FACE", "USERPIC", "BIOPHOTO", "FVEIN"})

_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S")
_CANONICAL_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # control characters except TAB
_ANY_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_COMMAND_ID = re.compile(r"[A-Za-z0-9]{1,16}")
_STAMP = re.compile(r"[0-9A-Za-z]{1,32}")
_POSITIONAL_INFO = (
    "fw",
    "users",
    "fps",
    "logs",
    "ip",
    "fp_alg",
    "face_alg",
    "face_enroll",
    "faces",
    "functions",
)


@dataclass(frozen=True)
class AttLog:
    """One ATTLOG line."""

    pin: str
    when: datetime  # naive: the device's wall clock (+ TimeOffset s if sent)
    status: int | None  # 0..5, 255 …; None when absent/blank
    verify: int | None
    workcode: str | None


@dataclass(frozen=True)
class UserRecord:
    """An OPERLOG ``USER PIN=…`` line (the ``USER`` prefix is optional)."""

    pin: str
    name: str
    privilege: int
    card: str | None
    password_set: bool


@dataclass(frozen=True)
class FingerRecord:
    """An OPERLOG ``FP PIN=…\tFID=…\tSize=…\tValid=…\tTMP=…`` line: one finger."""

    pin: str
    finger: int
    valid: int
    template: bytes = field(repr=False)


@dataclass(frozen=True)
class BioRecord:
    """An OPERLOG ``BIODATA Pin=…\tNo=…\tIndex=…\tValid=…\tDuress=…\tType=…\tMajorVer=…
    \tMinorVer=…\tFormat=…\tTmp=<base64>`` line: one template of the unified ("BIODATA")
    table — a face, palm, finger …, ``bio_type`` saying which (:data:`BIODATA_TYPES`)."""

    pin: str
    bio_type: int
    no: int
    index: int
    valid: int
    duress: int
    major_ver: str
    minor_ver: str
    format: int
    template: bytes = field(repr=False)


@dataclass(frozen=True)
class LineProblem:
    """A line that was not taken, and why (for the log)."""

    line_no: int  # 1-based, counting blank lines
    reason: str
    text: str  # cut to 120 characters, control characters escaped


@dataclass(frozen=True)
class CommandResult:
    """One ``ID=…&Return=…&CMD=…`` of a devicecmd post (with any further ``k=v``)."""

    id: str
    code: int
    command: str
    fields: dict[str, str] = field(default_factory=dict)


# -- decoding -------------------------------------------------------------------------


def decode(body: bytes) -> str:
    """UTF-8 (a BOM dropped), else GB18030, else UTF-8 with replacement; never raises."""
    if body.startswith(b"\xef\xbb\xbf"):
        body = body[3:]
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return body.decode("gb18030")
    except UnicodeDecodeError:
        return body.decode("utf-8", errors="replace")


def _lines(body: bytes) -> list[tuple[int, str]]:
    """``(line number, text)`` of the non-blank lines, CR and BOM dropped.

    Each line is decoded on its own: one GB2312 name must not turn the UTF-8 lines around
    it into mojibake.
    """
    out = []
    for number, raw in enumerate(body.split(b"\n"), start=1):
        text = decode(raw).replace("\ufeff", "").rstrip("\r")
        if text.strip(" \t\r\x00"):
            out.append((number, text))
    return out


def _quote(text: str) -> str:
    """The line for a log message: control characters escaped, cut to 120 characters."""
    shown = _ANY_CONTROL.sub(
        lambda m: "\\t" if m.group() == "\t" else f"\\x{ord(m.group()):02x}", text
    )
    return shown if len(shown) <= PROBLEM_TEXT else shown[: PROBLEM_TEXT - 1] + "…"


def _problem(number: int, reason: str, text: str) -> LineProblem:
    return LineProblem(number, reason, _quote(text))


def _pin_problem(pin: str) -> str | None:
    if not pin:
        return "empty PIN"
    if len(pin) > MAX_PIN_LENGTH:
        return f"PIN longer than {MAX_PIN_LENGTH} characters"
    if _ANY_CONTROL.search(pin):
        return "control character in PIN"
    return None


def _parse_time(text: str) -> datetime | None:
    if _CANONICAL_TIME.fullmatch(text):
        # Nearly every line: parsed in C, a sixth of strptime's cost (uploads are CPU work
        # under the interpreter lock that the receiver's heartbeats share)
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            pass  # a 13th month, a 61st second …: strptime below says the same
    text = " ".join(text.split())
    for fmt in _TIME_FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None


def _small_int(text: str | None, low: int, high: int) -> int | None:
    """An integer field within ``low..high``; None when blank, garbled or out of range."""
    if text is None:
        return None
    text = text.strip()
    try:
        value = int(text)
    except ValueError:
        return None
    return value if low <= value <= high else None


# -- ATTLOG ---------------------------------------------------------------------------


def _attlog_fields(text: str) -> list[str]:
    if "\t" in text:
        return text.split("\t")
    # Some firmware (and hand-made test files) separate by spaces: the time then spans two
    # tokens, "PIN YYYY-MM-DD HH:MM:SS status …".
    tokens = text.split()
    if len(tokens) >= 3:
        return [tokens[0], f"{tokens[1]} {tokens[2]}", *tokens[3:]]
    return tokens


def parse_attlog(body: bytes) -> tuple[list[AttLog], list[LineProblem]]:
    """The punches of an ``ATTLOG`` post, and the lines not taken.

    ``PIN \\t time \\t status \\t verify \\t workcode \\t … [\\t TimeOffset \\t ExtendData]``:
    only PIN and time are required. A garbled status, verify or workcode does not cost the
    punch (it is taken with None); a garbled or absurd ``TimeOffset`` is ignored.
    """
    records: list[AttLog] = []
    problems: list[LineProblem] = []
    for number, text in _lines(body):
        fields = [f.strip(" \r\x00") for f in _attlog_fields(text)]
        if len(fields) < 2:
            problems.append(_problem(number, "too few fields (need PIN and time)", text))
            continue
        pin = fields[0]
        reason = _pin_problem(pin)
        if reason:
            problems.append(_problem(number, reason, text))
            continue
        when = _parse_time(fields[1])
        if when is None:
            problems.append(_problem(number, "time does not parse", text))
            continue

        def at(i: int, fields: list[str] = fields) -> str | None:
            return fields[i] if i < len(fields) and fields[i] else None

        offset = _small_int(at(10), -MAX_TIME_OFFSET, MAX_TIME_OFFSET)
        if offset:
            try:
                when += timedelta(seconds=offset)
            except OverflowError:
                problems.append(_problem(number, "time out of range with TimeOffset", text))
                continue
        workcode = at(4)
        if workcode is not None:
            workcode = _CONTROL.sub("", workcode)[:MAX_PIN_LENGTH] or None
        records.append(
            AttLog(
                pin=pin,
                when=when,
                status=_small_int(at(2), 0, 255),
                verify=_small_int(at(3), 0, 65535),
                workcode=workcode,
            )
        )
    return records, problems


def format_attlog(record: AttLog, *, fields: int = 7, time_offset: int = 0) -> str:
    """One ATTLOG line as a device sends it (5, 7 or 12 fields), without the LF.

    With 12 fields, ``time_offset`` goes in the TimeOffset field and is subtracted from the
    wall-clock time written, so that the receiver's sum is ``record.when`` again.
    """
    if fields not in (5, 7, 12):
        raise ValueError(f"an ATTLOG line has 5, 7 or 12 fields, not {fields}")
    when = record.when - timedelta(seconds=time_offset) if fields == 12 else record.when
    values = [
        record.pin,
        when.strftime("%Y-%m-%d %H:%M:%S"),
        "" if record.status is None else str(record.status),
        "" if record.verify is None else str(record.verify),
        record.workcode or "0",
    ]
    if fields >= 7:
        values += ["", ""]
    if fields == 12:
        values += ["0", "", "", str(time_offset), ""]
    return "\t".join(values)


# -- OPERLOG --------------------------------------------------------------------------


def _key_values(text: str) -> dict[str, str]:
    """``k=v`` pairs separated by TAB; keys lower-cased (firmware writes PIN, Pin, pin)."""
    pairs: dict[str, str] = {}
    for part in text.split("\t"):
        key, sep, value = part.partition("=")
        if sep:
            pairs[key.strip().lower()] = value.strip(" \r\x00")
    return pairs


def _user(number: int, text: str, body: str) -> UserRecord | LineProblem:
    pairs = _key_values(body)
    pin = pairs.get("pin", "")
    reason = _pin_problem(pin)
    if reason:
        return _problem(number, f"USER: {reason}", text)
    card = pairs.get("card", "").strip("[]")
    return UserRecord(
        pin=pin,
        name=_CONTROL.sub("", pairs.get("name", "")),
        privilege=_small_int(pairs.get("pri"), 0, 255) or 0,
        card=card if card and card.strip("0") else None,
        password_set=bool(pairs.get("passwd")),
    )


def parse_operlog(body: bytes) -> tuple[list[UserRecord], int, list[LineProblem]]:
    """The users of an ``OPERLOG`` post, the lines taken in all, and the lines not taken.

    ``USER PIN=…`` (or just ``PIN=…``) lines are users; OPLOG, FP, BIODATA (and the other
    template types) are taken and counted, as a device needs them counted in ``OK: n``.
    """
    users: list[UserRecord] = []
    taken = 0
    problems: list[LineProblem] = []
    for number, text in _lines(body):
        stripped = text.lstrip(" \x00")
        head, _, rest = stripped.partition(" ")
        kind = head.split("\t", 1)[0].upper()
        if kind == "USER" or stripped.upper().startswith("PIN="):
            found = _user(number, text, rest if kind == "USER" else stripped)
            if isinstance(found, LineProblem):
                problems.append(found)
            else:
                users.append(found)
                taken += 1
        elif kind in OPERLOG_COUNTED:
            taken += 1
        else:
            problems.append(_problem(number, f"unknown OPERLOG record type {kind[:16]!r}", text))
    return users, taken, problems


def _template_lines(body: bytes, head: str) -> Iterator[tuple[str, dict[str, str], bytes]]:
    """(PIN, fields by lower-case name, template) of an ``OPERLOG`` post's lines of type
    ``head`` (``FP``, ``BIODATA``) with a valid PIN and a non-empty base64 template."""
    for _number, text in _lines(body):
        tag, _, rest = text.lstrip(" \x00").partition(" ")
        if tag.upper() != head:
            continue
        pairs = _key_values(rest)
        pin = pairs.get("pin", "")
        if _pin_problem(pin):
            continue
        try:
            template = base64.b64decode(pairs.get("tmp", ""), validate=True)
        except (ValueError, binascii.Error):
            continue
        if template:
            yield pin, pairs, template


def parse_fingers(body: bytes) -> list[FingerRecord]:
    """The fingers of an ``OPERLOG`` post's ``FP`` lines (the ones that parse: PIN, FID
    0..9, base64 TMP; the others are counted by :func:`parse_operlog` and dropped)."""
    fingers: list[FingerRecord] = []
    for pin, pairs, template in _template_lines(body, "FP"):
        finger = _small_int(pairs.get("fid"), 0, 9)
        if finger is None:
            continue
        valid = _small_int(pairs.get("valid"), 0, 255)
        fingers.append(FingerRecord(pin, finger, 1 if valid is None else valid, template))
    return fingers


def parse_biodata(body: bytes) -> list[BioRecord]:
    """The templates of an ``OPERLOG`` post's ``BIODATA`` lines that parse (PIN, Type, a
    base64 Tmp; No, Index, Valid, Duress, Format default to 0/1/0/0/0, the versions to
    "0"); the others are counted by :func:`parse_operlog` and dropped. Field names are
    matched case-blind: firmware writes ``Pin``/``PIN``, ``MinorVer ``…"""
    records: list[BioRecord] = []
    for pin, pairs, template in _template_lines(body, "BIODATA"):
        bio_type = _small_int(pairs.get("type"), 0, 255)
        if bio_type is None:
            continue

        def number(key: str, default: int, pairs: dict[str, str] = pairs) -> int:
            value = _small_int(pairs.get(key), 0, 65535)
            return default if value is None else value

        def version(key: str, pairs: dict[str, str] = pairs) -> str:
            return _CONTROL.sub("", pairs.get(key, "")).strip()[:16] or "0"

        records.append(
            BioRecord(
                pin=pin,
                bio_type=bio_type,
                no=number("no", 0),
                index=number("index", 0),
                valid=number("valid", 1),
                duress=number("duress", 0),
                major_ver=version("majorver"),
                minor_ver=version("minorver"),
                format=number("format", 0),
                template=template,
            )
        )
    return records


# -- enrolment commands ---------------------------------------------------------------


def _value(text: str | None) -> str:
    """A field value that cannot break a command line (no TAB, no control character)."""
    return _ANY_CONTROL.sub(" ", text or "").strip()


def userinfo_command(pin: str, name: str, privilege: int, card: str | None) -> str:
    """``DATA UPDATE USERINFO`` adding or changing one user (no password: punchd sets none)."""
    return (
        f"DATA UPDATE USERINFO PIN={_value(pin)}\tName={_value(name)}\tPri={int(privilege)}"
        f"\tPasswd=\tCard={_value(card)}"
    )


def delete_user_command(pin: str) -> str:
    """``DATA DELETE USERINFO``: the user with their templates."""
    return f"DATA DELETE USERINFO PIN={_value(pin)}"


def fingertmp_command(pin: str, finger: int, size: int, valid: int, tmp: str) -> str:
    """``DATA UPDATE FINGERTMP`` writing one finger; ``tmp`` the base64 template, or
    :data:`STORED_TEMPLATE` in the queue."""
    return (
        f"DATA UPDATE FINGERTMP PIN={_value(pin)}\tFID={int(finger)}\tSize={int(size)}"
        f"\tValid={int(valid)}\tTMP={tmp}"
    )


def biodata_command(
    pin: str,
    *,
    bio_type: int,
    no: int,
    index: int,
    valid: int,
    duress: int,
    major_ver: str,
    minor_ver: str,
    fmt: int,
    tmp: str,
) -> str:
    """``DATA UPDATE BIODATA`` writing one template (a face, a palm …); ``tmp`` the base64
    template, or :data:`STORED_TEMPLATE` in the queue. The fields and their order are the
    PUSH SDK's ``Command_UpdateBioData`` ("DATA UPDATE BIODATA Pin={0}\tNo={1}\tIndex={2}
    \tValid={3}\tDuress={4}\tType={5}\tMajorVer={6}\tMinorVer ={7}\tFormat={8}\tTmp={9}",
    ZKTeco's PUSH SDK demo as published in open iclock servers; punchd writes
    ``MinorVer=`` without that stray space)."""
    return (
        f"DATA UPDATE BIODATA Pin={_value(pin)}\tNo={int(no)}\tIndex={int(index)}"
        f"\tValid={int(valid)}\tDuress={int(duress)}\tType={int(bio_type)}"
        f"\tMajorVer={_value(major_ver)}\tMinorVer={_value(minor_ver)}\tFormat={int(fmt)}"
        f"\tTmp={tmp}"
    )


def command_pairs(text: str) -> tuple[str, dict[str, str]]:
    """(the verb of a queued command as :data:`ALLOWED_COMMANDS` spells it, or its first
    word upper-cased; its ``k=v`` arguments, keys lower-cased)."""
    words = " ".join(text.split()).upper()
    for verb in ALLOWED_COMMANDS:
        if words == verb or words.startswith(verb + " "):
            pattern = r"\s+".join(verb.split())
            rest = re.sub(rf"(?i)^\s*{pattern}", "", text, count=1)
            return verb, _key_values(rest.strip(" "))
    return (words.split()[0] if words else ""), {}


# -- command results, INFO ------------------------------------------------------------


_RESULT_KEYS = {"id": "ID", "return": "Return", "cmd": "CMD"}


def _result_pairs(text: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for part in text.split("&"):
        key, sep, value = part.partition("=")
        if sep:
            pairs[key.strip()] = value.strip(" \r\x00")
    return pairs


def parse_devicecmd(body: bytes) -> list[CommandResult]:
    """The command results of a ``devicecmd`` post: one per ``ID=…&Return=…&CMD=…`` line.

    ``k=v`` lines after a result (an INFO reply's ``~DeviceName=…`` lines, a VERIFY SUM's
    ``AttlogSum=…``) go into that result's ``fields``, as do extra ``&k=v`` pairs. Lines
    with no ID or no integer Return are skipped: the command is re-sent later.
    """
    results: list[CommandResult] = []
    current: dict[str, str] | None = None
    extra: dict[str, str] = {}

    def close() -> None:
        if current is None:
            return
        ident = current.get("ID", "")
        code = _small_int(current.get("Return"), -(2**31), 2**31 - 1)
        if ident and code is not None:
            fields = {k: v for k, v in current.items() if k not in ("ID", "Return", "CMD")}
            fields.update(extra)
            results.append(CommandResult(ident, code, current.get("CMD", ""), fields))

    for _, text in _lines(body):
        text = text.strip(" \x00")
        if text[:3].upper() == "ID=":
            close()
            pairs = _result_pairs(text)
            current = {_RESULT_KEYS.get(k.lower(), k): v for k, v in pairs.items()}
            extra = {}
        elif current is not None and "=" in text:
            extra.update(parse_info(text))
    close()
    return results


def parse_info(text: str) -> dict[str, str]:
    """``k=v`` lines or comma-separated pairs (INFO replies, the ``options`` table).

    A leading ``~`` on a key (``~DeviceName``) is dropped. The positional form of the
    ``getrequest`` ``INFO=`` parameter (``Ver 6.60,100,0,5000,192.168.1.201,…``: no ``=``)
    is named: fw, users, fps, logs, ip, fp_alg, face_alg, face_enroll, faces, functions.
    """
    parts = [p.strip(" \r\t\x00") for p in re.split(r"[\n,]", text)]
    parts = [p for p in parts if p]
    if parts and not any("=" in p for p in parts):
        return dict(zip(_POSITIONAL_INFO, parts, strict=False))
    pairs: dict[str, str] = {}
    for part in parts:
        key, sep, value = part.partition("=")
        key = key.strip().lstrip("~")
        if sep and key:
            pairs[key] = value.strip()
    return pairs


# -- replies ----------------------------------------------------------------------------


def clean_stamp(value: str | None) -> str | None:
    """A device's ``Stamp=`` if it can be echoed in a handshake (alphanumeric, 1..32
    characters), else None (the device then re-uploads by its own records)."""
    if value is None:
        return None
    value = value.strip()
    return value if _STAMP.fullmatch(value) and value != "None" else None


def timezone_option(tz_minutes: int) -> str:
    """The handshake's ``TimeZone``: whole hours as hours, other zones in minutes.

    480 -> "8", 330 -> "330", -300 -> "-5", 0 -> "0".
    """
    if not -12 * 60 <= tz_minutes <= 14 * 60:
        raise ValueError(f"no time zone is {tz_minutes} minutes from UTC")
    if tz_minutes % 60 == 0:
        return str(tz_minutes // 60)
    return str(tz_minutes)


def handshake_reply(
    serial: str,
    *,
    attlog_stamp: str | None,
    tz_minutes: int,
    delay: int = 10,
    error_delay: int = 30,
) -> str:
    """The options block answering ``GET /iclock/cdata?…&options=all`` (LF line ends).

    ``TransFlag`` uses the string form (the bit form's order differs between firmware).
    OPERLOG is pinned at 9999: punchd takes USER lines but never needs old operation logs.
    """
    if _ANY_CONTROL.search(serial) or not serial:
        raise ValueError(f"serial {serial!r} cannot go in a handshake reply")
    if attlog_stamp is not None and clean_stamp(attlog_stamp) != attlog_stamp:
        raise ValueError(f"stamp {attlog_stamp!r} cannot go in a handshake reply")
    if delay < 1 or error_delay < 1:
        raise ValueError("Delay and ErrorDelay are whole seconds >= 1")
    lines = [
        f"GET OPTION FROM: {serial}",
        f"ATTLOGStamp={attlog_stamp or 'None'}",
        "OPERLOGStamp=9999",
        "ATTPHOTOStamp=None",
        f"ErrorDelay={error_delay}",
        f"Delay={delay}",
        "TransTimes=00:00;14:05",
        "TransInterval=1",
        "TransFlag=TransData AttLog\tOpLog\tEnrollUser\tChgUser",
        f"TimeZone={timezone_option(tz_minutes)}",
        "Realtime=1",
        "Encrypt=None",
    ]
    return "\n".join(lines) + "\n"


def acknowledge(n: int) -> str:
    """``OK: <n>``: the records taken. Never a bare ``OK`` for a data post (some firmware
    then re-sends the same batch for ever)."""
    if n < 0:
        raise ValueError(f"cannot acknowledge {n} records")
    return f"OK: {n}"


def _has_time(args: str, key: str) -> bool:
    for part in args.split("\t"):
        name, _, value = part.partition("=")
        if name.strip().lower() == key.lower():
            return _parse_time(value) is not None
    return False


def check_command(text: str) -> str:
    """The command normalised (verb upper-case, single-spaced), or ValueError.

    Refused: the forbidden commands (CLEAR LOG, CLEAR DATA, SHELL), control characters
    other than TAB (a line feed would smuggle in a second command), unknown verbs, missing
    arguments (a PIN for USERINFO, StartTime/EndTime for ranges).
    """
    if _CONTROL.search(text):
        raise ValueError("a command cannot contain control characters (other than TAB)")
    text = text.strip(" \t")
    if not text:
        raise ValueError("empty command")
    limit = MAX_COMMAND_LENGTH
    if re.match(r"(?i)DATA\s+UPDATE\s+BIODATA(?=[ \t]|$)", text):
        limit = MAX_BIODATA_LENGTH
    if len(text) > limit:
        raise ValueError(f"command longer than {limit} characters")
    words = " ".join(text.split()).upper()
    for forbidden in FORBIDDEN_COMMANDS:
        if words == forbidden or words.startswith(forbidden + " "):
            raise ValueError(f"{forbidden} is never sent by punchd")
    for verb in ALLOWED_COMMANDS:
        pattern = r"\s+".join(verb.split())
        match = re.match(rf"(?i){pattern}(?=[ \t]|$)", text)
        if match is None:
            continue
        args = text[match.end() :].strip(" \t")
        if verb in _NO_ARGUMENTS and args:
            raise ValueError(f"{verb} takes no arguments")
        if verb in _NEEDS_PIN:
            pin = _key_values(args).get("pin", "")
            reason = _pin_problem(pin)
            if reason:
                raise ValueError(f"{verb} needs PIN=… ({reason})")
        if verb in _NEEDS_RANGE and not (
            _has_time(args, "StartTime") and _has_time(args, "EndTime")
        ):
            raise ValueError(f"{verb} needs StartTime=YYYY-MM-DD HH:MM:SS and EndTime=…")
        if verb == "SET OPTION" and "=" not in args:
            raise ValueError("SET OPTION needs key=value")
        return f"{verb} {args}" if args else verb
    raise ValueError(
        f"unknown command {words.split()[0]!r}; punchd sends only {', '.join(ALLOWED_COMMANDS)}"
    )


def fit_commands(commands: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The first of ``commands`` (id, checked text) that fit one poll: at most 200 and
    40 KB. The rest wait for the next poll."""
    fitted: list[tuple[str, str]] = []
    size = 0
    for ident, text in commands:
        if not _COMMAND_ID.fullmatch(ident):
            raise ValueError(f"command id {ident!r} is not 1..16 letters and digits")
        command = check_command(text)
        line = len(f"C:{ident}:{command}\n".encode())
        if len(fitted) >= MAX_COMMANDS_PER_POLL or size + line > MAX_COMMAND_BYTES:
            break
        fitted.append((ident, command))
        size += line
    return fitted


def command_lines(commands: Sequence[tuple[str, str]]) -> str:
    """``C:<id>:<command>\\n`` lines for a ``getrequest`` reply, capped (``fit_commands``).

    Empty when there is nothing to send: the receiver then answers ``OK``.
    """
    return "".join(f"C:{ident}:{command}\n" for ident, command in fit_commands(commands))
