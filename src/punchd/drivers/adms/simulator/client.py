"""Virtual push clocks: HTTP clients that behave like a ZKTeco ADMS terminal.

``PushClock`` is one device (serial, users, punches, its own clock); ``PushFleet`` runs N of
them, a thread each, against one server URL. They speak real HTTP (``http.client``) and
follow the note's "faithful device simulator" (docs/adms.md): handshake, a ``getrequest``
every ``Delay`` s, commands executed and their results posted, punches uploaded in batches
of at most 128 after an upload cursor that moves only by the ``n`` of ``OK: n``, the same
batch re-sent after ``ErrorDelay`` on a timeout, a connection error or a non-2xx reply.
``speed`` divides every wait (Delay, ErrorDelay) so tests run in a fraction of a second.
"""

from __future__ import annotations

import base64
import binascii
import http.client
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import quote, urlsplit

from punchd.drivers.adms import protocol as p
from punchd.drivers.adms.simulator.data import SimPunch, SimUser, generate
from punchd.drivers.adms.simulator.faults import Fault, parse_faults

__all__ = ["BATCH", "ClockCounters", "PushClock", "PushFleet"]

#: Records in one ATTLOG post, as ZKTeco firmware sends them.
BATCH = 128
#: Until the handshake says otherwise.
DEFAULT_DELAY = 10
DEFAULT_ERROR_DELAY = 30
FIRMWARE = "Ver 8.0.4.3-punchd-sim"
_ACK = re.compile(r"^\s*OK:\s*(\d+)\s*$")
_COMMAND = re.compile(r"^C:([^:]{1,64}):(.*)$")
#: How a time looks in a DATA QUERY / VERIFY SUM range.
_RANGE_TIME = "%Y-%m-%d %H:%M:%S"


@dataclass
class ClockCounters:
    handshakes: int = 0
    refused: int = 0  # non-2xx handshakes (an unknown serial: 403)
    polls: int = 0
    uploads: int = 0  # ATTLOG posts sent (re-sends included)
    resent: int = 0  # of those, posts whose first record had been sent before
    acked: int = 0  # records the cursor moved over (by OK: n)
    bare_resent: int = 0  # of the re-sent posts, those of the bare-ok-resend fault
    lost_acks: int = 0  # replies dropped by the lost-ack fault
    failures: int = 0  # timeouts, connection errors, non-2xx, unreadable replies
    commands: int = 0  # commands executed (answered, -1002 included)
    results_posted: int = 0  # devicecmd posts


class _Failed(Exception):
    """One request did not get a usable reply: wait ErrorDelay, then try again."""


class PushClock:
    """One virtual push terminal. ``run(stop)`` is its life; tests read its state after."""

    def __init__(
        self,
        server: str,
        serial: str,
        *,
        users: Iterable[SimUser] = (),
        punches: Iterable[SimPunch] = (),
        faults: Iterable[str | Fault] = (),
        speed: float = 1.0,
        delay: float | None = None,
        clock_offset: float = 0.0,
        tz_minutes: int = 0,
        timeout: float = 10.0,
        on_caught_up: Callable[[PushClock], None] | None = None,
        capacity: int | None = None,
        fingers: Mapping[str, Mapping[int, bytes]] | None = None,
        face_version: str | None = None,
    ) -> None:
        url = urlsplit(server if "://" in server else f"http://{server}")
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"server must be an http(s) URL, not {server!r}")
        self.server = server
        self._scheme, self._host, self._port = url.scheme, url.hostname, url.port
        self._base = url.path.rstrip("/")
        self.serial = serial
        self.faults = parse_faults(faults)
        self.speed = speed
        self.delay_override = delay
        self.timeout = timeout
        self.on_caught_up = on_caught_up
        self.users: dict[str, SimUser] = {u.pin: u for u in users}
        #: users the clock holds at most (None: no limit): one more is refused with -1001
        self.capacity = capacity
        #: PIN → finger → (template, valid): the enrolled fingerprints
        self.fingers: dict[str, dict[int, tuple[bytes, int]]] = {
            pin: {f: (t, 1) for f, t in prints.items()} for pin, prints in (fingers or {}).items()
        }
        #: the major version of the clock's face algorithm (reported in the first poll's
        #: INFO; None: a clock without faces): a BIODATA face of another version is refused
        self.face_version = face_version
        #: PIN → (type, no, index) → the BIODATA line's fields (Valid, Duress, MajorVer,
        #: MinorVer, Format) and template: the enrolled faces (and palms)
        self.faces: dict[str, dict[tuple[int, int, int], tuple[dict[str, str], bytes]]] = {}
        #: OPERLOG lines to upload (a change made by a command or at the device)
        self._reports: list[str] = []
        self.punches: list[SimPunch] = list(self._with_faults(list(punches)))
        self.cursor = 0  # punches[:cursor] are acknowledged
        self.counters = ClockCounters()
        self.results: list[str] = []  # every command result line posted (for tests)
        self.delay = DEFAULT_DELAY
        self.error_delay = DEFAULT_ERROR_DELAY
        self.server_stamp: str | None = None
        self.server_options: dict[str, str] = {}
        # The device clock: wall time = monotonic + offset; zone from the handshake.
        self.tz_minutes = tz_minutes
        self._clock_base = datetime.now(UTC).replace(tzinfo=None) + timedelta(
            minutes=tz_minutes, seconds=clock_offset
        )
        self._clock_mono = time.monotonic()
        self._lock = threading.Lock()
        self._conn: http.client.HTTPConnection | None = None
        self._sent_upto = 0  # highest punch index ever sent + 1 (re-send detection)
        self._repeats = 0  # re-sends of the batch in hand by the bare-ok-resend fault
        self._requery: deque[list[SimPunch]] = deque()  # DATA QUERY ATTLOG re-uploads
        self._pending_results: list[str] = []
        self._need_handshake = True
        self._first_poll = True
        self._users_posted = False
        self._caught_up_reported = False
        self._wake = threading.Event()

    # -- data ---------------------------------------------------------------------------
    def _with_faults(self, punches: list[SimPunch]) -> Iterable[SimPunch]:
        power = self.faults.get("power-loss")
        every = int(power.arg() or 50) if power else 0
        for i, punch in enumerate(punches):
            if "state-255" in self.faults:
                punch = SimPunch(punch.pin, punch.when, 255, punch.verify, punch.workcode)
            if every and (i + 1) % every == 0:
                # A clock that lost its time counts up from 2000-01-01 00:00:00.
                when = datetime(2000, 1, 1) + timedelta(seconds=i)
                punch = SimPunch(punch.pin, when, punch.status, punch.verify, punch.workcode)
            yield punch

    def add_punches(self, punches: Iterable[SimPunch]) -> None:
        """New records on the device (Realtime: uploaded at once)."""
        with self._lock:
            self.punches.extend(self._with_faults(list(punches)))
            self._caught_up_reported = False
        self._wake.set()

    def device_now(self) -> datetime:
        """The device's wall clock (naive local time), as synced from the server."""
        return self._clock_base + timedelta(seconds=time.monotonic() - self._clock_mono)

    def caught_up(self) -> bool:
        """Every punch acknowledged and no re-query upload waiting."""
        with self._lock:
            return self.cursor >= len(self.punches) and not self._requery

    # -- HTTP ---------------------------------------------------------------------------
    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            cls = (
                http.client.HTTPSConnection
                if self._scheme == "https"
                else http.client.HTTPConnection
            )
            self._conn = cls(self._host, self._port, timeout=self.timeout)
        return self._conn

    def _drop_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _request(
        self, method: str, path: str, query: str, body: bytes | None = None
    ) -> tuple[int, str, http.client.HTTPResponse]:
        url = f"{self._base}/iclock/{path}?SN={quote(self.serial)}{query}"
        headers = {"User-Agent": "iClock Proxy/1.09", "Connection": "keep-alive"}
        if body is not None:
            headers["Content-Type"] = "text/plain"
        try:
            conn = self._connection()
            conn.request(method, url, body=body, headers=headers)
            reply = conn.getresponse()
            text = p.decode(reply.read())
        except (OSError, http.client.HTTPException) as exc:
            self._drop_connection()
            self.counters.failures += 1
            raise _Failed(f"{method} {path}: {exc}") from None
        if reply.will_close:
            self._drop_connection()
        if not 200 <= reply.status < 300:
            self.counters.failures += 1
            raise _Failed(f"{method} {path}: HTTP {reply.status}")
        return reply.status, text, reply

    def _sleep(self, stop: threading.Event, seconds: float) -> None:
        stop.wait(seconds / self.speed)

    # -- the life of the device ---------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Talk to the server until ``stop`` is set."""
        next_poll = 0.0
        try:
            while not stop.is_set():
                try:
                    if self._need_handshake:
                        self.handshake()
                        next_poll = 0.0
                    if not self._users_posted:
                        self.post_users()
                    if time.monotonic() >= next_poll:
                        self.poll()
                        next_poll = time.monotonic() + self._poll_every() / self.speed
                    if self._pending_results:
                        self.post_results()
                    if self._reports:
                        self.post_operlog()
                    if self.upload_once():
                        continue
                except _Failed:
                    self._sleep(stop, self.error_delay)
                    continue
                self._report_caught_up()
                self._wake.wait(max(0.0, next_poll - time.monotonic()))
                self._wake.clear()
        finally:
            self._drop_connection()

    def _poll_every(self) -> float:
        return self.delay if self.delay_override is None else self.delay_override

    def _report_caught_up(self) -> None:
        if self.on_caught_up is None or self._caught_up_reported or not self.caught_up():
            return
        self._caught_up_reported = True
        self.on_caught_up(self)

    def handshake(self) -> None:
        """``GET cdata?options=all``: Delay, ErrorDelay, stamp, zone, and the clock."""
        self.counters.handshakes += 1
        try:
            _, text, reply = self._request("GET", "cdata", "&options=all&pushver=2.4.1&language=69")
        except _Failed as exc:
            if "HTTP 4" in str(exc):
                self.counters.refused += 1
            raise
        options = p.parse_info(text)
        self.server_options = options
        self.delay = _positive(options.get("Delay"), DEFAULT_DELAY)
        self.error_delay = _positive(options.get("ErrorDelay"), DEFAULT_ERROR_DELAY)
        self.server_stamp = options.get("ATTLOGStamp")
        if self.server_stamp == "0":
            # The server asks for everything again (a stamp of 0 re-uploads the table).
            with self._lock:
                self.cursor = 0
        zone = options.get("TimeZone")
        if zone is not None and re.fullmatch(r"-?\d{1,4}", zone.strip()):
            value = int(zone)
            self.tz_minutes = value * 60 if -14 <= value <= 14 else value
        date_header = reply.getheader("Date")
        if date_header:
            try:
                utc = parsedate_to_datetime(date_header).astimezone(UTC).replace(tzinfo=None)
            except (TypeError, ValueError):
                utc = None
            if utc is not None:
                self._clock_base = utc + timedelta(minutes=self.tz_minutes)
                self._clock_mono = time.monotonic()
        self._need_handshake = False
        self._first_poll = True

    @staticmethod
    def _user_line(u: SimUser) -> str:
        return (
            f"USER PIN={u.pin}\tName={u.name}\tPri={u.privilege}\tPasswd={u.password}\t"
            f"Card={u.card}\tGrp=1\tTZ=0000000100000000\tVerify=0"
        )

    @staticmethod
    def _finger_line(pin: str, finger: int, template: bytes, valid: int) -> str:
        tmp = base64.b64encode(template).decode("ascii")
        return f"FP PIN={pin}\tFID={finger}\tSize={len(tmp)}\tValid={valid}\tTMP={tmp}"

    @staticmethod
    def _bio_line(
        pin: str, place: tuple[int, int, int], fields: Mapping[str, str], tmp: bytes
    ) -> str:
        bio_type, no, index = place
        return (
            f"BIODATA Pin={pin}\tNo={no}\tIndex={index}\tValid={fields.get('valid', '1')}"
            f"\tDuress={fields.get('duress', '0')}\tType={bio_type}"
            f"\tMajorVer={fields.get('majorver', '0')}\tMinorVer={fields.get('minorver', '0')}"
            f"\tFormat={fields.get('format', '0')}\tTmp={base64.b64encode(tmp).decode('ascii')}"
        )

    def _oplog(self, op: int, who: str = "0") -> str:
        return f"OPLOG {op}\t0\t{self.device_now():%Y-%m-%d %H:%M:%S}\t{who}\t0\t0\t0"

    def post_users(self) -> None:
        """The OPERLOG ``USER`` lines of every enrolled user and ``FP`` lines of their
        fingers (once, at start)."""
        lines = [self._user_line(u) for u in self.users.values()]
        for pin, prints in self.fingers.items():
            lines += [self._finger_line(pin, f, t, v) for f, (t, v) in sorted(prints.items())]
        for pin, faces in self.faces.items():
            lines += [self._bio_line(pin, k, f, t) for k, (f, t) in sorted(faces.items())]
        lines.append(self._oplog(0))
        self._post_operlog(lines)
        self._users_posted = True

    def _post_operlog(self, lines: Sequence[str]) -> None:
        text = "\n".join(lines) + "\n"
        body = text.encode("gb18030") if "gb2312" in self.faults else text.encode()
        _, reply, _ = self._request("POST", "cdata", "&table=OPERLOG&Stamp=1", body)
        if not reply.strip().upper().startswith("OK"):
            self.counters.failures += 1
            raise _Failed(f"OPERLOG: unexpected reply {reply[:40]!r}")

    def post_operlog(self) -> None:
        """Upload the OPERLOG lines of the changes made since the last upload (as a clock
        does after a user is written, removed or enrolled: ``USER``, ``FP``, ``OPLOG``)."""
        with self._lock:
            lines = list(self._reports)
        if not lines:
            return
        self._post_operlog(lines)
        with self._lock:
            del self._reports[: len(lines)]

    def enrol_finger(self, pin: str, finger: int, template: bytes) -> None:
        """Someone enrols a finger at the clock (the user must be on it): uploaded at once."""
        with self._lock:
            if pin not in self.users:
                raise KeyError(pin)
            self.fingers.setdefault(pin, {})[finger] = (template, 1)
            self._reports += [self._finger_line(pin, finger, template, 1), self._oplog(30, pin)]
        self._wake.set()

    def enrol_face(self, pin: str, template: bytes, *, bio_type: int = 2, minor: str = "0") -> None:
        """Someone enrols their face at the clock (the user must be on it, the clock must
        have a face algorithm): a BIODATA line of the clock's version, uploaded at once."""
        with self._lock:
            if pin not in self.users:
                raise KeyError(pin)
            if self.face_version is None:
                raise ValueError(f"{self.serial} has no face algorithm")
            place = (bio_type, 0, 0)
            fields = {"majorver": self.face_version, "minorver": minor, "valid": "1"}
            self.faces.setdefault(pin, {})[place] = (fields, template)
            self._reports += [self._bio_line(pin, place, fields, template), self._oplog(30, pin)]
        self._wake.set()

    def poll(self) -> None:
        """``GET getrequest`` (the first time with INFO=…) and run what it carries."""
        query = ""
        if self._first_poll:
            with self._lock:
                logs = len(self.punches)
            faces = sum(len(f) for f in self.faces.values())
            face = self.face_version or "0"
            info = f"{FIRMWARE},{len(self.users)},0,{logs},127.0.0.1,10,{face},0,{faces},0"
            query = f"&INFO={quote(info)}"
        self.counters.polls += 1
        _, text, _ = self._request("GET", "getrequest", query)
        self._first_poll = False
        for line in text.splitlines():
            match = _COMMAND.match(line.strip("\r"))
            if match:
                self._pending_results.append(self.execute(match.group(1), match.group(2)))
        if self._pending_results:
            self.post_results()

    def post_results(self) -> None:
        """Command results to ``devicecmd``: one post each, or all in one (batched)."""
        while self._pending_results:
            if "batched-results" in self.faults:
                chunk = list(self._pending_results)
            else:
                chunk = self._pending_results[:1]
            body = ("\n".join(chunk) + "\n").encode()
            self._request("POST", "devicecmd", "", body)
            self.counters.results_posted += 1
            self.results.extend(chunk)
            del self._pending_results[: len(chunk)]

    # -- commands -----------------------------------------------------------------------
    def execute(self, ident: str, command: str) -> str:
        """Run one ``C:`` command; its result line (``ID=…&Return=…&CMD=…``, maybe more)."""
        self.counters.commands += 1
        words = command.split(None, 3)
        verb = " ".join(words[:3]).upper()
        name = (words[0] if words else "").upper()

        def result(code: int, extra: str = "") -> str:
            return f"ID={ident}&Return={code}&CMD={name}{extra}"

        if "unsupported" in self.faults and command.strip().upper() != "INFO":
            return result(-1002)
        args = command.split(None, 3)[3] if len(words) > 3 else ""
        if verb == "DATA UPDATE USERINFO":
            pairs = _pairs(args)
            pin = pairs.get("pin", "")
            if not pin:
                return result(-1)
            full = self.capacity is not None and len(self.users) >= self.capacity
            if pin not in self.users and full:
                return result(p.CAPACITY_FULL)
            old = self.users.get(pin, SimUser(pin))
            user = self.users[pin] = SimUser(
                pin,
                pairs.get("name", old.name),
                int(pairs["pri"]) if pairs.get("pri", "").isdigit() else old.privilege,
                pairs.get("card", old.card),
                pairs.get("passwd", old.password),
            )
            with self._lock:
                self._reports.append(self._user_line(user))
            return result(0)
        if verb == "DATA DELETE USERINFO":
            pin = _pairs(args).get("pin", "")
            if not pin:
                return result(-1)
            if pin not in self.users:
                return result(p.PIN_NOT_ON_DEVICE)
            del self.users[pin]
            self.fingers.pop(pin, None)  # the user goes with their templates
            self.faces.pop(pin, None)
            with self._lock:
                self._reports.append(self._oplog(9, pin))
            return result(0)
        if verb == "DATA UPDATE FINGERTMP":
            pairs = _pairs(args)
            pin = pairs.get("pin", "")
            fid = pairs.get("fid", "")
            tmp = pairs.get("tmp", "")
            if not pin or not fid.isdigit() or not 0 <= int(fid) <= 9:
                return result(-1)
            try:
                template = base64.b64decode(tmp, validate=True)
            except (ValueError, binascii.Error):
                return result(-1)
            if not template or pairs.get("size", str(len(tmp))) != str(len(tmp)):
                return result(-1)
            if pin not in self.users:
                return result(p.PIN_NOT_ON_DEVICE)
            valid = int(pairs["valid"]) if pairs.get("valid", "").isdigit() else 1
            self.fingers.setdefault(pin, {})[int(fid)] = (template, valid)
            with self._lock:
                self._reports.append(self._finger_line(pin, int(fid), template, valid))
            return result(0)
        if verb == "DATA UPDATE BIODATA":
            return result(self._update_biodata(args))
        if verb in ("DATA QUERY ATTLOG", "VERIFY SUM ATTLOG"):
            span = _range(args)
            if span is None:
                return result(-1)
            with self._lock:
                chosen = [r for r in self.punches if span[0] <= r.when <= span[1]]
            if verb == "VERIFY SUM ATTLOG":
                return result(0, f"\nAttlogSum={len(chosen)}")
            with self._lock:
                for i in range(0, len(chosen), BATCH):
                    self._requery.append(chosen[i : i + BATCH])
            return result(0)
        if command.strip().upper() == "INFO":
            with self._lock:
                logs = len(self.punches)
            info = (
                f"~DeviceName=punchd-sim\nMAC=00:17:61:00:00:01\nFWVersion={FIRMWARE}\n"
                f"UserCount={len(self.users)}\nTransactionCount={logs}\n"
                f"TimeZone={self.tz_minutes}"
            )
            return result(0, "\n" + info)
        if name in ("CHECK", "REBOOT") and len(words) == 1:
            self._need_handshake = True
            return result(0)
        if name == "LOG" and len(words) == 1:
            return result(0)
        if command.upper().startswith("SET OPTION "):
            key, _, value = command[len("SET OPTION ") :].partition("=")
            if key.strip() == "Delay" and value.strip().isdigit():
                self.delay = max(1, int(value))
            return result(0)
        return result(-1002)

    def _update_biodata(self, args: str) -> int:
        """``DATA UPDATE BIODATA``: a face (Type 2 or 9) of the clock's own algorithm major
        version is kept; another version, or a clock without faces, answers -1002 (as a
        clock answers what it cannot take); a user it does not hold -10; a garbled line -1."""
        pairs = _pairs(args)
        pin = pairs.get("pin", "")
        numbers = [pairs.get(k, "0") for k in ("type", "no", "index")]
        if not pin or not all(n.isdigit() for n in numbers):
            return -1
        try:
            template = base64.b64decode(pairs.get("tmp", ""), validate=True)
        except (ValueError, binascii.Error):
            return -1
        if not template:
            return -1
        bio_type, no, index = (int(n) for n in numbers)
        if bio_type not in (2, 9) or self.face_version is None:
            return -1002
        if pairs.get("majorver", "") != self.face_version:
            return -1002
        if pin not in self.users:
            return p.PIN_NOT_ON_DEVICE
        fields = {
            k: pairs.get(k, "0") for k in ("valid", "duress", "majorver", "minorver", "format")
        }
        self.faces.setdefault(pin, {})[(bio_type, no, index)] = (fields, template)
        with self._lock:
            self._reports.append(self._bio_line(pin, (bio_type, no, index), fields, template))
        return 0

    # -- uploads ------------------------------------------------------------------------
    def upload_once(self) -> bool:
        """Send one ATTLOG batch if there is one (re-queried ranges first); False if none.

        Raises ``_Failed`` (the batch is sent again after ErrorDelay) when the reply is lost,
        unusable or not 2xx.
        """
        with self._lock:
            requery = self._requery[0] if self._requery else None
            start = self.cursor
            batch = requery if requery is not None else self.punches[start : start + BATCH]
        if not batch:
            return False
        fields = int(self.faults["fields"].arg() or 7) if "fields" in self.faults else 7
        lines = [
            p.format_attlog(p.AttLog(r.pin, r.when, r.status, r.verify, r.workcode), fields=fields)
            for r in batch
        ]
        body = ("\n".join(lines) + "\n").encode()
        self.counters.uploads += 1
        if requery is None:
            if start < self._sent_upto:
                self.counters.resent += 1
            self._sent_upto = max(self._sent_upto, start + len(batch))
        _, text, _ = self._request("POST", "cdata", f"&table=ATTLOG&Stamp={start}", body)
        lost = self.faults.get("lost-ack")
        if lost and self.counters.uploads % int(lost.arg() or 3) == 0:
            self.counters.lost_acks += 1
            self.counters.failures += 1
            raise _Failed("lost acknowledgement")
        match = _ACK.match(text)
        if match:
            taken = min(int(match.group(1)), len(batch))
        elif text.strip().upper() == "OK":
            taken = len(batch)  # acknowledged, without saying how much: all of it
        else:
            self.counters.failures += 1
            raise _Failed(f"ATTLOG: unexpected reply {text[:40]!r}")
        bare = self.faults.get("bare-ok-resend")
        if bare:
            # Firmware that does not read the count: the reply looks like a bare OK, so the
            # batch goes again (TIMES more times), then it moves on by the whole batch.
            if self._repeats < int(bare.arg() or 1):
                self._repeats += 1
                self.counters.bare_resent += 1
                return True
            self._repeats, taken = 0, len(batch)
        with self._lock:
            if requery is not None:
                if taken >= len(batch):
                    self._requery.popleft()
                else:
                    self._requery[0] = batch[taken:]
            else:
                self.cursor = start + taken
                self.counters.acked += taken
        return True


def _positive(value: str | None, default: int) -> int:
    try:
        number = int(value) if value is not None else default
    except ValueError:
        return default
    return number if number > 0 else default


def _pairs(args: str) -> dict[str, str]:
    out = {}
    for part in args.split("\t"):
        key, sep, value = part.partition("=")
        if sep:
            out[key.strip().lower()] = value.strip()
    return out


def _range(args: str) -> tuple[datetime, datetime] | None:
    pairs = _pairs(args)
    try:
        return (
            datetime.strptime(pairs.get("starttime", ""), _RANGE_TIME),
            datetime.strptime(pairs.get("endtime", ""), _RANGE_TIME),
        )
    except ValueError:
        return None


class PushFleet:
    """N push clocks in one process (a thread each), serials ``<prefix>0001``…

    ``faults`` apply to every clock; ``groups`` (fault lists) are dealt out in turn, clock
    ``i`` (from 1) adding ``groups[(i - 1) % len(groups)]``, so one fleet mixes kinds of clock.
    """

    def __init__(
        self,
        server: str,
        devices: int,
        *,
        users: int = 20,
        punches: int = 1000,
        faults: Iterable[str | Fault] = (),
        groups: Sequence[Iterable[str | Fault]] = (),
        seed: int = 0,
        speed: float = 1.0,
        delay: float | None = None,
        prefix: str = "PSIM",
        timeout: float = 10.0,
        on_caught_up: Callable[[PushClock], None] | None = None,
    ) -> None:
        common = list(faults)
        kinds = [list(g) for g in groups] or [[]]
        self.clocks: list[PushClock] = []
        for i in range(1, devices + 1):
            fault_list = common + kinds[(i - 1) % len(kinds)]
            cjk = "gb2312" in parse_faults(fault_list)
            sim_users, sim_punches = generate(users, punches, seed=seed * 10_007 + i, cjk_names=cjk)
            self.clocks.append(
                PushClock(
                    server,
                    f"{prefix}{i:04d}",
                    users=sim_users,
                    punches=sim_punches,
                    faults=fault_list,
                    speed=speed,
                    delay=delay,
                    timeout=timeout,
                    on_caught_up=on_caught_up,
                )
            )
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self, stagger: float = 0.0) -> None:
        """Start every clock; ``stagger`` s spreads the starts (and so the heartbeats) evenly,
        as the clocks of a site come up at different times."""
        step = stagger / len(self.clocks) if self.clocks else 0.0
        for clock in self.clocks:
            if step and self._threads:
                self._stop.wait(step)
            thread = threading.Thread(
                target=clock.run, args=(self._stop,), name=f"push-{clock.serial}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        for clock in self.clocks:
            clock._wake.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads.clear()

    def wait_caught_up(self, timeout: float) -> bool:
        """True once every clock has every punch acknowledged (False at ``timeout``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(c.caught_up() for c in self.clocks):
                return True
            time.sleep(0.02)
        return all(c.caught_up() for c in self.clocks)

    def __enter__(self) -> PushFleet:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
