"""The ends of a line the Anviz simulator serves: a pty (a serial port, or an RS-485 bus)
or a TCP connection. Each reads requests and writes answers without blocking the line."""

from __future__ import annotations

import contextlib
import os
import select
import socket
import struct
import threading
import time
import tty
from pathlib import Path

__all__ = ["LineEnd", "PtyEnd", "TcpEnd"]


class LineEnd:
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


class PtyEnd(LineEnd):
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


class TcpEnd(LineEnd):
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
