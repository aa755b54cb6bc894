"""What every `punchd` command shares: the consoles, the global options, one-line errors, dates,
who acts (`--by`), the settings and the database. Imports nothing of the commands, and the
settings and logging only when a command asks for them (`punchd --help` needs neither)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from punchd.errors import PunchdError
from punchd.safetext import terminal

if TYPE_CHECKING:
    from punchd.app import Site
    from punchd.config import Settings

out = Console()
err = Console(stderr=True, soft_wrap=True)  # one message, one line (for logs and grep)


class State:
    config: Path | None = None
    log_format: str | None = None


state = State()


def fail(message: str, code: int = 2) -> typer.Exit:
    from punchd import logs

    err.print(f"[bold red]error:[/] {terminal(logs.scrub(message))}", highlight=False)
    return typer.Exit(code)


def parse_date(value: str, option: str) -> date:
    """An option's ``YYYY-MM-DD`` value, or a one-line error naming the option (exit 2)."""
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise fail(f"{option}: not a date (YYYY-MM-DD): {value!r}") from None


def actor(by: str | None) -> str:
    """Who a change is recorded as: ``--by`` trimmed, else (absent or blank) the OS user.
    Longer than the audit column (64) is refused rather than cut."""
    from punchd.app import Actor

    try:
        return Actor.named(by).name
    except PunchdError as exc:
        raise fail(f"--by: {exc}") from None


def settings() -> Settings:
    from punchd import logs
    from punchd.config import ConfigError, load_settings

    try:
        s = load_settings(state.config)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    logs.configure(state.log_format or s.log_format, s.log_level)
    return s


def open_site(s: Settings) -> Site:
    """The site (settings + database, schema checked and upgraded), or a one-line error
    (exit 2)."""
    from punchd.app import Site

    try:
        return Site.open(s)
    except PunchdError as exc:
        raise fail(str(exc)) from None


def open_database(s: Settings):
    """The site's engine, or a one-line error (exit 2)."""
    return open_site(s).engine
