"""Fault modes of the push-clock simulator, in the grammar shared with the ZK and Anviz
simulators (``punchd.drivers.testing.faults``). Combine freely::

    bare-ok-resend[:TIMES]  firmware that does not read the count of ``OK: n``: every
                         acknowledgement looks bare to it, and it sends each ATTLOG batch
                         TIMES more times (default 1) before it moves on by the whole batch,
                         whatever the server answered (the firmware behind the gate that
                         re-sent one batch 220 times after bare ``OK`` replies)
    lost-ack[:EVERY]     the reply of every EVERY-th upload (default 3) is lost: the clock
                         waits ErrorDelay and sends the same batch again
    power-loss[:EVERY]   every EVERY-th punch (default 50) is dated 2000-01-01 (the clock lost
                         its time), seconds apart so each stays a distinct record
    state-255            every punch has the fixed state 255 (no state keys)
    gb2312               user names are Chinese and the OPERLOG post is GB2312/GB18030
    fields[:N]           ATTLOG lines of N fields: 5, 7 (default) or 12
    batched-results      the results of one poll's commands go in one devicecmd post
    unsupported          every command but INFO is answered Return=-1002
"""

from __future__ import annotations

from collections.abc import Iterable

from punchd.drivers.testing.faults import Fault, FaultKind, FaultTable, Param

__all__ = ["FAULTS", "Fault", "parse_fault", "parse_faults"]

_EVERY = {"low": 1, "whole": True}

FAULTS = FaultTable(
    "adms",
    [
        FaultKind("bare-ok-resend", (Param("TIMES", 1, low=1, high=1000, whole=True),)),
        FaultKind("lost-ack", (Param("EVERY", 3, **_EVERY),)),
        FaultKind("power-loss", (Param("EVERY", 50, **_EVERY),)),
        FaultKind("state-255"),
        FaultKind("gb2312"),
        FaultKind("fields", (Param("N", 7, low=5, high=12, whole=True),)),
        FaultKind("batched-results"),
        FaultKind("unsupported"),
    ],
)


def parse_fault(spec: str | Fault) -> Fault:
    """A fault of the push-clock simulator (see the module docstring); ValueError if not."""
    fault = FAULTS.parse(spec)
    if fault.kind == "fields" and fault.arg() not in (5, 7, 12):
        raise ValueError(f"bad value {fault.arg():g} for N in fault {spec!s}: 5, 7 or 12")
    return fault


def parse_faults(specs: Iterable[str | Fault]) -> dict[str, Fault]:
    """Faults by kind (a kind given twice: the last wins)."""
    return {f.kind: f for f in map(parse_fault, specs)}
