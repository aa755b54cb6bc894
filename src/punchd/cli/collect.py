"""The collection commands: `punchd collect`, `devices`, `devices set-time`, `run`, `status`
(registered by cli.main). Each parses, calls :mod:`punchd.app.collection`, prints.

Each command imports what it uses when it runs: `punchd --help` imports none of it."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer

from punchd.cli._common import actor, err, fail, open_site, out, settings, state
from punchd.errors import PunchdError
from punchd.safetext import terminal, visible

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

    from punchd.app import Site
    from punchd.app import collection as ops
    from punchd.collector.collect import RunResult
    from punchd.collector.lease import LeaseInfo
    from punchd.config import Settings

devices_app = typer.Typer(
    help="Configured devices and pending push clocks; `set-time` sets a device clock, "
    "`command` queues a command for a push clock, `commands` lists its queue."
)


# -- collect ------------------------------------------------------------------------------
class _BarWatch:
    """A transient progress bar per device on stderr (``bar`` None: no bar; a wait for a
    busy device is then said once per device): a
    :class:`punchd.collector.collect.CollectionWatch`."""

    def __init__(self, bar: Progress | None) -> None:
        self.bar = bar
        self.task = None
        self.said: set[str] = set()

    def started(self, device: str) -> None:
        if self.bar is not None:
            self.task = self.bar.add_task(f"{device}: reading", total=None)

    def progress(self, device: str, done: int, total: int) -> None:
        if self.bar is not None and self.task is not None:
            self.bar.update(self.task, completed=done, total=total or None)

    def waiting(self, device: str, lease: LeaseInfo | None) -> None:
        text = f"{device}: waiting, busy ({lease.describe() if lease else 'in use'})"
        if self.bar is not None and self.task is not None:
            self.bar.update(self.task, description=text)
        elif device not in self.said:
            self.said.add(device)
            err.print(text, highlight=False)

    def finished(self, device: str, result: RunResult) -> None:
        if self.bar is not None and self.task is not None:
            self.bar.remove_task(self.task)
        self.task = None


@contextmanager
def transfer_progress(enabled: bool) -> Iterator[Progress | None]:
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    ) as bar:
        yield bar


def collect_with_progress(
    site: Site,
    devices: Sequence,
    *,
    show_progress: bool,
    all_records: bool = False,
    wait: float = 0.0,
) -> list[RunResult]:
    """:func:`punchd.app.collection.collect_now` with a transient progress bar per device on
    stderr (``show_progress``) and the CLI's wording of a failed re-processing."""
    from punchd.app import collection as ops
    from punchd.cli.process import refresh

    with transfer_progress(show_progress) as bar:
        return ops.collect_now(
            site,
            devices,
            all_records=all_records,
            wait=wait,
            watch=_BarWatch(bar),
            refresh=lambda: refresh(site.engine, site.settings.timezone),
        )


def print_results(results: Sequence[RunResult], s: Settings | None = None) -> None:
    from rich.table import Table

    from punchd import logs
    from punchd.collector.drift import drift_warnings

    table = Table(title="Collection", title_justify="left")
    for col in ("device", "status", "read", "new", "users", "duration", "clock drift", "cleared"):
        table.add_column(col, justify="right" if col in {"read", "new", "users"} else "left")
    for r in results:
        drift = "-" if r.clock_drift_seconds is None else f"{r.clock_drift_seconds:+.0f} s"
        cleared = "yes" if r.cleared else ("skipped" if r.clear_skipped else "-")
        table.add_row(
            terminal(r.device),
            {"ok": "[green]ok[/]", "spooled": "[yellow]spooled[/]"}.get(r.status, "[red]failed[/]"),
            str(r.records_read),
            str(r.records_new),
            str(r.users_read),
            f"{r.duration_s:.2f} s",
            drift,
            cleared,
        )
    out.print(table)
    for r in results:
        if r.clear_skipped:
            line = f"[yellow]{terminal(r.device)}:[/] {terminal(r.clear_skipped)}"
            out.print(line, highlight=False)
    if s is not None:
        for line in drift_warnings(s.daemon, [(r.device, r.clock_drift_seconds) for r in results]):
            err.print(f"[bold yellow]warning:[/] {terminal(line)}", highlight=False)
    for r in results:
        if r.ok and r.error:  # a run that succeeded with something to say (bad records)
            out.print(f"[yellow]note:[/] {terminal(r.error)}", highlight=False)
    for r in results:
        if not r.ok:
            line = terminal(f"[{r.error_kind}] {logs.scrub(r.error or '')}")
            err.print(f"[bold red]FAILED[/] {line}", highlight=False)


def collect(
    device: Annotated[
        list[str] | None, typer.Option("--device", "-d", help="Device name (repeatable)")
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every enabled device (the default)")] = False,
    all_records: Annotated[
        bool,
        typer.Option(
            "--all-records",
            help="Re-read every record, not only those the device marks new (recovery; "
            "still stores each punch once)",
        ),
    ] = False,
    wait: Annotated[
        float,
        typer.Option(help="Seconds to wait for a device another collector is using"),
    ] = 60.0,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Push clocks: have the clock re-send its punches from this date (YYYY-MM-DD, "
            "its wall clock) to now; queued, not polled (default devices: every push clock)",
        ),
    ] = None,
) -> None:
    """Read new punches from the devices and store them (incremental, idempotent)."""
    from punchd.app import collection as ops

    s = settings()
    if since is not None:
        _collect_since(s, device, since)
        return
    try:
        devices = ops.pick_devices(s, device)
    except PunchdError as exc:
        raise fail(str(exc)) from None
    site = open_site(s)
    results = collect_with_progress(
        site, devices, show_progress=err.is_terminal, all_records=all_records, wait=wait
    )
    print_results(results, s)
    if not all(r.ok for r in results):
        raise typer.Exit(1)


def _collect_since(s: Settings, names: list[str] | None, since: str) -> None:
    """``collect --since``: a push clock is asked to re-send a range (DATA QUERY ATTLOG); a
    polled clock has no such request and is refused."""
    from datetime import date

    from punchd.app import Actor
    from punchd.app import collection as ops
    from punchd.collector.push.service import DRIVER as PUSH_DRIVER

    try:
        day = date.fromisoformat(since.strip())
    except ValueError:
        raise fail(f"--since: not a date YYYY-MM-DD: {since!r}") from None
    try:
        if names:
            devices = [s.device(n) for n in names]
        else:
            devices = [d for d in s.devices if d.enabled and d.driver == PUSH_DRIVER]
    except PunchdError as exc:
        raise fail(str(exc)) from None
    if not devices:
        raise fail('--since: no push clock configured (driver = "adms")')
    polled = [d.name for d in devices if d.driver != PUSH_DRIVER]
    if polled:
        raise fail(
            f"--since applies to push clocks only; {', '.join(polled)} "
            f"{'is' if len(polled) == 1 else 'are'} polled: read again with --all-records"
        )
    site = open_site(s)
    who = Actor.named(None)
    for device in devices:
        try:
            done = ops.backfill_push_clock(site, device, day, actor=who)
        except PunchdError as exc:
            raise fail(str(exc), code=1) from None
        out.print(
            f"{terminal(done.device)}: DATA QUERY ATTLOG {done.start:%Y-%m-%d %H:%M:%S} … "
            f"{done.end:%Y-%m-%d %H:%M:%S} ({done.zone}) as command {done.command_id}; "
            "queued: the clock re-sends them at its next contact",
            highlight=False,
        )


# -- devices ------------------------------------------------------------------------------
@devices_app.callback(invoke_without_command=True)
def devices(ctx: typer.Context) -> None:
    """Configured devices with their last run, punches stored and clock drift; push clocks
    online or offline; push clocks waiting to be accepted."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.table import Table

    from punchd.app import collection as ops
    from punchd.clock import site_label
    from punchd.storage.database import DatabaseFailed

    s = settings()
    site = open_site(s)
    try:
        listing = ops.list_devices(site)
    except PunchdError as exc:
        raise fail(str(exc)) from None
    except Exception as exc:  # the database went away after the check
        raise fail(str(DatabaseFailed(s.db_url, exc))) from None
    table = Table(title=f"Devices ({site_label(listing.timezone)})", title_justify="left")
    # Only a site with push clocks needs their last-contact column (and the width it takes).
    with_contact = any(row.push for row in listing.devices)
    for col in (
        "device",
        "driver",
        "address",
        "serial",
        "last run",
        "status",
        *(["last contact"] if with_contact else []),
        "punches",
        "last punch",
        "clock drift",
    ):
        table.add_column(col, justify="right" if col == "punches" else "left")
    for row in listing.devices:
        drift = row.clock_drift_seconds
        if row.push:  # it calls in: its state is its last contact, not a run
            status = "[green]online[/]" if row.online else "[red]offline[/]"
            if row.last_contact_at is None:
                status = "[red]offline[/] (never contacted)"
        else:
            status = terminal(row.last_run_status or "never run")
        if not row.configured:
            status += " (not configured)"
        contact = "-"
        if row.last_contact_at is not None:
            contact = _fmt(row.last_contact_at)
            if row.last_contact_address:
                contact += f" from {terminal(row.last_contact_address)}"
        table.add_row(
            terminal(row.name),
            terminal(row.driver),
            terminal(row.address),
            terminal(row.serial_number or "-"),
            _fmt(row.last_run_at),
            status,
            *([contact] if with_contact else []),
            str(row.punch_count),
            # punched_at is the device's wall clock, which is the site's unless the device
            # has its own zone
            _fmt(row.last_punch_at),
            "-" if drift is None else f"{drift:+.0f} s",
        )
    out.print(table)
    for line in listing.warnings:
        out.print(f"[bold yellow]warning:[/] {terminal(line)}", highlight=False)
    if listing.pending:
        _print_pending(listing)


def _print_pending(listing: ops.DeviceListing) -> None:
    """Unknown serial numbers that called in: refused (their punches stay on the clock)."""
    from rich.table import Table

    from punchd.clock import site_label

    table = Table(
        title=f"Pending push clocks ({site_label(listing.timezone)})", title_justify="left"
    )
    for col in ("serial", "first seen", "last seen", "address", "requests"):
        table.add_column(col, justify="right" if col == "requests" else "left")
    for p in listing.pending:
        table.add_row(
            terminal(p.serial),
            _fmt(p.first_seen_at),
            _fmt(p.last_seen_at),
            terminal(p.address or "-"),
            str(p.requests),
        )
    out.print(table)
    for p in listing.pending:
        out.print(
            f'{visible(p.serial)}: add [[devices]] driver = "adms", serial = '
            f'"{visible(p.serial)}" to accept it',
            highlight=False,
            markup=False,
        )


@devices_app.command("command")
def devices_command(
    name: Annotated[str, typer.Argument(help="Push clock (device name)")],
    text: Annotated[
        list[str],
        typer.Argument(
            help='The command, e.g. "DATA DELETE USERINFO PIN=1001" (several words are joined '
            "by spaces)"
        ),
    ],
    by: Annotated[
        str | None, typer.Option("--by", help="Who queues it, for the audit (default: you)")
    ] = None,
) -> None:
    """Queue a command for a push clock: it gets it at its next poll (re-sent until it
    answers). CLEAR LOG, CLEAR DATA and SHELL are never sent. Audited."""
    from punchd.app import Actor
    from punchd.app import collection as ops
    from punchd.storage.database import DatabaseFailed

    s = settings()
    who = Actor(actor(by))
    site = open_site(s)
    try:
        queued = ops.queue_device_command(site, name, " ".join(text), actor=who)
    except PunchdError as exc:
        raise fail(str(exc)) from None
    except Exception as exc:  # the database went away after the check
        raise fail(str(DatabaseFailed(s.db_url, exc)), code=1) from None
    out.print(
        f"{visible(name)}: queued command {queued.id}: {visible(queued.command)} "
        f"(sent at the clock's next poll; see punchd devices commands {visible(name)})",
        highlight=False,
        markup=False,
    )


@devices_app.command("commands")
def devices_commands(
    name: Annotated[str, typer.Argument(help="Push clock (device name)")],
    limit: Annotated[int, typer.Option(min=1, help="The newest this many")] = 50,
) -> None:
    """A push clock's command queue, newest first: sent, answered and with what result."""
    from rich.table import Table

    from punchd.app import collection as ops
    from punchd.clock import site_label
    from punchd.storage.database import DatabaseFailed

    s = settings()
    site = open_site(s)
    try:
        commands = ops.device_commands(site, name, limit=limit)
    except PunchdError as exc:
        raise fail(str(exc)) from None
    except Exception as exc:  # the database went away after the check
        raise fail(str(DatabaseFailed(s.db_url, exc))) from None
    table = Table(
        title=f"Commands of {terminal(name)} ({site_label(s.timezone)})", title_justify="left"
    )
    for col in ("id", "command", "created", "sent", "sends", "answered", "return", "result"):
        table.add_column(col, justify="right" if col in {"id", "sends"} else "left")
    for c in commands:
        code = "-" if c.return_code is None else f"{c.return_code} ({c.meaning})"
        table.add_row(
            c.id,
            terminal(c.command),
            f"{_fmt(c.created_at)} by {terminal(c.created_by)}",
            _fmt(c.sent_at),
            str(c.send_count),
            _fmt(c.answered_at),
            terminal(code),
            terminal((c.result or "-")[:200]),
        )
    out.print(table)
    if not commands:
        out.print("no commands queued", highlight=False)


@devices_app.command("set-time")
def devices_set_time(
    name: Annotated[str, typer.Argument(help="Device name")],
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            help="'YYYY-MM-DD HH:MM:SS' on the device's wall clock (default: now in its zone)",
        ),
    ] = None,
    by: Annotated[
        str | None, typer.Option("--by", help="Who makes the change, for the audit (default: you)")
    ] = None,
    wait: Annotated[
        float, typer.Option(help="Seconds to wait for a device another collector is using")
    ] = 60.0,
) -> None:
    """Set a device's clock (deliberately; the daemon corrects only small drifts). Audited."""
    from punchd.app import Actor
    from punchd.app import collection as ops
    from punchd.collector.drift import describe_drift
    from punchd.storage.database import DatabaseFailed

    s = settings()
    try:
        device = s.device(name)
    except PunchdError as exc:
        raise fail(str(exc)) from None
    when = None
    if to is not None:
        try:
            when = datetime.strptime(to.strip(), "%Y-%m-%d %H:%M:%S")
        except ValueError:
            raise fail(f"--to: not a time 'YYYY-MM-DD HH:MM:SS': {to!r}") from None
    who = Actor(actor(by))
    site = open_site(s)
    try:
        done = ops.set_device_time(site, device, when, who, wait=wait)
    except PunchdError as exc:
        raise fail(str(exc), code=1) from None
    except Exception as exc:  # the database went away after the check
        raise fail(str(DatabaseFailed(s.db_url, exc)), code=1) from None
    before, after = describe_drift(done.drift_before_s), describe_drift(done.drift_after_s)
    out.print(
        f"{terminal(name)}: clock set ({done.zone}); before: {before}; now: {after}",
        highlight=False,
    )


def _fmt(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


# -- run, status --------------------------------------------------------------------------
def run() -> None:
    """The unattended daemon: scheduled polling, spool, clock checks (see `punchd status`)."""
    from punchd.app.enrolment import daemon_enrolment
    from punchd.collector.daemon import Daemon

    s = settings()
    site = open_site(s)
    enrol = daemon_enrolment(site.engine)
    raise typer.Exit(Daemon(s, site.engine, config_path=state.config, enrol=enrol).run())


def status() -> None:
    """Daemon alive?, per device health, spool backlog. Exit 1 when something needs attention."""
    from punchd.app import collection as ops
    from punchd.storage.database import DatabaseFailed

    s = settings()
    site = open_site(s)
    try:
        report = ops.site_status(site, people=True)
    except PunchdError as exc:
        raise fail(str(exc)) from None
    except Exception as exc:  # the database went away after the check
        raise fail(str(DatabaseFailed(s.db_url, exc))) from None
    render_status(report, out)
    raise typer.Exit(1 if report.attention else 0)


def _site(daemon: dict) -> str:
    return f", site {terminal(daemon['site'])}" if daemon.get("site") else ""


def _skew(daemon: dict) -> str:
    skew = daemon.get("skew")
    return "" if skew is None or abs(skew) < 1 else f", host clock {skew:+.0f} s"


def _held(daemon: dict) -> str:
    held = daemon.get("held") or []
    if not held:
        return "no devices"
    named = ", ".join(terminal(n) for n in held[:8])
    return f"{len(held)} device(s): {named}" + (", …" if len(held) > 8 else "")


def render_status(report: ops.SiteStatus, console: Console) -> None:
    from rich.table import Table

    from punchd.clock import site_label, to_site

    def _t(value: datetime | None, fmt: str = "%m-%d %H:%M:%S") -> str:
        local = to_site(value, report.timezone)
        return f"{local:{fmt}}" if local else "-"

    console.print(f"({site_label(report.timezone)})", highlight=False)
    if report.daemons:
        for x in report.daemons:
            console.print(
                f"daemon #{x['id']}: [green]alive[/] on {terminal(x['host'])} pid {x['pid']}"
                f"{_site(x)}, punchd {terminal(x['version'])}, since "
                f"{_t(x['started_at'], '%Y-%m-%d %H:%M:%S')}, heartbeat {x['age']:.0f} s ago "
                f"(database clock){_skew(x)} — holds {_held(x)} — {terminal(x['status'])}",
                highlight=False,
            )
    else:
        console.print("daemon: [red]not running[/]")
    for x in report.silent:
        console.print(
            f"daemon #{x['id']}: [red]silent[/] on {terminal(x['host'])} pid {x['pid']}"
            f"{_site(x)}: no heartbeat for {x['age']:.0f} s (dead or stalled); its devices "
            f"({_held(x)}) went to the others",
            highlight=False,
        )
    table = Table(title=f"Devices ({site_label(report.timezone)})", title_justify="left")
    for col in (
        "device",
        "last success / contact",
        "last failure",
        "reason",
        "next poll",
        "failures",
        "polled by",
        "lease holder",
        "clock drift",
    ):
        table.add_column(col, justify="right" if col == "failures" else "left")
    for row in report.devices:
        drift = row.get("clock_drift_seconds")
        holder = row.get("holder")
        push = row.get("push")
        # a push clock is never polled: its last contact and online/offline instead
        polled = "online (push)" if row.get("online") else "offline (push)"
        table.add_row(
            terminal(row["name"]) + ("" if row["enabled"] else " (disabled)"),
            _t(row.get("last_seen_at") if push else row.get("last_success_at")),
            _t(row.get("last_failure_at")),
            terminal((row.get("last_error") or "-")[:60]),
            polled if push else _t(row.get("next_poll_at")),
            str(row.get("consecutive_failures") or 0),
            "push" if push else terminal(row.get("owner") or "nobody"),
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


def register(app: typer.Typer) -> None:
    """Add the collection commands to the main app (in `punchd --help` order)."""
    app.command()(collect)
    app.add_typer(devices_app, name="devices")
    app.command()(run)
    app.command()(status)
