"""Self-service: an employee's own month (days, punches, exceptions), signing in and out for
work in the console (签到 / 签退: punches of source ``web``), and HR's switch that allows
it — each within the caller's :class:`~punchd.app.access.Scope`.

A web punch is stored only when all of these hold, checked here on the server:

* the account is an employee's (``self.punch``) linked to an employee record;
* HR switched web punches on for that employee (``att_employee.web_punch``);
* the client's address (behind the site's trusted proxies: the console works it out) lies
  in ``[web] self_punch_networks`` — empty: nobody;
* no web punch of the same kind was stored for them in the last :data:`REPEAT_SECONDS`
  (a double click, a form sent twice): the second request gets the first punch back.

Its time is the server's clock, never one the client sends; it is queued for processing
like a collected punch.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Final

from punchd.app import results
from punchd.app.access import NotFound, Scope
from punchd.app.site import Actor, Site
from punchd.clock import to_site
from punchd.errors import InvalidInput, PunchdError
from punchd.processing import requeue
from punchd.processing.reach import reached_dates, runs
from punchd.proxies import networks
from punchd.storage import hr as hr_store
from punchd.storage import webpunch as store

#: 签到 / 签退: the states a web punch may have
WEB_STATES: Final = ("in", "out")
#: a second web punch of the same kind within this many seconds is the first one again
REPEAT_SECONDS: Final = 60
#: the queue reason (and "arrived after close" reason) of a web punch
QUEUE_REASON: Final = "web"


class PunchRefused(PunchdError):
    """A web punch that may not be stored: ``reason`` is ``not_enabled`` (HR did not allow
    it for this employee) or ``network`` (the client's address is outside the allowed
    networks)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(
            "web punches are not enabled for you"
            if reason == "not_enabled"
            else "web punches are not allowed from this network"
        )


@dataclass(frozen=True)
class WebPunch:
    id: int
    punched_at: datetime  # the site's wall clock
    state: str
    void: bool
    account: str | None
    address: str | None


@dataclass(frozen=True)
class PunchOptions:
    """Whether the employee's page offers 签到 / 签退, and why not."""

    enabled: bool  # HR switched it on
    network_ok: bool  # the client's address is in an allowed network
    address: str
    #: today's web punches, newest first
    today: tuple[WebPunch, ...]

    @property
    def allowed(self) -> bool:
        return self.enabled and self.network_ok


@dataclass(frozen=True)
class PunchRecorded:
    id: int
    state: str
    punched_at: datetime  # the site's wall clock
    #: True: the same kind was stored moments ago; that one is returned, nothing new
    repeated: bool


@dataclass(frozen=True)
class MyMonth:
    month: date  # its first day
    person: results.EmployeeDays
    punch: PunchOptions | None  # None: the account may not punch on the web at all


@dataclass(frozen=True)
class Switch:
    employee_no: str
    name: str
    department_code: str
    enabled: bool


@dataclass(frozen=True)
class Switches:
    """HR's page: the departments of the scope and one department's employees."""

    departments: tuple[tuple[str, str], ...]  # (code, name) by code
    department: str | None
    employees: tuple[Switch, ...]
    networks: tuple[str, ...]


def _own(scope: Scope) -> tuple[int, str]:
    """The caller's own employee (id, number); NotFound for an account without one."""
    no = scope.account.employee_no
    if not scope.can("self.view") or scope.employee_id is None or no is None:
        raise NotFound("no employee record for this account")
    return scope.employee_id, no


def parse_month(text: str | None, *, today: date) -> date:
    """``YYYY-MM`` → its first day; None or empty: this month. InvalidInput otherwise."""
    if not text:
        return today.replace(day=1)
    try:
        year, month = (int(p) for p in text.split("-"))
        return date(year, month, 1)
    except ValueError:
        raise InvalidInput(f"not a month (YYYY-MM): {text!r}") from None


def month_end(first: date) -> date:
    return (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def network_allows(site: Site, address: str) -> bool:
    """``address`` lies in one of ``[web] self_punch_networks`` (none listed: never)."""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in net for net in networks(site.settings.web.self_punch_networks))


def _web_punches(site: Site, employee_id: int, day: date) -> tuple[WebPunch, ...]:
    with site.engine.connect() as conn:
        rows = store.web_punches_of(
            conn,
            employee_id,
            datetime.combine(day, time()),
            datetime.combine(day + timedelta(days=1), time()),
        )
    return tuple(
        WebPunch(r.id, r.punched_at, r.state, bool(r.void), r.created_by, r.client_address)
        for r in rows
    )


def punch_options(site: Site, scope: Scope, *, address: str, today: date) -> PunchOptions | None:
    """What the caller's page offers for 签到 / 签退 (None: the account may not punch)."""
    if not scope.can("self.punch") or scope.employee_id is None:
        return None
    with site.engine.connect() as conn:
        enabled = store.is_enabled(conn, scope.employee_id)
    return PunchOptions(
        enabled=enabled,
        network_ok=network_allows(site, address),
        address=address,
        today=_web_punches(site, scope.employee_id, today),
    )


def my_month(site: Site, scope: Scope, month: date | None, *, address: str, today: date) -> MyMonth:
    """The caller's own days, punches and exceptions of ``month`` (default: this month),
    and their 签到 / 签退 options. NotFound for an account without an employee."""
    _, no = _own(scope)
    first = (month or today).replace(day=1)
    person = results.employee_days(site, scope, no, first, month_end(first), today=today)
    return MyMonth(first, person, punch_options(site, scope, address=address, today=today))


def web_punch(
    site: Site, scope: Scope, state: str, *, address: str, now: datetime
) -> PunchRecorded:
    """Store a web punch (``state`` ``in`` or ``out``) for the caller at ``now`` (naive UTC,
    the server's clock) from ``address``. NotFound for an account that may not punch;
    :class:`PunchRefused` when HR did not enable it or the network is not allowed."""
    if not scope.can("self.punch"):
        raise NotFound("no employee record for this account")
    employee_id, no = _own(scope)
    if state not in WEB_STATES:
        raise InvalidInput(f"a web punch is one of {', '.join(WEB_STATES)}")
    if not network_allows(site, address):
        raise PunchRefused("network")
    at_utc = now.replace(microsecond=0, tzinfo=None)
    local = to_site(at_utc, site.settings.timezone)
    assert local is not None
    with site.transaction() as conn:
        # the lock first: of two requests at once, the second waits and sees the first punch
        if not store.lock_enabled(conn, employee_id):
            raise PunchRefused("not_enabled")
        before = store.recent_web_punch(
            conn, employee_id, state, at_utc - timedelta(seconds=REPEAT_SECONDS)
        )
        if before is not None:
            return PunchRecorded(before.id, state, before.punched_at, repeated=True)
        found = hr_store.find_employee(conn, no)
        if found is None or found["id"] != employee_id:
            raise NotFound("no employee record for this account")
        punch_id = store.add_web_punch(
            conn,
            employee_id=employee_id,
            enroll_no=found["enroll_no"] or "",
            punched_at=local,
            punched_at_utc=at_utc,
            state=state,
            account=scope.account.name,
            address=address,
            detail={
                "employee_no": no,
                "punched_at": local,
                "state": state,
                "source": store.SOURCE,
                "address": address,
            },
        )
        # like a collected punch: every work date its windows can reach, processed or not
        dates = reached_dates(requeue.punch_reach(conn, local, local), local, local)
        for d_from, d_to in runs(dates):
            requeue.enqueue(
                conn,
                employee_id=employee_id,
                date_from=d_from,
                date_to=d_to,
                reason=QUEUE_REASON,
            )
    return PunchRecorded(punch_id, state, local, repeated=False)


# ------------------------------------------------------------------------- HR's switch


def _hr(scope: Scope) -> None:
    if not scope.can("hr.change"):
        raise NotFound("no such page")


def switches(site: Site, scope: Scope, department: str | None, *, today: date) -> Switches:
    """The departments HR sees and, for ``department`` (default: the first of them), its
    current employees with their web-punch switch. NotFound for a department outside the
    scope, exactly as for an unknown one."""
    _hr(scope)
    with site.engine.connect() as conn:
        seen = sorted(
            (d for d in hr_store.departments(conn) if scope.sees_department(d["id"])),
            key=lambda d: d["code"],
        )
        chosen = None
        if department:
            chosen = next((d for d in seen if d["code"] == department), None)
            if chosen is None:
                raise NotFound(f"no department {department!r}")
        elif seen:
            chosen = seen[0]
        rows = (
            store.employees_with_switch(conn, [chosen["id"]], employed_on=today)
            if chosen is not None
            else []
        )
    return Switches(
        departments=tuple((d["code"], d["name"]) for d in seen),
        department=chosen["code"] if chosen is not None else None,
        employees=tuple(
            Switch(r.employee_no, r.name, r.department_code, bool(r.web_punch)) for r in rows
        ),
        networks=tuple(site.settings.web.self_punch_networks),
    )


def set_switch(site: Site, scope: Scope, employee_no: str, enabled: bool, *, actor: Actor) -> str:
    """Allow (or stop) web punches for an employee in the scope, audited; the employee's
    department code. NotFound for an employee outside the scope, as for an unknown one.
    Setting what already is changes nothing."""
    _hr(scope)
    with site.transaction() as conn:
        found = hr_store.find_employee(conn, employee_no)
        if found is None or not scope.sees_department(found["department_id"]):
            raise NotFound(f"no employee {employee_no!r}")
        store.set_enabled(conn, found["id"], enabled, actor=actor.name)
    return str(found["department_code"])


__all__ = [
    "QUEUE_REASON",
    "REPEAT_SECONDS",
    "WEB_STATES",
    "MyMonth",
    "PunchOptions",
    "PunchRecorded",
    "PunchRefused",
    "Switch",
    "Switches",
    "WebPunch",
    "month_end",
    "my_month",
    "network_allows",
    "parse_month",
    "punch_options",
    "set_switch",
    "switches",
    "web_punch",
]
