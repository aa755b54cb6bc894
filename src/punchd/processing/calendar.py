"""Holidays and make-up workdays.

A :class:`HolidayCalendar` says, for any date, whether it is a holiday (no work required,
work counts as holiday overtime), a make-up workday (a day that would be a rest day but is
worked, China's 调休), or an ordinary day (the schedule decides) — and where that came from.

Sources, strongest first:

1. explicit dates (``holidays`` / ``workdays``), as HR entered them;
2. China's official calendar (``china=True``), per year from the first that knows the year:
   the ``chinese-calendar`` package (holidays including the rest days moved next to them,
   and make-up workdays), else the ``holidays`` package's China (holidays and
   ``weekend_workdays``) when it has that year's official notice, else only the statutory
   holidays on fixed dates (:data:`FIXED_STATUTORY`) — such a year is *unconfirmed* until
   HR confirms that the explicit dates are complete (``confirmed_years``);
3. a country's public holidays from the ``holidays`` package (``country="CN"``, ``"DE"``…).

The packages are only data: resolving is a pure function of the calendar and the dates.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from functools import cache
from importlib import metadata

from punchd.errors import PunchdError

#: China's statutory holidays on fixed Gregorian dates (全国年节及纪念日放假办法): New Year's
#: Day, Labour Day (1–2 May), National Day (1–3 October). Only these are taken for a year no
#: package has the official notice of: the lunar festivals (Spring Festival, Dragon Boat,
#: Mid-Autumn) are estimates in the ``holidays`` package, and the bridging rest days and
#: make-up workdays are set by each year's notice. A date is taken only when the ``holidays``
#: package lists it for that year (it knows which revision of the law applies: 2 May only
#: from 2025).
FIXED_STATUTORY: tuple[tuple[int, int], ...] = ((1, 1), (5, 1), (5, 2), (10, 1), (10, 2), (10, 3))

#: Years China's statutory calendar can be built for at all.
CHINA_YEARS = range(1950, 2100)


class CalendarDataMissing(PunchdError, ValueError):
    """No calendar data at all for a year being processed (outside :data:`CHINA_YEARS`)."""


class DayType(StrEnum):
    """What the calendar says about a date."""

    ORDINARY = "ordinary"
    HOLIDAY = "holiday"
    MAKEUP_WORKDAY = "makeup_workday"


def _as_named(value: Mapping[date, str] | Iterable[date]) -> Mapping[date, str]:
    if isinstance(value, Mapping):
        return {d: str(n) for d, n in value.items()}
    return dict.fromkeys(value, "")


@cache
def package_version(name: str) -> str:
    """``"chinese-calendar 1.11.0"`` — how a package source is named."""
    try:
        return f"{name} {metadata.version(name)}"
    except metadata.PackageNotFoundError:
        return name


@cache
def chinese_calendar_years() -> frozenset[int]:
    """Years the installed ``chinese-calendar`` has the official calendar of."""
    try:
        import chinese_calendar
    except ImportError:
        return frozenset()
    return frozenset(d.year for d in chinese_calendar.holidays)


@cache
def holidays_china_years() -> frozenset[int]:
    """Years the installed ``holidays`` package has China's official notice of (the years
    with substituted rest days, from which it derives ``weekend_workdays``)."""
    try:
        from holidays.countries.china import ChinaStaticHolidays
    except ImportError:
        return frozenset()
    return frozenset(getattr(ChinaStaticHolidays, "special_public_holidays", {}))


def china_source(year: int) -> str | None:
    """The package that has China's official calendar of ``year``, or None."""
    if year in chinese_calendar_years():
        return package_version("chinese-calendar")
    if year in holidays_china_years():
        return package_version("holidays")
    return None


@dataclass(frozen=True, eq=False)
class HolidayCalendar:
    """Holidays and make-up workdays for a processing run.

    ``holidays`` / ``workdays`` take dates, or a mapping date → name (the name appears in the
    details of findings). A date may not be in both.
    """

    holidays: Mapping[date, str] | Iterable[date] = field(default_factory=dict)
    workdays: Mapping[date, str] | Iterable[date] = field(default_factory=dict)
    country: str | None = None
    """ISO country code for the ``holidays`` package, e.g. ``"CN"``; None: not used."""
    subdivision: str | None = None
    """Optional state/province code for ``country`` (``holidays`` ``subdiv``)."""
    china: bool = False
    """Follow China's official calendar: holidays (including the rest days moved next to
    them) and make-up workdays, from the packages; for a year they do not know, the fixed
    statutory holidays and the explicit dates, and the year is unconfirmed."""
    sources: Mapping[date, str] = field(default_factory=dict)
    """Where each explicit date came from (e.g. ``"entered by hr-wang 2026-11-29 10:00
    UTC"``); default ``"entered"``."""
    confirmed_years: Collection[int] = frozenset()
    """Years whose explicit dates HR confirmed to be the complete official calendar."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "holidays", _as_named(self.holidays))
        object.__setattr__(self, "workdays", _as_named(self.workdays))
        object.__setattr__(self, "confirmed_years", frozenset(self.confirmed_years))
        both = set(self.holidays) & set(self.workdays)
        if both:
            raise ValueError(f"dates both holiday and workday: {sorted(both)}")

    def unconfirmed_years(self, date_from: date, date_to: date) -> list[int]:
        """Years of ``[date_from, date_to]`` processed on China's calendar without official
        data: no package knows them and HR has not confirmed them."""
        if not self.china:
            return []
        return [
            y
            for y in range(date_from.year, date_to.year + 1)
            if y not in self.confirmed_years and china_source(y) is None  # type: ignore[operator]
        ]

    def resolve(self, date_from: date, date_to: date) -> ResolvedCalendar:
        """Every non-ordinary date in ``[date_from, date_to]`` with its type, name and
        source."""
        days: dict[date, tuple[DayType, str]] = {}
        sources: dict[date, str] = {}

        def put(d: date, kind: DayType, name: str, source: str) -> None:
            if date_from <= d <= date_to:
                days[d] = (kind, name)
                sources[d] = source

        years = range(date_from.year, date_to.year + 1)
        if self.country:
            import holidays as holidays_pkg

            country = holidays_pkg.country_holidays(
                self.country, subdiv=self.subdivision, years=years
            )
            where = "-".join(x for x in (self.country, self.subdivision) if x)
            for d, name in country.items():
                put(d, DayType.HOLIDAY, str(name), f"{package_version('holidays')} ({where})")
        if self.china:
            for year in years:
                self._china_year(year, put)
        for explicit, kind in (
            (self.holidays, DayType.HOLIDAY),
            (self.workdays, DayType.MAKEUP_WORKDAY),
        ):
            for d, name in explicit.items():  # type: ignore[union-attr]
                if not date_from <= d <= date_to:
                    continue
                source = self.sources.get(d) or "entered"
                if d in days:
                    before_kind, before_name = days[d]
                    before = "holiday" if before_kind is DayType.HOLIDAY else "make-up workday"
                    what = f"{before} {before_name}" if before_name else before
                    source += f" (instead of {what} from {sources[d]})"
                default = "holiday" if kind is DayType.HOLIDAY else "make-up workday"
                put(d, kind, name or default, source)
        return ResolvedCalendar(
            date_from, date_to, days, sources, tuple(self.unconfirmed_years(date_from, date_to))
        )

    @staticmethod
    def _china_year(year: int, put: Callable[[date, DayType, str, str], None]) -> None:
        if year not in CHINA_YEARS:
            raise CalendarDataMissing(
                f"no calendar data for {year}: China's official calendar covers "
                f"{CHINA_YEARS.start}–{CHINA_YEARS.stop - 1}"
            )
        if year in chinese_calendar_years():
            import chinese_calendar

            source = package_version("chinese-calendar")
            for table, kind in (
                (chinese_calendar.holidays, DayType.HOLIDAY),
                (chinese_calendar.workdays, DayType.MAKEUP_WORKDAY),
            ):
                for d, holiday in table.items():
                    if d.year == year:
                        put(d, kind, str(getattr(holiday, "value", holiday)), source)
            return
        import holidays as holidays_pkg

        source = package_version("holidays")
        if year in holidays_china_years():
            china = holidays_pkg.China(years=year)
            for d, name in china.items():
                put(d, DayType.HOLIDAY, str(name), source)
            for d in china.weekend_workdays:
                if d.year == year:
                    put(d, DayType.MAKEUP_WORKDAY, "make-up workday", source)
            return
        statutory = holidays_pkg.China(years=year, observed=False)
        for month, day in FIXED_STATUTORY:
            d = date(year, month, day)
            if d in statutory:
                put(d, DayType.HOLIDAY, str(statutory[d]), f"{source}: statutory fixed date")


@dataclass(frozen=True)
class ResolvedCalendar:
    """A calendar resolved for a date range (what the engine uses)."""

    date_from: date
    date_to: date
    days: Mapping[date, tuple[DayType, str]]
    sources: Mapping[date, str] = field(default_factory=dict)
    """Where each entry of ``days`` came from (package and version, or the HR entry)."""
    unconfirmed: tuple[int, ...] = ()
    """Years of the range on China's calendar without official data (see
    :meth:`HolidayCalendar.unconfirmed_years`)."""

    def day_type(self, d: date) -> DayType:
        entry = self.days.get(d)
        return entry[0] if entry else DayType.ORDINARY

    def name(self, d: date) -> str:
        entry = self.days.get(d)
        return entry[1] if entry else ""

    def source(self, d: date) -> str:
        return self.sources.get(d, "")

    def dates(self) -> Iterable[date]:
        d = self.date_from
        while d <= self.date_to:
            yield d
            d += timedelta(days=1)
