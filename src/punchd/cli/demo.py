"""``punchd demo``: a simulated ZK clock and a simulated Anviz card clock on loopback,
collected into the default DB."""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from punchd import private
from punchd.app import Actor, Site, accounts, attendance
from punchd.cli.process import rich_table
from punchd.clock import clock_shift, local_now, set_today, zone
from punchd.config import Settings
from punchd.drivers.anviz.codec import Record
from punchd.drivers.anviz.driver import AnvizConfig
from punchd.drivers.anviz.simulator import AnvizSimulator, SimDevice, generate_records
from punchd.drivers.zk.driver import ZKConfig
from punchd.drivers.zk.simulator import SimPunch, ZKSimulator, generate
from punchd.hr import service as hr
from punchd.hr.roster import read_roster
from punchd.processing import CalendarDataMissing
from punchd.reports.export import write_xlsx
from punchd.reports.model import Report
from punchd.rules import file as rules_file
from punchd.rules import settings as rules_settings
from punchd.rules import sync
from punchd.safetext import terminal
from punchd.storage.database import safe_url

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

DEMO_DEVICE = "demo-zk"
DEMO_ANVIZ = "demo-anviz"
DEMO_COMM_KEY = 20261102
DEMO_ADMIN = "demo-admin"
#: The example roster and rules, shipped in the package (copies of config/'s).
EXAMPLES = "punchd.examples"
ROSTER_EXAMPLE = "roster.example.csv"
RULES_EXAMPLE = "rules.example.toml"
DEMO_DAYS = 14


@contextmanager
def example_files() -> Iterator[tuple[Path, Path]]:
    """Paths of the packaged example roster and rules (extracted if the package is zipped)."""
    root = resources.files(EXAMPLES)
    with (
        resources.as_file(root / ROSTER_EXAMPLE) as roster,
        resources.as_file(root / RULES_EXAMPLE) as rules,
    ):
        yield roster, rules


def run_demo(
    s: Settings,
    engine: Engine,
    *,
    punches: int,
    users: int,
    console: Console,
    anviz_punches: int = 2_000,
    today: date | None = None,
    serve: Callable[[Site, str], None] | None = None,
) -> int:
    """``today``: the site date to run on (default: the clock's); the whole demo — the
    simulated clocks, collection and processing — then runs on that day. ``serve``: then
    serve the web console on the demo's site, its clocks the running simulators."""
    from punchd.cli.collect import collect_with_progress, print_results

    site = Site(s, engine)

    tz = zone(s.timezone)
    if today is not None:
        set_today(today, tz)
        console.print(f"today: {today} (the clock is moved to it)", highlight=False)
    # The simulated clocks keep the same time as punchd's clock, whatever day it is set to.
    shift = clock_shift()
    midnight = datetime.combine(local_now(tz).date(), datetime.min.time())
    sim_users, sim_punches = generate(users=users, punches=punches, seed=7, start=midnight)
    card_records = generate_records(anviz_punches, seed=8, card=True, start=midnight)
    console.print(f"database: {safe_url(s.db_url)}", highlight=False)
    # The simulated clocks live until the demo ends: with ``serve``, the console collects
    # them too.
    stack = ExitStack()
    with stack:
        sim = stack.enter_context(
            ZKSimulator(
                port=0,
                comm_key=DEMO_COMM_KEY,
                users=sim_users,
                punches=sim_punches,
                record_size=40,
                clock_offset=shift,
            )
        )
        card_sim = stack.enter_context(
            AnvizSimulator(devices=[SimDevice(1, card_records, clock_offset=shift)])
        )
        card_port = card_sim.listen_tcp("127.0.0.1", 0)
        card_clock = AnvizConfig(
            name=DEMO_ANVIZ,
            driver="anviz",
            host="127.0.0.1",
            tcp_port=card_port,
            device_id=1,
            user_code="card",
        )
        device = ZKConfig(
            name=DEMO_DEVICE,
            driver="zk",
            host="127.0.0.1",
            port=sim.port,
            comm_key=DEMO_COMM_KEY,
        )
        console.print(
            f"simulated ZK terminal on tcp://127.0.0.1:{sim.port} "
            f"({len(sim_users)} users, {len(sim_punches)} punches, comm key set)"
        )
        console.print(
            f"simulated Anviz card clock on {card_clock.address()} "
            f"({anviz_punches} card punches flagged new)\n",
            highlight=False,
        )
        console.print("[bold]1. Collection[/] — every punch not yet in the database is stored")
        first = collect_with_progress(site, [device, card_clock], show_progress=console.is_terminal)
        print_results(first)

        # People keep punching between two collections.
        rng = random.Random()
        now = local_now(tz).replace(microsecond=0)
        fresh = [
            SimPunch(
                user_id=rng.choice(sim_users).user_id,
                when=now - timedelta(minutes=i),
                status=1,
                punch=i % 2,
            )
            for i in range(5)
        ]
        sim.add_punches(fresh)
        badge = card_sim.device(1)
        last_code = badge.records[-1].user_code if badge.records else 1001
        card_sim.add_punches(
            1, [Record(last_code, now - timedelta(minutes=i), 3, i % 2) for i in range(3)]
        )
        console.print(
            "\n[bold]2. Second collection[/] — people punched since; only they are new "
            "(the Anviz clock sends only the records it still flags new)"
        )
        second = collect_with_progress(site, [device, card_clock], show_progress=False)
        print_results(second)

        rows = attendance.latest_punches(site, DEMO_DEVICE, 5)
        table = Table(title="Latest punches stored (att_punch)", title_justify="left")
        for col in ("enroll_no", "punched_at (device local)", "state", "verify_mode"):
            table.add_column(col)
        for r in rows:
            table.add_row(
                terminal(r.enroll_no), str(r.punched_at), terminal(r.state), str(r.verify_mode)
            )
        console.print()
        console.print(table)
        collected = all(r.ok for r in first + second)
        attended = _attendance(site, console)
        _demo_admin(site, console, serving=serve is not None)
        console.print(
            "\nNext: put your clocks in a punchd.toml (see config/punchd.example.toml), "
            "then `punchd collect`, `punchd employees import`, `punchd rules load`, "
            "`punchd process` and `punchd report` (README: Attendance)."
        )
        if serve is not None:
            console.print(
                f"\nThe console is at http://{s.web.listen}/ with both simulated clocks: "
                "press Collect now on its Clocks page. Ctrl-C stops it.",
                highlight=False,
                markup=False,
            )
            serve(
                Site(s.model_copy(update={"devices": [device, card_clock]}), engine), s.web.listen
            )
    return 0 if collected and attended else 1


def _demo_admin(site: Site, console: Console, *, serving: bool = False) -> None:
    """The web console's demo admin, made once with a random password shown once; a later
    demo leaves it (and its password) as it is."""
    url = f"http://{site.settings.web.listen}"
    run = "" if serving else "run `punchd web` and "
    console.print(f"\n[bold]6. Web console[/] — account {DEMO_ADMIN}")
    try:
        accounts.get_account(site, DEMO_ADMIN)
    except accounts.AccountNotFound:
        password = secrets.token_urlsafe(12)
        accounts.add_account(site, DEMO_ADMIN, password, "admin", actor=Actor("demo"))
        console.print(
            f"{run}open {url}, sign in as {DEMO_ADMIN} / {password}\n"
            f"(the password is shown only now; `punchd users passwd {DEMO_ADMIN}` sets a new one)",
            highlight=False,
            markup=False,
        )
        return
    console.print(
        f"account {DEMO_ADMIN} exists already (its password is unchanged); {run}"
        f"open {url} and sign in as {DEMO_ADMIN}; `punchd users passwd {DEMO_ADMIN}`"
        " sets a new password",
        highlight=False,
        markup=False,
    )


def _attendance(site: Site, console: Console) -> bool:
    """The packaged example roster and rules, processing of the last days, the reports."""
    try:
        with example_files() as (roster_file, rules_path):
            roster = read_roster(roster_file)
            rules = rules_file.load_rules_file(rules_path)
    except (ModuleNotFoundError, FileNotFoundError) as exc:
        console.print(f"[red]the example roster / rules are not installed ({EXAMPLES}): {exc}[/]")
        return False
    console.print(f"\n[bold]3. HR data[/] — roster {ROSTER_EXAMPLE}, rules {RULES_EXAMPLE}")
    now = site.now()
    with site.transaction() as conn:
        errors = roster.errors + hr.check_roster(conn, roster.rows)
        if errors:
            console.print(f"[red]example roster: {terminal(errors[0])}[/]")
            return False
        imported = hr.apply_roster(conn, roster.rows, actor="demo", now=now)
        loaded = sync.apply_rules_file(conn, rules, actor="demo")
    console.print(
        f"roster: {len(imported.created)} created, {len(imported.updated)} updated, "
        f"{len(imported.unchanged)} unchanged, {len(imported.cards_issued)} cards issued",
        highlight=False,
    )
    console.print(
        f"rules: {loaded.changes} change(s)" + "".join(f"\n  {x}" for x in loaded.lines()),
        highlight=False,
    )

    today = now.date()
    date_from = today - timedelta(days=DEMO_DAYS)
    console.print(
        f"\n[bold]4. Processing[/] {date_from} … {today} (today stays incomplete until its "
        "check-out windows close)"
    )
    # One processing run and the reports as they stand: the re-process queue (what the
    # collections queued, older days included) is left to the daemon.
    demo = Actor("demo")
    try:
        done = attendance.process(site, date_from, today, actor=demo, settle=False)
    except CalendarDataMissing as exc:
        # The example follows China's official calendar; the installed chinese-calendar
        # may not know this year yet. Say so and go on without it.
        console.print(f"[yellow]{terminal(exc)}; the demo goes on without it[/]")
        with site.transaction() as conn:
            rules_settings.set_setting(conn, "calendar_china", False, actor="demo")
        done = attendance.process(site, date_from, today, actor=demo, settle=False)
    console.print(done.summary.line(), highlight=False)
    for warning in done.calendar_warnings:
        console.print(f"[yellow]warning:[/] {terminal(warning)}", highlight=False)

    def report(kind: attendance.ReportKind, d_from: date, d_to: date, **kw: Any) -> Report:
        return attendance.build_report(site, kind, d_from, d_to, settle=False, **kw).report

    last = _last_workday(today)
    detail = report("detail", last, last, only={"late", "early", "absent", "missing"})
    month = report("summary", date_from, today, department="ADMIN")
    full = report("detail", date_from, today)
    console.print("\n[bold]5. Reports[/] (a few columns; `punchd report` has them all)")
    console.print(rich_table(_narrow(detail, DETAIL_SHOWN, 10)))
    console.print(rich_table(_narrow(month, SUMMARY_SHOWN, 8)))
    xlsx = site.settings.data_dir / "demo-report.xlsx"
    private.make_dirs(xlsx.parent)
    write_xlsx(full, xlsx)
    console.print(f"employee detail {date_from} … {today} saved to {xlsx}", highlight=False)
    return True


DETAIL_SHOWN = (
    "Employee no",
    "Name",
    "Date",
    "Status",
    "Late (min)",
    "Early (min)",
    "Absent (min)",
    "Exceptions",
)
SUMMARY_SHOWN = (
    "Employee no",
    "Name",
    "Month",
    "Present days",
    "Absent days",
    "Late (min)",
    "Early (min)",
    "Absent (min)",
    "Overtime (min)",
)


def _narrow(report: Report, headers: tuple[str, ...], limit: int) -> Report:
    """The first ``limit`` rows of ``report`` with only the columns ``headers``, so that it
    fits a terminal."""
    keep = [i for i, c in enumerate(report.columns) if c.header in headers]
    return Report(
        title=report.title + (f" (first {limit})" if len(report.rows) > limit else ""),
        sheet=report.sheet,
        columns=[report.columns[i] for i in keep],
        rows=[tuple(row[i] for i in keep) for row in report.rows[:limit]],
    )


def _last_workday(today: date) -> date:
    day = today - timedelta(days=1)
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day
