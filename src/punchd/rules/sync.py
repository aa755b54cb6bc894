"""A rules file into the tables: check it against the database, then make the tables say
what it says (:func:`apply_rules_file`), reporting what changed as a :class:`LoadSummary`.

Runs in the caller's transaction; a dry run is the same call in a transaction that is rolled
back. The statements are :mod:`punchd.storage.rules`'.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from punchd.processing import requeue
from punchd.processing.inputs import stored_settings
from punchd.rules.errors import RulesError
from punchd.rules.file import SETTING_NAMES, RulesFile
from punchd.rules.holidays import write_holiday
from punchd.rules.schedules import write_override
from punchd.storage import audit
from punchd.storage import rules as stored

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


@dataclass
class LoadSummary:
    """What :func:`apply_rules_file` changed: per kind (``period``, ``shift``, ``schedule``,
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
    departments = set(stored.department_ids(conn))
    employees = set(stored.employee_ids(conn))
    for item in (*rules.schedules, *rules.overrides):
        if item.department is not None and item.department not in departments:
            problems.append(f'{item.where}: unknown department "{item.department}"')
        if item.employee is not None and item.employee not in employees:
            problems.append(f'{item.where}: unknown employee "{item.employee}"')
    if references_only:
        return problems
    keep = {s.code for s in rules.shifts}
    file_overrides = {(o.work_date, o.employee, o.department) for o in rules.overrides}
    used = stored.override_uses(conn)
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


#: What makes two schedules the same (a load keeps identical rows).
SCHEDULE_COLUMNS = ("employee_id", "department_id", "shift_id", "date_from", "date_to", "anchor")


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


def apply_rules_file(conn: Connection, rules: RulesFile, *, actor: str) -> LoadSummary:
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
    departments = stored.department_ids(conn)
    employees = stored.employee_ids(conn)
    # What is in use before the load (removing it needs consent: LoadSummary.in_use).
    used_periods = stored.used_period_ids(conn)
    used_shifts = stored.used_shift_ids(conn)
    shift_codes = {r.id: r.code for r in stored.shifts(conn)}
    who_by_id = {
        **{("e", i): no for no, i in employees.items()},
        **{("d", i): code for code, i in departments.items()},
    }

    # -- settings
    settings = stored_settings(conn)
    for name in SETTING_NAMES:
        if name in rules.settings:
            value = rules.settings[name]
            if name not in settings:
                stored.write_setting(conn, name, json.dumps(value), exists=False, actor=actor)
                summary.note("added", "setting", name)
            elif settings[name] != value or type(settings[name]) is not type(value):
                stored.write_setting(conn, name, json.dumps(value), exists=True, actor=actor)
                summary.note("changed", "setting", name)
            else:
                summary.note("unchanged", "setting", name)
        elif name in settings:
            stored.delete_setting(conn, name)
            summary.note("removed", "setting", name)

    # -- periods (upsert by code; removal after the shifts that use them)
    period_ids: dict[str, int] = {}
    existing = {row.code: row for row in stored.periods(conn)}
    for p in rules.periods:
        values = _period_values(p)
        row = existing.get(p.code)
        if row is None:
            period_ids[p.code] = stored.add_period(conn, p.code, values, actor=actor)
            summary.note("added", "period", p.code)
            continue
        period_ids[p.code] = row.id
        if any(getattr(row, k) != v for k, v in values.items()):
            stored.update_period(conn, row.id, values, actor=actor)
            summary.note("changed", "period", p.code)
        else:
            summary.note("unchanged", "period", p.code)

    # -- shifts and their days
    shift_ids: dict[str, int] = {}
    existing = {row.code: row for row in stored.shifts(conn)}
    current_days: dict[int, set[tuple[int, int]]] = {}
    for row in stored.shift_days(conn):
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
            shift_id = stored.add_shift(conn, s.code, values, actor=actor)
            summary.note("added", "shift", s.code)
        else:
            shift_id = row.id
            differs = any(getattr(row, k) != v for k, v in values.items())
            if differs or current_days.get(shift_id, set()) != wanted:
                stored.update_shift(conn, shift_id, values, actor=actor)
                summary.note("changed", "shift", s.code)
            else:
                summary.note("unchanged", "shift", s.code)
        shift_ids[s.code] = shift_id
        if current_days.get(shift_id, set()) != wanted:
            stored.set_shift_days(conn, shift_id, sorted(wanted))

    # -- schedules: exactly the file's, identical rows kept (key: SCHEDULE_COLUMNS)
    wanted_schedules: list[tuple] = []
    labels: dict[tuple, str] = {}
    for sc in rules.schedules:
        key = (
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
    for row in stored.schedules(conn):
        key = tuple(getattr(row, c) for c in SCHEDULE_COLUMNS)
        if key in remaining:
            remaining.remove(key)
            summary.note("unchanged", "schedule", str(row.id))
        else:
            stored.delete_schedule(conn, row.id)
            who = who_by_id.get(("e", row.employee_id)) or who_by_id.get(("d", row.department_id))
            label = f"#{row.id} {shift_codes.get(row.shift_id, '?')}/{who}/{row.date_from}"
            summary.note("removed", "schedule", label, used=True)
    for key in remaining:
        stored.add_schedule(conn, dict(zip(SCHEDULE_COLUMNS, key, strict=True)), actor=actor)
        summary.note("added", "schedule", labels[key])

    # -- temporary schedules listed in the file (before dropping shifts they may replace)
    for o in rules.overrides:
        emp_id = employees.get(o.employee) if o.employee else None
        dep_id = departments.get(o.department) if o.department else None
        shift_id = shift_ids[o.shift] if o.shift is not None else None
        what = write_override(conn, o.work_date, emp_id, dep_id, shift_id, o.day_index, actor=actor)
        summary.note(what, "override", f"{o.work_date}/{o.employee or o.department}")

    # -- shifts and periods no longer in the file
    for code, row in existing.items():
        if code not in shift_ids:
            stored.delete_shift(conn, row.id)
            summary.note("removed", "shift", code, used=row.id in used_shifts)
    for row in stored.periods(conn):
        if row.code not in period_ids:
            stored.delete_period(conn, row.id)
            summary.note("removed", "period", row.code, used=row.id in used_periods)

    # -- holidays listed in the file
    for h in rules.holidays:
        what = write_holiday(conn, h.day, h.kind, h.name, actor=actor)
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
