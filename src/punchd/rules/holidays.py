"""Holidays and make-up workdays (调休) HR enters, one date or a whole notice at a time, and
the years HR confirms as China's complete official calendar. Each change writes its audit row
and queues the days to re-process; problems raise :class:`RulesError` before anything is
written."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING

from punchd.processing import HolidayCalendar, requeue
from punchd.processing.inputs import stored_settings
from punchd.rules.calendar_status import UNCONFIRMED
from punchd.rules.errors import RulesError
from punchd.rules.holiday_file import HolidayEntry
from punchd.storage import audit
from punchd.storage import rules as stored

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Row

NAME_MAX = 128


def write_holiday(conn: Connection, day: date, kind: str, name: str, *, actor: str) -> str:
    """Enter ``kind`` (holiday | workday) ``name`` on ``day``, replacing what was entered:
    "added" / "changed" / "unchanged". No audit row (the caller writes its own)."""
    row = stored.holiday_on(conn, day)
    if row is None:
        stored.add_holiday(conn, day, kind, name, actor=actor)
        return "added"
    if row.kind == kind and row.name == name:
        return "unchanged"
    stored.update_holiday(conn, row.id, kind, name, actor=actor)
    return "changed"


def add_holiday(
    conn: Connection, day: date, *, name: str = "", workday: bool = False, actor: str
) -> str:
    """A holiday (or, ``workday=True``, a make-up workday 调休) on ``day``; replaces what was
    entered for that date before. Returns "added" / "changed" / "unchanged"."""
    kind = "workday" if workday else "holiday"
    name = name.strip()
    if len(name) > NAME_MAX:
        raise RulesError(f"the name may have at most {NAME_MAX} characters")
    what = write_holiday(conn, day, kind, name, actor=actor)
    if what != "unchanged":
        audit.record(conn, actor, "set", "holiday", day.isoformat(), {"kind": kind, "name": name})
        requeue.enqueue_results(conn, date_from=day, date_to=day, reason="holiday")
    return what


def remove_holiday(conn: Connection, day: date, *, actor: str) -> None:
    row = stored.holiday_on(conn, day)
    if row is None:
        raise RulesError(
            f"no holiday or make-up workday entered for {day} (a date from the country "
            "calendars is cancelled by entering it as the other kind)"
        )
    stored.delete_holiday(conn, row.id)
    audit.record(
        conn, actor, "remove", "holiday", day.isoformat(), {"kind": row.kind, "name": row.name}
    )
    requeue.enqueue_results(conn, date_from=day, date_to=day, reason="holiday")


def list_holidays(conn: Connection, year: int | None = None) -> list[Row]:
    """``att_holiday`` rows by date (entered dates only, not the country calendars)."""
    return stored.holidays(conn, year)


@dataclass
class HolidayImport:
    """What ``import_holidays`` did: dates by outcome, the years the file covers."""

    added: list[date] = field(default_factory=list)
    changed: list[date] = field(default_factory=list)
    unchanged: list[date] = field(default_factory=list)
    removed: list[date] = field(default_factory=list)
    kept: list[date] = field(default_factory=list)
    """Dates entered before for the file's years that the file does not list (kept)."""
    years: list[int] = field(default_factory=list)
    confirmed: list[int] = field(default_factory=list)


def import_holidays(
    conn: Connection,
    entries: Sequence[HolidayEntry],
    *,
    actor: str,
    source: str,
    replace: bool = False,
    confirm: bool = False,
) -> HolidayImport:
    """Enter every date of a holiday file (validated: :func:`parse_holiday_csv`), one audit
    row per change (``detail.file`` = ``source``). ``replace``: remove the dates entered for
    the file's years that the file does not list. ``confirm``: then confirm those years."""
    result = HolidayImport(years=sorted({e.day.year for e in entries}))
    listed = {e.day for e in entries}
    for e in sorted(entries, key=lambda e: e.day):
        what = write_holiday(conn, e.day, e.kind, e.name, actor=actor)
        getattr(result, what).append(e.day)
        if what != "unchanged":
            audit.record(
                conn,
                actor,
                "set",
                "holiday",
                e.day.isoformat(),
                {"kind": e.kind, "name": e.name, "file": source},
            )
    for year in result.years:
        for row in stored.holidays(conn, year):
            if row.holiday_date in listed:
                continue
            if not replace:
                result.kept.append(row.holiday_date)
                continue
            stored.delete_holiday(conn, row.id)
            audit.record(
                conn,
                actor,
                "remove",
                "holiday",
                row.holiday_date.isoformat(),
                {"kind": row.kind, "name": row.name, "file": source},
            )
            result.removed.append(row.holiday_date)
    if confirm:
        for year in result.years:
            if confirm_year(conn, year, actor=actor) == "confirmed":
                result.confirmed.append(year)
    requeue.enqueue_days(conn, [*result.added, *result.changed, *result.removed], "holiday")
    return result


def calendar_years(conn: Connection) -> dict[int, Row]:
    """``att_calendar_year`` rows by year (the years HR confirmed)."""
    return stored.calendar_years(conn)


def confirm_year(conn: Connection, year: int, *, actor: str) -> str:
    """Mark ``year``'s entered holidays and make-up workdays as the complete official
    calendar (China's calendar, for a year the packages do not know). Returns "confirmed" or
    "unchanged" (already confirmed)."""
    from punchd.processing.calendar import CHINA_YEARS, china_source

    if year not in CHINA_YEARS:
        raise RulesError(f"{year}: not a year China's calendar can be confirmed for")
    if not stored_settings(conn).get("calendar_china", False):
        raise RulesError(
            "the calendar does not follow China's official calendar (setting calendar_china "
            "is off): there is nothing to confirm"
        )
    known = china_source(year)
    if known is not None:
        raise RulesError(f"{known} has the official calendar of {year}: nothing to confirm")
    if year in stored.calendar_years(conn):
        return "unchanged"
    if not stored.holidays(conn, year):
        raise RulesError(
            f"no holidays or make-up workdays are entered for {year}: enter the official "
            "notice first (`punchd holiday import FILE`)"
        )
    stored.add_calendar_year(conn, year, actor=actor)
    audit.record(conn, actor, "confirm", "calendar_year", year)
    return "confirmed"


def unconfirm_year(conn: Connection, year: int, *, actor: str) -> None:
    """Undo :func:`confirm_year` (the year is marked unconfirmed again)."""
    row = stored.calendar_years(conn).get(year)
    if row is None:
        raise RulesError(f"{year} is not confirmed")
    stored.delete_calendar_year(conn, year)
    audit.record(
        conn,
        actor,
        "unconfirm",
        "calendar_year",
        year,
        {"confirmed_by": row.confirmed_by, "confirmed_at": row.confirmed_at},
    )


# ------------------------------------------------------------------- where a year comes from


@dataclass(frozen=True)
class YearStatus:
    """Where one year's calendar comes from (``rules show``, ``holiday list --year``)."""

    year: int
    attention: bool
    """True: China's calendar without official data HR has not confirmed (a warning)."""
    line: str
    words: tuple[tuple[str, dict[str, str | int]], ...] = ()
    """The line as catalogue messages (one of :data:`YEAR_WORDS`) and their values, for a
    front door that words it in the reader's language."""


#: how a year's calendar status is worded (``words``), for a translation
YEAR_OFF = "%(year)s: entered dates only (China's official calendar: off)"
YEAR_PACKAGE = "%(year)s: China's official calendar from %(source)s"
YEAR_CONFIRMED = "%(year)s: official calendar as entered, confirmed by %(who)s %(at)s UTC"
YEAR_UNCONFIRMED = (
    "calendar for %(year)s not confirmed — no package has it; fixed-date statutory holidays "
    "and entered dates only"
)
YEAR_COUNTRY = "public holidays of %(where)s from %(package)s"
YEAR_WORDS = (YEAR_OFF, YEAR_PACKAGE, YEAR_CONFIRMED, YEAR_UNCONFIRMED, YEAR_COUNTRY)


def _stamp(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S" if value.second else "%Y-%m-%d %H:%M")


def year_status(calendar: HolidayCalendar, confirmed: dict[int, Row], year: int) -> YearStatus:
    """Where ``year``'s calendar comes from, given the stored calendar and the confirmed
    years (:func:`calendar_years`)."""
    from punchd.processing.calendar import china_source, package_version

    country = ""
    extra: tuple[tuple[str, dict[str, str | int]], ...] = ()
    if calendar.country:
        where = "-".join(x for x in (calendar.country, calendar.subdivision) if x)
        package = package_version("holidays")
        country = f"; public holidays of {where} from {package}"
        extra = ((YEAR_COUNTRY, {"where": where, "package": package}),)
    if not calendar.china:
        return YearStatus(
            year,
            False,
            f"{year}: entered dates only{country} (China's official calendar: off)",
            ((YEAR_OFF, {"year": year}), *extra),
        )
    source = china_source(year)
    if source is not None:
        return YearStatus(
            year,
            False,
            f"{year}: China's official calendar from {source}{country}",
            ((YEAR_PACKAGE, {"year": year, "source": source}), *extra),
        )
    row = confirmed.get(year)
    if row is not None:
        at = _stamp(row.confirmed_at)
        return YearStatus(
            year,
            False,
            f"{year}: official calendar as entered, confirmed by {row.confirmed_by} "
            f"{at} UTC{country}",
            ((YEAR_CONFIRMED, {"year": year, "who": row.confirmed_by, "at": at}), *extra),
        )
    return YearStatus(
        year,
        True,
        UNCONFIRMED.format(year=year)
        + " — no package has it; fixed-date statutory holidays and entered dates only"
        f" (`punchd holiday import FILE`, then `punchd holiday confirm {year}`)",
        ((YEAR_UNCONFIRMED, {"year": year}),),
    )
