"""People on the clocks as a person triggers it: ``enrol_plan`` shows, clock by clock, who
would be added, updated and removed; ``enrol_apply`` does it. Pull ZK clocks only for now.

The roster is read once (employees with an enrol number, their department, hire and
separation dates, the card each holds at the end of the site day); each clock whose
``[[devices]] enrol`` is not "none" is then read and changed on its own, one after the
other, under its collection lease (:mod:`punchd.collector.enrol`). A device that fails
does not stop the others: its :class:`DeviceEnrolment` says why.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time

from sqlalchemy.exc import SQLAlchemyError

from punchd.app.collection import lock_dir
from punchd.app.site import Actor, Site
from punchd.collector.enrol import DeviceEnrolment, Failure, enrol_device
from punchd.collector.errors import NoDevices
from punchd.config import Settings
from punchd.drivers import DeviceConfig
from punchd.hr.enrolment import RosterPerson, cards_at, departments_below
from punchd.storage import hr as hr_store
from punchd.storage.database import DatabaseFailed

__all__ = [
    "DeviceEnrolment",
    "EnrolmentRun",
    "Failure",
    "enrol_apply",
    "enrol_devices",
    "enrol_plan",
]


@dataclass(frozen=True)
class EnrolmentRun:
    """Every clock's plan (and outcome, when ``applied``) as of site date ``on``."""

    on: date
    applied: bool
    devices: list[DeviceEnrolment]


def enrol_devices(settings: Settings, names: Sequence[str] | None = None) -> list[DeviceConfig]:
    """The devices called ``names`` (ConfigError for an unknown one); none given: every
    enabled device whose ``enrol`` is not "none" (NoDevices when there is none)."""
    if names:
        return [settings.device(name) for name in names]
    devices = [d for d in settings.devices if d.enabled and d.enrol != "none"]
    if not devices:
        raise NoDevices(
            'no device takes part in enrolment: add enrol = "all" (or a list of department '
            "codes) to its [[devices]] entry"
        )
    return devices


@dataclass(frozen=True)
class _Roster:
    people: list[RosterPerson]
    #: department code → its parent's code (None: a top department)
    parents: dict[str, str | None]


def _roster(site: Site, on: date) -> _Roster:
    """Everyone with an enrol number (leavers too: they must come off the clocks), with the
    card each holds at the end of site day ``on``."""
    try:
        with site.engine.connect() as conn:
            employees = hr_store.employees(conn, ordered=False)
            departments = hr_store.departments(conn)
            parent_ids = hr_store.department_parents(conn)
            card_rows = hr_store.card_history(conn)
    except SQLAlchemyError as exc:
        raise DatabaseFailed(site.settings.db_url, exc) from None
    code_of = {d["id"]: d["code"] for d in departments}
    parents = {
        code_of[i]: (code_of.get(parent) if parent is not None else None)
        for i, parent in parent_ids.items()
        if i in code_of
    }
    for code in code_of.values():
        parents.setdefault(code, None)
    cards = cards_at(
        ((r["card_no"], r["employee_id"], r["effective_from"]) for r in card_rows),
        datetime.combine(on, time.max),
    )
    people = [
        RosterPerson(
            employee_no=e["employee_no"],
            enroll_no=e["enroll_no"],
            name=e["name"],
            department_code=e["department_code"],
            hire_date=e["hire_date"],
            separation_date=e["separation_date"],
            card=cards.get(e["id"]),
        )
        for e in employees
        if e["enroll_no"]
    ]
    return _Roster(people, parents)


def _wanted(
    device: DeviceConfig, roster: _Roster
) -> tuple[Callable[[RosterPerson], bool], list[str]]:
    """Whether a person belongs on ``device`` (its ``enrol``), and the codes it names that
    no department has."""
    if device.enrol == "all":
        return (lambda _person: True), []
    codes = () if device.enrol == "none" else device.enrol
    found, unknown = departments_below(codes, roster.parents)
    return (lambda person: person.department_code in found), unknown


def _run(
    site: Site,
    names: Sequence[str] | None,
    *,
    apply: bool,
    actor: Actor,
    remove_unknown: bool,
    include_admins: bool,
    today: date | None,
    wait: float,
) -> EnrolmentRun:
    s = site.settings
    devices = enrol_devices(s, names)
    on = today if today is not None else site.today()
    roster = _roster(site, on)
    outcomes: list[DeviceEnrolment] = []
    for device in devices:
        if device.enrol == "none":
            outcomes.append(
                DeviceEnrolment(
                    device.name, skipped='enrol = "none" in its [[devices]] entry: left alone'
                )
            )
            continue
        wanted, unknown = _wanted(device, roster)
        try:
            outcome = enrol_device(
                site.engine,
                device,
                roster.people,
                on=on,
                wanted=wanted,
                apply=apply,
                actor=actor.name,
                lock_dir=lock_dir(s),
                remove_unknown=remove_unknown,
                include_admins=include_admins,
                wait=wait,
            )
        except SQLAlchemyError as exc:
            raise DatabaseFailed(s.db_url, exc) from None
        outcome.unknown_departments = unknown
        outcomes.append(outcome)
    return EnrolmentRun(on, apply, outcomes)


def enrol_plan(
    site: Site,
    devices: Sequence[str] | None = None,
    *,
    remove_unknown: bool = False,
    include_admins: bool = False,
    today: date | None = None,
    wait: float = 0.0,
) -> EnrolmentRun:
    """What ``enrol_apply`` would change on each clock as of site date ``today`` (default:
    the site's today). Reads the clocks (under their lease), changes nothing."""
    return _run(
        site,
        devices,
        apply=False,
        actor=Actor("punchd"),
        remove_unknown=remove_unknown,
        include_admins=include_admins,
        today=today,
        wait=wait,
    )


def enrol_apply(
    site: Site,
    devices: Sequence[str] | None = None,
    *,
    actor: Actor,
    remove_unknown: bool = False,
    include_admins: bool = False,
    today: date | None = None,
    wait: float = 0.0,
) -> EnrolmentRun:
    """Carry out each clock's plan, device by device, audited as ``actor``'s. A second run
    with nothing changed in between does nothing."""
    return _run(
        site,
        devices,
        apply=True,
        actor=actor,
        remove_unknown=remove_unknown,
        include_admins=include_admins,
        today=today,
        wait=wait,
    )
