"""The deliberate ``set-time`` of a device clock, under the same lock and lease as a
collection (how a drift is judged and worded: :mod:`punchd.collector.drift`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine

from punchd.clock import local_now, utc_stamp
from punchd.collector.collect import clock_drift, registered
from punchd.collector.lease import Hold, device_held
from punchd.drivers import DeviceConfig, Driver, get_driver
from punchd.storage import audit
from punchd.storage import collection as store


@contextmanager
def held_device(
    engine: Engine, device: DeviceConfig, lock_dir: Path, *, purpose: str, wait: float = 0.0
) -> Iterator[tuple[int, Driver, Hold]]:
    """(device id, connected driver, hold) while this process alone talks to ``device``: the
    same local lock and database lease as a collection (DeviceLeased when another holds it).
    Call ``hold.fence()`` right before changing the device."""
    device_id = registered(engine, device)
    with (
        device_held(
            engine, device_id, device.name, lock_dir=lock_dir, purpose=purpose, wait=wait
        ) as hold,
        get_driver(device.driver)(device) as driver,
    ):
        yield device_id, driver, hold


def set_device_time(
    engine: Engine,
    device: DeviceConfig,
    tz: ZoneInfo,
    *,
    to: datetime | None,
    lock_dir: Path,
    actor: str,
    wait: float = 0.0,
) -> tuple[float, float]:
    """Set ``device``'s clock to ``to`` (naive wall-clock time in ``tz``; None: now) under the
    same local lock and database lease as a collection, and audit it.

    Returns (drift before, drift after) in seconds. Raises DriverError, DeviceLeased (when
    another collector holds the device), LeaseLost (when it lost the device before setting
    the clock) or SQLAlchemyError.
    """
    with held_device(engine, device, lock_dir, purpose="set-time", wait=wait) as (
        device_id,
        driver,
        hold,
    ):
        before = clock_drift(driver, tz)
        target = (to or local_now(tz)).replace(microsecond=0)
        hold.fence()  # LeaseLost: another collector has the device now; leave its clock
        driver.set_time(target)
        after = clock_drift(driver, tz)
        with engine.begin() as conn:
            store.update_device_info(
                conn, device_id, clock_drift_seconds=after, clock_checked_at=utc_stamp()
            )
            audit.record(
                conn,
                actor,
                "set-time",
                "device",
                device.name,
                {
                    "to": target.isoformat(sep=" "),
                    "zone": tz.key,
                    "drift_before_s": round(before),
                    "drift_after_s": round(after),
                },
            )
    return before, after
