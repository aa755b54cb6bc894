"""Processing settings: every knob of the attendance rules, with the ZKTime defaults.

All durations are whole minutes. The defaults reproduce what users of ZKTime-style programs
expect; docs/processing.md explains each setting for HR.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MissingPunchPolicy = Literal["late", "absent"]

#: How far a punch window may reach before a period's start or after its end (12 h). The
#: engine relies on it to know how many neighbouring days can claim a punch (two).
MAX_WINDOW_REACH = 720


@dataclass(frozen=True, slots=True)
class ProcessingSettings:
    """How punches are judged. One instance applies to a whole processing run."""

    collapse_minutes: int = 5
    """Duplicate punches: a punch less than this many minutes (exact, to the second) after
    the last *kept* punch of the same person is dropped; the first of a burst is kept.
    0 keeps every punch."""

    default_checkin_before: int = 120
    """A period without an explicit check-in window accepts check-in from this many minutes
    before its start (inclusive) up to the period's midpoint (exclusive)."""

    default_checkout_after: int = 240
    """A period without an explicit check-out window accepts check-out from the period's
    midpoint up to this many minutes after its end (inclusive)."""

    missing_punch_policy: MissingPunchPolicy = "late"
    """What a missing check-in (check-out) on a must-punch period costs when the other punch
    of the period is there: ``"late"`` counts it as ``missing_minutes`` late (early);
    ``"absent"`` makes the whole period absent. Both punches missing → absent, always."""

    missing_minutes: int = 60
    """Minutes of lateness (early leave) a missing punch counts as under policy ``"late"``."""

    late_as_absent_after: int | None = None
    """If set: a period whose late minutes exceed this (strictly) is absent instead (its late
    and early minutes reset to 0). Includes minutes charged for a missing check-in."""

    early_as_absent_after: int | None = None
    """Same as ``late_as_absent_after`` for leaving early."""

    overtime_threshold: int = 30
    """Normal overtime: time worked before the first period's start or after the last
    period's end of a workday counts when it exceeds this many minutes (strictly), and then
    counts in full (like the late grace, the threshold is not subtracted)."""

    overtime_before_start: bool = True
    """Count early arrival before the day's first period as overtime."""

    overtime_after_end: bool = True
    """Count staying after the day's last period as overtime."""

    def __post_init__(self) -> None:
        for name in (
            "collapse_minutes",
            "default_checkin_before",
            "default_checkout_after",
            "missing_minutes",
            "overtime_threshold",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a whole number of minutes >= 0, not {value!r}")
        for name in ("default_checkin_before", "default_checkout_after"):
            if getattr(self, name) > MAX_WINDOW_REACH:
                raise ValueError(f"{name} may be at most {MAX_WINDOW_REACH} minutes")
        for name in ("late_as_absent_after", "early_as_absent_after"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 0):
                raise ValueError(f"{name} must be None or minutes >= 0, not {value!r}")
        if self.missing_punch_policy not in ("late", "absent"):
            policy = self.missing_punch_policy
            raise ValueError(f"missing_punch_policy must be 'late' or 'absent', not {policy!r}")
