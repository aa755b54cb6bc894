"""``punchd run``: the unattended collector on APScheduler 3.x.

Jobs: one poll job per device (its own interval or cron), a spool flush, a heartbeat
(systemd watchdog), the membership (database heartbeat, which devices are this daemon's), a
daily clock check and a close-of-day job. The main thread only waits for signals:
SIGTERM/SIGINT stop, SIGHUP reloads the configuration.

Several daemons may share one database (docs/cluster.md): each polls only the devices it
owns (:mod:`punchd.collector.membership`), and every device session holds the device's lock
on the database server (:mod:`punchd.collector.lease`).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sdnotify
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from punchd import __version__, logs
from punchd.clock import local_now, utc_stamp
from punchd.collector import lease, membership
from punchd.collector.clockcheck import held_device
from punchd.collector.collect import RunResult, clock_drift, collect_device
from punchd.collector.drift import describe_drift, verdict
from punchd.collector.errors import CollectionError, DeviceLeased
from punchd.collector.hooks import NoProcessing, ProcessingHooks, default_hooks
from punchd.collector.push.receiver import Receiver, build_app
from punchd.collector.push.reconcile import Reconciler
from punchd.collector.push.service import DRIVER as PUSH_DRIVER
from punchd.collector.push.service import PushService
from punchd.collector.spool import Spool
from punchd.config import ConfigError, Settings, load_settings
from punchd.drivers import DeviceConfig, DriverError, get_driver
from punchd.storage import cluster
from punchd.storage import collection as store
from punchd.storage import devices as device_store
from punchd.storage import hr as hr_store
from punchd.triggers import daily_trigger, parse_duration, poll_trigger

#: worker threads for device polls: each device's poll job runs at most once at a time, so
#: this only bounds the number of devices (threads are started as needed);
#: ``max_concurrent_polls`` is enforced by the poll slots, not by the pool
_DEVICE_THREADS = 256
#: the shortest time a poll holds one of the ``max_concurrent_polls`` slots before it must
#: share it (a poll that outlives its slot keeps running, but no longer blocks the others)
_MIN_SLOT_S = 5.0

#: Seconds between two drains of the re-process queue by the daemon's own job.
REPROCESS_EVERY = 10
#: Seconds between two looks at the answers to the reconciliation's VERIFY SUMs (clocks
#: answer at their next poll, ``[push] delay``; between two daily runs a look costs nothing)
RECONCILE_FOLLOW_UP_EVERY = 15


class Daemon:
    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        *,
        config_path: Path | None = None,
        hooks: ProcessingHooks | None = None,
        enrol: Callable[[Settings], object] | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.config_path = config_path
        self.hooks = hooks or default_hooks(settings)
        #: `enrol apply` with the settings of the moment (given by `punchd run`: it is the
        #: application's); None: the daemon never enrols
        self.enrol = enrol
        self._roster_seen: tuple[object, ...] | None = None
        self._enrol_lock = threading.Lock()
        self.spool = Spool(settings.data_dir / "spool")
        self.lock_dir = settings.data_dir / "locks"
        self.log = logs.get_logger(component="daemon")
        self.notify = sdnotify.SystemdNotifier()
        self.stop_requested = threading.Event()
        self.reload_requested = threading.Event()
        self.cancel = threading.Event()  # tells running transfers to stop
        self.devices: dict[str, DeviceConfig] = {}
        self.failures: dict[str, int] = {}
        self.daemon_id: int | None = None
        #: this process's identity in the membership: random per start, never host or PID
        self.instance = secrets.token_hex(8)
        #: the devices this daemon polls now (its share); all it may poll until it has
        #: looked at the membership (a database down at start: one host, as ever)
        self.owned: set[str] = set()
        self._viewed_at: float | None = None  # time.monotonic() of the last look
        self._devices_changed = False  # the devices it may poll changed: tell the others
        #: this host's clock minus the database server's, seconds, at the last heartbeat
        self.skew: float | None = None
        self._skew_reported = False
        self._others = 0  # other live daemons at the last look
        lease.configure(settings.daemon.takeover_within)
        self._membership_lock = threading.Lock()
        self.receiver: Receiver | None = None
        self.push: PushService | None = None
        self.reconciler: Reconciler | None = None
        self.last_processing_at: datetime | None = None
        self._lock = threading.Lock()
        self._drain_lock = threading.Lock()
        self._lock_slots = threading.Lock()
        # Devices whose drift is beyond automatic correction (logged once per episode).
        self._drift_reported: set[str] = set()
        # A poll waits for one of max_concurrent_polls slots, and gives it up when it
        # outlives its own slot time: a device that hangs never starves the others.
        self._slots = threading.BoundedSemaphore(settings.daemon.max_concurrent_polls)
        self.scheduler = BackgroundScheduler(
            executors={
                "default": ThreadPoolExecutor(3),
                # A thread per device (max_instances=1): a queued poll would otherwise
                # wait behind hung ones and then be dropped as misfired.
                "devices": ThreadPoolExecutor(_DEVICE_THREADS),
            },
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
            # Every time of day in the settings is the site's wall clock.
            timezone=settings.site_zone(),
        )

    # -- lifecycle ----------------------------------------------------------------------
    def run(self) -> int:
        # One write per log line: a pipe or file would otherwise get block-buffered JSON
        # lines, late and cut by the scheduler's own (stderr) lines.
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(AttributeError, ValueError):
                stream.reconfigure(line_buffering=True)  # type: ignore[union-attr]
        self._install_signals()
        if not self._start_receiver():
            return 1
        self._warn_unknown_devices(self.settings)
        self.owned = set(self._may_poll(self.settings))
        self._register()
        self._membership()
        self.scheduler.start()
        self._schedule_service_jobs()
        for device in self.settings.devices:
            if _polled(device) and device.name in self._may_poll(self.settings):
                self._add_device(device)
        self._heartbeat()
        self.notify.notify("READY=1")
        self.log.info(
            "daemon started",
            devices=sorted(self.devices),
            owned=sorted(self.owned),
            instance=self.instance,
            pid=os.getpid(),
        )
        while not self.stop_requested.wait(0.2):
            if self.reload_requested.is_set():
                self.reload_requested.clear()
                try:
                    self.reload()
                except Exception as exc:  # a reload must never end the daemon
                    self.log.error("configuration reload failed", error=logs.scrub(str(exc)))
        return self._shutdown()

    def _install_signals(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: self.stop_requested.set())
        signal.signal(signal.SIGINT, lambda *_: self.stop_requested.set())
        signal.signal(signal.SIGHUP, lambda *_: self.reload_requested.set())

    def _shutdown(self) -> int:
        timeout = self.settings.daemon.shutdown_timeout
        deadline = time.monotonic() + timeout
        self.notify.notify("STOPPING=1")
        self.log.info("daemon stopping", timeout_s=timeout)
        # The receiver first: no new uploads; those in flight finish (committed, then OK)
        # or are cut off without an OK (the clock keeps them and sends them again).
        self._stop_receiver(timeout * 0.3)
        # No new jobs; running transfers are abandoned at their next chunk (the driver
        # re-enables the device; nothing half-read is stored) and commits finish.
        self.cancel.set()
        done = threading.Thread(target=self.scheduler.shutdown, kwargs={"wait": True}, daemon=True)
        done.start()
        # Most of the time for the running work, the rest for the spool and the stop mark.
        done.join(timeout * 0.7)
        stuck = done.is_alive()
        if stuck:
            self.log.error("work still running at shutdown; exiting anyway", timeout_s=timeout)
        final = threading.Thread(target=self._final_writes, daemon=True)
        final.start()
        final.join(max(0.0, deadline - time.monotonic()))
        if final.is_alive():
            stuck = True
            self.log.error("database did not answer at shutdown; exiting anyway")
        self.log.info("daemon stopped")
        if stuck:
            # A device that drips bytes (or a hung database) blocks its thread in a read;
            # the interpreter would wait for it at exit. Nothing half-read is stored: the
            # commit is all or nothing, and the device keeps its records.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
        return 0

    def _final_writes(self) -> None:
        self._flush_spool()
        self._mark_stopped()

    # -- configuration ------------------------------------------------------------------
    def reload(self) -> None:
        try:
            new = load_settings(self.config_path)
        except ConfigError as exc:
            self.log.error("configuration reload refused; keeping the running one", error=str(exc))
            return
        if (
            new.db_url != self.settings.db_url
            or new.data_dir != self.settings.data_dir
            or new.database != self.settings.database
            or new.daemon.max_concurrent_polls != self.settings.daemon.max_concurrent_polls
        ):
            self.log.warning(
                "database_url, [database], data_dir and max_concurrent_polls changes take "
                "effect after a restart"
            )
        old = dict(self.devices)  # _add_device/_remove_device change self.devices
        if new.push != self.settings.push:
            self.log.warning("[push] changes take effect after a restart")
        if self.push is not None:
            self.push.update_settings(new)
        self._warn_unknown_devices(new)
        may = self._may_poll(new)
        wanted = {d.name: d for d in new.devices if _polled(d) and d.name in may}
        if set(wanted) != set(old):
            self._devices_changed = True
        for name in set(old) - set(wanted):
            self._remove_device(name)
            self.failures.pop(name, None)
        for name, device in wanted.items():
            if name not in old:
                self._add_device(device, settings=new)
            elif (
                device != old[name]
                or new.daemon.poll_every != self.settings.daemon.poll_every
                or new.timezone != self.settings.timezone
            ):
                job = self.scheduler.get_job(_job_id(name))
                backoff = job.next_run_time if job is not None and self.failures.get(name) else None
                self._remove_device(name)
                # A failing device keeps its backoff: added with it, never first due now (the
                # scheduler thread would run a job due now before a later modify_job).
                self._add_device(device, settings=new, first=backoff)
        old_daemon, old_zone = self.settings.daemon, self.settings.timezone
        self.settings = new
        if (new.daemon.clock_check_at, new.daemon.close_of_day_at, new.timezone) != (
            old_daemon.clock_check_at,
            old_daemon.close_of_day_at,
            old_zone,
        ):
            site = new.site_zone()
            self.scheduler.reschedule_job(
                "clock-check", trigger=daily_trigger(new.daemon.clock_check_at, site)
            )
            self.scheduler.reschedule_job(
                "close-of-day", trigger=daily_trigger(new.daemon.close_of_day_at, site)
            )
        self._membership()  # tell the others which devices this host may poll now
        self.log.info(
            "configuration reloaded",
            added=sorted(set(wanted) - set(old)),
            removed=sorted(set(old) - set(wanted)),
            devices=sorted(self.devices),
        )

    # -- the push receiver ------------------------------------------------------------
    def _start_receiver(self) -> bool:
        """Start the push receiver when ``[push] listen`` is set; False when it cannot
        listen (the daemon then stops: the clocks would be refused without a word)."""
        where = self.settings.push.address()
        if where is None:
            return True
        self.push = PushService(self.settings, self.engine, self.spool, after_commit=self._pushed)
        try:
            self.receiver = Receiver(
                build_app(self.push),
                *where,
                graceful_seconds=self.settings.daemon.shutdown_timeout * 0.25,
            )
            self.receiver.start()
        except (OSError, RuntimeError) as exc:
            self.log.error(
                "push receiver cannot listen", listen=self.settings.push.listen, error=str(exc)
            )
            return False
        push_clocks = sorted(
            d.name for d in self.settings.devices if d.driver == PUSH_DRIVER and d.enabled
        )
        self.log.info(
            "push receiver listening",
            listen=f"{where[0]}:{self.receiver.port}",
            devices=push_clocks,
        )
        return True

    def _stop_receiver(self, timeout: float) -> None:
        if self.receiver is None:
            return
        if self.receiver.stop(timeout):
            self.log.info("push receiver stopped")
        else:
            self.log.error("push receiver did not stop in time", timeout_s=timeout)
        self.receiver = None

    def _pushed(self, new: int) -> None:
        """After a committed upload: re-process its days now, and drain the spool now when
        punches wait there (the database is back)."""
        now = datetime.now(UTC)
        with contextlib.suppress(JobLookupError):
            if new:
                self.scheduler.modify_job("reprocess", next_run_time=now)
            if self.spool.files():
                self.scheduler.modify_job("spool", next_run_time=now)

    # -- jobs ---------------------------------------------------------------------------
    def _trigger(self, device: DeviceConfig, settings: Settings | None = None) -> Any:
        settings = settings or self.settings
        # A cron poll_every is the site's wall clock, like every time of day in the settings.
        return poll_trigger(device.poll_every or settings.daemon.poll_every, settings.site_zone())

    def _slot_seconds(self, device: DeviceConfig) -> float:
        """How long a poll of ``device`` may hold a concurrency slot: its own poll interval
        (cron schedules: 5 minutes), at least ``_MIN_SLOT_S``."""
        job = self.scheduler.get_job(_job_id(device.name))
        interval = getattr(getattr(job, "trigger", None), "interval", None)
        seconds = interval.total_seconds() if interval is not None else 300.0
        return max(_MIN_SLOT_S, seconds)

    def _add_device(
        self,
        device: DeviceConfig,
        settings: Settings | None = None,
        first: datetime | None = None,
    ) -> None:
        """Schedule ``device``'s poll job: at ``first``, else now (interval) or at the next
        time of day (cron)."""
        get_driver(device.driver)  # fail here, not in the job, for an unknown driver
        self.devices[device.name] = device
        self.failures.setdefault(device.name, 0)
        trigger = self._trigger(device, settings)
        if first is None and isinstance(trigger, IntervalTrigger):
            first = datetime.now(UTC)
        self.scheduler.add_job(
            self._poll,
            trigger,
            args=[device.name],
            id=_job_id(device.name),
            name=f"poll {device.name}",
            executor="devices",
            replace_existing=True,
            **({"next_run_time": first} if first else {}),
        )

    def _remove_device(self, name: str) -> None:
        self.devices.pop(name, None)
        with contextlib.suppress(JobLookupError):
            self.scheduler.remove_job(_job_id(name))

    def _schedule_service_jobs(self) -> None:
        d = self.settings.daemon
        self.scheduler.add_job(
            self._heartbeat, IntervalTrigger(seconds=d.heartbeat_every), id="heartbeat"
        )
        self.scheduler.add_job(
            self._membership,
            IntervalTrigger(seconds=membership.refresh_every(d.takeover_within)),
            id="membership",
        )
        self.scheduler.add_job(self._flush_spool, IntervalTrigger(seconds=15), id="spool")
        # Edits made outside a command that drains (other programs, a failed drain) catch up.
        self.scheduler.add_job(
            self._drain, IntervalTrigger(seconds=REPROCESS_EVERY), id="reprocess"
        )
        site = self.settings.site_zone()
        self.scheduler.add_job(
            self._check_clocks, daily_trigger(d.clock_check_at, site), id="clock-check"
        )
        self.scheduler.add_job(
            self._close_day, daily_trigger(d.close_of_day_at, site), id="close-of-day"
        )
        enrolment = self.settings.enrolment
        if self.enrol is not None and enrolment.runs_in_daemon(self.settings.devices):
            # People on the clocks: daily (a separation takes effect the day after), and
            # after roster changes (docs/enrolment.md)
            self.scheduler.add_job(self._enrol, daily_trigger(enrolment.daily_at, site), id="enrol")
            if enrolment.roster_check_every:
                self.scheduler.add_job(
                    self._enrol_after_roster_change,
                    IntervalTrigger(seconds=enrolment.roster_check_every),
                    id="enrol-roster",
                )
        push = self.settings.push
        if self.push is not None and push.reconcile_days:
            # Push clocks: day counts compared once a day, gaps re-sent (collector.push.reconcile)
            self.reconciler = Reconciler(lambda: self.settings, self.engine)
            self.scheduler.add_job(
                self.reconciler.start, daily_trigger(push.reconcile_at, site), id="reconcile"
            )
            self.scheduler.add_job(
                self.reconciler.follow_up,
                IntervalTrigger(seconds=RECONCILE_FOLLOW_UP_EVERY),
                id="reconcile-follow-up",
            )

    def _enrol(self) -> bool:
        """One `enrol apply` (never two at once); False when it failed (logged)."""
        if self.enrol is None:
            return False
        with self._enrol_lock:
            try:
                self.enrol(self.settings)
            except Exception as exc:  # the next run retries; the daemon goes on
                self.log.error("enrolment failed", error=logs.scrub(str(exc)))
                return False
        return True

    def _enrol_after_roster_change(self) -> None:
        """`enrol apply` when employees or cards changed since the last look (the first
        look only notes the roster: the daily run covers what came before)."""
        try:
            with self.engine.connect() as conn:
                stamp = hr_store.roster_stamp(conn)
        except SQLAlchemyError as exc:
            self.log.warning("roster not read", error=logs.scrub(str(exc)))
            return
        seen, self._roster_seen = self._roster_seen, stamp
        if seen is not None and stamp != seen and not self._enrol():
            self._roster_seen = seen  # failed: try again at the next look

    def _poll(self, name: str) -> None:
        device = self.devices.get(name)
        if device is None or self.cancel.is_set():
            return
        if self._view_stale():
            # Stalled (or the scheduler fell behind): the others may have this device by now.
            self._membership()
        if name not in self.owned:
            return  # another daemon's share
        slot = self._slot_seconds(device)
        waited_until = time.monotonic() + slot
        while not self._slots.acquire(timeout=0.2):  # short steps: a stop does not wait
            if self.cancel.is_set():
                return
            if time.monotonic() >= waited_until:
                self.log.warning(
                    "poll skipped: every poll slot is busy",
                    device=name,
                    max_concurrent_polls=self.settings.daemon.max_concurrent_polls,
                )
                return
        released = threading.Event()

        def give_back(overran: bool) -> None:
            with self._lock_slots:
                if released.is_set():
                    return
                released.set()
            self._slots.release()
            if overran:
                self.log.warning(
                    "device poll outlives its slot; the slot goes to the other devices",
                    device=name,
                    slot_s=slot,
                )

        timer = threading.Timer(slot, give_back, args=(True,))
        timer.daemon = True
        timer.start()
        try:
            result = collect_device(
                self.engine,
                device,
                trigger="schedule",
                spool=self.spool if self._may_spool() else None,
                lock_dir=self.lock_dir,
                cancel=self.cancel,
            )
        finally:
            timer.cancel()
            give_back(False)
        if self.cancel.is_set():
            return
        self._after_poll(device, result)
        if result.records_new:
            self._drain()
        if result.status == "ok" and self.spool.files():
            self._flush_spool()  # the database is back: drain now, not at the next tick

    def _after_poll(self, device: DeviceConfig, result: RunResult) -> None:
        name = device.name
        job = self.scheduler.get_job(_job_id(name))
        self._report_drift(name, result.clock_drift_seconds)
        if result.error_kind == DeviceLeased.reason:
            # Someone else (HR's manual collect) has it right now: not the device's fault,
            # and that collector is reading it anyway. The normal schedule tries again.
            pass
        elif result.ok:
            if self.failures.get(name):
                self.log.info("device recovered", device=name, after_failures=self.failures[name])
                if job is not None:  # back to the normal schedule
                    job.reschedule(self._trigger(device))
            self.failures[name] = 0
        else:
            self.failures[name] = self.failures.get(name, 0) + 1
            delay = self._backoff(self.failures[name])
            if job is not None:
                job.modify(next_run_time=datetime.now(UTC) + timedelta(seconds=delay))
            self.log.warning(
                "device poll failed; backing off",
                device=name,
                failures=self.failures[name],
                retry_in_s=delay,
            )
        job = self.scheduler.get_job(_job_id(name))
        self._record_poll(name, result, job.next_run_time if job else None)

    def _report_drift(self, name: str, drift: float | None) -> None:
        """Log a drift too large to correct automatically, once until it is back."""
        if drift is None:
            return
        d = self.settings.daemon
        if verdict(drift, d.clock_sync_threshold, d.clock_auto_correct_max) == "report":
            if name not in self._drift_reported:
                self._drift_reported.add(name)
                self.log.error(
                    "device clock not corrected: drift too large to be a clock error",
                    device=name,
                    drift_s=drift,
                    problem=describe_drift(drift),
                    correct_with=f"punchd devices set-time {name}",
                )
        else:
            self._drift_reported.discard(name)

    def _backoff(self, failures: int) -> float:
        d = self.settings.daemon
        base, cap = parse_duration(d.backoff_base), parse_duration(d.backoff_max)
        return min(cap, base * 2 ** (failures - 1))

    def _record_poll(self, name: str, result: RunResult, next_run: datetime | None) -> None:
        now = utc_stamp()
        next_at = next_run.astimezone(UTC).replace(tzinfo=None, microsecond=0) if next_run else None
        outcome: dict[str, Any] = {}
        if result.ok:
            outcome["last_success_at"] = now
        elif result.error_kind != DeviceLeased.reason:
            outcome.update(last_failure_at=now, last_error=result.error)
        try:
            with self.engine.begin() as conn:
                device_id = (
                    store.upsert_device(
                        conn,
                        name=name,
                        driver=self.devices[name].driver,
                        address=self.devices[name].address(),
                    )
                    if name in self.devices
                    else None
                )
                if device_id is None:
                    return
                device_store.record_poll(
                    conn,
                    device_id,
                    daemon_id=self.daemon_id,
                    consecutive_failures=self.failures.get(name, 0),
                    next_poll_at=next_at,
                    updated_at=now,
                    **outcome,
                )
        except SQLAlchemyError as exc:
            self.log.warning(
                "poll state not recorded: database unreachable",
                device=name,
                error=str(exc).splitlines()[0],
            )

    def _drain(self) -> None:
        """Re-process what the queue holds (one drain at a time in this process)."""
        with self._drain_lock:
            try:
                done = self.hooks.drain(self.engine)
            except Exception as exc:  # processing must never stop collection
                self.log.error("re-processing failed", error=str(exc))
                return
            if done is not None and done.changes:
                self.last_processing_at = utc_stamp()

    def _close_day(self) -> None:
        yesterday = local_now(self.settings.site_zone()).date() - timedelta(days=1)
        try:
            self.hooks.close_day(self.engine, yesterday)
            if not isinstance(self.hooks, NoProcessing):
                self.last_processing_at = utc_stamp()
        except Exception as exc:
            self.log.error("close of day failed", day=yesterday.isoformat(), error=str(exc))

    def _flush_spool(self) -> None:
        if not self.spool.files():
            return
        with self._lock:  # the flush job and a poll thread may both get here
            self._flush_spool_locked()

    def _flush_spool_locked(self) -> None:
        if not self.spool.files():
            return
        try:
            stored = self.spool.flush(self.engine)
            self.log.info("spool drained", records_new=stored)
            if stored:
                self._drain()
        except SQLAlchemyError as exc:
            self.log.warning(
                "spool not flushed: database unreachable",
                backlog=self.spool.backlog(),
                error=str(exc).splitlines()[0],
            )

    def _check_clocks(self) -> None:
        for device in list(self.devices.values()):
            if self.cancel.is_set():
                return
            if device.name not in self.owned:
                continue  # another daemon's share: it checks that clock
            try:
                self.check_clock(device)
            except (DriverError, CollectionError, SQLAlchemyError) as exc:
                self.log.warning("clock check failed", device=device.name, error=str(exc))

    def check_clock(self, device: DeviceConfig) -> float:
        """Measure the device's drift; set its clock when beyond the threshold but within
        ``clock_auto_correct_max``. A larger drift is reported, never corrected here."""
        d = self.settings.daemon
        tz = self.settings.device_zone(device)
        with held_device(self.engine, device, self.lock_dir, purpose="clock") as (
            device_id,
            driver,
            hold,
        ):
            drift = after = clock_drift(driver, tz)
            action = verdict(drift, d.clock_sync_threshold, d.clock_auto_correct_max)
            if action == "correct" and not self._host_clock_trusted():
                action = "report"
            if action == "correct":
                hold.fence()  # LeaseLost: another collector has the device now
                driver.set_time(local_now(tz).replace(microsecond=0))
                after = clock_drift(driver, tz)
                self.log.warning(
                    "device clock corrected",
                    device=device.name,
                    drift_s=drift,
                    after_s=after,
                    zone=tz.key,
                )
            elif action == "report":
                self._drift_reported.discard(device.name)  # the daily check always says it
                self._report_drift(device.name, drift)
            else:
                self.log.info("device clock checked", device=device.name, drift_s=drift)
        with self.engine.begin() as conn:
            store.update_device_info(
                conn, device_id, clock_drift_seconds=after, clock_checked_at=utc_stamp()
            )
        return drift

    # -- heartbeat / status ---------------------------------------------------------------
    def _status_text(self) -> str:
        failing = sorted(n for n, f in self.failures.items() if f and n in self.devices)
        text = f"{len(self.devices)} devices"
        if failing:
            text += f", failing: {', '.join(failing)}"
        backlog = self.spool.backlog()
        if backlog:
            text += f", spool backlog {backlog}"
        return text[:255]

    def _register(self) -> None:
        try:
            with self.engine.begin() as conn:
                self.daemon_id = cluster.register_daemon(
                    conn,
                    instance=self.instance,
                    host=socket.gethostname(),
                    pid=os.getpid(),
                    version=__version__,
                    site=self.settings.daemon.site,
                    devices=sorted(self._may_poll(self.settings)),
                    host_clock=utc_stamp(),
                )
            self._devices_changed = False
        except SQLAlchemyError as exc:
            self.log.warning(
                "daemon not registered: database unreachable", error=str(exc).splitlines()[0]
            )

    def _heartbeat(self) -> None:
        status = self._status_text()
        self.notify.notify(f"STATUS={status}")
        self.notify.notify("WATCHDOG=1")

    # -- membership -----------------------------------------------------------------------
    def _may_poll(self, settings: Settings) -> set[str]:
        """The polled devices this host may poll: ``[daemon] devices``, else all."""
        names = {d.name for d in settings.devices if _polled(d)}
        limit = settings.daemon.devices
        return names & set(limit) if limit else names

    def _warn_unknown_devices(self, settings: Settings) -> None:
        known = {d.name for d in settings.devices}
        unknown = sorted(set(settings.daemon.devices) - known)
        if unknown:
            self.log.error(
                "[daemon] devices names devices not in [[devices]]; ignored", unknown=unknown
            )

    def _view_stale(self) -> bool:
        if self._viewed_at is None:
            return False  # never looked (database down since the start): poll as one host
        limit = membership.dead_after(self.settings.daemon.takeover_within)
        return time.monotonic() - self._viewed_at > limit

    def _membership(self) -> None:
        """Heartbeat in the database (server clock), then look at the running daemons and
        take this daemon's share of the devices; devices it gains are polled at once."""
        with self._membership_lock:
            try:
                self._membership_locked()
            except SQLAlchemyError as exc:
                # Keep the last share: the others keep theirs, and the device locks still
                # admit one collector per device.
                self.log.warning(
                    "membership not refreshed: database unreachable",
                    error=str(exc).splitlines()[0],
                )

    def _membership_locked(self) -> None:
        d = self.settings.daemon
        may = self._may_poll(self.settings)
        if self.daemon_id is None:
            self._register()
            if self.daemon_id is None:
                return
        with self.engine.begin() as conn:
            beating = cluster.heartbeat(
                conn,
                self.daemon_id,
                host_clock=utc_stamp(),
                status=self._status_text(),
                spool_backlog=self.spool.backlog(),
                holding=len(self.owned),
                last_processing_at=self.last_processing_at,
                devices=sorted(may) if self._devices_changed else None,
            )
        if not beating:
            # The others judged this daemon dead (it was stalled): join again.
            self.log.warning("this daemon was judged dead by the others; registering again")
            self.daemon_id = None
            self._register()
        with self.engine.begin() as conn:
            now, rows = cluster.running_daemons(conn)
        everyone = membership.members(rows, now)
        forget = membership.dead_after(d.takeover_within) * membership.FORGET_AFTER_FACTOR
        gone = [m for m in everyone if m.age > forget and m.id != self.daemon_id]
        if gone:
            with self.engine.begin() as conn:
                for m in gone:
                    cluster.mark_dead(conn, m.id, m.heartbeat_at + timedelta(seconds=1))
        alive = membership.live(everyone, d.takeover_within)
        me = next((m for m in everyone if m.id == self.daemon_id), None)
        if me is not None:
            self.skew = me.skew
            if me not in alive:  # our own heartbeat was just written: we are alive
                alive.append(me)
        self._others = sum(1 for m in alive if m.id != self.daemon_id)
        owned = membership.owned_by(self.instance, may, alive)
        gained, lost = owned - self.owned, self.owned - owned
        self.owned = owned
        self._viewed_at = time.monotonic()
        if gained or lost:
            self.log.info(
                "devices moved",
                gained=sorted(gained),
                lost=sorted(lost),
                daemons=len(alive),
                owned=len(owned),
            )
        for name in gained:
            with contextlib.suppress(JobLookupError):
                if self.scheduler.running:
                    self.scheduler.modify_job(_job_id(name), next_run_time=datetime.now(UTC))
        skewed = self.skew is not None and abs(self.skew) > d.max_host_skew
        if skewed and not self._skew_reported:  # once until it is back within bounds
            self.log.error(
                "host clock differs from the database server's; device clocks are not "
                "corrected by this daemon",
                skew_s=round(self.skew, 1),
                max_host_skew=d.max_host_skew,
            )
        self._skew_reported = skewed

    def _may_spool(self) -> bool:
        """Whether a poll may read a device without the database (into the spool): only
        with no other daemon on the database, as one host. Beside others, the device's
        server lock is what keeps two collectors apart: no database, no session (the device
        keeps its punches until the database is back)."""
        return self._others == 0 or not cluster.server_locks(self.engine)

    def _host_clock_trusted(self) -> bool:
        """Whether this host's clock is close enough to the database's to set a device by."""
        return self.skew is None or abs(self.skew) <= self.settings.daemon.max_host_skew

    def _mark_stopped(self) -> None:
        if self.daemon_id is None:
            return
        try:
            with self.engine.begin() as conn:
                device_store.daemon_stopped(
                    conn,
                    self.daemon_id,
                    at=utc_stamp(),
                    spool_backlog=self.spool.backlog(),
                    last_processing_at=self.last_processing_at,
                )
        except SQLAlchemyError:
            pass


def _polled(device: DeviceConfig) -> bool:
    """Devices the daemon polls: enabled ones, except push clocks (they call in)."""
    return device.enabled and device.driver != PUSH_DRIVER


def _job_id(name: str) -> str:
    return f"poll:{name}"
