"""What the receiver keeps in memory: when each clock was last heard from (written to the
database at most once a minute per clock), the stamps of its last committed uploads (echoed
at the handshake even while the database is away), the uploads it has in flight (the
per-clock concurrency bound), and the calls of unknown serial numbers (counted here, written
throttled: a clock that is not configured must not become a write load).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

#: seconds between two database writes of one clock's last contact (or pending serial)
SEEN_WRITE_EVERY = 60.0
#: unknown serial numbers remembered at most (a flood of invented ones must not grow memory)
MAX_PENDING = 10_000


@dataclass
class _Clock:
    seen_at: float | None = None  # time.monotonic() of the last request
    address: str | None = None
    written_at: float | None = None  # time.monotonic() of the last database write
    attlog_stamp: str | None = None
    uploads: int = 0


@dataclass
class _Pending:
    unwritten: int = 0
    written_at: float | None = None


class ReceiverState:
    def __init__(self, *, write_every: float = SEEN_WRITE_EVERY) -> None:
        self.write_every = write_every
        self._lock = threading.Lock()
        self._clocks: dict[str, _Clock] = {}
        self._pending: dict[str, _Pending] = {}

    def _clock(self, name: str) -> _Clock:
        clock = self._clocks.get(name)
        if clock is None:
            clock = self._clocks[name] = _Clock()
        return clock

    # -- last contact -------------------------------------------------------------------
    def seen(self, name: str, address: str) -> bool:
        """Note a request of ``name`` from ``address``; True when the database should hear
        of it now (first contact, a new address, or a minute since the last write)."""
        now = time.monotonic()
        with self._lock:
            clock = self._clock(name)
            moved = clock.address != address
            clock.seen_at, clock.address = now, address
            due = moved or clock.written_at is None or now - clock.written_at >= self.write_every
            if due:
                clock.written_at = now
            return due

    def write_failed(self, name: str) -> None:
        """The last-contact write did not happen: try again at the next request."""
        with self._lock:
            self._clock(name).written_at = None

    def last_seen(self, name: str) -> float | None:
        """Seconds since ``name``'s last request, or None."""
        with self._lock:
            clock = self._clocks.get(name)
            if clock is None or clock.seen_at is None:
                return None
            return time.monotonic() - clock.seen_at

    # -- stamps -------------------------------------------------------------------------
    def stamp(self, name: str) -> str | None:
        with self._lock:
            clock = self._clocks.get(name)
            return None if clock is None else clock.attlog_stamp

    def set_stamp(self, name: str, stamp: str | None) -> None:
        if stamp is None:
            return
        with self._lock:
            self._clock(name).attlog_stamp = stamp

    # -- per-clock concurrency ----------------------------------------------------------
    def begin_upload(self, name: str, limit: int) -> bool:
        """Take one of ``name``'s ``limit`` upload slots; False when all are taken."""
        with self._lock:
            clock = self._clock(name)
            if clock.uploads >= limit:
                return False
            clock.uploads += 1
            return True

    def end_upload(self, name: str) -> None:
        with self._lock:
            clock = self._clock(name)
            clock.uploads = max(0, clock.uploads - 1)

    # -- unknown serial numbers ---------------------------------------------------------
    def pending_call(self, serial: str) -> int:
        """Count a call of an unknown serial; returns how many calls to write to the database
        now (0: not yet, a write for this serial happened less than a minute ago)."""
        now = time.monotonic()
        with self._lock:
            entry = self._pending.get(serial)
            if entry is None:
                if len(self._pending) >= MAX_PENDING:
                    self._pending.clear()  # crude, but bounded; the database keeps the list
                entry = self._pending[serial] = _Pending()
            entry.unwritten += 1
            if entry.written_at is not None and now - entry.written_at < self.write_every:
                return 0
            count, entry.unwritten, entry.written_at = entry.unwritten, 0, now
            return count

    def pending_write_failed(self, serial: str, count: int) -> None:
        with self._lock:
            entry = self._pending.setdefault(serial, _Pending())
            entry.unwritten += count
            entry.written_at = None
