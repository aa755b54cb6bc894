"""What the pages and the API show of the clocks, gathered from :mod:`punchd.app.collection`
and worded for people (messages marked here, translated where they are shown)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from punchd import logs
from punchd.app import collection as ops
from punchd.web.i18n import N_

if TYPE_CHECKING:
    from punchd.web.console import Console
    from punchd.web.notices import NoticeLike

#: a failed run's reason (``error_kind``) in plain words
REASONS = {
    "unreachable": N_("the clock cannot be reached (network cable, power or address?)"),
    "auth_refused": N_("the clock refused the connection (wrong comm key?)"),
    "timeout": N_("the clock stopped answering"),
    "transfer_broken": N_("the transfer broke off before the end"),
    "busy": N_("the clock is busy (someone is using its menu?)"),
    "not_supported": N_("the clock cannot do this"),
    "leased": N_("another collector is using the clock right now"),
    "database": N_("the database could not be reached"),
    "cancelled": N_("stopped before it finished"),
    "error": N_("the collection failed"),
}
ROLE_NAMES = {
    "admin": N_("administrator"),
    "hr": N_("HR"),
    "leader": N_("department leader"),
    "payroll": N_("payroll"),
    "employee": N_("employee"),
}
STATUS_NAMES = {
    "present": N_("present"),
    "absent": N_("absent"),
    "leave": N_("on leave"),
    "holiday": N_("holiday"),
    "rest": N_("rest day"),
    "incomplete": N_("incomplete"),
}
DAEMON_BUSY = N_("being collected by the daemon right now")
#: purposes of a lease that are a person's doing, not the daemon's
MANUAL_PURPOSES = ("manual", "set-time")


def reason(kind: str | None) -> str:
    return REASONS.get(kind or "error", REASONS["error"])


def held_by_daemon(lease_holder: str | None, purpose: str | None) -> bool:
    return bool(lease_holder) and purpose not in MANUAL_PURPOSES


@dataclass(frozen=True)
class ClockRow:
    name: str
    driver: str
    address: str
    enabled: bool
    configured: bool
    #: ok | failing | never | disabled | collecting; push clocks: online | offline | disabled
    status: str
    consecutive_failures: int
    last_run_at: datetime | None  # site wall clock
    last_run_status: str | None
    last_success_at: datetime | None  # site wall clock
    last_failure_at: datetime | None  # site wall clock
    last_error: str | None
    #: the kind of the last failure (REASONS words it); None: none known
    last_error_kind: str | None
    punch_count: int
    last_punch_at: datetime | None  # the device's wall clock
    clock_drift_seconds: float | None
    drift_warning: bool
    next_poll_at: datetime | None  # site wall clock
    held_by_daemon: bool
    held_by_other: bool
    #: a push clock: it sends its punches itself (nothing to collect); its status is online
    #: or offline from its last contact (site wall clock)
    push: bool = False
    last_contact_at: datetime | None = None
    #: the running daemon that polls it ("host (#id)"); None: none may (or a push clock)
    owner: str | None = None

    def as_json(self) -> dict:
        return {
            "name": self.name,
            "driver": self.driver,
            "enabled": self.enabled,
            "status": self.status,
            "consecutive_failures": self.consecutive_failures,
            "last_run_at": _iso(self.last_run_at),
            "last_run_status": self.last_run_status,
            "last_success_at": _iso(self.last_success_at),
            "last_failure_at": _iso(self.last_failure_at),
            "last_error": self.last_error,
            "last_error_kind": self.last_error_kind,
            "punch_count": self.punch_count,
            "last_punch_at": _iso(self.last_punch_at),
            "clock_drift_seconds": self.clock_drift_seconds,
            "drift_warning": self.drift_warning,
            "next_poll_at": _iso(self.next_poll_at),
            "being_collected_by_daemon": self.held_by_daemon,
            "owner": self.owner,
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


@dataclass(frozen=True)
class SiteSummary:
    #: running daemons: host, id, pid, version, site, heartbeat_at (site wall clock), age
    #: (seconds, by the database server's clock), skew (host clock minus the server's, s,
    #: or None), held (how many clocks it polls); ``silent``: daemons that stopped beating
    #: without stopping (dead or stalled), alike
    daemons: list[dict]
    spool_backlog: int
    reprocess_waiting: int
    timezone: str
    #: push clocks with an unknown serial number that tried to connect (refused until added)
    pending: list[ops.PendingClock] = field(default_factory=list)
    silent: list[dict] = field(default_factory=list)

    @property
    def several(self) -> bool:
        """More than one daemon shares the database: say which one polls each clock."""
        return len(self.daemons) + len(self.silent) > 1


def _daemon(c: Console, d: dict) -> dict:
    return {
        "host": d.get("host"),
        "id": d.get("id"),
        "pid": d.get("pid"),
        "version": d.get("version"),
        "site": d.get("site"),
        "heartbeat_at": c.local(d.get("heartbeat_at")),
        "age": round(d.get("age") or 0),
        "skew": None if d.get("skew") is None else round(d["skew"]),
        "held": len(d.get("held") or []),
    }


def _last_error(polled: str | None, dev: ops.DeviceRow) -> str | None:
    """The daemon's words for its last failed poll, else those of a failed last run."""
    text = polled or (dev.last_run_error if dev.last_run_status == "failed" else None)
    return logs.scrub(text) if text else None


def _last_error_kind(polled: str | None, dev: ops.DeviceRow) -> str | None:
    if dev.last_run_status == "failed":
        return dev.last_run_error_kind or "error"
    return "error" if polled else None


def _latest(*times: datetime | None) -> datetime | None:
    """The daemon's poll state knows its own runs; a run someone started is only in the
    device's last run: the later of the two."""
    known = [t for t in times if t is not None]
    return max(known) if known else None


def clock_rows(c: Console) -> tuple[list[ClockRow], list[str], list[NoticeLike], SiteSummary]:
    """Every device (configured ones first), the drift warnings, what needs attention (as
    notices: :mod:`punchd.web.notices` words them) and the site's collector state."""
    now = c.now()
    listing = ops.list_devices(c.site, now=now)
    status = ops.site_status(c.site, now=now)
    health = {d["name"]: d for d in status.devices}
    warned = {w.split(":", 1)[0] for w in listing.warnings}
    configured = {d.name: d for d in c.site.settings.devices}
    rows = []
    for dev in listing.devices:
        h = health.get(dev.name, {})
        holder, purpose = h.get("holder"), h.get("purpose")
        by_daemon = held_by_daemon(holder, purpose)
        enabled = configured[dev.name].enabled if dev.name in configured else False
        failures = h.get("consecutive_failures") or 0
        if holder:
            state = "collecting"
        elif not enabled:
            state = "disabled"
        elif dev.push:
            state = "online" if dev.online else "offline"
        elif failures:
            state = "failing"
        elif dev.last_run_at is None and not h.get("last_success_at"):
            state = "never"
        else:
            state = "ok"
        rows.append(
            ClockRow(
                name=dev.name,
                driver=dev.driver,
                address=dev.address,
                enabled=enabled,
                configured=dev.configured,
                status=state,
                consecutive_failures=failures,
                last_run_at=dev.last_run_at,
                last_run_status=dev.last_run_status,
                last_success_at=_latest(
                    c.local(h.get("last_success_at")),
                    dev.last_run_at if dev.last_run_status == "ok" else None,
                ),
                last_failure_at=_latest(
                    c.local(h.get("last_failure_at")),
                    dev.last_run_at if dev.last_run_status == "failed" else None,
                ),
                last_error=_last_error(h.get("last_error"), dev),
                last_error_kind=_last_error_kind(h.get("last_error"), dev),
                punch_count=dev.punch_count,
                last_punch_at=dev.last_punch_at,
                clock_drift_seconds=dev.clock_drift_seconds,
                drift_warning=dev.name in warned,
                next_poll_at=c.local(h.get("next_poll_at")),
                held_by_daemon=by_daemon,
                held_by_other=bool(holder) and not by_daemon,
                push=dev.push,
                last_contact_at=dev.last_contact_at,
                owner=None if dev.push else h.get("owner"),
            )
        )
    summary = SiteSummary(
        [_daemon(c, d) for d in status.daemons],
        status.spool_backlog,
        status.reprocess[0],
        c.site.zone.key,
        listing.pending,
        [_daemon(c, d) for d in status.silent],
    )
    return rows, listing.warnings, list(status.notices), summary


def drift_words(seconds: float | None) -> tuple[str, dict] | None:
    """A drift as a message and its values: ("%(amount)s behind", {...}); None: unknown."""
    if seconds is None:
        return None
    if round(abs(seconds)) == 0:
        return N_("right"), {}
    amount = ops.drift_amount(seconds)
    if seconds > 0:
        return N_("%(amount)s ahead"), {"amount": amount}
    return N_("%(amount)s behind"), {"amount": amount}
