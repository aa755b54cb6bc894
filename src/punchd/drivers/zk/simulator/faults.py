"""Fault injection of the ZK simulator: the faults it supports (in the shared grammar of
``punchd.drivers.testing.faults``) and when each one fires.

The ``Injector`` decides (whether a reply is broken, corrupted, delayed, split; the garbage
it becomes); the server (``server.py``) does it to the socket. Faults, combine freely::

    drop[:FRACTION[:TIMES]]   close the connection (FIN) in the middle of the attendance
                              transfer, after FRACTION (0..1, default 0.5) of its bytes;
                              TIMES = how many transfers to break (default: every one).
                              UDP: the session goes silent from that point on.
    reset[:FRACTION[:TIMES]]  the same, but abort the TCP connection with an RST.
    stall[:FRACTION[:TIMES]]  stop sending at that point but keep the connection open
                              (power cut / cable pulled): the client can only time out.
    slow[:SECONDS]            delay every reply by SECONDS (default 0.1).
    late-disable[:SECONDS[:TIMES]]  act on CMD_DISABLEDEVICE at once but answer it SECONDS
                              (default 2) later, on the first TIMES (default: every)
                              commands: a reply lost or late on a busy link, when the
                              terminal is locked all the same.
    split[:BYTES]             TCP: answer each 1504 chunk read as PREPARE_DATA, then the
                              data as many CMD_DATA frames of BYTES (default 1024) each
                              with its own TCP prefix and header, then ACK_OK - as some
                              real terminals do - all sent back to back (one gathered
                              write, so they reach the client together; separate writes
                              would make the outcome depend on thread scheduling here).
    split-paced[:SECONDS]     the same, one write per frame, SECONDS (default 0.005) apart.
    fragment[:BYTES]          TCP: write every reply in pieces of BYTES (default 1460,
                              one Ethernet segment), 1 ms apart - a slow or VPN link.
    busy                      while one client holds a session, a second TCP connection
                              is accepted and closed at once without an answer; over
                              UDP a second client's CMD_CONNECT is not answered.
    refuse-write[:TIMES]      answer the first TIMES (default: every) user writes and
                              removals (CMD_USER_WRQ, CMD_DELETE_USER) with ACK_ERROR, as
                              firmware refusing a change does.
    no-user-write             firmware without those two commands: ACK_UNKNOWN.
    refuse-template-write[:TIMES]  answer the first TIMES (default: every) template
                              writes (CMD_SAVE_USERTEMPS) with ACK_ERROR.
    corrupt[:INDEX[:TIMES]]   the INDEX-th (default 0, capped at the last) chunk reply of
                              the attendance transfer is replaced by garbage of the same
                              length (bad TCP magic / bad command); once per connection,
                              on the first TIMES connections (default: every one).

What unmodified pyzk 0.9 does (``ZK(..., timeout=T, ommit_ping=True)``, a fresh ``ZK`` per
connection; measured by tests/test_zk_simulator.py). "raw" = not wrapped in a ZK exception:
pyzk only wraps errors inside ``__send_command``; the chunk readers let socket errors through.

=================  ==========================================================================
condition          pyzk 0.9
=================  ==========================================================================
record size 8/16   correct (maps uid / numeric user id through the user list)
record size 40     correct
record size 49     wrong rows (steps 40 bytes per record) or ``ValueError("day is out of
                   range for month")`` from its time decoder; the raw buffer is fine
wrong comm key     ``ZKErrorResponse("Unauthenticated")`` from ``connect()`` (also with no
                   key when one is set); the TCP socket is left open (close it yourself)
drop  (TCP)        never returns: ``__recieve_raw_data`` loops on ``recv() == b""`` at
                   100 % CPU, no timeout fires; only closing its socket from another
                   thread ends it (``OSError [Errno 9]``)
drop  (UDP)        raw ``TimeoutError("timed out")`` after T s (in ``__recieve_chunk``)
reset (TCP)        raw ``ConnectionResetError`` ([Errno 104]) at once; ``ZKNetworkError``
                   if the RST lands in ``__send_command``
stall (TCP/UDP)    raw ``TimeoutError("timed out")`` after T s
slow               works, slower (a reply later than T: ``ZKNetworkError("timed out")``)
split (unpaced)    raw ``TimeoutError("timed out")`` after T s: it reads past frames into
                   a leftover buffer, then blocks in ``recv`` for bytes it already holds
split-paced        works when the gap exceeds pyzk's per-frame work (1-5 ms here); a
                   loaded client falls behind and then fails as unpaced
fragment (1460)    works (its raw-data loop reassembles a chunk reply)
fragment (small)   breaks the single-``recv`` replies: 50-byte pieces make the 108-byte
                   free-sizes reply look empty, so ``get_attendance()`` returns ``[]``
                   silently; other sizes give ``ZKNetworkError("TCP packet invalid")``
busy (TCP)         ``ZKNetworkError("[Errno 104] Connection reset by peer")`` (or
                   ``ZKNetworkError("TCP packet invalid")``) from ``connect()``, at once
busy (UDP)         ``ZKNetworkError("timed out")`` from ``connect()`` after T s
corrupt (TCP)      ``ZKNetworkError("TCP packet invalid")``; the stream is out of step after
corrupt (UDP)      ``ZKErrorResponse("can't read chunk 16384:[16384]")`` (start:size) after
                   3 retries that each read one of the queued garbage datagrams
=================  ==========================================================================
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable

from punchd.drivers.testing.faults import Fault, FaultKind, FaultTable, Param

__all__ = ["BREAKS", "FAULTS", "Fault", "Injector", "parse_fault"]

_TIMES = Param("TIMES", None, low=1, whole=True)  # default: every time
_FRACTION = Param("FRACTION", 0.5, high=1)

FAULTS = FaultTable(
    "zk",
    [
        FaultKind("drop", (_FRACTION, _TIMES)),
        FaultKind("reset", (_FRACTION, _TIMES)),
        FaultKind("stall", (_FRACTION, _TIMES)),
        FaultKind("slow", (Param("SECONDS", 0.1),)),
        FaultKind("late-disable", (Param("SECONDS", 2.0), _TIMES)),
        FaultKind("split", (Param("BYTES", 1024, low=1, whole=True),)),
        FaultKind("split-paced", (Param("SECONDS", 0.005),)),
        FaultKind("fragment", (Param("BYTES", 1460, low=1, whole=True),)),
        FaultKind("busy"),
        FaultKind("corrupt", (Param("INDEX", 0, whole=True), _TIMES)),
        FaultKind("refuse-write", (_TIMES,)),
        FaultKind("no-user-write"),
        FaultKind("refuse-template-write", (_TIMES,)),
    ],
)
#: the faults that break the attendance transfer at a point: (FRACTION, TIMES)
BREAKS = ("drop", "reset", "stall")


def parse_fault(spec: str | Fault) -> Fault:
    """A fault of the ZK simulator: ``kind[:arg[:times]]`` (see the module docstring)."""
    return FAULTS.parse(spec)


class Injector:
    """The faults of one simulator and how often each has fired. ``rng`` is the server's
    (session ids and garbage come from one sequence, as before the split)."""

    def __init__(self, faults: Iterable[str | Fault], rng: random.Random) -> None:
        self.faults = [parse_fault(x) for x in faults]
        self._rng = rng
        self._uses: dict[str, int] = {}
        self._lock = threading.Lock()

    def get(self, kind: str) -> Fault | None:
        for fault in self.faults:
            if fault.kind == kind:
                return fault
        return None

    def _use(self, fault: Fault, times_index: int, *, when: bool = True) -> bool:
        """Count one use of ``fault`` if ``when`` and it has uses left (TIMES)."""
        with self._lock:
            used = self._uses.get(fault.kind, 0)
            times = fault.arg(times_index)
            if not when or (times is not None and used >= times):
                return False
            self._uses[fault.kind] = used + 1
            return True

    # ---------------------------------------------------------------- before answering

    def busy(self) -> bool:
        return self.get("busy") is not None

    def delay(self, *, disable: bool = False) -> float:
        """Seconds to wait before a reply (``slow``; ``late-disable`` when ``disable``: the
        reply answers CMD_DISABLEDEVICE)."""
        slow = self.get("slow")
        seconds = (slow.arg() or 0.0) if slow is not None else 0.0
        late = self.get("late-disable") if disable else None
        if late is not None and self._use(late, 1):
            seconds += late.arg() or 0.0
        return seconds

    # ---------------------------------------------------------------- changes to users

    def refuse_change(self) -> int | None:
        """The reply to a user write or removal when a fault answers it: ACK_UNKNOWN
        (``no-user-write``), ACK_ERROR (``refuse-write`` with uses left), else None."""
        if self.get("no-user-write") is not None:
            return 0xFFFF
        refuse = self.get("refuse-write")
        if refuse is not None and self._use(refuse, 0):
            return 2001
        return None

    def refuse_templates(self) -> int | None:
        """ACK_ERROR to a template write while ``refuse-template-write`` has uses left."""
        refuse = self.get("refuse-template-write")
        if refuse is not None and self._use(refuse, 0):
            return 2001
        return None

    # ---------------------------------------------------------------- the attendance transfer

    def break_point(self, offset: int, total: int, carried: int) -> tuple[Fault, int] | None:
        """(fault, data bytes of this reply to deliver) when a drop/reset/stall fires in a
        reply carrying attendance bytes ``offset .. offset + carried`` of ``total``."""
        for kind in BREAKS:
            fault = self.get(kind)
            if fault is None:
                continue
            fraction = fault.arg()
            point = min(int(total * (fraction if fraction is not None else 0.5)), total - 1)
            if not offset <= point < offset + carried:
                continue
            if not self._use(fault, 1):
                continue
            return fault, point - offset
        return None

    def corrupt_now(self, chunk_index: int, last: bool) -> bool:
        """Whether this chunk reply (the ``chunk_index``-th of the connection; ``last``: it
        ends the transfer) becomes garbage; once per connection, checked by the caller."""
        corrupt = self.get("corrupt")
        if corrupt is None:
            return False
        due = chunk_index >= int(corrupt.arg() or 0) or last
        return self._use(corrupt, 1, when=due)

    def garbage(self, n: int) -> bytes:
        junk = bytearray(self._rng.randbytes(n))
        junk[0:2] = b"\xee\xee"  # neither the TCP magic nor a reply code
        return bytes(junk)

    # ---------------------------------------------------------------- how replies are written

    def split_bytes(self) -> int | None:
        """Data bytes per CMD_DATA frame of a chunk reply over TCP (``split``,
        ``split-paced``: 1024); None: the chunk in one frame."""
        split = self.get("split")
        if split is not None:
            return int(split.arg() or 1024)
        return 1024 if self.get("split-paced") is not None else None

    def gathered(self) -> bool:
        """``split``: the frames of a chunk reply in one gathered write."""
        return self.get("split") is not None

    def pace(self) -> float | None:
        """``split-paced``: seconds between the frames of a chunk reply."""
        paced = self.get("split-paced")
        return (paced.arg() or 0.0) if paced is not None else None

    def fragment_bytes(self) -> int | None:
        """``fragment``: every TCP reply written in pieces of this many bytes."""
        fragment = self.get("fragment")
        return int(fragment.arg() or 1460) if fragment is not None else None


def describe(faults: Iterable[Fault]) -> str:
    """The faults as the ``serve`` banner shows them: ``drop:0.5,busy`` (TIMES left out)."""
    return ",".join(f.kind + (f":{f.arg():g}" if f.arg() else "") for f in faults)
