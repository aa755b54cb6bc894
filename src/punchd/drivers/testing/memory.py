"""The ``memory`` driver: a device kept in this process, filled and broken by a test.

A test plugs a :class:`MemoryDevice` in under a channel name; a ``[[devices]]`` entry with
``driver = "memory"`` (and ``channel``, default: the device's own name) reaches it::

    gate = memory.plug("gate-1", MemoryDevice(punches=[...], users=[...]))
    collect_device(engine, MemoryConfig(name="gate-1"))
    gate.fail_after = 100  # the next read breaks off after 100 records

Faults: ``fail_connect`` (raised by connect), ``fail_after`` / ``fail_with`` (the punch
transfer breaks off after that many records), ``after_read`` (runs once the punches have
been read, e.g. to add a punch that arrives before the device is cleared). Counters
(``connects``, ``reads``, ``clears``) let a test see what the collector did. Nothing here
touches a socket, so a run takes milliseconds.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from punchd.drivers.base import DeviceConfig, Driver, Progress
from punchd.drivers.errors import DeviceUnreachable, DriverError, TransferBroken
from punchd.drivers.records import DeviceInfo, DeviceUser, Punch

#: how many records the punch transfer reports progress for at a time
PROGRESS_STEP = 1000


@dataclass(eq=False)
class MemoryDevice:
    """What a memory driver serves, and the faults it shows. Safe to change between runs."""

    punches: list[Punch] = field(default_factory=list)
    users: list[DeviceUser] = field(default_factory=list)
    serial_number: str | None = "MEM0001"
    model: str | None = "memory"
    firmware: str | None = None
    record_capacity: int | None = 100_000
    #: the device clock: the wall-clock time of ``timezone`` (default: the configured
    #: device zone, else the host's) plus ``clock_offset``
    timezone: str | None = None
    clock_offset: timedelta = timedelta(0)
    #: raised by ``connect`` (a DriverError, e.g. ``DeviceUnreachable("…")``)
    fail_connect: DriverError | None = None
    #: break the punch transfer off after this many records (0: before the first)
    fail_after: int | None = None
    fail_with: type[DriverError] = TransferBroken
    #: called (with the device) once a ``punches()`` read has finished
    after_read: Callable[[MemoryDevice], None] | None = None
    can_clear: bool = True
    connects: int = 0
    reads: int = 0
    clears: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def now(self, zone: str | None) -> datetime:
        tz = self.timezone or zone
        wall = datetime.now(ZoneInfo(tz)) if tz else datetime.now().astimezone()
        return wall.replace(tzinfo=None, microsecond=0) + self.clock_offset


_plugged: dict[str, MemoryDevice] = {}
_plugged_lock = threading.Lock()


def plug(channel: str, device: MemoryDevice | None = None) -> MemoryDevice:
    """Make ``device`` (default: an empty one) reachable as ``channel``; returns it."""
    device = device if device is not None else MemoryDevice()
    with _plugged_lock:
        _plugged[channel] = device
    return device


def unplug(channel: str | None = None) -> None:
    """Remove the device on ``channel`` (every device if None)."""
    with _plugged_lock:
        if channel is None:
            _plugged.clear()
        else:
            _plugged.pop(channel, None)


def _device_on(channel: str) -> MemoryDevice | None:
    with _plugged_lock:
        return _plugged.get(channel)


class MemoryConfig(DeviceConfig):
    driver: Literal["memory"] = "memory"
    #: the channel the device was plugged in under; default: this device's name
    channel: str | None = None
    user_code: Literal["enroll", "card"] = "enroll"

    def reaches(self) -> str:
        return self.channel or self.name

    def address(self) -> str:
        return f"memory://{self.reaches()}"


class MemoryDriver(Driver):
    name = "memory"
    config_model = MemoryConfig

    def __init__(self, config: MemoryConfig) -> None:
        super().__init__(config)
        self.config: MemoryConfig = config
        self._device: MemoryDevice | None = None

    def _on(self) -> MemoryDevice:
        if self._device is None:
            raise DeviceUnreachable(f"{self.config.name}: not connected")
        return self._device

    def connect(self) -> None:
        device = _device_on(self.config.reaches())
        if device is None:
            raise DeviceUnreachable(
                f"{self.config.name}: nothing plugged in at {self.config.address()}"
            )
        with device.lock:
            device.connects += 1
            if device.fail_connect is not None:
                raise device.fail_connect
        self._device = device

    def close(self) -> None:
        self._device = None

    def device_info(self) -> DeviceInfo:
        device = self._on()
        with device.lock:
            return DeviceInfo(
                serial_number=device.serial_number,
                model=device.model,
                firmware=device.firmware,
                platform="memory",
                user_count=len(device.users),
                record_count=len(device.punches),
                record_capacity=device.record_capacity,
            )

    def users(self) -> list[DeviceUser]:
        device = self._on()
        with device.lock:
            return list(device.users)

    def punches(
        self, progress: Progress | None = None, *, all_records: bool = False
    ) -> list[Punch]:
        """Every punch (a memory device keeps no "new record" mark), with the faults."""
        device = self._on()
        with device.lock:
            device.reads += 1
            records = list(device.punches)
            fail_after, fail_with = device.fail_after, device.fail_with
        total = len(records)
        if fail_after is not None and fail_after < total:
            if progress is not None and fail_after:
                progress(fail_after, total)
            raise fail_with(
                f"{self.config.name}: transfer broke off after {fail_after} of {total} records"
            )
        if progress is not None:
            for done in range(PROGRESS_STEP, total, PROGRESS_STEP):
                progress(done, total)
            progress(total, total)
        if device.after_read is not None:
            device.after_read(device)
        return records

    def get_time(self) -> datetime:
        return self._on().now(self.config.timezone)

    def set_time(self, when: datetime) -> None:
        device = self._on()
        with device.lock:
            device.clock_offset = timedelta(0)
            device.clock_offset = when - device.now(self.config.timezone)

    def clear_punches(self) -> None:
        device = self._on()
        if not device.can_clear:
            super().clear_punches()  # NotSupported
        with device.lock:
            device.punches.clear()
            device.clears += 1
