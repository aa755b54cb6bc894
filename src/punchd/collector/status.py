"""``punchd status``: what an admin (or a monitoring check) needs at a glance, as data.

:func:`gather` reads the daemon heartbeats, each device's poll state, lease and clock, the
spool and the re-process queue, and words what needs attention. Showing it is the front
door's job (``punchd status`` prints it as tables).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.engine import Connection, Engine

from punchd.clock import local_now, to_site, utcnow, zone
from punchd.collector.clockcheck import describe_drift, verdict
from punchd.collector.lease import holder_alive
from punchd.collector.spool import Spool
from punchd.config import Settings
from punchd.storage import collection as store
from punchd.storage import devices as device_store

#: Seconds after which a queued change that is still waiting means draining fails.
REPROCESS_STUCK = 300
#: How long newly flagged punches stay on the "needs attention" list.
FLAGGED_ATTENTION_DAYS = 7


@dataclass
class SiteStatus:
    """``daemons``: the running daemons' att_daemon rows (fresh heartbeat), newest first.
    ``devices``: one dict per configured device, in configuration order: ``name, driver,
    enabled, clock_drift_seconds, next_poll_at, consecutive_failures, last_success_at,
    last_failure_at, last_error, holder, purpose, expires_at`` (missing or None when never
    recorded; ``holder`` None when the lease has expired). Times are naive UTC."""

    daemons: list[dict]
    devices: list[dict]
    spool_backlog: int
    last_processing_at: datetime | None
    attention: list[str] = field(default_factory=list)
    reprocess: tuple[int, datetime | None] = (0, None)  # queued changes, oldest queued_at
    #: the site's zone: every time is shown on its wall clock
    timezone: str | None = None


def gather(s: Settings, engine: Engine) -> SiteStatus:
    stale = 3 * s.daemon.heartbeat_every + 5
    with engine.connect() as conn:
        daemons = device_store.alive_daemons(
            conn, heartbeat_since=utcnow() - timedelta(seconds=stale)
        )
        rows = device_store.device_health(conn)
        reprocess = device_store.reprocess_backlog(conn)
        # The newest processing of any daemon, running or stopped.
        last_processing = device_store.last_processing_at(conn)
    stored = {r["name"]: r for r in rows}
    now = utcnow()
    devices = []
    for cfg in s.devices:
        row = stored.get(cfg.name, {"name": cfg.name, "driver": cfg.driver})
        row["enabled"] = cfg.enabled
        if row.get("expires_at") and row["expires_at"] < now:
            row["holder"] = None  # an expired lease holds nothing
        devices.append(row)
    report = SiteStatus(
        daemons=daemons,
        devices=devices,
        spool_backlog=Spool(s.data_dir / "spool").backlog(),
        last_processing_at=last_processing,
        timezone=s.timezone,
    )
    if not daemons:
        report.attention.append("no punchd daemon is running (no heartbeat)")
    for row in devices:
        if not row["enabled"]:
            continue
        if row.get("consecutive_failures"):
            report.attention.append(
                f"{row['name']}: {row['consecutive_failures']} failed polls in a row"
            )
        drift = row.get("clock_drift_seconds")
        d = s.daemon
        judged = (
            None
            if drift is None
            else verdict(drift, d.clock_sync_threshold, d.clock_auto_correct_max)
        )
        if judged == "report":
            report.attention.append(
                f"{row['name']}: {describe_drift(drift)} (not corrected automatically: "
                f"punchd devices set-time {row['name']})"
            )
        elif judged == "correct":
            report.attention.append(f"{row['name']}: {describe_drift(drift)}")
    if report.spool_backlog:
        report.attention.append(f"{report.spool_backlog} punches wait in the spool")
    report.reprocess = reprocess
    if reprocess[1] is not None and now - reprocess[1] > timedelta(seconds=REPROCESS_STUCK):
        report.attention.append(
            f"{reprocess[0]} changes waiting to be re-processed since "
            f"{_t(to_site(reprocess[1], s.timezone))}: "
            "re-processing fails; run `punchd process` for the dates to see why"
        )
    from punchd.rules.calendar_status import (
        calendar_attention,  # the site's date: a year ends at its midnight
    )

    report.attention.extend(calendar_attention(engine, local_now(zone(s.timezone)).date()))
    with engine.connect() as conn:
        report.attention.extend(device_findings(conn, {d.name for d in s.devices}, now))
    return report


def device_findings(conn: Connection, names: set[str], now: datetime) -> list[str]:
    """Clocks a killed run left disabled, and implausible punches HR should look at
    (``now``: naive UTC)."""
    found = []
    for name, since, holder, expires in device_store.left_disabled(conn):
        if name in names and not holder_alive(holder, expires, now):  # no run holds it now
            found.append(
                f"{name}: left disabled by an interrupted run since {since:%Y-%m-%d %H:%M} UTC "
                "(people cannot punch); the next collection re-enables it"
            )
    # Punches flagged in the last week need a look; older ones stay in the detail report.
    since = now - timedelta(days=FLAGGED_ATTENTION_DAYS)
    for name, flags in sorted(store.flagged_punch_counts(conn, collected_since=since).items()):
        if name in names:
            counts = ", ".join(f"{n} {flag}" for flag, n in sorted(flags.items()))
            found.append(
                f"{name}: implausible punches stored flagged in the last "
                f"{FLAGGED_ATTENTION_DAYS} days ({counts}); not counted as attendance — see "
                "`punchd report --only flagged`, add a manual punch where one is missing"
            )
    return found


def _t(value: datetime | None) -> str:
    return f"{value:%m-%d %H:%M:%S}" if value else "-"
