"""Byte transports for the Anviz protocol: a serial line (pyserial) or plain TCP.

A transport moves bytes and knows nothing of frames. ``read(timeout)`` returns what has
arrived (at least one byte) or ``b""`` when nothing came within ``timeout``: a frame may
arrive in any number of pieces and the framer puts them together. Failures are
``OpenFailed`` (cannot open / connect; ``busy`` when another program holds the port) and
``LinkLost`` (the port or connection went away mid-run, e.g. a USB adapter unplugged).

``waited`` adds up the seconds spent blocked waiting for the line, for the benchmark.

Several devices on one serial port (an RS-485 bus) are polled in turn: ``bus_lock`` gives
one process-wide lock per port, held by a driver for its whole session. That only orders the
threads of one process; ``exclusive=True`` (a ``flock`` on the device) keeps other processes
out — a second punchd, or a vendor program that also locks, gets "busy".
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import serial
import structlog
from serial.rs485 import RS485Settings

log = structlog.get_logger("punchd.drivers.anviz")

#: how long one blocking read of a pyserial URL handler waits before the deadline is checked
POLL_INTERVAL = 0.05

try:  # local ports (POSIX): wait on the descriptor with select(), to the exact deadline
    from serial.serialposix import Serial as _PosixSerial

    _LOCAL_PORTS: tuple[type, ...] = (_PosixSerial,)
except ImportError:  # pragma: no cover - Windows
    _LOCAL_PORTS = ()


class TransportError(Exception):
    """Base of the transport failures; the driver turns them into driver errors."""


class OpenFailed(TransportError):
    def __init__(self, message: str, *, busy: bool = False) -> None:
        super().__init__(message)
        self.busy = busy


class LinkLost(TransportError):
    """The port vanished or the connection dropped."""


class Transport:
    """The interface the client uses (see the module docstring)."""

    where: str
    waited: float = 0.0

    def open(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def write(self, data: bytes) -> None:
        raise NotImplementedError

    def read(self, timeout: float) -> bytes:
        raise NotImplementedError

    def discard_input(self) -> int:
        """Drop the bytes already received (stale answers); how many were dropped."""
        raise NotImplementedError


# --------------------------------------------------------------------------- serial


def _open_error(port: str, exc: BaseException) -> OpenFailed:
    code = getattr(exc, "errno", None)
    text = str(exc)
    if code in (errno.EAGAIN, errno.EWOULDBLOCK) or "exclusively lock" in text:
        return OpenFailed(
            f"{port} is in use by another program (it holds the exclusive lock)", busy=True
        )
    if code == errno.EBUSY:
        return OpenFailed(f"{port} is busy (opened by another program)", busy=True)
    if code == errno.ENOENT or "No such file" in text:
        return OpenFailed(
            f"{port} does not exist (adapter unplugged? prefer a /dev/serial/by-id/ name)"
        )
    if code == errno.EACCES or "Permission denied" in text:
        return OpenFailed(
            f"{port}: permission denied (the punchd user must be in the dialout group)"
        )
    if "refused" in text.lower():
        return OpenFailed(f"{port}: connection refused")
    return OpenFailed(f"cannot open {port}: {text}")


class SerialTransport(Transport):
    """A serial port through pyserial: a device path or any pyserial URL (``socket://``,
    ``rfc2217://``, ``loop://``…). 8N1, ``exclusive=True``; RS-485 mode only when asked.

    On RS-485 the kernel switches the line driver around each write when the adapter's
    driver supports it (``TIOCSRS485``). Where it does not — ptys, and USB adapters that
    switch direction by themselves — the ioctl fails with ENOTTY/EINVAL: that is logged and
    the port is used as is (``rs485_note`` says why).
    """

    def __init__(
        self,
        port: str,
        *,
        baudrate: int = 9600,
        rs485: bool = False,
        rs485_delay_before_tx: float | None = None,
        rs485_delay_before_rx: float | None = None,
    ) -> None:
        self.port = port
        self.where = port
        self.baudrate = baudrate
        self.rs485 = rs485
        self.rs485_delays = (rs485_delay_before_tx, rs485_delay_before_rx)
        self.rs485_note: str | None = None
        self.waited = 0.0
        self._ser: serial.SerialBase | None = None
        self._fd: int | None = None  # set for local ports (select() on it)

    def open(self) -> None:
        try:
            ser = serial.serial_for_url(
                self.port,
                baudrate=self.baudrate,
                bytesize=serial.EIGHTBITS,
                parity=serial.PARITY_NONE,
                stopbits=serial.STOPBITS_ONE,
                timeout=POLL_INTERVAL,
                write_timeout=None,
                exclusive=True,
            )
        except (serial.SerialException, OSError, ValueError) as exc:
            raise _open_error(self.port, exc) from None
        try:
            if self.rs485:
                self._set_rs485(ser)
            ser.reset_input_buffer()  # whatever the line held before this session
            if isinstance(ser, _LOCAL_PORTS):
                self._fd = ser.fileno()
        except (serial.SerialException, OSError) as exc:
            with contextlib.suppress(Exception):
                ser.close()
            raise _open_error(self.port, exc) from None
        self._ser = ser

    def _set_rs485(self, ser: serial.SerialBase) -> None:
        before_tx, before_rx = self.rs485_delays
        try:
            ser.rs485_mode = RS485Settings(
                rts_level_for_tx=True,
                rts_level_for_rx=False,
                delay_before_tx=before_tx,
                delay_before_rx=before_rx,
            )
        except ValueError as exc:
            cause = exc.__context__
            code = getattr(cause, "errno", None)
            if code not in (errno.ENOTTY, errno.EINVAL, errno.EOPNOTSUPP):
                raise OpenFailed(f"{self.port}: cannot set RS-485 mode: {exc}") from None
            ser.rs485_mode = None
            self.rs485_note = (
                f"{self.port} has no kernel RS-485 mode ({os.strerror(code or 0)}); using it "
                "as is — the adapter must switch direction by itself (most USB RS-485 "
                "adapters do)"
            )
            log.warning("rs485 mode unavailable", port=self.port, detail=self.rs485_note)

    def close(self) -> None:
        ser, self._ser = self._ser, None
        self._fd = None
        if ser is not None:
            with contextlib.suppress(Exception):
                ser.close()

    def _port(self) -> serial.SerialBase:
        if self._ser is None:
            raise LinkLost(f"{self.port} is not open")
        return self._ser

    def write(self, data: bytes) -> None:
        ser = self._port()
        try:
            ser.write(data)
        except (serial.SerialException, OSError) as exc:
            raise LinkLost(f"{self.port} vanished while writing ({exc})") from None

    def read(self, timeout: float) -> bytes:
        ser = self._port()
        try:
            waiting = ser.in_waiting
            if waiting:
                return ser.read(waiting)
            if self._fd is not None:
                return self._read_fd(ser, timeout)
            deadline = time.monotonic() + timeout
            while True:
                started = time.perf_counter()
                first = ser.read(1)  # URL handlers: blocks up to POLL_INTERVAL
                self.waited += time.perf_counter() - started
                if first:
                    return first + self._drain(ser)
                if time.monotonic() >= deadline:
                    return b""
        except (serial.SerialException, OSError) as exc:
            raise LinkLost(f"{self.port} vanished ({exc})") from None

    def _read_fd(self, ser: serial.SerialBase, timeout: float) -> bytes:
        """A local port: wait on its descriptor for exactly ``timeout``, then take all."""
        started = time.perf_counter()
        ready, _, _ = select.select([self._fd], [], [], timeout)
        self.waited += time.perf_counter() - started
        if not ready:
            return b""
        waiting = ser.in_waiting
        if not waiting:  # readable without data: the device is gone (hang-up)
            raise LinkLost(f"{self.port} vanished (hang-up)")
        return ser.read(waiting)

    def discard_input(self) -> int:
        ser = self._port()
        try:
            return len(self._drain(ser))
        except (serial.SerialException, OSError) as exc:
            raise LinkLost(f"{self.port} vanished ({exc})") from None

    @staticmethod
    def _drain(ser: serial.SerialBase) -> bytes:
        """Everything received so far (some URL handlers report 1 byte waiting at a time)."""
        out = bytearray()
        while waiting := ser.in_waiting:
            out += ser.read(waiting)
        return bytes(out)


# --------------------------------------------------------------------------- TCP


class TcpTransport(Transport):
    """Plain TCP to the device (port 5010) or to a serial device server."""

    def __init__(self, host: str, port: int = 5010, *, connect_timeout: float = 10.0) -> None:
        self.host = host
        self.port = port
        self.where = f"{host}:{port}"
        self.connect_timeout = connect_timeout
        self.waited = 0.0
        self._sock: socket.socket | None = None

    def open(self) -> None:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        except ConnectionRefusedError:
            raise OpenFailed(f"{self.where}: connection refused") from None
        except TimeoutError:
            raise OpenFailed(
                f"{self.where}: no answer to connect within {self.connect_timeout:g}s"
            ) from None
        except OSError as exc:
            raise OpenFailed(f"{self.where}: {exc.strerror or exc}") from None
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()

    def _socket(self) -> socket.socket:
        if self._sock is None:
            raise LinkLost(f"{self.where}: not connected")
        return self._sock

    def write(self, data: bytes) -> None:
        sock = self._socket()
        try:
            sock.settimeout(self.connect_timeout)
            sock.sendall(data)
        except OSError as exc:
            raise LinkLost(f"{self.where}: connection lost while writing ({exc})") from None

    def read(self, timeout: float) -> bytes:
        sock = self._socket()
        started = time.perf_counter()
        try:
            sock.settimeout(max(timeout, 0.001))
            data = sock.recv(65536)
        except TimeoutError:
            return b""
        except OSError as exc:
            raise LinkLost(f"{self.where}: connection lost ({exc})") from None
        finally:
            self.waited += time.perf_counter() - started
        if not data:
            raise LinkLost(f"{self.where}: connection closed by the device")
        return data

    def discard_input(self) -> int:
        sock = self._socket()
        dropped = 0
        try:
            sock.setblocking(False)
            while True:
                try:
                    data = sock.recv(65536)
                except (BlockingIOError, InterruptedError):
                    break
                if not data:
                    raise LinkLost(f"{self.where}: connection closed by the device")
                dropped += len(data)
        except OSError as exc:
            raise LinkLost(f"{self.where}: connection lost ({exc})") from None
        return dropped


# --------------------------------------------------------------------------- bus lock


@dataclass
class _Bus:
    lock: threading.Lock
    holder: str | None = None
    thread: int | None = None


_BUSES: dict[str, _Bus] = {}
_BUSES_GUARD = threading.Lock()


class BusBusy(TransportError):
    pass


def bus_key(port: str | None = None, host: str | None = None, tcp_port: int = 5010) -> str:
    """One key per physical line: a device path resolved through symlinks
    (``/dev/serial/by-id/…`` and ``/dev/ttyUSB0`` are the same bus), a URL as written,
    ``tcp://host:port`` for TCP (several ids behind one RS-485-to-Ethernet gateway)."""
    if port is not None:
        return port if "://" in port else os.path.realpath(port)
    return f"tcp://{(host or '').lower()}:{tcp_port}"


@contextlib.contextmanager
def bus_lock(key: str, holder: str, wait: float) -> Iterator[None]:
    """Hold the process-wide lock of one port; ``BusBusy`` after ``wait`` seconds, or at
    once when this thread already holds it (it would wait for itself)."""
    with _BUSES_GUARD:
        bus = _BUSES.setdefault(key, _Bus(threading.Lock()))
    if bus.thread == threading.get_ident():
        raise BusBusy(f"{key} is already open in this thread by device {bus.holder!r}")
    if not bus.lock.acquire(timeout=wait):
        raise BusBusy(
            f"{key} is still in use by device {bus.holder!r} after {wait:g}s "
            "(devices on one port are polled one after the other)"
        )
    bus.holder, bus.thread = holder, threading.get_ident()
    try:
        yield
    finally:
        bus.holder = bus.thread = None
        bus.lock.release()
