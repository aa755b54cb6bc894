"""Fault injection of the Anviz simulator: the faults it supports (in the shared grammar of
``punchd.drivers.testing.faults``) and when each one fires.

The ``Injector`` decides (which request is not heard, which answer is mangled, doubled or
held back, what junk goes in front of it, when the port vanishes or punches arrive); the
server (``server.py``) writes to the line. Faults, combine freely::

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
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Collection, Iterable

from punchd.drivers.anviz import framer as f
from punchd.drivers.testing.faults import Fault, FaultKind, FaultTable, Param

__all__ = ["FAULTS", "NOISE_BURST", "NOISE_EVERY", "Fault", "Injector", "parse_fault"]

_EVERY = {"low": 1, "whole": True}  # every N-th: a whole number >= 1

FAULTS = FaultTable(
    "anviz",
    [
        FaultKind("crc", (Param("EVERY", 5, **_EVERY),)),
        FaultKind("split", (Param("DELAY", 0.002, high=5),)),
        FaultKind("garbage", (Param("BYTES", 24, **_EVERY),)),
        FaultKind("silent", (Param("AFTER", 0, whole=True),)),
        FaultKind("lose", (Param("EVERY", 4, **_EVERY),)),
        FaultKind("dup", (Param("EVERY", 3, **_EVERY), Param("LATE", 0, high=1, whole=True))),
        FaultKind("arrive", (Param("N", 3, **_EVERY), Param("AFTER", 1, whole=True))),
        FaultKind("vanish", (Param("AFTER", 2, **_EVERY),)),
        FaultKind("drip", (Param("EVERY", 0.5, high=3600, above_low=True),)),
        FaultKind("noise", (Param("SECONDS", 1.0, high=3600, above_low=True),)),
    ],
)
#: between two bursts of ``noise`` (and the size of one burst)
NOISE_EVERY = 0.01
NOISE_BURST = 16


def parse_fault(spec: str | Fault) -> Fault:
    """A fault of the Anviz simulator: ``kind[:arg[:arg]]`` (see the module docstring)."""
    return FAULTS.parse(spec)


def _num(fault: Fault, i: int = 0) -> float:
    value = fault.arg(i)
    assert value is not None  # every Anviz parameter has a default
    return value


class Injector:
    """The faults of one line and how often each fired (``hits``). ``rng`` and ``lock``
    are the simulator's: the callers hold ``lock`` where noted."""

    def __init__(
        self, faults: Iterable[str | Fault], rng: random.Random, lock: threading.RLock
    ) -> None:
        self.faults = [parse_fault(x) for x in faults]
        self.hits: Counter[str] = Counter()
        self._rng = rng
        self._lock = lock
        self._once: set[str] = set()
        self._late = b""  # a duplicate held back for the next answer (dup:N:1)

    def get(self, kind: str) -> Fault | None:
        for fault in self.faults:
            if fault.kind == kind:
                return fault
        return None

    def value(self, kind: str, i: int = 0) -> float:
        """The ``i``-th parameter of the (present) fault ``kind``."""
        fault = self.get(kind)
        assert fault is not None
        return _num(fault, i)

    def every(self, kind: str, counter: int) -> bool:
        """Whether the ``counter``-th request/answer is hit by ``kind`` (every EVERY-th)."""
        fault = self.get(kind)
        if fault is None:
            return False
        hit = counter % int(_num(fault)) == 0
        if hit:
            self.hits[kind] += 1
        return hit

    # ---------------------------------------------------------------- requests (lock held)

    def silent(self, number: int) -> bool:
        """The ``number``-th request gets no answer (``silent``)."""
        silent = self.get("silent")
        if silent is not None and number > _num(silent):
            self.hits["silent"] += 1
            return True
        return False

    def lost(self, number: int) -> bool:
        """The ``number``-th request is not heard (``lose``)."""
        return self.every("lose", number)

    def vanish_now(self, packets: int) -> bool:
        """The port vanishes now, ``packets`` into a download (``vanish``, once)."""
        fault = self.get("vanish")
        if fault is None or "vanish" in self._once:
            return False
        if packets < int(_num(fault)):
            return False
        self._once.add("vanish")
        self.hits["vanish"] += 1
        return True

    def arrivals(self, packets: int) -> int:
        """How many punches arrive now, after the ``packets``-th download packet
        (``arrive``, once); 0: none."""
        fault = self.get("arrive")
        if fault is None or "arrive" in self._once:
            return 0
        if packets != int(_num(fault, 1)):
            return 0
        self._once.add("arrive")
        self.hits["arrive"] += 1
        return int(_num(fault, 0))

    # ---------------------------------------------------------------- answers

    def shape(self, wire: bytes, number: int, device_ids: Collection[int]) -> bytes:
        """What goes on the line for the ``number``-th answer ``wire``: a held-back copy,
        junk, the answer (a bad CRC, twice). Lock held."""
        if self.every("crc", number):
            wire = wire[:-2] + bytes((wire[-2] ^ 0xFF, wire[-1]))
        late, self._late = self._late, b""
        copies = 1
        if self.every("dup", number):
            dup = self.get("dup")
            if dup is not None and dup.arg(1):
                self._late = wire
            else:
                copies = 2
        junk = self._garbage(device_ids) if self.get("garbage") else b""
        return late + junk + wire * copies

    def _garbage(self, device_ids: Collection[int]) -> bytes:
        fault = self.get("garbage")
        assert fault is not None
        self.hits["garbage"] += 1
        rng = self._rng
        limit = int(_num(fault))
        out = bytearray()
        while len(out) < limit:
            pick = rng.random()
            if pick < 0.4:
                out += rng.randbytes(rng.randint(1, 8))
            elif pick < 0.6:
                out.append(f.STX)
            elif pick < 0.8:  # another device on the bus, with a good CRC
                other = rng.choice([i for i in range(900, 910) if i not in device_ids])
                out += f.encode_response(other, f.CMD_DOWNLOAD, 0, rng.randbytes(3))
            else:  # a header that promises more than ever comes
                mine = rng.choice(list(device_ids))
                out += bytes((f.STX,)) + mine.to_bytes(4, "big") + bytes((0xC0, 0, 1, 0))
        return bytes(out[: max(limit, 1)])

    def split_step(self) -> int:
        """Bytes in the next piece of a ``split`` answer."""
        return self._rng.randint(1, 32)

    def noise_burst(self) -> bytes:
        """One burst of ``noise``: random bytes, never the frame start 0xA5."""
        with self._lock:
            return self._rng.randbytes(NOISE_BURST).replace(bytes((f.STX,)), b"\x5a")
