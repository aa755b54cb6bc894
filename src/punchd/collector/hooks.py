"""Where collection hands over to attendance processing.

The daemon calls ``reprocess`` after every collection that stored new punches, and
``close_day`` once a day for yesterday. Until the processing engine is wired to the
database these do nothing but say so; the engine's shell replaces ``default_hooks``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Protocol

from sqlalchemy.engine import Engine

from . import logs


class ProcessingHooks(Protocol):
    def reprocess(self, engine: Engine, device: str, punches: list[tuple[str, datetime]]) -> None:
        """Re-process the employee-days the new ``(enroll_no, punched_at)`` touch."""

    def close_day(self, engine: Engine, day: date) -> None:
        """Finalise ``day``: absences once every check-out window has closed."""


class NoProcessing:
    """Processing is not available yet: record what would have been done."""

    def reprocess(self, engine: Engine, device: str, punches: list[tuple[str, datetime]]) -> None:
        logs.get_logger(device=device).debug(
            "reprocess skipped: no processing", punches=len(punches)
        )

    def close_day(self, engine: Engine, day: date) -> None:
        logs.get_logger().info("close of day skipped: no processing", day=day.isoformat())


def default_hooks() -> ProcessingHooks:
    return NoProcessing()
