"""The `punchd process` and `punchd report` commands (registered by cli.main): parse, call
:mod:`punchd.app.attendance`, print."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from punchd.app.attendance import Refreshed
    from punchd.reports.model import Report

FORMATS = ("table", "csv", "xlsx")


STALE_HINT = "fix the cause (e.g. `punchd rules check`), then run `punchd process` for those dates"


def refresh(engine: Any, timezone: str | None, *, actor: str | None = None) -> bool:
    """Re-process what the changes just committed (and any earlier ones) left in the queue.

    A failure is one warning line: the change itself is committed, and reports mark the
    days concerned stale until a later drain succeeds. Returns whether it succeeded."""
    from punchd.app import Actor
    from punchd.app.attendance import refresh_queue
    from punchd.clock import local_now, zone

    done = refresh_queue(engine, now=local_now(zone(timezone)), actor=Actor.named(actor))
    _warn_not_refreshed(done)
    return done.ok


def _warn_not_refreshed(done: Refreshed | None) -> None:
    from punchd.cli._common import err

    if done is None or done.ok:
        return
    err.print(
        f"warning: results not re-processed ({done.error}); reports mark the days "
        f"concerned stale — {STALE_HINT}",
        highlight=False,
        markup=False,
    )


def _range(date_from: str, date_to: str) -> tuple[date, date]:
    from punchd.cli._common import fail, parse_date

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

    from punchd.app import Actor
    from punchd.app.attendance import ProcessingFailed, process
    from punchd.cli._common import actor, err, fail, open_site, out, settings
    from punchd.errors import RulesError
    from punchd.processing import CalendarDataMissing
    from punchd.processing.runner import ProcessError

    d_from, d_to = _range(date_from, date_to)
    who = Actor(actor(by))
    s = settings()
    site = open_site(s)
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

            done = process(
                site,
                d_from,
                d_to,
                department=department,
                employees=employee,
                actor=who,
                progress=progress,
            )
    except (ProcessError, RulesError, CalendarDataMissing) as exc:
        raise fail(str(exc)) from None
    except ProcessingFailed as exc:  # database trouble: one line
        raise fail(str(exc), code=1) from None
    finally:
        site.engine.dispose()
    _warn_not_refreshed(done.refreshed)
    out.print(done.summary.line(), highlight=False, soft_wrap=True)
    for warning in done.calendar_warnings:
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
    from punchd.app.attendance import build_report
    from punchd.cli._common import err, fail, open_site, out, settings
    from punchd.reports.build import ReportError, parse_only
    from punchd.reports.export import csv_text, default_output, write_csv, write_xlsx
    from punchd.safetext import terminal

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
    site = open_site(s)
    try:
        built = build_report(
            site,
            "summary" if summary else "detail",
            d_from,
            d_to,
            department=department,
            employees=employee,
            only=kinds,
        )
    except ReportError as exc:
        raise fail(str(exc)) from None
    finally:
        site.engine.dispose()
    _warn_not_refreshed(built.refreshed)
    report = built.report
    if built.stale:
        err.print(
            f"warning: {built.stale} employee-days in this report changed after they were "
            f"processed and are marked stale (column Stale) — {STALE_HINT}",
            highlight=False,
            markup=False,
        )
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


def rich_table(report: Report) -> Any:
    """The report as a rich Table (minutes right-aligned; times without seconds). Text is
    shown as text: markup escaped, control characters made visible."""
    from rich.table import Table

    from punchd import safetext
    from punchd.reports.export import cell_text

    table = Table(title=safetext.terminal(report.title), title_justify="left", show_lines=False)
    if report.notes:
        table.caption = "\n".join(f"note: {safetext.terminal(note)}" for note in report.notes)
        table.caption_justify = "left"
    for column in report.columns:
        table.add_column(
            safetext.terminal(column.header),
            justify="right" if column.kind == "int" else "left",
            overflow="fold",
        )
    for row in report.rows:
        cells = []
        for value, column in zip(row, report.columns, strict=True):
            if value is None:
                cells.append("")
            elif column.kind == "datetime":
                cells.append(value.strftime("%m-%d %H:%M"))
            elif column.kind == "int" and value == 0:
                cells.append("·")
            else:
                cells.append(safetext.terminal(cell_text(value, column.kind)))
        table.add_row(*cells)
    return table


def register(app: typer.Typer) -> None:
    """Add this module's commands to the main app."""
    app.command("process")(process_command)
    app.command("report")(report_command)
