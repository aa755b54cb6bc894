"""Poll schedules: ``"5m"``-style intervals or cron expressions, as APScheduler triggers."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # APScheduler when a trigger is built: loading settings checks specs only
    from apscheduler.triggers.base import BaseTrigger
    from apscheduler.triggers.cron import CronTrigger

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")


def parse_duration(text: str) -> float:
    """``"30s"``, ``"5m"``, ``"1.5h"``, ``"1d"`` → seconds."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration like 30s, 5m, 2h or 1d")
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise ValueError(f"{text!r} must be longer than zero")
    return seconds


_TIME_OF_DAY = re.compile(r"^\s*([01]?\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?\s*$")


def parse_time_of_day(text: str) -> tuple[int, int]:
    """``"03:00"`` (or ``"03:00:30"``) → (hour, minute)."""
    return _time_of_day(text)[:2]


def _time_of_day(text: str) -> tuple[int, int, int]:
    match = _TIME_OF_DAY.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a time of day like 03:00")
    return int(match.group(1)), int(match.group(2)), int(match.group(3) or 0)


def daily_trigger(text: str, tz: tzinfo) -> CronTrigger:
    """Every day at ``text`` (``HH:MM[:SS]``) on the wall clock of ``tz`` — always given: a
    CronTrigger without a zone runs on the host's clock, not the site's."""
    from apscheduler.triggers.cron import CronTrigger

    hour, minute, second = _time_of_day(text)
    return CronTrigger(hour=hour, minute=minute, second=second, timezone=tz)


def poll_trigger(spec: str, tz: tzinfo) -> BaseTrigger:
    """An interval (``"5m"``) or a five-field cron expression (``"*/10 7-19 * * 1-5"``)."""
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    if _DURATION.match(spec):
        return IntervalTrigger(seconds=parse_duration(spec), timezone=tz)
    try:
        return CronTrigger.from_crontab(spec, timezone=tz)
    except ValueError as exc:
        raise ValueError(
            f"{spec!r} is neither a duration (30s, 5m, 1h) nor a cron expression: {exc}"
        ) from None


def check_poll_spec(spec: str) -> str:
    """Validator for settings: raise ValueError with a clear message, return the spec."""
    from zoneinfo import ZoneInfo

    if _DURATION.match(spec):  # what IntervalTrigger would compute, without importing it
        _ = datetime.now(UTC) + timedelta(seconds=parse_duration(spec))
        return spec
    poll_trigger(spec, ZoneInfo("UTC"))
    return spec
