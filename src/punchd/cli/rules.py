"""The `punchd` commands for rules (registered by cli.py): the rules file, and the everyday
edits — leave, manual punches and voids, holidays, schedules. The work is done by
:mod:`punchd.app.rules`; this module parses arguments, calls it and prints."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

# Markup escaped and control characters made visible: names come from files and devices.
from punchd.safetext import terminal as escape

rules_app = typer.Typer(help="Attendance rules: the rules file and settings.", no_args_is_help=True)
leave_app = typer.Typer(help="Leave (请假) and business trips.", no_args_is_help=True)
punch_app = typer.Typer(help="Manual punches (签卡) and voiding punches.", no_args_is_help=True)
holiday_app = typer.Typer(help="Holidays and make-up workdays (调休).", no_args_is_help=True)
schedule_app = typer.Typer(help="Schedules (排班) and temporary schedules.", no_args_is_help=True)

By = Annotated[str | None, typer.Option("--by", help="Who makes the change (default: the OS user)")]
PROCESS_HINT = "the days it affects are re-processed"


def register(app: typer.Typer) -> None:
    """Add this module's commands to the main app."""
    app.add_typer(rules_app, name="rules")
    app.add_typer(leave_app, name="leave")
    app.add_typer(punch_app, name="punch")
    app.add_typer(holiday_app, name="holiday")
    app.add_typer(schedule_app, name="schedule")


# --------------------------------------------------------------------------------- helpers


def _cli():
    from punchd.cli import _common as cli

    return cli


def _actor(by: str | None) -> Any:
    from punchd.app import Actor

    return Actor(_cli().actor(by))


def _site() -> Any:
    """The site (settings, database), or `error: …` and exit 2."""
    cli = _cli()
    return cli.open_site(cli.settings())


@contextmanager
def _errors(path: Path | None = None) -> Iterator[None]:
    """A RulesError becomes `error: …` and exit 2; a file's problems one line each."""
    from punchd.rules.errors import FileProblems, RulesError

    try:
        yield
    except FileProblems as exc:
        _problems(exc.path if path is None else path, exc.problems)
        raise typer.Exit(2) from None
    except RulesError as exc:
        raise _cli().fail(str(exc)) from None


def _change(op: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run one changing operation on the site, then re-process the days it queued."""
    site = _site()
    with _errors():
        result = op(site, *args, **kwargs)
    _refresh(site)
    return result


def _read(op: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run one read-only operation on the site."""
    site = _site()
    with _errors():
        return op(site, *args, **kwargs)


def _refresh(site: Any) -> None:
    """After a commit: re-process the days the change queued (a failure only warns)."""
    from punchd.cli.process import refresh

    refresh(site.engine, site.settings.timezone)


def _date(value: str, option: str) -> date:
    return _cli().parse_date(value, option)


def _date_or_none(value: str | None, option: str) -> date | None:
    return None if value is None else _date(value, option)


def _datetime(value: str, option: str) -> datetime:
    text = value.strip()
    try:
        if len(text) > 10:
            return datetime.fromisoformat(text)
    except ValueError:
        pass
    raise _cli().fail(f"{option}: not a date and time (YYYY-MM-DD HH:MM): {value!r}")


def _date_or_datetime(value: str, option: str) -> date | datetime:
    return _date(value, option) if len(value.strip()) <= 10 else _datetime(value, option)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S" if value.second else "%Y-%m-%d %H:%M")
    return str(value)


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    cli = _cli()
    table = Table(title=title, title_justify="left")
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*(escape(_fmt(v)) for v in row))
    cli.out.print(table)


def _say(text: str) -> None:
    _cli().out.print(escape(text), highlight=False)


# ----------------------------------------------------------------------------------- rules


def _read_file(path: Path, *, no_shifts_ok: bool = False) -> tuple[Any, Any]:
    """The site and the rules file, checked against its database: every problem of the
    file is listed and exit 2. A file without shifts is a problem unless ``no_shifts_ok``."""
    from punchd.app import rules as ops

    with _errors(path):
        parsed = ops.read_rules_file(path)
    site = _site()
    with _errors(path):
        return site, ops.check_rules_file(site, parsed, no_shifts_ok=no_shifts_ok)


def _problems(path: Path, problems: list[str]) -> None:
    cli = _cli()
    for problem in problems:
        cli.err.print(f"[bold red]error:[/] {escape(f'{path}: {problem}')}", highlight=False)
    n = len(problems)
    cli.err.print(
        f"{n} problem{'s' if n != 1 else ''} in {escape(str(path))}: nothing was changed",
        highlight=False,
    )


def _in_use_lines(summary) -> list[str]:
    out = []
    for kind, keys in summary.in_use.items():
        shown = ", ".join(keys[:8]) + (", …" if len(keys) > 8 else "")
        out.append(f"removes {len(keys)} {kind}(s) in use: {shown}")
    return out


@rules_app.command("load")
def rules_load(
    file: Annotated[Path, typer.Argument(help="The rules file (TOML)")],
    by: By = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Remove periods, shifts, schedules in use")
    ] = False,
    replace_all: Annotated[
        bool, typer.Option("--replace-all", help="Also load a file with no shifts at all")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would change; change nothing")
    ] = False,
) -> None:
    """Validate FILE and make the database say what it says (one transaction).

    The file is the source of truth for settings, periods, shifts and schedules, and for the
    holidays and temporary schedules it lists. Leave, manual punches and other temporary
    schedules are kept. Any problem: every one is listed, nothing changes, exit 2.

    What will be added, changed and removed is shown first. Removing periods, shifts or
    schedules that are in use needs --yes (or a yes at the prompt); a file without shifts
    needs --replace-all."""
    import sys

    from punchd.app import rules as ops

    cli = _cli()
    site, rules = _read_file(file, no_shifts_ok=replace_all)
    actor = _actor(by)
    with _errors(file):
        plan = ops.plan_rules_load(site, file, rules)
    for line in plan.lines():
        _say(line)
    if dry_run:
        _say(f"dry run of {file}: {plan.changes} change(s); nothing was changed")
        return
    if not plan.changes:
        _say(f"loaded {file}: nothing changed")
        return
    if plan.in_use and not (yes or replace_all):
        for line in _in_use_lines(plan):
            _say(line)
        if not sys.stdin.isatty():
            raise cli.fail(
                f"{file}: removes periods, shifts or schedules that are in use; "
                "nothing was changed — run again with --yes to confirm"
            )
        if not typer.confirm("Remove them?", default=False):
            _say("nothing was changed")
            raise typer.Exit(1)
    with _errors(file):
        summary = ops.apply_rules_load(site, file, rules, actor=actor, expected=plan)
    _refresh(site)
    _say(f"loaded {file}: {summary.changes} change(s); {PROCESS_HINT}")


@rules_app.command("check")
def rules_check(file: Annotated[Path, typer.Argument(help="The rules file (TOML)")]) -> None:
    """Validate FILE against the database and show what loading it would change, without
    changing anything (exit 2 on problems)."""
    from punchd.app import rules as ops

    site, rules = _read_file(file)
    with _errors(file):
        plan = ops.plan_rules_load(site, file, rules)
    for line in plan.lines():
        _say(line)
    for line in _in_use_lines(plan):
        _say(line + " (`rules load` asks to confirm)")
    _say(
        f"{file}: ok ({len(rules.periods)} periods, {len(rules.shifts)} shifts, "
        f"{len(rules.schedules)} schedules, {len(rules.holidays)} holiday dates)"
    )


@rules_app.command("show")
def rules_show() -> None:
    """The rules in the database: settings, calendar, periods, shifts, schedules."""
    from punchd.app import rules as ops
    from punchd.processing import format_minutes

    site = _site()
    with _errors():
        view = ops.show_rules(site)
    _table(
        "Settings",
        ["setting", "value", ""],
        [
            [name, json.dumps(value), "" if name in view.stored_settings else "(default)"]
            for name, value in view.settings.items()
        ],
    )

    def clock(minutes: int | None) -> str | None:
        return None if minutes is None else format_minutes(minutes)

    def window(lo: int | None, hi: int | None) -> str:
        if lo is None and hi is None:
            return "default"
        return f"{clock(lo) or 'default'}–{clock(hi) or 'default'}"

    _table(
        "Periods",
        ["code", "start", "end", "check-in", "check-out", "grace", "must in/out", "minutes"],
        [
            [
                p.code,
                clock(p.start_minute),
                clock(p.end_minute),
                window(p.checkin_from, p.checkin_until),
                window(p.checkout_from, p.checkout_until),
                f"{p.late_grace}/{p.early_grace}",
                f"{_fmt(p.must_check_in)}/{_fmt(p.must_check_out)}",
                p.counted_minutes
                if p.counted_minutes is not None
                else p.end_minute - p.start_minute,
            ]
            for p in view.periods
        ],
    )
    weekdays = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

    def day_label(unit: str, i: int) -> str:
        return (
            weekdays[i % 7] + (f"{i // 7 + 1}" if i >= 7 else "") if unit == "week" else str(i + 1)
        )

    _table(
        "Shifts",
        ["code", "name", "cycle", "follows calendar", "days"],
        [
            [
                s["code"],
                s["name"],
                f"{s['cycle_days']} days"
                if s["unit"] == "day"
                else f"{s['cycle_days'] // 7} week(s)",
                s["follows_calendar"],
                "  ".join(
                    f"{day_label(s['unit'], i)}:{'+'.join(day) or 'rest'}"
                    for i, day in enumerate(s["days"])
                ),
            ]
            for s in view.shifts
        ],
    )
    _schedules_table(view.schedules)
    _say(
        f"{view.holidays} holiday / make-up workday dates entered (`punchd holiday list`), "
        f"{view.overrides} temporary schedules (`punchd schedule list`)"
    )
    this_year = site.today().year
    with _errors():
        statuses = ops.calendar_status(site, [this_year, this_year + 1])
    _say("Calendar (each date with its source: `punchd holiday list --year YEAR`):")
    for status in statuses:
        _year_status_line(status)


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


@rules_app.command("set")
def rules_set(
    name: Annotated[str, typer.Argument(help="Setting name (see `punchd rules show`)")],
    value: Annotated[str, typer.Argument(help='JSON value: 30, true, "absent", null')],
    by: By = None,
) -> None:
    """Change one setting (the next `rules load` replaces the settings with the file's)."""
    from punchd.app import rules as ops

    parsed = _parse_value(value)
    _change(ops.set_setting, name, parsed, actor=_actor(by))
    _say(f"{name} = {json.dumps(parsed)}; {PROCESS_HINT}")


@rules_app.command("unset")
def rules_unset(name: Annotated[str, typer.Argument()], by: By = None) -> None:
    """Put one setting back to its default."""
    from punchd.app import rules as ops

    done = _change(ops.unset_setting, name, actor=_actor(by))
    _say(f"{name}: back to the default" if done else f"{name} was not set")


# ----------------------------------------------------------------------------------- leave


@leave_app.command("add")
def leave_add(
    employee: Annotated[str, typer.Argument(help="Staff number")],
    kind: Annotated[str, typer.Option("--type", help="annual, sick, personal, trip …")],
    from_: Annotated[
        str, typer.Option("--from", help="First day YYYY-MM-DD, or start YYYY-MM-DD HH:MM")
    ],
    to: Annotated[
        str | None,
        typer.Option(help="Last day (inclusive; default: --from), or end YYYY-MM-DD HH:MM"),
    ] = None,
    note: Annotated[str | None, typer.Option(help="Free text")] = None,
    by: By = None,
) -> None:
    """Full days (--from DATE [--to DATE]) or part of a day (--from/--to DATE HH:MM)."""
    from punchd.app import rules as ops

    start = _date_or_datetime(from_, "--from")
    end = None if to is None else _date_or_datetime(to, "--to")
    leave_id = _change(ops.add_leave, employee, kind, start, end, note=note, actor=_actor(by))
    span = f"{_fmt(start)} – {_fmt(end or start)}"
    what = "full days" if not isinstance(start, datetime) else "part day"
    _say(f"leave {leave_id}: {employee} {kind.strip()} {span} ({what}); {PROCESS_HINT}")


@leave_app.command("list")
def leave_list(
    employee: Annotated[str | None, typer.Argument(help="Staff number (default: all)")] = None,
    from_: Annotated[str | None, typer.Option("--from", help="YYYY-MM-DD")] = None,
    to: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
) -> None:
    """Leave overlapping the dates, by start."""
    from punchd.app import rules as ops

    date_from, date_to = _date_or_none(from_, "--from"), _date_or_none(to, "--to")
    rows = _read(ops.list_leave, employee, date_from, date_to)
    _table(
        "Leave",
        ["id", "employee", "name", "type", "from", "to", "full days", "note", "by"],
        [
            [
                r.id,
                r.employee_no,
                r.name,
                r.kind,
                r.start_at.date() if r.full_day else r.start_at,
                r.end_at.date() if r.full_day else r.end_at,
                r.full_day,
                r.note,
                r.created_by,
            ]
            for r in rows
        ],
    )


@leave_app.command("remove")
def leave_remove(
    leave_id: Annotated[int, typer.Argument(help="Id from `leave list`")], by: By = None
) -> None:
    """Delete a leave entry (the audit keeps it)."""
    from punchd.app import rules as ops

    _change(ops.remove_leave, leave_id, actor=_actor(by))
    _say(f"leave {leave_id} removed; {PROCESS_HINT}")


# ---------------------------------------------------------------------------------- punches


@punch_app.command("add")
def punch_add(
    employee: Annotated[str, typer.Argument(help="Staff number")],
    when: Annotated[str, typer.Argument(help='Local time "YYYY-MM-DD HH:MM"')],
    reason: Annotated[str, typer.Option(help="Why (forgot card, clock broken …)")],
    state: Annotated[str | None, typer.Option(help="in | out (default: not said)")] = None,
    by: By = None,
) -> None:
    """A manual punch (签卡), in the site's time zone (setting `timezone`)."""
    from punchd.app import rules as ops

    if state is not None and state not in ("in", "out"):
        raise _cli().fail("--state must be in or out")
    at = _datetime(when, "time")
    punch_id = _change(
        ops.add_punch, employee, at, reason=reason, state=state or "unknown", actor=_actor(by)
    )
    _say(f"punch {punch_id}: {employee} {_fmt(at)} (manual); {PROCESS_HINT}")


@punch_app.command("void")
def punch_void(
    punch_id: Annotated[int, typer.Argument(help="Id from `punch list`")],
    reason: Annotated[str, typer.Option(help="Why it does not count")],
    by: By = None,
) -> None:
    """Void a punch (device or manual): it stays stored, processing ignores it."""
    from punchd.app import rules as ops

    _change(ops.void_punch, punch_id, reason=reason, actor=_actor(by))
    _say(f"punch {punch_id} void; {PROCESS_HINT}")


@punch_app.command("unvoid")
def punch_unvoid(
    punch_id: Annotated[int, typer.Argument()],
    reason: Annotated[str | None, typer.Option(help="Why (kept in the audit)")] = None,
    by: By = None,
) -> None:
    """Make a void punch count again."""
    from punchd.app import rules as ops

    _change(ops.unvoid_punch, punch_id, reason=reason, actor=_actor(by))
    _say(f"punch {punch_id} counts again; {PROCESS_HINT}")


@punch_app.command("list")
def punch_list(
    employee: Annotated[str, typer.Argument(help="Staff number")],
    from_: Annotated[
        str | None, typer.Option("--from", help="YYYY-MM-DD (default: 6 days before --to)")
    ] = None,
    to: Annotated[str | None, typer.Option(help="YYYY-MM-DD (default: today, site date)")] = None,
) -> None:
    """An employee's punches (device and manual, void ones too) on local dates.

    Device punches are matched by the employee's enrolment number; punches of card-number
    clocks are not listed here."""
    from punchd.app import rules as ops

    date_to = _date_or_none(to, "--to")
    date_from = _date_or_none(from_, "--from")
    listing = _read(ops.list_punches, employee, date_from, date_to)
    _table(
        f"Punches of {employee}, {listing.date_from} – {listing.date_to}",
        ["id", "time", "state", "source", "device", "note / by", "void"],
        [
            [
                r.id,
                r.punched_at,
                r.state,
                r.source,
                r.device,
                " / ".join(x for x in (r.note, r.created_by) if x) or None,
                f"VOID: {r.void_reason} ({r.voided_by})" if r.void else "",
            ]
            for r in listing.punches
        ],
    )


# -------------------------------------------------------------------------------- holidays


@holiday_app.command("add")
def holiday_add(
    day: Annotated[str, typer.Argument(metavar="DATE", help="YYYY-MM-DD")],
    name: Annotated[str, typer.Option(help="Shown in reports")] = "",
    workday: Annotated[
        bool, typer.Option("--workday", help="A make-up workday (调休) instead of a holiday")
    ] = False,
    by: By = None,
) -> None:
    """Enter a holiday (or make-up workday); replaces what was entered for the date."""
    from punchd.app import rules as ops

    d = _date(day, "DATE")
    what = _change(ops.add_holiday, d, name=name, workday=workday, actor=_actor(by))
    kind = "make-up workday" if workday else "holiday"
    _say(f"{d}: {kind} {what}" + (f"; {PROCESS_HINT}" if what != "unchanged" else ""))


@holiday_app.command("remove")
def holiday_remove(
    day: Annotated[str, typer.Argument(metavar="DATE", help="YYYY-MM-DD")], by: By = None
) -> None:
    """Remove an entered holiday or make-up workday."""
    from punchd.app import rules as ops

    d = _date(day, "DATE")
    _change(ops.remove_holiday, d, actor=_actor(by))
    _say(f"{d}: removed; {PROCESS_HINT}")


@holiday_app.command("list")
def holiday_list(
    year: Annotated[
        int | None,
        typer.Option(help="The effective calendar of this year: every date, with its source"),
    ] = None,
) -> None:
    """Entered holidays and make-up workdays; with --year, the whole calendar of that year
    (packages and entered dates), each date with where it comes from."""
    from punchd.app import rules as ops

    if year is None:
        rows = _read(ops.list_holidays)
        _table(
            "Entered holidays and make-up workdays (the whole calendar of a year: --year)",
            ["date", "weekday", "kind", "name", "source"],
            [
                [
                    r.holiday_date,
                    r.holiday_date.strftime("%a"),
                    "make-up workday" if r.kind == "workday" else "holiday",
                    r.name,
                    f"entered by {r.created_by} {_fmt(r.created_at)} UTC",
                ]
                for r in rows
            ],
        )
        return
    calendar = _read(ops.year_calendar, year)
    _table(
        f"Calendar {year}: holidays and make-up workdays",
        ["date", "weekday", "kind", "name", "source"],
        [
            [
                d.day,
                d.day.strftime("%a"),
                "make-up workday" if d.workday else "holiday",
                d.name,
                d.source,
            ]
            for d in calendar.days
        ],
    )
    _year_status_line(calendar.status)


def _year_status_line(status: Any) -> None:
    if status.attention:
        _cli().err.print(
            f"[yellow]warning:[/] {escape(status.line)}", highlight=False, soft_wrap=True
        )
    else:
        _say(status.line)


@holiday_app.command("import")
def holiday_import(
    file: Annotated[Path, typer.Argument(help="CSV: date,kind,name (kind holiday | workday)")],
    replace: Annotated[
        bool,
        typer.Option(
            "--replace", help="Also remove entered dates of the file's years it does not list"
        ),
    ] = False,
    confirm: Annotated[
        bool, typer.Option("--confirm", help="Then confirm the file's years as complete")
    ] = False,
    by: By = None,
) -> None:
    """Enter an official holiday notice from a file, all or nothing (docs/rules.md)."""
    from punchd.app import rules as ops

    with _errors(file):
        entries = ops.read_holiday_file(file)
    done = _change(
        ops.import_holidays,
        entries,
        source=file.name,
        replace=replace,
        confirm=confirm,
        actor=_actor(by),
    )
    years = ", ".join(map(str, done.years))
    _say(
        f"{file}: {len(entries)} dates for {years}: {len(done.added)} added, "
        f"{len(done.changed)} changed, {len(done.unchanged)} unchanged"
        + (f", {len(done.removed)} removed" if replace else "")
    )
    if done.kept:
        _say(
            f"kept {len(done.kept)} entered date(s) the file does not list: "
            f"{', '.join(d.isoformat() for d in done.kept)} (--replace removes them)"
        )
    for year in done.confirmed:
        _say(f"{year}: confirmed as the complete official calendar")
    if done.added or done.changed or done.removed:
        _say(f"{PROCESS_HINT} ({years})")


@holiday_app.command("confirm")
def holiday_confirm(
    year: Annotated[int, typer.Argument(help="The year whose official notice is entered")],
    by: By = None,
) -> None:
    """Mark YEAR's entered holidays and make-up workdays as the complete official calendar
    (for a year the calendar packages do not know): its warnings stop."""
    from punchd.app import rules as ops

    what = _change(ops.confirm_year, year, actor=_actor(by))
    _say(f"{year}: " + ("confirmed" if what == "confirmed" else "was already confirmed"))


@holiday_app.command("unconfirm")
def holiday_unconfirm(year: Annotated[int, typer.Argument()], by: By = None) -> None:
    """Mark YEAR as not confirmed again (its processing and reports carry a warning)."""
    from punchd.app import rules as ops

    _change(ops.unconfirm_year, year, actor=_actor(by))
    _say(f"{year}: no longer confirmed")


# ------------------------------------------------------------------------------- schedules

EmployeeOpt = Annotated[str | None, typer.Option("--employee", help="Staff number")]
DepartmentOpt = Annotated[str | None, typer.Option("--department", help="Department code")]


def _one_target(employee: str | None, department: str | None) -> None:
    if (employee is None) == (department is None):
        raise _cli().fail("give exactly one of --employee or --department")


@schedule_app.command("assign")
def schedule_assign(
    shift: Annotated[str, typer.Argument(help="Shift code")],
    from_: Annotated[str, typer.Option("--from", help="First date YYYY-MM-DD")],
    employee: EmployeeOpt = None,
    department: DepartmentOpt = None,
    to: Annotated[str | None, typer.Option(help="Last date (default: open-ended)")] = None,
    anchor: Annotated[
        str | None, typer.Option(help="Date that is day 1 of the cycle (default: --from)")
    ] = None,
    by: By = None,
) -> None:
    """An employee or a department works SHIFT from a date (排班).

    The next `rules load` replaces all schedules with the file's: add lasting ones there."""
    from punchd.app import rules as ops

    _one_target(employee, department)
    schedule_id = _change(
        ops.assign_schedule,
        shift,
        employee_no=employee,
        department_code=department,
        date_from=_date(from_, "--from"),
        date_to=_date_or_none(to, "--to"),
        anchor=_date_or_none(anchor, "--anchor"),
        actor=_actor(by),
    )
    _say(
        f"schedule {schedule_id}: {employee or department} works {shift} from {from_}"
        f"{f' to {to}' if to else ''}; {PROCESS_HINT}"
    )
    _say("note: `punchd rules load` replaces schedules with the rules file's")


@schedule_app.command("remove")
def schedule_remove(
    schedule_id: Annotated[int, typer.Argument(help="Id from `schedule list`")], by: By = None
) -> None:
    """Delete a schedule."""
    from punchd.app import rules as ops

    _change(ops.remove_schedule, schedule_id, actor=_actor(by))
    _say(f"schedule {schedule_id} removed; {PROCESS_HINT}")


@schedule_app.command("override")
def schedule_override(
    day: Annotated[str, typer.Argument(metavar="DATE", help="YYYY-MM-DD")],
    employee: EmployeeOpt = None,
    department: DepartmentOpt = None,
    shift: Annotated[str | None, typer.Option(help="Work this shift's periods")] = None,
    day_no: Annotated[
        int, typer.Option("--day", min=1, help="Which day of the shift's cycle (1 = first; Monday)")
    ] = 1,
    rest: Annotated[bool, typer.Option("--rest", help="A day off")] = False,
    clear: Annotated[bool, typer.Option("--clear", help="Remove the temporary schedule")] = False,
    by: By = None,
) -> None:
    """A temporary schedule (临时排班) for one date; replaces one for the same date and
    target. Beats the schedules and the holiday calendar."""
    from punchd.app import rules as ops

    _one_target(employee, department)
    if (shift is not None) + rest + clear != 1:
        raise _cli().fail("give exactly one of --shift, --rest or --clear")
    d = _date(day, "DATE")
    if clear:
        _change(
            ops.clear_override,
            d,
            employee_no=employee,
            department_code=department,
            actor=_actor(by),
        )
        what = "removed"
    else:
        what = _change(
            ops.set_override,
            d,
            employee_no=employee,
            department_code=department,
            shift_code=shift,
            day_index=day_no - 1,
            actor=_actor(by),
        )
    plan = "rest" if rest else f"{shift} day {day_no}"
    if clear:
        plan = "back to the schedule"
    _say(f"{d} {employee or department}: {plan} ({what}); {PROCESS_HINT}")


def _schedules_table(rows: list[dict[str, Any]]) -> None:
    _table(
        "Schedules",
        ["id", "shift", "employee", "department", "from", "to", "anchor", "by"],
        [
            [
                r["id"],
                r["shift"],
                r["employee"],
                r["department"],
                r["from"],
                r["to"],
                r["anchor"],
                r["created_by"],
            ]
            for r in rows
        ],
    )


@schedule_app.command("list")
def schedule_list(
    from_: Annotated[str | None, typer.Option("--from", help="Temporary schedules from")] = None,
    to: Annotated[str | None, typer.Option(help="Temporary schedules to")] = None,
) -> None:
    """Schedules, and temporary schedules (optionally only between --from and --to)."""
    from punchd.app import rules as ops

    date_from, date_to = _date_or_none(from_, "--from"), _date_or_none(to, "--to")
    listing = _read(ops.list_schedules, date_from, date_to)
    _schedules_table(listing.schedules)
    _table(
        "Temporary schedules",
        ["date", "weekday", "employee", "department", "plan", "by"],
        [
            [
                o["date"],
                o["date"].strftime("%a"),
                o["employee"],
                o["department"],
                "rest" if o["shift"] is None else f"{o['shift']} day {o['day_index'] + 1}",
                o["created_by"],
            ]
            for o in listing.overrides
        ],
    )
