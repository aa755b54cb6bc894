"""One collection run: device → database, exactly once, and a record of what happened.

Order matters for never losing a punch:
  1. read everything (device held), 2. commit in one transaction (all or nothing),
  3. only then, if asked, re-count and clear; a count that moved means no clear.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from ..drivers import DeviceConfig, DriverError, Progress, Punch, get_driver
from . import logs, store
from .timezones import local_now, local_to_utc, utcnow, zone


@dataclass
class RunResult:
    device: str
    status: str = "running"  # ok | failed
    run_id: int | None = None
    records_read: int = 0
    records_new: int = 0
    users_read: int = 0
    clock_drift_seconds: float | None = None
    cleared: bool = False
    clear_skipped: str | None = None
    error: str | None = None
    error_kind: str | None = None
    duration_s: float = 0.0
    #: (enroll_no, punched_at) of the stored new punches, for re-processing hooks
    new_punches: list[tuple[str, datetime]] = field(default_factory=list, repr=False)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def outcome(self) -> dict[str, object]:
        """What ``att_collection_run`` records of the run (and the log event repeats)."""
        return {
            "status": self.status,
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
) -> RunResult:
    log = logs.get_logger(device=device.name, trigger=trigger)
    result = RunResult(device=device.name)
    started = time.monotonic()
    with engine.begin() as conn:
        device_id = store.upsert_device(
            conn, name=device.name, driver=device.driver, address=device.address()
        )
        result.run_id = store.start_run(
            conn, device_id, trigger=trigger, host=socket.gethostname(), started_at=utcnow()
        )
    try:
        _run(engine, device, device_id, result, progress, all_records)
        result.status = "ok"
    except DriverError as exc:
        result.status, result.error, result.error_kind = "failed", logs.scrub(str(exc)), exc.reason
    except SQLAlchemyError as exc:
        result.status, result.error_kind = "failed", "database"
        result.error = logs.scrub(
            f"{device.name}: database error: {exc.__class__.__name__}: {str(exc).splitlines()[0]}"
        )
    result.duration_s = time.monotonic() - started
    with engine.begin() as conn:
        store.finish_run(conn, result.run_id, finished_at=utcnow(), **result.outcome())
    event = log.info if result.ok else log.error
    event(
        "collection",
        run_id=result.run_id,
        **result.outcome(),
        clear_skipped=result.clear_skipped,
        duration_s=round(result.duration_s, 3),
    )
    return result


def _run(
    engine: Engine,
    device: DeviceConfig,
    device_id: int,
    result: RunResult,
    progress: Progress | None,
    all_records: bool,
) -> None:
    tz = zone(device.timezone)
    with get_driver(device.driver)(device) as driver:
        info = driver.device_info()
        device_now = driver.get_time()
        # The device counts whole seconds: compare with the host clock truncated alike.
        host_now = local_now(tz).replace(microsecond=0)
        result.clock_drift_seconds = (device_now - host_now).total_seconds()
        with driver.hold():
            users = driver.users()
            punches = driver.punches(progress, all_records=all_records)
            result.users_read, result.records_read = len(users), len(punches)
            collected_at = utcnow()
            with engine.begin() as conn:
                result.records_new = _store_punches(
                    conn, device_id, punches, tz, collected_at, result
                )
                store.store_users(conn, device_id, users, seen_at=collected_at)
                store.update_device_info(
                    conn,
                    device_id,
                    serial_number=info.serial_number,
                    model=info.model,
                    firmware=info.firmware,
                    platform=info.platform,
                    mac=info.mac,
                    user_count=len(users),
                    record_count=len(punches),
                    record_capacity=info.record_capacity,
                    clock_drift_seconds=result.clock_drift_seconds,
                    clock_checked_at=collected_at,
                )
            # Committed: only now may the device forget anything.
            done = driver.after_commit(result.records_read)
            result.cleared, result.clear_skipped = done.cleared, done.skipped


def _store_punches(conn, device_id, punches: list[Punch], tz, collected_at, result) -> int:
    if not punches:
        return 0
    since = min(p.punched_at for p in punches)
    known = store.existing_punch_keys(conn, device_id, since=since)
    rows = []
    for punch in punches:
        key = (punch.enroll_no, punch.punched_at, punch.state.value)
        if key in known:
            continue
        known.add(key)  # a record the device holds twice is stored once
        rows.append(
            {
                "device_id": device_id,
                "enroll_no": punch.enroll_no,
                "punched_at": punch.punched_at,
                "punched_at_utc": local_to_utc(punch.punched_at, tz),
                "state": punch.state.value,
                "verify_mode": punch.verify_mode,
                "work_code": punch.work_code,
                "source": "device",
                "collected_at": collected_at,
                "run_id": result.run_id,
            }
        )
    inserted = store.insert_punches(conn, rows) if rows else 0
    result.new_punches = [(r["enroll_no"], r["punched_at"]) for r in rows]
    return inserted
