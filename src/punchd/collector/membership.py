"""Which daemon polls which device, when several share one database (pure: rows in, names out).

Every running daemon has a row in ``att_daemon`` with its heartbeat in the database server's
clock and the devices it may poll. A daemon is *live* while its last heartbeat is at most
:func:`dead_after` seconds old (server clock against server clock: host clocks decide
nothing). Each device belongs to one live daemon among those that may poll it, by
rendezvous hashing with bounded load (:func:`assignment`): every daemon computes the same
owners from the same rows, the shares stay even, and no claim rows need writing. Two
daemons that briefly disagree (one has not seen the newest heartbeats yet) cannot both talk
to a device: the device's server lock (:mod:`punchd.collector.lease`) still admits one.

Bounds, with ``T`` = ``[daemon] takeover_within``: a daemon is dead ``2T/3`` after its last
heartbeat; the others look every :func:`refresh_every` (``T/6``) seconds and poll a device
they gain at once, so its devices are polled again within ``T``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

#: a daemon silent this many times ``dead_after`` is marked stopped (its row leaves the
#: membership); until then ``punchd status`` reports it
FORGET_AFTER_FACTOR = 10


@dataclass(frozen=True)
class Member:
    """One running daemon as its ``att_daemon`` row says."""

    id: int
    instance: str
    host: str
    pid: int
    version: str
    site: str | None
    devices: frozenset[str]
    started_at: datetime
    heartbeat_at: datetime
    host_clock_at: datetime | None
    holding: int | None
    #: seconds since its last heartbeat, by the database server's clock
    age: float = 0.0
    status: str = ""
    extra: Mapping[str, object] = field(default_factory=dict, compare=False, repr=False)

    @property
    def skew(self) -> float | None:
        """Its host clock minus the database server's, seconds (at its last heartbeat)."""
        if self.host_clock_at is None:
            return None
        return (self.host_clock_at - self.heartbeat_at).total_seconds()

    @property
    def label(self) -> str:
        return f"{self.host} (#{self.id})"


def dead_after(takeover_within: float) -> float:
    """Seconds of heartbeat silence after which a daemon counts as dead."""
    return takeover_within * 2 / 3


def refresh_every(takeover_within: float) -> float:
    """Seconds between two heartbeats-and-looks at the membership."""
    return takeover_within / 6


def members(rows: Iterable[Mapping[str, object]], now: datetime) -> list[Member]:
    """``att_daemon`` rows (``devices`` decoded) as members, with their age at ``now``
    (the server's clock)."""
    out = []
    for r in rows:
        beat = r["heartbeat_at"]
        assert isinstance(beat, datetime)
        out.append(
            Member(
                id=int(r["id"]),  # type: ignore[call-overload]
                instance=str(r.get("instance") or f"legacy-{r['id']}"),
                host=str(r["host"]),
                pid=int(r["pid"]),  # type: ignore[call-overload]
                version=str(r["version"]),
                site=r.get("site"),  # type: ignore[arg-type]
                devices=frozenset(r.get("devices") or ()),  # type: ignore[arg-type]
                started_at=r["started_at"],  # type: ignore[arg-type]
                heartbeat_at=beat,
                host_clock_at=r.get("host_clock_at"),  # type: ignore[arg-type]
                holding=r.get("holding"),  # type: ignore[arg-type]
                age=max(0.0, (now - beat).total_seconds()),
                status=str(r.get("status") or ""),
            )
        )
    return out


def live(all_members: Iterable[Member], takeover_within: float) -> list[Member]:
    """The members whose heartbeat is recent enough to count."""
    limit = dead_after(takeover_within)
    return [m for m in all_members if m.age <= limit]


def _score(instance: str, device: str) -> int:
    digest = hashlib.sha256(f"{instance}\x00{device}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def assignment(candidates: Sequence[Member]) -> dict[str, Member]:
    """Every device some member may poll → the member that polls it.

    Rendezvous hashing with bounded load: each device goes to the member with the highest
    ``sha256(instance, device)`` among those that may poll it and hold fewer than their
    share (``ceil(devices / members)``); when all of those are full, to the highest of them.
    Devices with the fewest candidates are placed first, then by name: every daemon that
    reads the same rows computes the same assignment.
    """
    able: dict[str, list[Member]] = {}
    for m in candidates:
        for d in m.devices:
            able.setdefault(d, []).append(m)
    if not able:
        return {}
    share = -(-len(able) // len({m.instance for m in candidates}))
    load: dict[str, int] = {}
    out: dict[str, Member] = {}
    for device in sorted(able, key=lambda d: (len(able[d]), d)):
        ranked = sorted(able[device], key=lambda m: (_score(m.instance, device), m.instance))
        ranked.reverse()
        chosen = next((m for m in ranked if load.get(m.instance, 0) < share), ranked[0])
        load[chosen.instance] = load.get(chosen.instance, 0) + 1
        out[device] = chosen
    return out


def owner(device: str, candidates: Sequence[Member]) -> Member | None:
    """The member that polls ``device`` (None: no member may)."""
    return assignment(candidates).get(device)


def owned_by(instance: str, devices: Iterable[str], candidates: Sequence[Member]) -> set[str]:
    """Of ``devices``, those whose owner is the member ``instance``."""
    placed = assignment(candidates)
    return {d for d in devices if (m := placed.get(d)) is not None and m.instance == instance}
