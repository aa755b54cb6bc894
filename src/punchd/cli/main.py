"""The ``punchd`` command line (typer + rich)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from punchd.cli import collect as cli_collect
from punchd.cli import employees as cli_employees
from punchd.cli import enrol as cli_enrol
from punchd.cli import period as cli_period
from punchd.cli import process as cli_process
from punchd.cli import rules as cli_rules
from punchd.cli import users as cli_users
from punchd.cli import web as cli_web
from punchd.cli._common import (
    fail,
    open_database,
    out,
    parse_date,
    settings,
    state,
)
from punchd.errors import PunchdError

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


# Collection: collect, devices (set-time), run, status.
cli_collect.register(app)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema to this version of punchd."""
    from punchd.app.database import upgrade_database

    try:
        done = upgrade_database(settings())
    except PunchdError as exc:
        raise fail(str(exc)) from None
    out.print(f"schema at {done.head} (was {done.before or 'empty'})")


@db_app.command("current")
def db_current() -> None:
    """Show the schema revision of the database and of this punchd."""
    from punchd.app.database import database_revision

    try:
        rev = database_revision(settings())
    except PunchdError as exc:
        raise fail(str(exc)) from None
    out.print(f"database {rev.url}: {rev.current or 'empty'}")
    out.print(f"this punchd expects: {rev.head}")


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


@simulate_app.command("adms")
def simulate_adms(
    server: Annotated[str, typer.Option(help="The receiver's URL, e.g. http://127.0.0.1:8081")],
    devices: Annotated[int, typer.Option(help="Push clocks to run")] = 1,
    punches: Annotated[int, typer.Option(help="Attendance records per clock")] = 1000,
    users: Annotated[int, typer.Option(help="Enrolled users per clock")] = 20,
    fault: Annotated[
        list[str] | None, typer.Option(help="Fault mode (repeatable), see docs/adms.md")
    ] = None,
    delay: Annotated[
        float | None,
        typer.Option(help="Poll every S seconds instead of the handshake's Delay"),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed of the data sets")] = 1,
) -> None:
    """Push clocks (ZKTeco ADMS / iclock) posting their punches to a receiver over HTTP."""
    from punchd.drivers.adms import simulator

    if devices < 1 or punches < 0 or users < 1:
        raise fail("--devices and --users must be >= 1, --punches >= 0")
    if delay is not None and delay <= 0:
        raise fail("--delay must be > 0")
    try:
        simulator.run_fleet(
            server=server,
            devices=devices,
            punches=punches,
            users=users,
            faults=[simulator.parse_fault(f) for f in fault or []],
            delay=delay,
            seed=seed,
        )
    except ValueError as exc:
        raise fail(str(exc)) from None


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
    web: Annotated[
        bool,
        typer.Option(
            "--web",
            help="Then serve the web console ([web] listen) with the simulated clocks still "
            "running, until Ctrl-C",
        ),
    ] = False,
) -> None:
    """Simulated clocks → collect, import the example roster and rules, process, report."""
    from punchd.cli.demo import run_demo

    day = None if today is None else parse_date(today, "--today")
    s = settings()
    engine = open_database(s)
    serve = None
    if web:
        from punchd.cli.web import check_address, serve

        check_address(s.web.listen)
    code = run_demo(s, engine, punches=punches, users=users, console=out, today=day, serve=serve)
    raise typer.Exit(code)


# HR data, rules, processing and reports: their commands live in modules of their own.
for _module in (cli_employees, cli_enrol, cli_rules, cli_process, cli_users, cli_web):
    _module.register(app)
cli_period.register(app, db_app)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
