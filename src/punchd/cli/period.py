"""`punchd period close|reopen|list|show`, `punchd export payroll` and `punchd db
grant-payroll`: thin shells over :mod:`punchd.app.periods`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from punchd.cli._common import actor, fail, open_site, out, settings
from punchd.errors import PunchdError
from punchd.safetext import terminal

period_app = typer.Typer(
    help="Pay periods: close a month for payroll, reopen it.", no_args_is_help=True
)
export_app = typer.Typer(help="Files for other programs.", no_args_is_help=True)

By = Annotated[str | None, typer.Option("--by", help="who acts (default: the OS user)")]
Departments = Annotated[
    list[str] | None, typer.Option("--department", help="department code (repeatable)")
]


def register(app: typer.Typer, db_app: typer.Typer) -> None:
    app.add_typer(period_app, name="period")
    app.add_typer(export_app, name="export")
    db_app.command("grant-payroll")(grant_payroll)


def _site():
    return open_site(settings())


@period_app.command("close")
def close(
    month: Annotated[str, typer.Argument(help="YYYY-MM")],
    department: Departments = None,
    force: Annotated[bool, typer.Option("--force", help="close despite open items")] = False,
    reason: Annotated[
        str | None, typer.Option("--reason", help="why (needed with --force)")
    ] = None,
    by: By = None,
) -> None:
    """Close a month: its results become final for payroll; refused while anything is open."""
    from punchd.app import Actor
    from punchd.app import periods as ops

    who = Actor(actor(by))
    site = _site()
    try:
        done = ops.close_period(
            site, month, departments=department, force=force, reason=reason, actor=who
        )
    except ops.PeriodOpen as exc:
        raise fail(str(exc)) from None
    except PunchdError as exc:
        raise fail(str(exc)) from None
    scope = ", ".join(done.departments) or "everyone"
    forced = f", forced with {done.open_items} open items" if done.forced else ""
    out.print(
        f"closed {done.month} for {terminal(scope)}: version {done.version}, "
        f"{done.days} employee-days final{forced}",
        highlight=False,
    )


@period_app.command("reopen")
def reopen(
    month: Annotated[str, typer.Argument(help="YYYY-MM")],
    reason: Annotated[str, typer.Option("--reason", help="why the closed month changes")],
    department: Departments = None,
    by: By = None,
) -> None:
    """Reopen a closed month (audited); its days are re-processed, the next close is a new
    version."""
    from punchd.app import Actor
    from punchd.app import periods as ops
    from punchd.app.attendance import refresh

    who = Actor(actor(by))
    site = _site()
    try:
        done = ops.reopen_period(site, month, departments=department, reason=reason, actor=who)
    except PunchdError as exc:
        raise fail(str(exc)) from None
    versions = ", ".join(str(v) for v in done.versions)
    out.print(
        f"reopened {done.month} (version {versions}): {done.days} employee-days open again",
        highlight=False,
    )
    refreshed = refresh(site, who)
    if not refreshed.ok:
        out.print(f"warning: re-processing failed: {terminal(refreshed.error)}", highlight=False)


@period_app.command("list")
def list_(month: Annotated[str | None, typer.Argument(help="YYYY-MM")] = None) -> None:
    """Every close and reopen."""
    from punchd.app import periods as ops

    try:
        rows = ops.list_periods(_site(), month)
    except PunchdError as exc:
        raise fail(str(exc)) from None
    if not rows:
        out.print("no period has been closed", highlight=False)
    for p in rows:
        _print_row(p)


def _print_row(p) -> None:
    scope = p.department_code or "everyone"
    line = (
        f"{p.month}  v{p.version}  {p.state:<8}  {terminal(scope)}  closed "
        f"{p.closed_at:%Y-%m-%d %H:%M} UTC by {terminal(p.closed_by)}"
    )
    if p.forced:
        line += f"  forced ({p.open_items} open): {terminal(p.close_reason or '')}"
    if p.reopened_at is not None:
        line += (
            f"  reopened {p.reopened_at:%Y-%m-%d %H:%M} UTC by {terminal(p.reopened_by or '')}: "
            f"{terminal(p.reopen_reason or '')}"
        )
    out.print(line, highlight=False)


@period_app.command("show")
def show(month: Annotated[str, typer.Argument(help="YYYY-MM")]) -> None:
    """A month's state, its closes, what is still open and what arrived after the close."""
    from punchd.app import periods as ops

    site = _site()
    try:
        view = ops.show_period(site, month)
        items = ops.open_items(site, month) if view.state != "closed" else None
    except PunchdError as exc:
        raise fail(str(exc)) from None
    out.print(f"{view.month}: {view.state}", highlight=False)
    for p in view.periods:
        _print_row(p)
    if items is not None:
        for line in items.lines() or ["nothing open: ready to close"]:
            out.print(f"open: {terminal(line)}", highlight=False)
    for a in view.after_close:
        out.print(
            f"arrived after close: {terminal(a.employee_no)} {terminal(a.name)} "
            f"{a.work_date.isoformat()} ({terminal(a.reason)}, version {a.version})",
            highlight=False,
        )


@export_app.command("payroll")
def export_payroll(
    month: Annotated[str, typer.Argument(help="YYYY-MM (closed)")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="csv | xlsx | json")] = "csv",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="file")] = None,
) -> None:
    """The closed month per employee, with a checksum manifest (<file>.sha256)."""
    from punchd.app import periods as ops

    try:
        done = ops.export_payroll(_site(), month, fmt, output)
    except PunchdError as exc:
        raise fail(str(exc)) from None
    out.print(
        f"wrote {terminal(str(done.path))}: {done.employees} employees, close version "
        f"{done.version}; sha256 {done.sha256} in {terminal(str(done.manifest))}",
        highlight=False,
    )


def grant_payroll(
    role: Annotated[str, typer.Argument(help="database role / user name")],
    password_env: Annotated[
        str | None,
        typer.Option("--password-env", help="environment variable holding the password"),
    ] = None,
    by: By = None,
) -> None:
    """Create or update a database role that can only read the payroll views."""
    from punchd.app import Actor
    from punchd.app import periods as ops

    password = None
    if password_env is not None:
        password = os.environ.get(password_env)
        if not password:
            raise fail(f"--password-env: ${password_env} is not set or empty")
    who = Actor(actor(by))
    try:
        done = ops.grant_payroll(_site(), role, password=password, actor=who)
    except PunchdError as exc:
        raise fail(str(exc)) from None
    if done.action == "explained":
        out.print(terminal(done.explanation), highlight=False)
        return
    out.print(
        f"{done.action} {terminal(done.role)}: SELECT on {', '.join(done.views)} only",
        highlight=False,
    )
