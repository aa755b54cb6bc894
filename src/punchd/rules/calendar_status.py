"""The holiday calendar's "not confirmed" warnings, for process, reports and status: a year
processed on China's calendar without official data that HR has not confirmed."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING

from punchd.errors import RulesError
from punchd.notices import Notice
from punchd.processing.inputs import load_calendar

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

#: How a year processed without an official calendar is marked (process, reports, status).
UNCONFIRMED = "calendar for {year} not confirmed: enter the official holidays and make-up workdays"
#: How far ahead ``punchd status`` looks for an unconfirmed year.
STATUS_LOOKAHEAD = timedelta(days=31)


def calendar_warnings(conn: Connection, date_from: date, date_to: date) -> list[str]:
    """One line per year of ``[date_from, date_to]`` processed on China's calendar without
    official data that HR has not confirmed (empty: nothing to say)."""
    return [n.text for n in calendar_notices(conn, date_from, date_to)]


def calendar_notices(conn: Connection, date_from: date, date_to: date) -> list[Notice]:
    """:func:`calendar_warnings` as notices (``calendar_unconfirmed``: ``year``;
    ``calendar_unreadable``: ``error``, the English reason)."""
    try:
        years = load_calendar(conn).unconfirmed_years(date_from, date_to)
    except RulesError as exc:  # a report or status still shows, and says why
        return [
            Notice(
                "calendar_unreadable",
                {"error": str(exc)},
                f"the holiday calendar cannot be read: {exc}",
            )
        ]
    return [
        Notice(
            "calendar_unconfirmed",
            {"year": y},
            UNCONFIRMED.format(year=y)
            + f" (`punchd holiday import FILE`, then `punchd holiday confirm {y}`)",
        )
        for y in years
    ]


def calendar_attention(engine: Engine, today: date) -> list[str]:
    """``punchd status``: the warnings for the site's ``today`` and the weeks ahead."""
    return [n.text for n in calendar_attention_notices(engine, today)]


def calendar_attention_notices(engine: Engine, today: date) -> list[Notice]:
    """:func:`calendar_attention` as notices."""
    with engine.connect() as conn:
        return calendar_notices(conn, today, today + STATUS_LOOKAHEAD)
