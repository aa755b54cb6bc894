"""Anviz TC_B card clocks on a pty (a serial line) or TCP, speaking the protocol byte for byte.

One ``AnvizSimulator`` is one line with one or more devices on it, each with its own device
id, records, new-record count and clock — an RS-485 bus when it serves a pty, a TCP device
(or an RS-485-to-Ethernet gateway) when it listens on TCP. Devices answer only requests
addressed to their id (id 0, broadcast, makes every device answer at once, as on a real bus).

Endpoints: ``serve_fd(master)`` serves the master side of a pty pair made by the caller
(``os.openpty()``; the client opens ``os.ttyname(slave)``); ``open_pty(link)`` makes its own
pair, optionally behind a symlink (like ``/dev/serial/by-id/…``) which it re-creates after a
``vanish`` fault, as a re-plugged USB adapter would reappear; ``listen_tcp(port)`` serves TCP.

Commands: 0x24 serial number, 0x30 device info 1, 0x38/0x39 clock, 0x3C record counts,
0x40 download (parameters 1 all, 2 new, 0 next, 0x10 resend last packet; at most 25 records
per packet), 0x46 device id, 0x48 device type, 0x4E clear (0 delete all — counted in
``delete_all`` so that tests can prove punchd never sends it —, 1 all flags, 2 the oldest N
flags). Anything else gets RET fail.

Faults (``faults=`` strings ``kind[:arg[:arg]]`` or ``Fault`` objects; combine freely)::

    crc[:EVERY]          every EVERY-th answer (default 5) has a wrong CRC; crc:1 = always
    split[:DELAY]        answers written in pieces of 1..32 bytes, DELAY s apart (0.002)
    garbage[:BYTES]      up to BYTES (24) bytes of junk before every answer: random bytes,
                         stray 0xA5s, frames for other device ids, truncated headers
    silent[:AFTER]       no answer at all after AFTER requests (default 0: never answers)
    lose[:EVERY]         every EVERY-th request (default 4) is not heard (lost on the line)
    dup[:EVERY[:LATE]]   every EVERY-th answer (default 3) is sent twice; with LATE=1 the
                         copy comes late, in front of the answer to the next request
    arrive[:N[:AFTER]]   N punches (default 3) arrive on the downloading device right after
                         its AFTER-th (default 1) download packet; once
    vanish[:AFTER]       after AFTER (default 2) download packets the port vanishes: the pty
                         is closed (a USB adapter unplugged; with ``open_pty(link)`` a new one
                         appears behind the link after ``replug_delay``) or the TCP
                         connection is reset; once
    drip[:EVERY]         every answer is sent one byte at a time, EVERY s (0.5) apart: each
                         byte comes well within any read timeout, the answer very late
    noise[:SECONDS]      SECONDS (1) of line noise (random bytes, never 0xA5), a burst every
                         10 ms, in front of every answer

``bus_log`` records ``(device_id, command)`` of every request heard, in order, and
``bad_requests`` counts requests that failed their CRC (two masters talking at once), so a
test can prove that the devices of one bus were polled in turn.
"""

from __future__ import annotations

import contextlib
import os
import random
import select
import signal
import socket
import struct
import threading
import time
import tty
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from punchd.drivers.anviz import codec
from punchd.drivers.anviz import framer as f
from punchd.drivers.anviz.codec import Record

__all__ = [
    "AnvizSimulator",
    "Fault",
    "SimDevice",
    "generate_records",
    "parse_fault",
    "serve",
]


# --------------------------------------------------------------------------- data


def generate_records(
    count: int,
    *,
    seed: int = 0,
    users: int = 40,
    start: datetime | None = None,
    card: bool = False,
) -> list[Record]:
    """``count`` realistic records, oldest first, ending before ``start`` (default: today
    00:00). Weekdays, in around 08:00 and out around 17:00 with jitter; backup codes mixed
    (finger, password, card); a few with the door-open bit or a work type. User codes are
    enroll numbers 1001… or, with ``card``, 10-digit card numbers up to 5 bytes.
    ``(user_code, when)`` is unique."""
    if count < 0 or users < 1:
        raise ValueError("count must be >= 0 and users >= 1")
    rng = random.Random(seed)
    if card:
        codes = sorted(rng.sample(range(1 << 32, 1 << 40), users))
    else:
        codes = [1001 + i for i in range(users)]
    if start is None:
        start = datetime.combine(date.today(), datetime.min.time())
    events: list[Record] = []
    day = start.date()
    while len(events) < count:
        day -= timedelta(days=1)
        if day < date(2000, 1, 3):
            raise ValueError("too many records for so few users")
        if day.weekday() >= 5:
            continue
        base = datetime.combine(day, datetime.min.time())
        for code in codes:
            if rng.random() < 0.05:
                continue  # away
            t_in = base + timedelta(minutes=8 * 60 + rng.gauss(0, 10), seconds=rng.randrange(60))
            t_out = base + timedelta(minutes=17 * 60 + rng.gauss(0, 15), seconds=rng.randrange(60))
            for when, state in ((t_in, 0), (t_out, 1)):
                backup = 3 if card else rng.choice((0, 0, 0, 0, 1, 2, 3, 3))
                rtype = state | (0x80 if rng.random() < 0.05 else 0)
                work = rng.choice((0,) * 18 + (1, 70_000))
                events.append(Record(code, when.replace(microsecond=0), backup, rtype, work))
    events.sort(key=lambda r: (r.when, r.user_code))
    return events[len(events) - count :]


@dataclass(eq=False)
class SimDevice:
    """One clock: its records (oldest first; the last ``new_count`` are flagged new)."""

    device_id: int
    records: list[Record] = field(default_factory=list)
    new_count: int | None = None  # None: every record is new
    serial_number: str = ""
    device_type: str = "TC-B SIM"
    firmware: str = "V2.15sim"
    users: int = 40
    clock_offset: timedelta = timedelta(0)
    # observed
    clears: list[tuple[int, int]] = field(default_factory=list)  # (type, amount) received
    delete_all: int = 0
    downloads: int = 0
    packets: int = 0
    # download state
    _packed: list[bytes] = field(default_factory=list, repr=False)
    _cursor: int | None = field(default=None, repr=False)
    _last: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.serial_number:
            self.serial_number = f"ANVSIM{self.device_id:06d}"
        self._packed = [r.pack() for r in self.records]
        if self.new_count is None:
            self.new_count = len(self.records)
        self.new_count = max(0, min(self.new_count, len(self.records)))

    @property
    def new(self) -> int:
        return int(self.new_count or 0)

    def new_records(self) -> list[Record]:
        return self.records[len(self.records) - self.new :]

    def add(self, records: Iterable[Record], *, new: bool = True) -> None:
        for r in records:
            self.records.append(r)
            self._packed.append(r.pack())
            if new:
                self.new_count = self.new + 1

    def device_time(self) -> datetime:
        return datetime.now().replace(microsecond=0) + self.clock_offset


# --------------------------------------------------------------------------- faults

_FAULTS = ("crc", "split", "garbage", "silent", "lose", "dup", "arrive", "vanish", "drip", "noise")
_DEFAULTS: dict[str, tuple[float, ...]] = {
    "crc": (5,),
    "split": (0.002,),
    "garbage": (24,),
    "silent": (0,),
    "lose": (4,),
    "dup": (3, 0),
    "arrive": (3, 1),
    "vanish": (2,),
    "drip": (0.5,),
    "noise": (1.0,),
}
#: between two bursts of ``noise`` (and the size of one burst)
NOISE_EVERY = 0.01
NOISE_BURST = 16


@dataclass(frozen=True)
class Fault:
    kind: str
    args: tuple[float, ...] = ()

    def arg(self, i: int = 0) -> float:
        return self.args[i] if i < len(self.args) else _DEFAULTS[self.kind][i]

    def __str__(self) -> str:
        return ":".join([self.kind, *(f"{a:g}" for a in self.args)])


def parse_fault(spec: str | Fault) -> Fault:
    """``kind[:arg[:arg]]`` (see the module docstring)."""
    if isinstance(spec, Fault):
        return spec
    parts = spec.strip().lower().split(":")
    kind = parts[0]
    if kind not in _FAULTS:
        raise ValueError(f"unknown fault {kind!r}; expected one of {', '.join(_FAULTS)}")
    if len(parts) - 1 > len(_DEFAULTS[kind]):
        raise ValueError(f"too many arguments in fault {spec!r}")
    try:
        args = tuple(float(p) for p in parts[1:] if p != "")
    except ValueError:
        raise ValueError(f"bad number in fault {spec!r}") from None
    fault = Fault(kind, args)
    for i in range(len(_DEFAULTS[kind])):
        value = fault.arg(i)
        if kind == "split":
            ok = 0 <= value <= 5
        elif kind in ("drip", "noise"):
            ok = 0 < value <= 3600
        elif kind == "silent" or (kind == "arrive" and i == 1):
            ok = value >= 0 and value == int(value)
        elif kind == "dup" and i == 1:
            ok = value in (0, 1)
        else:
            ok = value >= 1 and value == int(value)
        if not ok:
            raise ValueError(f"bad value {value:g} in fault {spec!r}")
    return fault


# --------------------------------------------------------------------------- endpoints


class _End:
    """One side of a line the simulator writes answers to."""

    name = "?"

    def fileno(self) -> int:
        raise NotImplementedError

    def read(self) -> bytes | None:
        """Bytes, b"" when nothing could be read now, None when the endpoint is gone."""
        raise NotImplementedError

    def write(self, data: bytes, stop: threading.Event) -> bool:
        raise NotImplementedError

    def vanish(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class _PtyEnd(_End):
    def __init__(self, master: int, slave: int | None = None, link: Path | None = None) -> None:
        self.master = master
        self.slave = slave
        self.link = link
        self.name = os.ttyname(slave) if slave is not None else f"pty master fd {master}"
        os.set_blocking(master, False)
        with contextlib.suppress(OSError):
            tty.setraw(master)
        self.closed = False

    def fileno(self) -> int:
        return self.master

    def read(self) -> bytes | None:
        try:
            return os.read(self.master, 65536)
        except BlockingIOError:
            return b""
        except OSError:
            # EIO: no process has the slave open right now (between two client sessions)
            return b""

    def write(self, data: bytes, stop: threading.Event) -> bool:
        view = memoryview(data)
        deadline = time.monotonic() + 2.0  # nobody reading: drop the answer, as a line would
        while view:
            try:
                view = view[os.write(self.master, view) :]
            except BlockingIOError:
                if stop.is_set() or time.monotonic() > deadline:
                    return False
                select.select([], [self.master], [], 0.05)
            except OSError:
                return False
        return True

    def vanish(self) -> None:
        self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.link is not None:
            with contextlib.suppress(OSError):
                self.link.unlink()
        for fd in (self.master, self.slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)


class _TcpEnd(_End):
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        sock.setblocking(False)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer_host, peer_port = sock.getpeername()[:2]
        self.name = f"tcp client {peer_host}:{peer_port}"
        self.closed = False

    def fileno(self) -> int:
        return self.sock.fileno()

    def read(self) -> bytes | None:
        try:
            data = self.sock.recv(65536)
        except BlockingIOError:
            return b""
        except OSError:
            return None
        return data or None

    def write(self, data: bytes, stop: threading.Event) -> bool:
        view = memoryview(data)
        deadline = time.monotonic() + 2.0
        while view:
            try:
                view = view[self.sock.send(view) :]
            except BlockingIOError:
                if stop.is_set() or time.monotonic() > deadline:
                    return False
                select.select([], [self.sock], [], 0.05)
            except OSError:
                return False
        return True

    def vanish(self) -> None:
        with contextlib.suppress(OSError):  # an RST, like a gateway losing power
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            with contextlib.suppress(OSError):
                self.sock.close()


# --------------------------------------------------------------------------- simulator


class AnvizSimulator:
    """Devices on one line. Thread-safe: tests may add punches or read counters while a
    client talks to it. ``on_request(device_id, command, data)`` runs on the line's thread
    after each answer has been written (before the next request is read)."""

    def __init__(
        self,
        ids: Iterable[int] = (1,),
        punches: int = 0,
        *,
        devices: Iterable[SimDevice] | None = None,
        seed: int = 0,
        faults: Iterable[str | Fault] = (),
        card: bool = False,
        line_rate: int | None = None,
        replug_delay: float = 0.2,
    ) -> None:
        if devices is None:
            devices = [
                SimDevice(i, generate_records(punches, seed=seed + i, card=card)) for i in ids
            ]
        self.devices: dict[int, SimDevice] = {}
        for device in devices:
            if device.device_id in self.devices or not 1 <= device.device_id <= f.MAX_DEVICE_ID:
                raise ValueError(f"bad or repeated device id {device.device_id}")
            self.devices[device.device_id] = device
        self.faults = [parse_fault(x) for x in faults]
        self.line_rate = line_rate
        self.replug_delay = replug_delay
        self.on_request: Callable[[int, int, bytes], None] | None = None
        self.callback_errors: list[BaseException] = []
        # observed
        self.bus_log: list[tuple[int, int]] = []
        self.bad_requests = 0
        self.requests = 0
        self.answers = 0
        self.fault_hits: Counter[str] = Counter()
        self.path: str | None = None  # pty slave path or link
        self.port: int | None = None  # TCP port
        self.vanished = threading.Event()
        self.replugged = threading.Event()

        self._lock = threading.RLock()
        self._rng = random.Random(seed ^ 0xA5A5)
        self._stop = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        self._threads: list[threading.Thread] = []
        self._ends: list[_End] = []
        self._listen: socket.socket | None = None
        self._once: set[str] = set()
        self._packets_in_download = 0
        self._link: Path | None = None
        self._late = b""  # a duplicate held back for the next answer (dup:N:1)

    # ---------------------------------------------------------------- lifecycle

    def __enter__(self) -> AnvizSimulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        t = threading.Thread(target=target, args=args, daemon=True, name="anviz-sim")
        self._threads.append(t)
        t.start()

    def serve_fd(self, master: int) -> None:
        """Serve the master side of a pty pair (the simulator closes it on stop)."""
        end = _PtyEnd(master)
        self._ends.append(end)
        self._spawn(self._serve, end)

    def open_pty(self, link: str | Path | None = None) -> str:
        """Make a pty pair and serve it; returns the path a client opens (the link if
        given). The simulator keeps the slave open too, so the line outlives clients."""
        self._link = Path(link) if link is not None else None
        if self._link is not None and self._link.exists() and not self._link.is_symlink():
            raise ValueError(f"{self._link} exists and is not a symlink: not replacing it")
        end = self._new_pty()
        self._spawn(self._serve, end)
        assert self.path is not None
        return self.path

    def _new_pty(self) -> _PtyEnd:
        master, slave = os.openpty()
        tty.setraw(slave)
        end = _PtyEnd(master, slave, self._link)
        if self._link is not None:
            tmp = self._link.with_name(self._link.name + ".new")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            tmp.symlink_to(end.name)
            tmp.replace(self._link)
            self.path = str(self._link)
        else:
            self.path = end.name
        self._ends.append(end)
        return end

    def listen_tcp(self, host: str = "127.0.0.1", port: int = 0) -> int:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(8)
        self._listen = sock
        self.port = sock.getsockname()[1]
        self._spawn(self._accept, sock)
        return self.port

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")
        if self._listen is not None:
            with contextlib.suppress(OSError):
                self._listen.close()
        for t in self._threads:
            t.join(timeout=5)
        for end in self._ends:
            end.close()
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._wake_r = self._wake_w = -1

    # ---------------------------------------------------------------- state

    def device(self, device_id: int) -> SimDevice:
        return self.devices[device_id]

    def add_punches(self, device_id: int, records: Iterable[Record], *, new: bool = True) -> None:
        with self._lock:
            self.devices[device_id].add(records, new=new)

    def _fault(self, kind: str) -> Fault | None:
        for fault in self.faults:
            if fault.kind == kind:
                return fault
        return None

    def _every(self, kind: str, counter: int) -> bool:
        fault = self._fault(kind)
        if fault is None:
            return False
        hit = counter % int(fault.arg()) == 0
        if hit:
            self.fault_hits[kind] += 1
        return hit

    # ---------------------------------------------------------------- serving

    def _accept(self, listen: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([listen, self._wake_r], [], [], 0.5)
                if listen not in ready:
                    continue
                conn, _addr = listen.accept()
            except OSError:
                return
            end = _TcpEnd(conn)
            self._ends.append(end)
            self._spawn(self._serve, end)

    def _serve(self, end: _End) -> None:
        decoder = f.Decoder(responses=False)
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([end, self._wake_r], [], [], 0.5)
            except (OSError, ValueError):
                return
            if end not in ready:
                continue
            data = end.read()
            if data is None:
                end.close()
                return
            if not data:
                self._stop.wait(0.02)
                continue
            for request in decoder.feed(data):
                if not self._answer(end, request):
                    return
            with self._lock:
                self.bad_requests += decoder.crc_errors
                decoder.crc_errors = 0

    def _answer(self, end: _End, request: f.Frame) -> bool:
        """Answer one request; False when the endpoint is gone."""
        with self._lock:
            self.requests += 1
            self.bus_log.append((request.device_id, request.code))
            number = self.requests
            silent = self._fault("silent")
            if silent is not None and number > silent.arg():
                self.fault_hits["silent"] += 1
                return True
            if self._every("lose", number):
                return True
            download = request.code == f.CMD_DOWNLOAD
            starts = request.data[:1] in (b"\x01", b"\x02")
            if download and not starts and self._vanish_now():
                self._vanish(end)
                return False
            if request.device_id == 0:
                targets = list(self.devices.values())
            else:
                one = self.devices.get(request.device_id)
                targets = [one] if one is not None else []
            wires = []
            for device in targets:
                ret, data = self._handle(device, request.code, request.data)
                wires.append(f.encode_response(device.device_id, request.code, ret, data))
        for wire in wires:
            if not self._send(end, wire):
                return False
        if download and targets:
            self._after_packet(targets[0])
        if self.on_request is not None:
            try:
                self.on_request(request.device_id, request.code, request.data)
            except Exception as exc:  # kept for the test to see
                self.callback_errors.append(exc)
        return True

    def _vanish_now(self) -> bool:
        fault = self._fault("vanish")
        if fault is None or "vanish" in self._once:
            return False
        if self._packets_in_download < int(fault.arg()):
            return False
        self._once.add("vanish")
        self.fault_hits["vanish"] += 1
        return True

    def _vanish(self, end: _End) -> None:
        self.vanished.set()  # before the client can notice
        end.vanish()
        if isinstance(end, _PtyEnd) and end.link is not None:
            self._spawn(self._replug)

    def _replug(self) -> None:
        if self._stop.wait(self.replug_delay):
            return
        end = self._new_pty()
        self.replugged.set()
        self._serve(end)

    def _after_packet(self, device: SimDevice) -> None:
        fault = self._fault("arrive")
        if fault is None or "arrive" in self._once:
            return
        if self._packets_in_download != int(fault.arg(1)):
            return
        self._once.add("arrive")
        self.fault_hits["arrive"] += 1
        with self._lock:
            last = device.records[-1].when if device.records else datetime(2026, 1, 5, 8, 0)
            code = device.records[-1].user_code if device.records else 1001
            fresh = [
                Record(code + i + 1, last + timedelta(minutes=i + 1), 3, 0)
                for i in range(int(fault.arg(0)))
            ]
            device.add(fresh)

    def _send(self, end: _End, wire: bytes) -> bool:
        with self._lock:
            self.answers += 1
            number = self.answers
            if self._every("crc", number):
                wire = wire[:-2] + bytes((wire[-2] ^ 0xFF, wire[-1]))
            late, self._late = self._late, b""
            copies = 1
            if self._every("dup", number):
                dup = self._fault("dup")
                if dup is not None and dup.arg(1):
                    self._late = wire
                else:
                    copies = 2
            junk = self._garbage() if self._fault("garbage") else b""
        blob = late + junk + wire * copies
        if self._fault("noise") and not self._noise(end):
            return False
        if self._fault("drip"):
            return self._drip(end, blob)
        split = self._fault("split")
        if split is None:
            ok = end.write(blob, self._stop)
            self._pace(len(blob))
            return ok
        self.fault_hits["split"] += 1
        i = 0
        while i < len(blob):
            step = self._rng.randint(1, 32)
            if not end.write(blob[i : i + step], self._stop):
                return False
            i += step
            if i < len(blob) and self._stop.wait(split.arg()):
                return False
        self._pace(len(blob))
        return True

    def _noise(self, end: _End) -> bool:
        """Line noise for the ``noise`` fault's seconds; False when the endpoint is gone."""
        fault = self._fault("noise")
        assert fault is not None
        with self._lock:
            self.fault_hits["noise"] += 1
        until = time.monotonic() + fault.arg()
        while time.monotonic() < until and self._fault("noise") is not None:
            with self._lock:
                burst = self._rng.randbytes(NOISE_BURST).replace(bytes((f.STX,)), b"\x5a")
            if not end.write(burst, self._stop) or self._stop.wait(NOISE_EVERY):
                return False
        return True

    def _drip(self, end: _End, blob: bytes) -> bool:
        """``blob`` one byte at a time, the ``drip`` fault's seconds apart; the rest at once
        when the fault is taken away (the line is fixed)."""
        fault = self._fault("drip")
        assert fault is not None
        with self._lock:
            self.fault_hits["drip"] += 1
        for i in range(len(blob)):
            if self._fault("drip") is None:
                return end.write(blob[i:], self._stop)
            if not end.write(blob[i : i + 1], self._stop):
                return False
            if i + 1 < len(blob) and self._stop.wait(fault.arg()):
                return False
        return True

    def _pace(self, nbytes: int) -> None:
        if self.line_rate:
            self._stop.wait(nbytes * 10 / self.line_rate)

    def _garbage(self) -> bytes:
        fault = self._fault("garbage")
        assert fault is not None
        self.fault_hits["garbage"] += 1
        rng = self._rng
        limit = int(fault.arg())
        out = bytearray()
        while len(out) < limit:
            pick = rng.random()
            if pick < 0.4:
                out += rng.randbytes(rng.randint(1, 8))
            elif pick < 0.6:
                out.append(f.STX)
            elif pick < 0.8:  # another device on the bus, with a good CRC
                other = rng.choice([i for i in range(900, 910) if i not in self.devices])
                out += f.encode_response(other, f.CMD_DOWNLOAD, 0, rng.randbytes(3))
            else:  # a header that promises more than ever comes
                mine = rng.choice(list(self.devices))
                out += bytes((f.STX,)) + mine.to_bytes(4, "big") + bytes((0xC0, 0, 1, 0))
        return bytes(out[: max(limit, 1)])

    # ---------------------------------------------------------------- commands

    def _handle(self, d: SimDevice, cmd: int, data: bytes) -> tuple[int, bytes]:
        if cmd == f.CMD_RECORD_INFO:
            cards = d.users // 2
            counts = codec.Counts(d.users, d.users, 0, cards, len(d.records), d.new)
            return f.RET_SUCCESS, codec.encode_counts(counts)
        if cmd == f.CMD_DOWNLOAD:
            return self._download(d, data)
        if cmd == f.CMD_GET_TIME:
            return f.RET_SUCCESS, codec.encode_clock(d.device_time())
        if cmd == f.CMD_SET_TIME:
            try:
                when = codec.decode_clock(data)
            except codec.BadData:
                return f.RET_FAIL, b""
            d.clock_offset = when - datetime.now().replace(microsecond=0)
            return f.RET_SUCCESS, b""
        if cmd == f.CMD_SERIAL_NUMBER:
            return f.RET_SUCCESS, d.serial_number.encode("ascii").ljust(16, b"\x00")
        if cmd == f.CMD_DEVICE_TYPE:
            return f.RET_SUCCESS, d.device_type.encode("ascii").ljust(8, b"\x00")
        if cmd == f.CMD_GET_INFO1:
            firmware = d.firmware.encode("ascii")[:8].ljust(8, b"\x00")
            # password (3), sleep, volume, language, date format, attendance, lang, cmd version
            return f.RET_SUCCESS, firmware + bytes((0, 0, 0, 0, 5, 0, 0, 2, 0, 2))
        if cmd == f.CMD_GET_DEVICE_ID:
            return f.RET_SUCCESS, d.device_id.to_bytes(4, "big")
        if cmd == f.CMD_CLEAR:
            return self._clear(d, data)
        return f.RET_FAIL, b""

    def _download(self, d: SimDevice, data: bytes) -> tuple[int, bytes]:
        if len(data) < 2 or data[1] == 0:
            return f.RET_FAIL, b""
        param, amount = data[0], min(data[1], f.MAX_RECORDS_PER_PACKET)
        if param == f.DOWNLOAD_RESEND:
            if d._last is None:
                return f.RET_FAIL, b""
            return f.RET_SUCCESS, d._last
        if param in (f.DOWNLOAD_ALL, f.DOWNLOAD_NEW):
            d._cursor = 0 if param == f.DOWNLOAD_ALL else len(d.records) - d.new
            d.downloads += 1
            self._packets_in_download = 0
        elif param != f.DOWNLOAD_NEXT or d._cursor is None:
            return f.RET_FAIL, b""
        chunk = d._packed[d._cursor : d._cursor + amount]
        if not chunk:
            return f.RET_EMPTY, b""
        d._cursor += len(chunk)
        d._last = codec.encode_records(chunk)
        d.packets += 1
        self._packets_in_download += 1
        return f.RET_SUCCESS, d._last

    def _clear(self, d: SimDevice, data: bytes) -> tuple[int, bytes]:
        if len(data) < 4:
            return f.RET_FAIL, b""
        kind, amount = data[0], codec.u24(data, 1)
        d.clears.append((kind, amount))
        if kind == f.CLEAR_DELETE_ALL:
            cleared = len(d.records)
            d.records.clear()
            d._packed.clear()
            d.new_count = 0
            d.delete_all += 1
        elif kind == f.CLEAR_ALL_FLAGS:
            cleared, d.new_count = d.new, 0
        elif kind == f.CLEAR_FLAGS:
            cleared = min(amount, d.new)
            d.new_count = d.new - cleared
        else:
            return f.RET_FAIL, b""
        return f.RET_SUCCESS, cleared.to_bytes(3, "big")


# --------------------------------------------------------------------------- CLI


def serve(
    *,
    pty: str | None = None,
    tcp: int | None = None,
    host: str = "127.0.0.1",
    ids: Iterable[int] = (1,),
    punches: int = 1000,
    seed: int = 0,
    card: bool = False,
    faults: Iterable[str | Fault] = (),
    line_rate: int | None = None,
) -> None:
    """Run a simulator in the foreground until SIGINT/SIGTERM (``punchd simulate anviz``).

    Prints one line naming the pty (and the device behind the link) or the TCP address, the
    ids and the counts."""
    if (pty is None) == (tcp is None):
        raise ValueError("give exactly one of --pty LINK or --tcp PORT")
    ids = list(ids)
    sim = AnvizSimulator(
        ids, punches, seed=seed, faults=list(faults), card=card, line_rate=line_rate
    )
    stop = threading.Event()
    previous: dict[int, object] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, lambda *_: stop.set())
    try:
        with sim:
            if pty is not None:
                path = sim.open_pty(pty)
                where = f"pty {path} -> {os.path.realpath(path)}"
            else:
                assert tcp is not None
                where = f"tcp://{host}:{sim.listen_tcp(host, tcp)}"
            fault_text = ",".join(str(x) for x in sim.faults) or "none"
            print(
                f"punchd anviz simulator on {where} ids={','.join(map(str, ids))} "
                f"punches={punches} each user_code={'card' if card else 'enroll'} "
                f"faults={fault_text}",
                flush=True,
            )
            stop.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
