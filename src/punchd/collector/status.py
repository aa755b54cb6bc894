"""``punchd status``: what an admin (or a monitoring check) needs at a glance."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine

from punchd.clock import site_label, to_site, utcnow
from punchd.collector.clockcheck import describe_drift, verdict
from punchd.collector.daemon import alive_daemons
from punchd.collector.spool import Spool
from punchd.config import Settings
from punchd.safetext import terminal
from punchd.storage.schema import (
    att_daemon,
    att_device,
    att_device_lease,
    att_device_poll,
    att_reprocess,
)


@dataclass
class Report:
    daemons: list[dict]
    devices: list[dict]
    spool_backlog: int
    last_processing_at: datetime | None
    attention: list[str] = field(default_factory=list)
    reprocess: tuple[int, datetime | None] = (0, None)  # queued changes, oldest queued_at
    #: the site's zone: every time is shown on its wall clock
    timezone: str | None = None


def gather(s: Settings, engine: Engine) -> Report:
    stale = 3 * s.daemon.heartbeat_every + 5
    daemons = alive_daemons(engine, stale)
    d, p, lease = att_device, att_device_poll, att_device_lease
    with engine.connect() as conn:
        rows = (
            conn.execute(
                select(
                    d.c.name,
                    d.c.driver,
                    d.c.clock_drift_seconds,
                    p.c.next_poll_at,
                    p.c.consecutive_failures,
                    p.c.last_success_at,
                    p.c.last_failure_at,
                    p.c.last_error,
                    lease.c.holder,
                    lease.c.purpose,
                    lease.c.expires_at,
                )
                .select_from(
                    d.outerjoin(p, p.c.device_id == d.c.id).outerjoin(
                        lease, lease.c.device_id == d.c.id
                    )
                )
                .order_by(d.c.name)
            )
            .mappings()
            .all()
        )
        reprocess = reprocess_backlog(conn)
        # The newest processing of any daemon, running or stopped.
        last_processing = conn.execute(select(func.max(att_daemon.c.last_processing_at))).scalar()
    stored = {r["name"]: dict(r) for r in rows}
    now = utcnow()
    devices = []
    for cfg in s.devices:
        row = stored.get(cfg.name, {"name": cfg.name, "driver": cfg.driver})
        row["enabled"] = cfg.enabled
        if row.get("expires_at") and row["expires_at"] < now:
            row["holder"] = None  # an expired lease holds nothing
        devices.append(row)
    report = Report(
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
    from punchd.clock import local_now, zone
    from punchd.rules.active import (
        calendar_attention,  # the site's date: a year ends at its midnight
    )

    report.attention.extend(calendar_attention(engine, local_now(zone(s.timezone)).date()))
    with engine.connect() as conn:
        report.attention.extend(device_findings(conn, {d.name for d in s.devices}, now))
    return report


#: Seconds after which a queued change that is still waiting means draining fails.
REPROCESS_STUCK = 300


def reprocess_backlog(conn: Any) -> tuple[int, datetime | None]:
    """(changes waiting in att_reprocess, when the oldest was queued)."""
    count, oldest = conn.execute(select(func.count(), func.min(att_reprocess.c.queued_at))).one()
    return count, oldest


#: How long newly flagged punches stay on the "needs attention" list.
FLAGGED_ATTENTION_DAYS = 7


def device_findings(conn: Connection, names: set[str], now: datetime) -> list[str]:
    """Clocks a killed run left disabled, and implausible punches HR should look at
    (``now``: naive UTC)."""
    from punchd.storage import collection as store

    found = []
    d, lease = att_device, att_device_lease
    left = conn.execute(
        select(d.c.name, d.c.disabled_at, lease.c.holder, lease.c.expires_at)
        .select_from(d.outerjoin(lease, lease.c.device_id == d.c.id))
        .where(d.c.disabled_at.is_not(None))
        .order_by(d.c.name)
    )
    for name, since, holder, expires in left:
        if name in names and not _held(holder, expires, now):  # no run holds it now
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


def _held(holder: str | None, expires: datetime | None, now: datetime) -> bool:
    """A lease still held by a live collector (one on this host whose process is gone,
    e.g. killed, holds nothing)."""
    import socket

    from punchd.collector.lease import _alive

    if holder is None or expires is None or expires < now:
        return False
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host == socket.gethostname() and pid.isdigit():
        return _alive(int(pid))
    return True


def _t(value: datetime | None) -> str:
    return f"{value:%m-%d %H:%M:%S}" if value else "-"


def render(report: Report, console: Console) -> None:
    def _t(value: datetime | None, fmt: str = "%m-%d %H:%M:%S") -> str:
        local = to_site(value, report.timezone)
        return f"{local:{fmt}}" if local else "-"

    console.print(f"({site_label(report.timezone)})", highlight=False)
    if report.daemons:
        for x in report.daemons:
            age = (utcnow() - x["heartbeat_at"]).total_seconds()
            console.print(
                f"daemon: [green]alive[/] on {terminal(x['host'])} pid {x['pid']} since "
                f"{_t(x['started_at'], '%Y-%m-%d %H:%M:%S')}, heartbeat {age:.0f} s ago — "
                f"{terminal(x['status'])}",
                highlight=False,
            )
    else:
        console.print("daemon: [red]not running[/]")
    table = Table(title=f"Devices ({site_label(report.timezone)})", title_justify="left")
    for col in (
        "device",
        "last success",
        "last failure",
        "reason",
        "next poll",
        "failures",
        "lease holder",
        "clock drift",
    ):
        table.add_column(col, justify="right" if col == "failures" else "left")
    for row in report.devices:
        drift = row.get("clock_drift_seconds")
        holder = row.get("holder")
        table.add_row(
            terminal(row["name"]) + ("" if row["enabled"] else " (disabled)"),
            _t(row.get("last_success_at")),
            _t(row.get("last_failure_at")),
            terminal((row.get("last_error") or "-")[:60]),
            _t(row.get("next_poll_at")),
            str(row.get("consecutive_failures") or 0),
            terminal(f"{holder.rsplit(':', 1)[0]} ({row['purpose']})") if holder else "-",
            "-" if drift is None else f"{drift:+.0f} s",
        )
    console.print(table)
    console.print(f"spool backlog: {report.spool_backlog} punches")
    console.print(f"re-process queue: {report.reprocess[0]} changes waiting to be re-processed")
    last = report.last_processing_at
    console.print(f"last processing: {_t(last) if last else 'none yet'}")
    if report.attention:
        console.print("[bold red]needs attention:[/]")
        for item in report.attention:
            console.print(f"  - {terminal(item)}", highlight=False)
    else:
        console.print("[green]all healthy[/]")
