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

Faults are injected through ``faults.Injector`` (``faults.py`` lists them); the records come
from ``data.py``, the line ends (pty, TCP) are in ``lines.py``.

``bus_log`` records ``(device_id, command)`` of every request heard, in order, and
``bad_requests`` counts requests that failed their CRC (two masters talking at once), so a
test can prove that the devices of one bus were polled in turn.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import random
import select
import socket
import threading
import time
import tty
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path

from punchd.drivers.anviz import codec
from punchd.drivers.anviz import framer as f
from punchd.drivers.anviz.codec import Record
from punchd.drivers.anviz.simulator.data import SimDevice, arriving_records, generate_records
from punchd.drivers.anviz.simulator.faults import NOISE_EVERY, Fault, Injector, parse_fault
from punchd.drivers.anviz.simulator.lines import LineEnd, PtyEnd, TcpEnd

__all__ = ["AnvizSimulator"]


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
        self._lock = threading.RLock()
        self._rng = random.Random(seed ^ 0xA5A5)
        self._faults = Injector(faults, self._rng, self._lock)
        self.line_rate = line_rate
        self.replug_delay = replug_delay
        self.on_request: Callable[[int, int, bytes], None] | None = None
        self.callback_errors: list[BaseException] = []
        # observed
        self.bus_log: list[tuple[int, int]] = []
        self.bad_requests = 0
        self.requests = 0
        self.answers = 0
        self.fault_hits = self._faults.hits
        self.path: str | None = None  # pty slave path or link
        self.port: int | None = None  # TCP port
        self.vanished = threading.Event()
        self.replugged = threading.Event()

        self._stop = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        self._threads: list[threading.Thread] = []
        self._ends: list[LineEnd] = []
        self._listen: socket.socket | None = None
        self._packets_in_download = 0
        self._link: Path | None = None

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
        end = PtyEnd(master)
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

    def _new_pty(self) -> PtyEnd:
        master, slave = os.openpty()
        tty.setraw(slave)
        end = PtyEnd(master, slave, self._link)
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

    @property
    def faults(self) -> list[Fault]:
        return self._faults.faults

    @faults.setter
    def faults(self, faults: Iterable[str | Fault]) -> None:
        self._faults.faults = [parse_fault(x) for x in faults]

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
            end = TcpEnd(conn)
            self._ends.append(end)
            self._spawn(self._serve, end)

    def _serve(self, end: LineEnd) -> None:
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

    def _answer(self, end: LineEnd, request: f.Frame) -> bool:
        """Answer one request; False when the endpoint is gone."""
        with self._lock:
            self.requests += 1
            self.bus_log.append((request.device_id, request.code))
            number = self.requests
            if self._faults.silent(number) or self._faults.lost(number):
                return True
            download = request.code == f.CMD_DOWNLOAD
            starts = request.data[:1] in (b"\x01", b"\x02")
            if download and not starts and self._faults.vanish_now(self._packets_in_download):
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

    def _vanish(self, end: LineEnd) -> None:
        self.vanished.set()  # before the client can notice
        end.vanish()
        if isinstance(end, PtyEnd) and end.link is not None:
            self._spawn(self._replug)

    def _replug(self) -> None:
        if self._stop.wait(self.replug_delay):
            return
        end = self._new_pty()
        self.replugged.set()
        self._serve(end)

    def _after_packet(self, device: SimDevice) -> None:
        n = self._faults.arrivals(self._packets_in_download)
        if not n:
            return
        with self._lock:
            device.add(arriving_records(device, n))

    def _send(self, end: LineEnd, wire: bytes) -> bool:
        with self._lock:
            self.answers += 1
            blob = self._faults.shape(wire, self.answers, self.devices)
        if self._faults.get("noise") and not self._noise(end):
            return False
        if self._faults.get("drip"):
            return self._drip(end, blob)
        split = self._faults.get("split")
        if split is None:
            ok = end.write(blob, self._stop)
            self._pace(len(blob))
            return ok
        self.fault_hits["split"] += 1
        i = 0
        while i < len(blob):
            step = self._faults.split_step()
            if not end.write(blob[i : i + step], self._stop):
                return False
            i += step
            if i < len(blob) and self._stop.wait(self._faults.value("split")):
                return False
        self._pace(len(blob))
        return True

    def _noise(self, end: LineEnd) -> bool:
        """Line noise for the ``noise`` fault's seconds; False when the endpoint is gone."""
        seconds = self._faults.value("noise")
        with self._lock:
            self.fault_hits["noise"] += 1
        until = time.monotonic() + seconds
        while time.monotonic() < until and self._faults.get("noise") is not None:
            burst = self._faults.noise_burst()
            if not end.write(burst, self._stop) or self._stop.wait(NOISE_EVERY):
                return False
        return True

    def _drip(self, end: LineEnd, blob: bytes) -> bool:
        """``blob`` one byte at a time, the ``drip`` fault's seconds apart; the rest at once
        when the fault is taken away (the line is fixed)."""
        every = self._faults.value("drip")
        with self._lock:
            self.fault_hits["drip"] += 1
        for i in range(len(blob)):
            if self._faults.get("drip") is None:
                return end.write(blob[i:], self._stop)
            if not end.write(blob[i : i + 1], self._stop):
                return False
            if i + 1 < len(blob) and self._stop.wait(every):
                return False
        return True

    def _pace(self, nbytes: int) -> None:
        if self.line_rate:
            self._stop.wait(nbytes * 10 / self.line_rate)

    # ---------------------------------------------------------------- commands

    def _handle(self, d: SimDevice, cmd: int, data: bytes) -> tuple[int, bytes]:
        if cmd == f.CMD_RECORD_INFO:
            people = d.people.values()
            fingers = sum(bin(s.fingers & 0x3FF).count("1") for s in people)
            cards = sum(1 for s in people if s.card is not None)
            passwords = sum(1 for s in people if s.password != b"\xff\xff\xff")
            counts = codec.Counts(len(d.people), fingers, passwords, cards, len(d.records), d.new)
            return f.RET_SUCCESS, codec.encode_counts(counts)
        if cmd == f.CMD_DOWNLOAD_STAFF:
            return self._download_staff(d, data)
        if cmd == f.CMD_UPLOAD_STAFF:
            return self._upload_staff(d, data)
        if cmd == f.CMD_DELETE_USER:
            return self._delete_user(d, data)
        if cmd == f.CMD_GET_TEMPLATE:
            return self._get_template(d, data)
        if cmd == f.CMD_PUT_TEMPLATE:
            return self._put_template(d, data)
        if cmd == f.CMD_CAPACITY:
            capacity = (d.user_capacity, d.fingerprint_capacity, 100_000)
            return f.RET_SUCCESS, b"".join(v.to_bytes(3, "big") for v in capacity)
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

    # ---------------------------------------------------------------- people

    def _download_staff(self, d: SimDevice, data: bytes) -> tuple[int, bytes]:
        """0x72: paged like the records (1 start, 0 next, 0x10 resend), at most 12 (30-byte
        records) or 8 (40-byte) a packet; asking for more or for none fails."""
        most = codec.STAFF_PER_PACKET[d.staff_size]
        if len(data) < 2 or not 1 <= data[1] <= most:
            return f.RET_FAIL, b""
        param, amount = data[0], data[1]
        if param == f.DOWNLOAD_RESEND:
            if d._staff_last is None:
                return f.RET_FAIL, b""
            return f.RET_SUCCESS, d._staff_last
        if param == f.DOWNLOAD_ALL:
            d._staff_out = [
                codec.encode_staff(s, d.staff_size, d.name_encoding) for s in d.people.values()
            ]
            d._staff_cursor = 0
            d.staff_downloads += 1
        elif param != f.DOWNLOAD_NEXT or d._staff_cursor is None:
            return f.RET_FAIL, b""
        chunk = d._staff_out[d._staff_cursor : d._staff_cursor + amount]
        if not chunk:
            return f.RET_EMPTY, b""
        d._staff_cursor += len(chunk)
        d._staff_last = codec.encode_staff_packet(chunk)
        return f.RET_SUCCESS, d._staff_last

    def _upload_staff(self, d: SimDevice, data: bytes) -> tuple[int, bytes]:
        """0x73: N records of the clock's own size; the answer's 2-byte flag (big-endian)
        has bit i set for each record i taken. A new user beyond the capacity, or one of
        ``refuse_ids``, is not taken. The fingerprint enrol state cannot be set: kept."""
        size, most = d.staff_size, codec.STAFF_PER_PACKET[d.staff_size]
        if not data or not 1 <= data[0] <= most or len(data) != 1 + data[0] * size:
            return f.RET_FAIL, b""
        flags = 0
        for i in range(data[0]):
            raw = data[1 + i * size : 1 + (i + 1) * size]
            s = codec.decode_staff(raw, size, d.name_encoding)
            before = d.people.get(s.user_id)
            if s.user_id in d.refuse_ids or (before is None and len(d.people) >= d.user_capacity):
                continue
            fingers = before.fingers if before is not None else 0
            d.people[s.user_id] = dataclasses.replace(s, fingers=fingers)
            d.staff_writes += 1
            flags |= 1 << i
        return f.RET_SUCCESS, flags.to_bytes(2, "big")

    def _delete_user(self, d: SimDevice, data: bytes) -> tuple[int, bytes]:
        """0x4C: backup code 0xFF removes the user; bits 0-3 (FP1, FP2, password, card)
        remove only that data and keep the user record."""
        if len(data) != 6:
            return f.RET_FAIL, b""
        user_id, code = int.from_bytes(data[:5], "big"), data[5]
        before = d.people.get(user_id)
        if before is None:
            return f.RET_NO_USER, b""
        if code == codec.DELETE_ALL_DATA:
            del d.people[user_id]
            for slot in codec.FP_SLOTS:
                d.fingerprints.pop((user_id, slot), None)
            d.staff_deletes += 1
        else:
            for slot in codec.FP_SLOTS:
                if code & (1 << (slot - 1)):
                    d.fingerprints.pop((user_id, slot), None)
            d.people[user_id] = dataclasses.replace(
                before,
                fingers=before.fingers & ~(code & 0x03),
                password=b"\xff\xff\xff" if code & 0x04 else before.password,
                card=None if code & 0x08 else before.card,
            )
        return f.RET_SUCCESS, b""

    def _get_template(self, d: SimDevice, data: bytes) -> tuple[int, bytes]:
        """0x44: the template of a user's FP1 / FP2; "no user" for a user it does not have,
        "fail" for a finger not enrolled."""
        if len(data) != 6 or data[5] not in codec.FP_SLOTS:
            return f.RET_FAIL, b""
        user_id = int.from_bytes(data[:5], "big")
        if user_id not in d.people:
            return f.RET_NO_USER, b""
        template = d.fingerprints.get((user_id, data[5]))
        return (f.RET_SUCCESS, template) if template is not None else (f.RET_FAIL, b"")

    def _put_template(self, d: SimDevice, data: bytes) -> tuple[int, bytes]:
        """0x45: user id, backup code, a template of this model's size; sets the finger's
        bit in the user's enrol state. "no user" for a user it does not have, "full" past
        its fingerprint capacity."""
        if len(data) != 6 + d.template_size or data[5] not in codec.FP_SLOTS:
            return f.RET_FAIL, b""
        user_id, slot = int.from_bytes(data[:5], "big"), data[5]
        before = d.people.get(user_id)
        if before is None:
            return f.RET_NO_USER, b""
        if (user_id, slot) not in d.fingerprints and len(d.fingerprints) >= d.fingerprint_capacity:
            return f.RET_FULL, b""
        d.fingerprints[(user_id, slot)] = bytes(data[6:])
        d.people[user_id] = dataclasses.replace(before, fingers=before.fingers | (1 << (slot - 1)))
        d.template_writes += 1
        return f.RET_SUCCESS, b""
