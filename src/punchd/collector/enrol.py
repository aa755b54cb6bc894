"""People on one clock: read its users, plan against the roster, carry the plan out.

Under the same local lock and database lease as a collection (one client talks to a clock
at a time), with the device disabled while users are written (as for a collection read)
and the hold fenced before the first change and every :data:`FENCE_EVERY` changes after.
A refusal for one person (clock full, command refused or unknown to the firmware, a value
the clock cannot hold) is recorded against that person and the next one is tried; a broken
conversation ends the device's run. Every change made is audited, also when the run breaks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from sqlalchemy.engine import Engine

from punchd import logs
from punchd.clock import utc_stamp
from punchd.collector.clockcheck import held_device
from punchd.collector.errors import CollectionError
from punchd.collector.lease import Hold
from punchd.drivers import DeviceConfig, Driver, DriverError
from punchd.drivers.errors import CapacityFull, CommandRefused, NotSupported
from punchd.drivers.records import DeviceUser, FingerTemplate
from punchd.hr.enrolment import (
    Change,
    EnrolmentPlan,
    RosterPerson,
    StoredTemplate,
    TemplateCopy,
    TemplatePlan,
    belongs_on,
    plan_enrolment,
    plan_templates,
    users_after,
)
from punchd.storage import audit
from punchd.storage.collection import store_users

#: changes between two confirmations of the hold by the database
FENCE_EVERY = 200
#: per-person failures a device's audit row describes in full
AUDIT_FAILURES = 20
#: drivers whose clocks are read and written live (the others are reported as not done yet)
SUPPORTED_DRIVERS = frozenset({"zk", "anviz"})
#: push drivers: planned against what the clock last reported, changed through its
#: command queue (:mod:`punchd.collector.push.enrol`)
PUSH_DRIVERS = frozenset({"adms"})


@dataclass(frozen=True, slots=True)
class Failure:
    """A change the clock did not make, and why (``kind``: capacity_full, refused,
    not_supported)."""

    change: Change
    kind: str
    message: str


@dataclass(frozen=True, slots=True)
class TemplateFailure:
    """Fingers of one person the clock did not take (``kind``: capacity_full, refused,
    not_supported)."""

    copy: TemplateCopy
    kind: str
    message: str


@dataclass
class ClockTemplates:
    """The fingerprint templates on one clock, read for learning (or why not)."""

    device: str
    fmt: str | None = None
    #: enrol number → finger → (template, valid)
    fingers: dict[str, dict[int, tuple[bytes, int]]] = field(default_factory=dict)
    error: str | None = None
    error_kind: str | None = None


@dataclass
class DeviceEnrolment:
    """One clock's plan and, for an apply, what became of it."""

    device: str
    plan: EnrolmentPlan | None = None
    done: list[Change] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    #: the device was left alone (enrol = "none", a driver without user writes)
    skipped: str | None = None
    #: the run could not go on (busy, unreachable, broken): the message and its kind
    error: str | None = None
    error_kind: str | None = None
    #: department codes of ``enrol`` that no department has
    unknown_departments: list[str] = field(default_factory=list)
    #: round trips to the device, roughly (one per command), for the bench
    commands: int = 0
    #: fingerprint templates: the plan (None: templates not handled), what was written
    templates: TemplatePlan | None = None
    templates_done: list[TemplateCopy] = field(default_factory=list)
    template_failures: list[TemplateFailure] = field(default_factory=list)
    #: a push clock: planned against what it last reported, changed by queued commands
    push: bool = False
    #: push: when the clock last reported a user (or confirmed a change), when it last
    #: called in (naive UTC; None: never)
    known_at: datetime | None = None
    last_contact: datetime | None = None
    #: push: changes (fingers) queued by this apply, and those queued before and not yet
    #: answered by the clock (not queued again); ``failures`` / ``template_failures`` are
    #: then the clock's last answers that refused a change still planned
    queued: list[Change] = field(default_factory=list)
    pending: list[Change] = field(default_factory=list)
    templates_queued: list[TemplateCopy] = field(default_factory=list)
    templates_pending: list[TemplateCopy] = field(default_factory=list)


def enrol_device(
    engine: Engine,
    device: DeviceConfig,
    roster: Sequence[RosterPerson],
    *,
    on: date,
    wanted: Callable[[RosterPerson], bool],
    apply: bool,
    actor: str,
    lock_dir: Path,
    remove_unknown: bool = False,
    include_admins: bool = False,
    wait: float = 0.0,
    stored: Mapping[str, Mapping[int, StoredTemplate]] | None = None,
) -> DeviceEnrolment:
    """Plan (and with ``apply`` carry out) ``device``'s enrolment as of site date ``on``.
    ``stored``: enrol number → finger → template from the database; the fingers of people
    on the clock it lacks are written after the user changes (None: templates untouched).
    Never raises for the device or its lease: the outcome says what happened."""
    outcome = DeviceEnrolment(device.name)
    if device.driver not in SUPPORTED_DRIVERS:
        outcome.skipped = f"enrolment on {device.driver} clocks is not done yet"
        return outcome
    purpose = "enrol" if apply else "enrol-plan"
    try:
        with held_device(engine, device, lock_dir, purpose=purpose, wait=wait) as (
            _device_id,
            driver,
            hold,
        ):
            clock = driver.users()
            outcome.commands += 3  # free sizes, prepare, read
            on_clock: dict[str, dict[int, bytes]] = {}
            clock_format: str | None = None
            if stored is not None:
                clock_format = driver.template_format()
                for t in driver.templates():
                    on_clock.setdefault(t.enroll_no, {})[t.finger] = t.template
                outcome.commands += 4  # option, free sizes, prepare, read
            outcome.plan = plan = plan_enrolment(
                roster,
                clock,
                on=on,
                wanted=wanted,
                remove_unknown=remove_unknown,
                include_admins=include_admins,
                fit_name=driver.fit_name,
            )

            def template_plan(changes: Sequence[Change]) -> TemplatePlan | None:
                if stored is None:
                    return None
                users = users_after(clock, changes)
                people = [
                    (person, users[person.enroll_no])
                    for person in roster
                    if person.enroll_no in users and belongs_on(person, on, wanted)
                ]
                return plan_templates(people, stored, on_clock, clock_format)

            outcome.templates = template_plan(plan.changes)
            copying = outcome.templates is not None and not outcome.templates.empty
            if not apply or (plan.empty and not copying):
                if apply and outcome.templates is not None:  # said on every run
                    outcome.template_failures.extend(
                        TemplateFailure(c, "not_supported", c.reason)
                        for c in outcome.templates.incompatible
                    )
                return outcome
            hold.fence()  # LeaseLost: another collector has the device now; change nothing
            try:
                with driver.hold():
                    _carry_out(plan.changes, driver, hold, outcome)
                    now_on = users_after(clock, outcome.done)
                    if stored is not None:
                        outcome.templates = template_plan(outcome.done)
                        _copy_templates(outcome, now_on, stored, driver, hold)
                    driver.users_written()
                    outcome.commands += 3  # disable, refresh, enable
                # the clock's users as they are now, for the console (att_device_user)
                with engine.begin() as conn:
                    store_users(conn, _device_id, list(now_on.values()), seen_at=utc_stamp())
            finally:
                _audit(engine, device.name, actor, outcome)
    except (DriverError, CollectionError) as exc:
        outcome.error = logs.scrub(str(exc))
        outcome.error_kind = exc.reason
    return outcome


def _copy_templates(
    outcome: DeviceEnrolment,
    users: Mapping[str, DeviceUser],
    stored: Mapping[str, Mapping[int, StoredTemplate]],
    driver: Driver,
    hold: Hold,
) -> None:
    """Write each person's missing fingers (one upload per person: a refusal is theirs)."""
    plan = outcome.templates
    if plan is None:
        return
    for copy in plan.incompatible:
        outcome.template_failures.append(TemplateFailure(copy, "not_supported", copy.reason))
    for index, copy in enumerate(plan.copies):
        if index and index % FENCE_EVERY == 0:
            hold.fence()
        else:
            hold.check()
        fingers = [
            FingerTemplate(
                copy.enroll_no,
                f,
                stored[copy.enroll_no][f].template,
                stored[copy.enroll_no][f].valid,
            )
            for f in copy.fingers
        ]
        upload = 12 + 73 + sum(10 + len(f.template) for f in fingers)
        outcome.commands += 3 + -(-upload // 1024)  # free, prepare, data packets, save
        try:
            driver.write_templates(users[copy.enroll_no], fingers)
        except (CapacityFull, CommandRefused, NotSupported) as exc:
            outcome.template_failures.append(
                TemplateFailure(copy, exc.reason, logs.scrub(str(exc)))
            )
            continue
        outcome.templates_done.append(copy)


def read_clock_templates(
    engine: Engine, device: DeviceConfig, *, lock_dir: Path, wait: float = 0.0
) -> ClockTemplates:
    """The fingerprint templates on ``device`` (and its algorithm version), read under its
    lease, to learn the ones the database lacks. Never raises for the device."""
    found = ClockTemplates(device.name)
    try:
        with held_device(engine, device, lock_dir, purpose="enrol-plan", wait=wait) as (
            _device_id,
            driver,
            _hold,
        ):
            driver.users()
            found.fmt = driver.template_format()
            for t in driver.templates():
                found.fingers.setdefault(t.enroll_no, {})[t.finger] = (t.template, t.valid)
    except (DriverError, CollectionError) as exc:
        found.error = logs.scrub(str(exc))
        found.error_kind = exc.reason
    return found


def _carry_out(
    changes: Sequence[Change], driver: Driver, hold: Hold, outcome: DeviceEnrolment
) -> None:
    for index, change in enumerate(changes):
        if index and index % FENCE_EVERY == 0:
            hold.fence()
        else:
            hold.check()
        try:
            if change.kind == "remove":
                driver.delete_user(change.enroll_no)
            else:
                driver.write_user(change.user())
        except (CapacityFull, CommandRefused, NotSupported) as exc:
            outcome.commands += 1
            outcome.failures.append(Failure(change, exc.reason, logs.scrub(str(exc))))
            continue
        outcome.commands += 1
        outcome.done.append(change)


def _audit(engine: Engine, device: str, actor: str, outcome: DeviceEnrolment) -> None:
    """One row per change made (``enrol-add`` / ``enrol-update`` / ``enrol-remove``, entity
    ``clock-user``, key ``device:enrol no``) and one for the device's run."""
    counts = {"add": 0, "update": 0, "remove": 0}
    try:
        with engine.begin() as conn:
            for change in outcome.done:
                counts[change.kind] += 1
                detail: dict[str, object] = {
                    "employee_no": change.employee_no,
                    "name": change.name,
                    "card": change.card,
                    "privilege": change.privilege,
                    "reason": change.reason,
                }
                if change.before is not None and change.kind == "update":
                    detail["before"] = {
                        "name": change.before.name,
                        "card": change.before.card,
                        "privilege": change.before.privilege,
                    }
                audit.record(
                    conn,
                    actor,
                    f"enrol-{change.kind}",
                    "clock-user",
                    f"{device}:{change.enroll_no}",
                    detail,
                )
            for copy in outcome.templates_done:  # which fingers, never the templates
                audit.record(
                    conn,
                    actor,
                    "enrol-template",
                    "clock-user",
                    f"{device}:{copy.enroll_no}",
                    {"employee_no": copy.employee_no, "fingers": list(copy.fingers)},
                )
            audit.record(
                conn,
                actor,
                "enrol-apply",
                "device",
                device,
                {
                    "added": counts["add"],
                    "updated": counts["update"],
                    "removed": counts["remove"],
                    "failed": len(outcome.failures),
                    "failures": [
                        {"enroll_no": f.change.enroll_no, "kind": f.kind}
                        for f in outcome.failures[:AUDIT_FAILURES]
                    ],
                    "templates_copied": len(outcome.templates_done),
                    "templates_failed": [
                        {"enroll_no": f.copy.enroll_no, "kind": f.kind}
                        for f in outcome.template_failures[:AUDIT_FAILURES]
                    ],
                },
            )
    except Exception as exc:  # the device has changed either way: say so, do not hide it
        logs.get_logger(device=device).error(
            "enrolment changes made but not audited", error=logs.scrub(str(exc)), **counts
        )
        raise
