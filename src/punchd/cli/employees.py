"""The `punchd` commands for HR master data (registered by cli.py): ``departments``,
``employees`` (roster template and import, list, show, separation) and ``cards`` (发卡).

See docs/roster.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

# Markup escaped and control characters made visible: names come from files and devices.
from punchd.safetext import terminal as escape

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

    from punchd.config import Settings

departments_app = typer.Typer(help="Departments (code, name).", no_args_is_help=True)
employees_app = typer.Typer(
    help="Employees: roster template and import, list, show, separation.", no_args_is_help=True
)
cards_app = typer.Typer(help="Cards (发卡): issue, withdraw, list.", no_args_is_help=True)

By = Annotated[
    str | None, typer.Option("--by", help="Who makes the change, for the audit (default: you)")
]
From = Annotated[
    str | None,
    typer.Option(
        "--from",
        metavar="'YYYY-MM-DD HH:MM'",
        help="Effective time, site local time (default: now)",
    ),
]


def register(app: typer.Typer) -> None:
    """Add this module's commands to the main app."""
    app.add_typer(departments_app, name="departments")
    app.add_typer(employees_app, name="employees")
    app.add_typer(cards_app, name="cards")


# --------------------------------------------------------------------------- helpers


def _actor(by: str | None) -> str:
    from punchd.cli._common import actor

    return actor(by)


def _site_now(s: Settings) -> datetime:
    from punchd.clock import local_now, zone

    return local_now(zone(s.timezone)).replace(microsecond=0)


def _parse_date(text: str, option: str) -> date:
    from punchd.cli._common import fail

    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise fail(f"{option} must be a date YYYY-MM-DD, not {text!r}") from None


def _parse_when(text: str | None, s: Settings) -> datetime:
    from punchd.cli._common import fail

    if text is None:
        return _site_now(s)
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        when = None
    if when is None or when.tzinfo is not None:
        raise fail(f"--from must be a local time 'YYYY-MM-DD HH:MM', not {text!r}")
    return when.replace(microsecond=0)


@contextmanager
def _writing(engine: Engine) -> Iterator[Connection]:
    """One transaction; refusals become one-line errors (exit 2) and roll back."""
    from sqlalchemy.exc import DataError, IntegrityError

    from punchd.cli._common import fail
    from punchd.hr.service import HRError

    try:
        with engine.begin() as conn:
            yield conn
    except HRError as exc:
        raise fail(str(exc)) from None
    except IntegrityError as exc:
        raise fail(
            f"the database refused the change (changed at the same time?): {exc.orig}"
        ) from None
    except DataError as exc:  # a value the checks let through but the backend refuses
        raise fail(f"the database refused a value; nothing was changed: {exc.orig}") from None
    from punchd.cli._common import settings
    from punchd.cli.process import refresh

    refresh(engine, settings().timezone)  # re-process what the change queued


def _fmt_date(value: date | None) -> str:
    return value.isoformat() if value else "-"


def _fmt_time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _who(employee_no: str | None, name: str | None) -> str:
    return f"{employee_no} ({name})" if employee_no else "nobody"


# --------------------------------------------------------------------------- departments


@departments_app.command("add")
def departments_add(
    code: Annotated[str, typer.Argument(help="Department code (unique)")],
    name: Annotated[str, typer.Argument(help="Department name")],
    by: By = None,
) -> None:
    """Add a department."""
    from punchd.cli._common import open_database, out, settings
    from punchd.hr import service as hr

    s = settings()
    actor = _actor(by)
    engine = open_database(s)
    with _writing(engine) as conn:
        dept = hr.add_department(conn, code, name, actor=actor)
    out.print(
        f"department {escape(dept.code)} ({escape(dept.name)}) added",
        highlight=False,
        soft_wrap=True,
    )


@departments_app.command("rename")
def departments_rename(
    code: Annotated[str, typer.Argument(help="Department code")],
    name: Annotated[str, typer.Argument(help="New name")],
    by: By = None,
) -> None:
    """Give a department a new name (its code stays)."""
    from punchd.cli._common import open_database, out, settings
    from punchd.hr import service as hr

    s = settings()
    actor = _actor(by)
    engine = open_database(s)
    with _writing(engine) as conn:
        dept = hr.rename_department(conn, code, name, actor=actor)
    out.print(
        f"department {escape(dept.code)} is now {escape(dept.name)!r}",
        highlight=False,
        soft_wrap=True,
    )


@departments_app.command("list")
def departments_list() -> None:
    """Departments with their number of current employees."""
    from rich.table import Table

    from punchd.cli._common import open_database, out, settings
    from punchd.hr import service as hr

    s = settings()
    engine = open_database(s)
    today = _site_now(s).date()
    with engine.connect() as conn:
        departments = hr.list_departments(conn)
        employees = hr.list_employees(conn, include_leavers=False, today=today)
    counts: dict[int, int] = {}
    for emp in employees:
        counts[emp.department_id] = counts.get(emp.department_id, 0) + 1
    table = Table(title="Departments", title_justify="left")
    table.add_column("code")
    table.add_column("name")
    table.add_column("employees", justify="right")
    for dept in departments:
        table.add_row(escape(dept.code), escape(dept.name), str(counts.get(dept.id, 0)))
    out.print(table)


# --------------------------------------------------------------------------- employees


@employees_app.command("template")
def employees_template(
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="File to write, .csv or .xlsx (default: roster-template.csv and "
            "roster-template.xlsx in the current directory)",
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files")] = False,
) -> None:
    """Write the empty roster template to fill in and import."""
    from punchd.cli._common import fail, out
    from punchd.hr.roster import RosterFileError, file_kind, write_template

    paths = [output] if output else [Path("roster-template.csv"), Path("roster-template.xlsx")]
    for path in paths:
        try:
            file_kind(path)
        except RosterFileError as exc:
            raise fail(str(exc)) from None
        if path.exists() and not force:
            raise fail(f"{path} exists (use --force to overwrite it)")
    for path in paths:
        try:
            write_template(path)
        except OSError as exc:
            raise fail(f"cannot write {path}: {exc.strerror or exc}") from None
        out.print(f"wrote {escape(str(path))}", highlight=False, soft_wrap=True)


@employees_app.command("import")
def employees_import(
    file: Annotated[Path, typer.Argument(help="The filled-in roster, .csv or .xlsx")],
    by: By = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check and report, but write nothing")
    ] = False,
) -> None:
    """Import a roster: every row is checked first; any error and nothing is imported."""
    from punchd.cli._common import err, fail, open_database, out, settings
    from punchd.hr import service as hr
    from punchd.hr.roster import RosterFileError, read_roster

    s = settings()
    actor = _actor(by)
    try:
        roster = read_roster(file, max_rows=s.max_roster_rows)
    except RosterFileError as exc:
        raise fail(str(exc)) from None
    if roster.sheet is not None:
        err.print(f"{escape(file.name)}: reading {escape(roster.sheet)}", highlight=False)
    for warning in roster.warnings:
        err.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)
    engine = open_database(s)
    with _writing(engine) as conn:
        errors = roster.errors + hr.check_roster(conn, roster.rows + roster.partial)
        if errors:
            errors.sort(key=lambda e: e.row)
            for error in errors:
                err.print(escape(str(error)), highlight=False, soft_wrap=True)
            bad_rows = len({e.row for e in errors})
            raise fail(
                f"nothing imported: {len(errors)} error(s) in {bad_rows} row(s) of {file.name}"
            )
        summary = hr.apply_roster(conn, roster.rows, actor=actor, now=_site_now(s))
        if dry_run:
            conn.rollback()
    line = (
        f"{len(summary.created)} created, {len(summary.updated)} updated, "
        f"{len(summary.unchanged)} unchanged; {len(summary.cards_issued)} card(s) issued"
    )
    if summary.cards_withdrawn:
        line += f", {len(summary.cards_withdrawn)} replaced card(s) withdrawn"
    if summary.departments_created:
        line += "; new department(s): " + ", ".join(summary.departments_created)
    prefix = "dry run, nothing written" if dry_run else f"imported {file.name}"
    out.print(f"{prefix}: {escape(line)}", highlight=False, soft_wrap=True)


@employees_app.command("list")
def employees_list(
    department: Annotated[
        str | None, typer.Option("--department", help="Only this department (code)")
    ] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Also leavers (separation date before today)")
    ] = False,
) -> None:
    """Employees; leavers are hidden unless --all."""
    from rich.table import Table

    from punchd.cli._common import open_database, out, settings
    from punchd.hr import service as hr

    s = settings()
    engine = open_database(s)
    today = _site_now(s).date()
    with _writing(engine) as conn:
        employees = hr.list_employees(conn, department=department)
        cards = hr.cards_held(conn)
    shown = [e for e in employees if all_ or not e.left_before(today)]
    table = Table(title="Employees", title_justify="left")
    for col in ("employee_no", "name", "dept", "enroll_no", "card", "hired", "left"):
        table.add_column(col, no_wrap=col != "name", min_width=10 if col == "name" else None)
    for emp in shown:
        table.add_row(
            escape(emp.employee_no),
            escape(emp.name),
            escape(emp.department_code),
            escape(emp.enroll_no or "-"),
            escape(", ".join(cards.get(emp.id, [])) or "-"),
            _fmt_date(emp.hire_date),
            _fmt_date(emp.separation_date),
        )
    out.print(table)
    hidden = len(employees) - len(shown)
    note = f"{len(shown)} employee(s)"
    if hidden:
        note += f"; {hidden} leaver(s) hidden (--all shows them)"
    out.print(note, highlight=False, soft_wrap=True)


@employees_app.command("show")
def employees_show(
    employee: Annotated[str, typer.Argument(metavar="EMP", help="employee_no")],
) -> None:
    """One employee: master data, cards and recent changes."""
    from sqlalchemy import select

    from punchd.cli._common import open_database, out, settings
    from punchd.clock import utc_to_local, zone
    from punchd.hr import service as hr
    from punchd.storage.schema import att_audit

    s = settings()
    engine = open_database(s)
    with _writing(engine) as conn:
        emp = hr.get_employee(conn, employee)
        cards = hr.cards_held(conn).get(emp.id, [])
        history = hr.card_history(conn, employee_no=emp.employee_no)
        changes = conn.execute(
            select(att_audit)
            .where(att_audit.c.entity == "employee", att_audit.c.entity_key == emp.employee_no)
            .order_by(att_audit.c.id.desc())
            .limit(10)
        ).all()
    today = _site_now(s).date()
    tz = zone(s.timezone)
    status = "leaver" if emp.left_before(today) else "employed"
    if emp.hire_date > today:
        status = "starts later"
    for label, value in (
        ("employee_no", emp.employee_no),
        ("name", emp.name),
        ("department", f"{emp.department_code} ({emp.department_name})"),
        ("enroll_no", emp.enroll_no or "-"),
        ("card", ", ".join(cards) or "-"),
        ("hire_date", _fmt_date(emp.hire_date)),
        ("separation_date", _fmt_date(emp.separation_date)),
        ("status", status),
    ):
        out.print(f"{label:<16} {escape(value)}", highlight=False, soft_wrap=True)
    if history:
        out.print(f"\ncard history ({tz.key} time):", highlight=False, soft_wrap=True)
        for entry in history:
            out.print(
                f"  {entry.card_no}  from {_fmt_time(entry.effective_from)}  "
                f"{escape(_who(entry.employee_no, entry.employee_name))}",
                highlight=False,
                soft_wrap=True,
            )
    if changes:
        # stored in UTC; people read the site's wall clock
        out.print(f"\nrecent changes ({tz.key} time):", highlight=False, soft_wrap=True)
        for row in changes:
            out.print(
                f"  {_fmt_time(utc_to_local(row.changed_at, tz))} {tz.key}  "
                f"{escape(row.changed_by)}  {row.action}  "
                f"{escape(row.detail or '')}",
                highlight=False,
                soft_wrap=True,
            )


@employees_app.command("separate")
def employees_separate(
    employee: Annotated[str, typer.Argument(metavar="EMP", help="employee_no")],
    on: Annotated[
        str,
        typer.Option("--date", metavar="YYYY-MM-DD", help="Last working day (it still counts)"),
    ],
    by: By = None,
) -> None:
    """Record a separation (离职): the date is the last day that counts."""
    from punchd.cli._common import open_database, out, settings
    from punchd.hr import service as hr

    s = settings()
    actor = _actor(by)
    day = _parse_date(on, "--date")
    engine = open_database(s)
    with _writing(engine) as conn:
        before = hr.get_employee(conn, employee)
        emp = hr.separate(conn, employee, day, actor=actor)
    who = escape(_who(emp.employee_no, emp.name))
    if before.separation_date == day:
        out.print(f"{who}: already separated on {day.isoformat()}", highlight=False, soft_wrap=True)
    else:
        was = f" (was {before.separation_date.isoformat()})" if before.separation_date else ""
        out.print(
            f"{who}: separated, last day {day.isoformat()}{was}", highlight=False, soft_wrap=True
        )


@employees_app.command("unseparate")
def employees_unseparate(
    employee: Annotated[str, typer.Argument(metavar="EMP", help="employee_no")],
    by: By = None,
) -> None:
    """Clear a separation date (the employee is employed again)."""
    from punchd.cli._common import open_database, out, settings
    from punchd.hr import service as hr

    s = settings()
    actor = _actor(by)
    engine = open_database(s)
    with _writing(engine) as conn:
        before = hr.get_employee(conn, employee)
        emp = hr.unseparate(conn, employee, actor=actor)
    who = escape(_who(emp.employee_no, emp.name))
    if before.separation_date is None:
        out.print(f"{who}: not separated, nothing to do", highlight=False, soft_wrap=True)
    else:
        out.print(
            f"{who}: separation date {before.separation_date.isoformat()} cleared",
            highlight=False,
            soft_wrap=True,
        )


# --------------------------------------------------------------------------- cards


@cards_app.command("issue")
def cards_issue(
    card: Annotated[str, typer.Argument(metavar="CARD", help="Card number")],
    employee: Annotated[str, typer.Argument(metavar="EMP", help="employee_no")],
    when: From = None,
    by: By = None,
) -> None:
    """Issue a card (发卡): from the effective time it belongs to EMP (passes it on if
    someone else had it)."""
    from punchd.cli._common import open_database, out, settings
    from punchd.hr import service as hr

    s = settings()
    actor = _actor(by)
    at = _parse_when(when, s)
    engine = open_database(s)
    with _writing(engine) as conn:
        change = hr.issue_card(conn, card, employee, at, actor=actor)
        emp = hr.get_employee(conn, employee)
        others = [c for c in hr.cards_held(conn).get(emp.id, []) if c != change.card_no]
    line = f"card {change.card_no} → {_who(emp.employee_no, emp.name)} from {_fmt_time(at)}"
    if change.previous_owner and change.previous_owner != emp.employee_no:
        line += f" (passed on from {change.previous_owner})"
    out.print(escape(line), highlight=False, soft_wrap=True)
    if others:
        out.print(
            f"note: {escape(emp.employee_no)} also holds card(s) {', '.join(others)}; "
            "withdraw a replaced card with `punchd cards withdraw CARD`",
            highlight=False,
            soft_wrap=True,
        )


@cards_app.command("withdraw")
def cards_withdraw(
    card: Annotated[str, typer.Argument(metavar="CARD", help="Card number")],
    when: From = None,
    by: By = None,
) -> None:
    """Withdraw a card: from the effective time it belongs to nobody."""
    from punchd.cli._common import open_database, out, settings
    from punchd.hr import service as hr

    s = settings()
    actor = _actor(by)
    at = _parse_when(when, s)
    engine = open_database(s)
    with _writing(engine) as conn:
        change = hr.withdraw_card(conn, card, at, actor=actor)
    line = f"card {change.card_no} withdrawn from {change.previous_owner} at {_fmt_time(at)}"
    out.print(escape(line), highlight=False, soft_wrap=True)


@cards_app.command("list")
def cards_list(
    employee: Annotated[
        str | None,
        typer.Argument(metavar="[EMP]", help="History of the cards this employee held"),
    ] = None,
) -> None:
    """Cards and who holds them; with EMP, the history of that employee's cards."""
    from rich.table import Table

    from punchd.cli._common import open_database, out, settings
    from punchd.hr import service as hr

    s = settings()
    engine = open_database(s)
    with _writing(engine) as conn:
        if employee is None:
            entries = sorted(hr.latest_cards(conn).values(), key=lambda e: e.card_no)
        else:
            entries = hr.card_history(conn, employee_no=employee)
    title = "Cards" if employee is None else f"Cards of {employee}"
    table = Table(title=escape(title), title_justify="left")
    for col in ("card", "since" if employee is None else "from", "employee", "name", "by"):
        table.add_column(col)
    for entry in entries:
        table.add_row(
            escape(entry.card_no),
            _fmt_time(entry.effective_from),
            escape(entry.employee_no or "(withdrawn)"),
            escape(entry.employee_name or "-"),
            escape(entry.created_by),
        )
    out.print(table)
