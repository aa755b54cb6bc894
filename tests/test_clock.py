"""The product's one clock: ``set_today`` moves every "now" by whole days, together."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from punchd import clock as timezones
from punchd.clock import clock_shift, local_now, set_today, utc_to_local, utcnow


@pytest.fixture(autouse=True)
def _unshifted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(timezones, "_shift", timedelta(0))


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "America/New_York", "Pacific/Kiritimati"])
@pytest.mark.parametrize("day", [date(2027, 1, 2), date(2026, 12, 31), date(2024, 2, 29)])
def test_set_today_moves_the_site_date_and_keeps_the_time_of_day(zone: str, day: date) -> None:
    tz = ZoneInfo(zone)
    real = datetime.now(UTC)
    shift = set_today(day, tz)
    assert clock_shift() == shift and shift.seconds == 0 and shift.microseconds == 0
    now = local_now(tz)
    # unless the real clock crossed the site's midnight during these lines
    assert now.date() == day or now.date() == day + timedelta(days=1)
    assert abs((utcnow() - shift - real.replace(tzinfo=None)).total_seconds()) < 5
    assert abs((utc_to_local(utcnow(), tz) - now).total_seconds()) < 5


def test_utc_to_local() -> None:
    assert utc_to_local(datetime(2026, 12, 31, 15, 50), ZoneInfo("Asia/Shanghai")) == datetime(
        2026, 12, 31, 23, 50
    )
