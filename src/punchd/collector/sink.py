"""The one place punches are written: store batches, each punch once, and fire "punches stored".

Used by a collection run (:mod:`punchd.collector.collect`), the push receiver and the spool
drain (:meth:`punchd.collector.spool.Spool.flush`), inside the caller's transaction: the
punches, the device's punch count and the re-process queue entries their days need
(:mod:`punchd.processing.requeue`) commit together or not at all.

A run hands its punches over in batches (:class:`PunchWriter`), so that a 300,000-record
clock is never held as 300,000 Python objects: each batch is checked against what is stored
(:func:`punchd.storage.collection.stored_among`, which sees the rows earlier batches of the
same transaction inserted; not needed for a batch later than the device's newest stored
punch, ``att_device.last_punch_at``), its new punches inserted, and only a compact
summary kept — the count, the newest punch, per person and day the first and last new
punch (what the re-process queue needs). Every batch goes into the caller's one
transaction: until it commits nobody sees any of them, and a run that breaks off rolls
them all back.

A new punch by someone who had left — dated (device-local date) after the separation date
of its enrolment number's employee, or on a card clock of the card's holder then — is
stored flagged ``after_leaving`` (:data:`punchd.storage.punches.AFTER_LEAVING`): listed for
HR, and counted only inside the separation day's own window (so its days are queued like any
punch's). One look-up per batch, of that batch's new punches only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy.engine import Connection

from punchd.storage import collection as store
from punchd.storage import punches as punch_store

#: a punch's identity in att_punch: (enroll_no, punched_at, state)
PunchKey = tuple[str, datetime, str]
#: an att_punch row as :func:`punchd.storage.collection.insert_punch_values` takes it
PunchValues = tuple[Any, ...]
T = TypeVar("T")

#: punches per batch a run hands over (a few MB of Python objects at most)
BATCH = 5_000
#: (person, day) spans kept before they are handed to the re-process queue
DAYS_KEPT = 20_000
#: positions in a PunchValues tuple (storage.collection.PUNCH_COLUMNS)
_ENROLL, _AT, _RUN, _FLAG = 1, 2, 9, 10


def row_key(row: Mapping[str, Any]) -> PunchKey:
    """The identity of an ``att_punch`` row mapping."""
    return (row["enroll_no"], row["punched_at"], row["state"])


@dataclass
class Stored:
    """What a write added."""

    #: rows inserted (exact on every backend, see :meth:`PunchWriter.finish`)
    new: int = 0
    #: new punches stored flagged implausible (``att_punch.flag``), by flag
    flagged: dict[str, int] = field(default_factory=dict)
    #: new punches stored flagged ``after_leaving``: by someone who had left (not
    #: implausible data from the device, so not in ``flagged``)
    after_leaving: int = 0


class PunchWriter:
    """One device's punches into ``att_punch``, batch by batch, in the caller's transaction.

    :meth:`add` each batch, then :meth:`finish` once: it brings the device's punch count up
    to date and queues the employee-days the new punches touch for re-processing
    (``reason``: the queue entry's). A punch sent twice — in one batch or in two — is
    stored once."""

    def __init__(self, conn: Connection, device_id: int, device_name: str, *, reason: str):
        self.conn = conn
        self.device_id = device_id
        self.device_name = device_name
        self.reason = reason
        self._exact = store.exact_insert_counts(conn)
        self._inserted = 0  # as the database reports it
        self._fresh = 0  # rows sent to the database
        self._newest: datetime | None = None
        self._runs: set[int | None] = set()
        self._flagged: dict[str, int] = {}
        self._after_leaving = 0
        self._user_code: str | None = None
        self._user_code_read = False
        # No punch of the device stored before or during this write is later than this:
        # a batch wholly after it has nothing stored (a clock read for the first time, or
        # the new end of one that is cleared after each run) and skips the look-up.
        self._newest_stored = store.newest_device_punch(conn, device_id)
        # (enroll_no, date) → [first, last] new unflagged punch: the reach of the rules'
        # windows around a day's punches is that of its first and last one
        self._days: dict[tuple[str, date], list[datetime]] = {}

    def add(
        self, items: Sequence[T], key: Callable[[T], PunchKey], values: Callable[[T], PunchValues]
    ) -> None:
        """Store the items of one batch that are not stored yet: ``key`` is an item's
        identity, ``values`` its row (built only for the new ones: a clock that is not
        cleared sends every punch on every poll)."""
        if not items:
            return
        keys = list(map(key, items))
        floor = self._newest_stored
        if floor is None or min(k[1] for k in keys) > floor:
            known: set[PunchKey] = set()  # later than all that is stored
        else:
            known = store.stored_among(self.conn, self.device_id, keys)
        if not known and len(set(keys)) == len(keys):  # all new, each once
            fresh = list(map(values, items))
        else:
            fresh = []
            for item, item_key in zip(items, keys, strict=True):
                if item_key in known:
                    continue
                known.add(item_key)
                fresh.append(values(item))
        if fresh:  # none stored as of now, each once
            self.add_values(fresh, unseen=True)

    def add_values(self, fresh: Sequence[PunchValues], *, unseen: bool = False) -> None:
        """Insert rows already known to be new (the database still skips a stored one);
        those by someone who had left are flagged so first. ``unseen``: none is stored and
        none is there twice (the database may take them without looking)."""
        fresh = self._flag_leavers(fresh)
        self._inserted += store.insert_punch_values(self.conn, fresh, unseen=unseen)
        self._fresh += len(fresh)
        days = self._days
        flagged = self._flagged
        newest = self._newest
        for value in fresh:
            at = value[_AT]
            if newest is None or at > newest:
                newest = at
            if flag := value[_FLAG]:
                if flag != punch_store.AFTER_LEAVING:
                    flagged[flag] = flagged.get(flag, 0) + 1
                    continue  # implausible punches are kept for HR but never processed
                # may still end the separation day's shift (a night shift's check-out)
                self._after_leaving += 1
            span = days.get(day := (value[_ENROLL], at.date()))
            if span is None:
                days[day] = [at, at]
            elif at < span[0]:
                span[0] = at
            elif at > span[1]:
                span[1] = at
        self._newest = newest
        if newest is not None and (self._newest_stored is None or newest > self._newest_stored):
            self._newest_stored = newest
        if len(days) >= DAYS_KEPT:
            self._enqueue()
        self._runs.update(value[_RUN] for value in fresh)

    def finish(self) -> Stored:
        """Count what was stored, on the device row and in the result, and fire "punches
        stored": their days are queued for re-processing."""
        done = Stored(flagged=dict(self._flagged), after_leaving=self._after_leaving)
        if not self._fresh:
            return done
        single_run = len(self._runs) == 1 and None not in self._runs
        if self._exact:
            done.new = self._inserted
        elif single_run:
            # MySQL/MariaDB report skipped duplicates as written: the run's rows say.
            done.new = store.run_punch_counts(self.conn, next(iter(self._runs)))[0]
        else:
            done.new = self._fresh  # an upper bound; the device is counted again below
        if self._exact or single_run:
            if done.new and self._newest is not None:
                store.add_device_punches(self.conn, self.device_id, done.new, self._newest)
        else:
            store.recount_device_punches(self.conn, [self.device_id])
        self._enqueue()
        return done

    def _flag_leavers(self, fresh: Sequence[PunchValues]) -> Sequence[PunchValues]:
        """``fresh`` with the unflagged punches of people who had left by their date
        flagged ``after_leaving``: one look-up for the batch (the separation dates of its
        enrolment numbers, or its cards' histories on a card clock)."""
        numbers = {value[_ENROLL] for value in fresh if value[_FLAG] is None}
        if not numbers:
            return fresh
        if not self._user_code_read:
            self._user_code = punch_store.device_user_code(self.conn, self.device_id)
            self._user_code_read = True
        if self._user_code == "card":
            histories = punch_store.card_histories(self.conn, numbers)
            cards = {no: h for no, h in histories.items() if any(on for _, _, on in h)}
            if not cards:
                return fresh

            def left(value: PunchValues) -> bool:
                history = cards.get(value[_ENROLL])
                return history is not None and punch_store.card_punch_after_leaving(
                    history, value[_AT]
                )

        else:
            separations = punch_store.separations_by_enroll(self.conn, numbers)
            if not separations:
                return fresh

            def left(value: PunchValues) -> bool:
                return punch_store.left_by(separations.get(value[_ENROLL]), value[_AT])

        flag = punch_store.AFTER_LEAVING
        return [
            (*value[:_FLAG], flag, *value[_FLAG + 1 :])
            if value[_FLAG] is None and left(value)
            else value
            for value in fresh
        ]

    def _enqueue(self) -> None:
        """The "punches stored" event for the spans kept so far: their days are queued."""
        punches = [(enroll_no, at) for (enroll_no, _), span in self._days.items() for at in span]
        self._days.clear()
        if punches:
            from punchd.processing import requeue  # the processing shell: only when storing

            requeue.enqueue_punches(self.conn, self.device_name, punches, reason=self.reason)


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
    the new ones touch for re-processing (``reason``: the queue entry's): one
    :class:`PunchWriter` batch.

    ``batch`` holds ``att_punch`` row mappings of device ``device_id``, or any items with
    ``key`` (their identity) and ``row`` (their row, built only for the new ones)."""
    writer = PunchWriter(conn, device_id, device_name, reason=reason)
    if row is None:
        writer.add(batch, key, store.punch_values)  # type: ignore[arg-type]
    else:
        writer.add(batch, key, lambda item: store.punch_values(row(item)))
    return writer.finish()
