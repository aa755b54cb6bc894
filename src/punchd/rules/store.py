"""Rules into the tables: load a whole rules file, and the everyday edits.

Every function takes an open :class:`~sqlalchemy.engine.Connection` and plain values, works
in the caller's transaction (``with engine.begin() as conn: ...``) and writes one
``att_audit`` row per change (``actor`` = who). Problems the person can fix (unknown
employee, a punch that is already void, a bad date range …) raise
:class:`~punchd.rules.file.RulesError` with a one-line message *before* anything
is written.

Table conventions (shared with ``rules_load``, which reads them back into
``punchd.processing.Rules``) are documented in docs/rules.md § "In the database".
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, delete, false, func, insert, or_, select, update
from sqlalchemy.engine import Connection, Row

from punchd.clock import local_to_utc, utc_stamp
from punchd.processing import Leave, requeue
from punchd.rules.file import (
    SETTING_NAMES,
    RulesError,
    RulesFile,
    check_calendar_source,
    setting_defaults,
    validate_setting,
)
from punchd.storage import audit
from punchd.storage.schema import (
    PUNCH_STATES,
    att_calendar_year,
    att_department,
    att_device,
    att_employee,
    att_holiday,
    att_leave,
    att_period,
    att_punch,
    att_schedule,
    att_schedule_override,
    att_setting,
    att_shift,
    att_shift_period,
)

_now = utc_stamp


# ---------------------------------------------------------------------------- lookups


def employee(conn: Connection, employee_no: str) -> Row:
    """The ``att_employee`` row of a staff number; :class:`RulesError` if there is none."""
    row = conn.execute(
        select(att_employee).where(att_employee.c.employee_no == employee_no)
    ).first()
    if row is None:
        raise RulesError(f"unknown employee {employee_no!r}")
    return row


def department(conn: Connection, code: str) -> Row:
    row = conn.execute(select(att_department).where(att_department.c.code == code)).first()
    if row is None:
        raise RulesError(f"unknown department {code!r}")
    return row


def shift(conn: Connection, code: str) -> Row:
    row = conn.execute(select(att_shift).where(att_shift.c.code == code)).first()
    if row is None:
        known = conn.execute(select(att_shift.c.code).order_by(att_shift.c.code)).scalars()
        raise RulesError(
            f"unknown shift {code!r} (known: {', '.join(known) or 'none; run `punchd rules load`'})"
        )
    return row


def _target(
    conn: Connection, employee_no: str | None, department_code: str | None
) -> tuple[int | None, int | None, str]:
    """(employee_id, department_id, label) of exactly one of the two."""
    if (employee_no is None) == (department_code is None):
        raise RulesError("give exactly one of an employee or a department")
    if employee_no is not None:
        return employee(conn, employee_no).id, None, f"employee {employee_no}"
    assert department_code is not None
    return None, department(conn, department_code).id, f"department {department_code}"


# ------------------------------------------------------------------------ loading a file


@dataclass
class LoadSummary:
    """What :func:`load_rules` changed: per kind (``period``, ``shift``, ``schedule``,
    ``override``, ``holiday``, ``setting``), the keys added / changed / removed."""

    added: dict[str, list[str]] = field(default_factory=dict)
    changed: dict[str, list[str]] = field(default_factory=dict)
    removed: dict[str, list[str]] = field(default_factory=dict)
    unchanged: dict[str, int] = field(default_factory=dict)
    in_use: dict[str, list[str]] = field(default_factory=dict)
    """The removed periods, shifts and schedules that were in use (a period by a shift, a
    shift by a schedule or temporary schedule; a schedule always): loading needs consent."""

    KINDS = ("setting", "holiday", "period", "shift", "schedule", "override")

    def note(self, what: str, kind: str, key: str, *, used: bool = False) -> None:
        if used:
            self.in_use.setdefault(kind, []).append(key)
        if what == "unchanged":
            self.unchanged[kind] = self.unchanged.get(kind, 0) + 1
        else:
            getattr(self, what).setdefault(kind, []).append(key)

    @property
    def changes(self) -> int:
        return sum(len(v) for d in (self.added, self.changed, self.removed) for v in d.values())

    def as_dict(self) -> dict[str, Any]:
        return {"added": self.added, "changed": self.changed, "removed": self.removed}

    def lines(self) -> list[str]:
        """One line per kind, for people."""
        out = []
        for kind in self.KINDS:
            parts = []
            for what in ("added", "changed", "removed"):
                keys = getattr(self, what).get(kind, [])
                if keys:
                    shown = ", ".join(keys[:8]) + (", …" if len(keys) > 8 else "")
                    parts.append(f"{len(keys)} {what} ({shown})")
            if self.unchanged.get(kind):
                parts.append(f"{self.unchanged[kind]} unchanged")
            if parts:
                out.append(f"{kind}s: " + ", ".join(parts))
        return out


def check_rules(conn: Connection, rules: RulesFile, *, references_only: bool = False) -> list[str]:
    """Problems loading ``rules`` into this database would have (empty: none): departments
    and employees the file names must exist, and shifts the file drops must not be used by
    a temporary schedule that stays. ``references_only``: only the first (for a file with
    problems of its own, whose valid part is all there is to check)."""
    problems: list[str] = []
    departments = set(conn.execute(select(att_department.c.code)).scalars())
    employees = set(conn.execute(select(att_employee.c.employee_no)).scalars())
    for item in (*rules.schedules, *rules.overrides):
        if item.department is not None and item.department not in departments:
            problems.append(f'{item.where}: unknown department "{item.department}"')
        if item.employee is not None and item.employee not in employees:
            problems.append(f'{item.where}: unknown employee "{item.employee}"')
    if references_only:
        return problems
    keep = {s.code for s in rules.shifts}
    file_overrides = {(o.work_date, o.employee, o.department) for o in rules.overrides}
    used = conn.execute(
        select(
            att_shift.c.code,
            att_schedule_override.c.work_date,
            att_employee.c.employee_no,
            att_department.c.code.label("department"),
        )
        .select_from(att_schedule_override)
        .join(att_shift, att_shift.c.id == att_schedule_override.c.shift_id)
        .outerjoin(att_employee, att_employee.c.id == att_schedule_override.c.employee_id)
        .outerjoin(att_department, att_department.c.id == att_schedule_override.c.department_id)
        .order_by(att_schedule_override.c.work_date)
    ).all()
    dropped: dict[str, list[str]] = {}
    for row in used:
        if row.code in keep or (row.work_date, row.employee_no, row.department) in file_overrides:
            continue
        who = f"employee {row.employee_no}" if row.employee_no else f"department {row.department}"
        dropped.setdefault(row.code, []).append(f"{row.work_date} ({who})")
    for code, uses in dropped.items():
        problems.append(
            f'shift "{code}" is not in the file but temporary schedules use it: '
            f"{', '.join(uses[:5])}{' …' if len(uses) > 5 else ''} — keep the shift in the "
            "file or remove those with `punchd schedule override … --clear`"
        )
    return problems


def _period_values(p) -> dict[str, Any]:
    return {
        "start_minute": p.start,
        "end_minute": p.end,
        "checkin_from": p.checkin_from,
        "checkin_until": p.checkin_until,
        "checkout_from": p.checkout_from,
        "checkout_until": p.checkout_until,
        "late_grace": p.late_grace,
        "early_grace": p.early_grace,
        "must_check_in": p.must_check_in,
        "must_check_out": p.must_check_out,
        "counted_minutes": p.minutes,
    }


def load_rules(conn: Connection, rules: RulesFile, *, actor: str) -> LoadSummary:
    """Make the tables say what ``rules`` says, in the caller's transaction.

    Checks :func:`check_rules` first and raises :class:`RulesError` with every problem
    before writing anything. Then the file is the source of truth for

    * settings (``att_setting``): the names it sets; every other known name is removed
      (= default);
    * periods and shifts: matched by code (ids stay stable), changed in place, added; those
      not in the file are removed;
    * schedules (``att_schedule``): exactly the file's ``[[schedule]]`` entries afterwards;
      identical rows are kept, others removed (including ones added with
      ``punchd schedule assign``);
    * holidays / make-up workdays and temporary schedules *listed in the file*: set for
      those dates; other dates (entered with the commands) are kept.

    Leave, punches and temporary schedules for other dates are not touched. Loading the same
    file twice changes nothing the second time.
    """
    problems = check_rules(conn, rules)
    if problems:
        raise RulesError(problems)
    summary = LoadSummary()
    now = _now()
    departments = {
        r.code: r.id for r in conn.execute(select(att_department.c.code, att_department.c.id))
    }
    employees = {
        r.employee_no: r.id
        for r in conn.execute(select(att_employee.c.employee_no, att_employee.c.id))
    }
    # What is in use before the load (removing it needs consent: LoadSummary.in_use).
    used_periods = set(conn.execute(select(att_shift_period.c.period_id).distinct()).scalars())
    used_shifts = set(conn.execute(select(att_schedule.c.shift_id).distinct()).scalars())
    used_shifts |= set(conn.execute(select(att_schedule_override.c.shift_id).distinct()).scalars())
    shift_codes = {r.id: r.code for r in conn.execute(select(att_shift.c.id, att_shift.c.code))}
    who_by_id = {
        **{("e", i): no for no, i in employees.items()},
        **{("d", i): code for code, i in departments.items()},
    }

    # -- settings
    stored = {
        row.name: json.loads(row.value)
        for row in conn.execute(select(att_setting.c.name, att_setting.c.value))
    }
    for name in SETTING_NAMES:
        if name in rules.settings:
            value = rules.settings[name]
            if name not in stored:
                conn.execute(
                    insert(att_setting).values(
                        name=name, value=json.dumps(value), updated_at=now, updated_by=actor
                    )
                )
                summary.note("added", "setting", name)
            elif stored[name] != value or type(stored[name]) is not type(value):
                conn.execute(
                    update(att_setting)
                    .where(att_setting.c.name == name)
                    .values(value=json.dumps(value), updated_at=now, updated_by=actor)
                )
                summary.note("changed", "setting", name)
            else:
                summary.note("unchanged", "setting", name)
        elif name in stored:
            conn.execute(delete(att_setting).where(att_setting.c.name == name))
            summary.note("removed", "setting", name)

    # -- periods (upsert by code; removal after the shifts that use them)
    period_ids: dict[str, int] = {}
    existing = {row.code: row for row in conn.execute(select(att_period))}
    for p in rules.periods:
        values = _period_values(p)
        row = existing.get(p.code)
        if row is None:
            result = conn.execute(
                insert(att_period).values(code=p.code, updated_at=now, updated_by=actor, **values)
            )
            period_ids[p.code] = result.inserted_primary_key[0]
            summary.note("added", "period", p.code)
            continue
        period_ids[p.code] = row.id
        if any(getattr(row, k) != v for k, v in values.items()):
            conn.execute(
                update(att_period)
                .where(att_period.c.id == row.id)
                .values(updated_at=now, updated_by=actor, **values)
            )
            summary.note("changed", "period", p.code)
        else:
            summary.note("unchanged", "period", p.code)

    # -- shifts and their days
    shift_ids: dict[str, int] = {}
    existing = {row.code: row for row in conn.execute(select(att_shift))}
    current_days: dict[int, set[tuple[int, int]]] = {}
    for row in conn.execute(select(att_shift_period)):
        current_days.setdefault(row.shift_id, set()).add((row.day_index, row.period_id))
    for s in rules.shifts:
        values = {
            "name": s.name,
            "unit": s.unit,
            "cycle_days": s.cycle_days,
            "follows_calendar": s.follows_calendar,
        }
        wanted = {(i, period_ids[code]) for i, day in enumerate(s.days) for code in day}
        row = existing.get(s.code)
        if row is None:
            result = conn.execute(
                insert(att_shift).values(code=s.code, updated_at=now, updated_by=actor, **values)
            )
            shift_id = result.inserted_primary_key[0]
            summary.note("added", "shift", s.code)
        else:
            shift_id = row.id
            differs = any(getattr(row, k) != v for k, v in values.items())
            if differs or current_days.get(shift_id, set()) != wanted:
                conn.execute(
                    update(att_shift)
                    .where(att_shift.c.id == shift_id)
                    .values(updated_at=now, updated_by=actor, **values)
                )
                summary.note("changed", "shift", s.code)
            else:
                summary.note("unchanged", "shift", s.code)
        shift_ids[s.code] = shift_id
        if current_days.get(shift_id, set()) != wanted:
            conn.execute(delete(att_shift_period).where(att_shift_period.c.shift_id == shift_id))
            if wanted:
                conn.execute(
                    insert(att_shift_period),
                    [
                        {"shift_id": shift_id, "day_index": i, "period_id": pid}
                        for i, pid in sorted(wanted)
                    ],
                )

    # -- schedules: exactly the file's, identical rows kept
    def schedule_key(employee_id, department_id, shift_id, date_from, date_to, anchor) -> tuple:
        return (employee_id, department_id, shift_id, date_from, date_to, anchor)

    wanted_schedules: list[tuple] = []
    labels: dict[tuple, str] = {}
    for sc in rules.schedules:
        key = schedule_key(
            employees.get(sc.employee) if sc.employee else None,
            departments.get(sc.department) if sc.department else None,
            shift_ids[sc.shift],
            sc.date_from,
            sc.date_to,
            sc.anchor,
        )
        wanted_schedules.append(key)
        who = sc.employee if sc.employee else sc.department
        labels[key] = f"{sc.shift}/{who}/{sc.date_from}"
    remaining = list(wanted_schedules)
    for row in conn.execute(select(att_schedule).order_by(att_schedule.c.id)).all():
        key = schedule_key(
            row.employee_id, row.department_id, row.shift_id, row.date_from, row.date_to, row.anchor
        )
        if key in remaining:
            remaining.remove(key)
            summary.note("unchanged", "schedule", str(row.id))
        else:
            conn.execute(delete(att_schedule).where(att_schedule.c.id == row.id))
            who = who_by_id.get(("e", row.employee_id)) or who_by_id.get(("d", row.department_id))
            label = f"#{row.id} {shift_codes.get(row.shift_id, '?')}/{who}/{row.date_from}"
            summary.note("removed", "schedule", label, used=True)
    for key in remaining:
        employee_id, department_id, shift_id, date_from, date_to, anchor = key
        conn.execute(
            insert(att_schedule).values(
                employee_id=employee_id,
                department_id=department_id,
                shift_id=shift_id,
                date_from=date_from,
                date_to=date_to,
                anchor=anchor,
                created_at=now,
                created_by=actor,
            )
        )
        summary.note("added", "schedule", labels[key])

    # -- temporary schedules listed in the file (before dropping shifts they may replace)
    for o in rules.overrides:
        emp_id = employees.get(o.employee) if o.employee else None
        dep_id = departments.get(o.department) if o.department else None
        shift_id = shift_ids[o.shift] if o.shift is not None else None
        what = _write_override(
            conn, o.work_date, emp_id, dep_id, shift_id, o.day_index, actor=actor, now=now
        )
        summary.note(what, "override", f"{o.work_date}/{o.employee or o.department}")

    # -- shifts and periods no longer in the file
    for code, row in existing.items():
        if code not in shift_ids:
            conn.execute(delete(att_shift_period).where(att_shift_period.c.shift_id == row.id))
            conn.execute(delete(att_shift).where(att_shift.c.id == row.id))
            summary.note("removed", "shift", code, used=row.id in used_shifts)
    for row in conn.execute(select(att_period.c.id, att_period.c.code)).all():
        if row.code not in period_ids:
            conn.execute(delete(att_period).where(att_period.c.id == row.id))
            summary.note("removed", "period", row.code, used=row.id in used_periods)

    # -- holidays listed in the file
    for h in rules.holidays:
        what = _write_holiday(conn, h.day, h.kind, h.name, actor=actor, now=now)
        summary.note(what, "holiday", h.day.isoformat())

    audit.record(
        conn,
        actor,
        "load",
        "rules",
        rules.source[-64:],
        {**summary.as_dict(), "unchanged": summary.unchanged},
    )
    requeue.enqueue_rules(conn, summary.changes)
    return summary


def _write_override(
    conn: Connection,
    work_date: date,
    employee_id: int | None,
    department_id: int | None,
    shift_id: int | None,
    day_index: int,
    *,
    actor: str,
    now: datetime,
) -> str:
    """Insert or replace the override of one date and target: "added" / "changed" /
    "unchanged"."""
    t = att_schedule_override.c
    where = and_(
        t.work_date == work_date,
        t.employee_id == employee_id if employee_id is not None else t.employee_id.is_(None),
        t.department_id == department_id
        if department_id is not None
        else t.department_id.is_(None),
    )
    rows = conn.execute(select(att_schedule_override).where(where)).all()
    day_index = day_index if shift_id is not None else 0
    if len(rows) == 1 and rows[0].shift_id == shift_id and rows[0].day_index == day_index:
        return "unchanged"
    if rows:
        conn.execute(delete(att_schedule_override).where(where))
    conn.execute(
        insert(att_schedule_override).values(
            work_date=work_date,
            employee_id=employee_id,
            department_id=department_id,
            shift_id=shift_id,
            day_index=day_index,
            created_at=now,
            created_by=actor,
        )
    )
    return "changed" if rows else "added"


def _write_holiday(
    conn: Connection, day: date, kind: str, name: str, *, actor: str, now: datetime
) -> str:
    row = conn.execute(select(att_holiday).where(att_holiday.c.holiday_date == day)).first()
    if row is None:
        conn.execute(
            insert(att_holiday).values(
                holiday_date=day, kind=kind, name=name, created_at=now, created_by=actor
            )
        )
        return "added"
    if row.kind == kind and row.name == name:
        return "unchanged"
    conn.execute(
        update(att_holiday)
        .where(att_holiday.c.id == row.id)
        .values(kind=kind, name=name, created_at=now, created_by=actor)
    )
    return "changed"


# ------------------------------------------------------------------------------- reading


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


def get_settings(conn: Connection) -> dict[str, Any]:
    """The stored settings (``att_setting`` name → decoded JSON value)."""
    return {
        row.name: json.loads(row.value)
        for row in conn.execute(select(att_setting.c.name, att_setting.c.value))
    }


def overview(conn: Connection) -> RulesOverview:
    stored = get_settings(conn)
    effective = setting_defaults()
    effective.update({k: v for k, v in stored.items() if k in effective})
    periods = conn.execute(select(att_period).order_by(att_period.c.start_minute)).all()
    codes = {p.id: p.code for p in periods}
    starts = {p.id: p.start_minute for p in periods}
    days: dict[int, dict[int, list[int]]] = {}
    for row in conn.execute(select(att_shift_period)):
        days.setdefault(row.shift_id, {}).setdefault(row.day_index, []).append(row.period_id)
    shifts = []
    for s in conn.execute(select(att_shift).order_by(att_shift.c.code)):
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
        stored_settings=frozenset(stored),
        periods=periods,
        shifts=shifts,
        schedules=list_schedules(conn),
        holidays=conn.execute(select(func.count()).select_from(att_holiday)).scalar_one(),
        overrides=conn.execute(
            select(func.count()).select_from(att_schedule_override)
        ).scalar_one(),
    )


# ------------------------------------------------------------------------------ settings


def set_setting(conn: Connection, name: str, value: Any, *, actor: str) -> None:
    """Set one ``att_setting`` (validated like the rules file's). The next ``rules load``
    replaces the settings with the file's."""
    try:
        value = validate_setting(name, value)
        stored = get_settings(conn)
        if name == "calendar_country":
            check_calendar_source(value, stored.get("calendar_subdivision"))
        elif name == "calendar_subdivision":
            check_calendar_source(stored.get("calendar_country"), value)
    except ValueError as exc:
        raise RulesError(str(exc)) from None
    now = _now()
    before = stored.get(name)
    if name in stored:
        conn.execute(
            update(att_setting)
            .where(att_setting.c.name == name)
            .values(value=json.dumps(value), updated_at=now, updated_by=actor)
        )
    else:
        conn.execute(
            insert(att_setting).values(
                name=name, value=json.dumps(value), updated_at=now, updated_by=actor
            )
        )
    audit.record(conn, actor, "set", "setting", name, {"value": value, "before": before})
    requeue.enqueue_rules(conn)


def unset_setting(conn: Connection, name: str, *, actor: str) -> bool:
    """Back to the default. False if it was not set."""
    if name not in SETTING_NAMES:
        raise RulesError(f"unknown setting {name!r}")
    done = conn.execute(delete(att_setting).where(att_setting.c.name == name)).rowcount > 0
    if done:
        audit.record(conn, actor, "unset", "setting", name)
        requeue.enqueue_rules(conn)
    return done


# ------------------------------------------------------------------------------ holidays


def add_holiday(
    conn: Connection, day: date, *, name: str = "", workday: bool = False, actor: str
) -> str:
    """A holiday (or, ``workday=True``, a make-up workday 调休) on ``day``; replaces what was
    entered for that date before. Returns "added" / "changed" / "unchanged"."""
    kind = "workday" if workday else "holiday"
    name = name.strip()
    if len(name) > 128:
        raise RulesError("the name may have at most 128 characters")
    what = _write_holiday(conn, day, kind, name, actor=actor, now=_now())
    if what != "unchanged":
        audit.record(conn, actor, "set", "holiday", day.isoformat(), {"kind": kind, "name": name})
        requeue.enqueue_results(conn, date_from=day, date_to=day, reason="holiday")
    return what


def remove_holiday(conn: Connection, day: date, *, actor: str) -> None:
    row = conn.execute(select(att_holiday).where(att_holiday.c.holiday_date == day)).first()
    if row is None:
        raise RulesError(
            f"no holiday or make-up workday entered for {day} (a date from the country "
            "calendars is cancelled by entering it as the other kind)"
        )
    conn.execute(delete(att_holiday).where(att_holiday.c.id == row.id))
    audit.record(
        conn, actor, "remove", "holiday", day.isoformat(), {"kind": row.kind, "name": row.name}
    )
    requeue.enqueue_results(conn, date_from=day, date_to=day, reason="holiday")


def list_holidays(conn: Connection, year: int | None = None) -> list[Row]:
    """``att_holiday`` rows by date (entered dates only, not the country calendars)."""
    query = select(att_holiday).order_by(att_holiday.c.holiday_date)
    if year is not None:
        query = query.where(
            att_holiday.c.holiday_date >= date(year, 1, 1),
            att_holiday.c.holiday_date <= date(year, 12, 31),
        )
    return conn.execute(query).all()


#: Columns of a holiday file (``punchd holiday import``), in this order.
HOLIDAY_FILE_COLUMNS = ("date", "kind", "name")
HOLIDAY_KINDS = ("holiday", "workday")


@dataclass(frozen=True)
class HolidayEntry:
    day: date
    kind: str
    """``holiday`` or ``workday`` (make-up workday)."""
    name: str


def parse_holiday_csv(text: str) -> list[HolidayEntry]:
    """A holiday file: CSV with the header ``date,kind,name`` (UTF-8, a BOM is fine), one
    date per row (``YYYY-MM-DD``, ``holiday`` | ``workday``, a name of up to 128
    characters). Empty lines and lines starting with ``#`` are skipped. Every problem is
    reported at once (RulesError with one problem per row and column)."""
    import csv

    lines = [
        (n, line)
        for n, line in enumerate(text.lstrip("\ufeff").splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not lines:
        raise RulesError("the file has no header and no rows (expected: date,kind,name)")
    problems: list[str] = []

    def cells(n: int, line: str) -> list[str] | None:
        try:
            return next(csv.reader([line]))
        except csv.Error as exc:
            problems.append(f"line {n}: not CSV: {exc}")
            return None

    header = cells(*lines[0])
    if header is None or tuple(h.strip().lower() for h in header) != HOLIDAY_FILE_COLUMNS:
        raise RulesError(
            f"line {lines[0][0]}: the first line must be the header "
            f"{','.join(HOLIDAY_FILE_COLUMNS)}, not {lines[0][1].strip()!r}"
        )
    entries: list[HolidayEntry] = []
    seen: dict[date, int] = {}
    for n, line in lines[1:]:
        row = cells(n, line)
        if row is None:
            continue
        if len(row) != len(HOLIDAY_FILE_COLUMNS):
            problems.append(f"line {n}: {len(row)} columns, expected 3 (date,kind,name)")
            continue
        raw_day, raw_kind, name = (x.strip() for x in row)
        try:
            day = date.fromisoformat(raw_day)
        except ValueError:
            problems.append(f"line {n}, date: not a date (YYYY-MM-DD): {raw_day!r}")
            day = None
        kind = raw_kind.lower()
        if kind not in HOLIDAY_KINDS:
            problems.append(f"line {n}, kind: must be holiday or workday, not {raw_kind!r}")
        if len(name) > 128:
            problems.append(f"line {n}, name: at most 128 characters ({len(name)})")
        if day is not None and day in seen:
            problems.append(f"line {n}, date: {day} is already on line {seen[day]}")
        elif day is not None:
            seen[day] = n
        if not problems:
            entries.append(HolidayEntry(day, kind, name))  # type: ignore[arg-type]
    if problems:
        raise RulesError(problems)
    if not entries:
        raise RulesError("the file has a header but no dates")
    return entries


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
    now = _now()
    for e in sorted(entries, key=lambda e: e.day):
        what = _write_holiday(conn, e.day, e.kind, e.name, actor=actor, now=now)
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
        for row in list_holidays(conn, year):
            if row.holiday_date in listed:
                continue
            if not replace:
                result.kept.append(row.holiday_date)
                continue
            conn.execute(delete(att_holiday).where(att_holiday.c.id == row.id))
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
    return {r.year: r for r in conn.execute(select(att_calendar_year))}


def confirm_year(conn: Connection, year: int, *, actor: str) -> str:
    """Mark ``year``'s entered holidays and make-up workdays as the complete official
    calendar (China's calendar, for a year the packages do not know). Returns "confirmed" or
    "unchanged" (already confirmed)."""
    from punchd.processing.calendar import CHINA_YEARS, china_source

    if year not in CHINA_YEARS:
        raise RulesError(f"{year}: not a year China's calendar can be confirmed for")
    if not get_settings(conn).get("calendar_china", False):
        raise RulesError(
            "the calendar does not follow China's official calendar (setting calendar_china "
            "is off): there is nothing to confirm"
        )
    known = china_source(year)
    if known is not None:
        raise RulesError(f"{known} has the official calendar of {year}: nothing to confirm")
    if year in calendar_years(conn):
        return "unchanged"
    if not list_holidays(conn, year):
        raise RulesError(
            f"no holidays or make-up workdays are entered for {year}: enter the official "
            "notice first (`punchd holiday import FILE`)"
        )
    conn.execute(
        insert(att_calendar_year).values(year=year, confirmed_at=_now(), confirmed_by=actor)
    )
    audit.record(conn, actor, "confirm", "calendar_year", year)
    return "confirmed"


def unconfirm_year(conn: Connection, year: int, *, actor: str) -> None:
    """Undo :func:`confirm_year` (the year is marked unconfirmed again)."""
    row = calendar_years(conn).get(year)
    if row is None:
        raise RulesError(f"{year} is not confirmed")
    conn.execute(delete(att_calendar_year).where(att_calendar_year.c.year == year))
    audit.record(
        conn,
        actor,
        "unconfirm",
        "calendar_year",
        year,
        {"confirmed_by": row.confirmed_by, "confirmed_at": row.confirmed_at},
    )


# --------------------------------------------------------------------------------- leave


def add_leave(
    conn: Connection,
    employee_no: str,
    kind: str,
    start: date | datetime,
    end: date | datetime | None = None,
    *,
    note: str | None = None,
    actor: str,
) -> int:
    """Leave (请假) or a business trip; returns its id.

    ``start`` / ``end`` as dates: full days ``start`` … ``end`` inclusive (``end`` default
    ``start``); as datetimes: the wall-clock range ``[start, end)``. Accepted for employees
    who have left, whatever the order of entry."""
    kind = kind.strip()
    if not kind or len(kind) > 32:
        raise RulesError("the leave type must be 1–32 characters (annual, sick, trip …)")
    full_day = not isinstance(start, datetime)
    if end is None:
        if not full_day:
            raise RulesError("part-day leave needs an end time")
        end = start
    if isinstance(end, datetime) == full_day:
        raise RulesError("give both ends as dates (full days) or both as date and time")
    try:
        Leave("check", kind, start, end)
    except ValueError as exc:
        raise RulesError(str(exc)) from None
    emp = employee(conn, employee_no)
    if full_day:
        start_at, end_at = datetime.combine(start, time()), datetime.combine(end, time())
    else:
        start_at, end_at = (
            start.replace(second=0, microsecond=0),
            end.replace(  # type: ignore[union-attr]
                second=0, microsecond=0
            ),
        )
        if end_at <= start_at:
            raise RulesError("leave ends before it starts")
    result = conn.execute(
        insert(att_leave).values(
            employee_id=emp.id,
            kind=kind,
            start_at=start_at,
            end_at=end_at,
            full_day=full_day,
            note=note,
            created_at=_now(),
            created_by=actor,
        )
    )
    leave_id = result.inserted_primary_key[0]
    audit.record(
        conn,
        actor,
        "add",
        "leave",
        leave_id,
        {
            "employee_no": employee_no,
            "kind": kind,
            "start": start,
            "end": end,
            "full_day": full_day,
            "note": note,
        },
    )
    requeue.enqueue_leave(conn, emp.id, start_at, end_at, full_day)
    return leave_id


def remove_leave(conn: Connection, leave_id: int, *, actor: str) -> None:
    row = conn.execute(
        select(att_leave, att_employee.c.employee_no)
        .join(att_employee, att_employee.c.id == att_leave.c.employee_id)
        .where(att_leave.c.id == leave_id)
    ).first()
    if row is None:
        raise RulesError(f"no leave with id {leave_id}")
    conn.execute(delete(att_leave).where(att_leave.c.id == leave_id))
    audit.record(
        conn,
        actor,
        "remove",
        "leave",
        leave_id,
        {
            "employee_no": row.employee_no,
            "kind": row.kind,
            "start_at": row.start_at,
            "end_at": row.end_at,
            "full_day": row.full_day,
        },
    )
    requeue.enqueue_leave(conn, row.employee_id, row.start_at, row.end_at, row.full_day)


def list_leave(
    conn: Connection,
    employee_no: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> list[Row]:
    """Leave rows (with ``employee_no``, ``name``) overlapping ``[date_from, date_to]``."""
    query = (
        select(att_leave, att_employee.c.employee_no, att_employee.c.name)
        .join(att_employee, att_employee.c.id == att_leave.c.employee_id)
        .order_by(att_leave.c.start_at, att_leave.c.id)
    )
    if employee_no is not None:
        query = query.where(att_leave.c.employee_id == employee(conn, employee_no).id)
    if date_from is not None:
        query = query.where(att_leave.c.end_at >= datetime.combine(date_from, time()))
    if date_to is not None:
        query = query.where(att_leave.c.start_at < datetime.combine(date_to, time()) + timedelta(1))
    return conn.execute(query).all()


# ------------------------------------------------------------------------------- punches


def add_manual_punch(
    conn: Connection,
    employee_no: str,
    punched_at: datetime,
    *,
    reason: str,
    actor: str,
    tz: ZoneInfo,
    state: str = "unknown",
) -> int:
    """A manual punch (签卡) at the local wall-clock time ``punched_at`` (in ``tz``, the
    site's zone); returns its ``att_punch.id``. Refused if the employee already has a
    manual punch (not void) at that minute."""
    if not reason.strip():
        raise RulesError("a manual punch needs a reason")
    if state not in PUNCH_STATES:
        raise RulesError(f"state must be one of {', '.join(PUNCH_STATES)}")
    emp = employee(conn, employee_no)
    local = punched_at.replace(microsecond=0, tzinfo=None)
    same = conn.execute(
        select(att_punch.c.id).where(
            att_punch.c.employee_id == emp.id,
            att_punch.c.source == "manual",
            att_punch.c.void == false(),
            att_punch.c.punched_at >= local.replace(second=0),
            att_punch.c.punched_at < local.replace(second=0) + timedelta(minutes=1),
        )
    ).first()
    if same is not None:
        raise RulesError(
            f"{employee_no} already has a manual punch at {local:%Y-%m-%d %H:%M} (id {same.id})"
        )
    result = conn.execute(
        insert(att_punch).values(
            device_id=None,
            employee_id=emp.id,
            enroll_no=emp.enroll_no or "",
            punched_at=local,
            punched_at_utc=local_to_utc(local, tz),
            state=state,
            source="manual",
            collected_at=_now(),
            run_id=None,
            note=reason.strip(),
            created_by=actor,
            void=False,
        )
    )
    punch_id = result.inserted_primary_key[0]
    audit.record(
        conn,
        actor,
        "add",
        "punch",
        punch_id,
        {"employee_no": employee_no, "punched_at": local, "state": state, "reason": reason},
    )
    requeue.enqueue_times(conn, emp.id, local, local, reason="punch")
    return punch_id


def _punch(conn: Connection, punch_id: int) -> Row:
    row = conn.execute(select(att_punch).where(att_punch.c.id == punch_id)).first()
    if row is None:
        raise RulesError(f"no punch with id {punch_id}")
    return row


def void_punch(conn: Connection, punch_id: int, *, reason: str, actor: str) -> None:
    """Void a punch (device or manual): kept, with the reason and who, ignored by
    processing. Refused if it is already void."""
    if not reason.strip():
        raise RulesError("voiding a punch needs a reason")
    row = _punch(conn, punch_id)
    if row.void:
        raise RulesError(
            f"punch {punch_id} is already void ({row.void_reason!r}, by {row.voided_by})"
        )
    conn.execute(
        update(att_punch)
        .where(att_punch.c.id == punch_id)
        .values(void=True, void_reason=reason.strip(), voided_by=actor[:64], voided_at=_now())
    )
    audit.record(
        conn,
        actor,
        "void",
        "punch",
        punch_id,
        {"enroll_no": row.enroll_no, "punched_at": row.punched_at, "reason": reason.strip()},
    )
    requeue.enqueue_punch_row(conn, row, reason="void")


def unvoid_punch(conn: Connection, punch_id: int, *, actor: str, reason: str | None = None) -> None:
    """Undo :func:`void_punch` (the audit keeps the history)."""
    row = _punch(conn, punch_id)
    if not row.void:
        raise RulesError(f"punch {punch_id} is not void")
    conn.execute(
        update(att_punch)
        .where(att_punch.c.id == punch_id)
        .values(void=False, void_reason=None, voided_by=None, voided_at=None)
    )
    audit.record(
        conn,
        actor,
        "unvoid",
        "punch",
        punch_id,
        {
            "enroll_no": row.enroll_no,
            "punched_at": row.punched_at,
            "was_void_reason": row.void_reason,
            "was_voided_by": row.voided_by,
            "reason": reason,
        },
    )
    requeue.enqueue_punch_row(conn, row, reason="unvoid")


def list_punches(conn: Connection, employee_no: str, date_from: date, date_to: date) -> list[Row]:
    """An employee's punches on the local dates ``date_from`` … ``date_to``: manual ones
    (``employee_id``) and, when the employee has an enrolment number, device punches under
    it from devices that record enrolment numbers (card-number devices, ``user_code =
    'card'``, are left out: their punches map to people through ``att_card``). Void ones
    included. Rows have the ``att_punch`` columns plus ``device`` (name)."""
    emp = employee(conn, employee_no)
    mine = att_punch.c.employee_id == emp.id
    if emp.enroll_no:
        mine = or_(
            mine,
            and_(
                att_punch.c.employee_id.is_(None),
                att_punch.c.enroll_no == emp.enroll_no,
                att_punch.c.device_id.is_not(None),
                or_(att_device.c.user_code.is_(None), att_device.c.user_code != "card"),
            ),
        )
    query = (
        select(att_punch, att_device.c.name.label("device"))
        .outerjoin(att_device, att_device.c.id == att_punch.c.device_id)
        .where(
            mine,
            att_punch.c.punched_at >= datetime.combine(date_from, time()),
            att_punch.c.punched_at < datetime.combine(date_to, time()) + timedelta(1),
        )
        .order_by(att_punch.c.punched_at, att_punch.c.id)
    )
    return conn.execute(query).all()


# ----------------------------------------------------------------------------- schedules


def assign_schedule(
    conn: Connection,
    shift_code: str,
    *,
    employee_no: str | None = None,
    department_code: str | None = None,
    date_from: date,
    date_to: date | None = None,
    anchor: date | None = None,
    actor: str,
) -> int:
    """排班: an employee or a department works ``shift_code`` from ``date_from`` to
    ``date_to`` (inclusive; None open-ended); ``anchor`` is day 0 of the cycle (default
    ``date_from``). Returns the ``att_schedule.id``. Note: ``rules load`` replaces all
    schedules with the file's."""
    if date_to is not None and date_to < date_from:
        raise RulesError(f"the schedule ends ({date_to}) before it starts ({date_from})")
    s = shift(conn, shift_code)
    employee_id, department_id, label = _target(conn, employee_no, department_code)
    result = conn.execute(
        insert(att_schedule).values(
            employee_id=employee_id,
            department_id=department_id,
            shift_id=s.id,
            date_from=date_from,
            date_to=date_to,
            anchor=anchor,
            created_at=_now(),
            created_by=actor,
        )
    )
    schedule_id = result.inserted_primary_key[0]
    audit.record(
        conn,
        actor,
        "assign",
        "schedule",
        schedule_id,
        {"shift": shift_code, "target": label, "from": date_from, "to": date_to, "anchor": anchor},
    )
    requeue.enqueue_schedule(conn, schedule_id)
    return schedule_id


def remove_schedule(conn: Connection, schedule_id: int, *, actor: str) -> None:
    rows = [r for r in list_schedules(conn) if r["id"] == schedule_id]
    if not rows:
        raise RulesError(f"no schedule with id {schedule_id}")
    requeue.enqueue_schedule(conn, schedule_id)  # before the row goes
    conn.execute(delete(att_schedule).where(att_schedule.c.id == schedule_id))
    audit.record(conn, actor, "remove", "schedule", schedule_id, rows[0])


def list_schedules(conn: Connection) -> list[dict[str, Any]]:
    """Every schedule: id, shift, employee (employee_no) or department (code), from, to,
    anchor, created_by."""
    query = (
        select(
            att_schedule,
            att_shift.c.code.label("shift"),
            att_employee.c.employee_no,
            att_department.c.code.label("department"),
        )
        .join(att_shift, att_shift.c.id == att_schedule.c.shift_id)
        .outerjoin(att_employee, att_employee.c.id == att_schedule.c.employee_id)
        .outerjoin(att_department, att_department.c.id == att_schedule.c.department_id)
        .order_by(att_schedule.c.date_from, att_schedule.c.id)
    )
    return [
        {
            "id": r.id,
            "shift": r.shift,
            "employee": r.employee_no,
            "department": r.department,
            "from": r.date_from,
            "to": r.date_to,
            "anchor": r.anchor,
            "created_by": r.created_by,
        }
        for r in conn.execute(query)
    ]


def set_override(
    conn: Connection,
    work_date: date,
    *,
    employee_no: str | None = None,
    department_code: str | None = None,
    shift_code: str | None = None,
    day_index: int = 0,
    actor: str,
) -> str:
    """临时排班 for one date: ``shift_code`` None makes it a rest day, otherwise day
    ``day_index`` (0-based) of that shift's cycle is worked. Replaces an existing override
    of the same date and target. Returns "added" / "changed" / "unchanged"."""
    employee_id, department_id, label = _target(conn, employee_no, department_code)
    shift_id = None
    if shift_code is not None:
        s = shift(conn, shift_code)
        if not 0 <= day_index < s.cycle_days:
            raise RulesError(f"shift {shift_code!r} has days 1–{s.cycle_days}, not {day_index + 1}")
        shift_id = s.id
    what = _write_override(
        conn, work_date, employee_id, department_id, shift_id, day_index, actor=actor, now=_now()
    )
    if what != "unchanged":
        audit.record(
            conn,
            actor,
            "override",
            "schedule_override",
            f"{work_date}/{label}",
            {"shift": shift_code, "day_index": day_index if shift_code else None},
        )
        requeue.enqueue_override(conn, work_date, employee_id, department_id)
    return what


def clear_override(
    conn: Connection,
    work_date: date,
    *,
    employee_no: str | None = None,
    department_code: str | None = None,
    actor: str,
) -> None:
    employee_id, department_id, label = _target(conn, employee_no, department_code)
    t = att_schedule_override.c
    where = and_(
        t.work_date == work_date,
        t.employee_id == employee_id if employee_id is not None else t.employee_id.is_(None),
        t.department_id == department_id
        if department_id is not None
        else t.department_id.is_(None),
    )
    if conn.execute(delete(att_schedule_override).where(where)).rowcount == 0:
        raise RulesError(f"no temporary schedule on {work_date} for {label}")
    audit.record(conn, actor, "remove", "schedule_override", f"{work_date}/{label}")
    requeue.enqueue_override(conn, work_date, employee_id, department_id)


def list_overrides(
    conn: Connection, date_from: date | None = None, date_to: date | None = None
) -> list[dict[str, Any]]:
    """Temporary schedules: date, employee / department, shift (None: rest), day_index."""
    t = att_schedule_override
    query = (
        select(
            t,
            att_shift.c.code.label("shift"),
            att_employee.c.employee_no,
            att_department.c.code.label("department"),
        )
        .outerjoin(att_shift, att_shift.c.id == t.c.shift_id)
        .outerjoin(att_employee, att_employee.c.id == t.c.employee_id)
        .outerjoin(att_department, att_department.c.id == t.c.department_id)
        .order_by(t.c.work_date, t.c.id)
    )
    if date_from is not None:
        query = query.where(t.c.work_date >= date_from)
    if date_to is not None:
        query = query.where(t.c.work_date <= date_to)
    return [
        {
            "id": r.id,
            "date": r.work_date,
            "employee": r.employee_no,
            "department": r.department,
            "shift": r.shift,
            "day_index": r.day_index,
            "created_by": r.created_by,
        }
        for r in conn.execute(query)
    ]


__all__: Sequence[str] = [
    "HolidayEntry",
    "HolidayImport",
    "LoadSummary",
    "RulesError",
    "RulesOverview",
    "add_holiday",
    "add_leave",
    "add_manual_punch",
    "assign_schedule",
    "calendar_years",
    "check_rules",
    "clear_override",
    "confirm_year",
    "department",
    "employee",
    "get_settings",
    "import_holidays",
    "list_holidays",
    "list_leave",
    "list_overrides",
    "list_punches",
    "list_schedules",
    "load_rules",
    "overview",
    "parse_holiday_csv",
    "remove_holiday",
    "remove_leave",
    "remove_schedule",
    "set_override",
    "set_setting",
    "shift",
    "unconfirm_year",
    "unset_setting",
    "unvoid_punch",
    "void_punch",
]
