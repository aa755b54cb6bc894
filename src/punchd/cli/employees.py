"""The `punchd` commands for HR master data (registered by cli.py): ``departments``,
``employees`` (roster template and import, list, show, separation) and ``cards`` (发卡).

See docs/roster.md.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

# Markup escaped and control characters made visible: names come from files and devices.
from punchd.safetext import terminal as escape

if TYPE_CHECKING:
    from punchd.app import Actor, Site
    from punchd.config import Settings

departments_app = typer.Typer(help="Departments (code, name, parent).", no_args_is_help=True)
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


T = TypeVar("T")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the main app."""
    app.add_typer(departments_app, name="departments")
    app.add_typer(employees_app, name="employees")
    app.add_typer(cards_app, name="cards")


# --------------------------------------------------------------------------- helpers


def _settings() -> Settings:
    from punchd.cli._common import settings

    return settings()


def _actor(by: str | None) -> Actor:
    from punchd.app import Actor
    from punchd.cli._common import actor

    return Actor(actor(by))


def _site(s: Settings) -> Site:
    from punchd.cli._common import open_site

    return open_site(s)


def _ask(op: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call an operation; a refusal (a PunchdError: nothing was changed) is one line, exit 2."""
    from punchd.cli._common import fail
    from punchd.errors import PunchdError

    try:
        return op(*args, **kwargs)
    except PunchdError as exc:
        raise fail(str(exc)) from None


def _change(op: Callable[..., T], site: Site, *args: Any, **kwargs: Any) -> T:
    """Call an operation that changes something, then re-process what it queued."""
    from punchd.cli.process import refresh

    result = _ask(op, site, *args, **kwargs)
    refresh(site.engine, site.settings.timezone)
    return result


def _say(text: str) -> None:
    from punchd.cli._common import out

    out.print(text, highlight=False, soft_wrap=True)


def _parse_date(text: str, option: str) -> date:
    from punchd.cli._common import fail

    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise fail(f"{option} must be a date YYYY-MM-DD, not {text!r}") from None


def _parse_when(text: str | None) -> datetime | None:
    """``--from``: a site local time; None when absent (the operation takes now)."""
    from punchd.cli._common import fail

    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        when = None
    if when is None or when.tzinfo is not None:
        raise fail(f"--from must be a local time 'YYYY-MM-DD HH:MM', not {text!r}")
    return when.replace(microsecond=0)


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
    from punchd.app import people

    s = _settings()
    actor = _actor(by)
    site = _site(s)
    dept = _change(people.add_department, site, code, name, actor=actor)
    _say(f"department {escape(dept.code)} ({escape(dept.name)}) added")


@departments_app.command("rename")
def departments_rename(
    code: Annotated[str, typer.Argument(help="Department code")],
    name: Annotated[str, typer.Argument(help="New name")],
    by: By = None,
) -> None:
    """Give a department a new name (its code stays)."""
    from punchd.app import people

    s = _settings()
    actor = _actor(by)
    site = _site(s)
    dept = _change(people.rename_department, site, code, name, actor=actor)
    _say(f"department {escape(dept.code)} is now {escape(dept.name)!r}")


@departments_app.command("parent")
def departments_parent(
    code: Annotated[str, typer.Argument(help="Department code")],
    parent: Annotated[
        str | None, typer.Argument(help="The department it belongs under (code)")
    ] = None,
    none: Annotated[bool, typer.Option("--none", help="A top department: under no other")] = False,
    by: By = None,
) -> None:
    """Put a department under another (a leader of that one sees it too), or --none."""
    from punchd.app import people
    from punchd.cli._common import fail

    if (parent is None) == (not none):
        raise fail("give the parent department's code, or --none (not both)")
    s = _settings()
    actor = _actor(by)
    site = _site(s)
    item = _ask(people.set_department_parent, site, code, parent, actor=actor)
    dept = item.department
    if item.parent_code is None:
        _say(f"department {escape(dept.code)} is a top department")
    else:
        _say(f"department {escape(dept.code)} is under {escape(item.parent_code)}")


@departments_app.command("list")
def departments_list() -> None:
    """Departments with their number of current employees."""
    from rich.table import Table

    from punchd.app import people
    from punchd.cli._common import out

    site = _site(_settings())
    departments = _ask(people.list_departments, site)
    table = Table(title="Departments", title_justify="left")
    table.add_column("code")
    table.add_column("name")
    table.add_column("under")
    table.add_column("employees", justify="right")
    for item in departments:
        dept = item.department
        under = escape(item.parent_code) if item.parent_code else "-"
        table.add_row(escape(dept.code), escape(dept.name), under, str(item.employees))
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
    from punchd.app import people
    from punchd.cli._common import fail
    from punchd.errors import PunchdError

    paths = [output] if output else [Path("roster-template.csv"), Path("roster-template.xlsx")]
    try:
        for path in people.write_roster_templates(paths, overwrite=force):
            _say(f"wrote {escape(str(path))}")
    except people.TemplateExists as exc:
        raise fail(f"{exc.path} exists (use --force to overwrite it)") from None
    except PunchdError as exc:
        raise fail(str(exc)) from None


@employees_app.command("import")
def employees_import(
    file: Annotated[Path, typer.Argument(help="The filled-in roster, .csv or .xlsx")],
    by: By = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check and report, but write nothing")
    ] = False,
) -> None:
    """Import a roster: every row is checked first; any error and nothing is imported."""
    from punchd.app import people
    from punchd.cli._common import err

    s = _settings()
    actor = _actor(by)
    roster = _ask(people.read_roster_file, s, file)
    if roster.sheet is not None:
        err.print(f"{escape(file.name)}: reading {escape(roster.sheet)}", highlight=False)
    for warning in roster.warnings:
        err.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)
    site = _site(s)

    def import_roster(*args: Any, **kwargs: Any) -> people.RosterImport:
        try:
            return people.import_roster(*args, **kwargs)
        except people.RosterRejected as exc:  # every problem, then the one-line refusal
            for error in exc.errors:
                err.print(escape(str(error)), highlight=False, soft_wrap=True)
            raise

    result = _change(import_roster, site, roster, actor=actor, dry_run=dry_run)
    summary = result.summary
    line = (
        f"{len(summary.created)} created, {len(summary.updated)} updated, "
        f"{len(summary.unchanged)} unchanged; {len(summary.cards_issued)} card(s) issued"
    )
    if summary.cards_withdrawn:
        line += f", {len(summary.cards_withdrawn)} replaced card(s) withdrawn"
    if summary.departments_created:
        line += "; new department(s): " + ", ".join(summary.departments_created)
    prefix = "dry run, nothing written" if dry_run else f"imported {file.name}"
    _say(f"{prefix}: {escape(line)}")


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

    from punchd.app import people
    from punchd.cli._common import out

    site = _site(_settings())
    listed = _ask(people.list_employees, site, department=department, include_leavers=all_)
    table = Table(title="Employees", title_justify="left")
    for col in ("employee_no", "name", "dept", "enroll_no", "card", "hired", "left"):
        table.add_column(col, no_wrap=col != "name", min_width=10 if col == "name" else None)
    for item in listed.employees:
        emp = item.employee
        table.add_row(
            escape(emp.employee_no),
            escape(emp.name),
            escape(emp.department_code),
            escape(emp.enroll_no or "-"),
            escape(", ".join(item.cards) or "-"),
            _fmt_date(emp.hire_date),
            _fmt_date(emp.separation_date),
        )
    out.print(table)
    note = f"{len(listed.employees)} employee(s)"
    if listed.hidden:
        note += f"; {listed.hidden} leaver(s) hidden (--all shows them)"
    _say(note)


@employees_app.command("show")
def employees_show(
    employee: Annotated[str, typer.Argument(metavar="EMP", help="employee_no")],
) -> None:
    """One employee: master data, cards and recent changes."""
    from punchd.app import people

    site = _site(_settings())
    detail = _ask(people.show_employee, site, employee)
    emp = detail.employee
    zone = site.zone.key
    for label, value in (
        ("employee_no", emp.employee_no),
        ("name", emp.name),
        ("department", f"{emp.department_code} ({emp.department_name})"),
        ("enroll_no", emp.enroll_no or "-"),
        ("card", ", ".join(detail.cards) or "-"),
        ("hire_date", _fmt_date(emp.hire_date)),
        ("separation_date", _fmt_date(emp.separation_date)),
        ("status", detail.status),
    ):
        _say(f"{label:<16} {escape(value)}")
    if detail.card_history:
        _say(f"\ncard history ({zone} time):")
        for entry in detail.card_history:
            _say(
                f"  {entry.card_no}  from {_fmt_time(entry.effective_from)}  "
                f"{escape(_who(entry.employee_no, entry.employee_name))}"
            )
    if detail.changes:
        _say(f"\nrecent changes ({zone} time):")
        for change in detail.changes:
            _say(
                f"  {_fmt_time(change.at)} {zone}  "
                f"{escape(change.by)}  {change.action}  "
                f"{escape(change.detail or '')}"
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
    from punchd.app import people

    s = _settings()
    actor = _actor(by)
    day = _parse_date(on, "--date")
    site = _site(s)
    result = _change(people.separate, site, employee, day, actor=actor)
    emp = result.employee
    who = escape(_who(emp.employee_no, emp.name))
    if not result.changed:
        _say(f"{who}: already separated on {day.isoformat()}")
    else:
        was = f" (was {result.previous.isoformat()})" if result.previous else ""
        _say(f"{who}: separated, last day {day.isoformat()}{was}")


@employees_app.command("unseparate")
def employees_unseparate(
    employee: Annotated[str, typer.Argument(metavar="EMP", help="employee_no")],
    by: By = None,
) -> None:
    """Clear a separation date (the employee is employed again)."""
    from punchd.app import people

    s = _settings()
    actor = _actor(by)
    site = _site(s)
    result = _change(people.unseparate, site, employee, actor=actor)
    who = escape(_who(result.employee.employee_no, result.employee.name))
    if result.previous is None:
        _say(f"{who}: not separated, nothing to do")
    else:
        _say(f"{who}: separation date {result.previous.isoformat()} cleared")


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
    from punchd.app import people

    s = _settings()
    actor = _actor(by)
    at = _parse_when(when)
    site = _site(s)
    issued = _change(people.issue_card, site, card, employee, at, actor=actor)
    change, emp = issued.change, issued.employee
    line = (
        f"card {change.card_no} → {_who(emp.employee_no, emp.name)} "
        f"from {_fmt_time(change.effective_from)}"
    )
    if change.previous_owner and change.previous_owner != emp.employee_no:
        line += f" (passed on from {change.previous_owner})"
    _say(escape(line))
    if issued.other_cards:
        _say(
            f"note: {escape(emp.employee_no)} also holds card(s) {', '.join(issued.other_cards)}; "
            "withdraw a replaced card with `punchd cards withdraw CARD`"
        )


@cards_app.command("withdraw")
def cards_withdraw(
    card: Annotated[str, typer.Argument(metavar="CARD", help="Card number")],
    when: From = None,
    by: By = None,
) -> None:
    """Withdraw a card: from the effective time it belongs to nobody."""
    from punchd.app import people

    s = _settings()
    actor = _actor(by)
    at = _parse_when(when)
    site = _site(s)
    change = _change(people.withdraw_card, site, card, at, actor=actor)
    line = (
        f"card {change.card_no} withdrawn from {change.previous_owner} "
        f"at {_fmt_time(change.effective_from)}"
    )
    _say(escape(line))


@cards_app.command("list")
def cards_list(
    employee: Annotated[
        str | None,
        typer.Argument(metavar="[EMP]", help="History of the cards this employee held"),
    ] = None,
) -> None:
    """Cards and who holds them; with EMP, the history of that employee's cards."""
    from rich.table import Table

    from punchd.app import people
    from punchd.cli._common import out

    site = _site(_settings())
    entries = _ask(people.list_cards, site, employee)
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
