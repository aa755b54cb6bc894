"""Where collection hands over to attendance processing.

The daemon calls ``reprocess`` after every collection that stored new punches, and
``close_day`` once a day for yesterday. :class:`DatabaseProcessing` (the default) runs the
processing shell (:mod:`punchd.collector.process`); :class:`NoProcessing` only logs, for
tests and for sites that process by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from sqlalchemy.engine import Engine

from . import logs
from .timezones import local_now, zone

if TYPE_CHECKING:
    from .collect import RunResult
    from .settings import Settings

#: ``att_audit.changed_by`` of processing started by the daemon.
DAEMON_ACTOR = "punchd-daemon"
#: close_day(day) processes ``day`` and this many dates before it: a period's check-out
#: window can close up to 2.5 days after midnight of its work date (an overnight period
#: ending 24 h after a 23:59 start, plus a 12 h window), so those dates may still have been
#: ``incomplete`` when last processed.
CLOSE_DAY_LOOKBACK = 2


class ProcessingHooks(Protocol):
    def reprocess(self, engine: Engine, device: str, punches: list[tuple[str, datetime]]) -> None:
        """Re-process the employee-days the new ``(enroll_no, punched_at)`` touch."""

    def close_day(self, engine: Engine, day: date) -> None:
        """Finalise ``day``: absences once every check-out window has closed."""


class NoProcessing:
    """Processing switched off: record what would have been done."""

    def reprocess(self, engine: Engine, device: str, punches: list[tuple[str, datetime]]) -> None:
        logs.get_logger(device=device).debug(
            "reprocess skipped: no processing", punches=len(punches)
        )

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

    def reprocess(self, engine: Engine, device: str, punches: list[tuple[str, datetime]]) -> None:
        from .process import reprocess

        summaries = reprocess(engine, device, punches, now=self.now(), actor=self.actor)
        logs.get_logger(device=device, component="process").info(
            "re-processed",
            punches=len(punches),
            runs=len(summaries),
            employees=sum(s.employees for s in summaries),
            employee_days=sum(s.employee_days for s in summaries),
        )

    def close_day(self, engine: Engine, day: date) -> None:
        from .process import process

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


def reprocess_stored(
    engine: Engine, timezone: str | None = None, hooks: ProcessingHooks | None = None
) -> Callable[[RunResult], None]:
    """An ``after_store`` for :func:`punchd.collector.collect.collect_device` (manual
    ``punchd collect``): re-process the employee-days the run's new punches touch. A
    processing failure is logged, never raised: the punches are stored either way, and the
    next run or ``punchd process`` catches up."""
    chosen = hooks if hooks is not None else DatabaseProcessing(timezone)

    def after_store(result: RunResult) -> None:
        try:
            chosen.reprocess(engine, result.device, result.new_punches)
        except Exception as exc:
            logs.get_logger(device=result.device, component="process").error(
                "re-processing failed; run `punchd process` for the dates concerned",
                error=f"{exc.__class__.__name__}: {exc}",
            )

    return after_store


def default_hooks(settings: Settings | None = None) -> ProcessingHooks:
    """Processing into the database, in the site's zone from ``settings`` (if given)."""
    return DatabaseProcessing(settings.timezone if settings is not None else None)
