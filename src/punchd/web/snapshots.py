"""Readings of the site that every request may share for a moment.

The clocks and home pages read the devices' state, the daemon's heartbeat and today's results:
the same for everyone who loads them at the same time. Under load (a room of clerks, a wall
screen refreshing) each such reading is taken at most once per ``seconds`` and shared; one
request builds it while the others asking for the same key wait for that one. A finished
Collect-now run clears them, so the clerk who pressed the button sees its result at once.
Sessions are never cached: every request still checks its own on the server.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")

#: how long a reading is shared
SNAPSHOT_SECONDS = 2.0
#: readings kept at most (one per page and scope: bounded by the accounts, but be safe)
MAX_SNAPSHOTS = 1024


class Snapshots:
    def __init__(
        self,
        seconds: float = SNAPSHOT_SECONDS,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.seconds = seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._items: dict[Hashable, tuple[float, Any]] = {}
        self._building: dict[Hashable, threading.Lock] = {}
        self._generation = 0

    def get(self, key: Hashable, build: Callable[[], T]) -> T:
        """The reading under ``key``, built by ``build`` when there is none younger than
        ``seconds``. An error of ``build`` reaches the caller and nothing is kept."""
        hit = self._fresh(key)
        if hit is not None:
            return hit[1]
        with self._lock:
            building = self._building.setdefault(key, threading.Lock())
        with building:
            hit = self._fresh(key)  # built by the request this one waited for
            if hit is not None:
                return hit[1]
            with self._lock:
                generation = self._generation
            value = build()
            with self._lock:
                if generation == self._generation:  # not cleared while it was being built
                    if len(self._items) >= MAX_SNAPSHOTS:
                        self._items.clear()
                    self._items[key] = (self._clock(), value)
            return value

    def clear(self) -> None:
        """Forget every reading (the site changed: a collection finished)."""
        with self._lock:
            self._items.clear()
            self._generation += 1

    def _fresh(self, key: Hashable) -> tuple[float, Any] | None:
        with self._lock:
            hit = self._items.get(key)
        if hit is not None and self._clock() - hit[0] < self.seconds:
            return hit
        return None
