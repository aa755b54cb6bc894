"""The processing and calendar settings (``att_setting``): one at a time (``rules set`` /
``unset``), validated like the rules file's; and the overview of what is loaded
(``rules show``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from punchd.processing import requeue
from punchd.processing.inputs import stored_settings
from punchd.rules.errors import RulesError
from punchd.rules.file import (
    SETTING_NAMES,
    check_calendar_source,
    setting_defaults,
    validate_setting,
)
from punchd.rules.schedules import list_schedules
from punchd.storage import audit
from punchd.storage import rules as stored

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Row


def set_setting(conn: Connection, name: str, value: Any, *, actor: str) -> None:
    """Set one ``att_setting`` (validated like the rules file's). The next ``rules load``
    replaces the settings with the file's."""
    try:
        value = validate_setting(name, value)
        current = stored_settings(conn)
        if name == "calendar_country":
            check_calendar_source(value, current.get("calendar_subdivision"))
        elif name == "calendar_subdivision":
            check_calendar_source(current.get("calendar_country"), value)
    except RulesError:
        raise
    except ValueError as exc:
        raise RulesError(str(exc)) from None
    before = current.get(name)
    stored.write_setting(conn, name, json.dumps(value), exists=name in current, actor=actor)
    audit.record(conn, actor, "set", "setting", name, {"value": value, "before": before})
    requeue.enqueue_rules(conn)


def unset_setting(conn: Connection, name: str, *, actor: str) -> bool:
    """Back to the default. False if it was not set."""
    if name not in SETTING_NAMES:
        raise RulesError(f"unknown setting {name!r}")
    done = stored.delete_setting(conn, name)
    if done:
        audit.record(conn, actor, "unset", "setting", name)
        requeue.enqueue_rules(conn)
    return done


@dataclass(frozen=True)
class RulesOverview:
    """What is loaded (``punchd rules show``)."""

    settings: dict[str, Any]
    """Every setting: the stored value or its default."""
    stored_settings: frozenset[str]
    """The names that have an ``att_setting`` row."""
    periods: list[Row]
    shifts: list[dict[str, Any]]
    """code, name, unit, cycle_days, follows_calendar, days (list of lists of period codes)."""
    schedules: list[dict[str, Any]]
    holidays: int
    overrides: int


def overview(conn: Connection) -> RulesOverview:
    current = stored_settings(conn)
    effective = setting_defaults()
    effective.update({k: v for k, v in current.items() if k in effective})
    periods = stored.periods(conn, by_start=True)
    codes = {p.id: p.code for p in periods}
    starts = {p.id: p.start_minute for p in periods}
    days: dict[int, dict[int, list[int]]] = {}
    for row in stored.shift_days(conn):
        days.setdefault(row.shift_id, {}).setdefault(row.day_index, []).append(row.period_id)
    shifts = []
    for s in stored.shifts(conn, by_code=True):
        by_day = days.get(s.id, {})
        shifts.append(
            {
                "code": s.code,
                "name": s.name,
                "unit": s.unit,
                "cycle_days": s.cycle_days,
                "follows_calendar": s.follows_calendar,
                "days": [
                    [codes[p] for p in sorted(by_day.get(i, []), key=starts.__getitem__)]
                    for i in range(s.cycle_days)
                ],
            }
        )
    return RulesOverview(
        settings=effective,
        stored_settings=frozenset(current),
        periods=periods,
        shifts=shifts,
        schedules=list_schedules(conn),
        holidays=stored.count_holidays(conn),
        overrides=stored.count_overrides(conn),
    )
