"""A :class:`RulesFile` as the TOML text of a rules file (pure): what the console's download
gives, and what ``punchd rules load`` reads back to the same rules."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from punchd.processing import Period
from punchd.rules.file import CALENDAR_SETTINGS, RulesFile, ShiftDef

DAY = 1440
HEADER = (
    "# punchd attendance rules, as loaded — load again with:  punchd rules load FILE\n"
    "# docs/rules.md explains every key.\n"
)


def toml_value(value: Any) -> str:
    """One TOML value: a bool, a whole number, a date, a string or a list of them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    # JSON's string escapes are TOML's basic-string escapes; DEL must be escaped too
    return json.dumps(str(value), ensure_ascii=False).replace("\x7f", "\\u007f")


def clock(minutes: int) -> str:
    """Minutes after a work date's midnight as the wall-clock time a file gives."""
    rest = minutes % DAY
    return f"{rest // 60:02d}:{rest % 60:02d}"


def period_keys(p: Period) -> dict[str, Any]:
    """A period's keys as a rules file writes them (``checkin`` / ``checkout``: only when
    the period has its own window)."""
    end = "24:00" if p.end == DAY else clock(p.end)
    keys: dict[str, Any] = {"code": p.code, "start": clock(p.start), "end": end}
    if p.checkin_from is not None and p.checkin_until is not None:
        keys["checkin"] = [clock(p.checkin_from), clock(p.checkin_until)]
    if p.checkout_from is not None and p.checkout_until is not None:
        keys["checkout"] = [clock(p.checkout_from), clock(p.checkout_until)]
    keys.update(
        late_grace=p.late_grace,
        early_grace=p.early_grace,
        must_check_in=p.must_check_in,
        must_check_out=p.must_check_out,
    )
    if p.minutes is not None:
        keys["minutes"] = p.minutes
    return keys


def shift_keys(s: ShiftDef) -> dict[str, Any]:
    return {
        "code": s.code,
        "name": s.name,
        "unit": s.unit,
        "follows_calendar": s.follows_calendar,
        "days": [list(day) for day in s.days],
    }


def _table(header: str, keys: dict[str, Any]) -> list[str]:
    return [header, *(f"{k} = {toml_value(v)}" for k, v in keys.items() if v is not None), ""]


def _dates(entries: list[tuple[date, str]]) -> str:
    if not entries:
        return "[]"
    lines = [f"    {{ date = {d.isoformat()}, name = {toml_value(n)} }}," for d, n in entries]
    return "[\n" + "\n".join(lines) + "\n]"


def render_rules(rules: RulesFile) -> str:
    """The rules file's text (UTF-8, LF line ends)."""
    out = [HEADER]
    processing = {k: v for k, v in rules.settings.items() if k not in CALENDAR_SETTINGS}
    out += _table("[settings]", processing)
    calendar = {
        key: rules.settings.get(name)
        for key, name in zip(("country", "subdivision", "china"), CALENDAR_SETTINGS, strict=True)
    }
    out.append("[calendar]")
    out += [f"{k} = {toml_value(v)}" for k, v in calendar.items() if v is not None]
    for key, kind in (("holidays", "holiday"), ("workdays", "workday")):
        entries = [(h.day, h.name) for h in rules.holidays if h.kind == kind]
        out.append(f"{key} = {_dates(entries)}")
    out.append("")
    for p in rules.periods:
        out += _table("[[period]]", period_keys(p))
    for s in rules.shifts:
        out += _table("[[shift]]", shift_keys(s))
    for sc in rules.schedules:
        out += _table(
            "[[schedule]]",
            {
                "shift": sc.shift,
                "department": sc.department,
                "employee": sc.employee,
                "from": sc.date_from,
                "to": sc.date_to,
                "anchor": sc.anchor,
            },
        )
    for o in rules.overrides:
        keys: dict[str, Any] = {
            "date": o.work_date,
            "department": o.department,
            "employee": o.employee,
        }
        if o.shift is None:
            keys["rest"] = True
        else:
            keys.update(shift=o.shift, day=o.day_index + 1)
        out += _table("[[override]]", keys)
    return "\n".join(out).rstrip("\n") + "\n"
