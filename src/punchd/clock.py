"""Resolve the zone device clocks are read in, and the product's one clock.

Every "now" and "today" of punchd comes from :func:`utcnow` / :func:`local_now` here, so that
one injected shift (:func:`set_today`, ``punchd demo --today``) moves all of them together.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


@cache
def host_zone() -> ZoneInfo:
    """The host's IANA zone: $TZ, /etc/timezone, the /etc/localtime link, else UTC.

    An IANA zone (not a fixed offset) so that punches on both sides of a DST change
    convert correctly.
    """
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    tz_file = Path("/etc/timezone")
    if tz_file.is_file():
        candidates.append(tz_file.read_text().strip())
    localtime = Path("/etc/localtime")
    if localtime.is_symlink():
        target = str(localtime.resolve())
        if "zoneinfo/" in target:
            candidates.append(target.split("zoneinfo/", 1)[1])
    for name in candidates:
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def zone(name: str | None) -> ZoneInfo:
    return ZoneInfo(name) if name else host_zone()


def device_zone(device_timezone: str | None, site_timezone: str | None) -> ZoneInfo:
    """The zone a device's clock runs in: its own ``timezone``, else the site's, else (no site
    zone configured) the host's. The one rule; settings apply it to every configured device."""
    return zone(device_timezone or site_timezone)


def site_label(site_timezone: str | None) -> str:
    """How times shown to people are labelled: ``times in Asia/Shanghai``."""
    return f"times in {zone(site_timezone).key}"


def to_site(value: datetime | None, site_timezone: str | None) -> datetime | None:
    """A naive-UTC ``*_at`` value as naive wall-clock time of the site (for display)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC).astimezone(zone(site_timezone)).replace(tzinfo=None)


#: Added to the system clock by :func:`utcnow` / :func:`local_now` (see :func:`set_today`).
_shift = timedelta(0)


def set_today(day: date, tz: ZoneInfo) -> timedelta:
    """Shift the clock by whole days so that it is ``day`` in ``tz``; the time of day keeps
    running. Returns the shift (for simulated devices, whose clocks must move with it)."""
    global _shift
    _shift = timedelta(0)
    _shift = timedelta(days=(day - local_now(tz).date()).days)
    return _shift


def clock_shift() -> timedelta:
    return _shift


def utcnow() -> datetime:
    """Naive UTC, the convention of every *_at column except att_punch.punched_at."""
    return (datetime.now(UTC) + _shift).replace(tzinfo=None)


def utc_stamp() -> datetime:
    """:func:`utcnow` to the second: what is written into ``*_at`` columns (docs/schema.md;
    MySQL would round a fraction, possibly up)."""
    return utcnow().replace(microsecond=0)


def local_to_utc(local: datetime, tz: ZoneInfo) -> datetime:
    """Device wall-clock time → naive UTC. In a DST fold the earlier instant is taken."""
    return local.replace(tzinfo=tz).astimezone(UTC).replace(tzinfo=None)


def utc_to_local(utc: datetime, tz: ZoneInfo) -> datetime:
    """Naive UTC (a ``*_at`` column) → naive wall-clock time in ``tz``, for people to read."""
    return utc.replace(tzinfo=UTC).astimezone(tz).replace(tzinfo=None)


def local_now(tz: ZoneInfo) -> datetime:
    """Naive wall-clock time in ``tz``."""
    return (datetime.now(UTC) + _shift).astimezone(tz).replace(tzinfo=None)
