"""The holiday calendar (pure): China's official calendar per year from the packages, the
fixed-date statutory holidays for a year they do not know, sources, confirmation."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import chinese_calendar
import holidays
import pytest

from punchd.processing import (
    CalendarDataMissing,
    DayType,
    Employee,
    HolidayCalendar,
    Period,
    Rules,
    ScheduleAssignment,
    Shift,
    process_range,
)
from punchd.processing import calendar as cal

#: A year neither installed package has China's official calendar of (the notice for 2027
#: is not published yet). The tests below need such a year.
UNKNOWN = 2027
needs_unknown_year = pytest.mark.skipif(
    cal.china_source(UNKNOWN) is not None,
    reason=f"the installed packages know {UNKNOWN}: pick a later year",
)


def year_days(year: int) -> list[date]:
    d, out = date(year, 1, 1), []
    while d.year == year:
        out.append(d)
        d += timedelta(days=1)
    return out


def worked(resolved: cal.ResolvedCalendar, d: date) -> bool:
    """Is ``d`` worked on a Monday–Friday shift that follows the calendar?"""
    kind = resolved.day_type(d)
    if kind is DayType.HOLIDAY:
        return False
    return kind is DayType.MAKEUP_WORKDAY or d.weekday() < 5


def test_holidays_package_agrees_with_chinese_calendar_on_2026(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The fallback for a year chinese-calendar does not know (the holidays package's China
    with weekend_workdays) gives the same worked / not-worked day as chinese-calendar, for
    every day of 2026."""
    assert 2026 in cal.chinese_calendar_years() and 2026 in cal.holidays_china_years()
    official = HolidayCalendar(china=True).resolve(date(2026, 1, 1), date(2026, 12, 31))
    assert set(official.sources.values()) == {cal.package_version("chinese-calendar")}
    monkeypatch.setattr(cal, "chinese_calendar_years", frozenset)  # as if it lacked 2026
    fallback = HolidayCalendar(china=True).resolve(date(2026, 1, 1), date(2026, 12, 31))
    assert set(fallback.sources.values()) == {cal.package_version("holidays")}
    assert fallback.unconfirmed == ()
    differ = [
        d
        for d in year_days(2026)
        if worked(fallback, d) != worked(official, d)
        or worked(official, d) != chinese_calendar.is_workday(d)
    ]
    assert differ == []
    # make-up workdays of 2026 come through both ways (Sunday 4 January, Saturday 28 Feb…)
    makeup = sorted(d for d, (k, _) in fallback.days.items() if k is DayType.MAKEUP_WORKDAY)
    assert makeup == sorted(d for d in chinese_calendar.workdays if d.year == 2026)
    assert len(makeup) >= 5


@needs_unknown_year
def test_unknown_year_has_only_the_fixed_date_statutory_holidays() -> None:
    r = HolidayCalendar(china=True).resolve(date(UNKNOWN, 1, 1), date(UNKNOWN, 12, 31))
    y = UNKNOWN
    fixed = [date(y, 1, 1), date(y, 5, 1), date(y, 5, 2), date(y, 10, 1), date(y, 10, 2)]
    assert sorted(r.days) == [*fixed, date(y, 10, 3)]
    assert all(kind is DayType.HOLIDAY for kind, _ in r.days.values())
    assert r.name(date(y, 10, 1)) == "National Day"
    assert set(r.sources.values()) == {f"{cal.package_version('holidays')}: statutory fixed date"}
    assert r.unconfirmed == (y,)
    # the package knows the lunar festivals, but as estimates: not taken, nor its guesses
    # at the bridging days (its "observed" days)
    package = holidays.China(years=y)
    lunar = package.get_named("Spring Festival") + package.get_named("Mid-Autumn")
    assert lunar and not set(lunar) & set(r.days)
    assert any("observed" in n for n in package.values())
    assert not any("observed" in n for _, n in r.days.values())


def test_fixed_dates_follow_the_law_of_the_year() -> None:
    """1995 (known to neither package): the 1949 rules — 1 May only, 1–2 October."""
    assert cal.china_source(1995) is None
    r = HolidayCalendar(china=True).resolve(date(1995, 1, 1), date(1995, 12, 31))
    assert sorted(r.days) == [
        date(1995, 1, 1),
        date(1995, 5, 1),
        date(1995, 10, 1),
        date(1995, 10, 2),
    ]
    assert r.unconfirmed == (1995,)


@needs_unknown_year
def test_entered_dates_and_confirmation() -> None:
    y = UNKNOWN
    entered = HolidayCalendar(
        china=True,
        holidays={date(y, 1, 1): "元旦", date(y, 2, 8): "春节"},
        workdays={date(y, 2, 20): "春节调休"},
        sources={
            date(y, 1, 1): "entered by hr-wang 2026-12-20 09:00 UTC",
            date(y, 2, 8): "entered by hr-wang 2026-12-20 09:00 UTC",
        },
    )
    r = entered.resolve(date(y, 1, 1), date(y, 2, 28))
    assert r.day_type(date(y, 2, 8)) is DayType.HOLIDAY
    assert r.source(date(y, 2, 8)) == "entered by hr-wang 2026-12-20 09:00 UTC"
    assert r.day_type(date(y, 2, 20)) is DayType.MAKEUP_WORKDAY
    assert r.source(date(y, 2, 20)) == "entered"  # no source given
    assert r.name(date(y, 1, 1)) == "元旦"
    assert r.source(date(y, 1, 1)) == (
        "entered by hr-wang 2026-12-20 09:00 UTC (instead of holiday New Year's Day from "
        f"{cal.package_version('holidays')}: statutory fixed date)"
    )
    assert entered.unconfirmed_years(date(y, 1, 1), date(y, 1, 1)) == [y]
    confirmed = HolidayCalendar(china=True, holidays={date(y, 2, 8): ""}, confirmed_years=[y])
    assert confirmed.unconfirmed_years(date(y, 1, 1), date(y, 12, 31)) == []
    rc = confirmed.resolve(date(y, 1, 1), date(y, 12, 31))
    assert rc.unconfirmed == () and date(y, 1, 1) in rc.days  # the statutory days stay


@needs_unknown_year
def test_range_across_new_year_resolves_both_years() -> None:
    r = HolidayCalendar(china=True).resolve(date(UNKNOWN - 1, 12, 25), date(UNKNOWN, 1, 10))
    assert r.unconfirmed == (UNKNOWN,)
    assert r.day_type(date(UNKNOWN, 1, 1)) is DayType.HOLIDAY
    assert r.day_type(date(UNKNOWN - 1, 12, 31)) is DayType.ORDINARY
    assert (
        HolidayCalendar(china=True).unconfirmed_years(date(2026, 12, 1), date(2026, 12, 31)) == []
    )


def test_only_china_is_ever_unconfirmed() -> None:
    plain = HolidayCalendar(country="CN", holidays=[date(2031, 3, 3)])
    assert plain.unconfirmed_years(date(2031, 1, 1), date(2031, 12, 31)) == []
    r = HolidayCalendar(country="DE", subdivision="BY").resolve(date(2024, 1, 1), date(2024, 1, 6))
    assert r.source(date(2024, 1, 6)) == f"{cal.package_version('holidays')} (DE-BY)"
    assert r.unconfirmed == ()


def test_a_year_outside_any_data_is_refused() -> None:
    with pytest.raises(CalendarDataMissing, match="1949"):
        HolidayCalendar(china=True).resolve(date(1949, 12, 30), date(1950, 1, 2))


@needs_unknown_year
def test_engine_processes_across_new_year() -> None:
    """The engine (margin days included) runs over the year boundary: 1 January is a
    holiday, the next Monday a workday, nothing refused."""
    office = Shift.weekly("OFFICE", [Period.at("08:00", "17:00")])
    rules = Rules(
        assignments=(ScheduleAssignment(office, date(2026, 1, 1), department=1),),
        calendar=HolidayCalendar(china=True),
    )
    first = date(UNKNOWN - 1, 12, 31)
    punches = {7: [datetime.combine(first, datetime.min.time()).replace(hour=h) for h in (8, 17)]}
    days = {
        r.work_date: r
        for r in process_range(
            [Employee(7, 1, date(2020, 1, 1))], punches, rules, first, date(UNKNOWN, 1, 4), now=None
        )
    }
    statuses = {d: r.status.value for d, r in days.items()}
    assert statuses == {
        first: "present",
        date(UNKNOWN, 1, 1): "holiday",
        date(UNKNOWN, 1, 2): "rest",
        date(UNKNOWN, 1, 3): "rest",
        date(UNKNOWN, 1, 4): "absent",
    }
