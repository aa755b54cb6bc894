"""``punchd run``: the unattended collector on APScheduler 3.x.

Jobs: one poll job per device (its own interval or cron), a spool flush, a heartbeat
(database row + systemd watchdog), a daily clock check and a close-of-day job. The main
thread only waits for signals: SIGTERM/SIGINT stop, SIGHUP reloads the configuration.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sdnotify
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from .. import __version__
from ..drivers import DeviceConfig, DriverError, get_driver
from . import logs, store
from .collect import RunResult, clock_drift, collect_device
from .hooks import NoProcessing, ProcessingHooks, default_hooks
from .lease import DeviceLeased, database_lease, local_lock
from .schedule import parse_duration, parse_time_of_day, poll_trigger
from .schema import att_daemon, att_device_poll
from .settings import ConfigError, Settings, load_settings
from .spool import Spool
from .timezones import local_now, utcnow, zone

#: Seconds between two drains of the re-process queue by the daemon's own job.
REPROCESS_EVERY = 10


class Daemon:
    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        *,
        config_path: Path | None = None,
        hooks: ProcessingHooks | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.config_path = config_path
        self.hooks = hooks or default_hooks(settings)
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
        self.last_processing_at: datetime | None = None
        self._lock = threading.Lock()
        self._drain_lock = threading.Lock()
        daemon = settings.daemon
        self.scheduler = BackgroundScheduler(
            executors={
                "default": ThreadPoolExecutor(3),
                "devices": ThreadPoolExecutor(daemon.max_concurrent_polls),
            },
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
            # Cron schedules (close of day…) are the site's wall clock.
            timezone=zone(settings.timezone),
        )

    # -- lifecycle ----------------------------------------------------------------------
    def run(self) -> int:
        self._install_signals()
        self._register()
        self.scheduler.start()
        self._schedule_service_jobs()
        for device in self.settings.devices:
            if device.enabled:
                self._add_device(device)
        self._heartbeat()
        self.notify.notify("READY=1")
        self.log.info("daemon started", devices=sorted(self.devices), pid=os.getpid())
        while not self.stop_requested.wait(0.2):
            if self.reload_requested.is_set():
                self.reload_requested.clear()
                self.reload()
        return self._shutdown()

    def _install_signals(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: self.stop_requested.set())
        signal.signal(signal.SIGINT, lambda *_: self.stop_requested.set())
        signal.signal(signal.SIGHUP, lambda *_: self.reload_requested.set())

    def _shutdown(self) -> int:
        timeout = self.settings.daemon.shutdown_timeout
        self.notify.notify("STOPPING=1")
        self.log.info("daemon stopping", timeout_s=timeout)
        # No new jobs; running transfers are abandoned at their next chunk (the driver
        # re-enables the device; nothing half-read is stored) and commits finish.
        self.cancel.set()
        done = threading.Thread(target=self.scheduler.shutdown, kwargs={"wait": True})
        done.start()
        done.join(timeout)
        if done.is_alive():
            self.log.error("work still running at shutdown; exiting anyway", timeout_s=timeout)
        self._flush_spool()
        self._mark_stopped()
        self.log.info("daemon stopped")
        return 0

    # -- configuration ------------------------------------------------------------------
    def reload(self) -> None:
        try:
            new = load_settings(self.config_path)
        except ConfigError as exc:
            self.log.error("configuration reload refused; keeping the running one", error=str(exc))
            return
        if new.db_url != self.settings.db_url or new.data_dir != self.settings.data_dir:
            self.log.warning("database_url / data_dir changes take effect after a restart")
        old = dict(self.devices)  # _add_device/_remove_device change self.devices
        wanted = {d.name: d for d in new.devices if d.enabled}
        for name in set(old) - set(wanted):
            self._remove_device(name)
        for name, device in wanted.items():
            if name not in old:
                self._add_device(device)
            elif device != old[name] or new.daemon.poll_every != self.settings.daemon.poll_every:
                self._remove_device(name)
                self._add_device(device, settings=new)
        self.settings = new
        self.log.info(
            "configuration reloaded",
            added=sorted(set(wanted) - set(old)),
            removed=sorted(set(old) - set(wanted)),
            devices=sorted(self.devices),
        )

    # -- jobs ---------------------------------------------------------------------------
    def _trigger(self, device: DeviceConfig, settings: Settings | None = None) -> Any:
        settings = settings or self.settings
        return poll_trigger(device.poll_every or settings.daemon.poll_every, zone(device.timezone))

    def _add_device(self, device: DeviceConfig, settings: Settings | None = None) -> None:
        get_driver(device.driver)  # fail here, not in the job, for an unknown driver
        self.devices[device.name] = device
        self.failures.setdefault(device.name, 0)
        trigger = self._trigger(device, settings)
        first = datetime.now(UTC) if isinstance(trigger, IntervalTrigger) else None
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
        self.scheduler.add_job(self._flush_spool, IntervalTrigger(seconds=15), id="spool")
        # Edits made outside a command that drains (other programs, a failed drain) catch up.
        self.scheduler.add_job(
            self._drain, IntervalTrigger(seconds=REPROCESS_EVERY), id="reprocess"
        )
        hour, minute = parse_time_of_day(d.clock_check_at)
        self.scheduler.add_job(
            self._check_clocks, CronTrigger(hour=hour, minute=minute), id="clock-check"
        )
        hour, minute = parse_time_of_day(d.close_of_day_at)
        self.scheduler.add_job(
            self._close_day, CronTrigger(hour=hour, minute=minute), id="close-of-day"
        )

    def _poll(self, name: str) -> None:
        device = self.devices.get(name)
        if device is None or self.cancel.is_set():
            return
        result = collect_device(
            self.engine,
            device,
            trigger="schedule",
            spool=self.spool,
            lock_dir=self.lock_dir,
            cancel=self.cancel,
        )
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

    def _backoff(self, failures: int) -> float:
        d = self.settings.daemon
        base, cap = parse_duration(d.backoff_base), parse_duration(d.backoff_max)
        return min(cap, base * 2 ** (failures - 1))

    def _record_poll(self, name: str, result: RunResult, next_run: datetime | None) -> None:
        now = utcnow()
        values: dict[str, Any] = {
            "consecutive_failures": self.failures.get(name, 0),
            "next_poll_at": next_run.astimezone(UTC).replace(tzinfo=None) if next_run else None,
            "updated_at": now,
        }
        if result.ok:
            values["last_success_at"] = now
        elif result.error_kind != DeviceLeased.reason:
            values.update(last_failure_at=now, last_error=result.error)
        t = att_device_poll
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
                done = conn.execute(update(t).where(t.c.device_id == device_id).values(**values))
                if done.rowcount == 0:
                    conn.execute(insert(t).values(device_id=device_id, **values))
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
                self.last_processing_at = utcnow()

    def _close_day(self) -> None:
        yesterday = local_now(zone(self.settings.timezone)).date() - timedelta(days=1)
        try:
            self.hooks.close_day(self.engine, yesterday)
            if not isinstance(self.hooks, NoProcessing):
                self.last_processing_at = utcnow()
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
            try:
                self.check_clock(device)
            except (DriverError, SQLAlchemyError) as exc:
                self.log.warning("clock check failed", device=device.name, error=str(exc))

    def check_clock(self, device: DeviceConfig) -> float:
        """Measure the device's drift; set its clock when beyond the threshold."""
        threshold = self.settings.daemon.clock_sync_threshold
        tz = zone(device.timezone)
        with self.engine.begin() as conn:
            device_id = store.upsert_device(
                conn,
                name=device.name,
                driver=device.driver,
                address=device.address(),
                user_code=getattr(device, "user_code", "enroll"),
            )
        with (
            local_lock(self.lock_dir, device.name),
            database_lease(self.engine, device_id, device.name, purpose="clock"),
            get_driver(device.driver)(device) as driver,
        ):
            drift = after = clock_drift(driver, tz)
            if abs(drift) > threshold:
                driver.set_time(local_now(tz).replace(microsecond=0))
                after = clock_drift(driver, tz)
                self.log.warning(
                    "device clock corrected", device=device.name, drift_s=drift, after_s=after
                )
            else:
                self.log.info("device clock checked", device=device.name, drift_s=drift)
        with self.engine.begin() as conn:
            store.update_device_info(
                conn, device_id, clock_drift_seconds=after, clock_checked_at=utcnow()
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
        now = utcnow()
        try:
            with self.engine.begin() as conn:
                self.daemon_id = conn.execute(
                    insert(att_daemon).values(
                        host=socket.gethostname(),
                        pid=os.getpid(),
                        version=__version__,
                        started_at=now,
                        heartbeat_at=now,
                        status="starting",
                        spool_backlog=0,
                    )
                ).inserted_primary_key[0]
        except SQLAlchemyError as exc:
            self.log.warning(
                "daemon not registered: database unreachable", error=str(exc).splitlines()[0]
            )

    def _heartbeat(self) -> None:
        status = self._status_text()
        self.notify.notify(f"STATUS={status}")
        self.notify.notify("WATCHDOG=1")
        try:
            if self.daemon_id is None:
                self._register()
            with self.engine.begin() as conn:
                conn.execute(
                    update(att_daemon)
                    .where(att_daemon.c.id == self.daemon_id)
                    .values(
                        heartbeat_at=utcnow(),
                        status=status,
                        spool_backlog=self.spool.backlog(),
                        last_processing_at=self.last_processing_at,
                    )
                )
        except SQLAlchemyError:
            pass  # the spool and the log carry on; status shows the stale heartbeat

    def _mark_stopped(self) -> None:
        if self.daemon_id is None:
            return
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    update(att_daemon)
                    .where(att_daemon.c.id == self.daemon_id)
                    .values(
                        stopped_at=utcnow(), status="stopped", spool_backlog=self.spool.backlog()
                    )
                )
        except SQLAlchemyError:
            pass


def _job_id(name: str) -> str:
    return f"poll:{name}"


def alive_daemons(engine: Engine, stale_after: float) -> list[dict]:
    """Daemons whose heartbeat is fresher than ``stale_after`` seconds."""
    limit = utcnow() - timedelta(seconds=stale_after)
    with engine.connect() as conn:
        rows = (
            conn.execute(
                select(att_daemon)
                .where(att_daemon.c.stopped_at.is_(None), att_daemon.c.heartbeat_at >= limit)
                .order_by(att_daemon.c.heartbeat_at.desc())
            )
            .mappings()
            .all()
        )
    return [dict(r) for r in rows]
