"""One collection run: device → database, exactly once, and a record of what happened.

Order matters for never losing a punch:
  1. take the device (database lease + local lock), so no other collector talks to it;
  2. read everything while the device is held; 3. commit in one transaction (all or
  nothing) — or, if the database is unreachable and a spool is given, write the batch to
  the durable spool; 4. only after a commit may the device forget anything
  (``driver.after_commit``); the spool never justifies that.

The read is decoded and stored in batches (:class:`punchd.collector.sink.PunchWriter`), all
of them in that one transaction: a large clock is never held as Python objects all at once,
and a run that breaks off in any batch stores nothing.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from operator import itemgetter
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

from punchd import gcpause, logs
from punchd.clock import local_now, local_to_utc, utcnow, zone
from punchd.collector import sink
from punchd.collector.errors import Cancelled, CollectionError, DeviceLeased, LeaseLost
from punchd.collector.lease import Hold, LeaseInfo, device_held
from punchd.collector.spool import Spool
from punchd.drivers import DeviceConfig, Driver, DriverError, Progress, get_driver
from punchd.drivers.base import PunchBatches
from punchd.drivers.errors import RunDeadline
from punchd.drivers.records import PunchRow, punch_flag
from punchd.storage import collection as store


class _Abandoned(DriverError):
    """Carries a stop request out of the progress callback, through the driver: a driver
    passes its own errors on unchanged and turns every other exception into one of them.
    :meth:`_Run.execute` turns it into :class:`Cancelled` as soon as the driver lets go."""

    reason = Cancelled.reason


class _LockLost(DriverError):
    """Carries a lost hold out of the progress callback, through the driver, like
    :class:`_Abandoned`: the run stops talking to the device at once."""

    reason = LeaseLost.reason


@dataclass
class RunResult:
    device: str
    status: str = "running"  # ok | failed | spooled
    run_id: int | None = None
    records_read: int = 0
    records_new: int = 0
    users_read: int = 0
    clock_drift_seconds: float | None = None
    cleared: bool = False
    clear_skipped: str | None = None
    spooled: int = 0
    error: str | None = None
    error_kind: str | None = None
    duration_s: float = 0.0
    #: records the device sent that did not decode (skipped), and new punches stored with
    #: att_punch.flag set (implausible: ignored by processing), by flag
    undecodable: int = 0
    flagged: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """The punches read are safe: stored, or spooled to disk."""
        return self.status in ("ok", "spooled")

    def outcome(self) -> dict[str, object]:
        """What ``att_collection_run`` records of the run (and the log event repeats)."""
        return {
            "status": "ok" if self.status == "spooled" else self.status,
            "records_read": self.records_read,
            "records_new": self.records_new,
            "users_read": self.users_read,
            "clock_drift_seconds": self.clock_drift_seconds,
            "cleared": self.cleared,
            "error": self.error,
            "error_kind": self.error_kind,
        }


def collect_device(
    engine: Engine,
    device: DeviceConfig,
    *,
    trigger: str = "manual",
    progress: Progress | None = None,
    all_records: bool = False,
    spool: Spool | None = None,
    lock_dir: Path | None = None,
    lease_wait: float = 0.0,
    on_wait: Callable[[LeaseInfo | None], None] | None = None,
    cancel: threading.Event | None = None,
) -> RunResult:
    """Collect one device. Never raises for device or database trouble: the result says.

    ``spool``: where to keep the punches if the database is unreachable (else the run
    fails and the device keeps them). ``lock_dir``: local lock directory. ``lease_wait``:
    how long to wait for another collector to let go of the device (``on_wait`` is told
    while waiting). ``cancel``: set it to abandon the transfer cleanly. New punches queue
    the employee-days they touch for re-processing in their own transaction
    (:mod:`punchd.processing.requeue`); the caller drains the queue.
    """
    log = logs.get_logger(device=device.name, trigger=trigger)
    result = RunResult(device=device.name)
    started = time.monotonic()
    device_id: int | None = None
    try:
        device_id = registered(engine, device)
    except SQLAlchemyError as exc:
        if spool is None:
            _fail_database(result, device, exc)
        else:
            log.warning(
                "database unreachable; punches read now go to the spool", error=_first_line(exc)
            )
    if result.status == "running":
        try:
            # The device first: a run that never got it is not a run (no row).
            with device_held(
                engine,
                device_id,
                device.name,
                lock_dir=lock_dir,
                purpose=trigger,
                wait=lease_wait,
                on_wait=on_wait,
            ) as hold:
                if device_id is not None:
                    with engine.begin() as conn:
                        result.run_id = store.start_run(
                            conn,
                            device_id,
                            trigger=trigger,
                            host=socket.gethostname(),
                            started_at=utcnow(),
                        )
                run = _Run(engine, device, device_id, result, spool, cancel)
                run.deadline = time.monotonic() + device.max_run_seconds
                run.hold = hold
                run.execute(_cancellable(progress, cancel, device.name, hold), all_records)
        except (DriverError, CollectionError) as exc:
            result.status, result.error_kind = "failed", exc.reason
            result.error = logs.scrub(str(exc))
        except SQLAlchemyError as exc:
            _fail_database(result, device, exc)
    result.duration_s = time.monotonic() - started
    if result.run_id is not None:
        try:
            with engine.begin() as conn:
                store.finish_run(conn, result.run_id, finished_at=utcnow(), **result.outcome())
        except SQLAlchemyError as exc:
            log.warning("run not recorded: database unreachable", error=_first_line(exc))
    if result.error_kind == DeviceLeased.reason:
        log.info("device in use by another collector", error=result.error)
        return result
    (log.info if result.ok else log.error)(
        "collection",
        run_id=result.run_id,
        **result.outcome(),
        spooled=result.spooled,
        clear_skipped=result.clear_skipped,
        duration_s=round(result.duration_s, 3),
    )
    if result.status == "spooled":  # outcome() says ok for the run row; the log says more
        log.warning("collection spooled", spooled=result.spooled)
    return result


class CollectionWatch:
    """What a front door is told while :func:`collect_devices` works (all no-ops here)."""

    def started(self, device: str) -> None:
        """``device``'s run begins."""

    def progress(self, device: str, done: int, total: int) -> None:
        """Transfer progress, in the driver's units (bytes or records)."""

    def waiting(self, device: str, lease: LeaseInfo | None) -> None:
        """Another collector holds ``device``: waiting for it (``lease``: who, if known)."""

    def finished(self, device: str, result: RunResult) -> None:
        """``device``'s run is over."""


def collect_devices(
    engine: Engine,
    devices: Sequence[DeviceConfig],
    *,
    all_records: bool = False,
    lock_dir: Path | None = None,
    lease_wait: float = 0.0,
    watch: CollectionWatch | None = None,
) -> list[RunResult]:
    """A manual collection: :func:`collect_device` for each device in turn, the front door
    told through ``watch``. New punches are queued for re-processing; draining the queue is
    the caller's (so that results are fresh when it returns)."""
    watch = watch or CollectionWatch()
    results = []
    for device in devices:
        name = device.name
        watch.started(name)
        result = collect_device(
            engine,
            device,
            trigger="manual",
            progress=lambda done, total, name=name: watch.progress(name, done, total),
            all_records=all_records,
            lock_dir=lock_dir,
            lease_wait=lease_wait,
            on_wait=lambda info, name=name: watch.waiting(name, info),
        )
        watch.finished(name, result)
        results.append(result)
    return results


def registered(engine: Engine, device: DeviceConfig) -> int:
    """:func:`register_device` in a transaction of its own. Several daemons starting at once
    insert a new device's row together: the losers' unique-key error (or MariaDB's
    deadlock on the same key) means "it exists now", never "the database is unreachable"
    — that would send them on to the clock without its lock."""
    for attempt in range(3):
        try:
            with engine.begin() as conn:
                return register_device(conn, device)
        except (IntegrityError, OperationalError) as exc:
            if attempt == 2 or not (isinstance(exc, IntegrityError) or _deadlock(exc)):
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _deadlock(exc: OperationalError) -> bool:
    """MariaDB/MySQL 1213 (deadlock) or 1205 (lock wait timeout): the other insert won."""
    code = exc.orig.args[0] if exc.orig is not None and exc.orig.args else None
    return code in (1205, 1213)


def register_device(conn: Connection, device: DeviceConfig) -> int:
    """The id of ``device``'s att_device row, created or brought up to date (driver,
    address, user code) from its configuration."""
    return store.upsert_device(
        conn,
        name=device.name,
        driver=device.driver,
        address=device.address(),
        user_code=getattr(device, "user_code", "enroll"),
    )


def clock_drift(driver: Driver, tz: ZoneInfo) -> float:
    """Device clock minus host clock, seconds, both as wall-clock time in ``tz``.

    The device counts whole seconds: the host clock is truncated alike.
    """
    device_now = driver.get_time()
    return (device_now - local_now(tz).replace(microsecond=0)).total_seconds()


def _first_line(exc: BaseException) -> str:
    return logs.scrub(f"{exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")


def _fail_database(result: RunResult, device: DeviceConfig, exc: BaseException) -> None:
    result.status, result.error_kind = "failed", "database"
    result.error = f"{device.name}: database error: {_first_line(exc)}"


#: a PunchRow's identity: (enroll_no, punched_at, state)
_punch_key = itemgetter(0, 1, 2)


class _ToUtc:
    """:func:`punchd.clock.local_to_utc` for many punches of one zone: the offset is looked
    up once per wall-clock hour in which it does not change (the same at its first and
    last second); inside an hour that holds a change, every punch is converted alone."""

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self._hours: dict[tuple[int, int], timedelta | None] = {}

    def __call__(self, local: datetime) -> datetime:
        hour = (local.toordinal(), local.hour)
        shift = self._hours.get(hour, _UNKNOWN)
        if shift is _UNKNOWN:
            start = local.replace(minute=0, second=0, microsecond=0)
            end = start + timedelta(minutes=59, seconds=59)
            first = local_to_utc(start, self.tz) - start
            shift = first if local_to_utc(end, self.tz) - end == first else None
            self._hours[hour] = shift
        return local_to_utc(local, self.tz) if shift is None else local + shift


_UNKNOWN = timedelta.max


def _cancellable(
    progress: Progress | None, cancel: threading.Event | None, name: str, hold: Hold | None = None
) -> Progress | None:
    if cancel is None and hold is None:
        return progress

    def report(done: int, total: int) -> None:
        if hold is not None and hold.lost.is_set():  # another collector may have it now
            raise _LockLost(f"{name}: transfer abandoned: the device's lease was lost")
        if cancel is not None and cancel.is_set():
            raise _Abandoned(f"{name}: transfer abandoned: punchd is stopping")
        if progress is not None:
            progress(done, total)

    return report


class _Run:
    """The device conversation of one run, with the commit in the middle of it."""

    def __init__(self, engine, device, device_id, result, spool, cancel) -> None:
        self.engine: Engine = engine
        self.device: DeviceConfig = device
        self.device_id: int | None = device_id
        self.result: RunResult = result
        self.spool: Spool | None = spool
        self.cancel: threading.Event | None = cancel
        self.tz: ZoneInfo = zone(device.timezone)
        #: ``time.monotonic()`` by which the device conversation must be over
        self.deadline: float | None = None
        #: the device's clock when the punches were read (what "future" is measured from)
        self.device_now: datetime = local_now(self.tz)
        #: this run's hold on the device: checked before the commit, fenced before a clear
        self.hold: Hold = Hold(device.name)

    def execute(self, progress: Progress | None, all_records: bool) -> None:
        result = self.result
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled(f"{self.device.name}: not started: punchd is stopping")
        driver = get_driver(self.device.driver)(self.device)
        driver.deadline = self.deadline
        driver.may_reopen = self.hold.still_held
        with driver:
            self._reenable_left_disabled(driver)
            info = driver.device_info()
            result.clock_drift_seconds = clock_drift(driver, self.tz)
            self._check_deadline("read device info")
            self._mark_disabled(driver)
            try:
                with driver.hold():
                    users = driver.users() if driver.users_with_punches else []
                    self._check_deadline("read users")
                    try:
                        punches = driver.read_punches(
                            self._in_time(progress), all_records=all_records
                        )
                    except _Abandoned as exc:
                        raise Cancelled(str(exc)) from None
                    result.users_read = len(users)
                    self.device_now = self._device_now()
                    self.hold.check()  # a run that lost the device stores nothing
                    committed = self._commit(info, users, punches)
                    self._report_bad_data(driver)
                    if committed:
                        # Committed: only now may the device forget anything.
                        self._after_commit(driver)
                        result.status = "ok"
            finally:
                self._mark_enabled(driver)

    # -- bounded runs and implausible data ----------------------------------------------
    def _check_deadline(self, stage: str) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise RunDeadline(
                f"{self.device.name}: {stage}: the run took longer than max_run_seconds = "
                f"{self.device.max_run_seconds:g} s; abandoned"
            )

    def _in_time(self, progress: Progress | None) -> Progress:
        """``progress`` that also ends the transfer once the deadline has passed (for
        drivers whose reads do not watch the deadline themselves)."""

        def report(done: int, total: int) -> None:
            self._check_deadline("transfer")
            if progress is not None:
                progress(done, total)

        return report

    def _device_now(self) -> datetime:
        """The device's clock now (host clock + the drift read this run), naive local."""
        drift = self.result.clock_drift_seconds or 0.0
        return local_now(self.tz).replace(microsecond=0, tzinfo=None) + timedelta(seconds=drift)

    def _report_bad_data(self, driver: Driver) -> None:
        """Say in the run summary, the run row and the log what the device sent that does
        not decode (every run that reads it) and which new punches were stored flagged."""
        result = self.result
        result.undecodable = driver.undecodable
        notes = []
        if driver.undecodable:
            notes.append(
                f"{driver.undecodable} record(s) did not decode and were skipped: "
                + "; ".join(driver.undecodable_examples)
            )
        if result.flagged:
            counts = ", ".join(f"{n} {flag}" for flag, n in sorted(result.flagged.items()))
            notes.append(
                f"new implausible punches stored flagged ({counts}): ignored by processing, "
                "listed by punchd status and the detail report"
            )
        if notes:
            result.error = logs.scrub(f"{self.device.name}: " + " | ".join(notes))
            logs.get_logger(device=self.device.name).warning(
                "implausible data from the device",
                undecodable=driver.undecodable,
                flagged=result.flagged,
                examples=driver.undecodable_examples,
            )

    def _mark_disabled(self, driver: Driver) -> None:
        """Record in att_device.disabled_at that the device is about to be disabled, so
        that a run killed while holding it can be undone by the next one."""
        if driver.disables_device and self.device_id is not None:
            try:
                with self.engine.begin() as conn:
                    store.set_disabled(conn, self.device_id, utcnow())
            except SQLAlchemyError as exc:  # bookkeeping only: the punches can still be spooled
                logs.get_logger(device=self.device.name).warning(
                    "could not record that the device is being disabled", error=_first_line(exc)
                )

    def _mark_enabled(self, driver: Driver) -> None:
        if not driver.disables_device or self.device_id is None or driver.left_disabled:
            return
        try:
            with self.engine.begin() as conn:
                store.set_disabled(conn, self.device_id, None)
        except SQLAlchemyError as exc:
            logs.get_logger(device=self.device.name).warning(
                "could not record that the device is enabled again", error=_first_line(exc)
            )

    def _reenable_left_disabled(self, driver: Driver) -> None:
        """A run killed while it held the device left it disabled: enable it first."""
        if not driver.disables_device or self.device_id is None:
            return
        try:
            with self.engine.begin() as conn:
                since = store.disabled_since(conn, self.device_id)
        except SQLAlchemyError as exc:  # the database went away: the run spools, as ever
            logs.get_logger(device=self.device.name).warning(
                "could not check whether the device was left disabled", error=_first_line(exc)
            )
            return
        if since is None:
            return
        driver.ensure_enabled()
        with self.engine.begin() as conn:
            store.set_disabled(conn, self.device_id, None)
        logs.get_logger(device=self.device.name).warning(
            "re-enabled the device: an interrupted run had left it disabled",
            disabled_at=f"{since:%Y-%m-%d %H:%M:%S} UTC",
        )

    def _commit(self, info, users, punches: PunchBatches) -> bool:
        """Store the read in one transaction, a batch at a time (see :mod:`.sink`): all of
        it commits, or — whatever breaks, in whichever batch — none of it. (One
        transaction rather than batches committed as they go and hidden until the run
        completes: every reader of att_punch would need to skip a run's unfinished rows,
        and a SQLite database has one writer either way.) True when committed."""
        collected_at = utcnow().replace(microsecond=0)
        result = self.result
        if self.device_id is not None:
            try:
                with gcpause.paused(), self.engine.begin() as conn:
                    writer = sink.PunchWriter(
                        conn, self.device_id, self.device.name, reason="punches"
                    )
                    values = self._values(collected_at, result.run_id)
                    result.records_read = 0
                    for batch in punches.batches(sink.BATCH):
                        result.records_read += len(batch)
                        writer.add(batch, _punch_key, values)
                    stored = writer.finish()
                    result.records_new, result.flagged = stored.new, stored.flagged
                    store.store_users(
                        conn, self.device_id, users, seen_at=collected_at, complete=True
                    )
                    store.update_device_info(
                        conn,
                        self.device_id,
                        serial_number=info.serial_number,
                        model=info.model,
                        firmware=info.firmware,
                        platform=info.platform,
                        mac=info.mac,
                        # The device's own counters when it has them: a driver may read
                        # only new records, or no user list at all.
                        user_count=info.user_count if info.user_count is not None else len(users),
                        record_count=(
                            info.record_count
                            if info.record_count is not None
                            else result.records_read
                        ),
                        record_capacity=info.record_capacity,
                        clock_drift_seconds=result.clock_drift_seconds,
                        clock_checked_at=collected_at,
                    )
                return True
            except SQLAlchemyError:
                result.records_new, result.flagged = 0, {}
                if self.spool is None:  # the run row still says how much was read
                    result.records_read = sum(map(len, punches.batches(sink.BATCH)))
                    raise
        if self.spool is None:  # pragma: no cover - device_id is None only with a spool
            raise RuntimeError("no database and no spool")
        rows = [
            self._row(p, collected_at, None) for batch in punches.batches(sink.BATCH) for p in batch
        ]
        result.records_read = len(rows)
        result.spooled = self.spool.write(
            device=self.device.name,
            driver=self.device.driver,
            address=self.device.address(),
            rows=rows,
        )
        result.status = "spooled"
        return False

    def _values(
        self, collected_at: datetime, run_id: int | None
    ) -> Callable[[PunchRow], tuple[object, ...]]:
        """PunchRow → its att_punch row, as :func:`punchd.storage.collection.punch_values`
        makes it from a mapping (``collected_at``: naive UTC, whole seconds)."""
        device_id, to_utc, device_now = self.device_id, _ToUtc(self.tz), self.device_now

        def values(punch: PunchRow) -> tuple[object, ...]:
            enroll_no, at, state, verify_mode, work_code = punch
            if at.microsecond:
                at = at.replace(microsecond=0)
            return (
                device_id,
                enroll_no,
                at,
                to_utc(at),
                state,
                verify_mode,
                work_code,
                "device",
                collected_at,
                run_id,
                punch_flag(at, device_now),
            )

        return values

    def _row(self, punch: PunchRow, collected_at: datetime, run_id: int | None) -> dict:
        enroll_no, at, state, verify_mode, work_code = punch
        return {
            "device_id": self.device_id,
            "enroll_no": enroll_no,
            "punched_at": at,
            "punched_at_utc": local_to_utc(at, self.tz),
            "state": state,
            "verify_mode": verify_mode,
            "work_code": work_code,
            "source": "device",
            "collected_at": collected_at,
            "run_id": run_id,
            "flag": punch_flag(at, self.device_now),
        }

    def _after_commit(self, driver: Driver) -> None:
        changes = self.device.clear_after_collect or type(driver).after_commit is not (
            Driver.after_commit
        )
        if changes:  # it may clear or mark records: the database must confirm the hold
            try:
                self.hold.fence()
            except LeaseLost as exc:
                self.result.clear_skipped = str(exc)
                logs.get_logger(device=self.device.name).error(
                    "device not cleared: the lease was lost", error=str(exc)
                )
                return
        done = driver.after_commit(self.result.records_read)
        self.result.cleared, self.result.clear_skipped = done.cleared, done.skipped
