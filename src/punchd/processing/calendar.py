"""Holidays and make-up workdays.

A :class:`HolidayCalendar` says, for any date, whether it is a holiday (no work required,
work counts as holiday overtime), a make-up workday (a day that would be a rest day but is
worked, China's 调休), or an ordinary day (the schedule decides).

Sources, strongest first:

1. explicit dates (``holidays`` / ``workdays``), as HR entered them;
2. China's official make-up workdays and holidays from the ``chinese-calendar`` package
   (``china=True``);
3. a country's public holidays from the ``holidays`` package (``country="CN"``, ``"DE"``…).

The packages are only data: resolving is a pure function of the calendar and the dates.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum


class CalendarDataMissing(ValueError):
    """A calendar package has no data for a year that is being processed."""


class DayType(StrEnum):
    """What the calendar says about a date."""

    ORDINARY = "ordinary"
    HOLIDAY = "holiday"
    MAKEUP_WORKDAY = "makeup_workday"


def _as_named(value: Mapping[date, str] | Iterable[date]) -> Mapping[date, str]:
    if isinstance(value, Mapping):
        return {d: str(n) for d, n in value.items()}
    return dict.fromkeys(value, "")


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
    """Use ``chinese-calendar``: official holidays (including the rest days moved next to
    them) and make-up workdays. Raises :class:`CalendarDataMissing` for years the installed
    package does not know yet (update it, or enter the dates explicitly)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "holidays", _as_named(self.holidays))
        object.__setattr__(self, "workdays", _as_named(self.workdays))
        both = set(self.holidays) & set(self.workdays)
        if both:
            raise ValueError(f"dates both holiday and workday: {sorted(both)}")

    def resolve(self, date_from: date, date_to: date) -> ResolvedCalendar:
        """Every non-ordinary date in ``[date_from, date_to]`` with its type and name."""
        days: dict[date, tuple[DayType, str]] = {}
        years = range(date_from.year, date_to.year + 1)
        if self.country:
            import holidays as holidays_pkg

            country = holidays_pkg.country_holidays(
                self.country, subdiv=self.subdivision, years=years
            )
            for d, name in country.items():
                if date_from <= d <= date_to:
                    days[d] = (DayType.HOLIDAY, str(name))
        if self.china:
            import chinese_calendar

            known = {d.year for d in chinese_calendar.holidays}
            missing = [y for y in years if y not in known]
            if missing:
                raise CalendarDataMissing(
                    f"chinese-calendar has no data for {', '.join(map(str, missing))}: "
                    "update the package or enter the holidays and make-up workdays explicitly"
                )
            for source, kind in (
                (chinese_calendar.holidays, DayType.HOLIDAY),
                (chinese_calendar.workdays, DayType.MAKEUP_WORKDAY),
            ):
                for d, holiday in source.items():
                    if date_from <= d <= date_to:
                        days[d] = (kind, str(getattr(holiday, "value", holiday)))
        for d, name in self.holidays.items():  # type: ignore[union-attr]
            if date_from <= d <= date_to:
                days[d] = (DayType.HOLIDAY, name or "holiday")
        for d, name in self.workdays.items():  # type: ignore[union-attr]
            if date_from <= d <= date_to:
                days[d] = (DayType.MAKEUP_WORKDAY, name or "make-up workday")
        return ResolvedCalendar(date_from, date_to, days)


@dataclass(frozen=True)
class ResolvedCalendar:
    """A calendar resolved for a date range (what the engine uses)."""

    date_from: date
    date_to: date
    days: Mapping[date, tuple[DayType, str]]

    def day_type(self, d: date) -> DayType:
        entry = self.days.get(d)
        return entry[0] if entry else DayType.ORDINARY

    def name(self, d: date) -> str:
        entry = self.days.get(d)
        return entry[1] if entry else ""

    def dates(self) -> Iterable[date]:
        d = self.date_from
        while d <= self.date_to:
            yield d
            d += timedelta(days=1)
