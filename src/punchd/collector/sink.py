"""The one place punches are written: store a batch, each punch once, and fire "punches stored".

Used by a collection run (:mod:`punchd.collector.collect`) and by the spool drain
(:meth:`punchd.collector.spool.Spool.flush`), inside the caller's transaction: the punches and
the re-process queue entries their days need (:mod:`punchd.processing.requeue`) commit
together or not at all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.engine import Connection

from punchd.processing import requeue
from punchd.storage import collection as store

#: a punch's identity in att_punch: (enroll_no, punched_at, state)
PunchKey = tuple[str, datetime, str]
T = TypeVar("T")


def row_key(row: Mapping[str, Any]) -> PunchKey:
    """The identity of an ``att_punch`` row mapping."""
    return (row["enroll_no"], row["punched_at"], row["state"])


@dataclass
class Stored:
    """What one batch added."""

    #: rows inserted (see :func:`punchd.storage.collection.insert_punches`)
    new: int = 0
    #: (enroll_no, punched_at) of the new punches processing counts (flagged ones excluded)
    punches: list[tuple[str, datetime]] = field(default_factory=list)
    #: new punches stored with ``att_punch.flag`` set, by flag
    flagged: dict[str, int] = field(default_factory=dict)


def store_punches(
    conn: Connection,
    device_id: int,
    device_name: str,
    batch: Sequence[T],
    *,
    reason: str,
    key: Callable[[T], PunchKey] = row_key,  # type: ignore[assignment]
    row: Callable[[T], Mapping[str, Any]] | None = None,
) -> Stored:
    """Store the punches of ``batch`` that are not stored yet, and queue the employee-days
    the new ones touch for re-processing (``reason``: the queue entry's).

    ``batch`` holds ``att_punch`` row mappings of device ``device_id``, or any items with
    ``key`` (their identity) and ``row`` (their row, built only for the new ones: a device
    that is not cleared sends every punch on every poll). A punch the batch holds twice is
    stored once."""
    done = Stored()
    if not batch:
        return done
    keys = [key(item) for item in batch]
    known = store.existing_punch_keys(conn, device_id, since=min(k[1] for k in keys))
    fresh = []
    for item, item_key in zip(batch, keys, strict=True):
        if item_key in known:
            continue
        known.add(item_key)
        fresh.append(item if row is None else row(item))
    done.new = store.insert_punches(conn, fresh) if fresh else 0
    for new_row in fresh:
        if new_row.get("flag"):
            done.flagged[new_row["flag"]] = done.flagged.get(new_row["flag"], 0) + 1
    # Flagged punches are kept for HR but never processed.
    done.punches = [(r["enroll_no"], r["punched_at"]) for r in fresh if not r.get("flag")]
    if done.punches:  # the "punches stored" event: their days are re-processed
        requeue.enqueue_punches(conn, device_name, done.punches, reason=reason)
    return done
