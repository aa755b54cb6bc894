"""HR master data: departments, employees, cards (发卡) and the roster import.

The rules of the master data: what may change, and what each change means (a separation
date is the last day that counts; a card belongs to one employee or nobody at a time, and
passes on; a roster row creates or updates by employee_no). Every function works on a
``Connection`` inside the caller's transaction (:mod:`punchd.app.people` owns those) and
writes an ``att_audit`` row for each change, so a change and its audit row commit or roll
back together; the statements are :mod:`punchd.storage.hr`'s. Refusals raise :class:`HRError`
(:class:`NotFound` for unknown keys) with a message meant for the user.

Times: ``att_card.effective_from`` is the site's local wall-clock time (like
``att_punch.punched_at``); every ``*_at`` column is naive UTC to the second
(``punchd.clock.utc_stamp``).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from punchd.errors import PunchdError
from punchd.hr.roster import RosterRow, RowError
from punchd.processing import requeue
from punchd.storage import audit
from punchd.storage import hr as store
from punchd.storage import punches as punch_store
from punchd.storage.hr import (
    CARD_NO_MAX,
    DEPARTMENT_CODE_MAX,
    DEPARTMENT_NAME_MAX,
    CardIndex,
    Connection,
)

_DIGITS = re.compile(r"^[0-9]+$")


class HRError(PunchdError):
    """A change was refused; the message says why, for the user."""


class NotFound(HRError):
    """An unknown employee, department or card."""


@dataclass(frozen=True, slots=True)
class Department:
    id: int
    code: str
    name: str


@dataclass(frozen=True, slots=True)
class EmployeeRecord:
    """An employee's master data (the processing engine's own view is
    :class:`punchd.processing.model.Employee`)."""

    id: int
    employee_no: str
    name: str
    department_id: int
    department_code: str
    department_name: str
    enroll_no: str | None
    hire_date: date
    separation_date: date | None

    def employed_on(self, day: date) -> bool:
        """Hired by ``day`` and not separated before it (the separation day counts)."""
        return self.hire_date <= day and (
            self.separation_date is None or day <= self.separation_date
        )

    def left_before(self, day: date) -> bool:
        """A leaver as of ``day``: the separation date is before it."""
        return self.separation_date is not None and self.separation_date < day

    def status_on(self, day: date) -> str:
        """ "starts later" (hired after ``day``), "leaver" or "employed" as of ``day``."""
        if self.hire_date > day:
            return "starts later"
        return "leaver" if self.left_before(day) else "employed"


@dataclass(frozen=True, slots=True)
class CardEntry:
    """One ``att_card`` row: from ``effective_from`` the card belongs to ``employee_no``
    (None: withdrawn) until the next row of the same card."""

    id: int
    card_no: str
    employee_id: int | None
    employee_no: str | None
    employee_name: str | None
    effective_from: datetime
    created_by: str


# --------------------------------------------------------------------------- departments


def get_department(conn: Connection, code: str) -> Department:
    found = store.find_department(conn, code)
    if found is None:
        raise NotFound(f"unknown department {code!r}")
    return Department(**found)


def list_departments(conn: Connection) -> list[Department]:
    return [Department(**d) for d in store.departments(conn)]


def _check_length(what: str, value: str, limit: int) -> None:
    if not value:
        raise HRError(f"{what} must not be empty")
    if len(value) > limit:
        raise HRError(f"{what} is too long ({len(value)} characters, at most {limit})")


def add_department(conn: Connection, code: str, name: str, *, actor: str) -> Department:
    code, name = code.strip(), name.strip()
    _check_length("department code", code, DEPARTMENT_CODE_MAX)
    _check_length("department name", name, DEPARTMENT_NAME_MAX)
    if store.department_id(conn, code) is not None:
        raise HRError(f"department {code!r} already exists")
    store.insert_departments(conn, {code: name}, actor=actor)
    audit.record(conn, actor, "create", "department", code, {"name": name})
    return get_department(conn, code)


def rename_department(conn: Connection, code: str, name: str, *, actor: str) -> Department:
    dept = get_department(conn, code)
    name = name.strip()
    _check_length("department name", name, DEPARTMENT_NAME_MAX)
    if name != dept.name:
        store.rename_department(conn, dept.id, name, actor=actor)
        audit.record(conn, actor, "update", "department", code, {"name": [dept.name, name]})
    return Department(dept.id, dept.code, name)


# --------------------------------------------------------------------------- employees


def get_employee(conn: Connection, employee_no: str) -> EmployeeRecord:
    found = store.find_employee(conn, employee_no)
    if found is None:
        raise NotFound(f"unknown employee {employee_no!r}")
    return EmployeeRecord(**found)


def list_employees(
    conn: Connection,
    *,
    department: str | None = None,
    include_leavers: bool = True,
    today: date | None = None,
) -> list[EmployeeRecord]:
    """Employees by employee_no; ``include_leavers=False`` hides those whose separation
    date is before ``today`` (required then). An unknown ``department`` raises NotFound."""
    department_id = get_department(conn, department).id if department is not None else None
    if not include_leavers and today is None:
        raise ValueError("today is required to hide leavers")
    found = store.employees(
        conn, department_id=department_id, employed_from=None if include_leavers else today
    )
    return [EmployeeRecord(**e) for e in found]


def separate(conn: Connection, employee_no: str, on: date, *, actor: str) -> EmployeeRecord:
    """Set the separation date: ``on`` is the last day that counts."""
    emp = get_employee(conn, employee_no)
    if on < emp.hire_date:
        raise HRError(
            f"the separation date {on.isoformat()} is before the hire date "
            f"{emp.hire_date.isoformat()} of employee {employee_no!r}"
        )
    if emp.separation_date != on:
        _set_separation(conn, emp, on, actor, "separate")
    return get_employee(conn, employee_no)


def unseparate(conn: Connection, employee_no: str, *, actor: str) -> EmployeeRecord:
    """Clear the separation date (the employee is employed again, without a gap)."""
    emp = get_employee(conn, employee_no)
    if emp.separation_date is not None:
        _set_separation(conn, emp, None, actor, "unseparate")
    return get_employee(conn, employee_no)


def _set_separation(
    conn: Connection, emp: EmployeeRecord, on: date | None, actor: str, action: str
) -> None:
    """The one change of a separation date (set, moved, undone) outside a roster import:
    the date, the leaver flag of the punches it moves past (:func:`reflag_punches`), the
    audit row, the days to re-process."""
    store.set_separation(conn, emp.id, on, actor=actor)
    ends = [d for d in (emp.separation_date, on) if d is not None]
    since = datetime.combine(min(ends) + timedelta(days=1), time()) if ends else None
    changes = reflag_punches(conn, [emp.id], enroll_nos=[emp.enroll_no or ""], since=since)
    detail: dict[str, Any] = {"separation_date": [emp.separation_date, on]}
    detail.update(_flag_counts(changes))
    audit.record(conn, actor, action, "employee", emp.employee_no, detail)
    requeue.enqueue_separation(conn, emp.id, emp.separation_date, on)
    if changes:  # a punch after midnight may belong to the separation day's night shift
        first, last = changes[0][1], changes[-1][1]
        requeue.enqueue_times(conn, emp.id, first, last, reason="separation")


def reflag_punches(
    conn: Connection,
    employee_ids: Sequence[int],
    *,
    enroll_nos: Sequence[str] = (),
    card_nos: Sequence[str] = (),
    since: datetime | None = None,
) -> list[tuple[int, datetime, str | None]]:
    """Bring the leaver flag (``att_punch.flag`` ``after_leaving``) of these employees'
    device punches dated from ``since`` (None: ever) in line with their separation dates
    as stored now: set on the punches dated after the date, cleared from those no longer
    after it; no other flag is touched. ``enroll_nos``: the enrolment numbers whose
    punches to look at (the employees' present ones, and any they had until this change);
    card clocks: the punches of every card the employees ever held, and of ``card_nos``
    (cards issued or withdrawn). Returns the changes
    (:func:`punchd.storage.punches.leaver_flag_changes`), by time."""
    numbers = [no for no in enroll_nos if no]
    cards = {*store.cards_ever_held(conn, list(employee_ids)), *card_nos}
    changes = punch_store.leaver_flag_changes(conn, enroll_nos=numbers, card_nos=cards, since=since)
    punch_store.set_leaver_flags(conn, changes)
    return changes


def _flag_counts(changes: Sequence[tuple[int, datetime, str | None]]) -> dict[str, int]:
    """The audit detail of leaver flags set and cleared (only what is not zero)."""
    flagged = sum(1 for *_, wanted in changes if wanted is not None)
    counts = {"punches_flagged_after_leaving": flagged}
    counts["punches_unflagged"] = len(changes) - flagged
    return {k: n for k, n in counts.items() if n}


def add_employee(
    conn: Connection,
    employee_no: str,
    name: str,
    department: str,
    hire_date: date,
    *,
    actor: str,
    now: datetime,
    enroll_no: str | None = None,
    card_no: str | None = None,
    separation_date: date | None = None,
    department_name: str | None = None,
) -> EmployeeRecord:
    """Create or update one employee exactly as a one-row roster import would (the
    department is created if unknown). Raises HRError listing every problem."""
    from punchd.hr.roster import parse_rows

    row = {
        "employee_no": employee_no,
        "name": name,
        "department": department,
        "department_name": department_name,
        "enroll_no": enroll_no,
        "card_no": card_no,
        "hire_date": hire_date,
        "separation_date": separation_date,
    }
    parsed = parse_rows([(1, list(row)), (2, list(row.values()))])
    errors = parsed.errors or check_roster(conn, parsed.rows)
    if errors:
        raise HRError("; ".join(f"{e.column}: {e.message}" for e in errors))
    apply_roster(conn, parsed.rows, actor=actor, now=now)
    return get_employee(conn, employee_no)


# --------------------------------------------------------------------------- cards


def latest_cards(conn: Connection) -> dict[str, CardEntry]:
    """Each card's newest row (also one effective in the future): who has it, or will."""
    return {row["card_no"]: CardEntry(**row) for row in store.latest_cards(conn)}


def cards_held(conn: Connection) -> dict[int, list[str]]:
    """employee_id → the cards whose newest row gives them to that employee."""
    held: dict[int, list[str]] = defaultdict(list)
    for entry in latest_cards(conn).values():
        if entry.employee_id is not None:
            held[entry.employee_id].append(entry.card_no)
    return {k: sorted(v) for k, v in held.items()}


def card_history(
    conn: Connection, *, card_no: str | None = None, employee_no: str | None = None
) -> list[CardEntry]:
    """Rows by card and time: of one card, or of every card ``employee_no`` ever held
    (including the rows that passed it on or withdrew it), or of all cards."""
    held_by = get_employee(conn, employee_no).id if employee_no is not None else None
    return [CardEntry(**r) for r in store.card_history(conn, card_no=card_no, held_by=held_by)]


def check_card_no(card_no: str) -> str:
    card_no = card_no.strip()
    if not _DIGITS.match(card_no):
        raise HRError(f"card number {card_no!r} must be digits only")
    if len(card_no) > CARD_NO_MAX:
        raise HRError(f"card number {card_no!r} is too long (at most {CARD_NO_MAX} digits)")
    return card_no


@dataclass(frozen=True, slots=True)
class CardChange:
    card_no: str
    effective_from: datetime
    previous_owner: str | None  # employee_no holding the card just before, if any
    new_owner: str | None


def issue_card(
    conn: Connection,
    card_no: str,
    employee_no: str,
    effective_from: datetime,
    *,
    actor: str,
) -> CardChange:
    """From ``effective_from`` (site local time) the card belongs to ``employee_no``; if
    someone else had it, it passes on. Other cards of the employee are not touched."""
    card_no = check_card_no(card_no)
    emp = get_employee(conn, employee_no)
    return _change_card(conn, card_no, emp, effective_from, actor)


def withdraw_card(
    conn: Connection, card_no: str, effective_from: datetime, *, actor: str
) -> CardChange:
    """From ``effective_from`` the card belongs to nobody."""
    card_no = card_no.strip()
    history = card_history(conn, card_no=card_no)
    if not history:
        raise NotFound(f"unknown card {card_no!r}")
    return _change_card(conn, card_no, None, effective_from, actor, history=history)


def _change_card(
    conn: Connection,
    card_no: str,
    emp: EmployeeRecord | None,
    at: datetime,
    actor: str,
    history: list[CardEntry] | None = None,
) -> CardChange:
    at = at.replace(microsecond=0, tzinfo=None)
    if history is None:
        history = card_history(conn, card_no=card_no)
    index = CardIndex((h.card_no, h.effective_from, h.employee_id) for h in history)
    before = [h for h in history if h.effective_from <= at]
    if before and before[-1].effective_from == at:
        raise HRError(
            f"card {card_no} already has an entry at {at:%Y-%m-%d %H:%M:%S}; pick another time"
        )
    previous = before[-1] if before else None
    previous_owner = previous.employee_no if previous else None
    new_id = emp.id if emp else None
    if index.owner(card_no, at) == new_id:
        who = f"employee {emp.employee_no!r}" if emp else "nobody"
        raise HRError(f"card {card_no} already belongs to {who} at {at:%Y-%m-%d %H:%M:%S}")
    store.insert_cards(
        conn, [{"card_no": card_no, "employee_id": new_id, "effective_from": at}], actor=actor
    )
    # From ``at`` the card's punches are someone else's: a leaver's or not any more.
    changes = reflag_punches(conn, [], card_nos=[card_no], since=at)
    action = "issue" if emp else "withdraw"
    detail: dict[str, Any] = {"employee_no": emp.employee_no if emp else None, "effective_from": at}
    if previous_owner:
        detail["previous_employee_no"] = previous_owner
    detail.update(_flag_counts(changes))
    audit.record(conn, actor, action, "card", card_no, detail)
    requeue.enqueue_card(conn, card_no, at)
    return CardChange(card_no, at, previous_owner, emp.employee_no if emp else None)


# --------------------------------------------------------------------------- roster import


@dataclass(slots=True)
class ImportSummary:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    cards_issued: list[str] = field(default_factory=list)
    cards_withdrawn: list[str] = field(default_factory=list)
    departments_created: list[str] = field(default_factory=list)
    #: punches the import's separation dates (or enrolment numbers) flagged
    #: ``after_leaving`` / cleared of that flag
    punches_flagged: int = 0
    punches_unflagged: int = 0


def _all_employees(conn: Connection) -> dict[str, EmployeeRecord]:
    return {e["employee_no"]: EmployeeRecord(**e) for e in store.employees(conn, ordered=False)}


def check_roster(conn: Connection, rows: Sequence[RosterRow]) -> list[RowError]:
    """The problems of file rows against the database: an enroll_no or card_no that
    belongs to another employee, a hire date after a separation date that is kept.

    ``rows`` may include ``Roster.partial`` (rows with errors; their bad cells are None),
    so that every problem of a row is reported at once."""
    existing = _all_employees(conn)
    in_file: dict[str, RosterRow] = {}
    for r in rows:
        in_file.setdefault(r.employee_no, r)
    by_id = {e.id: e for e in existing.values()}
    enroll_owner = {e.enroll_no: e for e in existing.values() if e.enroll_no is not None}
    latest = latest_cards(conn)
    errors: list[RowError] = []
    for r in rows:
        emp = existing.get(r.employee_no)
        kept = emp.separation_date if emp is not None and r.separation_date is None else None
        if kept is not None and r.hire_date is not None and r.hire_date > kept:
            errors.append(
                RowError(
                    r.row,
                    "hire_date",
                    f"{r.hire_date.isoformat()} is after the separation date "
                    f"{kept.isoformat()} already recorded (run `punchd "
                    "employees unseparate` first, or fill in separation_date)",
                )
            )
        if r.enroll_no is not None:
            other = enroll_owner.get(r.enroll_no)
            if other is not None and other.employee_no != r.employee_no:
                moved = in_file.get(other.employee_no)
                if moved is None or moved.enroll_no is None:  # keeps it
                    errors.append(
                        RowError(
                            r.row,
                            "enroll_no",
                            f"{r.enroll_no} belongs to employee {other.employee_no} ({other.name})",
                        )
                    )
        if r.card_no is not None:
            entry = latest.get(r.card_no)
            holder = by_id.get(entry.employee_id) if entry and entry.employee_id else None
            if holder is not None and holder.employee_no != r.employee_no:
                moved = in_file.get(holder.employee_no)
                if moved is None or moved.card_no is None:  # keeps it
                    errors.append(
                        RowError(
                            r.row,
                            "card_no",
                            f"card {r.card_no} is held by employee {holder.employee_no} "
                            f"({holder.name}); withdraw it first or pass it on with "
                            "`punchd cards issue`",
                        )
                    )
    return errors


def apply_roster(
    conn: Connection, rows: Sequence[RosterRow], *, actor: str, now: datetime
) -> ImportSummary:
    """Write checked rows (:func:`roster.read_roster` then :func:`check_roster` found no
    error): create or update by employee_no, create unknown departments, issue cards.
    ``now`` is the site's local time (cards changed for existing employees start then)."""
    now = now.replace(microsecond=0, tzinfo=None)
    summary = ImportSummary()

    # Departments.
    departments = {d.code: d for d in list_departments(conn)}
    new_departments: dict[str, str] = {}
    for r in rows:
        if r.department not in departments and r.department not in new_departments:
            new_departments[r.department] = r.department_name or r.department
    if new_departments:
        store.insert_departments(conn, new_departments, actor=actor)
        for code, name in new_departments.items():
            audit.record(conn, actor, "create", "department", code, {"name": name})
        summary.departments_created = list(new_departments)
        departments = {d.code: d for d in list_departments(conn)}

    # Employees.
    existing = _all_employees(conn)
    creates: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    changes: dict[str, dict[str, list[Any]]] = {}
    renumbered: list[int] = []  # employees whose enroll_no changes
    for r in rows:
        wanted = {
            "name": r.name,
            "department_id": departments[r.department].id,
            "hire_date": r.hire_date,
        }
        if r.enroll_no is not None:
            wanted["enroll_no"] = r.enroll_no
        if r.separation_date is not None:
            wanted["separation_date"] = r.separation_date
        emp = existing.get(r.employee_no)
        if emp is None:
            creates.append(
                {
                    "employee_no": r.employee_no,
                    "enroll_no": None,
                    "separation_date": None,
                    **wanted,
                }
            )
            continue
        diff = {k: [getattr(emp, k), v] for k, v in wanted.items() if getattr(emp, k) != v}
        if diff:
            if "department_id" in diff:
                del diff["department_id"]
                diff["department"] = [emp.department_code, r.department]
            changes[r.employee_no] = diff
            if "enroll_no" in diff:
                renumbered.append(emp.id)
            updates.append(
                {
                    "id": emp.id,
                    "name": r.name,
                    "department_id": wanted["department_id"],
                    "hire_date": r.hire_date,
                    "enroll_no": wanted.get("enroll_no", emp.enroll_no),
                    "separation_date": wanted.get("separation_date", emp.separation_date),
                }
            )
    store.update_employees(conn, updates, actor=actor, renumbered=renumbered)
    if creates:
        store.insert_employees(conn, creates, actor=actor)
        for e in store.employees_by_no(conn, [c["employee_no"] for c in creates]):
            existing[e["employee_no"]] = EmployeeRecord(**e)
    department_codes = {d.id: code for code, d in departments.items()}
    for c in creates:
        detail = {
            k: c[k]
            for k in ("name", "enroll_no", "hire_date", "separation_date")
            if c[k] is not None
        }
        detail["department"] = department_codes[c["department_id"]]
        audit.record(conn, actor, "create", "employee", c["employee_no"], detail)
    for employee_no, diff in changes.items():
        audit.record(conn, actor, "update", "employee", employee_no, diff)

    # Cards.
    created = {c["employee_no"] for c in creates}
    cards_changed = _roster_cards(
        conn, rows, existing, created, actor=actor, now=now, summary=summary
    )

    # Leaver flags: the punches of whoever's separation date or enrolment number changed,
    # and of the cards issued or withdrawn.
    moved = [no for no, diff in changes.items() if "separation_date" in diff or "enroll_no" in diff]
    moved += [c["employee_no"] for c in creates if c["separation_date"] is not None]
    card_nos = sorted({*summary.cards_issued, *summary.cards_withdrawn})
    if moved or card_nos:
        now_held = store.employees_by_no(conn, moved)
        numbers = {existing[no].enroll_no or "" for no in moved}  # before the import
        numbers |= {e["enroll_no"] or "" for e in now_held}
        flagged = reflag_punches(
            conn, [e["id"] for e in now_held], enroll_nos=sorted(numbers), card_nos=card_nos
        )
        if flagged:
            detail = {"employees": sorted(moved), **_flag_counts(flagged)}
            audit.record(conn, actor, "reflag", "punch", None, detail)
            summary.punches_flagged = sum(1 for *_, w in flagged if w is not None)
            summary.punches_unflagged = len(flagged) - summary.punches_flagged

    for r in rows:
        if r.employee_no in created:
            summary.created.append(r.employee_no)
        elif r.employee_no in changes or r.employee_no in cards_changed:
            summary.updated.append(r.employee_no)
        else:
            summary.unchanged.append(r.employee_no)
    requeue.enqueue_roster(conn, summary)
    return summary


def _roster_cards(
    conn: Connection,
    rows: Sequence[RosterRow],
    employees: dict[str, EmployeeRecord],
    created: set[str],
    *,
    actor: str,
    now: datetime,
    summary: ImportSummary,
) -> set[str]:
    """Issue each row's card unless the employee holds it already; the cards the employee
    held before are withdrawn (the roster has one card per person). A new employee's card
    starts at the start of the hire date, a changed card ``now``; never before the card's
    last row, and a card passed on from someone else never before ``now``. Returns the
    employee_nos whose card changed."""
    history: dict[str, list[CardEntry]] = defaultdict(list)
    for entry in card_history(conn):
        history[entry.card_no].append(entry)
    latest = {card: entries[-1] for card, entries in history.items()}
    held: dict[int, list[str]] = defaultdict(list)
    for entry in latest.values():
        if entry.employee_id is not None:
            held[entry.employee_id].append(entry.card_no)

    def after_history(card: str, at: datetime) -> datetime:
        entries = history.get(card)
        if entries and entries[-1].effective_from >= at:
            return max(now, entries[-1].effective_from + timedelta(seconds=1))
        return at

    issued: list[tuple[str, EmployeeRecord, datetime, str | None]] = []
    for r in rows:
        if r.card_no is None:
            continue
        emp = employees[r.employee_no]
        if r.card_no in held.get(emp.id, []):
            continue
        start = datetime.combine(r.hire_date, time(0)) if r.employee_no in created else now
        entry = latest.get(r.card_no)
        previous = entry.employee_no if entry else None
        if previous is not None:
            start = max(start, now)
        issued.append((r.card_no, emp, after_history(r.card_no, start), previous))
    issued_cards = {card for card, *_ in issued}
    changed: set[str] = set()
    values: list[dict[str, Any]] = []
    for card, emp, at, previous in issued:
        changed.add(emp.employee_no)
        values.append({"card_no": card, "employee_id": emp.id, "effective_from": at})
        detail: dict[str, Any] = {"employee_no": emp.employee_no, "effective_from": at}
        if previous:
            detail["previous_employee_no"] = previous
        audit.record(conn, actor, "issue", "card", card, detail)
        summary.cards_issued.append(card)
        for old in held.get(emp.id, []):
            if old in issued_cards:
                continue  # passes to someone else in this import
            old_at = after_history(old, at)
            values.append({"card_no": old, "employee_id": None, "effective_from": old_at})
            audit.record(
                conn,
                actor,
                "withdraw",
                "card",
                old,
                {
                    "employee_no": None,
                    "effective_from": old_at,
                    "previous_employee_no": emp.employee_no,
                    "replaced_by": card,
                },
            )
            summary.cards_withdrawn.append(old)
    store.insert_cards(conn, values, actor=actor)
    return changed


__all__ = [
    "CardChange",
    "CardEntry",
    "Department",
    "EmployeeRecord",
    "HRError",
    "ImportSummary",
    "NotFound",
    "add_department",
    "add_employee",
    "apply_roster",
    "card_history",
    "cards_held",
    "check_card_no",
    "check_roster",
    "get_department",
    "get_employee",
    "issue_card",
    "latest_cards",
    "list_departments",
    "list_employees",
    "rename_department",
    "separate",
    "unseparate",
    "withdraw_card",
]
