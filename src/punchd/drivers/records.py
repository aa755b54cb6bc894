"""Normalised plain data that every driver returns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class PunchState(StrEnum):
    """What the person meant by the punch (the key they pressed on the clock)."""

    IN = "in"
    OUT = "out"
    BREAK_OUT = "break_out"
    BREAK_IN = "break_in"
    OT_IN = "ot_in"
    OT_OUT = "ot_out"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Punch:
    """One attendance record as the device reported it.

    ``punched_at`` is the device's naive local wall-clock time, untouched: the device has
    no notion of time zones, so conversion happens later with the configured zone.
    """

    enroll_no: str
    punched_at: datetime
    state: PunchState = PunchState.UNKNOWN
    verify_mode: int | None = None
    work_code: str | None = None


@dataclass(frozen=True, slots=True)
class DeviceUser:
    """A person enrolled on a device."""

    enroll_no: str
    name: str = ""
    card: str | None = None
    privilege: int = 0


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """Identity and counters of a device, read at the start of every run."""

    serial_number: str | None = None
    model: str | None = None
    firmware: str | None = None
    platform: str | None = None
    mac: str | None = None
    user_count: int | None = None
    record_count: int | None = None
    record_capacity: int | None = None
