"""The rules operations, once for every front door: the rules file (check, plan, load), the
settings, leave, manual punches and voids, holidays and the calendar, schedules.

Each function takes the :class:`Site` and, when it changes anything, the acting
:class:`Actor`; it owns its transaction (read-only ones only read) and raises
:class:`punchd.rules.errors.RulesError` (a :class:`punchd.errors.PunchdError`) for anything a
person can fix. :class:`FileProblems` carries every problem of a file the person gave, one
per entry. After a change, the front door re-processes the days it queued
(``punchd.cli.process.refresh``: its failure is a warning, not the change's).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from punchd.app.site import Actor, Site
from punchd.processing import DayType
from punchd.processing.inputs import load_calendar
from punchd.rules import holidays, leave, punches, schedules, settings, sync
from punchd.rules.errors import FileProblems, RulesError
from punchd.rules.file import RulesFile, parse_rules_all, read_rules_text
from punchd.rules.holiday_file import HolidayEntry, parse_holiday_csv
from punchd.rules.holidays import HolidayImport, YearStatus, year_status
from punchd.rules.settings import RulesOverview
from punchd.rules.sync import LoadSummary

__all__ = [
    "CalendarDay",
    "FileProblems",
    "HolidayImport",
    "LoadSummary",
    "ParsedRules",
    "PunchListing",
    "RulesError",
    "RulesOverview",
    "ScheduleListing",
    "YearCalendar",
    "YearStatus",
    "add_holiday",
    "add_leave",
    "add_punch",
    "apply_rules_load",
    "assign_schedule",
    "calendar_status",
    "check_rules_file",
    "clear_override",
    "confirm_year",
    "import_holidays",
    "list_holidays",
    "list_leave",
    "list_punches",
    "list_schedules",
    "plan_rules_load",
    "read_holiday_file",
    "read_rules_file",
    "remove_holiday",
    "remove_leave",
    "remove_schedule",
    "set_override",
    "set_setting",
    "show_rules",
    "unconfirm_year",
    "unset_setting",
    "unvoid_punch",
    "void_punch",
    "year_calendar",
]

NO_SHIFTS = (
    "defines no shifts{empty}: loading it would leave no shifts, periods or schedules "
    "(everyone on rest days); pass --replace-all if that is what you mean"
)


def _cannot_read(path: Path, exc: OSError) -> RulesError:
    return RulesError(f"{path}: cannot read: {exc.strerror or exc}")


# ------------------------------------------------------------------------------ the rules file


@dataclass(frozen=True)
class ParsedRules:
    """A rules file as read: its valid part and its own problems (empty: all of it is valid)."""

    path: Path
    rules: RulesFile
    problems: list[str]


def read_rules_file(path: Path) -> ParsedRules:
    """Read and parse a rules file; no database. Unreadable: :class:`RulesError` (one line);
    not a rules file at all (too large, not UTF-8, not TOML): :class:`FileProblems`."""
    try:
        rules, problems = parse_rules_all(read_rules_text(path), source=str(path))
    except OSError as exc:
        raise _cannot_read(path, exc) from None
    except RulesError as exc:
        raise FileProblems(path, exc.problems) from None
    return ParsedRules(path, rules, problems)


def check_rules_file(site: Site, parsed: ParsedRules, *, no_shifts_ok: bool = False) -> RulesFile:
    """The file's rules if it has no problems, the database's included (departments and
    employees it names, shifts a temporary schedule still uses); else :class:`FileProblems`
    with every one. A file without shifts is a problem unless ``no_shifts_ok``."""
    rules, problems = parsed.rules, list(parsed.problems)
    broken = bool(problems)  # then rules holds only the valid entries
    with site.engine.connect() as conn:
        problems += sync.check_rules(conn, rules, references_only=broken)
    if not rules.shifts and not no_shifts_ok and not broken:
        empty = " (it is empty)" if not (rules.periods or rules.settings or rules.holidays) else ""
        problems.insert(0, NO_SHIFTS.format(empty=empty))
    if problems:
        raise FileProblems(parsed.path, problems)
    return rules


def plan_rules_load(site: Site, path: Path, rules: RulesFile) -> LoadSummary:
    """What loading ``rules`` would change: loaded in a transaction that is rolled back."""
    with site.engine.connect() as conn:
        transaction = conn.begin()
        try:
            return sync.apply_rules_file(conn, rules, actor=Actor.named(None).name)
        except RulesError as exc:
            raise FileProblems(path, exc.problems) from None
        finally:
            transaction.rollback()


def apply_rules_load(
    site: Site, path: Path, rules: RulesFile, *, actor: Actor, expected: LoadSummary | None = None
) -> LoadSummary:
    """Make the tables say what ``rules`` says (one transaction). ``expected``: the plan the
    person confirmed; if the load would now change something else, nothing is changed."""
    try:
        with site.transaction() as conn:
            summary = sync.apply_rules_file(conn, rules, actor=actor.name)
            if expected is not None and summary.as_dict() != expected.as_dict():
                raise RulesError(
                    "the rules in the database changed while this load was being confirmed; "
                    "run it again"
                )
    except RulesError as exc:
        raise FileProblems(path, exc.problems) from None
    return summary


def show_rules(site: Site) -> RulesOverview:
    """The rules in the database: settings, periods, shifts, schedules, counts."""
    with site.engine.connect() as conn:
        return settings.overview(conn)


def calendar_status(site: Site, years: list[int]) -> list[YearStatus]:
    """Where each year's calendar comes from."""
    with site.engine.connect() as conn:
        calendar = load_calendar(conn)
        confirmed = holidays.calendar_years(conn)
    return [year_status(calendar, confirmed, y) for y in years]


def set_setting(site: Site, name: str, value: Any, *, actor: Actor) -> None:
    with site.transaction() as conn:
        settings.set_setting(conn, name, value, actor=actor.name)


def unset_setting(site: Site, name: str, *, actor: Actor) -> bool:
    """Back to the default; False if it was not set."""
    with site.transaction() as conn:
        return settings.unset_setting(conn, name, actor=actor.name)


# ------------------------------------------------------------------------------------ leave


def add_leave(
    site: Site,
    employee_no: str,
    kind: str,
    start: date | datetime,
    end: date | datetime | None = None,
    *,
    note: str | None = None,
    actor: Actor,
) -> int:
    """Full days (dates) or part of a day (datetimes); the new leave's id."""
    with site.transaction() as conn:
        return leave.add_leave(conn, employee_no, kind, start, end, note=note, actor=actor.name)


def list_leave(
    site: Site,
    employee_no: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> list[Any]:
    """Leave rows (``att_leave`` columns, ``employee_no``, ``name``) overlapping the dates."""
    with site.engine.connect() as conn:
        return leave.list_leave(conn, employee_no, date_from, date_to)


def remove_leave(site: Site, leave_id: int, *, actor: Actor) -> None:
    with site.transaction() as conn:
        leave.remove_leave(conn, leave_id, actor=actor.name)


# ---------------------------------------------------------------------------------- punches


def add_punch(
    site: Site, employee_no: str, at: datetime, *, reason: str, state: str, actor: Actor
) -> int:
    """A manual punch at the site's wall-clock time ``at``; its id."""
    with site.transaction() as conn:
        return punches.add_manual_punch(
            conn, employee_no, at, reason=reason, actor=actor.name, tz=site.zone, state=state
        )


def void_punch(site: Site, punch_id: int, *, reason: str, actor: Actor) -> None:
    with site.transaction() as conn:
        punches.void_punch(conn, punch_id, reason=reason, actor=actor.name)


def unvoid_punch(site: Site, punch_id: int, *, reason: str | None = None, actor: Actor) -> None:
    with site.transaction() as conn:
        punches.unvoid_punch(conn, punch_id, actor=actor.name, reason=reason)


@dataclass(frozen=True)
class PunchListing:
    employee_no: str
    date_from: date
    date_to: date
    punches: list[Any]
    """``att_punch`` rows plus ``device`` (name), by time."""


def list_punches(
    site: Site, employee_no: str, date_from: date | None = None, date_to: date | None = None
) -> PunchListing:
    """An employee's punches; ``date_to`` default: the site's today, ``date_from``: the
    week up to ``date_to``."""
    date_to = date_to or site.today()
    date_from = date_from or date_to - timedelta(days=6)
    with site.engine.connect() as conn:
        rows = punches.list_punches(conn, employee_no, date_from, date_to)
    return PunchListing(employee_no, date_from, date_to, rows)


# --------------------------------------------------------------------------------- holidays


def add_holiday(
    site: Site, day: date, *, name: str = "", workday: bool = False, actor: Actor
) -> str:
    """ "added" / "changed" / "unchanged"."""
    with site.transaction() as conn:
        return holidays.add_holiday(conn, day, name=name, workday=workday, actor=actor.name)


def remove_holiday(site: Site, day: date, *, actor: Actor) -> None:
    with site.transaction() as conn:
        holidays.remove_holiday(conn, day, actor=actor.name)


def list_holidays(site: Site) -> list[Any]:
    """The entered dates (``att_holiday`` rows), by date."""
    with site.engine.connect() as conn:
        return holidays.list_holidays(conn)


@dataclass(frozen=True)
class CalendarDay:
    day: date
    workday: bool
    """A make-up workday (else a holiday)."""
    name: str
    source: str


@dataclass(frozen=True)
class YearCalendar:
    """A year's effective calendar (packages and entered dates) and where it comes from."""

    year: int
    days: list[CalendarDay]
    status: YearStatus


def year_calendar(site: Site, year: int) -> YearCalendar:
    with site.engine.connect() as conn:
        calendar = load_calendar(conn)
        status = year_status(calendar, holidays.calendar_years(conn), year)
    try:
        resolved = calendar.resolve(date(year, 1, 1), date(year, 12, 31))
    except ValueError as exc:  # CalendarDataMissing: a year outside any calendar
        raise RulesError(str(exc)) from None
    days = [
        CalendarDay(d, kind is not DayType.HOLIDAY, name, resolved.source(d))
        for d, (kind, name) in sorted(resolved.days.items())
    ]
    return YearCalendar(year, days, status)


def read_holiday_file(path: Path) -> list[HolidayEntry]:
    """A holiday file's dates; no database. Unreadable or not UTF-8: :class:`RulesError`;
    problems in it: :class:`FileProblems`."""
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise _cannot_read(path, exc) from None
    except UnicodeDecodeError:
        raise RulesError(f"{path}: not UTF-8 text (save the CSV as UTF-8)") from None
    try:
        return parse_holiday_csv(text)
    except RulesError as exc:
        raise FileProblems(path, exc.problems) from None


def import_holidays(
    site: Site,
    entries: list[HolidayEntry],
    *,
    source: str,
    replace: bool = False,
    confirm: bool = False,
    actor: Actor,
) -> HolidayImport:
    """Enter a holiday file's dates, all or nothing (``source``: the file's name)."""
    with site.transaction() as conn:
        return holidays.import_holidays(
            conn, entries, actor=actor.name, source=source, replace=replace, confirm=confirm
        )


def confirm_year(site: Site, year: int, *, actor: Actor) -> str:
    """ "confirmed" / "unchanged"."""
    with site.transaction() as conn:
        return holidays.confirm_year(conn, year, actor=actor.name)


def unconfirm_year(site: Site, year: int, *, actor: Actor) -> None:
    with site.transaction() as conn:
        holidays.unconfirm_year(conn, year, actor=actor.name)


# -------------------------------------------------------------------------------- schedules


def assign_schedule(
    site: Site,
    shift_code: str,
    *,
    employee_no: str | None = None,
    department_code: str | None = None,
    date_from: date,
    date_to: date | None = None,
    anchor: date | None = None,
    actor: Actor,
) -> int:
    """The new schedule's id."""
    with site.transaction() as conn:
        return schedules.assign_schedule(
            conn,
            shift_code,
            employee_no=employee_no,
            department_code=department_code,
            date_from=date_from,
            date_to=date_to,
            anchor=anchor,
            actor=actor.name,
        )


def remove_schedule(site: Site, schedule_id: int, *, actor: Actor) -> None:
    with site.transaction() as conn:
        schedules.remove_schedule(conn, schedule_id, actor=actor.name)


def set_override(
    site: Site,
    work_date: date,
    *,
    employee_no: str | None = None,
    department_code: str | None = None,
    shift_code: str | None = None,
    day_index: int = 0,
    actor: Actor,
) -> str:
    """A temporary schedule (``shift_code`` None: rest): "added" / "changed" /
    "unchanged"."""
    with site.transaction() as conn:
        return schedules.set_override(
            conn,
            work_date,
            employee_no=employee_no,
            department_code=department_code,
            shift_code=shift_code,
            day_index=day_index,
            actor=actor.name,
        )


def clear_override(
    site: Site,
    work_date: date,
    *,
    employee_no: str | None = None,
    department_code: str | None = None,
    actor: Actor,
) -> None:
    with site.transaction() as conn:
        schedules.clear_override(
            conn,
            work_date,
            employee_no=employee_no,
            department_code=department_code,
            actor=actor.name,
        )


@dataclass(frozen=True)
class ScheduleListing:
    schedules: list[dict[str, Any]]
    overrides: list[dict[str, Any]]


def list_schedules(
    site: Site, date_from: date | None = None, date_to: date | None = None
) -> ScheduleListing:
    """Every schedule, and the temporary schedules between the dates (each if given)."""
    with site.engine.connect() as conn:
        return ScheduleListing(
            schedules.list_schedules(conn), schedules.list_overrides(conn, date_from, date_to)
        )
