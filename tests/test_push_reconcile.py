"""Reconciliation and backfill of push clocks (VERIFY SUM ATTLOG per day, DATA QUERY ATTLOG
for the days whose counts differ, ``collect --since``), and their time: the decisions on plain
data, the rest over real HTTP on loopback with the simulated clock."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from punchd.app import Actor
from punchd.app import collection as ops
from punchd.app.site import Site
from punchd.cli.main import app as cli_app
from punchd.collector.push.reconcile import (
    CREATED_BY,
    Command,
    Outcome,
    Reconciler,
    attlog_sum,
    day_span,
    days_to_check,
    judge,
    parse_range,
    query_command,
    verifies_to_queue,
    verify_command,
)
from punchd.collector.push.service import PushService
from punchd.config import PushSettings, Settings
from punchd.drivers.adms.driver import ADMSConfig
from punchd.drivers.adms.simulator.client import PushClock
from punchd.drivers.adms.simulator.data import generate
from punchd.drivers.zk.driver import ZKConfig
from punchd.errors import InvalidInput
from punchd.storage import push as push_store
from punchd.storage import schema

from .helpers.daemon import Receivers
from .helpers.daemon import RunningReceiver as Running

#: the receiver's clock (naive UTC): Tuesday 2026-03-10 02:00 UTC = 10:00 in Shanghai
NOW = datetime(2026, 3, 10, 2, 0, 0)
SN = "CQZ7221160012"
T0 = datetime(2026, 3, 9, 2, 30)


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def wait_for(condition: Callable[[], object], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.02)


# --------------------------------------------------------------------------- the decisions


def cmd(
    row_id: int,
    command: str,
    *,
    answered: bool = True,
    code: int | None = 0,
    result: str | None = None,
    by: str = CREATED_BY,
) -> Command:
    return Command(
        row_id,
        str(row_id),
        command,
        T0 + timedelta(seconds=row_id),
        by,
        T0 + timedelta(seconds=row_id, minutes=1) if answered else None,
        code if answered else None,
        result,
    )


DAY = date(2026, 3, 5)


def test_commands_are_whole_days_on_the_clock() -> None:
    assert verify_command(DAY) == (
        "VERIFY SUM ATTLOG StartTime=2026-03-05 00:00:00\tEndTime=2026-03-05 23:59:59"
    )
    assert query_command(*day_span(DAY)) == (
        "DATA QUERY ATTLOG StartTime=2026-03-05 00:00:00\tEndTime=2026-03-05 23:59:59"
    )
    assert parse_range(verify_command(DAY)) == day_span(DAY)
    assert parse_range("VERIFY SUM ATTLOG StartTime=yesterday\tEndTime=today") is None
    assert parse_range("INFO") is None
    with pytest.raises(ValueError):
        query_command(datetime(2026, 3, 5), datetime(2026, 3, 4))
    # today is not over: the days before it, oldest first
    assert days_to_check(date(2026, 3, 10), 3) == [
        date(2026, 3, 7),
        date(2026, 3, 8),
        DAY.replace(day=9),
    ]
    assert days_to_check(date(2026, 3, 10), 0) == []


def test_attlog_sum_as_the_receiver_records_it() -> None:
    assert attlog_sum("CMD=VERIFY\nAttlogSum=12") == 12
    assert attlog_sum("CMD=VERIFY SUM\nattlogsum = 0\n") == 0
    assert attlog_sum("CMD=VERIFY") is None
    assert attlog_sum("CMD=VERIFY\nAttlogSum=many") is None
    assert attlog_sum(None) is None


def test_an_unanswered_verify_is_not_sent_again() -> None:
    days = [date(2026, 3, d) for d in (4, 5, 6)]
    known = [
        cmd(1, verify_command(date(2026, 3, 4)), answered=False),  # waiting: not again
        cmd(2, verify_command(DAY)),  # answered: asked again
        cmd(3, query_command(*day_span(date(2026, 3, 6))), answered=False),  # no verify
    ]
    assert verifies_to_queue(days, known) == [DAY, date(2026, 3, 6)]


def test_judge() -> None:
    verify = cmd(10, verify_command(DAY), result="CMD=VERIFY\nAttlogSum=12")
    whole_day = query_command(*day_span(DAY))
    assert judge(verify, 12, []).outcome is Outcome.COMPLETE
    missing = judge(verify, 9, [])
    assert (missing.outcome, missing.day, missing.device_count, missing.stored_count) == (
        Outcome.QUERY,
        DAY,
        12,
        9,
    )
    assert missing.query == whole_day
    assert judge(verify, 12, []).query is None
    # more stored than the clock holds: asked again as well (a count cannot say which)
    assert judge(verify, 13, []).outcome is Outcome.QUERY
    # a query for the day (or a backfill range that covers it) still waits: not again
    assert judge(verify, 9, [cmd(4, whole_day, answered=False)]).outcome is Outcome.PENDING
    backfill = "DATA QUERY ATTLOG StartTime=2026-03-01 00:00:00\tEndTime=2026-03-10 07:30:00"
    assert judge(verify, 9, [cmd(5, backfill, answered=False, by="hr")]).outcome is (
        Outcome.PENDING
    )
    # a range that covers only part of the day does not count
    part = "DATA QUERY ATTLOG StartTime=2026-03-05 12:00:00\tEndTime=2026-03-06 12:00:00"
    assert judge(verify, 9, [cmd(6, part, answered=False)]).outcome is Outcome.QUERY
    # the day was queried after this count: once per count, never a loop
    assert judge(verify, 9, [cmd(11, whole_day)]).outcome is Outcome.QUERIED
    # … but a query answered before this count was made does not stand for it
    assert judge(verify, 9, [cmd(4, whole_day)]).outcome is Outcome.QUERY
    refused = judge(cmd(12, verify_command(DAY), code=-1002, result="CMD=VERIFY"), 9, [])
    assert (refused.outcome, refused.return_code, refused.query) == (Outcome.REFUSED, -1002, None)
    assert judge(cmd(13, verify_command(DAY), result="CMD=VERIFY"), 9, []).outcome is (
        Outcome.UNREADABLE
    )
    with pytest.raises(ValueError):
        judge(cmd(14, whole_day), 9, [])


# --------------------------------------------------------------------------- the receiver


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def push(engine: Engine, tmp_path: Path, clock: Clock) -> Iterator[Callable[..., Running]]:
    with Receivers(engine, tmp_path, now=clock) as receivers:
        yield receivers.start


def gate(**kw: object) -> ADMSConfig:
    fields: dict[str, object] = {"name": "gate", "serial": SN, "timezone": "Asia/Shanghai"}
    fields.update(kw)
    return ADMSConfig(**fields)


def stored(engine: Engine, day: date | None = None) -> int:
    t = schema.att_punch
    stmt = select(func.count()).select_from(t)
    if day is not None:
        start, end = day_span(day)
        stmt = stmt.where(t.c.punched_at >= start, t.c.punched_at <= end)
    with engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


def distinct_keys(engine: Engine) -> int:
    t = schema.att_punch
    with engine.connect() as conn:
        keys = conn.execute(select(t.c.device_id, t.c.enroll_no, t.c.punched_at, t.c.state)).all()
    return len(set(keys))


def lose(engine: Engine, day: date) -> int:
    """Delete the stored punches of ``day`` (a restored backup, a hand-made delete …)."""
    t = schema.att_punch
    start, end = day_span(day)
    with engine.begin() as conn:
        return conn.execute(
            delete(t).where(t.c.punched_at >= start, t.c.punched_at <= end)
        ).rowcount


@pytest.fixture
def simulated(push, engine: Engine) -> Iterator[tuple[Running, PushClock]]:
    """The gate as a simulated clock holding 40 punches, Tue 3 to Fri 6 March (10 a day),
    every one uploaded and stored."""
    run = push(gate(), error_delay=1)
    users, punches = generate(5, 40, seed=3, start=date(2026, 3, 3))
    assert {p.when.date() for p in punches} == {date(2026, 3, d) for d in (3, 4, 5, 6)}
    sim = PushClock(run.server, SN, users=users, punches=punches, delay=1, speed=20)
    stop = threading.Event()
    thread = threading.Thread(target=sim.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_for(lambda: sim.caught_up() and stored(engine) == 40)
        yield run, sim
    finally:
        stop.set()
        sim._wake.set()
        thread.join(5)


def test_a_lost_day_is_found_and_sent_again(
    simulated: tuple[Running, PushClock], engine: Engine, clock: Clock, capsys
) -> None:
    run, sim = simulated
    assert lose(engine, DAY) == 10
    reconciler = Reconciler(lambda: run.settings, engine, now=clock)
    # The seven days before today on the clock's wall clock (10:00 on the 10th in Shanghai).
    asked = reconciler.start()
    assert asked == {"gate": [date(2026, 3, d) for d in range(3, 10)]}
    assert reconciler.start() == {"gate": []}  # unanswered ones are not queued twice

    findings: list = []

    def judged() -> bool:
        findings.extend(f for _, f in reconciler.follow_up())
        return len(findings) >= 7

    wait_for(judged)
    by_day = {f.day: f for f in findings}
    assert len(findings) == 7 == len(by_day)
    assert {(d.day, f.outcome, f.device_count, f.stored_count) for d, f in by_day.items()} == {
        (3, Outcome.COMPLETE, 10, 10),
        (4, Outcome.COMPLETE, 10, 10),
        (5, Outcome.QUERY, 10, 0),
        (6, Outcome.COMPLETE, 10, 10),
        (7, Outcome.COMPLETE, 0, 0),
        (8, Outcome.COMPLETE, 0, 0),
        (9, Outcome.COMPLETE, 0, 0),
    }
    # The clock re-sends the day; the day is complete again, nothing twice.
    wait_for(lambda: sim.caught_up() and stored(engine, DAY) == 10)
    assert stored(engine) == 40 == distinct_keys(engine)
    with engine.connect() as conn:
        commands = push_store.device_commands(conn, 1)
    queries = [c for c in commands if c["command"].startswith("DATA QUERY")]
    assert [(q["command"], q["created_by"], q["return_code"]) for q in queries] == [
        (query_command(*day_span(DAY)), CREATED_BY, 0)
    ]
    assert reconciler.follow_up() == []  # nothing waits: a follow-up reads nothing
    out = capsys.readouterr()
    logged = out.out + out.err
    assert "counts differ" in logged and "2026-03-05" in logged

    # The next night every day matches.
    clock.at = NOW + timedelta(days=1)
    assert reconciler.start() == {"gate": [date(2026, 3, d) for d in range(4, 11)]}
    findings.clear()
    wait_for(judged)
    assert {f.outcome for f in findings} == {Outcome.COMPLETE}
    with engine.connect() as conn:
        commands = push_store.device_commands(conn, 1)
    assert sum(c["command"].startswith("DATA QUERY") for c in commands) == 1


def test_backfill_since_a_date(
    simulated: tuple[Running, PushClock], engine: Engine, clock: Clock
) -> None:
    run, sim = simulated
    assert lose(engine, date(2026, 3, 4)) + lose(engine, date(2026, 3, 6)) == 20
    site = Site(run.settings, engine)
    done = ops.backfill_push_clock(site, "gate", date(2026, 3, 4), actor=Actor("hr"), now=clock())
    # from the day's 00:00 to now, both on the clock's wall clock (Shanghai)
    assert (done.start, done.end, done.zone) == (
        datetime(2026, 3, 4),
        datetime(2026, 3, 10, 10, 0),
        "Asia/Shanghai",
    )
    wait_for(lambda: sim.caught_up() and stored(engine) == 40)
    assert distinct_keys(engine) == 40
    with engine.connect() as conn:
        (row,) = [
            c for c in push_store.device_commands(conn, 1) if c["command_id"] == done.command_id
        ]
    assert row["command"] == (
        "DATA QUERY ATTLOG StartTime=2026-03-04 00:00:00\tEndTime=2026-03-10 10:00:00"
    )
    assert (row["created_by"], row["return_code"]) == ("hr", 0)


def test_a_clock_without_verify_sum(push, engine: Engine, clock: Clock) -> None:
    """Firmware that answers -1002: logged, nothing queried, nothing asked again while the
    answer is known."""
    run = push(gate(), error_delay=1)
    sim = PushClock(run.server, SN, faults=["unsupported"], delay=1, speed=20)
    reconciler = Reconciler(lambda: run.settings, engine, now=clock)
    assert len(reconciler.start()["gate"]) == 7
    stop = threading.Event()
    thread = threading.Thread(target=sim.run, args=(stop,), daemon=True)
    thread.start()
    findings: list = []
    try:

        def judged() -> bool:
            findings.extend(f for _, f in reconciler.follow_up())
            return len(findings) >= 7

        wait_for(judged)
    finally:
        stop.set()
        sim._wake.set()
        thread.join(5)
    assert {(f.outcome, f.return_code) for f in findings} == {(Outcome.REFUSED, -1002)}
    with engine.connect() as conn:
        commands = push_store.device_commands(conn, 1)
    assert not [c for c in commands if c["command"].startswith("DATA QUERY")]


def test_reconciliation_reads_answers_after_a_restart(push, engine: Engine, clock: Clock) -> None:
    """A daemon restarted between the VERIFY SUMs and their answers still judges them; an
    answer with ``&AttlogSum=`` on the result line is read too."""
    run = push(gate())
    first = Reconciler(lambda: run.settings, engine, now=clock)
    assert len(first.start()["gate"]) == 7
    reply = run.client.get("/iclock/getrequest", params={"SN": SN})
    lines = reply.text.splitlines()
    assert len(lines) == 7 and lines[0].endswith(verify_command(date(2026, 3, 3)))
    answers = "".join(
        f"ID={line.split(':')[1]}&Return=0&CMD=VERIFY SUM&AttlogSum={n}\n"
        for n, line in enumerate(lines)
    )
    assert run.client.post("/iclock/devicecmd", params={"SN": SN}, content=answers).text == "OK"
    second = Reconciler(lambda: run.settings, engine, now=clock)  # the restarted daemon
    findings = [f for _, f in second.follow_up()]
    assert [(f.day.day, f.device_count, f.outcome) for f in findings] == [
        (3, 0, Outcome.COMPLETE),
        *[(3 + n, n, Outcome.QUERY) for n in range(1, 7)],
    ]
    # Judged again (yet another restart): nothing queued twice.
    third = Reconciler(lambda: run.settings, engine, now=clock)
    assert {f.outcome for _, f in third.follow_up()} == {Outcome.COMPLETE, Outcome.PENDING}
    with engine.connect() as conn:
        commands = push_store.device_commands(conn, 1)
    assert sum(c["command"].startswith("DATA QUERY") for c in commands) == 6


def test_reconcile_days_zero_is_off(push, engine: Engine, clock: Clock) -> None:
    run = push(gate(), reconcile_days=0)
    assert Reconciler(lambda: run.settings, engine, now=clock).start() == {}
    with pytest.raises(ValueError, match="time of day"):
        PushSettings(reconcile_at="25:00")
    assert PushSettings().reconcile_at == "02:30" and PushSettings().reconcile_days == 7


# --------------------------------------------------------------------------- backfill


def test_backfill_refusals(push, engine: Engine, clock: Clock) -> None:
    run = push(gate(timezone="Asia/Kolkata"), ZKConfig(name="door", host="127.0.0.1"))
    site = Site(run.settings, engine)
    who = Actor("hr")
    done = ops.backfill_push_clock(site, "gate", date(2026, 3, 1), actor=who, now=clock())
    assert (done.start, done.end) == (datetime(2026, 3, 1), datetime(2026, 3, 10, 7, 30))
    with pytest.raises(InvalidInput, match="--all-records"):
        ops.backfill_push_clock(site, "door", date(2026, 3, 1), actor=who, now=clock())
    with pytest.raises(InvalidInput, match="after today"):
        ops.backfill_push_clock(site, "gate", date(2026, 3, 11), actor=who, now=clock())
    # Delivered at the clock's next poll.
    reply = run.client.get("/iclock/getrequest", params={"SN": SN})
    assert reply.text == (
        f"C:{done.command_id}:DATA QUERY ATTLOG StartTime=2026-03-01 00:00:00\t"
        "EndTime=2026-03-10 07:30:00\n"
    )


def test_collect_since_on_the_command_line(
    db_url: str, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "punchd.toml"
    config.write_text(
        f'[[devices]]\nname = "gate"\ndriver = "adms"\nserial = "{SN}"\n'
        'timezone = "Asia/Shanghai"\n\n'
        '[[devices]]\nname = "door"\ndriver = "zk"\nhost = "127.0.0.1"\n'
    )
    env = {
        "PUNCHD_DATABASE_URL": db_url,
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "PUNCHD_TIMEZONE": "Europe/Berlin",
        "COLUMNS": "250",
        "NO_COLOR": "1",
    }
    unset = {k: None for k in os.environ if k.startswith("PUNCHD_") and k not in env}
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(
            cli_app, ["--config", str(config), *args], env={**unset, **env}, catch_exceptions=False
        )

    done = invoke("collect", "--device", "gate", "--since", "2024-01-02")
    assert done.exit_code == 0, done.output
    assert "gate: DATA QUERY ATTLOG 2024-01-02 00:00:00" in done.stdout
    assert "queued: the clock re-sends them at its next contact" in done.stdout
    # without --device: every push clock (the polled door is not one)
    assert invoke("collect", "--since", "2024-01-02").exit_code == 0
    refused = invoke("collect", "--device", "door", "--since", "2024-01-02")
    assert refused.exit_code != 0
    assert "--since applies to push clocks only; door is polled" in refused.stderr
    bad = invoke("collect", "--device", "gate", "--since", "last week")
    assert bad.exit_code != 0 and "not a date" in bad.stderr
    with engine.connect() as conn:
        commands = push_store.device_commands(conn, 1)
    assert [c["command"].split("\t")[0] for c in commands] == [
        "DATA QUERY ATTLOG StartTime=2024-01-02 00:00:00"
    ] * 2


# --------------------------------------------------------------------------- time


@pytest.mark.parametrize(
    ("zone", "at", "option", "minutes"),
    [
        ("Asia/Kolkata", datetime(2026, 1, 15, 12, 0), "330", 330),
        ("America/New_York", datetime(2026, 1, 15, 12, 0), "-5", -300),  # winter: EST
        ("America/New_York", datetime(2026, 7, 15, 12, 0), "-4", -240),  # summer: EDT
    ],
)
def test_the_clock_is_set_to_its_zone(
    push, clock: Clock, zone: str, at: datetime, option: str, minutes: int
) -> None:
    clock.at = at
    run = push(gate(timezone=zone))
    reply = run.client.get("/iclock/cdata", params={"SN": SN, "options": "all"})
    assert f"TimeZone={option}" in reply.text.splitlines()
    assert parsedate_to_datetime(reply.headers["date"]).replace(tzinfo=None) == at
    # A clock that follows the handshake shows the zone's wall clock.
    sim = PushClock(run.server, SN)
    sim.handshake()
    assert sim.tz_minutes == minutes
    assert abs(sim.device_now() - (at + timedelta(minutes=minutes))) < timedelta(seconds=5)


def test_status_lists_flagged_punches_of_a_push_clock(
    push, engine: Engine, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = push(gate())
    body = (
        "7\t2000-01-01 00:03:00\t0\t1\t0\t0\t0\n"  # a clock that lost its time
        "7\t2026-03-12 09:00:00\t0\t1\t0\t0\t0\n"  # two days ahead of the clock
        "7\t2026-03-10 09:00:00\t0\t1\t0\t0\t0\n"  # plausible
    )
    reply = run.client.post(
        "/iclock/cdata", params={"SN": SN, "table": "ATTLOG"}, content=body.encode()
    )
    assert reply.text == "OK: 3"
    monkeypatch.setattr("punchd.collector.status.utcnow", lambda: NOW + timedelta(hours=1))
    report = ops.site_status(Site(run.settings, engine))
    flagged = [n for n in report.notices if n.code == "flagged_punches"]
    assert len(flagged) == 1 and flagged[0].params["device"] == "gate"
    assert flagged[0].params["counts"] == "1 future, 1 power_loss"
    assert any(
        line.startswith("gate: implausible punches stored flagged") for line in report.attention
    )


def test_the_daemon_schedules_it(engine: Engine, tmp_path: Path) -> None:
    from punchd.collector.daemon import Daemon
    from punchd.collector.hooks import NoProcessing

    settings = Settings(
        data_dir=tmp_path / "data",
        timezone="Asia/Kolkata",
        devices=[gate()],
        push=PushSettings(listen="127.0.0.1:0", reconcile_at="03:15"),
    )
    daemon = Daemon(settings, engine, hooks=NoProcessing())
    daemon.push = PushService(settings, engine, daemon.spool)  # as _start_receiver sets it
    daemon._schedule_service_jobs()
    job = daemon.scheduler.get_job("reconcile")
    fields = {f.name: str(f) for f in job.trigger.fields}
    assert (fields["hour"], fields["minute"], str(job.trigger.timezone)) == (
        "3",
        "15",
        "Asia/Kolkata",  # the site's wall clock
    )
    assert daemon.scheduler.get_job("reconcile-follow-up") is not None
    # No receiver, or reconcile_days = 0: no reconciliation.
    off = Daemon(settings.model_copy(update={"push": PushSettings()}), engine, hooks=NoProcessing())
    off._schedule_service_jobs()
    assert off.scheduler.get_job("reconcile") is None
