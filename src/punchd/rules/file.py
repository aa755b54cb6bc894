"""The rules file (TOML): parse and validate it into plain data.

``docs/rules.md`` describes the format; ``config/rules.example.toml`` is a complete example.
Nothing here touches the database: :func:`parse_rules` checks everything that can be checked
from the file alone (syntax, types, times, unknown or overlapping periods, unknown shifts,
settings) and reports **every** problem with its location at once, as a
:class:`RulesError`. References to departments and employees are checked against the
database by :func:`punchd.rules.sync.check_rules`.

Periods are built with the engine's own :meth:`punchd.processing.Period.at`, and shifts with
:class:`punchd.processing.Shift`, so a file that passes here is one the engine accepts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, time, timedelta
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)

from punchd.processing import Period, ProcessingSettings, Shift, format_minutes, parse_clock
from punchd.rules.errors import RulesError

# --------------------------------------------------------------------------------- settings

#: ``att_setting`` names of :class:`ProcessingSettings`, with their JSON type.
_PROCESSING_TYPES: Final[dict[str, str]] = {
    "collapse_minutes": "minutes",
    "default_checkin_before": "minutes",
    "default_checkout_after": "minutes",
    "missing_punch_policy": "policy",
    "missing_minutes": "minutes",
    "late_as_absent_after": "optional_minutes",
    "early_as_absent_after": "optional_minutes",
    "overtime_threshold": "minutes",
    "overtime_before_start": "bool",
    "overtime_after_end": "bool",
}
assert set(_PROCESSING_TYPES) == {f.name for f in dataclasses.fields(ProcessingSettings)}

#: The range (inclusive) of every number a rules file or `rules set` may give, checked before
#: anything reaches the database (a database column would overflow, differently per backend).
#: Documented in docs/rules.md § "Ranges".
SETTING_RANGES: Final[dict[str, tuple[int, int]]] = {
    "collapse_minutes": (0, 1440),
    "default_checkin_before": (0, 720),
    "default_checkout_after": (0, 720),
    "missing_minutes": (0, 1440),
    "late_as_absent_after": (0, 1440),
    "early_as_absent_after": (0, 1440),
    "overtime_threshold": (0, 1440),
}
GRACE_MAX: Final = 720
"""late_grace / early_grace of a period: 0 … 720 minutes."""
COUNTED_MAX: Final = 1440
"""minutes (counted minutes) of a period: 0 … 1440."""
CYCLE_MAX: Final = 366
"""Days in a shift's cycle (and the largest ``day`` of an override)."""
FIRST_DATE: Final = date(1900, 1, 1)
LAST_DATE: Final = date(2199, 12, 31)
"""Every date in a rules file lies in FIRST_DATE … LAST_DATE."""
MAX_FILE_BYTES: Final = 1024 * 1024
"""A rules file is a page or two of text; a larger one is refused unread."""

#: ``att_setting`` names of the calendar source.
CALENDAR_SETTINGS: Final = ("calendar_country", "calendar_subdivision", "calendar_china")
#: Every ``att_setting`` name punchd knows (a missing row means the default).
SETTING_NAMES: Final = (*_PROCESSING_TYPES, *CALENDAR_SETTINGS)


def setting_defaults() -> dict[str, Any]:
    """Every setting's default value (what a missing ``att_setting`` row means)."""
    defaults = dataclasses.asdict(ProcessingSettings())
    defaults.update(calendar_country=None, calendar_subdivision=None, calendar_china=False)
    return defaults


def validate_setting(name: str, value: Any) -> Any:
    """Check one setting's value; return it as stored (JSON-able). Raises ``ValueError``."""
    kind = _PROCESSING_TYPES.get(name)
    if kind is None and name not in CALENDAR_SETTINGS:
        raise ValueError(f"unknown setting {name!r} (known: {', '.join(SETTING_NAMES)})")
    is_int = isinstance(value, int) and not isinstance(value, bool)
    if kind == "minutes" and not is_int:
        raise ValueError(f"{name} must be a whole number of minutes, not {value!r}")
    if kind == "optional_minutes" and value is not None and not is_int:
        raise ValueError(f"{name} must be a whole number of minutes (or left out), not {value!r}")
    if (kind == "bool" or name == "calendar_china") and not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, not {value!r}")
    if kind == "policy" and value not in ("late", "absent"):
        raise ValueError(f'{name} must be "late" or "absent", not {value!r}')
    if kind is not None:
        if name in SETTING_RANGES and value is not None:
            low, high = SETTING_RANGES[name]
            if not low <= value <= high:
                raise ValueError(f"{name} must be {low} … {high} minutes, not {value!r}")
        ProcessingSettings(**{name: value})  # the engine's own range checks
        return value
    if name == "calendar_china":
        if value:
            try:
                import chinese_calendar  # noqa: F401
            except ImportError:
                raise ValueError("calendar_china needs the chinese-calendar package") from None
        return value
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a text code, not {value!r}")
    if len(value) > 16 or not value.isprintable():
        raise ValueError(f'{name} must be a short code like "CN", not {value[:20]!r}')
    return value.strip().upper() if name == "calendar_country" else value.strip()


def check_calendar_source(country: str | None, subdivision: str | None) -> None:
    """A country / subdivision the ``holidays`` package knows. Raises ``ValueError``."""
    if country is None:
        if subdivision is not None:
            raise ValueError("a subdivision needs a country")
        return
    import holidays

    supported = holidays.list_supported_countries()
    if country not in supported:
        raise ValueError(f"the holidays package does not know the country {country!r}")
    if subdivision is not None and subdivision not in supported[country]:
        known = ", ".join(supported[country]) or "none"
        raise ValueError(f"{country} has no subdivision {subdivision!r} (known: {known})")


# ----------------------------------------------------------------------- the parsed result


@dataclass(frozen=True, slots=True)
class ShiftDef:
    """A ``[[shift]]``: ``days[i]`` are the period codes of day *i* (0-based) of the cycle,
    in time order; an empty day is a rest day."""

    code: str
    name: str
    unit: Literal["day", "week"]
    follows_calendar: bool
    days: tuple[tuple[str, ...], ...]

    @property
    def cycle_days(self) -> int:
        return len(self.days)


@dataclass(frozen=True, slots=True)
class ScheduleDef:
    """A ``[[schedule]]``: exactly one of ``employee`` (employee_no) / ``department`` (code)."""

    shift: str
    date_from: date
    date_to: date | None = None
    anchor: date | None = None
    employee: str | None = None
    department: str | None = None
    where: str = ""
    """Its location in the file, for messages (``schedule[2]``)."""


@dataclass(frozen=True, slots=True)
class OverrideDef:
    """An ``[[override]]``: ``shift`` None is a rest day; ``day_index`` is 0-based."""

    work_date: date
    shift: str | None
    day_index: int = 0
    employee: str | None = None
    department: str | None = None
    where: str = ""


@dataclass(frozen=True, slots=True)
class HolidayDef:
    """An ``att_holiday`` row: kind ``"holiday"`` or ``"workday"`` (make-up workday)."""

    day: date
    kind: Literal["holiday", "workday"]
    name: str


@dataclass(frozen=True, slots=True)
class RulesFile:
    """A validated rules file as plain data."""

    settings: Mapping[str, Any]
    """``att_setting`` name → value, only the names the file sets (others: default)."""
    periods: tuple[Period, ...]
    """The engine's periods; ``Period.code`` is the ``att_period.code``."""
    shifts: tuple[ShiftDef, ...]
    holidays: tuple[HolidayDef, ...]
    schedules: tuple[ScheduleDef, ...]
    overrides: tuple[OverrideDef, ...]
    source: str = "<rules>"


# ----------------------------------------------------------------- the TOML, as pydantic


def _printable(text: str) -> str:
    # Control characters (NUL above all: PostgreSQL refuses it in text) are never meant.
    if not text.isprintable():
        bad = next(c for c in text if not c.isprintable())
        raise ValueError(f"contains the control character U+{ord(bad):04X}")
    return text


def _clock(value: str | time) -> str | time:
    if isinstance(value, str):
        parse_clock(value)  # its ValueError says what is wrong
    return value


def _in_range(value: date) -> date:
    if not FIRST_DATE <= value <= LAST_DATE:
        raise ValueError(f"{value} is not between {FIRST_DATE} and {LAST_DATE}")
    return value


Code = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=32),
    AfterValidator(_printable),
]
Name = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=128), AfterValidator(_printable)
]
Clock = Annotated[str | time, AfterValidator(_clock)]
Minutes = Annotated[int, Field(ge=0, le=GRACE_MAX)]
Day = Annotated[dt.date, AfterValidator(_in_range)]
WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False)


class _DateEntry(_Model):
    date: Day | None = None
    from_: Day | None = Field(default=None, alias="from")
    to: Day | None = None
    name: Name = ""


class _Period(_Model):
    code: Code
    start: Clock
    end: Clock
    checkin: tuple[Clock, Clock] | None = None
    checkout: tuple[Clock, Clock] | None = None
    late_grace: Minutes = 0
    early_grace: Minutes = 0
    must_check_in: bool = True
    must_check_out: bool = True
    minutes: Annotated[int, Field(ge=0, le=COUNTED_MAX)] | None = None


class _Shift(_Model):
    code: Code
    name: Name | None = None
    unit: Literal["day", "week"] | None = None
    follows_calendar: bool = True
    periods: Annotated[list[Code], Field(max_length=32)] | None = None
    workdays: Annotated[list[Annotated[str, Field(max_length=16)]], Field(max_length=7)] | None = (
        None
    )
    days: (
        Annotated[list[Annotated[list[Code], Field(max_length=32)]], Field(max_length=CYCLE_MAX)]
        | None
    ) = None


class _Schedule(_Model):
    shift: Code
    department: Code | None = None
    employee: Code | None = None
    from_: Day = Field(alias="from")
    to: Day | None = None
    anchor: Day | None = None


class _Override(_Model):
    date: Day
    department: Code | None = None
    employee: Code | None = None
    shift: Code | None = None
    day: int = Field(default=1, ge=1, le=CYCLE_MAX)
    rest: bool = False


SECTIONS: Final[dict[str, type[_Model] | None]] = {
    "settings": None,
    "calendar": None,
    "period": _Period,
    "shift": _Shift,
    "schedule": _Schedule,
    "override": _Override,
}
_ARRAYS: Final = ("period", "shift", "schedule", "override")


def _pydantic_problems(where: str, exc: ValidationError) -> list[str]:
    problems = []
    for e in exc.errors(include_url=False):
        loc = ""
        for part in e["loc"]:
            if isinstance(part, int):
                loc += f"[{part + 1}]"
            elif part in ("str", "time") or part.startswith("function-"):
                continue  # the branch names of a union (Clock), a validator's name
            else:
                part = part if part.isprintable() and len(part) <= 40 else repr(part[:40])
                loc += f".{part}" if loc else part
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
        elif e["type"] == "missing":
            problems.append(f"{where}: {loc} is required")
            continue
        elif e["type"] == "value_error":
            msg = msg.removeprefix("Value error, ")
        problems.append(f"{where}: {loc}: {msg}" if loc else f"{where}: {msg}")
    # A union (date | table) reports every branch: keep each message once.
    return list(dict.fromkeys(problems))


def _label(section: str, index: int, raw: Any) -> str:
    code = raw.get("code") if isinstance(raw, dict) else None
    where = f"{section}[{index + 1}]"
    return f'{where} "{code}"' if isinstance(code, str) and code else where


# ------------------------------------------------------------------------------- parsing


def read_rules_text(path: str | Path) -> str:
    """The text of a rules file. Raises :class:`RulesError` (too large, not UTF-8) or
    ``OSError``."""
    path = Path(path)
    with path.open("rb") as fh:
        data = fh.read(MAX_FILE_BYTES + 1)
    return rules_text(data)


def rules_text(data: bytes) -> str:
    """The text of a rules file's bytes (an upload's). Raises :class:`RulesError` (too
    large, not UTF-8)."""
    if len(data) > MAX_FILE_BYTES:
        raise RulesError(f"larger than {MAX_FILE_BYTES // 1024} KiB: not a rules file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RulesError(f"not UTF-8 text (byte {exc.start + 1})") from None


def load_rules_file(path: str | Path) -> RulesFile:
    """Read and validate a rules file. Raises :class:`RulesError` (all problems) or
    ``OSError``."""
    return parse_rules(read_rules_text(path), source=str(path))


def parse_rules(text: str, source: str = "<rules>") -> RulesFile:
    """Validate the TOML text of a rules file. Raises :class:`RulesError` listing every
    problem found, each with its location (``shift[2] "ROT": day 3 names unknown period
    "X"``)."""
    rules, problems = parse_rules_all(text, source)
    if problems:
        raise RulesError(problems)
    return rules


def parse_rules_all(text: str, source: str = "<rules>") -> tuple[RulesFile, list[str]]:
    """Every problem of the TOML text, and what could be made of the rest.

    The :class:`RulesFile` holds only the entries that are valid; it is for checking the
    file's references against the database (so that one run reports every problem), never
    for loading when there are problems."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return _empty_rules(source), [f"not valid TOML: {exc}"]
    except RecursionError:
        return _empty_rules(source), ["not valid TOML: arrays or tables nested too deeply"]
    parser = _Parser(raw, source)
    try:
        rules = parser.parse()
    except RecursionError:  # a value nested deep inside an entry
        return _empty_rules(source), [*parser.problems, "values nested too deeply"]
    return rules, parser.problems


def _empty_rules(source: str) -> RulesFile:
    return RulesFile({}, (), (), (), (), (), source=source)


class _Parser:
    def __init__(self, raw: dict[str, Any], source: str) -> None:
        self.raw = raw
        self.source = source
        self.problems: list[str] = []

    def problem(self, message: str) -> None:
        self.problems.append(message)

    def parse(self) -> RulesFile:
        for key, value in self.raw.items():
            if key not in SECTIONS:
                hint = f" (did you mean [[{key[:-1]}]]?)" if key[:-1] in _ARRAYS else ""
                self.problem(f"unknown section {key!r}{hint}")
            elif key in _ARRAYS and not (
                isinstance(value, list) and all(isinstance(v, dict) for v in value)
            ):
                self.problem(f"{key}: write each entry as a [[{key}]] table")
            elif key not in _ARRAYS and not isinstance(value, dict):
                self.problem(f"{key}: must be a [{key}] table")
        settings = self.settings()
        holidays = self.calendar(settings)
        periods = self.periods()
        shifts = self.shifts(periods)
        schedules = self.schedules(shifts)
        overrides = self.overrides(shifts)
        return RulesFile(
            settings=settings,
            periods=tuple(periods.values()),
            shifts=tuple(shifts.values()),
            holidays=holidays,
            schedules=schedules,
            overrides=overrides,
            source=self.source,
        )

    def entries(self, section: str) -> Iterator[tuple[str, Any]]:
        """(label, validated model) of each entry of an array section that validates (a
        generator, so that problems come out entry by entry)."""
        value = self.raw.get(section, [])
        if not isinstance(value, list):
            return
        for i, entry in enumerate(value):
            if not isinstance(entry, dict):
                continue
            where = _label(section, i, entry)
            model_type = SECTIONS[section]
            assert model_type is not None
            try:
                model = model_type.model_validate(entry)
            except ValidationError as exc:
                self.problems.extend(_pydantic_problems(where, exc))
                # Without the keys in error (when they are optional), the entry's other
                # problems (times, windows, references) are found in the same run.
                bad = {e["loc"][0] for e in exc.errors() if e["loc"]}
                try:
                    model = model_type.model_validate(
                        {k: v for k, v in entry.items() if k not in bad}
                    )
                except ValidationError:
                    continue
            yield where, model

    # -- [settings] and [calendar]

    def settings(self) -> dict[str, Any]:
        raw = self.raw.get("settings", {})
        out: dict[str, Any] = {}
        if not isinstance(raw, dict):
            return out
        for name, value in raw.items():
            if name not in _PROCESSING_TYPES:
                hint = " (it goes in [calendar])" if name.startswith("calendar_") else ""
                self.problem(f"settings: unknown setting {name!r}{hint}")
                continue
            try:
                out[name] = validate_setting(name, value)
            except ValueError as exc:
                self.problem(f"settings: {exc}")
        return out

    def calendar(self, settings: dict[str, Any]) -> tuple[HolidayDef, ...]:
        raw = self.raw.get("calendar", {})
        if not isinstance(raw, dict):
            return ()
        keys = {"country": "calendar_country", "subdivision": "calendar_subdivision"}
        keys["china"] = "calendar_china"
        for key in raw:
            if key not in (*keys, "holidays", "workdays"):
                self.problem(f"calendar: unknown key {key!r}")
        for key, name in keys.items():
            if key in raw:
                try:
                    settings[name] = validate_setting(name, raw[key])
                except ValueError as exc:
                    self.problem(f"calendar: {exc}")
        try:
            check_calendar_source(
                settings.get("calendar_country"), settings.get("calendar_subdivision")
            )
        except ValueError as exc:
            self.problem(f"calendar: {exc}")
        seen: dict[date, str] = {}
        out: list[HolidayDef] = []
        for key, kind in (("holidays", "holiday"), ("workdays", "workday")):
            entries = raw.get(key, [])
            if not isinstance(entries, list):
                self.problem(f"calendar: {key} must be a list [ … ]")
                continue
            for i, entry in enumerate(entries):
                where = f"calendar.{key}[{i + 1}]"
                for day, name in self.date_entry(where, entry):
                    if day in seen:
                        self.problem(f"{where}: {day} is already listed in {seen[day]}")
                        continue
                    seen[day] = where
                    out.append(HolidayDef(day, kind, name))  # type: ignore[arg-type]
        return tuple(sorted(out, key=lambda h: h.day))

    def date_entry(self, where: str, raw: Any) -> list[tuple[date, str]]:
        if isinstance(raw, str):
            with contextlib.suppress(ValueError):
                raw = date.fromisoformat(raw.strip())
        if isinstance(raw, date) and not isinstance(raw, dt.datetime):
            try:
                return [(_in_range(raw), "")]
            except ValueError as exc:
                self.problem(f"{where}: {exc}")
                return []
        if not isinstance(raw, dict):
            self.problem(f"{where}: write a date (YYYY-MM-DD) or {{date = …, name = …}}")
            return []
        try:
            entry = _DateEntry.model_validate(raw)
        except ValidationError as exc:
            self.problems.extend(_pydantic_problems(where, exc))
            return []
        if entry.date is not None:
            if entry.from_ is not None or entry.to is not None:
                self.problem(f"{where}: give either date or from/to, not both")
                return []
            return [(entry.date, entry.name)]
        if entry.from_ is None or entry.to is None:
            self.problem(f"{where}: give date = YYYY-MM-DD, or from and to")
            return []
        if entry.to < entry.from_:
            self.problem(f"{where}: to ({entry.to}) is before from ({entry.from_})")
            return []
        if (entry.to - entry.from_).days > 366:
            self.problem(f"{where}: more than a year from {entry.from_} to {entry.to}")
            return []
        days = (entry.to - entry.from_).days + 1
        return [(entry.from_ + timedelta(days=n), entry.name) for n in range(days)]

    # -- [[period]] and [[shift]]

    def periods(self) -> dict[str, Period]:
        out: dict[str, Period] = {}
        for where, p in self.entries("period"):
            if p.code in out:
                self.problem(f"{where}: the code {p.code!r} is used by an earlier period")
                continue
            try:
                out[p.code] = Period.at(
                    p.start,
                    p.end,
                    code=p.code,
                    checkin=p.checkin,
                    checkout=p.checkout,
                    late_grace=p.late_grace,
                    early_grace=p.early_grace,
                    must_check_in=p.must_check_in,
                    must_check_out=p.must_check_out,
                    minutes=p.minutes,
                )
            except ValueError as exc:
                self.problem(f"{where}: {exc}")
        return out

    def shifts(self, periods: dict[str, Period]) -> dict[str, ShiftDef]:
        out: dict[str, ShiftDef] = {}
        # Codes of every [[period]], also the invalid ones (not to report them twice).
        named = {
            p.get("code", "").strip()
            for p in self.raw.get("period", [])
            if isinstance(p, dict) and isinstance(p.get("code"), str)
        }
        for where, s in self.entries("shift"):
            if s.code in out:
                self.problem(f"{where}: the code {s.code!r} is used by an earlier shift")
                continue
            days = self.shift_days(where, s)
            if days is None:
                continue
            unit = s.unit or ("week" if s.days is None else "day")
            if unit == "week" and len(days) % 7:
                self.problem(f"{where}: a weekly shift needs 7, 14, … days, not {len(days)}")
                continue
            resolved: list[tuple[Period, ...]] = []
            ok = True
            reported: set[str] = set()
            for i, codes in enumerate(days):
                day: list[Period] = []
                for code in codes:
                    if code in periods:
                        day.append(periods[code])
                        continue
                    ok = False
                    if code in named:
                        continue  # the period itself is already reported
                    if s.days is not None:
                        self.problem(f'{where}: day {i + 1} names unknown period "{code}"')
                    elif code not in reported:
                        self.problem(f'{where}: periods names unknown period "{code}"')
                    reported.add(code)
                if len(set(codes)) != len(codes):
                    if s.days is not None:
                        self.problem(f"{where}: day {i + 1} names a period twice")
                    elif "\0twice" not in reported:
                        self.problem(f"{where}: periods names a period twice")
                    reported.add("\0twice")
                    ok = False
                resolved.append(tuple(sorted(day, key=lambda p: p.start)))
            if not ok:
                continue
            try:
                Shift(s.code, tuple(resolved), unit=unit, follows_calendar=s.follows_calendar)
            except ValueError as exc:
                self.problem(f"{where}: {str(exc).replace(f'shift {s.code!r} ', '')}")
                continue
            if not self.days_in_order(where, resolved):
                continue
            out[s.code] = ShiftDef(
                code=s.code,
                name=s.name or s.code,
                unit=unit,
                follows_calendar=s.follows_calendar,
                days=tuple(tuple(p.code for p in day) for day in resolved),
            )
        return out

    def shift_days(self, where: str, s: _Shift) -> list[list[str]] | None:
        if s.days is not None:
            if s.periods is not None or s.workdays is not None:
                self.problem(f"{where}: give either days, or periods and workdays, not both")
                return None
            if not s.days:
                self.problem(f"{where}: days is empty")
                return None
            return s.days
        if s.periods is None:
            self.problem(f"{where}: give periods (and workdays), or days")
            return None
        if s.unit == "day":
            self.problem(f'{where}: periods and workdays make a weekly shift: unit = "week"')
            return None
        workdays = WEEKDAYS[:5] if s.workdays is None else s.workdays
        indexes = set()
        for name in workdays:
            key = name.strip().lower()[:3]
            if key not in WEEKDAYS or len(name.strip()) < 3:
                self.problem(f"{where}: workdays: {name!r} is not a weekday (mon … sun)")
                return None
            indexes.add(WEEKDAYS.index(key))
        return [list(s.periods) if i in indexes else [] for i in range(7)]

    def days_in_order(self, where: str, days: list[tuple[Period, ...]]) -> bool:
        """A day's last period must end before the next day's first one starts (the cycle
        wraps around)."""
        n = len(days)
        for i, day in enumerate(days):
            following = days[(i + 1) % n]
            if not day or not following:
                continue
            end = day[-1].end
            start = following[0].start + 1440
            if end > start:
                self.problem(
                    f"{where}: day {i + 1} ends at {format_minutes(end - 1440)} the next "
                    f"morning, after day {(i + 1) % n + 1} has started "
                    f"({format_minutes(following[0].start)})"
                )
                return False
        return True

    # -- [[schedule]] and [[override]]

    def target(self, where: str, model: _Schedule | _Override) -> bool:
        if (model.department is None) == (model.employee is None):
            self.problem(f"{where}: give exactly one of department or employee")
            return False
        return True

    def schedules(self, shifts: dict[str, ShiftDef]) -> tuple[ScheduleDef, ...]:
        out: list[ScheduleDef] = []
        seen: dict[tuple, str] = {}
        shift_codes = self.shift_codes()
        for where, s in self.entries("schedule"):
            # Kept despite a bad shift or dates (the file is refused then anyway), so that
            # its department or employee is checked against the database in the same run.
            if not self.target(where, s):
                continue
            if s.shift not in shift_codes:
                self.problem(f'{where}: unknown shift "{s.shift}"')
            if s.to is not None and s.to < s.from_:
                self.problem(f"{where}: to ({s.to}) is before from ({s.from_})")
            item = ScheduleDef(
                shift=s.shift,
                date_from=s.from_,
                date_to=s.to,
                anchor=s.anchor,
                employee=s.employee,
                department=s.department,
                where=where,
            )
            key = dataclasses.replace(item, where="")
            if key in seen:
                self.problem(f"{where}: the same as {seen[key]}")
                continue
            seen[key] = where
            out.append(item)
        return tuple(out)

    def overrides(self, shifts: dict[str, ShiftDef]) -> tuple[OverrideDef, ...]:
        out: list[OverrideDef] = []
        seen: dict[tuple, str] = {}
        shift_codes = self.shift_codes()
        for where, o in self.entries("override"):
            ok = self.target(where, o)
            if (o.shift is None) == (not o.rest):
                self.problem(f"{where}: give either shift (and day) or rest = true")
                continue
            if o.shift is not None and o.shift not in shift_codes:
                self.problem(f'{where}: unknown shift "{o.shift}"')
                continue
            if o.shift is not None and o.shift in shifts:
                cycle = shifts[o.shift].cycle_days
                if o.day > cycle:
                    self.problem(f"{where}: shift {o.shift!r} has {cycle} days, not {o.day}")
                    ok = False
            if not ok:
                continue
            key = (o.date, o.employee, o.department)
            if key in seen:
                self.problem(f"{where}: {o.date} is already overridden by {seen[key]}")
                continue
            seen[key] = where
            out.append(
                OverrideDef(
                    work_date=o.date,
                    shift=o.shift,
                    day_index=o.day - 1 if o.shift is not None else 0,
                    employee=o.employee,
                    department=o.department,
                    where=where,
                )
            )
        return tuple(out)

    def shift_codes(self) -> set[str]:
        """Codes of every [[shift]], also invalid ones (not to report them twice)."""
        return {
            s["code"].strip()
            for s in self.raw.get("shift", [])
            if isinstance(s, dict) and isinstance(s.get("code"), str)
        }


__all__ = [
    "CALENDAR_SETTINGS",
    "SETTING_NAMES",
    "HolidayDef",
    "OverrideDef",
    "RulesError",
    "RulesFile",
    "ScheduleDef",
    "ShiftDef",
    "check_calendar_source",
    "load_rules_file",
    "parse_rules",
    "parse_rules_all",
    "read_rules_text",
    "rules_text",
    "setting_defaults",
    "validate_setting",
]
