"""One collector at a time per device, whichever host it runs on.

* PostgreSQL, MariaDB/MySQL (several hosts): a session-level lock the database server holds
  for a connection of the run's own (:class:`punchd.storage.cluster.DeviceLock`). A keeper
  thread pings that connection; the server ends it after ``lock_idle_timeout`` seconds of
  silence (a holder killed, stalled or cut off), which releases the lock. A run whose lock
  connection is gone has lost the device: :attr:`Hold.lost` is set, the run stops at its
  next step, and :meth:`Hold.fence` — asked of the server right before anything that
  changes the device (clear, set time) — refuses. Host clocks and PIDs decide nothing.
* SQLite (one host): a lease row (expiring ``ttl`` seconds after its last renewal, a holder
  on this host whose process is gone holds nothing) and the local file lock.

The local file lock (``lock_dir``) is taken in both cases: it holds on this host even while
the database is unreachable (a run then only reads, and spools).
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
from typing import ClassVar

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from punchd import logs, private
from punchd.clock import utcnow
from punchd.collector.errors import DeviceLeased, LeaseLost
from punchd.storage import cluster, leases

DEFAULT_TTL = 120.0

#: seconds of silence after which the database server ends a lock connection (so a stalled
#: holder loses its devices), and between two pings of a held one; the daemon sets them from
#: ``[daemon] takeover_within`` (:func:`configure`)
lock_idle_timeout = 10.0
lock_ping_every = 2.0


def configure(takeover_within: float) -> None:
    """Lock timing for this process: a stalled holder loses its devices within a third of
    ``takeover_within``; its connection is pinged five times within that."""
    global lock_idle_timeout, lock_ping_every
    lock_idle_timeout = max(1.0, takeover_within / 3)
    lock_ping_every = lock_idle_timeout / 5


__all__ = [
    "DEFAULT_TTL",
    "DeviceLeased",
    "Hold",
    "LeaseInfo",
    "LeaseLost",
    "configure",
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
    #: the database server holds the lock (then there is no expiry to tell)
    server_lock: bool = False

    def describe(self) -> str:
        who = self.holder.rsplit(":", 1)[0]  # host:pid, without the per-lease token
        since = f"held by {who} ({self.purpose}) since {self.acquired_at:%H:%M:%S} UTC"
        if self.server_lock:
            return since
        return f"{since}, until {self.expires_at:%H:%M:%S} UTC unless renewed"


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
    return LeaseInfo(*row, server_lock=cluster.server_locks(engine)) if row else None


class Hold:
    """This process's hold on one device for one session. ``lost`` is set as soon as the hold
    is known to be gone; :meth:`fence` asks the database, for the moments that matter."""

    def __init__(self, device_name: str) -> None:
        self.device_name = device_name
        self.lost = threading.Event()

    def check(self) -> None:
        """LeaseLost if the hold is known to be gone (no database round-trip)."""
        if self.lost.is_set():
            raise LeaseLost(f"{self.device_name}: the device's lease was lost; run abandoned")

    #: the hold lives in the database, which :meth:`still_held` asks
    in_database: ClassVar[bool] = False

    def still_held(self) -> bool:
        """Whether this process may still talk to the device: asked before a driver opens
        a fresh session on its own. Without the database only the local lock is held:
        nobody else to ask."""
        if self.lost.is_set():
            return False
        if self.in_database and not self._confirmed():
            self.lost.set()
            return False
        return True

    def fence(self) -> None:
        """LeaseLost unless the database confirms the hold right now: called right before
        anything that changes the device (clear, set its clock, delete a user)."""
        self.check()
        if not self._confirmed():
            self.lost.set()
            self.check()

    def _confirmed(self) -> bool:
        # Without the database nothing is held across hosts: change nothing on the device.
        return False


class _ServerHold(Hold):
    """The device's server lock on its own connection, kept alive by a pinging thread."""

    in_database = True

    def __init__(self, device_name: str, lock: cluster.DeviceLock) -> None:
        super().__init__(device_name)
        self.lock = lock
        self._stop = threading.Event()
        self._keeper = threading.Thread(
            target=self._keep, name=f"device-lock-{lock.device_id}", daemon=True
        )

    def start(self) -> None:
        self._keeper.start()

    def held_here(self) -> bool:
        """Taken, and not known to be lost."""
        return self._keeper.is_alive() and not self.lost.is_set()

    def _keep(self) -> None:
        while not self._stop.wait(lock_ping_every):
            try:
                self.lock.ping()
            except Exception as exc:
                self.lost.set()
                logs.get_logger(device=self.device_name).error(
                    "device lock connection lost: the run stops talking to the device",
                    error=logs.scrub(str(exc).splitlines()[0] if str(exc) else repr(exc)),
                )
                return

    def _confirmed(self) -> bool:
        try:
            return self.lock.held()
        except Exception:
            return False

    def end(self) -> None:
        self._stop.set()
        if self._keeper.is_alive():
            self._keeper.join()
        self.lock.close()


class _RowHold(Hold):
    """The device's lease row (SQLite), renewed from a background thread."""

    in_database = True

    def __init__(self, engine: Engine, device_id: int, device_name: str, holder: str, ttl: float):
        super().__init__(device_name)
        self.engine, self.device_id, self.holder, self.ttl = engine, device_id, holder, ttl
        self._stop = threading.Event()
        self._renewer = threading.Thread(
            target=self._renew, name=f"lease-renew-{device_id}", daemon=True
        )

    def start(self) -> None:
        self._renewer.start()

    def _renew(self) -> None:
        log = logs.get_logger(device_id=self.device_id)
        while not self._stop.wait(self.ttl / 3):
            try:
                if not renew(self.engine, self.device_id, self.holder, self.ttl):
                    self.lost.set()
                    log.warning("device lease lost", holder=self.holder)
                    return
            except SQLAlchemyError as exc:
                log.warning("device lease not renewed", error=str(exc).splitlines()[0])

    def _confirmed(self) -> bool:
        try:
            info = current(self.engine, self.device_id)
        except SQLAlchemyError:
            return False
        return info is not None and info.holder == self.holder

    def end(self) -> None:
        self._stop.set()
        if self._renewer.is_alive():
            self._renewer.join()


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
) -> Iterator[Hold]:
    """Hold the device for the block, waiting up to ``wait`` seconds for it: its server lock
    (PostgreSQL, MariaDB) or its lease row (SQLite). DeviceLeased when another holds it."""
    if cluster.server_locks(engine):
        with _server_lease(engine, device_id, device_name, purpose, wait, on_wait, poll) as h:
            yield h
        return
    holder = new_holder()
    deadline = time.monotonic() + wait
    while not try_acquire(engine, device_id, holder, purpose, ttl):
        _busy(engine, device_id, device_name, deadline, on_wait, poll)
    _held_here.add(holder)
    hold = _RowHold(engine, device_id, device_name, holder, ttl)
    hold.start()
    try:
        yield hold
    finally:
        _held_here.discard(holder)
        hold.end()
        with contextlib.suppress(SQLAlchemyError):
            release(engine, device_id, holder)


def _busy(
    engine: Engine,
    device_id: int,
    device_name: str,
    deadline: float,
    on_wait: Callable[[LeaseInfo | None], None] | None,
    poll: float,
) -> None:
    """Another holds the device: raise DeviceLeased once ``deadline`` has passed, else tell
    ``on_wait`` and sleep a little."""
    try:
        info = current(engine, device_id)
    except SQLAlchemyError:
        info = None
    if time.monotonic() >= deadline:
        what = info.describe() if info else "held by another collector"
        raise DeviceLeased(f"{device_name}: busy: another collector is using it ({what})")
    if on_wait is not None:
        on_wait(info)
    time.sleep(min(poll, max(0.0, deadline - time.monotonic())))


@contextlib.contextmanager
def _server_lease(
    engine: Engine,
    device_id: int,
    device_name: str,
    purpose: str,
    wait: float,
    on_wait: Callable[[LeaseInfo | None], None] | None,
    poll: float,
) -> Iterator[Hold]:
    holder = new_holder()
    deadline = time.monotonic() + wait
    lock = cluster.DeviceLock(engine, device_id, idle_timeout=lock_idle_timeout)
    hold = _ServerHold(device_name, lock)
    try:
        while not lock.try_take():
            _busy(engine, device_id, device_name, deadline, on_wait, poll)
        hold.start()
        # Holding the lock proves no other run of the device is live: runs still marked
        # running were cut off (their collector killed or stalled).
        with engine.begin() as conn:
            leases.claim(conn, device_id, holder=holder, purpose=purpose, at=cluster.server_now())
            swept = cluster.sweep_runs(conn, device_id)
        if swept:
            logs.get_logger(device=device_name).warning(
                "runs left running by a collector that stopped marked interrupted", runs=swept
            )
        yield hold
    finally:
        try:
            # A hold lost (or never taken) leaves the row to whoever holds the device now.
            if hold.held_here():
                with contextlib.suppress(SQLAlchemyError), engine.begin() as conn:
                    leases.delete_lease(conn, device_id, holder)
        finally:
            hold.end()


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
) -> Iterator[Hold]:
    """This process alone talks to the device during the block: the local lock (in
    ``lock_dir``, if given) and then the database's hold (if the device has an id: without
    the database a run still holds the local lock, and its :meth:`Hold.fence` refuses every
    change to the device). DeviceLeased when another holds it."""
    with contextlib.ExitStack() as held:
        if lock_dir is not None:
            held.enter_context(local_lock(lock_dir, device_name, wait=wait))
        if device_id is None:
            yield Hold(device_name)
            return
        yield held.enter_context(
            database_lease(
                engine, device_id, device_name, purpose=purpose, wait=wait, on_wait=on_wait
            )
        )
