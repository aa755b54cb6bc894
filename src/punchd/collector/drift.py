"""How a device clock's drift is judged and worded (pure: no device, no database).

A device clock is only ever set automatically for a small drift (``clock_sync_threshold`` <
drift <= ``clock_auto_correct_max``). A larger drift is almost always a configuration
mistake — a wrong time zone on the device or in punchd, daylight saving — and "correcting" it
would store every later punch hours off, so it is reported instead and an admin decides
(``punchd devices set-time``, :mod:`punchd.collector.clockcheck`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from punchd.config import DaemonSettings

#: a drift this close to a whole number of quarter-hours looks like a zone/DST mistake
ZONE_SLACK_S = 180
_QUARTER_HOUR_S = 900

ClockVerdict = Literal["ok", "correct", "report"]


def likely_zone_error(drift_s: float) -> bool:
    """True when the drift is within a few minutes of a whole number (>= 1) of quarter-hours:
    every time zone offset, and daylight saving, is one."""
    size = abs(drift_s)
    if size < _QUARTER_HOUR_S - ZONE_SLACK_S:
        return False
    return abs(size - round(size / _QUARTER_HOUR_S) * _QUARTER_HOUR_S) <= ZONE_SLACK_S


def drift_amount(drift_s: float) -> str:
    """How far off, without the direction: ``45 s``, ``12 min 05 s``, ``8 h 00 min``
    (whole seconds; hours to the nearest minute)."""
    size = round(abs(drift_s))
    if size < 60:
        return f"{size} s"
    if size < 3600:
        return f"{size // 60} min {size % 60:02d} s"
    hours, rest = divmod(size, 3600)
    return f"{hours} h {round(rest / 60):02d} min" if rest < 3570 else f"{hours + 1} h 00 min"


def describe_drift(drift_s: float) -> str:
    """``clock is 8 h 00 min behind: is the device's time zone right?`` — the one wording of
    a drift, for logs, ``collect``, ``devices`` and ``status``."""
    size = round(abs(drift_s))
    if size == 0:
        return "clock is right"
    text = f"clock is {drift_amount(drift_s)} {'ahead' if drift_s > 0 else 'behind'}"
    if likely_zone_error(drift_s):
        if abs(size - 3600) <= ZONE_SLACK_S:
            text += ": is the device's time zone (daylight saving) right?"
        else:
            text += ": is the device's time zone right?"
    return text


def verdict(drift_s: float, threshold_s: float, auto_max_s: float) -> ClockVerdict:
    """``ok`` within the threshold, ``correct`` up to ``auto_max_s``, else ``report``."""
    if abs(drift_s) <= threshold_s:
        return "ok"
    if abs(drift_s) <= auto_max_s:
        return "correct"
    return "report"


def drift_warnings(
    settings: DaemonSettings, drifts: Sequence[tuple[str, float | None]]
) -> list[str]:
    """One line per device whose clock is off by more than the daemon corrects by itself."""
    d = settings
    return [
        f"{name}: {describe_drift(drift)} — not corrected automatically; check it, then "
        f"`punchd devices set-time {name}`"
        for name, drift in drifts
        if drift is not None
        and verdict(drift, d.clock_sync_threshold, d.clock_auto_correct_max) == "report"
    ]
