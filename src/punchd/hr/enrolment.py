"""Who should be on a clock, against who is on it: the enrolment plan (pure).

Plain data in, plain data out: the roster (employees with their enrol number, name,
department, hire and separation dates and the card they hold), the clock's users and the
site-local date give what to add, update (name, card, privilege) and remove. No database,
no device: ``collector.enrol`` reads both sides and carries the plan out.

The rules, each for a reason:

* a person is on a clock from their hire date through their separation date (the last day
  that counts): removed from the day after, never before;
* someone the roster does not know at all is left alone unless ``remove_unknown`` (a clock
  may hold contractors or a technician nobody put in the roster);
* a user with a privilege above "user" (enroller, manager, admin) is left alone unless
  ``include_admins``: taking the last admin off a clock locks everyone out of its menu;
* a future hire already on the clock is left alone until the hire date (HR often enrols
  fingerprints at the gate before the first day).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

from punchd.drivers.records import DeviceUser

#: The privilege punchd enrols people with: an ordinary user (ZK 0).
USER_PRIVILEGE = 0

ChangeKind = Literal["add", "update", "remove"]


@dataclass(frozen=True, slots=True)
class RosterPerson:
    """An employee as enrolment sees them."""

    employee_no: str
    enroll_no: str
    name: str
    department_code: str
    hire_date: date
    separation_date: date | None = None
    #: the card the clock should hold for them (None: no card)
    card: str | None = None


@dataclass(frozen=True, slots=True)
class Change:
    """One person's change on one clock."""

    kind: ChangeKind
    enroll_no: str
    #: None: a user the roster does not know
    employee_no: str | None
    #: what the clock should hold (add, update) or holds (remove)
    name: str
    card: str | None
    privilege: int
    #: the clock's user before the change (None for an add)
    before: DeviceUser | None = None
    #: for an update: which of name, card, privilege differ
    fields: tuple[str, ...] = ()
    #: why, in a few words ("new", "left on 2026-03-31" …)
    reason: str = ""

    def user(self) -> DeviceUser:
        """The user to write (add, update)."""
        return DeviceUser(self.enroll_no, self.name, self.card, self.privilege)


@dataclass(frozen=True, slots=True)
class Kept:
    """A user the plan leaves alone on purpose, and why."""

    enroll_no: str
    name: str
    reason: str


@dataclass
class EnrolmentPlan:
    adds: list[Change] = field(default_factory=list)
    updates: list[Change] = field(default_factory=list)
    removes: list[Change] = field(default_factory=list)
    #: admins, future hires … left alone (users unknown to the roster are only counted)
    kept: list[Kept] = field(default_factory=list)
    #: users the roster does not know, left on the clock (no ``remove_unknown``)
    unknown_kept: int = 0
    #: people who should be on the clock and are, unchanged
    unchanged: int = 0

    @property
    def changes(self) -> list[Change]:
        """In the order they are carried out: removals first (they free room on a full
        clock), then updates, then additions."""
        return [*self.removes, *self.updates, *self.adds]

    @property
    def empty(self) -> bool:
        return not (self.adds or self.updates or self.removes)


def _same_card(a: str | None, b: str | None) -> bool:
    def norm(card: str | None) -> str:
        card = (card or "").strip()
        return str(int(card)) if card.isdigit() else card

    return (norm(a) in ("", "0") and norm(b) in ("", "0")) or norm(a) == norm(b)


def plan_enrolment(
    roster: Iterable[RosterPerson],
    clock: Sequence[DeviceUser],
    *,
    on: date,
    wanted: Callable[[RosterPerson], bool] = lambda _person: True,
    remove_unknown: bool = False,
    include_admins: bool = False,
    fit_name: Callable[[str], str] = lambda name: name,
) -> EnrolmentPlan:
    """What to change so the clock holds the roster as of site date ``on``.

    ``wanted``: whether a person belongs on this clock at all (its departments);
    ``fit_name``: a name as the clock would keep it (cut to its field), so a long name
    is not planned as a change on every run.
    """
    people = {p.enroll_no: p for p in roster}
    on_clock = {u.enroll_no: u for u in clock}
    plan = EnrolmentPlan()
    kept = plan.kept
    unchanged = 0

    def admin(user: DeviceUser) -> bool:
        return user.privilege != USER_PRIVILEGE and not include_admins

    for enroll_no, person in people.items():
        user = on_clock.get(enroll_no)
        hired = person.hire_date <= on
        left = person.separation_date is not None and person.separation_date < on
        belongs = wanted(person)
        name = fit_name(person.name)
        if belongs and hired and not left:
            if user is None:
                plan.adds.append(
                    Change(
                        "add",
                        enroll_no,
                        person.employee_no,
                        name,
                        person.card,
                        USER_PRIVILEGE,
                        reason="new" if person.hire_date < on else "hired today",
                    )
                )
                continue
            if admin(user):
                kept.append(Kept(enroll_no, user.name, "admin or enroller on the clock"))
                continue
            differ = tuple(
                what
                for what, same in (
                    ("name", user.name == name),
                    ("card", _same_card(user.card, person.card)),
                    ("privilege", user.privilege == USER_PRIVILEGE),
                )
                if not same
            )
            if differ:
                plan.updates.append(
                    Change(
                        "update",
                        enroll_no,
                        person.employee_no,
                        name,
                        person.card,
                        USER_PRIVILEGE,
                        before=user,
                        fields=differ,
                        reason="changed: " + ", ".join(differ),
                    )
                )
            else:
                unchanged += 1
            continue
        if user is None:
            continue
        if belongs and not hired:
            kept.append(Kept(enroll_no, user.name, f"starts on {person.hire_date.isoformat()}"))
            continue
        if admin(user):
            kept.append(Kept(enroll_no, user.name, "admin or enroller on the clock"))
            continue
        if left:
            assert person.separation_date is not None
            reason = f"left on {person.separation_date.isoformat()}"
        else:
            reason = "not in this clock's departments"
        plan.removes.append(_removal(user, person.employee_no, reason))

    unknown = 0
    for enroll_no, user in on_clock.items():
        if enroll_no in people:
            continue
        if remove_unknown and not admin(user):
            plan.removes.append(_removal(user, None, "unknown to the roster"))
        elif admin(user):
            kept.append(Kept(enroll_no, user.name, "admin or enroller on the clock"))
        else:
            unknown += 1
    plan.unknown_kept, plan.unchanged = unknown, unchanged
    return plan


def _removal(user: DeviceUser, employee_no: str | None, reason: str) -> Change:
    return Change(
        "remove",
        user.enroll_no,
        employee_no,
        user.name,
        user.card,
        user.privilege,
        before=user,
        reason=reason,
    )


def cards_at(rows: Iterable[tuple[str, int | None, datetime]], at: datetime) -> dict[int, str]:
    """employee id → the card a clock should hold for them at site time ``at``, from the
    card rows (card, holder or None for withdrawn, effective from): of the cards they hold
    then, the one issued last (a ZK user record holds one card)."""
    by_card: dict[str, tuple[datetime, int | None]] = {}
    for card_no, holder, effective_from in rows:
        if effective_from > at:
            continue
        newest = by_card.get(card_no)
        if newest is None or effective_from >= newest[0]:
            by_card[card_no] = (effective_from, holder)
    best: dict[int, tuple[datetime, str]] = {}
    for card_no, (since, holder) in by_card.items():
        if holder is None:
            continue
        have = best.get(holder)
        if have is None or since > have[0] or (since == have[0] and card_no < have[1]):
            best[holder] = (since, card_no)
    return {holder: card for holder, (_since, card) in best.items()}


def departments_below(
    codes: Iterable[str], parents: Mapping[str, str | None]
) -> tuple[set[str], list[str]]:
    """(the departments ``codes`` name and every one below them, the codes nobody has):
    ``parents`` maps each department code to its parent's (None: a top department)."""
    children: dict[str, list[str]] = {}
    for code, parent in parents.items():
        if parent is not None:
            children.setdefault(parent, []).append(code)
    found: set[str] = set()
    unknown: list[str] = []
    for code in codes:
        if code not in parents:
            unknown.append(code)
            continue
        stack = [code]
        while stack:
            current = stack.pop()
            if current in found:
                continue
            found.add(current)
            stack.extend(children.get(current, ()))
    return found, unknown


# --- fingerprint templates ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredTemplate:
    """One finger of a person as the database keeps it (decrypted)."""

    finger: int
    template: bytes = field(repr=False)
    #: the fingerprint algorithm version of the clock it came from (None: unknown)
    fmt: str | None
    #: the device it was learnt from
    source: str
    valid: int = 1


@dataclass(frozen=True, slots=True)
class TemplateCopy:
    """Fingers of one person to write onto a clock (or that cannot go onto it)."""

    enroll_no: str
    employee_no: str
    name: str
    fingers: tuple[int, ...]
    #: for a copy the clock cannot take: why
    reason: str = ""


@dataclass
class TemplatePlan:
    copies: list[TemplateCopy] = field(default_factory=list)
    #: fingers in a format the clock does not take: reported, not written
    incompatible: list[TemplateCopy] = field(default_factory=list)
    #: fingers on the clock already, as stored
    present: int = 0
    #: fingers on the clock that differ from the stored ones (enrolled again at that
    #: clock): left alone
    differing: int = 0

    @property
    def empty(self) -> bool:
        return not self.copies


def plan_templates(
    people: Iterable[tuple[RosterPerson, DeviceUser]],
    stored: Mapping[str, Mapping[int, StoredTemplate]],
    on_clock: Mapping[str, Mapping[int, bytes]],
    clock_format: str | None,
) -> TemplatePlan:
    """Which stored fingers to write onto a clock: of ``people`` (each who belongs on the
    clock, with their user there), the fingers the database holds and the clock does not.
    A finger stored in another algorithm version than the clock's is reported, not
    written; a finger the clock holds differently is left alone (never overwritten)."""
    plan = TemplatePlan()
    for person, _user in people:
        fingers = stored.get(person.enroll_no)
        if not fingers:
            continue
        have = on_clock.get(person.enroll_no, {})
        missing: list[int] = []
        wrong: list[StoredTemplate] = []
        for finger, stored_one in sorted(fingers.items()):
            if finger in have:
                if have[finger] == stored_one.template:
                    plan.present += 1
                else:
                    plan.differing += 1
                continue
            if stored_one.fmt and clock_format and stored_one.fmt != clock_format:
                wrong.append(stored_one)
            else:
                missing.append(finger)
        if missing:
            plan.copies.append(
                TemplateCopy(person.enroll_no, person.employee_no, person.name, tuple(missing))
            )
        if wrong:
            formats = ", ".join(sorted({f"{w.fmt} (from {w.source})" for w in wrong}))
            plan.incompatible.append(
                TemplateCopy(
                    person.enroll_no,
                    person.employee_no,
                    person.name,
                    tuple(w.finger for w in wrong),
                    reason=f"fingerprint templates of version {formats}: "
                    f"this clock takes version {clock_format}",
                )
            )
    return plan


def templates_to_learn(
    device: str,
    clock_format: str | None,
    on_clock: Mapping[str, Mapping[int, tuple[bytes, int]]],
    stored: Mapping[str, Mapping[int, StoredTemplate]],
    known: Iterable[str],
) -> dict[str, dict[int, StoredTemplate]]:
    """enrol number → finger → template to store, from a clock's templates: of people the
    roster knows (``known`` enrol numbers), a finger the database does not hold yet, or
    holds as learnt from this same clock and the clock now holds differently (enrolled
    again there). A different finger on another clock is left alone (no flip-flop)."""
    wanted = set(known)
    learn: dict[str, dict[int, StoredTemplate]] = {}
    for enroll_no, fingers in on_clock.items():
        if enroll_no not in wanted:
            continue
        have = stored.get(enroll_no, {})
        for finger, (template, valid) in fingers.items():
            old = have.get(finger)
            if old is not None and (old.source != device or old.template == template):
                continue
            learn.setdefault(enroll_no, {})[finger] = StoredTemplate(
                finger, template, clock_format, device, valid
            )
    return learn


def belongs_on(person: RosterPerson, on: date, wanted: Callable[[RosterPerson], bool]) -> bool:
    """Whether ``person`` should be on a clock as of site date ``on`` (hired, not gone,
    in the clock's departments): the people whose fingers the clock gets."""
    left = person.separation_date is not None and person.separation_date < on
    return person.hire_date <= on and not left and wanted(person)


def users_after(users: Iterable[DeviceUser], changes: Iterable[Change]) -> dict[str, DeviceUser]:
    """A clock's users by enrol number once ``changes`` are made (removals gone, additions
    and updates as the change writes them)."""
    after = {u.enroll_no: u for u in users}
    for change in changes:
        if change.kind == "remove":
            after.pop(change.enroll_no, None)
        else:
            after[change.enroll_no] = change.user()
    return after
