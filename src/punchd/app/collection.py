"""Collection as a person triggers it: collect now, look at the devices and at the site's
health, set a device clock. Every front door (the CLI, the web console) calls these.

Errors are :class:`punchd.errors.PunchdError`: ``ConfigError`` (an unknown device),
:class:`punchd.collector.errors.CollectionError` (nothing to collect, the device is in use, the
device failed) and :class:`punchd.storage.database.DatabaseFailed`. A collection itself never
raises for a device or database failure: its :class:`RunResult` says what happened.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import SQLAlchemyError

from punchd import logs
from punchd.app.site import Actor, Site
from punchd.clock import to_site, utc_stamp, utcnow
from punchd.collector.drift import drift_amount, drift_warnings
from punchd.collector.errors import DeviceFailed, NoDevices
from punchd.collector.status import SiteStatus, gather, is_push, push_online
from punchd.config import ConfigError, Settings
from punchd.drivers import DeviceConfig, DriverError
from punchd.errors import InvalidInput
from punchd.notices import Notice
from punchd.storage import audit
from punchd.storage import collection as store
from punchd.storage import periods as periods_store
from punchd.storage import push as push_store
from punchd.storage.database import DatabaseFailed

if TYPE_CHECKING:
    from punchd.collector.collect import CollectionWatch, RunResult

__all__ = [
    "Backfill",
    "ClockSet",
    "CollectionWatch",
    "DeviceCommand",
    "DeviceListing",
    "DeviceRow",
    "PendingClock",
    "RunResult",
    "SiteStatus",
    "backfill_push_clock",
    "collect_now",
    "device_commands",
    "drift_amount",
    "is_push",
    "list_devices",
    "lock_dir",
    "pick_devices",
    "queue_device_command",
    "set_device_time",
    "site_status",
]


def __getattr__(name: str) -> Any:
    # The collection's own types, loaded with the device run only when asked for:
    # ``status`` and the pages that only show devices do without it.
    if name in ("CollectionWatch", "RunResult"):
        from punchd.collector import collect

        return getattr(collect, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def lock_dir(settings: Settings) -> Path:
    """Where this host's per-device lock files live (shared with the daemon)."""
    return settings.data_dir / "locks"


def pick_devices(settings: Settings, names: Sequence[str] | None = None) -> list[DeviceConfig]:
    """The configured devices called ``names``; none given: every enabled one that is polled
    (a push clock sends its punches itself). ConfigError for an unknown name, NoDevices when
    there is nothing to collect from."""
    if names:
        devices = [settings.device(name) for name in names]
    else:
        devices = [d for d in settings.devices if d.enabled and not is_push(d)]
    if not devices:
        raise NoDevices("no devices configured: add [[devices]] to the configuration file")
    return devices


def collect_now(
    site: Site,
    devices: Sequence[DeviceConfig | str] | None = None,
    *,
    all_records: bool = False,
    wait: float = 0.0,
    watch: CollectionWatch | None = None,
    refresh: Callable[[], object] | None = None,
    actor: Actor | None = None,
) -> list[RunResult]:
    """Collect ``devices`` (configurations or names; none: every enabled device) now, one
    after the other, waiting up to ``wait`` seconds for a device another collector holds.

    ``watch`` is told of each run's progress. When new punches were stored, the results
    they touch are re-processed before this returns: by ``refresh`` if given (a front door
    that words a failure its own way), else here, a failure only logged (the punches are
    stored either way, and the days stay queued), recorded as ``actor``'s (default: the
    operating-system user).
    """
    from punchd.collector.collect import collect_devices

    s = site.settings
    configs = [d if not isinstance(d, str) else s.device(d) for d in (devices or pick_devices(s))]
    results = collect_devices(
        site.engine,
        configs,
        all_records=all_records,
        lock_dir=lock_dir(s),
        lease_wait=wait,
        watch=watch,
    )
    if any(r.records_new for r in results):
        if refresh is not None:
            refresh()
        else:
            from punchd.processing.requeue import drain_logged

            drain_logged(site.engine, now=site.now(), actor=(actor or Actor.named(None)).name)
    return results


@dataclass(frozen=True)
class DeviceRow:
    """A device as ``punchd devices`` lists it."""

    name: str
    driver: str
    address: str
    serial_number: str | None
    #: in the configuration (False: only in the database, e.g. removed from the file)
    configured: bool
    #: when its last run started, on the site's wall clock; None: never run
    last_run_at: datetime | None
    #: ok | failed | running …; None: never run
    last_run_status: str | None
    punch_count: int
    #: its newest stored punch, on the device's wall clock
    last_punch_at: datetime | None
    clock_drift_seconds: float | None
    #: why its last run failed: the words and the kind (``unreachable``, ``timeout`` …)
    last_run_error: str | None = None
    last_run_error_kind: str | None = None
    #: a push (ADMS) clock: it calls in, it is never polled
    push: bool = False
    #: push clocks: heard from lately (None: not a push clock)
    online: bool | None = None
    #: push clocks: the last request, on the site's wall clock, and where it came from
    last_contact_at: datetime | None = None
    last_contact_address: str | None = None


@dataclass(frozen=True)
class PendingClock:
    """A push clock with a serial number nobody configured: refused until an admin adds it."""

    serial: str
    #: the site's wall clock
    first_seen_at: datetime | None
    last_seen_at: datetime | None
    address: str | None
    requests: int


@dataclass(frozen=True)
class DeviceListing:
    #: configured devices in configuration order, then devices only the database knows
    devices: list[DeviceRow]
    #: one line per device whose clock is off by more than the daemon corrects
    warnings: list[str]
    #: the site's zone (``last_run_at`` is on its wall clock)
    timezone: str | None
    #: unknown serial numbers that tried to connect, the most recently seen first
    pending: list[PendingClock] = field(default_factory=list)


def list_devices(site: Site, *, now: datetime | None = None) -> DeviceListing:
    """Configured and stored devices with their last run, punches stored and clock drift;
    push clocks with online/offline from their last contact as of ``now`` (naive UTC,
    default the running clock), and the pending serial numbers."""
    s = site.settings
    now = now or utcnow()
    try:
        with site.engine.connect() as conn:
            stored = {row["name"]: row for row in store.device_overview(conn)}
            seen = push_store.last_seen(conn)
            waiting = push_store.pending(conn)
    except SQLAlchemyError as exc:
        raise DatabaseFailed(s.db_url, exc) from None
    configured = {d.name: d for d in s.devices}
    names = [*configured, *(n for n in stored if n not in configured)]
    rows = []
    for name in names:
        row = stored.get(name, {})
        run = row.get("last_run") or {}
        cfg = configured.get(name)
        push = is_push(cfg) if cfg else row.get("driver") == "adms"
        contact_at, contact_from = seen.get(name, (None, None))
        rows.append(
            DeviceRow(
                name=name,
                driver=cfg.driver if cfg else row.get("driver", "-"),
                address=cfg.address() if cfg else row.get("address", "-"),
                serial_number=row.get("serial_number"),
                configured=cfg is not None,
                last_run_at=to_site(run.get("started_at"), s.timezone),
                last_run_status=run.get("status"),
                punch_count=row.get("punch_count", 0),
                last_punch_at=row.get("last_punch_at"),
                clock_drift_seconds=row.get("clock_drift_seconds"),
                last_run_error=run.get("error"),
                last_run_error_kind=run.get("error_kind"),
                push=push,
                online=push_online(s, contact_at, now) if push else None,
                last_contact_at=to_site(contact_at, s.timezone),
                last_contact_address=contact_from,
            )
        )
    warnings = drift_warnings(s.daemon, [(r.name, r.clock_drift_seconds) for r in rows])
    # A serial configured since it called is accepted at its next call: not pending any more.
    accepted = {getattr(d, "serial", None) for d in s.devices if is_push(d)}
    pending = [
        PendingClock(
            serial=p["serial"],
            first_seen_at=to_site(p["first_seen_at"], s.timezone),
            last_seen_at=to_site(p["last_seen_at"], s.timezone),
            address=p["address"] or None,
            requests=p["requests"],
        )
        for p in waiting
        if p["serial"] not in accepted
    ]
    return DeviceListing(rows, warnings, s.timezone, pending)


#: How far back ``status`` looks for punches that arrived after a close.
NOTICE_DAYS = 7


def after_close_notice(site: Site, *, now: datetime | None = None) -> Notice | None:
    """``status``'s line when punches for closed periods arrived in the last days."""
    since = (now or utc_stamp()) - timedelta(days=NOTICE_DAYS)
    with site.engine.connect() as conn:
        count, months = periods_store.after_close_summary(conn, since)
    if not count:
        return None
    listed = ", ".join(months)
    return Notice(
        "arrived_after_close",
        {"count": count, "months": listed, "days": NOTICE_DAYS},
        f"punches arrived after close for {count} employee-days of closed periods ({listed}) "
        f"in the last {NOTICE_DAYS} days: stored, the closed results unchanged "
        f"(punchd period show MONTH)",
    )


def site_status(site: Site, *, now: datetime | None = None, people: bool = False) -> SiteStatus:
    """Daemons alive, each device's health, the spool and the re-process queue, and what
    needs attention (empty: all healthy); ``now``: naive UTC, default the running clock
    (push clocks are online or offline as of then). ``people``: a line may name an employee
    (``punchd status``; not the console, whose readers may see only some departments)."""
    try:
        status = gather(site.settings, site.engine, now=now, people=people)
        late = after_close_notice(site, now=now)
    except SQLAlchemyError as exc:
        raise DatabaseFailed(site.settings.db_url, exc) from None
    if late is not None:  # punches for closed pay periods
        status.notices.append(late)
        status.attention.append(late.text)
    return status


# ------------------------------------------------------------------------ push commands


@dataclass(frozen=True)
class DeviceCommand:
    """A command queued for a push clock, as ``punchd devices commands`` lists it (times on
    the site's wall clock)."""

    id: str
    command: str
    created_at: datetime | None
    created_by: str
    sent_at: datetime | None
    send_count: int
    answered_at: datetime | None
    return_code: int | None
    result: str | None

    @property
    def meaning(self) -> str | None:
        """The return code in words ("PIN not on the device"); None: no answer yet."""
        if self.return_code is None:
            return None
        from punchd.drivers.adms import protocol  # push clocks' words: only when asked

        return protocol.RETURN_CODES.get(self.return_code, "unknown return code")


def _push_device(settings: Settings, device: DeviceConfig | str) -> DeviceConfig:
    config = settings.device(device) if isinstance(device, str) else device
    if not is_push(config):
        raise ConfigError(
            f"{config.name} is not a push clock (driver {config.driver!r}): commands are "
            'queued only for push clocks (driver = "adms")'
        )
    return config


def queue_device_command(
    site: Site, device: DeviceConfig | str, text: str, *, actor: Actor
) -> DeviceCommand:
    """Queue ``text`` for the push clock ``device``: it gets it at its next poll (re-sent
    until it answers). Audited as ``actor``'s. ConfigError for an unknown or a polled device,
    InvalidInput for a command punchd never sends (CLEAR LOG, SHELL …) or one that does not
    parse."""
    s = site.settings
    config = _push_device(s, device)
    try:
        from punchd.drivers.adms import protocol

        command = protocol.check_command(text)
    except ValueError as exc:
        raise InvalidInput(f"command refused: {exc}") from None
    at = utc_stamp()
    try:
        with site.engine.begin() as conn:
            device_id = store.upsert_device(
                conn,
                name=config.name,
                driver=config.driver,
                address=config.address(),
                user_code=getattr(config, "user_code", "enroll"),
            )
            command_id = push_store.queue_command(
                conn, device_id, command, created_by=actor.name, at=at
            )
            audit.record(
                conn,
                actor.name,
                "queue_command",
                "device",
                config.name,
                {"command_id": command_id, "command": command},
            )
    except SQLAlchemyError as exc:
        raise DatabaseFailed(s.db_url, exc) from None
    return DeviceCommand(
        command_id, command, to_site(at, s.timezone), actor.name, None, 0, None, None, None
    )


def device_commands(
    site: Site, device: DeviceConfig | str, *, limit: int = 100
) -> list[DeviceCommand]:
    """The push clock's commands, newest first. ConfigError for an unknown or a polled
    device."""
    s = site.settings
    config = _push_device(s, device)
    try:
        with site.engine.connect() as conn:
            rows = push_store.commands_of(conn, config.name, limit=limit)
    except SQLAlchemyError as exc:
        raise DatabaseFailed(s.db_url, exc) from None
    return [
        DeviceCommand(
            id=r["command_id"],
            command=r["command"],
            created_at=to_site(r["created_at"], s.timezone),
            created_by=r["created_by"],
            sent_at=to_site(r["sent_at"], s.timezone),
            send_count=r["send_count"],
            answered_at=to_site(r["answered_at"], s.timezone),
            return_code=r["return_code"],
            result=r["result"],
        )
        for r in rows
    ]


@dataclass(frozen=True)
class ClockSet:
    device: str
    #: the device's zone (``to`` is its wall clock)
    zone: str
    drift_before_s: float
    drift_after_s: float


def set_device_time(
    site: Site,
    device: DeviceConfig | str,
    to: datetime | None,
    actor: Actor,
    *,
    wait: float = 0.0,
) -> ClockSet:
    """Set the device's clock to ``to`` (naive, the device's wall clock; None: now), under
    the same lock and lease as a collection, audited as ``actor``'s. DeviceLeased when
    another collector holds it past ``wait`` seconds, DeviceFailed when the device fails."""
    s = site.settings
    config = s.device(device) if isinstance(device, str) else device
    tz = s.device_zone(config)
    try:
        from punchd.collector.clockcheck import set_device_time  # a device's I/O: only here

        before, after = set_device_time(
            site.engine, config, tz, to=to, lock_dir=lock_dir(s), actor=actor.name, wait=wait
        )
    except DriverError as exc:
        raise DeviceFailed(logs.scrub(str(exc)), exc.reason) from None
    except SQLAlchemyError as exc:
        raise DatabaseFailed(s.db_url, exc) from None
    return ClockSet(config.name, tz.key, before, after)


@dataclass(frozen=True)
class Backfill:
    """A re-send queued for a push clock (``start``/``end``: its wall clock, ``zone``)."""

    device: str
    command_id: str
    start: datetime
    end: datetime
    zone: str


def backfill_push_clock(
    site: Site,
    device: DeviceConfig | str,
    since: date,
    *,
    actor: Actor,
    now: datetime | None = None,
) -> Backfill:
    """Have the push clock ``device`` send its punches from ``since`` 00:00 to now (its wall
    clock) again: ``DATA QUERY ATTLOG`` is queued, the clock answers at its next contact and
    re-sends them as ordinary uploads (what is stored already is stored once). A polled
    clock is refused (InvalidInput): it is read again with ``all_records``. ``now``: naive
    UTC (tests)."""
    from punchd.clock import utc_to_local, utcnow
    from punchd.collector.push import reconcile
    from punchd.collector.push.service import DRIVER, queue_command
    from punchd.errors import InvalidInput

    s = site.settings
    config = s.device(device) if isinstance(device, str) else device
    if config.driver != DRIVER:
        raise InvalidInput(
            f"{config.name} is a polled clock (driver {config.driver}): a backfill from a date "
            "is for push clocks; read a polled clock again with `punchd collect --device "
            f"{config.name} --all-records`"
        )
    tz = s.device_zone(config)
    at = (now or utcnow()).replace(microsecond=0)
    end = utc_to_local(at, tz)
    start = datetime.combine(since, datetime.min.time())
    if start > end:
        raise InvalidInput(
            f"{since.isoformat()} is after today on {config.name}'s clock "
            f"({end:%Y-%m-%d}, {tz.key})"
        )
    try:
        command_id = queue_command(
            site.engine,
            config,
            reconcile.query_command(start, end),
            created_by=actor.name,
            now=at,
        )
    except SQLAlchemyError as exc:
        raise DatabaseFailed(s.db_url, exc) from None
    return Backfill(config.name, command_id, start, end, tz.key)
