"""Normalised plain data that every driver returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

#: Punches dated before this come from a clock that lost its time: a terminal whose backup
#: battery is flat restarts at 2000-01-01 (ZK) or 2000-01-02 (Anviz) after a power cut.
EARLIEST_PLAUSIBLE = datetime(2001, 1, 1)
#: How far a punch may be dated ahead of the device's own clock before it is implausible.
FUTURE_SLACK = timedelta(days=1)


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


#: A punch on the collector's hot path: ``(enroll_no, punched_at, state, verify_mode,
#: work_code)`` — :class:`Punch`'s fields as a plain tuple, ``state`` as its text value.
#: A tuple costs a third of the dataclass and needs no conversion on the way to a row.
PunchRow = tuple[str, datetime, str, int | None, str | None]


def punch_row(punch: Punch) -> PunchRow:
    """``punch`` as a :data:`PunchRow`."""
    return (
        punch.enroll_no,
        punch.punched_at,
        punch.state.value,
        punch.verify_mode,
        punch.work_code,
    )


@dataclass(frozen=True, slots=True)
class DeviceUser:
    """A person enrolled on a device."""

    enroll_no: str
    name: str = ""
    card: str | None = None
    privilege: int = 0


@dataclass(frozen=True, slots=True)
class FingerTemplate:
    """One enrolled finger of a person on a device. The template is biometric data: it
    stays out of ``repr`` (and so out of logs and error messages)."""

    enroll_no: str
    #: finger index 0-9
    finger: int
    template: bytes = field(repr=False)
    #: the device's flag: 1 an ordinary finger, 3 a duress finger
    valid: int = 1


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


def punch_flag(punched_at: datetime, device_now: datetime) -> str | None:
    """Why a punch cannot be a real one, as stored in ``att_punch.flag``, or None.

    ``"power_loss"``: dated before 2001 (the clock lost its time); ``"future"``: more than
    a day ahead of ``device_now``, the device's own clock read during the same run (so a
    clock that is merely off does not flag the punches it stamps). Both naive local time.
    """
    if punched_at < EARLIEST_PLAUSIBLE:
        return "power_loss"
    if punched_at > device_now + FUTURE_SLACK:
        return "future"
    return None
