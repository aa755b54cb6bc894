"""People: departments, employees (roster template and import, list, show, separation)
and cards (发卡), one function per operation.

Each operation owns its transaction: a change commits with its audit rows, or nothing
does; a read opens no write transaction. Refusals are :class:`HRError` (``NotFound`` for an
unknown key) or :class:`RosterFileError`, with a message for the user. A committed change
may leave days queued for re-processing (:mod:`punchd.processing.requeue`); the front door
drains the queue after it, as after any change.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

from sqlalchemy.engine import Connection
from sqlalchemy.exc import DataError, IntegrityError

from punchd.app import access, accounts
from punchd.app.access import Scope
from punchd.app.forms import FormProblems, Problem
from punchd.app.site import Actor, Site
from punchd.clock import utc_to_local
from punchd.config import Settings
from punchd.hr import roster as roster_file
from punchd.hr import service as hr
from punchd.hr.roster import Roster, RosterFileError, RowError
from punchd.hr.service import (
    CardChange,
    CardEntry,
    Department,
    EmployeeRecord,
    HRError,
    ImportSummary,
)
from punchd.processing import requeue
from punchd.storage import audit
from punchd.storage import hr as store

#: Audit rows ``show_employee`` returns.
RECENT_CHANGES = 10


class ChangeRefused(HRError):
    """The database refused a change the checks let through (a concurrent change, a value
    the backend does not take); nothing was changed."""


class TemplateExists(RosterFileError):
    """A template would overwrite a file (and overwriting was not asked for)."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"{path} exists")
        self.path = path


class RosterRejected(HRError):
    """The roster has errors (in the file, or against the database): nothing imported."""

    def __init__(self, errors: list[RowError], source: str) -> None:
        bad_rows = len({e.row for e in errors})
        super().__init__(
            f"nothing imported: {len(errors)} error(s) in {bad_rows} row(s) of {source}"
        )
        self.errors = errors


@contextmanager
def _change(site: Site) -> Iterator[Connection]:
    """One write transaction; what the database refuses becomes a :class:`ChangeRefused`."""
    try:
        with site.transaction() as conn:
            yield conn
    except IntegrityError as exc:
        raise ChangeRefused(
            f"the database refused the change (changed at the same time?): {exc.orig}"
        ) from None
    except DataError as exc:
        raise ChangeRefused(
            f"the database refused a value; nothing was changed: {exc.orig}"
        ) from None


def _now(site: Site) -> datetime:
    return site.now().replace(microsecond=0)


# --------------------------------------------------------------------------- departments


@dataclass(frozen=True, slots=True)
class DepartmentHeadcount:
    department: Department
    employees: int  # current ones: not separated before today
    parent_code: str | None = None  # the department it belongs under


def add_department(site: Site, code: str, name: str, *, actor: Actor) -> Department:
    with _change(site) as conn:
        return hr.add_department(conn, code, name, actor=actor.name)


def rename_department(site: Site, code: str, name: str, *, actor: Actor) -> Department:
    """A new name; the code stays."""
    with _change(site) as conn:
        return hr.rename_department(conn, code, name, actor=actor.name)


def list_departments(site: Site) -> list[DepartmentHeadcount]:
    """Departments by code, with their number of current employees."""
    today = _now(site).date()
    with site.engine.connect() as conn:
        departments = hr.list_departments(conn)
        employees = hr.list_employees(conn, include_leavers=False, today=today)
        parents = store.department_parents(conn)
    counts: dict[int, int] = {}
    for emp in employees:
        counts[emp.department_id] = counts.get(emp.department_id, 0) + 1
    codes = {d.id: d.code for d in departments}
    return [
        DepartmentHeadcount(d, counts.get(d.id, 0), codes.get(parents.get(d.id) or -1))
        for d in departments
    ]


def set_department_parent(
    site: Site, code: str, parent_code: str | None, *, actor: Actor
) -> DepartmentHeadcount:
    """Put department ``code`` under ``parent_code`` (None: at the top). A leader of the
    parent sees it too. Refused (HRError): an unknown department, or a parent that is the
    department itself or below it (a cycle)."""
    with _change(site) as conn:
        dept = hr.get_department(conn, code)
        parents = store.department_parents(conn)
        parent: Department | None = None
        if parent_code is not None:
            parent = hr.get_department(conn, parent_code)
            if parent.id in store.descendant_ids(parents, [dept.id]):
                raise HRError(
                    f"department {parent.code!r} is {dept.code!r} itself or below it;"
                    f" {dept.code!r} cannot be put under it (departments must not form a cycle)"
                )
        new_parent = parent.id if parent is not None else None
        old_parent = parents.get(dept.id)
        if new_parent != old_parent:
            old_code = next((d.code for d in hr.list_departments(conn) if d.id == old_parent), None)
            store.set_department_parent(conn, dept.id, new_parent, actor=actor.name)
            audit.record(
                conn,
                actor.name,
                "update",
                "department",
                dept.code,
                {"parent": [old_code, parent.code if parent else None]},
            )
        employees = hr.list_employees(conn, include_leavers=False, today=_now(site).date())
    count = sum(1 for e in employees if e.department_id == dept.id)
    return DepartmentHeadcount(dept, count, parent.code if parent else None)


# --------------------------------------------------------------------------- roster


def write_roster_templates(paths: Sequence[Path], *, overwrite: bool = False) -> Iterator[Path]:
    """Write the empty roster template to each path (CSV or XLSX by its extension),
    yielding each path once written. Every path is checked before the first is written:
    a type other than CSV/XLSX is a :class:`RosterFileError`, an existing file a
    :class:`TemplateExists` unless ``overwrite``."""
    for path in paths:
        roster_file.file_kind(path)
        if path.exists() and not overwrite:
            raise TemplateExists(path)
    for path in paths:
        try:
            roster_file.write_template(path)
        except OSError as exc:
            raise RosterFileError(f"cannot write {path}: {exc.strerror or exc}") from None
        yield path


def read_roster_file(settings: Settings, path: Path) -> Roster:
    """Read and check a roster file on its own (no database yet): its rows, the errors of
    the file, warnings, the sheet read. A file that cannot be read: RosterFileError."""
    return roster_file.read_roster(path, max_rows=settings.max_roster_rows)


def _errors(conn: Connection, roster: Roster) -> list[RowError]:
    errors = roster.errors + hr.check_roster(conn, roster.rows + roster.partial)
    errors.sort(key=lambda e: e.row)
    return errors


def check_roster(site: Site, roster: Roster) -> list[RowError]:
    """Every problem of the roster, in the file and against the database, by row (empty:
    it can be imported). Writes nothing."""
    with site.engine.connect() as conn:
        return _errors(conn, roster)


@dataclass(frozen=True, slots=True)
class RosterImport:
    summary: ImportSummary
    dry_run: bool  # True: what the import would do; nothing was written


def import_roster(
    site: Site, roster: Roster, *, actor: Actor, dry_run: bool = False
) -> RosterImport:
    """Check the roster against the database and import it in the same transaction:
    create or update employees by employee_no, create unknown departments, issue cards.
    Any error: :class:`RosterRejected` (listing them all) and nothing is imported.
    ``dry_run``: the same work, rolled back."""
    source = roster.path.name if roster.path is not None else "the roster"
    with _change(site) as conn:
        errors = _errors(conn, roster)
        if errors:
            raise RosterRejected(errors, source)
        summary = hr.apply_roster(conn, roster.rows, actor=actor.name, now=_now(site))
        if dry_run:
            conn.rollback()
    return RosterImport(summary, dry_run)


# --------------------------------------------------------------------------- employees


@dataclass(frozen=True, slots=True)
class EmployeeListing:
    employee: EmployeeRecord
    cards: list[str]  # the cards held now (or from a future time), by number


@dataclass(frozen=True, slots=True)
class EmployeeList:
    employees: list[EmployeeListing]  # by employee_no
    hidden: int  # leavers left out


def list_employees(
    site: Site, *, department: str | None = None, include_leavers: bool = False
) -> EmployeeList:
    """Employees (of one department: its code) with their cards; leavers (separated before
    today) are counted but left out unless ``include_leavers``."""
    today = _now(site).date()
    with site.engine.connect() as conn:
        employees = hr.list_employees(conn, department=department)
        cards = hr.cards_held(conn)
    shown = [e for e in employees if include_leavers or not e.left_before(today)]
    return EmployeeList(
        [EmployeeListing(e, cards.get(e.id, [])) for e in shown], len(employees) - len(shown)
    )


@dataclass(frozen=True, slots=True)
class EmployeeChange:
    """One audit row about an employee."""

    at: datetime  # site local time
    by: str
    action: str
    detail: str | None


@dataclass(frozen=True, slots=True)
class EmployeeDetail:
    employee: EmployeeRecord
    status: str  # as of today: "employed", "leaver", "starts later"
    cards: list[str]  # held now
    card_history: list[CardEntry]  # every row of every card the employee ever held
    changes: list[EmployeeChange]  # the newest first, at most RECENT_CHANGES


def show_employee(site: Site, employee_no: str) -> EmployeeDetail:
    """One employee: master data, cards, card history and recent changes."""
    with site.engine.connect() as conn:
        emp = hr.get_employee(conn, employee_no)
        cards = hr.cards_held(conn).get(emp.id, [])
        history = hr.card_history(conn, employee_no=emp.employee_no)
        audit = store.employee_changes(conn, emp.employee_no, limit=RECENT_CHANGES)
    tz = site.zone
    changes = [
        EmployeeChange(utc_to_local(a["changed_at"], tz), a["changed_by"], a["action"], a["detail"])
        for a in audit
    ]
    return EmployeeDetail(emp, emp.status_on(_now(site).date()), cards, history, changes)


@dataclass(frozen=True, slots=True)
class Separation:
    employee: EmployeeRecord  # as it is now
    previous: date | None  # the separation date before

    @property
    def changed(self) -> bool:
        return self.previous != self.employee.separation_date


def separate(site: Site, employee_no: str, on: date, *, actor: Actor) -> Separation:
    """Record a separation (离职): ``on`` is the last day that counts; the cards the
    employee holds are withdrawn from the next day (:func:`separate_in`, for every
    department)."""
    return separate_in(site, None, employee_no, on, actor=actor)


def unseparate(site: Site, employee_no: str, *, actor: Actor) -> Separation:
    """Clear the separation date (employed again, without a gap) and give back the cards
    the separation withdrew (:func:`unseparate_in`, for every department)."""
    return unseparate_in(site, None, employee_no, actor=actor)


# --------------------------------------------------------------------------- cards


@dataclass(frozen=True, slots=True)
class CardIssue:
    change: CardChange
    employee: EmployeeRecord  # the new holder
    other_cards: list[str]  # cards the employee holds besides this one


def issue_card(
    site: Site, card_no: str, employee_no: str, at: datetime | None = None, *, actor: Actor
) -> CardIssue:
    """From ``at`` (site local time; default now) the card belongs to the employee; if
    someone else had it, it passes on. Other cards of the employee are not touched."""
    when = at if at is not None else _now(site)
    with _change(site) as conn:
        change = hr.issue_card(conn, card_no, employee_no, when, actor=actor.name)
        emp = hr.get_employee(conn, employee_no)
        others = [c for c in hr.cards_held(conn).get(emp.id, []) if c != change.card_no]
    return CardIssue(change, emp, others)


def withdraw_card(
    site: Site, card_no: str, at: datetime | None = None, *, actor: Actor
) -> CardChange:
    """From ``at`` (site local time; default now) the card belongs to nobody."""
    when = at if at is not None else _now(site)
    with _change(site) as conn:
        return hr.withdraw_card(conn, card_no, when, actor=actor.name)


def list_cards(site: Site, employee_no: str | None = None) -> list[CardEntry]:
    """Each card's newest row by card number; with ``employee_no``, the history of every
    card the employee ever held."""
    with site.engine.connect() as conn:
        if employee_no is None:
            return sorted(hr.latest_cards(conn).values(), key=lambda e: e.card_no)
        return hr.card_history(conn, employee_no=employee_no)


__all__ = [
    "PAGE_SIZE",
    "RECENT_CHANGES",
    "STATUSES",
    "CardIssue",
    "ChangeRefused",
    "DepartmentHeadcount",
    "DepartmentNode",
    "EmployeeChange",
    "EmployeeDetail",
    "EmployeeList",
    "EmployeeListing",
    "EmployeePage",
    "FormProblems",
    "RosterCheck",
    "RosterImport",
    "RosterRejected",
    "Separation",
    "SeparationPlan",
    "TemplateExists",
    "add_department",
    "add_department_in",
    "check_roster",
    "check_roster_in",
    "department_tree",
    "employee_in_scope",
    "import_roster",
    "import_roster_in",
    "issue_card",
    "issue_card_in",
    "leader_accounts",
    "list_cards",
    "list_departments",
    "list_employees",
    "move_department_in",
    "read_roster_file",
    "read_roster_upload",
    "rename_department",
    "rename_department_in",
    "save_employee",
    "search_employees",
    "separate",
    "separate_in",
    "separation_plan",
    "set_department_leader",
    "set_department_parent",
    "show_employee",
    "unseparate",
    "unseparate_in",
    "withdraw_card",
    "withdraw_card_in",
    "write_roster_templates",
]


# --------------------------------------------------------------------------- within a scope
# The console's operations: the same changes, limited to what the signed-in account sees.
# An employee or department outside the scope is :class:`access.NotFound`, like a missing
# one; a value a person typed that cannot be used is a :class:`FormProblems` naming the
# field (nothing is written then).

#: People on one page of the console's employee list.
PAGE_SIZE = 50
#: ``search_employees(status=…)``
STATUSES = ("current", "leavers", "all")


def _before_hire(hire_date: date) -> Problem:
    return Problem("before the hire date %(day)s", {"day": hire_date.isoformat()})


def _scope_ids(scope: Scope) -> set[int] | None:
    """The department ids the scope sees (None: all). An employee account sees none."""
    return None if scope.all_departments else set(scope.department_ids)


def _department_in(conn: Connection, scope: Scope, code: str) -> Department:
    found = store.find_department(conn, code)
    if found is None or not scope.sees_department(found["id"]):
        raise access.NotFound("not found")
    return Department(**found)


def _employee_in(conn: Connection, scope: Scope | None, employee_no: str) -> EmployeeRecord:
    """The employee, if ``scope`` sees them (None: the CLI, which sees everyone)."""
    if scope is None:
        return hr.get_employee(conn, employee_no)
    found = store.find_employee(conn, employee_no)
    if found is None or not scope.sees_department(found["department_id"]):
        raise access.NotFound("not found")
    return EmployeeRecord(**found)


@dataclass(frozen=True, slots=True)
class DepartmentNode:
    """One department of the tree a scope sees, depth first by code."""

    department: Department
    parent_code: str | None
    depth: int
    employees: int  # current ones: not separated before today
    leaders: tuple[str, ...]  # accounts of role leader that lead it (not those above)


def department_tree(site: Site, scope: Scope, *, counted: bool = True) -> list[DepartmentNode]:
    """The departments the scope sees as a tree: each visible department whose parent is not
    visible is a root; children follow their parent, by code. ``counted=False``: without
    the head counts and leaders (0 and none), for a list to choose from."""
    today = _now(site).date()
    with site.engine.connect() as conn:
        departments = hr.list_departments(conn)
        parents = store.department_parents(conn)
        counts = store.department_headcounts(conn, today) if counted else {}
    leaders: dict[str, list[str]] = {}
    for account in accounts.list_accounts(site) if counted else ():
        if account.role == "leader":
            for code in account.departments:
                leaders.setdefault(code, []).append(account.name)
    visible = [d for d in departments if scope.sees_department(d.id)]
    seen_ids = {d.id for d in visible}
    codes = {d.id: d.code for d in departments}
    children: dict[int | None, list[Department]] = {}
    for d in visible:
        parent = parents.get(d.id)
        children.setdefault(parent if parent in seen_ids else None, []).append(d)
    tree: list[DepartmentNode] = []

    def walk(parent: int | None, depth: int) -> None:
        for d in sorted(children.get(parent, []), key=lambda x: x.code):
            parent_id = parents.get(d.id)
            tree.append(
                DepartmentNode(
                    d,
                    codes.get(parent_id) if parent_id is not None else None,
                    depth,
                    counts.get(d.id, 0),
                    tuple(sorted(leaders.get(d.code, []))),
                )
            )
            if len(tree) <= len(visible):  # a cycle (refused on write) must not loop
                walk(d.id, depth + 1)

    walk(None, 0)
    return tree


def leader_accounts(site: Site) -> list[str]:
    """The names of the enabled accounts of role leader (who can be made a leader)."""
    return [a.name for a in accounts.list_accounts(site) if a.role == "leader" and not a.disabled]


def _check_code_and_name(code: str | None, name: str) -> dict[str, str]:
    problems: dict[str, str] = {}
    if code is not None:
        if not code:
            problems["code"] = "required"
        elif len(code) > store.DEPARTMENT_CODE_MAX:
            problems["code"] = f"at most {store.DEPARTMENT_CODE_MAX} characters"
        elif any(not c.isprintable() for c in code):
            problems["code"] = "no control characters"
    if not name:
        problems["name"] = "required"
    elif len(name) > store.DEPARTMENT_NAME_MAX:
        problems["name"] = f"at most {store.DEPARTMENT_NAME_MAX} characters"
    elif any(not c.isprintable() for c in name):
        problems["name"] = "no control characters"
    return problems


def add_department_in(
    site: Site, scope: Scope, code: str, name: str, parent_code: str | None, *, actor: Actor
) -> Department:
    """A new department, under ``parent_code`` (None: at the top, only for an account that
    sees every department). FormProblems by field: code, name, parent."""
    code, name = code.strip(), name.strip()
    problems = _check_code_and_name(code, name)
    with _change(site) as conn:
        parent: Department | None = None
        if parent_code:
            found = store.find_department(conn, parent_code)
            if found is None or not scope.sees_department(found["id"]):
                problems["parent"] = "not one of your departments"
            else:
                parent = Department(**found)
        elif not scope.all_departments:
            problems["parent"] = "required: a department you look after"
        if code and "code" not in problems and store.department_id(conn, code) is not None:
            problems["code"] = "a department with this code exists already"
        if problems:
            raise FormProblems(problems)
        dept = hr.add_department(conn, code, name, actor=actor.name)
        if parent is not None:
            store.set_department_parent(conn, dept.id, parent.id, actor=actor.name)
            audit.record(
                conn, actor.name, "update", "department", code, {"parent": [None, parent.code]}
            )
    return dept


def rename_department_in(
    site: Site, scope: Scope, code: str, name: str, *, actor: Actor
) -> Department:
    name = name.strip()
    with _change(site) as conn:
        _department_in(conn, scope, code)
        problems = _check_code_and_name(None, name)
        if problems:
            raise FormProblems(problems)
        return hr.rename_department(conn, code, name, actor=actor.name)


def move_department_in(
    site: Site, scope: Scope, code: str, parent_code: str | None, *, actor: Actor
) -> DepartmentHeadcount:
    """Put ``code`` under ``parent_code`` (None: the top). An account with some departments
    moves only those whose parent it sees, under one it sees."""
    with site.engine.connect() as conn:
        dept = _department_in(conn, scope, code)
        old_parent = store.department_parents(conn).get(dept.id)
        if not scope.all_departments and (
            old_parent is None or not scope.sees_department(old_parent)
        ):
            raise FormProblems({"parent": "this department is one of those assigned to you"})
        if parent_code:
            found = store.find_department(conn, parent_code)
            if found is None or not scope.sees_department(found["id"]):
                raise FormProblems({"parent": "not one of your departments"})
        elif not scope.all_departments:
            raise FormProblems({"parent": "required: a department you look after"})
    try:
        return set_department_parent(site, code, parent_code or None, actor=actor)
    except ChangeRefused:
        raise
    except HRError as exc:
        raise FormProblems({"parent": Problem.said(str(exc))}) from None


def set_department_leader(
    site: Site, scope: Scope, code: str, leader: str, *, lead: bool, actor: Actor
) -> None:
    """Make the leader account ``leader`` lead department ``code`` (``lead``), or stop it.
    FormProblems: not a leader account; the last department of a leader (a leader leads
    at least one: disable the account instead)."""
    with site.engine.connect() as conn:
        _department_in(conn, scope, code)
    try:
        account = accounts.get_account(site, leader)
    except accounts.AccountNotFound:
        raise FormProblems({"leader": "no leader account by this name"}) from None
    if account.role != "leader":
        raise FormProblems({"leader": "no leader account by this name"})
    codes = set(account.departments)
    if lead:
        codes.add(code)
    else:
        codes.discard(code)
        if not codes:
            raise FormProblems(
                {"leader": "this is the only department the account leads; disable it instead"}
            )
    if codes != set(account.departments):
        accounts.update_account(site, account.name, actor=actor, departments=sorted(codes))


# --------------------------------------------------------------------------- employees (scoped)


@dataclass(frozen=True, slots=True)
class EmployeePage:
    rows: list[EmployeeListing]  # by employee_no
    total: int  # matching in all
    page: int  # 1-based, within 1..pages
    pages: int
    page_size: int


def search_employees(
    site: Site,
    scope: Scope,
    *,
    text: str = "",
    department: str | None = None,
    status: str = "current",
    page: int = 1,
    page_size: int = PAGE_SIZE,
) -> EmployeePage:
    """One page of the employees the scope sees: ``text`` is a staff number or enrolment
    number (its start), part of a name, or a card number held now; ``department`` (a code:
    it and every department below it); ``status`` current (not separated before today),
    leavers or all. A department outside the scope: NotFound."""
    if status not in STATUSES:
        status = "current"
    today = _now(site).date()
    with site.engine.connect() as conn:
        ids = _scope_ids(scope)
        if department:
            dept = _department_in(conn, scope, department)
            ids = store.department_descendants(conn, [dept.id])
        asked = {
            "text": text[:100],
            "department_ids": sorted(ids) if ids is not None else None,
            "employed_from": today if status == "current" else None,
            "left_before": today if status == "leavers" else None,
            "limit": page_size,
        }
        page = max(1, page)
        # the page, its count and its people's cards in one statement (store.employee_page)
        total, found, cards = store.employee_page(conn, offset=(page - 1) * page_size, **asked)
        pages = max(1, -(-total // page_size))
        if page > pages:  # past the end (the list shrank, or a typed URL): the last page
            page = pages
            total, found, cards = store.employee_page(conn, offset=(page - 1) * page_size, **asked)
    rows = [EmployeeListing(EmployeeRecord(**r), cards.get(r["id"], [])) for r in found]
    return EmployeePage(rows, total, page, pages, page_size)


def employee_in_scope(site: Site, scope: Scope, employee_no: str) -> EmployeeDetail:
    """:func:`show_employee` for an employee the scope sees; NotFound otherwise."""
    with site.engine.connect() as conn:
        _employee_in(conn, scope, employee_no)
    return show_employee(site, employee_no)


_NAMED = re.compile(r"employee (\S+) \(")


def _private(conn: Connection, scope: Scope, errors: list[RowError]) -> list[RowError]:
    """Errors that name an employee the scope does not see, reworded without them."""
    if scope.all_departments:
        return errors
    kept: list[RowError] = []
    for e in errors:
        named = _NAMED.search(e.message)
        other = store.find_employee(conn, named.group(1)) if named else None
        if other is not None and not scope.sees_department(other["department_id"]):
            e = RowError(e.row, e.column, "already used by an employee outside your departments")
        kept.append(e)
    return kept


def save_employee(
    site: Site, scope: Scope, values: dict[str, str], *, new: bool, actor: Actor
) -> EmployeeRecord:
    """Add (``new``) or change one employee from a form's text ``values``: employee_no,
    name, department (a code the scope sees), enroll_no, hire_date and, for a new one,
    card_no; checked exactly like a roster row. FormProblems by field; NotFound: an
    existing employee the scope does not see."""
    row = {name: (values.get(name) or "").strip() for name in roster_file.COLUMN_NAMES}
    row["department_name"] = ""
    row["separation_date"] = ""  # separation has its own page
    if not new:
        row["card_no"] = ""  # cards have their own form
    problems: dict[str, str] = {}
    with _change(site) as conn:
        existing = store.find_employee(conn, row["employee_no"]) if row["employee_no"] else None
        if new and existing is not None:
            problems["employee_no"] = "an employee with this number exists already"
        if not new:
            _employee_in(conn, scope, row["employee_no"])
        if row["department"]:
            found = store.find_department(conn, row["department"])
            if found is None or not scope.sees_department(found["id"]):
                problems["department"] = "not one of your departments"
        parsed = roster_file.parse_rows([(1, list(row)), (2, list(row.values()))])
        errors = parsed.errors or hr.check_roster(conn, parsed.rows)
        for e in _private(conn, scope, errors):
            problems.setdefault(e.column or "employee_no", e.message)
        if problems:
            raise FormProblems(problems)
        hr.apply_roster(conn, parsed.rows, actor=actor.name, now=_now(site))
        return hr.get_employee(conn, row["employee_no"])


# --------------------------------------------------------------------------- separation (scoped)


@dataclass(frozen=True, slots=True)
class SeparationPlan:
    """What a separation (``on`` set) or its undo (``on`` None) will do."""

    employee: EmployeeRecord
    on: date | None
    #: separate: the cards withdrawn from the start of the next day; undo: given back
    cards: list[str]
    #: undo: cards withdrawn at the separation that went to someone else since (kept there)
    cards_kept: list[str]
    #: accounts linked to the employee: they cannot sign in after the last day
    accounts: list[str]


def _day_after(on: date) -> datetime:
    return datetime.combine(on + timedelta(days=1), time(0))


def _withdrawals_to_undo(
    conn: Connection, emp: EmployeeRecord
) -> tuple[list[CardEntry], list[str]]:
    """The withdrawals the employee's separation made (the newest row of a card they held
    just before it, from the day after the separation date) and the cards passed on since."""
    if emp.separation_date is None:
        return [], []
    start = _day_after(emp.separation_date)
    by_card: dict[str, list[CardEntry]] = {}
    for entry in hr.card_history(conn, employee_no=emp.employee_no):
        by_card.setdefault(entry.card_no, []).append(entry)
    undo: list[CardEntry] = []
    kept: list[str] = []
    for card, entries in sorted(by_card.items()):
        for i in range(len(entries) - 1, 0, -1):
            row, before = entries[i], entries[i - 1]
            if row.effective_from < start:
                break
            if row.employee_id is None and before.employee_id == emp.id:
                if i == len(entries) - 1:
                    undo.append(row)
                else:
                    kept.append(card)
                break
    return undo, kept


def _linked_accounts(site: Site, employee_no: str) -> list[str]:
    return [a.name for a in accounts.list_accounts(site) if a.employee_no == employee_no]


def separation_plan(site: Site, scope: Scope, employee_no: str, on: date | None) -> SeparationPlan:
    """What :func:`separate_in` (``on``) or :func:`unseparate_in` (None) would do; writes
    nothing. FormProblems: a date before the hire date."""
    with site.engine.connect() as conn:
        emp = _employee_in(conn, scope, employee_no)
        if on is not None:
            if on < emp.hire_date:
                raise FormProblems({"on": _before_hire(emp.hire_date)})
            cards = store.cards_held_by(conn, [emp.id]).get(emp.id, [])
            kept: list[str] = []
        else:
            undo, kept = _withdrawals_to_undo(conn, emp)
            cards = [u.card_no for u in undo]
    return SeparationPlan(emp, on, cards, kept, _linked_accounts(site, emp.employee_no))


def _restore_cards(conn: Connection, emp: EmployeeRecord, actor: Actor) -> list[str]:
    undo, _kept = _withdrawals_to_undo(conn, emp)
    store.delete_card_rows(conn, [u.id for u in undo])
    for u in undo:
        audit.record(
            conn,
            actor.name,
            "unwithdraw",
            "card",
            u.card_no,
            {"employee_no": emp.employee_no, "withdrawal_undone": u.effective_from},
        )
        requeue.enqueue_card(conn, u.card_no, u.effective_from)
    return [u.card_no for u in undo]


def separate_in(
    site: Site, scope: Scope | None, employee_no: str, on: date, *, actor: Actor
) -> Separation:
    """Record a separation (离职) for an employee the scope sees, and withdraw the cards they
    hold from the start of the next day, in one transaction. Their account (if any) cannot
    sign in after ``on``; their records stay. A separation moved to another date first
    gives back the cards the old one withdrew."""
    with _change(site) as conn:
        before = _employee_in(conn, scope, employee_no)
        if scope is not None and on < before.hire_date:  # the console: next to the field
            raise FormProblems({"on": _before_hire(before.hire_date)})
        if before.separation_date is not None and before.separation_date != on:
            _restore_cards(conn, before, actor)
        emp = hr.separate(conn, employee_no, on, actor=actor.name)
        start = _day_after(on)
        for card in store.cards_held_by(conn, [emp.id]).get(emp.id, []):
            last = hr.card_history(conn, card_no=card)[-1].effective_from
            at = max(start, last + timedelta(seconds=1))
            hr.withdraw_card(conn, card, at, actor=actor.name)
    return Separation(emp, before.separation_date)


def unseparate_in(site: Site, scope: Scope | None, employee_no: str, *, actor: Actor) -> Separation:
    """Undo a separation: clear the date and give back the cards it withdrew (those not
    passed on to someone else since), in one transaction."""
    with _change(site) as conn:
        before = _employee_in(conn, scope, employee_no)
        if before.separation_date is not None:
            _restore_cards(conn, before, actor)
        emp = hr.unseparate(conn, employee_no, actor=actor.name)
    return Separation(emp, before.separation_date)


# --------------------------------------------------------------------------- cards (scoped)


def issue_card_in(
    site: Site,
    scope: Scope,
    employee_no: str,
    card_no: str,
    at: datetime | None = None,
    *,
    actor: Actor,
) -> CardChange:
    """Issue (发卡) a card to an employee the scope sees from ``at`` (site local time;
    default now). A card held by someone the scope does not see is refused. FormProblems
    by field: card_no, at."""
    when = at if at is not None else _now(site)
    with _change(site) as conn:
        _employee_in(conn, scope, employee_no)
        try:
            card = hr.check_card_no(card_no)
        except HRError as exc:
            raise FormProblems({"card_no": Problem.said(str(exc))}) from None
        history = hr.card_history(conn, card_no=card)
        holder = history[-1].employee_id if history else None
        if holder is not None and not scope.all_departments:
            other = store.employees_by_no(conn, [history[-1].employee_no or ""])
            if not other or not scope.sees_department(other[0]["department_id"]):
                raise FormProblems({"card_no": "held by an employee outside your departments"})
        try:
            return hr.issue_card(conn, card, employee_no, when, actor=actor.name)
        except HRError as exc:
            raise FormProblems({"at": Problem.said(str(exc))}) from None


def withdraw_card_in(
    site: Site,
    scope: Scope,
    employee_no: str,
    card_no: str,
    at: datetime | None = None,
    *,
    actor: Actor,
) -> CardChange:
    """Withdraw a card the employee holds now (or from a later time), from ``at``."""
    when = at if at is not None else _now(site)
    with _change(site) as conn:
        emp = _employee_in(conn, scope, employee_no)
        held = store.cards_held_by(conn, [emp.id]).get(emp.id, [])
        if card_no.strip() not in held:
            raise FormProblems({"card_no": "the employee does not hold this card"})
        try:
            return hr.withdraw_card(conn, card_no.strip(), when, actor=actor.name)
        except HRError as exc:
            raise FormProblems({"at": Problem.said(str(exc))}) from None


# --------------------------------------------------------------------------- roster upload


@dataclass(frozen=True, slots=True)
class RosterCheck:
    """A roster file checked against the database: every error, or what importing it
    would do (``preview``, from a rolled-back import)."""

    roster: Roster
    errors: list[RowError]
    preview: ImportSummary | None

    @property
    def rows(self) -> int:
        return len(self.roster.rows) + len(self.roster.partial)


def read_roster_upload(settings: Settings, data: bytes, filename: str) -> Roster:
    """A roster sent as bytes (an upload named ``filename``: its extension says CSV or
    XLSX), read like a file; messages name the upload, never a temporary path."""
    import tempfile

    shown = Path(filename.replace("\\", "/")).name[:100] or "upload"
    suffix = Path(shown).suffix.lower()
    with tempfile.TemporaryDirectory(prefix="punchd-roster-") as tmp:
        path = Path(tmp) / f"upload{suffix}"
        try:
            path.write_bytes(data)
            roster = read_roster_file(settings, path)
        except RosterFileError as exc:
            raise RosterFileError(str(exc).replace(str(path), shown)) from None
    roster.path = Path(shown)
    return roster


def _scope_errors(conn: Connection, scope: Scope, roster: Roster) -> list[RowError]:
    """Rows an account with some departments may not import: departments it does not see
    (it creates none), employees of other departments."""
    if scope.all_departments:
        return []
    errors: list[RowError] = []
    departments: dict[str, bool] = {}
    for r in roster.rows + roster.partial:
        if r.department is not None:
            if r.department not in departments:
                found = store.find_department(conn, r.department)
                departments[r.department] = found is not None and scope.sees_department(found["id"])
            if not departments[r.department]:
                errors.append(RowError(r.row, "department", "not one of your departments"))
        if r.employee_no is not None:
            other = store.find_employee(conn, r.employee_no)
            if other is not None and not scope.sees_department(other["department_id"]):
                errors.append(
                    RowError(r.row, "employee_no", "belongs to a department outside yours")
                )
    return errors


def check_roster_in(site: Site, scope: Scope, roster: Roster, *, actor: Actor) -> RosterCheck:
    """Every error of the roster (the file, the database, the scope), or when there is none
    the summary of importing it (a rolled-back import: nothing is written)."""
    with site.engine.connect() as conn:
        scoped = _scope_errors(conn, scope, roster)
        errors = _private(conn, scope, sorted(scoped + _errors(conn, roster), key=_by_row))
    if errors:
        return RosterCheck(roster, errors, None)
    try:
        preview = import_roster(site, roster, actor=actor, dry_run=True).summary
    except RosterRejected as exc:  # changed in between
        return RosterCheck(roster, exc.errors, None)
    return RosterCheck(roster, [], preview)


def _by_row(e: RowError) -> tuple[int, str]:
    return e.row, e.column or ""


def import_roster_in(site: Site, scope: Scope, roster: Roster, *, actor: Actor) -> RosterImport:
    """Import a checked roster; the scope is checked again (RosterRejected, nothing
    imported)."""
    with site.engine.connect() as conn:
        scoped = _scope_errors(conn, scope, roster)
    if scoped:
        raise RosterRejected(scoped, "the roster")
    return import_roster(site, roster, actor=actor)
