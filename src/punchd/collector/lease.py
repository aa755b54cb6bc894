"""One collector at a time per device: a lease row in the database (holds across
processes and hosts sharing one database) plus a local file lock (holds on this host
even while the database is unreachable).

A lease expires ``ttl`` seconds after its last renewal, so a holder that crashed blocks
nobody for long; a live holder renews it from a background thread.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from punchd import logs, private
from punchd.clock import utcnow
from punchd.collector.errors import DeviceLeased
from punchd.storage import leases

DEFAULT_TTL = 120.0

__all__ = [
    "DEFAULT_TTL",
    "DeviceLeased",
    "LeaseInfo",
    "current",
    "database_lease",
    "device_held",
    "holder_alive",
    "local_lock",
    "new_holder",
    "release",
    "renew",
    "try_acquire",
]


@dataclass(frozen=True)
class LeaseInfo:
    holder: str
    purpose: str
    acquired_at: datetime
    expires_at: datetime

    def describe(self) -> str:
        who = self.holder.rsplit(":", 1)[0]  # host:pid, without the per-lease token
        return (
            f"held by {who} ({self.purpose}) since {self.acquired_at:%H:%M:%S} UTC, "
            f"until {self.expires_at:%H:%M:%S} UTC unless renewed"
        )


#: holders of the leases this process's ``database_lease`` blocks hold right now
_held_here: set[str] = set()


def new_holder() -> str:
    """host:pid:token — unique per acquisition, readable in `punchd status`."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def try_acquire(engine: Engine, device_id: int, holder: str, purpose: str, ttl: float) -> bool:
    now = utcnow()
    values = {
        "holder": holder,
        "purpose": purpose,
        "acquired_at": now,
        "expires_at": now + timedelta(seconds=ttl),
    }
    with engine.begin() as conn:
        taken = leases.take_free(conn, device_id, now=now, **values)
    if taken:
        return True
    if _take_over_dead_local_holder(engine, device_id, values):
        return True
    try:
        with engine.begin() as conn:
            leases.insert_lease(conn, device_id, **values)
    except IntegrityError:  # someone holds it (or won the race to insert)
        return False
    return True


def _take_over_dead_local_holder(engine: Engine, device_id: int, values: dict) -> bool:
    """A holder on this host whose process is gone (killed, crashed) holds nothing:
    take over at once instead of waiting for the lease to expire."""
    info = current(engine, device_id)
    if info is None:
        return False
    host, _, rest = info.holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    # This process's own lease that no block holds any more: its release failed (the
    # database was down then) — without this the daemon would lock itself out until expiry.
    orphaned = int(pid_text) == os.getpid() and info.holder not in _held_here
    if not orphaned and _alive(int(pid_text)):
        return False
    with engine.begin() as conn:
        taken = leases.take_from(conn, device_id, info.holder, **values)
    if taken:
        logs.get_logger(device_id=device_id).warning(
            "took over the lease of a collector that died", dead_holder=info.holder
        )
    return taken


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's
        return True
    return True


def holder_alive(holder: str | None, expires: datetime | None, now: datetime) -> bool:
    """A lease still held by a live collector at ``now`` (naive UTC): not expired, and not
    one on this host whose process is gone (e.g. killed), which holds nothing."""
    if holder is None or expires is None or expires < now:
        return False
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host == socket.gethostname() and pid.isdigit():
        return _alive(int(pid))
    return True


def renew(engine: Engine, device_id: int, holder: str, ttl: float) -> bool:
    with engine.begin() as conn:
        return leases.extend(conn, device_id, holder, utcnow() + timedelta(seconds=ttl))


def release(engine: Engine, device_id: int, holder: str) -> None:
    with engine.begin() as conn:
        leases.delete_lease(conn, device_id, holder)


def current(engine: Engine, device_id: int) -> LeaseInfo | None:
    with engine.connect() as conn:
        row = leases.lease_of(conn, device_id)
    return LeaseInfo(*row) if row else None


class _Renewer(threading.Thread):
    def __init__(self, engine: Engine, device_id: int, holder: str, ttl: float) -> None:
        super().__init__(name=f"lease-renew-{device_id}", daemon=True)
        self.engine, self.device_id, self.holder, self.ttl = engine, device_id, holder, ttl
        self.stop = threading.Event()

    def run(self) -> None:
        log = logs.get_logger(device_id=self.device_id)
        while not self.stop.wait(self.ttl / 3):
            try:
                if not renew(self.engine, self.device_id, self.holder, self.ttl):
                    log.warning("device lease lost", holder=self.holder)
            except SQLAlchemyError as exc:
                log.warning("device lease not renewed", error=str(exc).splitlines()[0])


@contextlib.contextmanager
def database_lease(
    engine: Engine,
    device_id: int,
    device_name: str,
    *,
    purpose: str,
    wait: float = 0.0,
    ttl: float = DEFAULT_TTL,
    on_wait: Callable[[LeaseInfo | None], None] | None = None,
    poll: float = 0.5,
) -> Iterator[str]:
    """Hold the device's lease for the block, waiting up to ``wait`` seconds for it."""
    holder = new_holder()
    deadline = time.monotonic() + wait
    while not try_acquire(engine, device_id, holder, purpose, ttl):
        info = current(engine, device_id)
        if time.monotonic() >= deadline:
            what = info.describe() if info else "held by another collector"
            raise DeviceLeased(f"{device_name}: busy: another collector is using it ({what})")
        if on_wait is not None:
            on_wait(info)
        time.sleep(min(poll, max(0.0, deadline - time.monotonic())))
    _held_here.add(holder)
    renewer = _Renewer(engine, device_id, holder, ttl)
    renewer.start()
    try:
        yield holder
    finally:
        _held_here.discard(holder)
        renewer.stop.set()
        renewer.join()
        with contextlib.suppress(SQLAlchemyError):
            release(engine, device_id, holder)


@contextlib.contextmanager
def local_lock(directory: Path, device_name: str, *, wait: float = 0.0) -> Iterator[None]:
    """An exclusive flock on ``<directory>/<device>.lock`` (this host only)."""
    private.make_dirs(directory)
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", device_name)
    fd = os.open(directory / f"{safe}.lock", os.O_RDWR | os.O_CREAT, private.FILE_MODE)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise DeviceLeased(
                        f"{device_name}: busy: another punchd process on this host is using it"
                    ) from None
                time.sleep(0.2)
        yield
    finally:
        os.close(fd)  # closing releases the lock


@contextlib.contextmanager
def device_held(
    engine: Engine,
    device_id: int | None,
    device_name: str,
    *,
    lock_dir: Path | None,
    purpose: str,
    wait: float = 0.0,
    on_wait: Callable[[LeaseInfo | None], None] | None = None,
) -> Iterator[None]:
    """This process alone talks to the device during the block: the local lock (in
    ``lock_dir``, if given) and then the database lease (if the device has an id: without
    the database a run still holds the local lock). DeviceLeased when another holds it."""
    with contextlib.ExitStack() as held:
        if lock_dir is not None:
            held.enter_context(local_lock(lock_dir, device_name, wait=wait))
        if device_id is not None:
            held.enter_context(
                database_lease(
                    engine, device_id, device_name, purpose=purpose, wait=wait, on_wait=on_wait
                )
            )
        yield
