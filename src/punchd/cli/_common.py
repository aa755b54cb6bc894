"""What every `punchd` command shares: the consoles, the global options, one-line errors, dates,
who acts (`--by`), the settings and the database. Imports nothing of the commands."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import typer
from rich.console import Console

from punchd import logs
from punchd.config import ConfigError, Settings, load_settings
from punchd.safetext import terminal

out = Console()
err = Console(stderr=True, soft_wrap=True)  # one message, one line (for logs and grep)


class State:
    config: Path | None = None
    log_format: str | None = None


state = State()


def fail(message: str, code: int = 2) -> typer.Exit:
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
    from punchd.storage.audit import ACTOR_MAX, default_actor

    name = (by or "").strip()
    if not name:
        return default_actor()
    if len(name) > ACTOR_MAX:
        raise fail(f"--by: at most {ACTOR_MAX} characters, got {len(name)}")
    return name


def settings() -> Settings:
    try:
        s = load_settings(state.config)
    except ConfigError as exc:
        raise fail(str(exc)) from None
    logs.configure(state.log_format or s.log_format, s.log_level)
    return s


def open_database(s: Settings):
    from punchd.storage.database import (
        DatabaseUnavailable,
        SchemaError,
        check_connection,
        ensure_schema,
        make_engine,
    )

    try:
        engine = make_engine(s.db_url, **db_timeouts(s))
        check_connection(engine)
        ensure_schema(engine, auto_upgrade=s.auto_upgrade)
    except (DatabaseUnavailable, SchemaError) as exc:
        raise fail(str(exc)) from None
    except Exception as exc:  # bad URL, missing driver module …
        raise fail(f"cannot open the database: {exc.__class__.__name__}: {exc}") from None
    return engine


def db_timeouts(s: Settings) -> dict[str, float]:
    """``make_engine`` keyword arguments from the ``[database]`` settings."""
    return s.database.model_dump()
