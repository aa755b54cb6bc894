"""structlog set-up: readable on a terminal, JSON lines otherwise (journald)."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from typing import Any

import structlog

MASK = "***"

#: Settings fields whose value is a secret. Masking goes by field, never by searching
#: text for a secret's value: a comm key of 7 must not turn every "7" into "***" (that
#: would both reveal the key and damage the text).
SECRET_FIELDS = frozenset({"comm_key", "password", "passwd", "pwd", "pass", "secret"})

# ``scheme://user:PASSWORD@host``: the password of any URL.
_URL_PASSWORD = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^\s/@:]*:)[^\s/]*@")
# ``comm_key=7``, ``password = x``, ``'pwd': 'x y'``, ``"secret": 7``: a secret field written
# as key and value (``key: …`` only with a quoted key: "comm_key: should be …" is prose).
_NAMES = "|".join(sorted(SECRET_FIELDS, key=len, reverse=True))
_FIELD_VALUE = re.compile(
    rf"""(?i)(?<![a-z0-9_])(?:(?P<k>["'])(?:{_NAMES})(?P=k)\s*:|(?:{_NAMES})\s*=)\s*"""
    r"""(?:(?P<q>["'])(?P<quoted>.*?)(?P=q)|(?P<bare>[^\s"',;&)}\]]+))"""
)


def _mask_value(match: re.Match[str]) -> str:
    group = "quoted" if match.group("quoted") is not None else "bare"
    start, end = match.span(group)
    whole = match.group()
    offset = match.start()
    return whole[: start - offset] + MASK + whole[end - offset :]


def mask(text: str) -> str:
    """``text`` with every URL password and ``secret_field=value`` masked; nothing else
    in it changes."""
    text = _URL_PASSWORD.sub(rf"\1{MASK}@", text)
    return _FIELD_VALUE.sub(_mask_value, text)


def is_secret_field(name: str) -> bool:
    """A settings field or log key whose value is a secret (``comm_key``, ``db_password``)."""
    name = name.lower()
    return name in SECRET_FIELDS or name.endswith(("_password", "_secret"))


def _masked(value: Any) -> Any:
    if hasattr(value, "get_secret_value"):  # pydantic SecretStr and the like
        return MASK
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {
            k: MASK if isinstance(k, str) and is_secret_field(k) else _masked(v)
            for k, v in value.items()
        }
    if type(value) in (list, tuple):  # not a named tuple: its fields are not secrets
        return type(value)(_masked(v) for v in value)
    return value


def _redact(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    # Secrets are never passed to the logger on purpose; this catches a secret field or
    # an exception text that carries a URL with its password.
    for key, value in event.items():
        event[key] = MASK if is_secret_field(key) else _masked(value)
    return event


def _visible(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    from punchd.safetext import visible

    for key, value in event.items():
        if isinstance(value, str):
            event[key] = visible(value)
    return event


def scrub(text: str) -> str:
    """Text meant for a user or a table row (errors, messages) without secrets: see
    :func:`mask`. What does not look like a secret is left exactly as it was."""
    return mask(text)


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
        # JSON escapes control characters itself; a terminal would obey them.
        processors = [*processors, _visible, renderer]
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
