"""A ZK attendance terminal on loopback, speaking the ZK protocol byte for byte.

``ZKSimulator`` serves one device over TCP (default) or UDP: sessions and comm-key
authentication, device info and options, free sizes, clock, enable/disable, clear, and the
buffered bulk read (1503 prepare / 1504 read / 1502 free) of users and attendance, in the
record layouts of real firmware (users 72 or 28 bytes; attendance 8/16/40/49 bytes). It
satisfies unmodified pyzk 0.9, which is strict about framing: it reads each reply with a
single ``recv`` of a fixed size, so every reply is written in one piece and never longer
than pyzk asks for; over UDP it reads 1503 replies with ``recv(1024)`` (an inline CMD_DATA
is only used when it fits in 1024 bytes) and chunk data with ``recv(1032)`` (1024-byte
CMD_DATA datagrams).

Faults are injected through ``faults.Injector`` (see ``faults.py`` for the kinds and what pyzk
0.9 does under each); the data comes from ``data.py``.
"""

from __future__ import annotations

import contextlib
import random
import selectors
import socket
import struct
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import ClassVar

from punchd.drivers.zk import protocol as p
from punchd.drivers.zk.simulator.data import SimPunch, SimUser
from punchd.drivers.zk.simulator.faults import Fault, Injector, parse_fault

__all__ = ["ZKSimulator"]

CMD_GET_PINWIDTH = 69
CMD_DB_RRQ = 7
UDP_INLINE_MAX = 1024 - 8  # pyzk reads a 1503 reply over UDP with recv(1024)
UDP_DATA_FRAME = 1024  # pyzk reads chunk datagrams with recv(1032)
MAX_TCP_PACKET = 1 << 20


# --------------------------------------------------------------------------- wire helpers


@dataclass
class _Reply:
    command: int
    payload: bytes = b""
    session: int | None = None  # None: the connection's session id
    chunk: bytes | None = None  # 1504 answer: PREPARE_DATA + CMD_DATA + ACK_OK
    att: tuple[int, int] | None = None  # attendance bytes carried: (offset, total)
    close: bool = False


@dataclass(eq=False)
class _Session:
    """One client conversation (a TCP connection, or a UDP session)."""

    transport: str
    addr: tuple[str, int]
    sock: socket.socket | None = None
    session_id: int | None = None
    connected: bool = False  # CMD_CONNECT seen and not exited
    authed: bool = False
    buffer: bytes | None = None  # snapshot taken at 1503
    buffer_kind: int = 0
    chunk_index: int = 0
    upload: bytearray | None = None  # CMD_PREPARE_DATA … CMD_DATA: data handed to the device
    upload_size: int = 0
    corrupted: bool = False
    dead: bool = False  # stalled or dropped: answer nothing more
    closed: bool = False
    last_seen: float = field(default_factory=time.monotonic)
    send_lock: threading.Lock = field(default_factory=threading.Lock)


_OPTION_DEFAULTS = {
    "~ZKFPVersion": "10",
    "FaceFunOn": "0",
    "CompatOldFirmware": "0",
    "~IsOnlyRFMachine": "0",
    "~OS": "1",
    "~OEMVendor": "ZKTeco Inc.",
    "NetMask": "255.255.255.0",
    "GATEIPAddress": "127.0.0.1",
    "WorkCode": "0",
    "~LockFunOn": "0",
}


class ZKSimulator:
    """A ZK terminal on ``host:port`` (TCP, or UDP with ``udp=True``).

    Thread-safe: tests may call ``add_punches`` or read counters while a client is
    connected. ``on_command(cmd)`` runs on the server thread after each command's reply
    has been sent (before the next request is read), so it can change the device between
    two steps of a client's conversation deterministically; exceptions it raises are kept
    in ``callback_errors``.

    Counters: ``enabled`` (literal CMD_DISABLEDEVICE/CMD_ENABLEDEVICE state),
    ``disable_count``, ``enable_count``, ``clear_count`` (CMD_CLEAR_ATTLOG/CMD_CLEAR_DATA),
    ``busy_rejections``, ``connections``, ``overwritten`` (records lost to a full log),
    ``commands`` (every command received, newest last).

    Users: CMD_USER_WRQ writes one (same uid: replaced; new: enrolled while fewer than
    ``user_capacity``), CMD_DELETE_USER removes one by uid, each answered ACK_ERROR when
    refused (``user_writes``, ``user_deletes``, ``refresh_count`` count them).

    Fingerprint templates: kept per uid and finger (``templates_of``, ``set_template``),
    read with the template buffer (CMD_DB_RRQ, FCT_FINGERTMP) and written with an upload
    (CMD_PREPARE_DATA, CMD_DATA…) then CMD_SAVE_USERTEMPS (users and templates, pyzk's
    ``save_user_template``), ACK_ERROR past ``finger_capacity`` (``template_writes``
    counts the accepted ones); a user's templates go with the user.

    Extra knobs: ``user_capacity``; ``inline_limit`` (largest 1503 answer sent inline as
    CMD_DATA, size prefix included; over UDP never above 1016 because pyzk reads that
    reply with ``recv(1024)``); ``options`` (extra/overriding CMD_OPTIONS_RRQ keys;
    unknown keys get ACK_ERROR like firmware does); ``udp_session_timeout`` (an idle UDP
    session stops counting as the holder for ``busy``); ``tcp_idle_timeout`` (seconds: a TCP
    client silent this long is dropped, as firmware drops a stalled client; None: never).

    Several clients at once: ``max_sessions`` is the most sessions (CMD_CONNECT seen, not
    exited or gone) ever open at the same time; ``shared_clears`` counts clears made while
    another session was open.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        udp: bool = False,
        comm_key: int = 0,
        record_size: int = 40,
        users: Iterable[SimUser] | None = None,
        punches: Iterable[SimPunch] | None = None,
        serial_number: str = "SIM0001",
        device_name: str = "punchd-sim",
        firmware: str = "Ver 6.60 Apr 28 2026",
        platform: str = "ZMM220_TFT",
        mac: str = "00:17:61:00:00:01",
        faults: Iterable[str | Fault] = (),
        clock_offset: timedelta = timedelta(0),
        encoding: str = "utf-8",
        record_capacity: int = 200_000,
        user_capacity: int = 10_000,
        finger_capacity: int = 3_000,
        inline_limit: int = 1024,
        options: Mapping[str, str] | None = None,
        udp_session_timeout: float = 30.0,
        tcp_idle_timeout: float | None = None,
    ) -> None:
        if record_size not in p.ATT_SIZES:
            raise ValueError(f"record_size must be one of {p.ATT_SIZES}")
        self.host = host
        self.port = port
        self.udp = udp
        self.comm_key = int(comm_key)
        self.record_size = record_size
        self.user_size = 72 if record_size in (40, 49) else 28
        self.serial_number = serial_number
        self.device_name = device_name
        self.firmware = firmware
        self.platform = platform
        self.mac = mac
        self._rng = random.Random(0x5A4B)  # session ids and garbage
        self._faults = Injector(faults, self._rng)
        self.clock_offset = clock_offset
        self.encoding = encoding
        self.record_capacity = record_capacity
        self.user_capacity = user_capacity
        self.finger_capacity = finger_capacity
        self.inline_limit = inline_limit
        self.udp_session_timeout = udp_session_timeout
        self.tcp_idle_timeout = tcp_idle_timeout
        self.options: dict[str, str] = dict(_OPTION_DEFAULTS)
        self.options.update(
            {
                "~SerialNumber": serial_number,
                "~DeviceName": device_name,
                "~Platform": platform,
                "MAC": mac,
                "~ExtendFmt": "1" if record_size in (40, 49) else "0",
                "~UserExtFmt": "1" if self.user_size == 72 else "0",
                "~PIN2Width": "9" if self.user_size == 72 else "5",
                "IPAddress": host,
            }
        )
        if options:
            self.options.update(options)

        self.enabled = True
        self.disable_count = 0
        self.enable_count = 0
        self.clear_count = 0
        self.user_writes = 0  # CMD_USER_WRQ accepted
        self.user_deletes = 0  # CMD_DELETE_USER accepted
        self.refresh_count = 0  # CMD_REFRESHDATA
        self.template_writes = 0  # CMD_SAVE_USERTEMPS accepted
        self.overwritten = 0  # records lost because the log was full (oldest dropped)
        self.busy_rejections = 0
        self.connections = 0  # TCP connections accepted / UDP sessions opened
        self.max_sessions = 0  # most sessions open at the same time
        self.shared_clears = 0  # clears while another session was open
        self.commands: deque[int] = deque(maxlen=100_000)
        self.on_command: Callable[[int], None] | None = None
        self.callback_errors: list[BaseException] = []

        self._lock = threading.RLock()
        # punches made while disabled, on a terminal that honours it (add_punches)
        self._held: list[SimPunch] = []
        self._users: list[SimUser] = list(users or [])
        # uid → finger → (valid, template)
        self._templates: dict[int, dict[int, tuple[int, bytes]]] = {}
        self._punches: deque[SimPunch] = deque()
        self._att = bytearray()
        self._sessions: set[_Session] = set()
        self._udp_sessions: dict[int, _Session] = {}
        self._dead_udp: set[int] = set()
        self._threads: set[threading.Thread] = set()
        self._stopping = threading.Event()
        self._listen: socket.socket | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._started = False
        self.add_punches(punches or [])

    # ---------------------------------------------------------------- state

    @property
    def punches(self) -> list[SimPunch]:
        with self._lock:
            return list(self._punches)

    @property
    def users(self) -> list[SimUser]:
        with self._lock:
            return list(self._users)

    def device_time(self) -> datetime:
        return datetime.now().replace(microsecond=0) + self.clock_offset

    def _uid_for(self, punch: SimPunch) -> int:
        if punch.uid:
            return punch.uid
        for user in self._users:
            if user.user_id == punch.user_id:
                return user.uid
        return int(punch.user_id) if punch.user_id.isdigit() else 0

    def add_punches(
        self, punches: Iterable[SimPunch], *, wait_while_disabled: bool = False
    ) -> None:
        """Append records (as the terminal would on each punch). Thread-safe. When the log
        is full the oldest records are overwritten (counted in ``overwritten``).

        By default the punches go in at once, even while a client has the terminal disabled
        (firmware that ignores "disable device"). ``wait_while_disabled``: a terminal that
        honours it — its screen says it is busy, and the punches go in once it is enabled
        again."""
        with self._lock:
            if wait_while_disabled and not self.enabled:
                self._held.extend(punches)
                return
            self._append(punches)

    def _append(self, punches: Iterable[SimPunch]) -> None:
        with self._lock:
            for punch in punches:
                uid = self._uid_for(punch)
                record = p.pack_attendance(
                    self.record_size,
                    uid=uid,
                    user_id=punch.user_id,
                    when=punch.when,
                    status=punch.status,
                    punch=punch.punch,
                    workcode=punch.workcode,
                )
                if punch.uid != uid:
                    punch = SimPunch(
                        punch.user_id, punch.when, punch.status, punch.punch, punch.workcode, uid
                    )
                self._punches.append(punch)
                self._att += record
            excess = len(self._punches) - self.record_capacity
            if excess > 0:
                for _ in range(excess):
                    self._punches.popleft()
                del self._att[: excess * self.record_size]
                self.overwritten += excess

    def add_users(self, users: Iterable[SimUser]) -> None:
        with self._lock:
            self._users.extend(users)

    def set_template(self, user_id: str, finger: int, template: bytes, valid: int = 1) -> None:
        """Enrol a finger of the user with ``user_id`` (as at the clock's keypad)."""
        with self._lock:
            uid = next(u.uid for u in self._users if u.user_id == user_id)
            self._templates.setdefault(uid, {})[finger] = (valid, bytes(template))

    def templates_of(self, user_id: str) -> dict[int, bytes]:
        """finger → template of the user with ``user_id`` (empty: none, or no such user)."""
        with self._lock:
            uid = next((u.uid for u in self._users if u.user_id == user_id), None)
            fingers = self._templates.get(uid, {}) if uid is not None else {}
            return {finger: t for finger, (_valid, t) in sorted(fingers.items())}

    @property
    def template_count(self) -> int:
        with self._lock:
            return sum(len(f) for f in self._templates.values())

    def clear_punches(self) -> None:
        with self._lock:
            self._punches.clear()
            self._att = bytearray()

    @property
    def faults(self) -> list[Fault]:
        return self._faults.faults

    @faults.setter
    def faults(self, faults: Iterable[str | Fault]) -> None:
        self._faults.faults = [parse_fault(x) for x in faults]

    def _active_sessions(self, exclude: _Session) -> list[_Session]:
        now = time.monotonic()
        with self._lock:
            result = []
            for s in self._sessions:
                if s is exclude or not s.connected or s.closed or s.dead:
                    continue
                if s.transport == "udp" and now - s.last_seen > self.udp_session_timeout:
                    continue
                result.append(s)
            return result

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> ZKSimulator:
        if self._started:
            return self
        self._stopping.clear()
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        kind = socket.SOCK_DGRAM if self.udp else socket.SOCK_STREAM
        sock = socket.socket(family, kind)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
            if not self.udp:
                sock.listen(16)
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        self._listen = sock
        self.port = sock.getsockname()[1]
        self._wake_r, self._wake_w = socket.socketpair()
        self._started = True
        target = self._udp_loop if self.udp else self._accept_loop
        self._spawn(target, "zksim-udp" if self.udp else "zksim-accept")
        return self

    def _spawn(self, target: Callable[..., None], name: str, *args: object) -> None:
        def run() -> None:
            try:
                target(*args)
            finally:
                with self._lock:
                    self._threads.discard(threading.current_thread())

        thread = threading.Thread(target=run, name=name, daemon=True)
        with self._lock:
            self._threads.add(thread)
        thread.start()

    def stop(self) -> None:
        if not self._started:
            return
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")  # type: ignore[union-attr]
        with self._lock:
            sessions = list(self._sessions)
            threads = [t for t in self._threads if t is not threading.current_thread()]
        for s in sessions:
            if s.sock is not None and s.transport == "tcp":
                with contextlib.suppress(OSError):
                    s.sock.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + 0.9
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        for sock in (self._listen, self._wake_r, self._wake_w):
            if sock is not None:
                sock.close()
        for s in sessions:
            if s.sock is not None and s.transport == "tcp":
                s.sock.close()
        self._listen = self._wake_r = self._wake_w = None
        self._started = False

    def __enter__(self) -> ZKSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _sleep(self, seconds: float) -> bool:
        """Sleep unless stopping; False when the simulator is stopping."""
        return not self._stopping.wait(seconds) if seconds > 0 else not self._stopping.is_set()

    # ---------------------------------------------------------------- TCP

    def _accept_loop(self) -> None:
        assert self._listen is not None and self._wake_r is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self._listen, selectors.EVENT_READ)
            sel.register(self._wake_r, selectors.EVENT_READ)
            while not self._stopping.is_set():
                for key, _ in sel.select():
                    if key.fileobj is self._wake_r or self._stopping.is_set():
                        return
                    try:
                        conn, addr = self._listen.accept()
                    except (BlockingIOError, InterruptedError):
                        continue
                    except OSError:
                        return
                    conn.setblocking(True)
                    conn.settimeout(self.tcp_idle_timeout)
                    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    session = _Session("tcp", addr, conn)
                    if self._faults.busy() and self._active_sessions(session):
                        self.busy_rejections += 1
                        conn.close()
                        continue
                    with self._lock:
                        self._sessions.add(session)
                        self.connections += 1
                    self._spawn(self._tcp_session, f"zksim-tcp-{addr[1]}", session)

    def _tcp_session(self, session: _Session) -> None:
        sock = session.sock
        assert sock is not None
        try:
            while not self._stopping.is_set() and not session.closed:
                head = _recv_exact(sock, 8)
                if head is None:
                    break
                magic1, magic2, length = p.TCP_PREFIX.unpack(head)
                if (magic1, magic2) != p.TCP_MAGIC or not 8 <= length <= MAX_TCP_PACKET:
                    break  # not a ZK client
                packet = _recv_exact(sock, length)
                if packet is None:
                    break
                if session.dead:
                    continue  # stalled: swallow requests, answer nothing
                self._process(session, packet)
        except OSError:
            pass  # the client went away, or stop() shut the socket
        except Exception as exc:  # a bug here must cost one connection, not the device
            print(f"zksim: TCP session failed: {exc!r}", file=sys.stderr)
        finally:
            session.closed = True
            session.connected = False
            with self._lock:
                self._sessions.discard(session)
            with contextlib.suppress(OSError):
                sock.close()

    # ---------------------------------------------------------------- UDP

    def _udp_loop(self) -> None:
        assert self._listen is not None and self._wake_r is not None
        sock = self._listen
        with selectors.DefaultSelector() as sel:
            sel.register(sock, selectors.EVENT_READ)
            sel.register(self._wake_r, selectors.EVENT_READ)
            while not self._stopping.is_set():
                for key, _ in sel.select():
                    if key.fileobj is self._wake_r or self._stopping.is_set():
                        return
                    try:
                        packet, addr = sock.recvfrom(65535)
                    except (BlockingIOError, InterruptedError):
                        continue
                    except OSError:
                        continue  # e.g. ICMP port unreachable from a client that went away
                    if len(packet) < 8:
                        continue
                    try:
                        self._udp_packet(sock, packet, addr)
                    except Exception as exc:  # keep serving other datagrams
                        print(f"zksim: UDP request failed: {exc!r}", file=sys.stderr)

    def _udp_packet(self, sock: socket.socket, packet: bytes, addr: tuple[str, int]) -> None:
        command, _chk, session_id, _reply = p.HEADER.unpack_from(packet)
        now = time.monotonic()
        with self._lock:
            for sid, s in list(self._udp_sessions.items()):  # forget idle sessions
                if now - s.last_seen > self.udp_session_timeout:
                    del self._udp_sessions[sid]
                    self._sessions.discard(s)
        if command == p.CMD_CONNECT:
            session = _Session("udp", addr, sock)
            if self._faults.busy() and any(s.addr != addr for s in self._active_sessions(session)):
                self.busy_rejections += 1
                self.commands.append(command)
                return  # a busy terminal does not answer
            with self._lock:
                for sid, s in list(self._udp_sessions.items()):  # same client reconnecting
                    if s.addr == addr:
                        del self._udp_sessions[sid]
                        self._sessions.discard(s)
                self._sessions.add(session)
                self.connections += 1
        else:
            if session_id in self._dead_udp:
                self.commands.append(command)
                return
            found = self._udp_sessions.get(session_id)
            session = found if found is not None else _Session("udp", addr, sock)
            session.addr = addr
        session.last_seen = now
        self._process(session, packet)
        with self._lock:
            if session.session_id is not None and session.connected and not session.dead:
                self._udp_sessions[session.session_id] = session
            elif session.session_id is not None:
                self._udp_sessions.pop(session.session_id, None)
                self._sessions.discard(session)
            if session.dead and session.session_id is not None:
                self._dead_udp.add(session.session_id)

    # ---------------------------------------------------------------- dispatch

    def _process(self, session: _Session, packet: bytes) -> None:
        command, _chk, session_id, reply_id = p.HEADER.unpack_from(packet)
        payload = packet[8:]
        self.commands.append(command)
        reply = self._dispatch(session, command, session_id, payload)
        if reply is not None and reply.close:  # before answering: the client may reconnect
            session.closed = True  # as soon as it has the answer
            session.connected = False
        if reply is not None:
            delay = self._faults.delay(disable=command == p.CMD_DISABLEDEVICE)
            if delay and not self._sleep(delay):
                return
            self._send(session, reply, reply_id)
        callback = self.on_command
        if callback is not None:
            try:
                callback(command)
            except Exception as exc:  # a test hook failing must not kill the device
                self.callback_errors.append(exc)
                print(f"zksim: on_command({command}) raised {exc!r}", file=sys.stderr)

    def _dispatch(
        self, s: _Session, command: int, session_id: int, payload: bytes
    ) -> _Reply | None:
        if command == p.CMD_CONNECT:
            with self._lock:
                taken = {x.session_id for x in self._sessions if x is not s}
                sid = self._rng.randrange(1, 0xFFFF)
                while sid in taken:
                    sid = self._rng.randrange(1, 0xFFFF)
            s.session_id = sid
            s.connected = True
            with self._lock:
                open_now = sum(1 for x in self._sessions if x.connected and not x.closed)
                self.max_sessions = max(self.max_sessions, open_now)
            s.authed = self.comm_key == 0
            return _Reply(p.ACK_OK if s.authed else p.ACK_UNAUTH)
        if command == p.ACK_OK:
            return None  # the client acknowledging an event: not a command
        if s.session_id is None or session_id != s.session_id:
            return _Reply(p.ACK_UNAUTH, session=session_id)
        if command == p.CMD_EXIT:
            # The session ends here, before the answer goes out: a client that got the
            # answer may hand the device to the next client at once.
            with self._lock:
                s.connected = False
            return _Reply(p.ACK_OK, close=True)
        if command == p.CMD_AUTH:
            key = payload[:4]
            if len(key) == 4 and key == p.make_commkey(self.comm_key, s.session_id, key[2]):
                s.authed = True
                return _Reply(p.ACK_OK)
            return _Reply(p.ACK_UNAUTH)
        if not s.authed:
            return _Reply(p.ACK_UNAUTH)
        handler = self._handlers.get(command)
        if handler is None:
            return _Reply(p.ACK_UNKNOWN)
        return handler(self, s, payload)

    def _cmd_enable(self, s: _Session, payload: bytes) -> _Reply:
        with self._lock:
            self.enabled = True
            self.enable_count += 1
            held, self._held = self._held, []
            self._append(held)
        return _Reply(p.ACK_OK)

    def _cmd_disable(self, s: _Session, payload: bytes) -> _Reply:
        with self._lock:
            self.enabled = False
            self.disable_count += 1
        return _Reply(p.ACK_OK)

    def _cmd_version(self, s: _Session, payload: bytes) -> _Reply:
        return _Reply(p.ACK_OK, self.firmware.encode() + b"\x00")

    def _cmd_options_read(self, s: _Session, payload: bytes) -> _Reply:
        key = payload.split(b"\x00", 1)[0].decode("ascii", errors="replace")
        value = self.options.get(key)
        if value is None:
            return _Reply(p.ACK_ERROR)
        return _Reply(p.ACK_OK, f"{key}={value}".encode(self.encoding) + b"\x00")

    def _cmd_options_write(self, s: _Session, payload: bytes) -> _Reply:
        text = payload.split(b"\x00", 1)[0].decode(self.encoding, errors="replace")
        key, sep, value = text.partition("=")
        if not sep or not key:
            return _Reply(p.ACK_ERROR)
        self.options[key] = value
        return _Reply(p.ACK_OK)

    def _cmd_pin_width(self, s: _Session, payload: bytes) -> _Reply:
        return _Reply(p.ACK_OK, bytes([int(self.options.get("~PIN2Width", "9"))]))

    def _cmd_free_sizes(self, s: _Session, payload: bytes) -> _Reply:
        with self._lock:
            users = len(self._users)
            cards = sum(1 for u in self._users if u.card)
            records = len(self._punches)
            fingers = sum(len(f) for f in self._templates.values())
        finger_cap = max(self.finger_capacity, fingers)
        user_cap = max(self.user_capacity, users)
        fields = [0] * 20
        fields[4], fields[6], fields[8], fields[12] = users, fingers, records, cards
        fields[14], fields[15], fields[16] = finger_cap, user_cap, self.record_capacity
        fields[17] = finger_cap - fingers
        fields[18] = user_cap - users
        fields[19] = self.record_capacity - records
        faces = (0, 0, 0)  # faces, ?, face capacity: no face unit
        return _Reply(p.ACK_OK, struct.pack("<20i", *fields) + struct.pack("<3i", *faces))

    def _cmd_get_time(self, s: _Session, payload: bytes) -> _Reply:
        return _Reply(p.ACK_OK, struct.pack("<I", p.encode_time(self.device_time())))

    def _cmd_set_time(self, s: _Session, payload: bytes) -> _Reply:
        if len(payload) < 4:
            return _Reply(p.ACK_ERROR)
        try:
            when = p.decode_time(struct.unpack_from("<I", payload)[0])
        except ValueError:
            return _Reply(p.ACK_ERROR)
        self.clock_offset = when - datetime.now().replace(microsecond=0)
        return _Reply(p.ACK_OK)

    def _shared(self, s: _Session) -> bool:
        return any(x is not s and x.connected and not x.closed for x in self._sessions)

    def _cmd_clear_attlog(self, s: _Session, payload: bytes) -> _Reply:
        with self._lock:
            self.shared_clears += self._shared(s)
            self.clear_punches()
            self.clear_count += 1
        return _Reply(p.ACK_OK)

    def _cmd_clear_data(self, s: _Session, payload: bytes) -> _Reply:
        with self._lock:
            self.shared_clears += self._shared(s)
            self.clear_punches()
            self._users.clear()
            self._templates.clear()
            self.clear_count += 1
        return _Reply(p.ACK_OK)

    def _cmd_ok(self, s: _Session, payload: bytes) -> _Reply:
        return _Reply(p.ACK_OK)

    def _cmd_refresh(self, s: _Session, payload: bytes) -> _Reply:
        with self._lock:
            self.refresh_count += 1
        return _Reply(p.ACK_OK)

    def _cmd_user_write(self, s: _Session, payload: bytes) -> _Reply:
        """Write one user record: the uid's user is replaced, or a new one enrolled.
        ACK_ERROR for a record of the wrong layout, a user id another uid has, or a full
        device (``user_capacity``)."""
        refused = self._faults.refuse_change()
        if refused is not None:
            return _Reply(refused)
        if len(payload) != self.user_size:
            return _Reply(p.ACK_ERROR)
        uid, priv, password, name, card, group, user_id = p.unpack_user(payload, self.encoding)
        with self._lock:
            same_uid = next((u for u in self._users if u.uid == uid), None)
            if any(u.user_id == user_id and u is not same_uid for u in self._users):
                return _Reply(p.ACK_ERROR)  # that user id belongs to another uid
            if same_uid is None:
                if uid == 0 or len(self._users) >= self.user_capacity:
                    return _Reply(p.ACK_ERROR)
                self._users.append(SimUser(uid, user_id, name, priv, card, password, group))
            else:
                same_uid.user_id, same_uid.name, same_uid.privilege = user_id, name, priv
                same_uid.card, same_uid.password, same_uid.group_id = card, password, group
            self.user_writes += 1
        return _Reply(p.ACK_OK)

    def _cmd_delete_user(self, s: _Session, payload: bytes) -> _Reply:
        refused = self._faults.refuse_change()
        if refused is not None:
            return _Reply(refused)
        if len(payload) < p.DELETE_USER.size:
            return _Reply(p.ACK_ERROR)
        (uid,) = p.DELETE_USER.unpack_from(payload)
        with self._lock:
            kept = [u for u in self._users if u.uid != uid]
            if len(kept) == len(self._users):
                return _Reply(p.ACK_ERROR)  # no such user
            self._users[:] = kept
            self._templates.pop(uid, None)
            self.user_deletes += 1
        return _Reply(p.ACK_OK)

    def _cmd_free_data(self, s: _Session, payload: bytes) -> _Reply:
        s.buffer = None
        s.upload = None
        return _Reply(p.ACK_OK)

    def _cmd_prepare_data(self, s: _Session, payload: bytes) -> _Reply:
        """The client is about to hand over ``<I`` bytes in CMD_DATA packets."""
        if len(payload) < 4:
            return _Reply(p.ACK_ERROR)
        (size,) = struct.unpack_from("<I", payload)
        if size > MAX_TCP_PACKET * 8:
            return _Reply(p.ACK_ERROR)
        s.upload, s.upload_size = bytearray(), size
        return _Reply(p.ACK_OK)

    def _cmd_data(self, s: _Session, payload: bytes) -> _Reply:
        if s.upload is None or len(s.upload) + len(payload) > s.upload_size:
            return _Reply(p.ACK_ERROR)
        s.upload += payload
        return _Reply(p.ACK_OK)

    def _cmd_save_usertemps(self, s: _Session, payload: bytes) -> _Reply:
        """Users and their templates from the upload: each user written as CMD_USER_WRQ
        would (same uid replaced, or enrolled), each template stored. All or nothing:
        ACK_ERROR for an upload that does not add up, a full device, a refusal."""
        data, s.upload = s.upload, None
        if data is None or len(data) != s.upload_size:
            return _Reply(p.ACK_ERROR)
        refused = self._faults.refuse_templates()
        if refused is not None:
            return _Reply(refused)
        try:
            users, fingers = p.unpack_save_usertemps(bytes(data), self.encoding)
        except ValueError:
            return _Reply(p.ACK_ERROR)
        with self._lock:
            known = {u.uid: u for u in self._users}
            new = [u for u in users if u[0] not in known]
            if new and len(self._users) + len(new) > self.user_capacity:
                return _Reply(p.ACK_ERROR)
            uids = {u[0] for u in users}
            if any(uid not in uids for uid, _f, _t in fingers):
                return _Reply(p.ACK_ERROR)  # a template of a user not in the upload
            stored = sum(len(f) for f in self._templates.values())
            added = sum(
                1 for uid, finger, _t in fingers if finger not in self._templates.get(uid, {})
            )
            if stored + added > self.finger_capacity:
                return _Reply(p.ACK_ERROR)
            for uid, priv, password, name, card, group, user_id in users:
                user = known.get(uid)
                if user is None:
                    self._users.append(SimUser(uid, user_id, name, priv, card, password, group))
                else:
                    user.user_id, user.name, user.privilege = user_id, name, priv
                    user.card, user.password, user.group_id = card, password, group
            for uid, finger, template in fingers:
                self._templates.setdefault(uid, {})[finger] = (1, template)
            self.template_writes += 1
        return _Reply(p.ACK_OK)

    def _template_buffer(self) -> bytes:
        return b"".join(
            p.pack_template(uid, finger, valid, template)
            for uid, fingers in sorted(self._templates.items())
            for finger, (valid, template) in sorted(fingers.items())
        )

    def _snapshot(self, command: int, fct: int = 0) -> bytes | None:
        with self._lock:
            if command == p.CMD_ATTLOG_RRQ:
                records = bytes(self._att)
            elif command == p.CMD_USERTEMP_RRQ:
                records = b"".join(
                    p.pack_user(
                        self.user_size,
                        uid=u.uid,
                        user_id=u.user_id,
                        name=u.name,
                        privilege=u.privilege,
                        password=u.password,
                        card=u.card,
                        group_id=u.group_id,
                        encoding=self.encoding,
                    )
                    for u in self._users
                )
            elif command == CMD_DB_RRQ and fct == p.FCT_FINGERTMP:
                records = self._template_buffer()
            elif command == CMD_DB_RRQ:
                records = b""  # no other tables
            else:
                return None
        return struct.pack("<I", len(records)) + records

    def _cmd_prepare_buffer(self, s: _Session, payload: bytes) -> _Reply:
        if len(payload) < 11:
            return _Reply(p.ACK_ERROR)
        _one, command, fct, _ext = struct.unpack_from("<bhii", payload)
        data = self._snapshot(command, fct)
        if data is None:
            return _Reply(p.ACK_ERROR)
        limit = self.inline_limit
        if s.transport == "udp":
            limit = min(limit, UDP_INLINE_MAX)
        att = (0, len(data)) if command == p.CMD_ATTLOG_RRQ else None
        s.buffer = None
        if len(data) <= limit:
            return _Reply(p.CMD_DATA, data, att=att)
        s.buffer, s.buffer_kind, s.chunk_index = data, command, 0
        return _Reply(p.ACK_OK, struct.pack("<BIII", 0, len(data), len(data), 0))

    def _cmd_read_buffer(self, s: _Session, payload: bytes) -> _Reply:
        if s.buffer is None or len(payload) < 8:
            return _Reply(p.ACK_ERROR)
        start, size = struct.unpack_from("<ii", payload)
        if start < 0 or size <= 0 or start >= len(s.buffer):
            return _Reply(p.ACK_ERROR)
        chunk = s.buffer[start : start + size]
        att = (start, len(s.buffer)) if s.buffer_kind == p.CMD_ATTLOG_RRQ else None
        return _Reply(p.ACK_OK, chunk=chunk, att=att)

    _handlers: ClassVar[dict[int, Callable[[ZKSimulator, _Session, bytes], _Reply]]] = {
        p.CMD_ENABLEDEVICE: _cmd_enable,
        p.CMD_DISABLEDEVICE: _cmd_disable,
        p.CMD_GET_VERSION: _cmd_version,
        p.CMD_OPTIONS_RRQ: _cmd_options_read,
        p.CMD_OPTIONS_WRQ: _cmd_options_write,
        CMD_GET_PINWIDTH: _cmd_pin_width,
        p.CMD_GET_FREE_SIZES: _cmd_free_sizes,
        p.CMD_GET_TIME: _cmd_get_time,
        p.CMD_SET_TIME: _cmd_set_time,
        p.CMD_CLEAR_ATTLOG: _cmd_clear_attlog,
        p.CMD_CLEAR_DATA: _cmd_clear_data,
        p.CMD_REFRESHDATA: _cmd_refresh,
        p.CMD_USER_WRQ: _cmd_user_write,
        p.CMD_DELETE_USER: _cmd_delete_user,
        p.CMD_FREE_DATA: _cmd_free_data,
        p.CMD_PREPARE_DATA: _cmd_prepare_data,
        p.CMD_DATA: _cmd_data,
        p.CMD_SAVE_USERTEMPS: _cmd_save_usertemps,
        p.CMD_PREPARE_BUFFER: _cmd_prepare_buffer,
        p.CMD_READ_BUFFER: _cmd_read_buffer,
    }

    # ---------------------------------------------------------------- sending

    def _frames(self, s: _Session, reply: _Reply, reply_id: int) -> list[tuple[bytes, int]]:
        """The reply as wire frames (TCP: prefixed; UDP: datagrams), each with the number
        of data bytes it carries at its end."""
        sid = s.session_id if reply.session is None else reply.session
        sid = sid or 0
        tcp = s.transport == "tcp"

        def frame(command: int, payload: bytes = b"") -> bytes:
            packet = p.make_packet(command, sid, reply_id, payload)
            return p.tcp_wrap(packet) if tcp else packet

        if reply.chunk is None:
            carried = len(reply.payload) if reply.att else 0
            return [(frame(reply.command, reply.payload), carried)]
        data = reply.chunk
        frames = [(frame(p.CMD_PREPARE_DATA, struct.pack("<II", len(data), 0)), 0)]
        split = self._faults.split_bytes()
        if not tcp:
            step = UDP_DATA_FRAME
        elif split is not None:
            step = split
        else:
            step = len(data)
        for i in range(0, len(data), step):
            piece = data[i : i + step]
            frames.append((frame(p.CMD_DATA, piece), len(piece)))
        frames.append((frame(p.ACK_OK), 0))
        return frames

    def _break_point(self, reply: _Reply) -> tuple[Fault, int] | None:
        """(fault, data bytes of this reply to deliver) when a drop/reset/stall fires here."""
        if reply.att is None:
            return None
        offset, total = reply.att
        carried = len(reply.chunk if reply.chunk is not None else reply.payload)
        return self._faults.break_point(offset, total, carried)

    def _send(self, s: _Session, reply: _Reply, reply_id: int) -> None:
        frames = self._frames(s, reply, reply_id)
        tcp = s.transport == "tcp"
        broken = self._break_point(reply)
        if broken is not None:
            fault, keep = broken
            kept: list[bytes] = []
            for wire, carried in frames:
                if keep >= carried:
                    kept.append(wire)
                    keep -= carried
                    continue
                if tcp:
                    kept.append(wire[: len(wire) - carried + keep])
                break  # UDP: a datagram is all or nothing
            self._write(s, kept, chunk=reply.chunk is not None)
            self._break(s, fault)
            return
        if reply.att is not None and not s.corrupted:
            last = reply.att[0] + len(reply.chunk or reply.payload) >= reply.att[1]
            if self._faults.corrupt_now(s.chunk_index, last):
                s.corrupted = True
                frames = [(self._garbage(len(w), tcp), 0) for w, _ in frames]
                if tcp:
                    frames = [(b"".join(w for w, _ in frames), 0)]
        if reply.chunk is not None:
            s.chunk_index += 1
        self._write(s, [w for w, _ in frames], chunk=reply.chunk is not None)

    def _garbage(self, n: int, tcp: bool) -> bytes:
        return self._faults.garbage(n)

    def _write(self, s: _Session, wires: list[bytes], *, chunk: bool) -> None:
        sock = s.sock
        if sock is None or not wires:
            return
        with s.send_lock:
            if s.transport == "udp":
                for wire in wires:
                    sock.sendto(wire, s.addr)
                return
            fragment = self._faults.fragment_bytes()
            paced = self._faults.pace()
            if fragment is not None:
                blob = b"".join(wires)
                for i in range(0, len(blob), fragment):
                    if i and not self._sleep(0.001):
                        return
                    sock.sendall(blob[i : i + fragment])
            elif chunk and paced is not None:
                for i, wire in enumerate(wires):
                    if i and not self._sleep(paced):
                        return
                    sock.sendall(wire)
            elif chunk and self._faults.gathered():
                # the frames back to back in one gathered write: they reach the client
                # together, as from a terminal that does not wait between frames
                sent = sock.sendmsg(wires)
                blob = b"".join(wires)
                if sent < len(blob):
                    sock.sendall(blob[sent:])
            else:
                sock.sendall(b"".join(wires))

    def _break(self, s: _Session, fault: Fault) -> None:
        s.dead = True
        s.connected = False
        if s.transport == "udp":
            return
        sock = s.sock
        assert sock is not None
        if fault.kind == "stall":
            return
        if fault.kind == "reset":
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.closed = True
        with contextlib.suppress(OSError):
            if fault.kind == "drop":
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    buf = bytearray()
    while len(buf) < n:
        piece = sock.recv(n - len(buf))
        if not piece:
            return None
        buf += piece
    return bytes(buf)
