"""One employee on the clocks, for the console's employee page: for each clock, whether
the person should be on it (the enrolment planner's own rule), whether they are as of the
clock's last report, the state in a few words, and the last enrolment change.

Read only, and no clock is asked anything: "on the clock" is what punchd last stored in
``att_device_user`` (every pull collection, push ``USER`` lines, an ``enrol apply`` that
changed the clock). The state is the planner's (:func:`punchd.hr.enrolment.plan_enrolment`
run on this one person and what the clock last listed for them), so the page and ``punchd
enrol plan`` agree, the clock's name field aside (a long name a ZK clock cut to its field
is not a difference here).
Fingerprint templates are counted, never read.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time

from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from punchd.app import access
from punchd.app.access import Scope
from punchd.app.site import Site
from punchd.clock import utc_to_local
from punchd.collector.enrol import SUPPORTED_DRIVERS
from punchd.drivers import DeviceConfig
from punchd.drivers.records import DeviceUser
from punchd.hr.enrolment import (
    USER_PRIVILEGE,
    RosterPerson,
    belongs_on,
    cards_at,
    departments_below,
    plan_enrolment,
)
from punchd.storage import clock_users as store
from punchd.storage import hr as hr_store
from punchd.storage import templates as template_store
from punchd.storage.database import DatabaseFailed

#: the states of a person on a clock:
#: "on": on the clock as the roster says; "add": should be on it and is not; "remove": on it
#: and should not be (``left_on``: a leaver); "differ": on it, but ``fields`` (name, card,
#: privilege) differ from the roster; "later": in the clock's departments, hired from
#: ``starts_on``; "absent": not on its list and not on it; "kept-admin" / "kept-early": on
#: it and left alone by enrolment (an admin or enroller there; a future hire, from
#: ``starts_on``); "unread": punchd has not read the clock yet; "unmanaged": ``enrol = "none"``
STATES = (
    "on",
    "add",
    "remove",
    "differ",
    "later",
    "absent",
    "kept-admin",
    "kept-early",
    "unread",
    "unmanaged",
)
#: the audit actions of a person on a clock (entity "clock-user", key "DEVICE:ENROLNO")
CHANGE_ACTIONS = ("enrol-add", "enrol-update", "enrol-remove", "enrol-template")
#: bytes a ZK clock's name field keeps (the 72-byte user record: 24; the old 28-byte one: 8),
#: cut on a character boundary (up to 3 bytes less): a clock name of such a length that
#: begins the roster name is the roster name as that clock keeps it
_NAME_FIELDS = (8, 24)


@dataclass(frozen=True, slots=True)
class OnClock:
    """The person as the clock's last report listed them."""

    name: str
    card: str | None
    privilege: int
    #: on the clock's latest list (False: listed before, missing since)
    present: bool
    #: site time of the latest list that had them
    last_seen_at: datetime


@dataclass(frozen=True, slots=True)
class ClockChange:
    """The newest enrolment change of the person on a clock (site time)."""

    at: datetime
    by: str
    action: str


@dataclass(frozen=True, slots=True)
class ClockLine:
    """One clock, for one person."""

    device: str
    driver: str
    #: the clock's ``enrol`` is not "none"
    managed: bool
    #: punchd writes users on clocks of this driver (the others: plan only)
    writes_users: bool
    #: as the planner sees it today (None: an unmanaged clock)
    should_be_on: bool | None
    #: one of :data:`STATES`
    state: str
    #: "differ": which of name, card, privilege
    fields: tuple[str, ...] = ()
    #: "remove" of a leaver: the separation date
    left_on: date | None = None
    #: "later", "kept-early": the hire date
    starts_on: date | None = None
    #: as the clock last listed them (None: never listed)
    user: OnClock | None = None
    #: fingers punchd stores for the person that were learnt from this clock
    fingers_from: int = 0
    #: site time the clock was last read (None: never)
    last_read: datetime | None = None
    last_change: ClockChange | None = None


@dataclass(frozen=True, slots=True)
class EmployeeClocks:
    employee_no: str
    #: None: no enrol number, so on no clock (``clocks`` is empty)
    enroll_no: str | None
    #: the site date the states are for
    on: date
    #: fingerprint templates punchd holds for the person (all clocks together)
    fingers: int
    clocks: list[ClockLine]


def employee_clocks(site: Site, scope: Scope, employee_no: str, *, today: date) -> EmployeeClocks:
    """The enabled clocks and ``employee_no`` on each as of site date ``today``, for an
    employee the scope sees with ``hr.change`` or ``results.view`` (NotFound otherwise,
    exactly like a missing employee). Clocks with ``enrol = "none"`` are listed as
    unmanaged: a person can be on one all the same, and a leaver there still punches."""
    if not (scope.can("hr.change") or scope.can("results.view")):
        raise access.NotFound("not found")
    devices = [d for d in site.settings.devices if d.enabled]
    try:
        with site.engine.connect() as conn:
            found = hr_store.find_employee(conn, employee_no)
            if found is None or not scope.sees_department(found["department_id"]):
                raise access.NotFound("not found")
            enroll_no = found["enroll_no"]
            fingers = template_store.counts_by_source(conn, found["id"])
            if not enroll_no:
                return EmployeeClocks(employee_no, None, today, sum(fingers.values()), [])
            parents = _parents(conn)
            held = cards_at(
                (
                    (r["card_no"], r["employee_id"], r["effective_from"])
                    for r in hr_store.card_history(conn, held_by=found["id"])
                ),
                datetime.combine(today, time.max),
            )
            users = store.users_by_device(conn, enroll_no, [d.name for d in devices])
            read = store.last_read(conn, [d.name for d in devices])
            keys = {f"{d.name}:{enroll_no}": d.name for d in devices}
            changes = store.latest_changes(conn, "clock-user", list(keys))
    except SQLAlchemyError as exc:
        raise DatabaseFailed(site.settings.db_url, exc) from None
    person = RosterPerson(
        employee_no=found["employee_no"],
        enroll_no=enroll_no,
        name=found["name"],
        department_code=found["department_code"],
        hire_date=found["hire_date"],
        separation_date=found["separation_date"],
        card=held.get(found["id"]),
    )
    zone = site.zone
    change_of = {
        keys[key]: ClockChange(utc_to_local(r["changed_at"], zone), r["changed_by"], r["action"])
        for key, r in changes.items()
        if r["action"] in CHANGE_ACTIONS
    }
    lines = []
    for device in devices:
        row = users.get(device.name)
        user = (
            None
            if row is None
            else OnClock(
                row["name"],
                row["card"],
                int(row["privilege"]),
                row["present"],
                utc_to_local(row["last_seen_at"], zone),
            )
        )
        at = read.get(device.name)
        line = _line(device, person, user, parents, today, read=at is not None)
        lines.append(
            replace(
                line,
                user=user,
                fingers_from=fingers.get(device.name, 0),
                last_read=None if at is None else utc_to_local(at, zone),
                last_change=change_of.get(device.name),
            )
        )
    return EmployeeClocks(employee_no, enroll_no, today, sum(fingers.values()), lines)


def _parents(conn: Connection) -> dict[str, str | None]:
    """department code → its parent's code (None: a top department)."""
    code_of = {d["id"]: d["code"] for d in hr_store.departments(conn)}
    parents: dict[str, str | None] = {code: None for code in code_of.values()}
    for i, parent in hr_store.department_parents(conn).items():
        if i in code_of:
            parents[code_of[i]] = code_of.get(parent) if parent is not None else None
    return parents


def _line(
    device: DeviceConfig,
    person: RosterPerson,
    user: OnClock | None,
    parents: dict[str, str | None],
    on: date,
    *,
    read: bool,
) -> ClockLine:
    """The person's state on one clock (the planner's rules, on this person alone)."""
    base = {
        "device": device.name,
        "driver": device.driver,
        "managed": device.enrol != "none",
        "writes_users": device.driver in SUPPORTED_DRIVERS,
    }
    if device.enrol == "none":
        return ClockLine(**base, should_be_on=None, state="unmanaged")
    if device.enrol == "all":
        in_departments = True
    else:
        found, _unknown = departments_below(device.enrol, parents)
        in_departments = person.department_code in found

    def wanted(_p: RosterPerson) -> bool:
        return in_departments

    should = belongs_on(person, on, wanted)
    if not read:
        return ClockLine(**base, should_be_on=should, state="unread")
    listed = user is not None and user.present
    clock = [] if user is None or not listed else [_device_user(person, user)]

    def fit(name: str) -> str:  # the clock's cut of a long name is the same name
        have = clock[0].name if clock else ""
        size = len(have.encode("utf-8"))
        cut = any(field - 3 < size <= field for field in _NAME_FIELDS)
        return have if cut and name != have and name.startswith(have) else name

    plan = plan_enrolment([person], clock, on=on, wanted=wanted, fit_name=fit)
    if plan.adds:
        return ClockLine(**base, should_be_on=should, state="add")
    if plan.updates:
        return ClockLine(**base, should_be_on=should, state="differ", fields=plan.updates[0].fields)
    if plan.removes:
        left = person.separation_date if _left(person, on) else None
        return ClockLine(**base, should_be_on=should, state="remove", left_on=left)
    if plan.kept:
        assert user is not None
        if user.privilege != USER_PRIVILEGE:
            return ClockLine(**base, should_be_on=should, state="kept-admin")
        starts = person.hire_date
        return ClockLine(**base, should_be_on=should, state="kept-early", starts_on=starts)
    if plan.unchanged:
        return ClockLine(**base, should_be_on=should, state="on")
    if in_departments and person.hire_date > on:
        return ClockLine(**base, should_be_on=should, state="later", starts_on=person.hire_date)
    return ClockLine(**base, should_be_on=should, state="absent")


def _left(person: RosterPerson, on: date) -> bool:
    return person.separation_date is not None and person.separation_date < on


def _device_user(person: RosterPerson, user: OnClock) -> DeviceUser:
    return DeviceUser(person.enroll_no, user.name, user.card, user.privilege)


__all__ = [
    "CHANGE_ACTIONS",
    "STATES",
    "ClockChange",
    "ClockLine",
    "EmployeeClocks",
    "OnClock",
    "employee_clocks",
]
