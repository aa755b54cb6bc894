"""``punchd status``: what an admin (or a monitoring check) needs at a glance, as data.

:func:`gather` reads the daemon heartbeats, each device's poll state, lease and clock, the
spool and the re-process queue, and words what needs attention: each line a
:class:`~punchd.notices.Notice` (a code and its values, for a front door that translates) and
its English sentence. Showing it is the front door's job (``punchd status`` prints it as
tables and sentences, the console translates the notices).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.engine import Connection, Engine

from punchd.clock import local_now, to_site, utcnow, zone
from punchd.collector.clockcheck import ZONE_SLACK_S, describe_drift, likely_zone_error, verdict
from punchd.collector.lease import holder_alive
from punchd.collector.push.service import DRIVER as PUSH_DRIVER
from punchd.collector.spool import Spool
from punchd.config import Settings
from punchd.drivers import DeviceConfig
from punchd.notices import Notice
from punchd.storage import collection as store
from punchd.storage import devices as device_store
from punchd.storage import push as push_store

#: Seconds after which a queued change that is still waiting means draining fails.
REPROCESS_STUCK = 300
#: How long newly flagged punches stay on the "needs attention" list.
FLAGGED_ATTENTION_DAYS = 7
#: A push clock silent this long (seconds) needs attention (offline for a minute or two is a
#: network hiccup or a reboot).
PUSH_OFFLINE_NOTICE = 600
#: Pending serial numbers a notice names (the count says how many there are).
PENDING_NAMED = 5


def is_push(device: DeviceConfig) -> bool:
    """A push (ADMS) clock: it calls in and is never polled."""
    return device.driver == PUSH_DRIVER


def push_window(s: Settings) -> int:
    """Seconds within which a push clock counts as online: three command polls (``[push]
    delay``) missed in a row, at least a minute (its last contact is written once a minute)."""
    return max(60, 3 * s.push.delay)


def push_online(s: Settings, last_seen_at: datetime | None, now: datetime) -> bool:
    """Whether a push clock last heard from at ``last_seen_at`` is online at ``now`` (both
    naive UTC)."""
    if last_seen_at is None:
        return False
    return (now - last_seen_at).total_seconds() <= push_window(s)


@dataclass
class SiteStatus:
    """``daemons``: the running daemons' att_daemon rows (fresh heartbeat), newest first.
    ``devices``: one dict per configured device, in configuration order: ``name, driver,
    enabled, clock_drift_seconds, next_poll_at, consecutive_failures, last_success_at,
    last_failure_at, last_error, holder, purpose, expires_at`` (missing or None when never
    recorded; ``holder`` None when the lease has expired). Times are naive UTC.
    Push clocks (driver adms) also have ``push`` True, ``last_seen_at``, ``last_address`` and
    ``online``. ``pending``: the unknown serial numbers that called in (``serial,
    first_seen_at, last_seen_at, address, requests``), the most recent first.
    ``notices``: what needs attention; ``attention``: their English sentences, in order."""

    daemons: list[dict]
    devices: list[dict]
    spool_backlog: int
    last_processing_at: datetime | None
    attention: list[str] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    reprocess: tuple[int, datetime | None] = (0, None)  # queued changes, oldest queued_at
    #: the site's zone: every time is shown on its wall clock
    timezone: str | None = None
    pending: list[dict] = field(default_factory=list)


def gather(s: Settings, engine: Engine, *, now: datetime | None = None) -> SiteStatus:
    """The site's state as of ``now`` (naive UTC; default the running clock)."""
    now = now or utcnow()
    stale = 3 * s.daemon.heartbeat_every + 5
    with engine.connect() as conn:
        daemons = device_store.alive_daemons(conn, heartbeat_since=now - timedelta(seconds=stale))
        rows = device_store.device_health(conn)
        reprocess = device_store.reprocess_backlog(conn)
        # The newest processing of any daemon, running or stopped.
        last_processing = device_store.last_processing_at(conn)
        seen = push_store.last_seen(conn)
        waiting = push_store.pending(conn)
    stored = {r["name"]: r for r in rows}
    devices = []
    for cfg in s.devices:
        row = stored.get(cfg.name, {"name": cfg.name, "driver": cfg.driver})
        row["enabled"] = cfg.enabled
        if row.get("expires_at") and row["expires_at"] < now:
            row["holder"] = None  # an expired lease holds nothing
        if is_push(cfg):
            at, address = seen.get(cfg.name, (None, None))
            row.update(push=True, last_seen_at=at, last_address=address)
            row["online"] = push_online(s, at, now)
        devices.append(row)
    # A serial configured since it called is accepted at its next call: not pending any more.
    accepted = {getattr(d, "serial", None) for d in s.devices if is_push(d)}
    report = SiteStatus(
        daemons=daemons,
        devices=devices,
        spool_backlog=Spool(s.data_dir / "spool").backlog(),
        last_processing_at=last_processing,
        timezone=s.timezone,
        pending=[p for p in waiting if p["serial"] not in accepted],
    )
    notices = report.notices
    if not daemons:
        notices.append(Notice("no_daemon", {}, "no punchd daemon is running (no heartbeat)"))
    for row in devices:
        if not row["enabled"]:
            continue
        name = row["name"]
        if row.get("push"):
            if notice := _push_offline(row, now, s.timezone):
                notices.append(notice)
            continue  # never polled: no poll failures, no clock drift measured
        if failures := row.get("consecutive_failures"):
            notices.append(
                Notice(
                    "device_failing",
                    {"device": name, "failures": failures},
                    f"{name}: {failures} failed polls in a row",
                )
            )
        drift = row.get("clock_drift_seconds")
        d = s.daemon
        judged = (
            None
            if drift is None
            else verdict(drift, d.clock_sync_threshold, d.clock_auto_correct_max)
        )
        if judged == "report":
            notices.append(
                Notice(
                    "drift_report",
                    _drift_params(name, drift),
                    f"{name}: {describe_drift(drift)} (not corrected automatically: "
                    f"punchd devices set-time {name})",
                )
            )
        elif judged == "correct":
            notices.append(
                Notice(
                    "drift_correct", _drift_params(name, drift), f"{name}: {describe_drift(drift)}"
                )
            )
    if report.pending:
        serials = [p["serial"] for p in report.pending]
        named = ", ".join(serials[:PENDING_NAMED]) + (", …" if len(serials) > PENDING_NAMED else "")
        notices.append(
            Notice(
                "push_pending",
                {"count": len(serials), "serials": named},
                f"{len(serials)} unknown push clock(s) tried to connect and were refused "
                f'({named}): add [[devices]] driver = "adms", serial = "…" to accept one '
                "(see `punchd devices`)",
            )
        )
    if report.spool_backlog:
        notices.append(
            Notice(
                "spool_backlog",
                {"count": report.spool_backlog},
                f"{report.spool_backlog} punches wait in the spool",
            )
        )
    report.reprocess = reprocess
    if reprocess[1] is not None and now - reprocess[1] > timedelta(seconds=REPROCESS_STUCK):
        since = to_site(reprocess[1], s.timezone)
        notices.append(
            Notice(
                "reprocess_stuck",
                {"count": reprocess[0], "since": _t(since), "since_at": _iso(since)},
                f"{reprocess[0]} changes waiting to be re-processed since {_t(since)}: "
                "re-processing fails; run `punchd process` for the dates to see why",
            )
        )
    from punchd.rules.calendar_status import (
        calendar_attention_notices,  # the site's date: a year ends at its midnight
    )

    notices.extend(calendar_attention_notices(engine, local_now(zone(s.timezone)).date()))
    with engine.connect() as conn:
        notices.extend(
            device_finding_notices(conn, {d.name for d in s.devices}, now, timezone=s.timezone)
        )
    report.attention = [n.text for n in notices]
    return report


def device_findings(conn: Connection, names: set[str], now: datetime) -> list[str]:
    """Clocks a killed run left disabled, and implausible punches HR should look at
    (``now``: naive UTC), as sentences."""
    return [n.text for n in device_finding_notices(conn, names, now)]


def device_finding_notices(
    conn: Connection, names: set[str], now: datetime, *, timezone: str | None = None
) -> list[Notice]:
    """:func:`device_findings` as notices (``timezone``: the site's, for ``since_at``; the
    sentence says UTC)."""
    found = []
    for name, since, holder, expires in device_store.left_disabled(conn):
        if name in names and not holder_alive(holder, expires, now):  # no run holds it now
            at = f"{since:%Y-%m-%d %H:%M}"
            found.append(
                Notice(
                    "left_disabled",
                    {
                        "device": name,
                        "since": f"{at} UTC",
                        "since_at": _iso(to_site(since, timezone) if timezone else since),
                    },
                    f"{name}: left disabled by an interrupted run since {at} UTC "
                    "(people cannot punch); the next collection re-enables it",
                )
            )
    # Punches flagged in the last week need a look; older ones stay in the detail report.
    since = now - timedelta(days=FLAGGED_ATTENTION_DAYS)
    for name, flags in sorted(store.flagged_punch_counts(conn, collected_since=since).items()):
        if name in names:
            counts = ", ".join(f"{n} {flag}" for flag, n in sorted(flags.items()))
            params: dict[str, str | int | float] = {
                "device": name,
                "days": FLAGGED_ATTENTION_DAYS,
                "total": sum(flags.values()),
                "flags": ",".join(sorted(flags)),
                "counts": counts,
            }
            params.update({f"n_{flag}": n for flag, n in flags.items()})
            found.append(
                Notice(
                    "flagged_punches",
                    params,
                    f"{name}: implausible punches stored flagged in the last "
                    f"{FLAGGED_ATTENTION_DAYS} days ({counts}); not counted as attendance — "
                    "see `punchd report --only flagged`, add a manual punch where one is "
                    "missing",
                )
            )
    return found


def _push_offline(row: dict, now: datetime, timezone: str | None) -> Notice | None:
    """A push clock silent for longer than :data:`PUSH_OFFLINE_NOTICE` (one never heard from
    is not: it may not be set up yet, and ``punchd devices`` says "never")."""
    at = row.get("last_seen_at")
    if at is None or (now - at).total_seconds() <= PUSH_OFFLINE_NOTICE:
        return None
    name, minutes = row["name"], int((now - at).total_seconds() // 60)
    stamp = f"{at:%Y-%m-%d %H:%M}"
    return Notice(
        "push_offline",
        {
            "device": name,
            "minutes": minutes,
            "since": f"{stamp} UTC",
            "since_at": _iso(to_site(at, timezone)),
        },
        f"{name}: push clock offline, no contact since {stamp} UTC ({minutes} min): "
        "network, power or its server address?",
    )


def _drift_params(name: str, drift: float) -> dict[str, str | int | float]:
    """A drift's values: whole seconds (+ ahead, - behind) and the hint
    :func:`~punchd.collector.clockcheck.describe_drift` adds ("zone", "dst" or "")."""
    hint = ""
    if likely_zone_error(drift):
        hint = "dst" if abs(round(abs(drift)) - 3600) <= ZONE_SLACK_S else "zone"
    return {"device": name, "seconds": round(drift), "hint": hint}


def _iso(value: datetime | None) -> str:
    return value.isoformat(sep=" ") if value else ""


def _t(value: datetime | None) -> str:
    return f"{value:%m-%d %H:%M:%S}" if value else "-"
