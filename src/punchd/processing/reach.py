"""How far a work date reaches into the punches around it (pure date arithmetic).

A work date ``d`` uses the punches in ``[d − before, d + after)``: the reach of every
period's windows (overnight periods, check-out windows into the next morning, check-in
windows opening the evening before) plus ``collapse_minutes`` — see
:func:`punchd.processing.punch_load_range`. The re-process queue uses it backwards: which
work dates can a punch at ``t`` change?
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta

from punchd.processing import Rules, punch_load_range

#: (before, after): a work date ``d`` can use the punches in ``[d − before, d + after)``.
Reach = tuple[timedelta, timedelta]
#: The reach assumed when the rules cannot be read: wider than any period the rules allow
#: (a check-in window opening the evening before, an overnight period plus its check-out
#: window ending up to 2.5 days after midnight).
FALLBACK_REACH: Reach = (timedelta(days=1), timedelta(days=3))


def rules_reach(rules: Rules) -> Reach:
    """The reach of ``rules``' windows (measured on a plain Monday)."""
    ref = date(2000, 1, 3)
    start, end = punch_load_range(rules, ref, ref)
    midnight = datetime.combine(ref, datetime.min.time())
    return midnight - start, end - midnight


def reached_dates(reach: Reach, start: datetime, end: datetime) -> list[date]:
    """The work dates whose punch range meets the times ``[start, end]``: ``d`` qualifies
    when ``d − before ≤ t < d + after`` for some ``t`` in it."""
    before, after = reach
    out = []
    d = (start - after).date()
    last = (end + before).date()
    while d <= last:
        base = datetime.combine(d, datetime.min.time())
        if base - before <= end and start < base + after:
            out.append(d)
        d += timedelta(days=1)
    return out


def runs(dates: Sequence[date]) -> Iterable[tuple[date, date]]:
    """Sorted dates → (first, last) of each run of consecutive dates."""
    first = prev = None
    for d in dates:
        if prev is not None and d == prev + timedelta(days=1):
            prev = d
            continue
        if first is not None:
            yield first, prev
        first = prev = d
    if first is not None:
        yield first, prev
