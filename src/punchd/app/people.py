"""People: departments, employees (roster template and import, list, show, separation)
and cards (发卡), one function per operation.

Each operation owns its transaction: a change commits with its audit rows, or nothing
does; a read opens no write transaction. Refusals are :class:`HRError` (``NotFound`` for an
unknown key) or :class:`RosterFileError`, with a message for the user. A committed change
may leave days queued for re-processing (:mod:`punchd.processing.requeue`); the front door
drains the queue after it, as after any change.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from sqlalchemy.engine import Connection
from sqlalchemy.exc import DataError, IntegrityError

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
    """Record a separation (离职): ``on`` is the last day that counts."""
    with _change(site) as conn:
        before = hr.get_employee(conn, employee_no)
        emp = hr.separate(conn, employee_no, on, actor=actor.name)
    return Separation(emp, before.separation_date)


def unseparate(site: Site, employee_no: str, *, actor: Actor) -> Separation:
    """Clear the separation date (employed again, without a gap)."""
    with _change(site) as conn:
        before = hr.get_employee(conn, employee_no)
        emp = hr.unseparate(conn, employee_no, actor=actor.name)
    return Separation(emp, before.separation_date)


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
    "RECENT_CHANGES",
    "CardIssue",
    "ChangeRefused",
    "DepartmentHeadcount",
    "EmployeeChange",
    "EmployeeDetail",
    "EmployeeList",
    "EmployeeListing",
    "RosterImport",
    "RosterRejected",
    "Separation",
    "TemplateExists",
    "add_department",
    "check_roster",
    "import_roster",
    "issue_card",
    "list_cards",
    "list_departments",
    "list_employees",
    "read_roster_file",
    "rename_department",
    "separate",
    "set_department_parent",
    "show_employee",
    "unseparate",
    "withdraw_card",
    "write_roster_templates",
]
