"""The SQL of HR master data: departments (``att_department``), employees
(``att_employee``) and cards (``att_card``).

Plain functions on the caller's ``Connection`` (its transaction); rows come back as dicts
keyed by column (employees and cards joined with their department or holder), and
:class:`CardIndex` answers "whose card at that time". What may be written, and why, is
decided in :mod:`punchd.hr.service`; the audit rows are :mod:`punchd.storage.audit`'s.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, and_, bindparam, func, insert, or_, select, update
from sqlalchemy.engine import Connection  # exported: callers pass one through without SQLAlchemy

from punchd.clock import utc_stamp
from punchd.storage.schema import att_audit, att_card, att_department, att_employee

#: Column lengths, for the checks made before writing (roster cells, names, card numbers).
EMPLOYEE_NO_MAX = int(att_employee.c.employee_no.type.length)
EMPLOYEE_NAME_MAX = int(att_employee.c.name.type.length)
ENROLL_NO_MAX = int(att_employee.c.enroll_no.type.length)
DEPARTMENT_CODE_MAX = int(att_department.c.code.type.length)
DEPARTMENT_NAME_MAX = int(att_department.c.name.type.length)
CARD_NO_MAX = int(att_card.c.card_no.type.length)

_CHUNK = 500  # bound parameters per IN (...) query

Record = dict[str, Any]


# --------------------------------------------------------------------------- departments


def find_department(conn: Connection, code: str) -> Record | None:
    """The department ``code`` (id, code, name), or None."""
    row = conn.execute(
        select(att_department.c.id, att_department.c.code, att_department.c.name).where(
            att_department.c.code == code
        )
    ).first()
    return dict(row._mapping) if row is not None else None


def department_id(conn: Connection, code: str) -> int | None:
    """``att_department.id`` of ``code``, or None: the one lookup of a department by code
    (each caller raises its own error for an unknown one)."""
    found = find_department(conn, code)
    return found["id"] if found is not None else None


def departments(conn: Connection) -> list[Record]:
    """Every department (id, code, name) by code."""
    rows = conn.execute(
        select(att_department.c.id, att_department.c.code, att_department.c.name).order_by(
            att_department.c.code
        )
    )
    return [dict(r._mapping) for r in rows]


def insert_departments(conn: Connection, names: dict[str, str], *, actor: str) -> None:
    """Create the departments ``code → name``."""
    if not names:
        return
    stamp = utc_stamp()
    conn.execute(
        insert(att_department),
        [
            {
                "code": code,
                "name": name,
                "created_at": stamp,
                "updated_at": stamp,
                "updated_by": actor,
            }
            for code, name in names.items()
        ],
    )


def rename_department(conn: Connection, department_id: int, name: str, *, actor: str) -> None:
    conn.execute(
        update(att_department)
        .where(att_department.c.id == department_id)
        .values(name=name, updated_at=utc_stamp(), updated_by=actor)
    )


def department_parents(conn: Connection) -> dict[int, int | None]:
    """Every department's id → its parent's id (None: a top department)."""
    rows = conn.execute(select(att_department.c.id, att_department.c.parent_id))
    return {r.id: r.parent_id for r in rows}


def set_department_parent(
    conn: Connection, department_id: int, parent_id: int | None, *, actor: str
) -> None:
    conn.execute(
        update(att_department)
        .where(att_department.c.id == department_id)
        .values(parent_id=parent_id, updated_at=utc_stamp(), updated_by=actor)
    )


def descendant_ids(parents: dict[int, int | None], roots: Iterable[int]) -> set[int]:
    """``roots`` and every department below them, from :func:`department_parents`'s map
    (departments are few: a walk in Python beats a recursive query on three backends)."""
    children: dict[int, list[int]] = defaultdict(list)
    for child, parent in parents.items():
        if parent is not None:
            children[parent].append(child)
    found: set[int] = set()
    todo = [r for r in roots if r in parents]
    while todo:
        current = todo.pop()
        if current in found:
            continue  # a cycle (refused on write) must not loop forever here
        found.add(current)
        todo.extend(children.get(current, ()))
    return found


def department_descendants(conn: Connection, roots: Iterable[int]) -> set[int]:
    """``roots`` and every department below them."""
    return descendant_ids(department_parents(conn), roots)


# --------------------------------------------------------------------------- employees


def _employees() -> Select[Any]:
    e, d = att_employee, att_department
    return select(
        e.c.id,
        e.c.employee_no,
        e.c.name,
        e.c.department_id,
        d.c.code.label("department_code"),
        d.c.name.label("department_name"),
        e.c.enroll_no,
        e.c.hire_date,
        e.c.separation_date,
    ).join(d, d.c.id == e.c.department_id)


def find_employee(conn: Connection, employee_no: str) -> Record | None:
    """One employee with the code and name of their department, or None."""
    row = conn.execute(_employees().where(att_employee.c.employee_no == employee_no)).first()
    return dict(row._mapping) if row is not None else None


def employees(
    conn: Connection,
    *,
    department_id: int | None = None,
    employed_from: date | None = None,
    ordered: bool = True,
) -> list[Record]:
    """Employees (by employee_no unless ``ordered=False``), of one department, or only those
    not separated before ``employed_from``."""
    query = _employees()
    if ordered:
        query = query.order_by(att_employee.c.employee_no)
    if department_id is not None:
        query = query.where(att_employee.c.department_id == department_id)
    if employed_from is not None:
        query = query.where(
            or_(
                att_employee.c.separation_date.is_(None),
                att_employee.c.separation_date >= employed_from,
            )
        )
    return [dict(r._mapping) for r in conn.execute(query)]


def employees_by_no(conn: Connection, employee_nos: Sequence[str]) -> list[Record]:
    """The employees with these numbers (asked for in chunks: any number of them)."""
    found: list[Record] = []
    for start in range(0, len(employee_nos), _CHUNK):
        chunk = list(employee_nos[start : start + _CHUNK])
        query = _employees().where(att_employee.c.employee_no.in_(chunk))
        found.extend(dict(r._mapping) for r in conn.execute(query))
    return found


def set_separation(conn: Connection, employee_id: int, on: date | None, *, actor: str) -> None:
    conn.execute(
        update(att_employee)
        .where(att_employee.c.id == employee_id)
        .values(separation_date=on, updated_at=utc_stamp(), updated_by=actor)
    )


def insert_employees(conn: Connection, rows: Sequence[Record], *, actor: str) -> None:
    """Create employees: each row has employee_no, name, department_id, enroll_no,
    hire_date, separation_date."""
    if not rows:
        return
    stamp = utc_stamp()
    conn.execute(
        insert(att_employee),
        [{**r, "created_at": stamp, "updated_at": stamp, "updated_by": actor} for r in rows],
    )


def update_employees(
    conn: Connection, rows: Sequence[Record], *, actor: str, renumbered: Sequence[int] = ()
) -> None:
    """Overwrite employees' master data: each row has id, name, department_id, hire_date,
    enroll_no, separation_date. The enroll_nos of the ``renumbered`` employee ids are freed
    first, so that two employees can swap theirs (the column is unique)."""
    if not rows:
        return
    stamp = utc_stamp()
    if renumbered:
        conn.execute(
            update(att_employee)
            .where(att_employee.c.id == bindparam("b_id"))
            .values(enroll_no=None),
            [{"b_id": employee_id} for employee_id in renumbered],
        )
    conn.execute(
        update(att_employee)
        .where(att_employee.c.id == bindparam("b_id"))
        .values(
            name=bindparam("name"),
            department_id=bindparam("department_id"),
            hire_date=bindparam("hire_date"),
            enroll_no=bindparam("enroll_no"),
            separation_date=bindparam("separation_date"),
            updated_at=bindparam("updated_at"),
            updated_by=bindparam("updated_by"),
        ),
        [
            {
                "b_id": r["id"],
                "name": r["name"],
                "department_id": r["department_id"],
                "hire_date": r["hire_date"],
                "enroll_no": r["enroll_no"],
                "separation_date": r["separation_date"],
                "updated_at": stamp,
                "updated_by": actor,
            }
            for r in rows
        ],
    )


def employee_changes(conn: Connection, employee_no: str, *, limit: int) -> list[Record]:
    """The newest ``limit`` audit rows about the employee (changed_at UTC, changed_by,
    action, detail), newest first."""
    rows = conn.execute(
        select(
            att_audit.c.changed_at, att_audit.c.changed_by, att_audit.c.action, att_audit.c.detail
        )
        .where(att_audit.c.entity == "employee", att_audit.c.entity_key == employee_no)
        .order_by(att_audit.c.id.desc())
        .limit(limit)
    )
    return [dict(r._mapping) for r in rows]


# --------------------------------------------------------------------------- cards


def _cards() -> Select[Any]:
    c, e = att_card, att_employee
    return select(
        c.c.id,
        c.c.card_no,
        c.c.employee_id,
        e.c.employee_no,
        e.c.name.label("employee_name"),
        c.c.effective_from,
        c.c.created_by,
    ).outerjoin(e, e.c.id == c.c.employee_id)


def latest_cards(conn: Connection) -> list[Record]:
    """Each card's newest row (also one effective in the future), with its holder's
    employee_no and name (None: withdrawn)."""
    latest = (
        select(att_card.c.card_no, func.max(att_card.c.effective_from).label("at"))
        .group_by(att_card.c.card_no)
        .subquery()
    )
    query = _cards().join(
        latest,
        and_(latest.c.card_no == att_card.c.card_no, latest.c.at == att_card.c.effective_from),
    )
    return [dict(r._mapping) for r in conn.execute(query)]


def card_history(
    conn: Connection, *, card_no: str | None = None, held_by: int | None = None
) -> list[Record]:
    """Card rows by card and time: of one card, or of every card employee id ``held_by``
    ever held (including the rows that passed it on or withdrew it), or of all cards."""
    query = _cards().order_by(att_card.c.card_no, att_card.c.effective_from)
    if card_no is not None:
        query = query.where(att_card.c.card_no == card_no)
    if held_by is not None:
        held = select(att_card.c.card_no).where(att_card.c.employee_id == held_by)
        query = query.where(att_card.c.card_no.in_(held))
    return [dict(r._mapping) for r in conn.execute(query)]


def insert_cards(conn: Connection, rows: Sequence[Record], *, actor: str) -> None:
    """Add card rows: each has card_no, employee_id (None: withdrawn), effective_from."""
    if not rows:
        return
    stamp = utc_stamp()
    conn.execute(insert(att_card), [{**r, "created_at": stamp, "created_by": actor} for r in rows])


class CardIndex:
    """Which employee a card belonged to at a given local time.

    Built once (:func:`card_owner_index`), then answers :meth:`owner` by bisecting the
    card's effective_from times: the newest row at or before ``at`` decides.
    """

    def __init__(self, rows: Iterable[tuple[str, datetime, int | None]]) -> None:
        by_card: dict[str, list[tuple[datetime, int | None]]] = defaultdict(list)
        for card_no, effective_from, employee_id in rows:
            by_card[card_no].append((effective_from, employee_id))
        self._times: dict[str, list[datetime]] = {}
        self._owners: dict[str, list[int | None]] = {}
        for card_no, entries in by_card.items():
            entries.sort(key=lambda entry: entry[0])
            self._times[card_no] = [t for t, _ in entries]
            self._owners[card_no] = [o for _, o in entries]

    def owner(self, card_no: str, at: datetime) -> int | None:
        """employee_id holding ``card_no`` at local time ``at``; None if nobody did (not
        issued yet, withdrawn, unknown card)."""
        times = self._times.get(card_no)
        if not times:
            return None
        i = bisect_right(times, at)
        return self._owners[card_no][i - 1] if i else None

    def __contains__(self, card_no: object) -> bool:
        return card_no in self._times

    def __len__(self) -> int:
        return len(self._times)


def card_owner_index(conn: Connection) -> CardIndex:
    """Every card's history, for mapping punches of card clocks to employees."""
    rows = conn.execute(
        select(att_card.c.card_no, att_card.c.effective_from, att_card.c.employee_id)
    )
    return CardIndex((r.card_no, r.effective_from, r.employee_id) for r in rows)


# --------------------------------------------------------------------------- the console's lists


def department_headcounts(conn: Connection, employed_on: date) -> dict[int, int]:
    """department id → its employees not separated before ``employed_on`` (one GROUP BY)."""
    e = att_employee
    rows = conn.execute(
        select(e.c.department_id, func.count())
        .where(or_(e.c.separation_date.is_(None), e.c.separation_date >= employed_on))
        .group_by(e.c.department_id)
    )
    return {r[0]: int(r[1]) for r in rows}


def _current_card_holders(card_no: str) -> Select[Any]:
    """The employee ids the newest row of ``card_no`` gives it to (the unique index on
    (card_no, effective_from) answers it)."""
    c, newer = att_card, att_card.alias("newer")
    return select(c.c.employee_id).where(
        c.c.card_no == card_no,
        c.c.employee_id.is_not(None),
        ~select(newer.c.id)
        .where(newer.c.card_no == c.c.card_no, newer.c.effective_from > c.c.effective_from)
        .exists(),
    )


def _search_where(
    conn: Connection,
    text: str,
    department_ids: Sequence[int] | None,
    employed_from: date | None,
    left_before: date | None,
) -> list[Any]:
    """The conditions of :func:`search_employees` on att_employee."""
    e = att_employee
    where: list[Any] = []
    text = text.strip()
    if text:
        matches = [
            e.c.employee_no.startswith(text, autoescape=True),
            e.c.enroll_no.startswith(text, autoescape=True),
            func.lower(e.c.name).contains(text.lower(), autoescape=True),
        ]
        # the card's holder first, on its own (an index lookup): inside the OR the
        # planner would test every employee against it
        holders = [r[0] for r in conn.execute(_current_card_holders(text))]
        if holders:
            matches.append(e.c.id.in_(holders))
        where.append(or_(*matches))
    if department_ids is not None:
        where.append(e.c.department_id.in_(list(department_ids)))
    if employed_from is not None:
        where.append(or_(e.c.separation_date.is_(None), e.c.separation_date >= employed_from))
    if left_before is not None:
        where.append(e.c.separation_date < left_before)
    return where


def search_employees(
    conn: Connection,
    *,
    text: str = "",
    department_ids: Sequence[int] | None = None,
    employed_from: date | None = None,
    left_before: date | None = None,
    limit: int,
    offset: int = 0,
) -> tuple[int, list[Record]]:
    """One page of employees by employee_no and how many match in all: ``text`` matches the
    start of the staff or enrolment number, any part of the name (case-insensitive), or a
    card number held now (whole); ``department_ids`` (None: any); ``employed_from``: not
    separated before that day; ``left_before``: separated before that day.

    The page is LIMIT/OFFSET on the unique index of employee_no; the count is one more
    query over the same conditions (the console shows "page 3 of 12"), left out when the
    first page holds every match (most searches). At 10,000 people each is a few
    milliseconds in PostgreSQL (bench/web.py measures the page)."""
    e = att_employee
    where = _search_where(conn, text, department_ids, employed_from, left_before)
    query = _employees().where(*where).order_by(e.c.employee_no).limit(limit).offset(offset)
    rows = [dict(r._mapping) for r in conn.execute(query)]
    if offset == 0 and len(rows) < limit:
        return len(rows), rows  # everything on the first page: no need to count
    total = conn.execute(select(func.count()).select_from(e).where(*where)).scalar_one()
    return int(total), rows


def employee_page(
    conn: Connection,
    *,
    text: str = "",
    department_ids: Sequence[int] | None = None,
    employed_from: date | None = None,
    left_before: date | None = None,
    limit: int,
    offset: int = 0,
) -> tuple[int, list[Record], dict[int, list[str]]]:
    """:func:`search_employees` and :func:`cards_held_by` of its page in one statement:
    the page joined to the cards its people hold now and — a list without ``text``, which
    mostly has many pages — the count as a subquery of the same statement (one round trip
    instead of three: under load each one waits for the database's turn). A search counts
    separately, only when its first page is full (most fit on one)."""
    e = att_employee
    where = _search_where(conn, text, department_ids, employed_from, left_before)
    page = (
        _employees().where(*where).order_by(e.c.employee_no).limit(limit).offset(offset)
    ).subquery("page")
    c, newer = att_card, att_card.alias("newer")
    held_now = and_(
        c.c.employee_id == page.c.id,
        ~select(newer.c.id)
        .where(newer.c.card_no == c.c.card_no, newer.c.effective_from > c.c.effective_from)
        .exists(),
    )
    counted = not text.strip()
    columns = [*page.c, c.c.card_no.label("held_card_no")]
    if counted:
        count = select(func.count()).select_from(e).where(*where).correlate(None)
        columns.append(count.scalar_subquery().label("matching"))
    stmt = (
        select(*columns)
        .select_from(page.outerjoin(c, held_now))
        .order_by(page.c.employee_no, c.c.card_no)
    )
    rows: dict[int, Record] = {}
    cards: dict[int, list[str]] = {}
    total = None
    for r in conn.execute(stmt):
        m = dict(r._mapping)
        card, matching = m.pop("held_card_no"), m.pop("matching", None)
        total = matching if counted else None
        rows.setdefault(m["id"], m)
        if card is not None:
            cards.setdefault(m["id"], []).append(card)
    found = list(rows.values())
    if total is None:
        if offset == 0 and len(found) < limit:
            total = len(found)  # everything on the first page: no need to count
        else:
            total = conn.execute(select(func.count()).select_from(e).where(*where)).scalar_one()
    return int(total), found, cards


def cards_held_by(conn: Connection, employee_ids: Sequence[int]) -> dict[int, list[str]]:
    """employee id → the cards whose newest row gives them to that employee (for a page of
    people: only their cards are read)."""
    if not employee_ids:
        return {}
    c, newer = att_card, att_card.alias("newer")
    query = (
        select(c.c.employee_id, c.c.card_no)
        .where(
            c.c.employee_id.in_(list(employee_ids)),
            ~select(newer.c.id)
            .where(newer.c.card_no == c.c.card_no, newer.c.effective_from > c.c.effective_from)
            .exists(),
        )
        .order_by(c.c.card_no)
    )
    held: dict[int, list[str]] = defaultdict(list)
    for r in conn.execute(query):
        held[r.employee_id].append(r.card_no)
    return dict(held)


def cards_ever_held(conn: Connection, employee_ids: Sequence[int]) -> list[str]:
    """Every card any of these employees has ever been given (a leaver's punches on a card
    clock come under one of them)."""
    if not employee_ids:
        return []
    c = att_card.c
    found: set[str] = set()
    for start in range(0, len(employee_ids), _CHUNK):
        chunk = list(employee_ids[start : start + _CHUNK])
        found.update(conn.execute(select(c.card_no).where(c.employee_id.in_(chunk))).scalars())
    return sorted(found)


def delete_card_rows(conn: Connection, ids: Sequence[int]) -> None:
    """Remove card rows by id: an undone separation takes back the withdrawals it made."""
    if ids:
        conn.execute(att_card.delete().where(att_card.c.id.in_(list(ids))))


__all__ = [
    "CARD_NO_MAX",
    "DEPARTMENT_CODE_MAX",
    "DEPARTMENT_NAME_MAX",
    "EMPLOYEE_NAME_MAX",
    "EMPLOYEE_NO_MAX",
    "ENROLL_NO_MAX",
    "CardIndex",
    "Connection",
    "card_history",
    "card_owner_index",
    "cards_ever_held",
    "cards_held_by",
    "delete_card_rows",
    "department_descendants",
    "department_headcounts",
    "department_id",
    "department_parents",
    "departments",
    "descendant_ids",
    "employee_changes",
    "employee_page",
    "employees",
    "employees_by_no",
    "find_department",
    "find_employee",
    "insert_cards",
    "insert_departments",
    "insert_employees",
    "latest_cards",
    "rename_department",
    "search_employees",
    "set_department_parent",
    "set_separation",
    "update_employees",
]


def roster_stamp(conn: Connection) -> tuple[object, ...]:
    """What changes whenever employees or cards change (counts and newest stamps): the
    daemon runs `enrol apply` when it differs from its last look."""
    e, c = att_employee, att_card
    people = conn.execute(select(func.count(), func.max(e.c.updated_at)).select_from(e)).one()
    cards = conn.execute(select(func.count(), func.max(c.c.created_at)).select_from(c)).one()
    return (*people, *cards)
