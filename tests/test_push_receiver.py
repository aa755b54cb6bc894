"""The push (ADMS / iclock) receiver over real HTTP on loopback: uvicorn in a thread, httpx as
the clock, on every database backend."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine, make_url

from punchd.collector.push.service import PushService, Reply, queue_command
from punchd.collector.spool import Spool
from punchd.config import PushSettings, Settings
from punchd.drivers.adms.driver import ADMSConfig
from punchd.storage import push as push_store
from punchd.storage import schema
from punchd.storage.database import make_engine

from .helpers.daemon import Receivers
from .helpers.daemon import RunningReceiver as Running
from .tcp_proxy import TcpProxy

#: the receiver's clock in these tests (naive UTC): 2026-03-10 02:00 UTC = 10:00 in Shanghai
NOW = datetime(2026, 3, 10, 2, 0, 0)
SN = "CQZ7221160012"


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


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


def attlog(*lines: tuple[str, str, int]) -> str:
    return "".join(f"{pin}\t{when}\t{status}\t1\t0\t0\t0\n" for pin, when, status in lines)


def punches(engine: Engine) -> list[dict]:
    t = schema.att_punch
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(t).order_by(t.c.punched_at)).mappings()]


# --------------------------------------------------------------------------- handshake


def test_handshake_options_and_date_header(push, engine: Engine) -> None:
    run = push(gate())
    reply = run.client.get("/iclock/cdata", params={"SN": SN, "options": "all", "pushver": "2.4.1"})
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/plain")
    lines = reply.text.splitlines()
    assert lines[0] == f"GET OPTION FROM: {SN}"
    assert "ATTLOGStamp=None" in lines
    assert "TimeZone=8" in lines  # Asia/Shanghai, whatever the site's zone
    assert "Delay=10" in lines and "ErrorDelay=30" in lines
    assert parsedate_to_datetime(reply.headers["date"]).replace(tzinfo=None) == NOW
    # The device row exists like a polled one's.
    with engine.connect() as conn:
        row = conn.execute(select(schema.att_device)).mappings().one()
    assert (row["name"], row["driver"], row["address"], row["serial_number"]) == (
        "gate",
        "adms",
        f"push:{SN}",
        SN,
    )
    # The stamp of a committed upload is echoed at the next handshake.
    run.post(
        "/iclock/cdata",
        attlog(("1", "2026-03-10 09:00:00", 0)),
        SN=SN,
        table="ATTLOG",
        Stamp="9911",
    )
    again = run.client.get("/iclock/cdata", params={"SN": SN, "options": "all"})
    assert "ATTLOGStamp=9911" in again.text.splitlines()
    # A ping and an unknown endpoint are acknowledged, with a Date too.
    for path in ("/iclock/ping", "/iclock/fdata", "/iclock/registry"):
        r = run.client.get(path, params={"SN": SN})
        assert (r.status_code, r.text) == (200, "OK") and "date" in r.headers


def test_site_zone_when_the_clock_has_none(push) -> None:
    run = push(gate(timezone=None))
    reply = run.client.get("/iclock/cdata", params={"SN": SN, "options": "all"})
    # the site is Europe/Berlin: +01:00 in March before the switch
    assert "TimeZone=1" in reply.text.splitlines()


# --------------------------------------------------------------------------- ATTLOG


def test_attlog_stored_in_the_device_zone_exactly_once(push, engine: Engine) -> None:
    run = push(gate())
    body = attlog(
        ("1001", "2026-03-10 08:59:12", 0),
        ("1001", "2026-03-10 18:01:00", 1),
        ("1002", "2026-03-10 12:00:00", 2),
        ("1003", "2026-03-10 12:30:00", 255),
    )
    reply = run.post("/iclock/cdata", body, SN=SN, table="ATTLOG", Stamp="100")
    assert (reply.status_code, reply.text) == (200, "OK: 4")
    rows = punches(engine)
    assert [(r["enroll_no"], r["punched_at"], r["punched_at_utc"], r["state"]) for r in rows] == [
        ("1001", datetime(2026, 3, 10, 8, 59, 12), datetime(2026, 3, 10, 0, 59, 12), "in"),
        ("1002", datetime(2026, 3, 10, 12, 0), datetime(2026, 3, 10, 4, 0), "break_out"),
        ("1003", datetime(2026, 3, 10, 12, 30), datetime(2026, 3, 10, 4, 30), "unknown"),
        ("1001", datetime(2026, 3, 10, 18, 1), datetime(2026, 3, 10, 10, 1), "out"),
    ]
    assert {(r["source"], r["verify_mode"], r["flag"]) for r in rows} == {("device", 1, None)}
    # The same batch again (a lost acknowledgement): taken, nothing new, nothing twice.
    again = run.post("/iclock/cdata", body, SN=SN, table="ATTLOG", Stamp="100")
    assert (again.status_code, again.text) == (200, "OK: 4")
    assert len(punches(engine)) == 4
    with engine.connect() as conn:
        runs = (
            conn.execute(select(schema.att_collection_run).order_by(schema.att_collection_run.c.id))
            .mappings()
            .all()
        )
        state = push_store.ensure_state(conn, runs[0]["device_id"])
        device = conn.execute(select(schema.att_device)).mappings().one()
    assert [(r["trigger"], r["status"], r["records_read"], r["records_new"]) for r in runs] == [
        ("push", "ok", 4, 4),
        ("push", "ok", 4, 0),
    ]
    assert state.attlog_stamp == "100"
    assert device["punch_count"] == 4 and device["last_run_id"] == runs[-1]["id"]


def test_implausible_punches_are_stored_flagged(push, engine: Engine) -> None:
    run = push(gate())
    body = attlog(
        ("7", "2000-01-01 00:03:00", 0),  # a clock that lost its time
        ("7", "2026-03-12 09:00:00", 0),  # two days ahead of the clock (10:00 on the 10th)
        ("7", "2026-03-11 09:30:00", 1),  # within a day: plausible
    )
    assert run.post("/iclock/cdata", body, SN=SN, table="ATTLOG").text == "OK: 3"
    flags = {r["punched_at"].date().isoformat(): r["flag"] for r in punches(engine)}
    assert flags == {"2000-01-01": "power_loss", "2026-03-12": "future", "2026-03-11": None}


def test_bad_lines_are_logged_and_the_rest_stored(push, engine: Engine, capsys) -> None:
    run = push(gate())
    body = (
        b"5\t2026-03-10 07:00:00\t0\t1\t0\n"
        b"\t2026-03-10 07:01:00\t0\n"  # no PIN
        b"6\tyesterday\t0\n"  # no time
        b"8\t2026-02-31 07:00:00\t0\n"  # no such day
        b"9\t2026-03-10 07:02:00\n"  # PIN and time only: taken
    ) + b"\xff\xfe garbage\n"
    reply = run.post("/iclock/cdata", body, SN=SN, table="ATTLOG")
    # every line is acknowledged (2 taken, 4 logged): re-sending a bad line cannot mend it
    assert (reply.status_code, reply.text) == (200, "OK: 6")
    assert sorted(r["enroll_no"] for r in punches(engine)) == ["5", "9"]
    out = capsys.readouterr()
    assert "lines not taken" in out.out + out.err


# --------------------------------------------------------------------------- OPERLOG


def test_operlog_users_into_device_users(push, engine: Engine) -> None:
    run = push(gate())
    body = (
        "OPLOG 4\t0\t2026-03-10 08:00:00\t0\t0\t0\t0\n"
        "USER PIN=1001\tName=张三\tPri=0\tPasswd=\tCard=12345\tGrp=1\tTZ=0\tVerify=0\n"
        "PIN=1002\tName=Admin\tPri=14\tPasswd=123\tCard=\tGrp=1\tTZ=0\n"
    ).encode("gb18030")  # a Chinese-language clock
    reply = run.post("/iclock/cdata", body, SN=SN, table="OPERLOG", Stamp="5")
    assert (reply.status_code, reply.text) == (200, "OK: 3")
    t = schema.att_device_user
    with engine.connect() as conn:
        users = conn.execute(
            select(t.c.enroll_no, t.c.name, t.c.card, t.c.privilege).order_by(t.c.enroll_no)
        ).all()
    assert [tuple(u) for u in users] == [("1001", "张三", "12345", 0), ("1002", "Admin", None, 14)]
    assert punches(engine) == []  # nothing but punches lands in att_punch


# --------------------------------------------------------------------------- who may call


def test_unknown_serial_refused_and_listed_pending(push, engine: Engine) -> None:
    run = push(gate())
    for _ in range(3):
        r = run.post(
            "/iclock/cdata", attlog(("1", "2026-03-10 09:00:00", 0)), SN="NEW1", table="ATTLOG"
        )
        assert (r.status_code, r.text) == (403, "unknown device")
    assert run.client.get("/iclock/getrequest", params={"SN": "NEW1"}).status_code == 403
    with engine.connect() as conn:
        pending = push_store.pending(conn)
        devices = conn.execute(select(func.count()).select_from(schema.att_device)).scalar()
    assert [(p["serial"], p["address"], p["requests"]) for p in pending] == [
        ("NEW1", "127.0.0.1", 1)  # written once a minute: the other calls are counted in memory
    ]
    assert devices == 0 and punches(engine) == []


def test_allow_from_refuses_other_addresses(push, engine: Engine) -> None:
    run = push(gate(allow_from=["10.9.0.0/16"]), trusted_proxies=["127.0.0.1"])
    body = attlog(("1", "2026-03-10 09:00:00", 0))
    r = run.post("/iclock/cdata", body, SN=SN, table="ATTLOG")
    assert r.status_code == 403
    # Behind a trusted proxy, the forwarded address counts.
    headers = {"X-Forwarded-For": "10.9.4.7"}
    ok = run.client.post(
        "/iclock/cdata", params={"SN": SN, "table": "ATTLOG"}, content=body, headers=headers
    )
    assert (ok.status_code, ok.text) == (200, "OK: 1")
    other = {"X-Forwarded-For": "192.0.2.1"}
    assert run.client.get("/iclock/getrequest", params={"SN": SN}, headers=other).status_code == 403
    assert len(punches(engine)) == 1


# --------------------------------------------------------------------------- commands


def test_command_queued_delivered_and_answered(push, engine: Engine, clock: Clock) -> None:
    run = push(gate())
    device = run.service.by_serial[SN]
    with pytest.raises(ValueError):
        queue_command(engine, device, "CLEAR LOG", created_by="admin")
    first = queue_command(engine, device, "DATA DELETE USERINFO PIN=1001", created_by="admin")
    second = queue_command(engine, device, "INFO", created_by="admin")
    reply = run.client.get("/iclock/getrequest", params={"SN": SN, "INFO": "Ver 8.0,2,3,100"})
    assert reply.text == f"C:{first}:DATA DELETE USERINFO PIN=1001\nC:{second}:INFO\n"
    # Sent, unanswered: not again at the next poll …
    assert run.client.get("/iclock/getrequest", params={"SN": SN}).text == "OK"
    results = (
        f"ID={first}&Return=0&CMD=DATA\n"
        f"ID={second}&Return=0&CMD=INFO\n~DeviceName=F22\nUserCount=12\n"
        "ID=999&Return=0&CMD=DATA\n"  # not ours: ignored
    )
    assert run.post("/iclock/devicecmd", results, SN=SN).text == "OK"
    with engine.connect() as conn:
        rows = {r["command_id"]: r for r in push_store.device_commands(conn, 1)}
    assert rows[first]["return_code"] == 0 and rows[first]["answered_at"] == NOW
    assert rows[first]["send_count"] == 1
    assert "UserCount=12" in (rows[second]["result"] or "")
    # … and an unanswered one is sent again after five minutes.
    third = queue_command(engine, device, "CHECK", created_by="admin")
    assert run.client.get("/iclock/getrequest", params={"SN": SN}).text == f"C:{third}:CHECK\n"
    clock.at = NOW + timedelta(minutes=4)
    assert run.client.get("/iclock/getrequest", params={"SN": SN}).text == "OK"
    clock.at = NOW + timedelta(minutes=6)
    assert run.client.get("/iclock/getrequest", params={"SN": SN}).text == f"C:{third}:CHECK\n"


def test_heartbeats_with_nothing_queued_are_answered_from_memory(push, engine: Engine) -> None:
    """One look at the queue for every clock per command_check_seconds: heartbeats between
    two looks touch no database; a command queued meanwhile goes out after the next look."""
    from sqlalchemy import event

    run = push(gate(), command_check_seconds=3)
    device = run.service.by_serial[SN]
    assert run.client.get("/iclock/getrequest", params={"SN": SN}).text == "OK"  # one look
    statements: list[str] = []

    def note(conn, cursor, statement, *rest) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        for _ in range(10):
            assert run.client.get("/iclock/getrequest", params={"SN": SN}).text == "OK"
        assert statements == []
        queued = queue_command(engine, device, "INFO", created_by="admin")
        statements.clear()
        assert run.client.get("/iclock/getrequest", params={"SN": SN}).text == "OK"
        assert statements == []  # not looked yet: at most command_check_seconds late
        deadline = time.monotonic() + 10
        while True:
            reply = run.client.get("/iclock/getrequest", params={"SN": SN}).text
            if reply != "OK" or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert reply == f"C:{queued}:INFO\n"
    finally:
        event.remove(engine, "before_cursor_execute", note)


def test_heartbeats_need_no_worker_thread(push, monkeypatch) -> None:
    """Heartbeats of a clock with nothing queued are answered on the receiver's event loop:
    no hop to a worker thread, where they would queue behind the uploads for the
    interpreter lock. Only the first one (the clock's row, the first look) needs one."""
    import anyio.to_thread

    run = push(gate(), command_check_seconds=60)
    assert run.client.get("/iclock/getrequest", params={"SN": SN}).text == "OK"
    hops: list[str] = []
    real = anyio.to_thread.run_sync

    async def counted(fn, *args, **kw):  # type: ignore[no-untyped-def]
        hops.append(getattr(fn, "__name__", repr(fn)))
        return await real(fn, *args, **kw)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    for _ in range(20):
        assert run.client.get("/iclock/getrequest", params={"SN": SN}).text == "OK"
    assert run.client.get("/iclock/ping", params={"SN": SN}).text == "OK"
    assert hops == []
    # An unknown serial is written down as pending: that one takes a thread.
    assert run.client.get("/iclock/getrequest", params={"SN": "NEW1"}).status_code == 403
    assert hops == ["admit"]


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.at = 1000.0

    def __call__(self) -> float:
        return self.at


def test_heartbeat_from_memory_and_its_chores(engine: Engine, tmp_path: Path) -> None:
    """PushService.heartbeat runs no SQL: it answers from the last look for queued commands
    and leaves the database work (the clock's last contact, a renewed look three quarters
    of command_check_seconds on) as chores to run after the reply."""
    from sqlalchemy import event

    ticks = Ticks()
    settings = Settings(
        data_dir=tmp_path / "data",
        devices=[gate()],
        push=PushSettings(listen="127.0.0.1:0", command_check_seconds=4),
    )
    service = PushService(
        settings, engine, Spool(tmp_path / "spool"), now=lambda: NOW, monotonic=ticks
    )
    device = service.by_serial[SN]
    # Not known yet (no row, no look): the database answers.
    assert service.heartbeat(device, "10.0.0.1") == (None, [])
    assert service.getrequest(device, "10.0.0.1").text == "OK"
    statements: list[str] = []

    def note(conn, cursor, statement, *rest) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        reply, chores = service.heartbeat(device, "10.0.0.1")
        assert (reply, chores) == (Reply(200, "OK"), [])
        # A new address: its write is a chore, run after the reply.
        reply, chores = service.heartbeat(device, "10.0.0.2")
        assert reply == Reply(200, "OK") and len(chores) == 1 and statements == []
        for chore in chores:
            chore()
        with engine.connect() as conn:
            assert push_store.last_seen(conn)["gate"] == (NOW, "10.0.0.2")
        # Three quarters of command_check_seconds on: a renewed look, one at a time.
        ticks.at += 3
        queued = queue_command(engine, device, "INFO", created_by="admin")
        statements.clear()
        reply, chores = service.heartbeat(device, "10.0.0.2")
        assert reply == Reply(200, "OK") and chores == [service.renew_command_look]
        assert service.heartbeat(device, "10.0.0.2") == (Reply(200, "OK"), [])
        assert statements == []
        service.renew_command_look()
        # The renewed look found the command: the heartbeat needs the database again.
        assert service.heartbeat(device, "10.0.0.2") == (None, [])
        assert service.getrequest(device, "10.0.0.2").text == f"C:{queued}:INFO\n"
        # A look older than command_check_seconds is never trusted.
        ticks.at += 4
        assert service.heartbeat(device, "10.0.0.2") == (None, [])
    finally:
        event.remove(engine, "before_cursor_execute", note)


# --------------------------------------------------------------------------- bad input


def test_too_large_and_malformed(push, engine: Engine) -> None:
    run = push(gate(), max_body_bytes=4096)
    big = attlog(*[("1", f"2026-03-10 09:{m:02d}:00", 0) for m in range(60)]) * 4
    assert len(big) > 4096
    r = run.post("/iclock/cdata", big, SN=SN, table="ATTLOG")
    assert r.status_code == 413

    # Streamed without a Content-Length: counted as it arrives.
    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b"1\t2026-03-10 09:00:00\t0\t1\t0\t0\t0\n" * 20

    streamed = run.client.post(
        "/iclock/cdata", params={"SN": SN, "table": "ATTLOG"}, content=chunks()
    )
    assert streamed.status_code == 413
    assert run.client.get("/iclock/cdata", params={"options": "all"}).status_code == 400
    assert run.client.get("/iclock/getrequest", params={"SN": "a b/c"}).status_code == 400
    assert run.client.get("/elsewhere").status_code == 404
    assert punches(engine) == []
    # The listener keeps serving.
    ok = run.post("/iclock/cdata", attlog(("1", "2026-03-10 09:00:00", 0)), SN=SN, table="ATTLOG")
    assert (ok.status_code, ok.text) == (200, "OK: 1")


def test_one_clock_cannot_take_every_upload_slot(push, engine: Engine) -> None:
    run = push(gate(), gate(name="door", serial="DOOR1"), max_uploads_per_device=1)
    release = threading.Event()
    slow_result: list[httpx.Response] = []

    def slow_body() -> Iterator[bytes]:
        yield b"1\t2026-03-10 09:00:00\t0\t1\t0\t0\t0\n"
        release.wait(10)
        yield b"2\t2026-03-10 09:00:00\t0\t1\t0\t0\t0\n"

    def slow() -> None:
        with httpx.Client(base_url=str(run.client.base_url), timeout=15) as c:
            slow_result.append(
                c.post("/iclock/cdata", params={"SN": SN, "table": "ATTLOG"}, content=slow_body())
            )

    t = threading.Thread(target=slow)
    t.start()
    try:
        time.sleep(0.5)  # the slow upload holds the clock's one slot
        busy = run.post(
            "/iclock/cdata", attlog(("3", "2026-03-10 09:00:00", 0)), SN=SN, table="ATTLOG"
        )
        assert busy.status_code == 503 and busy.headers["retry-after"] == "30"
        other = run.post(
            "/iclock/cdata", attlog(("4", "2026-03-10 09:00:00", 0)), SN="DOOR1", table="ATTLOG"
        )
        assert (other.status_code, other.text) == (200, "OK: 1")
        assert run.client.get("/iclock/getrequest", params={"SN": SN}).text == "OK"
    finally:
        release.set()
        t.join(15)
    assert slow_result[0].text == "OK: 2"
    assert len(punches(engine)) == 3


# --------------------------------------------------------------------------- database down


def test_database_down_spools_then_flushes(push, engine: Engine, db_url: str) -> None:
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        pytest.skip("the outage is simulated by cutting a TCP proxy in front of a server")
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    cut_engine = make_engine(proxied)
    try:
        run = push(gate(), engine_=cut_engine)
        first = attlog(("1", "2026-03-10 08:00:00", 0))
        assert run.post("/iclock/cdata", first, SN=SN, table="ATTLOG").text == "OK: 1"
        proxy.cut()
        body = attlog(*[(str(i), "2026-03-10 08:30:00", 0) for i in range(2, 12)])
        reply = run.post("/iclock/cdata", body, SN=SN, table="ATTLOG", Stamp="77")
        assert (reply.status_code, reply.text) == (200, "OK: 10")
        assert run.spool.backlog() == 10
        # Heartbeats go on without the database.
        assert run.client.get("/iclock/getrequest", params={"SN": SN}).text == "OK"
        # Spool unavailable as well: the clock keeps its records (503).
        run.spool.directory = Path("/proc/punchd-no-spool")
        refused = run.post(
            "/iclock/cdata", attlog(("50", "2026-03-10 08:40:00", 0)), SN=SN, table="ATTLOG"
        )
        assert refused.status_code == 503 and "retry-after" in refused.headers
        run.spool.directory = Spool(Path(run.service.settings.data_dir) / "spool").directory
        proxy.restore()
        assert run.spool.flush(engine) == 10  # the daemon's spool path
        assert run.spool.backlog() == 0
        # The clock re-sends the refused one when the database is back.
        again = run.post(
            "/iclock/cdata", attlog(("50", "2026-03-10 08:40:00", 0)), SN=SN, table="ATTLOG"
        )
        assert again.text == "OK: 1"
        rows = punches(engine)
        assert len(rows) == 12 == len({(r["enroll_no"], r["punched_at"]) for r in rows})
        assert {r["device_id"] for r in rows} == {rows[0]["device_id"]}
        assert rows[1]["punched_at_utc"] == datetime(2026, 3, 10, 0, 30)
    finally:
        cut_engine.dispose()
        proxy.close()


# --------------------------------------------------------------------------- a fleet


def test_simulated_fleet_with_lost_acks_is_stored_exactly_once(
    push, engine: Engine, clock: Clock
) -> None:
    """Five simulated push clocks over real HTTP, every other acknowledgement lost and every
    batch sent again after its acknowledgement (bare-ok-resend): each punch once."""
    from punchd.clock import utc_stamp
    from punchd.drivers.adms.simulator.client import PushFleet

    clock.at = utc_stamp()  # the fleet's punches are dated around now
    clocks = [
        ADMSConfig(name=f"clock-{i}", serial=f"PSIM{i:04d}", timezone="Asia/Shanghai")
        for i in range(1, 6)
    ]
    run = push(*clocks, delay=1, error_delay=1)
    server = f"http://127.0.0.1:{run.receiver.port}"
    with PushFleet(
        server, 5, punches=500, faults=["lost-ack:2", "bare-ok-resend"], delay=0.2, speed=20
    ) as fleet:
        assert fleet.wait_caught_up(120)
        resent = sum(c.counters.resent for c in fleet.clocks)
        assert all(c.counters.bare_resent == 4 for c in fleet.clocks)  # 500 = 4 batches
    rows = punches(engine)
    assert len(rows) == 2_500
    assert len({(r["device_id"], r["enroll_no"], r["punched_at"], r["state"]) for r in rows}) == (
        2_500
    )
    assert resent > 0  # the faults happened


def test_a_batch_sent_again_after_its_ok_is_absorbed_exactly_once(
    push, engine: Engine, clock: Clock
) -> None:
    """Firmware that does not read ``OK: n`` sends each batch once more: the second post of
    a batch stores nothing (its run says 0 new), and every punch is stored once."""
    from punchd.drivers.adms.simulator import PushClock, generate

    clock.at = datetime(2024, 1, 20)  # the generated punches are from January 2024
    run = push(gate(), delay=1, error_delay=1)
    users, records = generate(5, 300, seed=8)
    sim = PushClock(
        f"http://127.0.0.1:{run.receiver.port}",
        SN,
        users=users,
        punches=records,
        faults=["bare-ok-resend"],
        speed=20,
    )
    stop = threading.Event()
    thread = threading.Thread(target=sim.run, args=(stop,), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not sim.caught_up() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert sim.caught_up()
    finally:
        stop.set()
        sim._wake.set()
        thread.join(5)
    assert sim.counters.uploads == 6 and sim.counters.bare_resent == 3
    rows = punches(engine)
    assert len(rows) == 300 == len({(r["enroll_no"], r["punched_at"], r["state"]) for r in rows})
    assert {(r["enroll_no"], r["punched_at"]) for r in rows} == {(p.pin, p.when) for p in records}
    t = schema.att_collection_run
    with engine.connect() as conn:
        news = conn.execute(select(t.c.records_read, t.c.records_new).order_by(t.c.id)).all()
    assert [tuple(r) for r in news] == [
        (128, 128),
        (128, 0),
        (128, 128),
        (128, 0),
        (44, 44),
        (44, 0),
    ]
