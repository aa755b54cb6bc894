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
from punchd.collector import membership
from punchd.collector.drift import ZONE_SLACK_S, describe_drift, likely_zone_error, verdict
from punchd.collector.lease import holder_alive
from punchd.collector.push import DRIVER as PUSH_DRIVER
from punchd.collector.spool import Spool
from punchd.config import Settings
from punchd.drivers import DeviceConfig
from punchd.notices import Notice
from punchd.storage import cluster
from punchd.storage import collection as store
from punchd.storage import devices as device_store
from punchd.storage import punches as punch_store
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
    """``daemons``: the live daemons' att_daemon rows (fresh heartbeat by the database
    server's clock), newest first, each with ``age`` (seconds since its heartbeat), ``skew``
    (its host clock minus the server's, or None), ``held`` (the devices it owns, names) and
    ``live`` True. ``silent``: the daemons not stopped whose heartbeat is too old (dead or
    stalled), alike with ``live`` False.
    Each device also has ``owner`` (the label of the live daemon that polls it, or None)
    and ``polled_by`` (the att_daemon id whose poll state the row shows).
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
    silent: list[dict] = field(default_factory=list)


def gather(
    s: Settings, engine: Engine, *, now: datetime | None = None, people: bool = False
) -> SiteStatus:
    """The site's state as of ``now`` (naive UTC; default the running clock). ``people``:
    a notice may name an employee (``punchd status`` on the host; never the console, whose
    readers may be limited to some departments)."""
    now = now or utcnow()
    takeover = s.daemon.takeover_within
    with engine.connect() as conn:
        db_now, daemon_rows = cluster.running_daemons(conn)
        rows = device_store.device_health(conn)
        reprocess = device_store.reprocess_backlog(conn)
        # The newest processing of any daemon, running or stopped.
        last_processing = device_store.last_processing_at(conn)
        seen = push_store.last_seen(conn)
        waiting = push_store.pending(conn)
    everyone = membership.members(daemon_rows, db_now)
    alive = membership.live(everyone, takeover)
    placed = membership.assignment(alive)
    stored = {r["name"]: r for r in rows}
    if cluster.server_locks(engine):
        # The server lock is the truth: a lease row whose lock nobody holds holds nothing.
        ids = [r["device_id"] for r in rows if r.get("holder")]
        locked = cluster.holder_of(engine, ids)
        for r in rows:
            if r.get("holder") and not locked.get(r["device_id"]):
                r["holder"] = None
    else:
        for r in rows:
            if r.get("expires_at") and r["expires_at"] < now:
                r["holder"] = None  # an expired lease holds nothing
    # Every device this host configures, then those only other daemons poll.
    configured = [(cfg.name, cfg) for cfg in s.devices]
    known = {name for name, _ in configured}
    elsewhere = sorted({d for m in alive for d in m.devices} - known)
    devices = []
    for name, cfg in configured + [(n, None) for n in elsewhere if n in stored]:
        row = stored.get(name, {"name": name, "driver": cfg.driver if cfg else None})
        row["enabled"] = cfg.enabled if cfg is not None else True
        found = placed.get(name)
        row["owner"] = found.label if found else None
        if cfg is not None and is_push(cfg):
            at, address = seen.get(cfg.name, (None, None))
            row.update(push=True, last_seen_at=at, last_address=address)
            row["online"] = push_online(s, at, now)
        devices.append(row)
    # A serial configured since it called is accepted at its next call: not pending any more.
    accepted = {getattr(d, "serial", None) for d in s.devices if is_push(d)}
    held = {m.id: sorted(d for d, o in placed.items() if o is m) for m in alive}
    report = SiteStatus(
        daemons=[_daemon_row(m, daemon_rows, held.get(m.id, []), True) for m in _newest(alive)],
        silent=[
            _daemon_row(m, daemon_rows, _would_hold(m, alive), False)
            for m in _newest([m for m in everyone if m not in alive])
        ],
        devices=devices,
        spool_backlog=Spool(s.data_dir / "spool").backlog(),
        last_processing_at=last_processing,
        timezone=s.timezone,
        pending=[p for p in waiting if p["serial"] not in accepted],
    )
    notices = report.notices
    if not alive:
        notices.append(Notice("no_daemon", {}, "no punchd daemon is running (no heartbeat)"))
    notices.extend(cluster_notices(report, s.daemon.max_host_skew))
    for row in devices:
        if not row["enabled"]:
            continue
        name = row["name"]
        if row.get("push"):
            if notice := _push_offline(row, now, s.timezone):
                notices.append(notice)
            continue  # never polled: no poll failures, no clock drift measured
        if alive and row.get("owner") is None:
            notices.append(
                Notice(
                    "device_unpolled",
                    {"device": name},
                    f"{name}: no running daemon may poll it (its host is down, or no "
                    "[daemon] devices list names it)",
                )
            )
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
    locked_now = None
    if cluster.server_locks(engine):
        ids = [r["device_id"] for r in rows]
        locked = cluster.holder_of(engine, ids)
        by_id = {r["device_id"]: r["name"] for r in rows}
        locked_now = {by_id[i] for i, held_now in locked.items() if held_now}
    with engine.connect() as conn:
        notices.extend(
            device_finding_notices(
                conn,
                {d.name for d in s.devices},
                now,
                timezone=s.timezone,
                held_now=locked_now,
                people=people,
            )
        )
    report.attention = [n.text for n in notices]
    return report


def device_findings(
    conn: Connection, names: set[str], now: datetime, *, people: bool = False
) -> list[str]:
    """Clocks a killed run left disabled, implausible punches HR should look at and punches
    by people who had left (``now``: naive UTC), as sentences."""
    return [n.text for n in device_finding_notices(conn, names, now, people=people)]


def device_finding_notices(
    conn: Connection,
    names: set[str],
    now: datetime,
    *,
    timezone: str | None = None,
    held_now: set[str] | None = None,
    people: bool = False,
) -> list[Notice]:
    """:func:`device_findings` as notices (``timezone``: the site's, for ``since_at``; the
    sentence says UTC). ``held_now``: the devices whose server lock is held (PostgreSQL,
    MariaDB); None: judge by the lease rows (SQLite). ``people``: the leavers' notice names
    the newest one (:func:`leaver_notice`)."""
    found = []
    for name, since, holder, expires, _ in device_store.left_disabled(conn):
        running = name in held_now if held_now is not None else holder_alive(holder, expires, now)
        if name in names and not running:  # no run holds it now
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
    for name, all_flags in sorted(store.flagged_punch_counts(conn, collected_since=since).items()):
        flags = {f: n for f, n in all_flags.items() if f != punch_store.AFTER_LEAVING}
        if name in names and flags:
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
    leavers = leaver_notice(conn, since, people=people)
    if leavers is not None:
        found.append(leavers)
    return found


def leaver_notice(conn: Connection, since: datetime, *, people: bool = False) -> Notice | None:
    """Punches by people who had left (``att_punch.flag`` ``after_leaving``) collected since
    ``since`` (naive UTC), or None; ``people``: with the newest as an example (who, when,
    which clock) — otherwise the notice names nobody, and the detail report (scoped to the
    reader's departments) says who."""
    count, examples = punch_store.leaver_punches(
        conn, collected_since=since, examples=1 if people else 0
    )
    if not count:
        return None
    params: dict[str, str | int | float] = {"count": count, "days": FLAGGED_ATTENTION_DAYS}
    example = ""
    if examples:
        ex = examples[0]
        at: datetime = ex["punched_at"]
        params.update(
            {
                "employee_no": ex["employee_no"] or "",
                "name": ex["name"] or "",
                "enroll_no": ex["enroll_no"],
                "device": ex["device"],
                "punched_at": at.isoformat(),
            }
        )
        who = (
            f"{ex['employee_no']} {ex['name']}" if ex["employee_no"] else f"user {ex['enroll_no']}"
        )
        example = f", e.g. {who} {at:%Y-%m-%d %H:%M} on {ex['device']}"
    return Notice(
        "leaver_punches",
        params,
        f"punches by people who have left: {count} stored in the last "
        f"{FLAGGED_ATTENTION_DAYS} days{example}; not counted as attendance — see "
        "`punchd report --only flagged`, and remove them from the clocks (`punchd enrol apply`)",
    )


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
    :func:`~punchd.collector.drift.describe_drift` adds ("zone", "dst" or "")."""
    hint = ""
    if likely_zone_error(drift):
        hint = "dst" if abs(round(abs(drift)) - 3600) <= ZONE_SLACK_S else "zone"
    return {"device": name, "seconds": round(drift), "hint": hint}


def _iso(value: datetime | None) -> str:
    return value.isoformat(sep=" ") if value else ""


def _t(value: datetime | None) -> str:
    return f"{value:%m-%d %H:%M:%S}" if value else "-"


def cluster_notices(report: SiteStatus, max_skew: float) -> list[Notice]:
    """Daemons that stopped beating without stopping (dead or stalled) and host clocks off
    from the database server's by more than ``max_skew`` seconds."""
    found = []
    for d in report.silent:
        devices = ", ".join(d["held"]) or "-"
        found.append(
            Notice(
                "daemon_silent",
                {
                    "host": d["host"],
                    "daemon": d["id"],
                    "seconds": round(d["age"]),
                    "devices": devices,
                },
                f"daemon #{d['id']} on {d['host']}: no heartbeat for {d['age']:.0f} s (dead or "
                f"stalled); its devices ({devices}) are polled by the others",
            )
        )
    for d in report.daemons:
        skew = d.get("skew")
        if skew is not None and abs(skew) > max_skew:
            found.append(
                Notice(
                    "host_skew",
                    {
                        "host": d["host"],
                        "daemon": d["id"],
                        "seconds": round(skew),
                        "limit": max_skew,
                    },
                    f"daemon #{d['id']} on {d['host']}: host clock {abs(skew):.0f} s "
                    f"{'ahead of' if skew > 0 else 'behind'} the database server's (more than "
                    f"{max_skew:g} s): it does not correct device clocks; check its time sync",
                )
            )
    return found


def _newest(found: list[membership.Member]) -> list[membership.Member]:
    return sorted(found, key=lambda m: m.heartbeat_at, reverse=True)


def _would_hold(m: membership.Member, alive: list[membership.Member]) -> list[str]:
    """The devices a silent daemon had (would own were it alive): they moved to others."""
    return sorted(d for d, o in membership.assignment([*alive, m]).items() if o is m)


def _daemon_row(m: membership.Member, rows: list[dict], held: list[str], live: bool) -> dict:
    row = dict(next(r for r in rows if r["id"] == m.id))
    row.update(age=m.age, skew=m.skew, held=held, live=live)
    return row
