"""Where collection hands over to attendance processing.

The daemon calls ``drain`` after every poll that stored punches, after a spool flush and
every few seconds, and ``close_day`` once a day for yesterday. What to re-process comes
from the durable queue (:mod:`punchd.processing.requeue`) that collection, the spool and
every edit fill. :class:`DatabaseProcessing` (the default) runs the processing shell;
:class:`NoProcessing` only logs, for tests and for sites that process by hand (the queue
then waits for ``punchd process`` or the next command that drains it).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from sqlalchemy.engine import Engine

from punchd import logs
from punchd.clock import local_now, zone

if TYPE_CHECKING:
    from punchd.config import Settings
    from punchd.processing.requeue import DrainResult

#: ``att_audit.changed_by`` of processing started by the daemon.
DAEMON_ACTOR = "punchd-daemon"
#: close_day(day) processes ``day`` and this many dates before it: a period's check-out
#: window can close up to 2.5 days after midnight of its work date (an overnight period
#: ending 24 h after a 23:59 start, plus a 12 h window), so those dates may still have been
#: ``incomplete`` when last processed.
CLOSE_DAY_LOOKBACK = 2


class ProcessingHooks(Protocol):
    def drain(self, engine: Engine) -> DrainResult | None:
        """Re-process what the queue holds; None: nothing done (switched off, or failed)."""

    def close_day(self, engine: Engine, day: date) -> None:
        """Finalise ``day``: absences once every check-out window has closed."""


class NoProcessing:
    """Processing switched off: record what would have been done."""

    def drain(self, engine: Engine) -> DrainResult | None:
        logs.get_logger().debug("re-processing skipped: no processing")
        return None

    def close_day(self, engine: Engine, day: date) -> None:
        logs.get_logger().info("close of day skipped: no processing", day=day.isoformat())


class DatabaseProcessing:
    """Processing into att_day / att_exception, judged at the site's local time.

    ``timezone``: the site's IANA zone (``Settings.timezone``; None: the host's zone).
    """

    def __init__(self, timezone: str | None = None, actor: str = DAEMON_ACTOR) -> None:
        self.timezone = timezone
        self.actor = actor

    def now(self) -> datetime:
        return local_now(zone(self.timezone))

    def drain(self, engine: Engine) -> DrainResult | None:
        """Drain the queue; a failure is logged, never raised (see requeue.drain_logged)."""
        from punchd.processing.requeue import drain_logged

        return drain_logged(engine, now=self.now(), actor=self.actor)

    def close_day(self, engine: Engine, day: date) -> None:
        from punchd.processing.runner import process

        summary = process(
            engine,
            day - timedelta(days=CLOSE_DAY_LOOKBACK),
            day,
            now=self.now(),
            actor=self.actor,
            trigger="close_day",
        )
        logs.get_logger(component="process").info(
            "day closed",
            day=day.isoformat(),
            employees=summary.employees,
            employee_days=summary.employee_days,
            exceptions=summary.exceptions,
        )


def default_hooks(settings: Settings | None = None) -> ProcessingHooks:
    """Processing into the database, in the site's zone from ``settings`` (if given)."""
    return DatabaseProcessing(settings.timezone if settings is not None else None)
