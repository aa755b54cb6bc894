"""The `punchd process` and `punchd report` commands (registered by cli.py)."""

from __future__ import annotations

import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

FORMATS = ("table", "csv", "xlsx")


STALE_HINT = "fix the cause (e.g. `punchd rules check`), then run `punchd process` for those dates"


def refresh(engine: Any, timezone: str | None, *, actor: str | None = None) -> bool:
    """Re-process what the changes just committed (and any earlier ones) left in the queue.

    A failure is one warning line: the change itself is committed, and reports mark the
    days concerned stale until a later drain succeeds. Returns whether it succeeded."""
    from punchd.cli._common import err
    from punchd.clock import local_now, zone
    from punchd.processing.requeue import drain_all, log_drained
    from punchd.storage.audit import default_actor

    try:
        log_drained(
            drain_all(engine, now=local_now(zone(timezone)), actor=actor or default_actor())
        )
    except Exception as exc:
        err.print(
            f"warning: results not re-processed ({exc.__class__.__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}); reports mark the days "
            f"concerned stale — {STALE_HINT}",
            highlight=False,
            markup=False,
        )
        return False
    return True


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

    from punchd.cli._common import actor, err, fail, open_database, out, settings
    from punchd.processing import CalendarDataMissing
    from punchd.processing.requeue import covered_by, forget, pending
    from punchd.processing.runner import ProcessError, process
    from punchd.rules.active import RulesError, calendar_warnings

    d_from, d_to = _range(date_from, date_to)
    who = actor(by)
    s = settings()
    engine = open_database(s)
    try:
        with engine.connect() as conn:
            queued = pending(conn)  # read before processing: what this run will cover
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
        if employee is None and department is None:
            forget(engine, covered_by(queued, d_from, d_to))
        refresh(engine, s.timezone, actor=by)
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
    from punchd.cli._common import err, fail, open_database, out, settings
    from punchd.reports.build import (
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
    engine = open_database(s)
    try:
        fresh = refresh(engine, s.timezone)
        with engine.connect() as conn:
            if summary:
                report = summary_report(
                    conn, d_from, d_to, department=department, employee_nos=employee
                )
            else:
                report = detail_report(
                    conn, d_from, d_to, department=department, employee_nos=employee, only=kinds
                )
            stale = 0 if fresh else mark_stale(conn, report, d_from, d_to, monthly=summary)
    except ReportError as exc:
        raise fail(str(exc)) from None
    finally:
        engine.dispose()

    if stale:
        err.print(
            f"warning: {stale} employee-days in this report changed after they were processed "
            f"and are marked stale (column Stale) — {STALE_HINT}",
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


def mark_stale(conn: Any, report: Any, d_from: date, d_to: date, *, monthly: bool) -> int:
    """Add a ``Stale`` column to ``report`` when some of its days wait to be re-processed
    (detail: ``yes``; monthly summary: how many of the month's days). Returns how many
    employee-days of the report are stale."""
    from punchd.processing.requeue import employee_numbers, stale_days
    from punchd.reports.build import Column

    if monthly:  # the summary sums whole months
        d_from = d_from.replace(day=1)
        d_to = (d_to.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    days = stale_days(conn, d_from, d_to)
    if not days:
        return 0
    numbers = employee_numbers(conn, {eid for eid, _ in days})
    keys = [(numbers[eid], d) for eid, d in days if eid in numbers]
    headers = [c.header for c in report.columns]
    who, when = headers.index("Employee no"), headers.index("Month" if monthly else "Date")
    if monthly:
        per_month: dict[tuple[str, str], int] = {}
        for no, d in keys:
            per_month[(no, f"{d:%Y-%m}")] = per_month.get((no, f"{d:%Y-%m}"), 0) + 1
        marks = [per_month.get((row[who], str(row[when])), 0) for row in report.rows]
        report.columns = [*report.columns, Column("Stale days", "int", 6)]
    else:
        wanted = set(keys)
        marks = ["yes" if (row[who], row[when]) in wanted else "" for row in report.rows]
        report.columns = [*report.columns, Column("Stale", "text", 6)]
    report.rows = [(*row, mark) for row, mark in zip(report.rows, marks, strict=True)]
    shown = {row[who] for row in report.rows}
    return sum(1 for no, _ in keys if no in shown)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the main app."""
    app.command("process")(process_command)
    app.command("report")(report_command)
