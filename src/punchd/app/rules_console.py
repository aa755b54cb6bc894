"""The rules operations of the web console, within a :class:`Scope`: an uploaded rules file
checked and compared with what is loaded (every problem with where it is; added / changed /
removed, field by field), then loaded exactly as ``punchd rules load`` loads it; the loaded
rules as a rules file; the holidays of a year, added, removed and confirmed.

Rules are site-wide: ``rules.view`` reads them; changing them needs ``rules.change`` *and* a
scope over every department (an HR account assigned some departments may read the rules but
never change them). A refused change is :class:`NotFound`, like a page that is not there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from punchd.app import rules as ops
from punchd.app.access import NotFound, Scope
from punchd.app.forms import rules_problem
from punchd.app.site import Actor, Site
from punchd.rules.current import loaded_rules
from punchd.rules.diff import RulesDiff, diff_rules
from punchd.rules.errors import FileProblems, RulesError
from punchd.rules.file import MAX_FILE_BYTES, RulesFile, parse_rules_all, rules_text
from punchd.rules.render import render_rules
from punchd.rules.sync import LoadSummary

__all__ = [
    "MAX_FILE_BYTES",
    "InUse",
    "Problem",
    "RulesCheck",
    "add_holiday_in",
    "can_change_rules",
    "check_rules_upload",
    "confirm_year_in",
    "load_checked_rules",
    "remove_holiday_in",
    "rules_file_text",
]

#: where a problem is, at the start of its sentence: ``shift[2] "ROT"``, ``settings``,
#: ``calendar.holidays[1]``, ``period[1] "AM".checkin`` …
_WHERE = re.compile(
    r'^((?:settings|calendar|period|shift|schedule|override)(?:\[\d+\])?(?: "[^"]*")?'
    r"(?:\.[A-Za-z_]+(?:\[\d+\])?)*(?: [A-Za-z_.\[\]0-9]+)?): "
)


class InUse(RulesError):
    """The load removes periods, shifts or schedules in use, and that was not agreed to."""


@dataclass(frozen=True)
class Problem:
    where: str
    """The section and entry (empty: the file as a whole)."""
    text: str


@dataclass
class RulesCheck:
    """An uploaded rules file, checked: its problems, or what loading it would change."""

    filename: str
    problems: list[Problem] = field(default_factory=list)
    rules: RulesFile | None = None
    plan: LoadSummary | None = None
    diff: RulesDiff | None = None
    before: RulesFile | None = None
    """The loaded rules the diff was made against."""

    @property
    def ok(self) -> bool:
        return not self.problems and self.rules is not None


def can_change_rules(scope: Scope) -> bool:
    """``rules.change`` over the whole site (never from a department scope)."""
    return scope.can("rules.change") and scope.all_departments


def _may_change(scope: Scope) -> None:
    if not can_change_rules(scope):
        raise NotFound("not found")


def split_problem(text: str) -> Problem:
    found = _WHERE.match(text)
    if found is None:
        return Problem("", text)
    return Problem(found.group(1), text[found.end() :])


def check_rules_upload(site: Site, scope: Scope, data: bytes, filename: str) -> RulesCheck:
    """Read ``data`` as a rules file and check it against the database, as ``punchd rules
    check`` does; without problems, the load's plan and the diff against what is loaded.
    Nothing is changed."""
    _may_change(scope)
    name = Path(filename).name or "upload"
    try:
        text = rules_text(data)
    except RulesError as exc:
        return RulesCheck(name, [split_problem(p) for p in exc.problems])
    rules, problems = parse_rules_all(text, source=name)
    parsed = ops.ParsedRules(Path(name), rules, problems)
    try:
        checked = ops.check_rules_file(site, parsed)
        plan = ops.plan_rules_load(site, Path(name), checked)
    except RulesError as exc:
        return RulesCheck(name, [split_problem(p) for p in exc.problems])
    with site.engine.connect() as conn:
        before = loaded_rules(conn)
    return RulesCheck(name, [], checked, plan, diff_rules(before, checked), before)


def load_checked_rules(
    site: Site, scope: Scope, check: RulesCheck, *, remove_in_use: bool, actor: Actor
) -> LoadSummary:
    """Load a checked file as ``punchd rules load`` does: the plan shown is the plan loaded
    (else nothing changes and :class:`RulesError` says so); removing what is in use needs
    ``remove_in_use`` (else :class:`InUse`). The caller re-processes afterwards."""
    _may_change(scope)
    if not check.ok or check.rules is None or check.plan is None:
        raise RulesError("the file has problems: nothing was loaded")
    if not check.plan.changes:  # as `punchd rules load`: nothing to change, nothing written
        return check.plan
    if check.plan.in_use and not remove_in_use:
        raise InUse("it removes periods, shifts or schedules in use: tick the box to agree")
    with site.engine.connect() as conn:
        if loaded_rules(conn) != check.before:  # the diff shown is no longer what loads
            raise RulesError(
                "the loaded rules changed since the file was checked: nothing was loaded; "
                "upload it again to see what it changes now"
            )
    try:
        return ops.apply_rules_load(
            site, Path(check.filename), check.rules, actor=actor, expected=check.plan
        )
    except FileProblems as exc:
        raise RulesError(exc.problems) from None


def rules_file_text(site: Site) -> str:
    """The loaded rules as a rules file (TOML) that ``punchd rules load`` loads back to the
    same rules."""
    with site.engine.connect() as conn:
        return render_rules(loaded_rules(conn))


def add_holiday_in(
    site: Site, scope: Scope, day: date, *, name: str, workday: bool, actor: Actor
) -> str:
    """``"added"`` / ``"changed"`` / ``"unchanged"``. FormProblems("name"): the rules refuse
    the values."""
    _may_change(scope)
    with rules_problem("name"):
        return ops.add_holiday(site, day, name=name, workday=workday, actor=actor)


def remove_holiday_in(site: Site, scope: Scope, day: date, *, actor: Actor) -> None:
    _may_change(scope)
    ops.remove_holiday(site, day, actor=actor)


def confirm_year_in(site: Site, scope: Scope, year: int, *, actor: Actor) -> str:
    """``"confirmed"`` / ``"unchanged"``."""
    _may_change(scope)
    return ops.confirm_year(site, year, actor=actor)
