"""Reconciliation of push clocks: finding and filling the days whose punches did not all
arrive (a batch acknowledged and then lost with a restored backup, rows deleted by hand, a
spool file lost with its disk).

Once a day (``[push] reconcile_at``, site time) every push clock is asked for the number of
records it holds for each of the last ``[push] reconcile_days`` days before today, on its own
wall clock: ``VERIFY SUM ATTLOG StartTime=<day> 00:00:00⇥EndTime=<day> 23:59:59``. When its
answer (``AttlogSum=<n>`` in the command's result) differs from the punches stored for that
clock and day, ``DATA QUERY ATTLOG`` for that day is queued: the clock re-sends the day as
ordinary ATTLOG uploads, and the unique key keeps what was already stored once.

The decisions (which days, which commands, what an answer means) are pure functions of plain
data; :class:`Reconciler` does the reading, queueing and logging around them.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from punchd import logs
from punchd.clock import utc_to_local, utcnow
from punchd.collector.push.service import DRIVER, push_address, serial_of
from punchd.config import Settings
from punchd.drivers import DeviceConfig
from punchd.drivers.adms import protocol
from punchd.storage import collection as store
from punchd.storage import push as push_store

__all__ = [
    "CREATED_BY",
    "Command",
    "Finding",
    "Outcome",
    "Reconciler",
    "attlog_sum",
    "day_span",
    "days_to_check",
    "judge",
    "parse_range",
    "query_command",
    "verifies_to_queue",
    "verify_command",
]

#: ``created_by`` of the commands the reconciliation queues
CREATED_BY = "reconcile"
#: how long an unanswered VERIFY SUM is waited for (a clock that is offline); the next daily
#: run asks again once it has been answered
ANSWER_WAIT = timedelta(hours=24)
VERIFY = "VERIFY SUM ATTLOG"
QUERY = "DATA QUERY ATTLOG"
_RANGE_FORMAT = "%Y-%m-%d %H:%M:%S"
_ATTLOG_SUM = re.compile(r"(?im)^\s*attlogsum\s*=\s*(\d{1,12})\s*$")


# --------------------------------------------------------------------------- commands


def day_span(day: date) -> tuple[datetime, datetime]:
    """The first and the last second of ``day`` (a clock's wall clock)."""
    start = datetime.combine(day, time())
    return start, start + timedelta(days=1, seconds=-1)


def _range_args(start: datetime, end: datetime) -> str:
    return f"StartTime={start:{_RANGE_FORMAT}}\tEndTime={end:{_RANGE_FORMAT}}"


def verify_command(day: date) -> str:
    """``VERIFY SUM ATTLOG`` for ``day``: the clock answers ``AttlogSum=<n>``."""
    return protocol.check_command(f"{VERIFY} {_range_args(*day_span(day))}")


def query_command(start: datetime, end: datetime) -> str:
    """``DATA QUERY ATTLOG`` from ``start`` to ``end`` (to the second, the clock's wall
    clock): the clock re-sends those records as ATTLOG uploads."""
    if end < start:
        raise ValueError(f"the range ends ({end}) before it starts ({start})")
    return protocol.check_command(
        f"{QUERY} {_range_args(start.replace(microsecond=0), end.replace(microsecond=0))}"
    )


def parse_range(command: str) -> tuple[datetime, datetime] | None:
    """(StartTime, EndTime) of a queued range command, None when it has no readable one."""
    pairs = {}
    for part in command.split("\t"):
        key, sep, value = part.partition("=")
        words = key.split()  # "VERIFY SUM ATTLOG StartTime": the key is the last word
        if sep and words:
            pairs[words[-1].lower()] = value.strip()
    try:
        return (
            datetime.strptime(pairs.get("starttime", ""), _RANGE_FORMAT),
            datetime.strptime(pairs.get("endtime", ""), _RANGE_FORMAT),
        )
    except ValueError:
        return None


def attlog_sum(result: str | None) -> int | None:
    """The count of a VERIFY SUM answer as the receiver records it (``AttlogSum=<n>`` on a
    line of its own: a following line of the post, or an ``&AttlogSum=`` pair)."""
    match = _ATTLOG_SUM.search(result or "")
    return int(match.group(1)) if match else None


# --------------------------------------------------------------------------- decisions


@dataclass(frozen=True)
class Command:
    """One row of ``att_device_command``, as far as the decisions need it."""

    id: int  # the row id: orders commands, as they were queued
    command_id: str
    command: str
    created_at: datetime
    created_by: str = ""
    answered_at: datetime | None = None
    return_code: int | None = None
    result: str | None = None

    @classmethod
    def from_row(cls, row: Mapping) -> Command:
        return cls(
            id=int(row["id"]),
            command_id=str(row["command_id"]),
            command=str(row["command"]),
            created_at=row["created_at"],
            created_by=row.get("created_by") or "",
            answered_at=row.get("answered_at"),
            return_code=row.get("return_code"),
            result=row.get("result"),
        )

    @property
    def verb(self) -> str:
        for verb in (VERIFY, QUERY):
            if self.command.upper().startswith(verb + " "):
                return verb
        return ""

    @property
    def span(self) -> tuple[datetime, datetime] | None:
        return parse_range(self.command)

    def covers(self, start: datetime, end: datetime) -> bool:
        span = self.span
        return span is not None and span[0] <= start and span[1] >= end

    @property
    def pending(self) -> bool:
        return self.answered_at is None


def days_to_check(device_today: date, days: int) -> list[date]:
    """The ``days`` days before ``device_today`` (today is not over yet), oldest first."""
    return [device_today - timedelta(days=n) for n in range(days, 0, -1)]


def verifies_to_queue(days: Sequence[date], commands: Sequence[Command]) -> list[date]:
    """The days to ask about: those without a VERIFY SUM for that very day still waiting for
    its answer (a clock that is offline is not sent one more each day)."""
    waiting = set()
    for c in commands:
        span = c.span
        if c.verb == VERIFY and c.pending and span is not None and span == day_span(span[0].date()):
            waiting.add(span[0].date())
    return [d for d in days if d not in waiting]


class Outcome(StrEnum):
    #: the clock holds as many records for the day as are stored
    COMPLETE = "complete"
    #: the counts differ: DATA QUERY ATTLOG for the day is to be queued
    QUERY = "query"
    #: the counts differ, and a DATA QUERY covering the day waits for the clock already
    PENDING = "pending"
    #: the counts differ, and the day was queried again after this count (once per count)
    QUERIED = "queried"
    #: the clock answered the VERIFY SUM with an error (e.g. -1002: firmware without it)
    REFUSED = "refused"
    #: the answer carries no AttlogSum
    UNREADABLE = "unreadable"


@dataclass(frozen=True)
class Finding:
    day: date
    device_count: int | None
    stored_count: int
    outcome: Outcome
    #: the VERIFY SUM this finding is the answer of
    verify_id: str
    return_code: int | None = None

    @property
    def query(self) -> str | None:
        """The command to queue (Outcome.QUERY), else None."""
        return query_command(*day_span(self.day)) if self.outcome is Outcome.QUERY else None


def judge(verify: Command, stored_count: int, commands: Sequence[Command]) -> Finding:
    """What the answer of ``verify`` (an answered VERIFY SUM of one whole day) means, given
    the punches stored for that day and the clock's range commands (``commands``)."""
    span = verify.span
    if span is None or verify.verb != VERIFY:
        raise ValueError(f"not a VERIFY SUM ATTLOG with a range: {verify.command!r}")
    day = span[0].date()

    def found(outcome: Outcome, count: int | None = None) -> Finding:
        return Finding(day, count, stored_count, outcome, verify.command_id, verify.return_code)

    if verify.return_code != 0:
        return found(Outcome.REFUSED)
    count = attlog_sum(verify.result)
    if count is None:
        return found(Outcome.UNREADABLE)
    if count == stored_count:
        return found(Outcome.COMPLETE, count)
    queries = [c for c in commands if c.verb == QUERY and c.covers(*span)]
    if any(q.pending for q in queries):
        return found(Outcome.PENDING, count)
    if any(q.id > verify.id for q in queries):
        return found(Outcome.QUERIED, count)
    return found(Outcome.QUERY, count)


# --------------------------------------------------------------------------- the job


class Reconciler:
    """The daemon's reconciliation: :meth:`start` once a day queues the VERIFY SUMs,
    :meth:`follow_up` (every few seconds) judges the answers as they come in and queues the
    DATA QUERYs. Only the VERIFY SUMs it is waiting for are read: between two daily runs, a
    follow-up costs nothing."""

    def __init__(
        self,
        settings: Callable[[], Settings],
        engine: Engine,
        *,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        """``settings``: the current configuration (re-read at every run: a reload adds and
        removes clocks); ``now``: naive UTC (injected by tests)."""
        self.settings = settings
        self.engine = engine
        self.now = now
        self.log = logs.get_logger(component="reconcile")
        self._lock = threading.Lock()
        # device name -> {command_id of a VERIFY SUM not judged yet: its created_at}
        self._waiting: dict[str, dict[str, datetime]] = {}
        self._loaded = False

    def push_clocks(self) -> list[DeviceConfig]:
        return [d for d in self.settings().devices if d.driver == DRIVER and d.enabled]

    def _device_id(self, conn: Connection, device: DeviceConfig) -> int:
        return store.upsert_device(
            conn,
            name=device.name,
            driver=device.driver,
            address=push_address(serial_of(device) or ""),
            user_code=getattr(device, "user_code", "enroll"),
        )

    def device_today(self, device: DeviceConfig, now: datetime | None = None) -> date:
        """Today on ``device``'s wall clock."""
        return utc_to_local(now or self.now(), self.settings().device_zone(device)).date()

    # -- once a day ---------------------------------------------------------------------
    def start(self) -> dict[str, list[date]]:
        """Queue VERIFY SUM ATTLOG for each of the last ``reconcile_days`` days of every
        push clock; device name -> the days asked about."""
        with self._lock:
            days = self.settings().push.reconcile_days
            asked: dict[str, list[date]] = {}
            if days <= 0:
                return asked
            now = self.now().replace(microsecond=0)
            for device in self.push_clocks():
                try:
                    asked[device.name] = self._start_device(device, days, now)
                except SQLAlchemyError as exc:
                    self.log.warning(
                        "reconciliation not started: database unreachable",
                        device=device.name,
                        error=_first_line(exc),
                    )
            self._loaded = True  # what was waiting before is in the queue, and now here
            return asked

    def _start_device(self, device: DeviceConfig, days: int, now: datetime) -> list[date]:
        wanted = days_to_check(self.device_today(device, now), days)
        with self.engine.begin() as conn:
            device_id = self._device_id(conn, device)
            since = now - timedelta(days=days + 1)
            known = [
                Command.from_row(r) for r in push_store.range_commands(conn, device_id, since=since)
            ]
            todo = verifies_to_queue(wanted, known)
            waiting = self._waiting.setdefault(device.name, {})
            for c in known:  # still unanswered from an earlier run: judged when answered
                if c.verb == VERIFY and c.created_by == CREATED_BY and c.pending:
                    waiting.setdefault(c.command_id, c.created_at)
            for day in todo:
                command_id = push_store.queue_command(
                    conn, device_id, verify_command(day), created_by=CREATED_BY, at=now
                )
                waiting[command_id] = now
        self.log.info(
            "reconciliation: day counts asked of the clock",
            device=device.name,
            days=[d.isoformat() for d in todo],
            still_waiting=len(wanted) - len(todo) or None,
        )
        return todo

    # -- as the answers come in -----------------------------------------------------------
    def follow_up(self) -> list[tuple[str, Finding]]:
        """Judge the answered VERIFY SUMs, queue DATA QUERY ATTLOG where the counts differ;
        (device name, finding) of each judged."""
        with self._lock:
            if not self._loaded:
                self._load()
            findings: list[tuple[str, Finding]] = []
            clocks = {d.name: d for d in self.push_clocks()}
            for name in list(self._waiting):
                device = clocks.get(name)
                if device is None or not self._waiting[name]:
                    self._waiting.pop(name, None)  # removed from the configuration, or done
                    continue
                try:
                    findings += [(name, f) for f in self._follow_up_device(device)]
                except SQLAlchemyError as exc:
                    self.log.warning(
                        "reconciliation answers not read: database unreachable",
                        device=name,
                        error=_first_line(exc),
                    )
            return findings

    def _load(self) -> None:
        """After a start: the reconciliation's VERIFY SUMs of the last day, from the queue
        (judging one again is harmless: a day is queried at most once per count)."""
        since = self.now() - ANSWER_WAIT
        for device in self.push_clocks():
            try:
                with self.engine.begin() as conn:
                    device_id = self._device_id(conn, device)
                    rows = push_store.range_commands(conn, device_id, since=since)
            except SQLAlchemyError as exc:
                self.log.warning(
                    "reconciliation state not read: database unreachable",
                    device=device.name,
                    error=_first_line(exc),
                )
                return  # tried again at the next follow-up
            for c in map(Command.from_row, rows):
                if c.verb == VERIFY and c.created_by == CREATED_BY and c.created_at >= since:
                    self._waiting.setdefault(device.name, {})[c.command_id] = c.created_at
        self._loaded = True

    def _follow_up_device(self, device: DeviceConfig) -> list[Finding]:
        waiting = self._waiting[device.name]
        now = self.now().replace(microsecond=0)
        findings: list[Finding] = []
        with self.engine.begin() as conn:
            device_id = self._device_id(conn, device)
            rows = push_store.range_commands(conn, device_id, since=min(waiting.values()))
            commands = [Command.from_row(r) for r in rows]
            by_id = {c.command_id: c for c in commands}
            for command_id, created_at in list(waiting.items()):
                verify = by_id.get(command_id)
                if verify is None or verify.span is None:  # gone from the queue
                    del waiting[command_id]
                    continue
                if verify.pending:
                    if now - created_at > ANSWER_WAIT:
                        del waiting[command_id]
                        self.log.warning(
                            "reconciliation: the clock did not answer; asked again at the "
                            "next daily run once it does",
                            device=device.name,
                            day=verify.span[0].date().isoformat(),
                        )
                    continue
                start, end = verify.span
                stored = push_store.device_punch_count(conn, device_id, start, end)
                finding = judge(verify, stored, commands)
                del waiting[command_id]
                if finding.query is not None:
                    query_id = push_store.queue_command(
                        conn, device_id, finding.query, created_by=CREATED_BY, at=now
                    )
                    # the next verdict of this day sees the query it is waiting for
                    commands.append(
                        Command(int(query_id), query_id, finding.query, now, CREATED_BY)
                    )
                findings.append(finding)
        for finding in findings:
            self._report(device, finding)
        return findings

    def _report(self, device: DeviceConfig, finding: Finding) -> None:
        fields = {
            "device": device.name,
            "day": finding.day.isoformat(),
            "device_count": finding.device_count,
            "stored_count": finding.stored_count,
        }
        match finding.outcome:
            case Outcome.COMPLETE:
                self.log.info("reconciliation: day complete", **fields)
            case Outcome.QUERY:
                self.log.warning(
                    "reconciliation: counts differ; the clock is asked to re-send the day "
                    "(DATA QUERY ATTLOG)",
                    **fields,
                )
            case Outcome.PENDING:
                self.log.warning(
                    "reconciliation: counts differ; a re-send of the day is already queued",
                    **fields,
                )
            case Outcome.QUERIED:
                self.log.warning(
                    "reconciliation: counts still differ after the day was re-sent "
                    "(records the clock holds twice, or punches stored that it no longer has)",
                    **fields,
                )
            case Outcome.REFUSED:
                self.log.warning(
                    "reconciliation: the clock refused VERIFY SUM ATTLOG; its gaps are not "
                    "found automatically (use punchd collect --device NAME --since DATE)",
                    return_code=finding.return_code,
                    **fields,
                )
            case Outcome.UNREADABLE:
                self.log.warning("reconciliation: no AttlogSum in the clock's answer", **fields)


def _first_line(exc: BaseException) -> str:
    text = str(exc)
    return logs.scrub(f"{exc.__class__.__name__}: {text.splitlines()[0] if text else ''}")
