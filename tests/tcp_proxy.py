"""A loopback TCP proxy that a test can cut and restore (a database "going away"), or
silence (a half-open link: connections stay open, nothing comes back)."""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading


class TcpProxy:
    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._listen = socket.create_server(("127.0.0.1", 0))
        self.port = self._listen.getsockname()[1]
        self._up = threading.Event()
        self._up.set()
        self._silent = threading.Event()
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._pairs: set[tuple[socket.socket, socket.socket]] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def cut(self) -> None:
        """Drop every connection and refuse new ones until restore()."""
        self._up.clear()
        with self._lock:
            pairs, self._pairs = self._pairs, set()
        for a, b in pairs:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    def silence(self) -> None:
        """A black hole: open connections forward nothing more, new ones are accepted and
        never answered; no connection is closed (the peers' TCP stacks still answer)."""
        self._silent.set()

    def restore(self) -> None:
        if self._silent.is_set():
            # The link comes back after the peers gave up on it: the old connections reset.
            self._silent.clear()
            self.cut()
            with self._lock:
                held, self._held = self._held, []
            for s in held:
                s.close()
        self._up.set()

    def close(self) -> None:
        self._stop.set()
        self.cut()
        self._listen.close()

    def _accept(self) -> None:
        self._listen.settimeout(0.2)
        while not self._stop.is_set():
            try:
                client, _ = self._listen.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if not self._up.is_set():
                client.close()  # the server is "down"
                continue
            if self._silent.is_set():
                with self._lock:
                    self._held.append(client)  # accepted, never answered
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._pairs.add((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        sel = selectors.DefaultSelector()
        try:
            sel.register(a, selectors.EVENT_READ, b)
            sel.register(b, selectors.EVENT_READ, a)
            while not self._stop.is_set():
                if self._silent.is_set():
                    self._stop.wait(0.2)  # read nothing, forward nothing, close nothing
                    continue
                for key, _ in sel.select(0.2):
                    data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                    if not data:
                        return
                    key.data.sendall(data)
        except (OSError, ValueError):
            return
        finally:
            sel.close()
            with self._lock:
                self._pairs.discard((a, b))
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.close()
