"""People on the clocks as a person triggers it: ``enrol_plan`` shows, clock by clock, who
would be added, updated and removed; ``enrol_apply`` does it: pull ZK clocks read and
written live, push (ADMS) clocks planned against what they last reported and changed
through their command queue.

The roster is read once (employees with an enrol number, their department, hire and
separation dates, the card each holds at the end of the site day); each clock whose
``[[devices]] enrol`` is not "none" is then read and changed on its own, one after the
other, under its collection lease (:mod:`punchd.collector.enrol`; a push clock through its
command queue, :mod:`punchd.collector.push.enrol`). A device that fails
does not stop the others: its :class:`DeviceEnrolment` says why.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from punchd import logs
from punchd.app.collection import lock_dir
from punchd.app.site import Actor, Site
from punchd.collector.enrol import (
    PUSH_DRIVERS,
    SUPPORTED_DRIVERS,
    DeviceEnrolment,
    Failure,
    TemplateFailure,
    enrol_device,
    read_clock_templates,
)
from punchd.collector.errors import NoDevices
from punchd.collector.push.enrol import enrol_push_device
from punchd.config import Settings
from punchd.drivers import DeviceConfig
from punchd.hr.enrolment import (
    RosterPerson,
    StoredTemplate,
    cards_at,
    departments_below,
    templates_to_learn,
)
from punchd.storage import audit
from punchd.storage import hr as hr_store
from punchd.storage import templates as template_store
from punchd.storage.database import DatabaseFailed

__all__ = [
    "DeviceEnrolment",
    "EnrolmentRun",
    "Failure",
    "TemplateFailure",
    "daemon_enrolment",
    "enrol_apply",
    "enrol_devices",
    "enrol_plan",
    "new_template_key",
]


@dataclass(frozen=True)
class EnrolmentRun:
    """Every clock's plan (and outcome, when ``applied``) as of site date ``on``."""

    on: date
    applied: bool
    devices: list[DeviceEnrolment]
    #: why fingerprint templates were left out of this run (None: they were handled)
    templates_note: str | None = None
    #: device → fingers learnt from it into the database (a plan: that would be)
    templates_learnt: dict[str, int] | None = None


#: What plan and apply say when no template key is set.
NO_TEMPLATE_KEY = (
    "fingerprint templates: neither stored nor copied: no template key is set "
    "([enrolment] template_key or PUNCHD_ENROLMENT__TEMPLATE_KEY; `punchd enrol new-key` "
    "makes one)"
)


def new_template_key() -> str:
    """A fresh key for ``[enrolment] template_key``."""
    return template_store.new_key()


StoredByEnrol = dict[str, dict[int, StoredTemplate]]


def _learn_templates(
    site: Site,
    cipher: template_store.TemplateCipher,
    roster: _Roster,
    devices: Sequence[DeviceConfig],
    *,
    apply: bool,
    actor: Actor,
    wait: float,
) -> tuple[StoredByEnrol, dict[str, int]]:
    """The stored templates, with those the clocks hold and the database lacks added (and
    with ``apply`` stored, encrypted): every clock is read before any is written, so a
    finger enrolled on the last clock reaches the first in the same run."""
    s = site.settings
    try:
        with site.engine.connect() as conn:
            rows = template_store.load(conn, cipher)
            ids = template_store.employee_ids(conn)
    except SQLAlchemyError as exc:
        raise DatabaseFailed(s.db_url, exc) from None
    enrol_of = {i: enroll_no for enroll_no, i in ids.items()}
    stored: StoredByEnrol = {}
    for r in rows:
        enroll_no = enrol_of.get(r.employee_id)
        if enroll_no is not None:
            stored.setdefault(enroll_no, {})[r.finger] = StoredTemplate(
                r.finger, r.template, r.fp_version, r.source_device, r.valid
            )
    known = [p.enroll_no for p in roster.people]
    employee_no = {p.enroll_no: p.employee_no for p in roster.people}
    learnt: dict[str, int] = {}
    to_save: dict[str, tuple[str, dict[int, StoredTemplate]]] = {}
    for device in devices:
        if device.enrol == "none" or device.driver not in SUPPORTED_DRIVERS:
            continue
        try:
            found = read_clock_templates(site.engine, device, lock_dir=lock_dir(s), wait=wait)
        except SQLAlchemyError as exc:
            raise DatabaseFailed(s.db_url, exc) from None
        if found.error:
            continue  # the device's own run reports it
        learn = templates_to_learn(device.name, found.fmt, found.fingers, stored, known)
        learnt[device.name] = sum(len(f) for f in learn.values())
        for enroll_no, fingers in learn.items():
            stored.setdefault(enroll_no, {}).update(fingers)
            to_save.setdefault(enroll_no, (device.name, {}))[1].update(fingers)
    if apply and to_save:
        try:
            with site.engine.begin() as conn:
                template_store.save(
                    conn,
                    cipher,
                    {
                        ids[enroll_no]: {
                            f: (t.template, t.fmt, t.valid, t.source) for f, t in fingers.items()
                        }
                        for enroll_no, (_device, fingers) in to_save.items()
                        if enroll_no in ids
                    },
                )
                for enroll_no, (device_name, fingers) in to_save.items():
                    audit.record(  # which fingers, never the templates
                        conn,
                        actor.name,
                        "enrol-template-store",
                        "employee",
                        employee_no.get(enroll_no, enroll_no),
                        {"device": device_name, "fingers": sorted(fingers)},
                    )
        except SQLAlchemyError as exc:
            raise DatabaseFailed(s.db_url, exc) from None
    return stored, learnt


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
    key = s.enrolment.template_key
    stored: StoredByEnrol | None = None
    learnt: dict[str, int] | None = None
    if key is not None:
        cipher = template_store.TemplateCipher(key.get_secret_value())
        stored, learnt = _learn_templates(
            site, cipher, roster, devices, apply=apply, actor=actor, wait=wait
        )
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
            if device.driver in PUSH_DRIVERS:
                outcome = enrol_push_device(
                    site.engine,
                    device,
                    roster.people,
                    on=on,
                    wanted=wanted,
                    apply=apply,
                    actor=actor.name,
                    remove_unknown=remove_unknown,
                    include_admins=include_admins,
                    stored=stored,
                )
                outcome.unknown_departments = unknown
                outcomes.append(outcome)
                continue
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
                stored=stored,
            )
        except SQLAlchemyError as exc:
            raise DatabaseFailed(s.db_url, exc) from None
        outcome.unknown_departments = unknown
        outcomes.append(outcome)
    note = None if key is not None else NO_TEMPLATE_KEY
    return EnrolmentRun(on, apply, outcomes, templates_note=note, templates_learnt=learnt)


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


def daemon_enrolment(engine: Engine) -> Callable[[Settings], EnrolmentRun]:
    """What `punchd run` calls for its daily and after-roster-change enrolment: an
    ``enrol_apply`` of every clock taking part, with the settings of the moment, audited as
    "punchd run", the outcome logged (counts and failures; never a template or the key)."""
    log = logs.get_logger(component="enrolment")

    def run(settings: Settings) -> EnrolmentRun:
        done = enrol_apply(Site(settings, engine), actor=Actor("punchd run"), wait=60.0)
        for d in done.devices:
            counts = {"add": 0, "update": 0, "remove": 0}
            for change in d.done:
                counts[change.kind] += 1
            if d.error:
                log.warning(
                    "enrolment: device failed", device=d.device, reason=d.error_kind, error=d.error
                )
            elif d.queued or d.templates_queued:
                log.info(
                    "enrolment queued for a push clock",
                    device=d.device,
                    queued=len(d.queued),
                    fingers_queued=sum(len(c.fingers) for c in d.templates_queued),
                    pending=len(d.pending),
                    failed_before=len(d.failures),
                )
            elif d.done or d.failures or d.templates_done or d.template_failures:
                log.info(
                    "enrolment applied",
                    device=d.device,
                    added=counts["add"],
                    updated=counts["update"],
                    removed=counts["remove"],
                    failed=len(d.failures),
                    fingers_copied=len(d.templates_done),
                    fingers_failed=len(d.template_failures),
                )
        if done.templates_note:
            log.info("enrolment: " + done.templates_note)
        return done

    return run
