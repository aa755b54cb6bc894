"""What a rules file would change against the loaded rules, item by item and field by field
(pure: two :class:`RulesFile` in, a :class:`RulesDiff` out).

It follows what a load does (:func:`punchd.rules.sync.apply_rules_file`): settings, periods,
shifts and schedules become the file's (what it leaves out is removed; a setting left out
goes back to its default); holidays and temporary schedules are set for the dates the file
lists, and the other entered dates are kept (never "removed"). Values are shown as the rules
file writes them (``"08:00"``, ``true``, ``["AM", "PM"]``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final, Literal

from punchd.rules.file import RulesFile, setting_defaults
from punchd.rules.render import period_keys, shift_keys, toml_value

What = Literal["added", "changed", "removed"]
#: the sections in the order a page shows them
SECTIONS: Final = ("setting", "period", "shift", "schedule", "holiday", "override")


@dataclass(frozen=True)
class FieldChange:
    """One key of an item: its value before and after (None: the item has no such key, or
    — a setting — its default is meant)."""

    field: str
    old: str | None
    new: str | None


@dataclass(frozen=True)
class ItemChange:
    what: What
    key: str
    """The item: a setting's name, a code, a date, ``shift/who/from``."""
    fields: tuple[FieldChange, ...]
    """added: every key (new); removed: every key (old); changed: the keys that differ."""


@dataclass(frozen=True)
class SectionDiff:
    section: str
    items: tuple[ItemChange, ...]
    unchanged: int

    def of(self, what: What) -> list[ItemChange]:
        return [i for i in self.items if i.what == what]


@dataclass(frozen=True)
class RulesDiff:
    sections: tuple[SectionDiff, ...]

    @property
    def changes(self) -> int:
        return sum(len(s.items) for s in self.sections)

    def section(self, name: str) -> SectionDiff:
        return next(s for s in self.sections if s.section == name)


def _shown(keys: dict[str, Any]) -> dict[str, str]:
    return {k: toml_value(v) for k, v in keys.items() if v is not None}


def _compare(
    section: str,
    old: dict[str, dict[str, str]],
    new: dict[str, dict[str, str]],
    *,
    removes: bool = True,
) -> SectionDiff:
    """Items by key, each a dict of shown values; ``removes``: an item only in ``old`` is
    removed (else it is kept, and not counted)."""
    items: list[ItemChange] = []
    unchanged = 0
    for key, values in new.items():
        before = old.get(key)
        if before is None:
            items.append(
                ItemChange("added", key, tuple(FieldChange(f, None, v) for f, v in values.items()))
            )
            continue
        fields = tuple(
            FieldChange(f, before.get(f), values.get(f))
            for f in dict.fromkeys([*before, *values])
            if before.get(f) != values.get(f)
        )
        if fields:
            items.append(ItemChange("changed", key, fields))
        else:
            unchanged += 1
    if removes:
        for key, values in old.items():
            if key not in new:
                items.append(
                    ItemChange(
                        "removed", key, tuple(FieldChange(f, v, None) for f, v in values.items())
                    )
                )
    return SectionDiff(section, tuple(items), unchanged)


def _by(items: Iterable[Any], key: Callable[[Any], str], keys: Callable[[Any], dict]) -> dict:
    return {key(i): _shown(keys(i)) for i in items}


def _settings(old: RulesFile, new: RulesFile) -> SectionDiff:
    defaults = setting_defaults()
    items: list[ItemChange] = []
    unchanged = 0
    for name in dict.fromkeys([*old.settings, *new.settings]):
        before, after = old.settings.get(name), new.settings.get(name)
        had, has = name in old.settings, name in new.settings
        if had and has and before == after and type(before) is type(after):
            unchanged += 1
            continue
        what: What = "changed" if had and has else ("added" if has else "removed")
        old_text = toml_value(before) if had and before is not None else None
        new_text = toml_value(after) if has and after is not None else None
        if not has:  # left out: back to the default
            default = defaults.get(name)
            new_text = None if default is None else toml_value(default)
        items.append(ItemChange(what, name, (FieldChange("value", old_text, new_text),)))
    return SectionDiff("setting", tuple(items), unchanged)


def _schedule_key(sc: Any) -> str:
    who = sc.employee or sc.department
    return f"{sc.shift}/{who}/{sc.date_from.isoformat()}"


def _schedule_keys(sc: Any) -> dict[str, Any]:
    return {
        "shift": sc.shift,
        "department": sc.department,
        "employee": sc.employee,
        "from": sc.date_from,
        "to": sc.date_to,
        "anchor": sc.anchor,
    }


def _schedules(old: RulesFile, new: RulesFile) -> SectionDiff:
    """Schedules are the file's exactly: one that is not identical is removed and added."""
    items: list[ItemChange] = []
    before = [_shown(_schedule_keys(s)) for s in old.schedules]
    unchanged = 0
    for sc in new.schedules:
        values = _shown(_schedule_keys(sc))
        if values in before:
            before.remove(values)
            unchanged += 1
            continue
        fields = tuple(FieldChange(f, None, v) for f, v in values.items())
        items.append(ItemChange("added", _schedule_key(sc), fields))
    for sc in old.schedules:
        values = _shown(_schedule_keys(sc))
        if values in before:
            before.remove(values)
            fields = tuple(FieldChange(f, v, None) for f, v in values.items())
            items.append(ItemChange("removed", _schedule_key(sc), fields))
    return SectionDiff("schedule", tuple(items), unchanged)


def _override_keys(o: Any) -> dict[str, Any]:
    if o.shift is None:
        return {"rest": True}
    return {"shift": o.shift, "day": o.day_index + 1}


def diff_rules(old: RulesFile, new: RulesFile) -> RulesDiff:
    """What loading ``new`` would change where ``old`` is loaded."""
    return RulesDiff(
        (
            _settings(old, new),
            _compare(
                "period",
                _by(old.periods, lambda p: p.code, period_keys),
                _by(new.periods, lambda p: p.code, period_keys),
            ),
            _compare(
                "shift",
                _by(old.shifts, lambda s: s.code, shift_keys),
                _by(new.shifts, lambda s: s.code, shift_keys),
            ),
            _schedules(old, new),
            _compare(
                "holiday",
                _by(
                    old.holidays,
                    lambda h: h.day.isoformat(),
                    lambda h: {"kind": h.kind, "name": h.name},
                ),
                _by(
                    new.holidays,
                    lambda h: h.day.isoformat(),
                    lambda h: {"kind": h.kind, "name": h.name},
                ),
                removes=False,
            ),
            _compare(
                "override",
                _by(
                    old.overrides,
                    lambda o: f"{o.work_date}/{o.employee or o.department}",
                    _override_keys,
                ),
                _by(
                    new.overrides,
                    lambda o: f"{o.work_date}/{o.employee or o.department}",
                    _override_keys,
                ),
                removes=False,
            ),
        )
    )
