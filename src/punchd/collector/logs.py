"""structlog set-up: readable on a terminal, JSON lines otherwise (journald)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import Any

import structlog

_secrets: set[str] = set()


def register_secret(value: str | int | None) -> None:
    """Remember a value that must never be printed (comm keys, DB passwords)."""
    if value not in (None, "", 0, "0"):
        _secrets.add(str(value))


def _scrub(text: str) -> str:
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def _redact(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    # Belt and braces: secrets are never passed to the logger on purpose, but an
    # exception text from a library could still carry one.
    if _secrets:
        for key, value in event.items():
            if isinstance(value, str):
                event[key] = _scrub(value)
    return event


def scrub(text: str) -> str:
    """Remove registered secrets from text meant for a user (errors, tables)."""
    return _scrub(text) if _secrets else text


class _CurrentStderr:
    """Writes to whatever ``sys.stderr`` is at the time, so that log lines printed while
    a rich progress bar is live go above the bar (rich redirects ``sys.stderr``)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


def configure(fmt: str = "auto", level: str = "info", stream: Any = None) -> None:
    stream = stream or _CurrentStderr()
    if fmt == "auto":
        fmt = "console" if stream.isatty() else "json"
    processors: Iterable[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact,
    ]
    if fmt == "json":
        renderer: Any = structlog.processors.JSONRenderer()
        processors = [*processors, structlog.processors.format_exc_info, renderer]
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=stream.isatty())
        processors = [*processors, renderer]
    structlog.configure(
        processors=list(processors),
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
        ),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )


def get_logger(**bind: Any) -> Any:
    return structlog.get_logger("punchd").bind(**bind)
