"""People on a push (ADMS) clock: planned against what the clock last reported, carried out
through its command queue.

A push clock is never read live: its users are the att_device_user rows it reported
(OPERLOG ``USER`` lines) or confirmed (a ``DATA UPDATE USERINFO`` / ``DATA DELETE USERINFO``
answered 0), and its fingers those it reported (``FP`` lines, learnt into
att_finger_template as coming from it) or took (a ``DATA UPDATE FINGERTMP`` answered 0, not
undone by a later deletion of the user). The plan is the same as a ZK clock's
(:func:`punchd.hr.enrolment.plan_enrolment`, :func:`~punchd.hr.enrolment.plan_templates`).

An apply queues one command per change, users first (removals, updates, additions), then
fingers, each audited like a ZK change, in one transaction. A change whose very command is
queued and unanswered is *pending*, never queued twice; one the clock refused (capacity,
unsupported, busy …) is reported per person and queued again by the next apply. A queued
FINGERTMP holds no template (``TMP=@stored``): the receiver puts the stored one in when it
sends it.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy.engine import Connection, Engine

from punchd.clock import utcnow
from punchd.collector.enrol import DeviceEnrolment, Failure, TemplateFailure
from punchd.collector.push import DRIVER
from punchd.collector.push.service import push_address, serial_of
from punchd.drivers import DeviceConfig
from punchd.drivers.adms import protocol
from punchd.drivers.records import DeviceUser
from punchd.hr.enrolment import (
    Change,
    RosterPerson,
    StoredTemplate,
    TemplateCopy,
    belongs_on,
    plan_enrolment,
    plan_templates,
    users_after,
)
from punchd.storage import audit
from punchd.storage import collection as store
from punchd.storage import push as push_store
from punchd.storage import templates as template_store

__all__ = ["bio_name", "change_command", "enrol_push_device"]

#: what a refusing ``Return=`` means, as a Failure's kind
_KINDS = {
    protocol.CAPACITY_FULL: "capacity_full",
    -1002: "not_supported",
    -1005: "busy",
    -1003: "timeout",
}


def change_command(change: Change) -> str:
    """The command that carries ``change`` out on a push clock."""
    if change.kind == "remove":
        return protocol.delete_user_command(change.enroll_no)
    return protocol.userinfo_command(change.enroll_no, change.name, change.privilege, change.card)


def _refusal(code: int | None) -> tuple[str, str]:
    if code is None:
        return "refused", "not sent to the clock"
    meaning = protocol.RETURN_CODES.get(code, "refused")
    return _KINDS.get(code, "refused"), f"the clock answered {code} ({meaning})"


@dataclass
class _Queue:
    """What the device's enrolment commands say, oldest first folded in."""

    #: enrol number → texts of unanswered USERINFO commands
    open_users: dict[str, set[str]] = field(default_factory=dict)
    #: enrol number → (text, Return) of the last answered USERINFO command
    last_user: dict[str, tuple[str, int | None]] = field(default_factory=dict)
    #: (enrol number, finger) of unanswered FINGERTMP commands
    open_fingers: set[tuple[str, int]] = field(default_factory=set)
    #: (enrol number, finger) → Return of the last answered FINGERTMP (0: on the clock)
    last_finger: dict[tuple[str, int], int | None] = field(default_factory=dict)
    #: (enrol number, type, no, index) of unanswered BIODATA commands, and the Return of
    #: the last answered one (0: on the clock)
    open_bio: set[tuple[str, int, int, int]] = field(default_factory=set)
    last_bio: dict[tuple[str, int, int, int], int | None] = field(default_factory=dict)


def _fold(commands: Sequence[Mapping]) -> _Queue:
    q = _Queue()
    for c in commands:
        verb, pairs = protocol.command_pairs(c["command"])
        pin = pairs.get("pin", "")
        answered = c["answered_at"] is not None
        code = c["return_code"]
        if verb == "DATA UPDATE BIODATA":
            numbers = [pairs.get(k, "") for k in ("type", "no", "index")]
            if not all(n.isdigit() for n in numbers):
                continue
            place = (pin, int(numbers[0]), int(numbers[1]), int(numbers[2]))
            if answered:
                q.open_bio.discard(place)
                q.last_bio[place] = code
            else:
                q.open_bio.add(place)
            continue
        if verb == "DATA UPDATE FINGERTMP":
            fid = pairs.get("fid", "")
            if not fid.isdigit():
                continue
            key = (pin, int(fid))
            if answered:
                q.open_fingers.discard(key)
                q.last_finger[key] = code
            else:
                q.open_fingers.add(key)
            continue
        text = c["command"]
        if answered:
            q.open_users.get(pin, set()).discard(text)
            q.last_user[pin] = (text, code)
            if verb == "DATA DELETE USERINFO" and code in (0, protocol.PIN_NOT_ON_DEVICE):
                for key in [k for k in q.last_finger if k[0] == pin]:
                    del q.last_finger[key]  # its fingers went with it
                for place in [k for k in q.last_bio if k[0] == pin]:
                    del q.last_bio[place]  # and its faces
        else:
            q.open_users.setdefault(pin, set()).add(text)
    return q


def enrol_push_device(
    engine: Engine,
    device: DeviceConfig,
    roster: Sequence[RosterPerson],
    *,
    on: date,
    wanted: Callable[[RosterPerson], bool],
    apply: bool,
    actor: str,
    remove_unknown: bool = False,
    include_admins: bool = False,
    stored: Mapping[str, Mapping[int, StoredTemplate]] | None = None,
    now: Callable[[], datetime] = utcnow,
) -> DeviceEnrolment:
    """Plan (and with ``apply`` queue) the push clock ``device``'s enrolment as of site date
    ``on``; ``stored`` as for :func:`punchd.collector.enrol.enrol_device`. Database errors
    propagate (the caller reports them)."""
    outcome = DeviceEnrolment(device.name, push=True)
    with engine.begin() as conn:
        device_id = store.upsert_device(
            conn,
            name=device.name,
            driver=DRIVER,
            address=push_address(serial_of(device) or ""),
            user_code=getattr(device, "user_code", "enroll"),
        )
        users, outcome.known_at = push_store.clock_users(conn, device_id)
        outcome.last_contact = push_store.last_seen(conn).get(device.name, (None, None))[0]
        queue = _fold(push_store.enrol_commands(conn, device_id))
        outcome.plan = plan = plan_enrolment(
            roster,
            users,
            on=on,
            wanted=wanted,
            remove_unknown=remove_unknown,
            include_admins=include_admins,
        )
        to_queue: list[tuple[Change, str]] = []
        for change in plan.changes:
            text = protocol.check_command(change_command(change))
            last = queue.last_user.get(change.enroll_no)
            if last is not None and last[0] == text and last[1] != 0:
                kind, message = _refusal(last[1])
                outcome.failures.append(Failure(change, kind, message))
            if text in queue.open_users.get(change.enroll_no, set()):
                outcome.pending.append(change)
            else:
                to_queue.append((change, text))
        copies = _template_copies(outcome, users, roster, on, wanted, stored, queue, device.name)
        faces = _bio_copies(conn, device_id, outcome, users, roster, on, wanted, stored, queue)
        if apply and (to_queue or copies):
            _queue(conn, device_id, device.name, actor, now(), to_queue, copies, stored, outcome)
        if apply and faces:
            _queue_bio(conn, device_id, device.name, actor, now(), faces, outcome)
    return outcome


def bio_name(bio_type: int) -> str:
    """What a BIODATA type is, for people ("face", "palm" …)."""
    return protocol.BIODATA_TYPES.get(bio_type, f"biometric type {bio_type}")


def _after(users: Sequence[DeviceUser], outcome: DeviceEnrolment) -> set[str]:
    """The enrol numbers on the clock once the plan's changes are carried out."""
    return set(users_after(users, outcome.plan.changes if outcome.plan is not None else ()))


def _bio_copies(
    conn: Connection,
    device_id: int,
    outcome: DeviceEnrolment,
    users: Sequence[DeviceUser],
    roster: Sequence[RosterPerson],
    on: date,
    wanted: Callable[[RosterPerson], bool],
    stored: Mapping[str, Mapping[int, StoredTemplate]] | None,
    queue: _Queue,
) -> list[tuple[TemplateCopy, list[template_store.BioRow]]]:
    """The faces, palms … (stored BIODATA templates) to queue for the people who should be
    on the clock: a template learnt from another clock and not confirmed on this one, of
    the algorithm major version this clock reported for its type. Another version (or none
    reported) is reported per person as not_supported; one queued and unanswered is
    pending. Planned from the stored templates' metadata: nothing is opened here. Only when
    templates travel at all (``stored`` given: a template key is set)."""
    if stored is None or outcome.plan is None:
        return []
    after = _after(users, outcome)
    people = [p for p in roster if p.enroll_no in after and belongs_on(p, on, wanted)]
    ids = template_store.employee_ids(conn)
    bio = template_store.bio_of(conn, [ids[p.enroll_no] for p in people if p.enroll_no in ids])
    if not bio:
        return []
    versions = push_store.bio_versions(conn, device_id)
    device = outcome.device[:64]
    copies: list[tuple[TemplateCopy, list[template_store.BioRow]]] = []
    for person in people:
        rows = bio.get(ids.get(person.enroll_no, -1), {})
        fresh: list[template_store.BioRow] = []
        waiting: list[template_store.BioRow] = []
        other: list[str] = []
        refused: list[int | None] = []
        for key, row in sorted(rows.items()):
            place = (person.enroll_no, *key)
            if row.source_device == device or queue.last_bio.get(place) == 0:
                continue  # on the clock: learnt from it, or it took the copy
            have = versions.get(row.bio_type)
            if have != row.major_ver:
                clock = f"version {have}" if have else "no version"
                other.append(
                    f"{bio_name(row.bio_type)} of algorithm version {row.major_ver}: "
                    f"the clock reported {clock} for it"
                )
            elif place in queue.open_bio:
                waiting.append(row)
            else:
                fresh.append(row)
                if queue.last_bio.get(place, 0) != 0:
                    refused.append(queue.last_bio[place])

        def copy(
            rows: Sequence[template_store.BioRow], why: str = "", person: RosterPerson = person
        ) -> TemplateCopy:
            kinds = ", ".join(dict.fromkeys(bio_name(r.bio_type) for r in rows))
            return TemplateCopy(person.enroll_no, person.employee_no, person.name, (), why or kinds)

        if other:
            outcome.template_failures.append(
                TemplateFailure(copy((), "; ".join(other)), "not_supported", "; ".join(other))
            )
        if waiting:
            outcome.templates_pending.append(copy(waiting))
        if fresh:
            if refused:
                kind, message = _refusal(refused[0])
                outcome.template_failures.append(TemplateFailure(copy(fresh), kind, message))
            if outcome.templates is not None:
                outcome.templates.copies.append(copy(fresh))
            copies.append((copy(fresh), fresh))
    return copies


def _queue_bio(
    conn: Connection,
    device_id: int,
    device: str,
    actor: str,
    at: datetime,
    copies: Sequence[tuple[TemplateCopy, Sequence[template_store.BioRow]]],
    outcome: DeviceEnrolment,
) -> None:
    """Queue one ``DATA UPDATE BIODATA`` per template, ``Tmp=@stored`` (the receiver puts
    the template in when it sends it), each person audited, in the caller's transaction."""
    for copy, rows in copies:
        ids = []
        for row in rows:
            text = protocol.biodata_command(
                copy.enroll_no,
                bio_type=row.bio_type,
                no=row.no,
                index=row.index,
                valid=row.valid,
                duress=row.duress,
                major_ver=row.major_ver,
                minor_ver=row.minor_ver,
                fmt=row.format,
                tmp=protocol.STORED_TEMPLATE,
            )
            ids.append(push_store.queue_command(conn, device_id, text, created_by=actor, at=at))
        outcome.templates_queued.append(copy)
        audit.record(  # which kinds, never the templates
            conn,
            actor,
            "enrol-bio-template",
            "clock-user",
            f"{device}:{copy.enroll_no}",
            {
                "employee_no": copy.employee_no,
                "types": sorted({r.bio_type for r in rows}),
                "queued": ids,
            },
        )


def _template_copies(
    outcome: DeviceEnrolment,
    users: Sequence[DeviceUser],
    roster: Sequence[RosterPerson],
    on: date,
    wanted: Callable[[RosterPerson], bool],
    stored: Mapping[str, Mapping[int, StoredTemplate]] | None,
    queue: _Queue,
    device: str,
) -> list[TemplateCopy]:
    """The fingers to queue; ``outcome.templates`` the whole plan (pending ones included)."""
    if stored is None or outcome.plan is None:
        return []
    after = users_after(users, outcome.plan.changes)
    on_clock: dict[str, dict[int, bytes]] = {}
    for enroll_no, fingers in stored.items():
        if enroll_no not in after:
            continue
        for finger, t in fingers.items():
            if t.source == device or queue.last_finger.get((enroll_no, finger)) == 0:
                on_clock.setdefault(enroll_no, {})[finger] = t.template
    people = [
        (p, after[p.enroll_no])
        for p in roster
        if p.enroll_no in after and belongs_on(p, on, wanted)
    ]
    outcome.templates = plan = plan_templates(people, stored, on_clock, None)
    copies: list[TemplateCopy] = []
    for copy in plan.copies:
        waiting = tuple(f for f in copy.fingers if (copy.enroll_no, f) in queue.open_fingers)
        fresh = tuple(f for f in copy.fingers if f not in waiting)
        if waiting:
            outcome.templates_pending.append(_with_fingers(copy, waiting))
        if fresh:
            copies.append(_with_fingers(copy, fresh))
        refused = [
            (f, queue.last_finger[(copy.enroll_no, f)])
            for f in fresh
            if queue.last_finger.get((copy.enroll_no, f), 0) != 0
        ]
        if refused:
            kind, message = _refusal(refused[0][1])
            outcome.template_failures.append(
                TemplateFailure(_with_fingers(copy, tuple(f for f, _ in refused)), kind, message)
            )
    for copy in plan.incompatible:
        outcome.template_failures.append(TemplateFailure(copy, "not_supported", copy.reason))
    return copies


def _with_fingers(copy: TemplateCopy, fingers: tuple[int, ...]) -> TemplateCopy:
    return TemplateCopy(copy.enroll_no, copy.employee_no, copy.name, fingers, copy.reason)


def _queue(
    conn: Connection,
    device_id: int,
    device: str,
    actor: str,
    at: datetime,
    changes: Sequence[tuple[Change, str]],
    copies: Sequence[TemplateCopy],
    stored: Mapping[str, Mapping[int, StoredTemplate]] | None,
    outcome: DeviceEnrolment,
) -> None:
    """Queue the commands (users, then fingers) and audit each, in the caller's
    transaction: queued and audited together, or neither."""
    counts = {"add": 0, "update": 0, "remove": 0}
    for change, text in changes:
        command_id = push_store.queue_command(conn, device_id, text, created_by=actor, at=at)
        counts[change.kind] += 1
        outcome.queued.append(change)
        detail: dict[str, object] = {
            "employee_no": change.employee_no,
            "name": change.name,
            "card": change.card,
            "privilege": change.privilege,
            "reason": change.reason,
            "queued": command_id,
        }
        if change.before is not None and change.kind == "update":
            detail["before"] = {
                "name": change.before.name,
                "card": change.before.card,
                "privilege": change.before.privilege,
            }
        key = f"{device}:{change.enroll_no}"
        audit.record(conn, actor, f"enrol-{change.kind}", "clock-user", key, detail)
    for copy in copies:
        assert stored is not None
        ids = []
        for finger in copy.fingers:
            t = stored[copy.enroll_no][finger]
            size = len(base64.b64encode(t.template))
            text = protocol.fingertmp_command(
                copy.enroll_no, finger, size, t.valid, protocol.STORED_TEMPLATE
            )
            ids.append(push_store.queue_command(conn, device_id, text, created_by=actor, at=at))
        outcome.templates_queued.append(copy)
        audit.record(  # which fingers, never the templates
            conn,
            actor,
            "enrol-template",
            "clock-user",
            f"{device}:{copy.enroll_no}",
            {"employee_no": copy.employee_no, "fingers": list(copy.fingers), "queued": ids},
        )
    audit.record(
        conn,
        actor,
        "enrol-apply",
        "device",
        device,
        {
            "queued_adds": counts["add"],
            "queued_updates": counts["update"],
            "queued_removes": counts["remove"],
            "pending": len(outcome.pending),
            "failed_before": [
                {"enroll_no": f.change.enroll_no, "kind": f.kind} for f in outcome.failures[:20]
            ],
            "templates_queued": len(outcome.templates_queued),
        },
    )
