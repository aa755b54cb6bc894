"""The ``punchd`` command line (typer + rich)."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from punchd import logs
from punchd.cli import employees as cli_employees
from punchd.cli import process as cli_process
from punchd.cli import rules as cli_rules
from punchd.cli._common import (
    db_timeouts,
    err,
    fail,
    open_database,
    out,
    parse_date,
    settings,
    state,
)
from punchd.config import ConfigError, Settings
from punchd.safetext import terminal

app = typer.Typer(
    help="Collect punches from attendance terminals into a SQL database.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema commands.", no_args_is_help=True)
simulate_app = typer.Typer(help="Run a simulated device on loopback.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(simulate_app, name="simulate")


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            out.print(f"punchd {version('punchd')}", highlight=False)
        except PackageNotFoundError:  # run from a source tree that was never installed
            out.print("punchd (not installed: no version)", highlight=False)
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit"
        ),
    ] = False,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="TOML file (default $PUNCHD_CONFIG or ./punchd.toml)"),
    ] = None,
    log_format: Annotated[
        str | None, typer.Option(help="auto | console | json (default from settings)")
    ] = None,
) -> None:
    state.config = config
    state.log_format = log_format


@contextmanager
def transfer_progress(enabled: bool) -> Iterator[Progress | None]:
    if not enabled:
        yield None
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    ) as bar:
        yield bar


def run_collection(
    engine,
    devices: Sequence,
    *,
    show_progress: bool,
    all_records: bool = False,
    lock_dir: Path | None = None,
    wait: float = 0.0,
    timezone: str | None = None,
) -> list:
    from punchd.cli.process import refresh
    from punchd.collector.collect import collect_device

    results = []
    with transfer_progress(show_progress) as bar:
        for device in devices:
            callback = task = None
            if bar is not None:
                task = bar.add_task(f"{device.name}: reading", total=None)

                def callback(done: int, total: int, task=task) -> None:
                    bar.update(task, completed=done, total=total or None)

            def waiting(info, device=device, task=task, said=[]) -> None:  # noqa: B006
                text = f"{device.name}: waiting, busy ({info.describe() if info else 'in use'})"
                if bar is not None and task is not None:
                    bar.update(task, description=text)
                elif not said:
                    said.append(True)
                    err.print(text, highlight=False)

            results.append(
                collect_device(
                    engine,
                    device,
                    trigger="manual",
                    progress=callback,
                    all_records=all_records,
                    lock_dir=lock_dir,
                    lease_wait=wait,
                    on_wait=waiting,
                )
            )
            if bar is not None and task is not None:
                bar.remove_task(task)
    # New punches queued the employee-days they touch: results are fresh when this returns
    # (a failure is a warning; the punches are stored either way).
    if any(r.records_new for r in results):
        refresh(engine, timezone)
    return results


def print_results(results: Sequence, s: Settings | None = None) -> None:
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
        for line in drift_warnings(s, [(r.device, r.clock_drift_seconds) for r in results]):
            err.print(f"[bold yellow]warning:[/] {terminal(line)}", highlight=False)
    for r in results:
        if r.ok and r.error:  # a run that succeeded with something to say (bad records)
            out.print(f"[yellow]note:[/] {terminal(r.error)}", highlight=False)
    for r in results:
        if not r.ok:
            line = terminal(f"[{r.error_kind}] {logs.scrub(r.error or '')}")
            err.print(f"[bold red]FAILED[/] {line}", highlight=False)


@app.command()
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
) -> None:
    """Read new punches from the devices and store them (incremental, idempotent)."""
    s = settings()
    if device:
        try:
            devices = [s.device(name) for name in device]
        except ConfigError as exc:
            raise fail(str(exc)) from None
    else:
        devices = [d for d in s.devices if d.enabled]
    if not devices:
        raise fail("no devices configured: add [[devices]] to the configuration file")
    engine = open_database(s)
    results = run_collection(
        engine,
        devices,
        show_progress=err.is_terminal,
        all_records=all_records,
        lock_dir=s.data_dir / "locks",
        wait=wait,
        timezone=s.timezone,
    )
    print_results(results, s)
    if not all(r.ok for r in results):
        raise typer.Exit(1)


def drift_warnings(s: Settings, drifts: Sequence[tuple[str, float | None]]) -> list[str]:
    """One line per device whose clock is off by more than the daemon corrects by itself."""
    from punchd.collector.clockcheck import describe_drift, verdict

    d = s.daemon
    return [
        f"{name}: {describe_drift(drift)} — not corrected automatically; check it, then "
        f"`punchd devices set-time {name}`"
        for name, drift in drifts
        if drift is not None
        and verdict(drift, d.clock_sync_threshold, d.clock_auto_correct_max) == "report"
    ]


devices_app = typer.Typer(help="Configured devices; `set-time` sets a device clock.")
app.add_typer(devices_app, name="devices")


@devices_app.callback(invoke_without_command=True)
def devices(ctx: typer.Context) -> None:
    """Configured devices with their last run, punches stored and clock drift."""
    if ctx.invoked_subcommand is not None:
        return
    s = settings()
    engine = open_database(s)
    from punchd.clock import site_label, to_site
    from punchd.storage import collection as store

    try:
        with engine.connect() as conn:
            stored = {row["name"]: row for row in store.device_overview(conn)}
    except Exception as exc:  # the database went away after the check
        raise fail(_db_error(s, exc)) from None
    table = Table(title=f"Devices ({site_label(s.timezone)})", title_justify="left")
    for col in (
        "device",
        "driver",
        "address",
        "serial",
        "last run",
        "status",
        "punches",
        "last punch",
        "clock drift",
    ):
        table.add_column(col, justify="right" if col == "punches" else "left")
    configured = {d.name: d for d in s.devices}
    names = [*configured, *(n for n in stored if n not in configured)]
    for name in names:
        row = stored.get(name, {})
        run = row.get("last_run") or {}
        cfg = configured.get(name)
        drift = row.get("clock_drift_seconds")
        status = run.get("status") or "never run"
        if cfg is None:
            status += " (not configured)"
        table.add_row(
            terminal(name),
            terminal(cfg.driver if cfg else row.get("driver", "-")),
            terminal(cfg.address() if cfg else row.get("address", "-")),
            terminal(row.get("serial_number") or "-"),
            _fmt(to_site(run.get("started_at"), s.timezone)),
            terminal(status),
            str(row.get("punch_count", 0)),
            # punched_at is the device's wall clock, which is the site's unless the device
            # has its own zone
            _fmt(row.get("last_punch_at")),
            "-" if drift is None else f"{drift:+.0f} s",
        )
    out.print(table)
    for line in drift_warnings(
        s, [(n, stored.get(n, {}).get("clock_drift_seconds")) for n in names]
    ):
        out.print(f"[bold yellow]warning:[/] {terminal(line)}", highlight=False)


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
    from datetime import datetime

    from punchd.collector.clockcheck import describe_drift, set_device_time
    from punchd.drivers import DriverError
    from punchd.storage.audit import default_actor

    s = settings()
    try:
        device = s.device(name)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    when = None
    if to is not None:
        try:
            when = datetime.strptime(to.strip(), "%Y-%m-%d %H:%M:%S")
        except ValueError:
            raise fail(f"--to: not a time 'YYYY-MM-DD HH:MM:SS': {to!r}") from None
    engine = open_database(s)
    tz = s.device_zone(device)
    try:
        before, after = set_device_time(
            engine,
            device,
            tz,
            to=when,
            lock_dir=s.data_dir / "locks",
            actor=by or default_actor(),
            wait=wait,
        )
    except DriverError as exc:
        raise fail(logs.scrub(str(exc)), code=1) from None
    except Exception as exc:  # the database went away after the check
        raise fail(_db_error(s, exc), code=1) from None
    out.print(
        f"{terminal(name)}: clock set ({tz.key}); before: {describe_drift(before)}; "
        f"now: {describe_drift(after)}",
        highlight=False,
    )


def _db_error(s: Settings, exc: BaseException) -> str:
    from punchd.storage.database import describe_error, safe_url

    return f"database {safe_url(s.db_url)} failed: {describe_error(exc, s.db_url)}"


def _fmt(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


@app.command()
def run() -> None:
    """The unattended daemon: scheduled polling, spool, clock checks (see `punchd status`)."""
    from punchd.collector.daemon import Daemon

    s = settings()
    engine = open_database(s)
    raise typer.Exit(Daemon(s, engine, config_path=state.config).run())


@app.command()
def status() -> None:
    """Daemon alive?, per device health, spool backlog. Exit 1 when something needs attention."""
    from punchd.collector.status import gather, render

    s = settings()
    engine = open_database(s)
    try:
        report = gather(s, engine)
    except Exception as exc:  # the database went away after the check
        raise fail(_db_error(s, exc)) from None
    render(report, out)
    raise typer.Exit(1 if report.attention else 0)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema to this version of punchd."""
    from punchd.storage.database import (
        DatabaseUnavailable,
        current_revision,
        describe_error,
        head_revision,
        make_engine,
        upgrade,
    )

    s = settings()
    try:
        engine = make_engine(s.db_url, **db_timeouts(s))
        before = current_revision(engine)
        upgrade(engine)
    except DatabaseUnavailable as exc:
        raise fail(str(exc)) from None
    except Exception as exc:
        raise fail(f"upgrade failed: {describe_error(exc, s.db_url)}") from None
    out.print(f"schema at {head_revision()} (was {before or 'empty'})")


@db_app.command("current")
def db_current() -> None:
    """Show the schema revision of the database and of this punchd."""
    from punchd.storage.database import (
        DatabaseUnavailable,
        current_revision,
        describe_error,
        head_revision,
        make_engine,
        safe_url,
    )

    s = settings()
    try:
        engine = make_engine(s.db_url, **db_timeouts(s))
        current = current_revision(engine)
    except DatabaseUnavailable as exc:
        raise fail(str(exc)) from None
    except Exception as exc:
        raise fail(
            f"database {safe_url(s.db_url)} is unavailable: {describe_error(exc, s.db_url)}"
        ) from None
    out.print(f"database {safe_url(s.db_url)}: {current or 'empty'}")
    out.print(f"this punchd expects: {head_revision()}")


@simulate_app.command("zk")
def simulate_zk(
    port: Annotated[int, typer.Option(help="TCP/UDP port (0 picks a free one)")] = 4370,
    udp: Annotated[bool, typer.Option("--udp", help="Serve UDP instead of TCP")] = False,
    users: Annotated[int, typer.Option(help="Enrolled users")] = 50,
    punches: Annotated[int, typer.Option(help="Attendance records")] = 1000,
    seed: Annotated[int, typer.Option(help="Random seed of the data set")] = 1,
    comm_key: Annotated[int, typer.Option(help="Comm key (0: none)", show_default=False)] = 0,
    record_size: Annotated[int, typer.Option(help="8 | 16 | 40 | 49")] = 40,
    fault: Annotated[
        list[str] | None, typer.Option(help="Fault mode (repeatable), see docs/zk.md")
    ] = None,
    punch_every: Annotated[
        float | None, typer.Option(help="Add a live punch every N seconds")
    ] = None,
    host: Annotated[str, typer.Option(help="Address to bind (loopback by default)")] = "127.0.0.1",
) -> None:
    """A ZK terminal on loopback that unmodified pyzk (and punchd) can talk to."""
    from punchd.drivers.zk import simulator

    if record_size not in (8, 16, 40, 49):
        raise fail("--record-size must be 8, 16, 40 or 49")
    try:
        simulator.serve(
            port=port,
            udp=udp,
            users=users,
            punches=punches,
            seed=seed,
            comm_key=comm_key,
            record_size=record_size,
            faults=[simulator.parse_fault(f) for f in fault or []],
            punch_every=punch_every,
            host=host,
        )
    except ValueError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


@simulate_app.command("anviz")
def simulate_anviz(
    pty: Annotated[
        str | None,
        typer.Option(
            "--pty",
            metavar="LINK",
            help="Make a pty and a symlink to it at LINK: the serial `port` to configure",
        ),
    ] = None,
    tcp: Annotated[
        int | None,
        typer.Option("--tcp", metavar="PORT", help="Serve TCP on PORT instead (0: any free)"),
    ] = None,
    ids: Annotated[str, typer.Option(help="Device ids on the line, comma-separated")] = "1",
    punches: Annotated[int, typer.Option(help="Attendance records per device")] = 1000,
    seed: Annotated[int, typer.Option(help="Random seed of the data set")] = 1,
    card: Annotated[
        bool, typer.Option("--card", help="User codes are card numbers (user_code = card)")
    ] = False,
    fault: Annotated[
        list[str] | None, typer.Option(help="Fault mode (repeatable), see docs/anviz.md")
    ] = None,
    line_rate: Annotated[
        int | None, typer.Option(help="Pace answers like a serial line of this baud rate")
    ] = None,
    host: Annotated[str, typer.Option(help="Address to bind with --tcp")] = "127.0.0.1",
) -> None:
    """Anviz TC_B card clocks on a pty (one RS-485 bus, several ids) or on TCP."""
    from punchd.drivers.anviz import simulator

    if (pty is None) == (tcp is None):
        raise fail("give exactly one of --pty LINK or --tcp PORT")
    try:
        id_list = [int(part) for part in ids.split(",") if part.strip()]
    except ValueError:
        raise fail(f"--ids must be comma-separated numbers, not {ids!r}") from None
    if not id_list or len(set(id_list)) != len(id_list) or min(id_list) < 1:
        raise fail(f"--ids must be distinct device ids >= 1, not {ids!r}")
    if punches < 0:
        raise fail("--punches must be >= 0")
    try:
        simulator.serve(
            pty=pty,
            tcp=tcp,
            host=host,
            ids=id_list,
            punches=punches,
            seed=seed,
            card=card,
            faults=[simulator.parse_fault(f) for f in fault or []],
            line_rate=line_rate,
        )
    except ValueError as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        where = pty if pty is not None else f"{host}:{tcp}"
        raise fail(f"cannot serve on {where}: {exc.strerror or exc}") from None


@app.command()
def demo(
    punches: Annotated[int, typer.Option(help="Punches on the simulated clock")] = 12_000,
    users: Annotated[int, typer.Option(help="Users on the simulated clock")] = 120,
    today: Annotated[
        str | None,
        typer.Option(
            metavar="YYYY-MM-DD",
            help="Run the demo on this site date (the clock and the simulated clocks move "
            "to it; default: today)",
        ),
    ] = None,
) -> None:
    """Simulated clocks → collect, import the example roster and rules, process, report."""
    from punchd.cli.demo import run_demo

    day = None if today is None else parse_date(today, "--today")
    s = settings()
    engine = open_database(s)
    code = run_demo(s, engine, punches=punches, users=users, console=out, today=day)
    raise typer.Exit(code)


# HR data, rules, processing and reports: their commands live in modules of their own.
for _module in (cli_employees, cli_rules, cli_process):
    _module.register(app)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
