"""The `punchd process` and `punchd report` commands (registered by cli.py)."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

FORMATS = ("table", "csv", "xlsx")


def _range(date_from: str, date_to: str) -> tuple[date, date]:
    from .cli import fail, parse_date

    d_from, d_to = parse_date(date_from, "--from"), parse_date(date_to, "--to")
    if d_to < d_from:
        raise fail(f"--to {d_to} is before --from {d_from}")
    return d_from, d_to


def process_command(
    date_from: Annotated[str, typer.Option("--from", help="first work date (YYYY-MM-DD)")],
    date_to: Annotated[str, typer.Option("--to", help="last work date (YYYY-MM-DD)")],
    employee: Annotated[
        list[str] | None,
        typer.Option("--employee", "-e", help="employee number (repeatable); default everybody"),
    ] = None,
    department: Annotated[str | None, typer.Option("--department", help="department code")] = None,
    by: Annotated[str | None, typer.Option("--by", help="who runs it (for the audit log)")] = None,
) -> None:
    """Compute att_day / att_exception for a range of work dates (replaces earlier results)."""
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from ..processing import CalendarDataMissing
    from .cli import actor, err, fail, open_database, out, settings
    from .process import ProcessError, process
    from .rules_load import RulesError, calendar_warnings

    d_from, d_to = _range(date_from, date_to)
    who = actor(by)
    s = settings()
    engine = open_database(s)
    try:
        with Progress(
            TextColumn("processing"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("employees"),
            console=err,
            transient=True,
            disable=not err.is_terminal,
        ) as bar:
            task = bar.add_task("processing", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            summary = process(
                engine,
                d_from,
                d_to,
                employee_nos=employee or None,
                department=department,
                timezone=s.timezone,
                actor=who,
                progress=progress,
            )
        with engine.connect() as conn:
            calendar = calendar_warnings(conn, d_from, d_to)
    except (ProcessError, RulesError, CalendarDataMissing) as exc:
        raise fail(str(exc)) from None
    except Exception as exc:  # database trouble: one line
        raise fail(f"processing failed: {exc.__class__.__name__}: {exc}", code=1) from None
    finally:
        engine.dispose()
    out.print(summary.line(), highlight=False, soft_wrap=True)
    for warning in calendar:
        err.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)


def report_command(
    date_from: Annotated[str, typer.Option("--from", help="first work date (YYYY-MM-DD)")],
    date_to: Annotated[str, typer.Option("--to", help="last work date (YYYY-MM-DD)")],
    department: Annotated[str | None, typer.Option("--department", help="department code")] = None,
    employee: Annotated[
        list[str] | None, typer.Option("--employee", "-e", help="employee number (repeatable)")
    ] = None,
    only: Annotated[
        str | None,
        typer.Option(
            "--only",
            help="keep days with any of: late,early,absent,missing,leave,overtime",
        ),
    ] = None,
    summary: Annotated[
        bool,
        typer.Option(
            "--summary",
            help="monthly summary per employee (att_month_summary) instead of the daily detail",
        ),
    ] = False,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table | csv | xlsx")] = "table",
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="file to write (csv: default stdout)"),
    ] = None,
) -> None:
    """Employee detail (one row per employee-day) or the monthly summary."""
    from .cli import err, fail, open_database, out, settings
    from .report import (
        ReportError,
        csv_text,
        default_output,
        detail_report,
        parse_only,
        rich_table,
        summary_report,
        write_csv,
        write_xlsx,
    )
    from .safetext import terminal

    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise fail(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    d_from, d_to = _range(date_from, date_to)
    if summary and only:
        raise fail("--only applies to the daily detail, not to --summary")
    if output is not None and fmt == "table":
        raise fail("--output needs --format csv or xlsx")
    try:
        kinds = parse_only(only)
    except ReportError as exc:
        raise fail(str(exc)) from None
    s = settings()
    engine = open_database(s)
    try:
        with engine.connect() as conn:
            if summary:
                report = summary_report(
                    conn, d_from, d_to, department=department, employee_nos=employee
                )
            else:
                report = detail_report(
                    conn, d_from, d_to, department=department, employee_nos=employee, only=kinds
                )
    except ReportError as exc:
        raise fail(str(exc)) from None
    finally:
        engine.dispose()

    if fmt == "table":
        out.print(rich_table(report))
        out.print(f"{len(report.rows)} rows", highlight=False)
        return
    if fmt == "csv" and output is None:
        data = csv_text(report).encode("utf-8-sig")
        stream = getattr(sys.stdout, "buffer", None)
        if stream is not None:
            sys.stdout.flush()
            stream.write(data)
            stream.flush()
        else:  # pragma: no cover - a text-only stdout
            sys.stdout.write(data.decode("utf-8"))
        return
    path = output or default_output("summary" if summary else "detail", d_from, d_to, fmt)
    try:
        (write_csv if fmt == "csv" else write_xlsx)(report, path)
    except OSError as exc:
        raise fail(f"cannot write {path}: {exc.strerror or exc}", code=1) from None
    shown = terminal(str(path))
    err.print(f"{len(report.rows)} rows written to {shown}", highlight=False, soft_wrap=True)
    for note in report.notes:  # also in the file; said here so that nobody misses it
        err.print(f"warning: {note}", highlight=False, soft_wrap=True, markup=False)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the main app."""
    app.command("process")(process_command)
    app.command("report")(report_command)
