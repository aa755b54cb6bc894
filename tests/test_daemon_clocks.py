"""Device clocks, site time and the daemon's bounds, with the daemon as a real subprocess.

The daemon runs with the host zone ``TZ=UTC`` while the site is in Asia/Shanghai (UTC+8, no
DST): every time of day in the settings and every device without its own zone must follow
the site, never the host.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from punchd.collector.drift import describe_drift, likely_zone_error, verdict
from punchd.collector.lease import database_lease
from punchd.drivers.zk.simulator import ZKSimulator
from punchd.hr import service as hr
from punchd.storage import schema
from punchd.storage.database import make_engine

from .cli_helpers import punchd
from .helpers.daemon import (
    PUNCHES,
    USERS,
    DaemonProcess,
    Daemons,
    cli_env,
    daemon_table,
    extra_punches,
    logged_at,
    runs,
    stored,
    wait_until,
    zk,
)
from .tcp_proxy import TcpProxy

SITE = "Asia/Shanghai"
SITE_ZONE = ZoneInfo(SITE)
HOST_TZ = "UTC"  # the server's own zone, 8 h from the site's


def site_now() -> datetime:
    return datetime.now(SITE_ZONE).replace(tzinfo=None)


def site_offset() -> timedelta:
    """Simulator clock offset that makes its clock read the site's wall-clock time (the
    simulator counts from this test process's local time, whatever its zone)."""
    return timedelta(seconds=round((site_now() - datetime.now()).total_seconds()))


def drift_from_site(sim: ZKSimulator) -> float:
    return (sim.device_time() - site_now().replace(microsecond=0)).total_seconds()


def site_config(daemon: str, devices: str, **top: object) -> str:
    head = f'timezone = "{SITE}"\n' + "".join(f"{k} = {json.dumps(v)}\n" for k, v in top.items())
    return head + daemon + devices


@pytest.fixture
def start_daemon(tmp_path: Path, db_url: str, engine) -> Iterator[Callable[..., DaemonProcess]]:
    with Daemons(tmp_path, db_url, TZ=HOST_TZ) as daemons:
        yield daemons.running


# ----------------------------------------------------------------------- the pure rules


def test_drift_wording_names_likely_zone_mistakes() -> None:
    assert describe_drift(-28800) == "clock is 8 h 00 min behind: is the device's time zone right?"
    assert describe_drift(28790) == "clock is 8 h 00 min ahead: is the device's time zone right?"
    assert "daylight saving" in describe_drift(3600)
    assert describe_drift(-180) == "clock is 3 min 00 s behind"
    assert describe_drift(2 * 3600 + 7 * 60 + 30) == "clock is 2 h 08 min ahead"  # no guess
    assert describe_drift(20) == "clock is 20 s ahead"
    assert describe_drift(-7190).startswith("clock is 2 h 00 min behind:")  # not 1 h 60 min
    assert likely_zone_error(5.5 * 3600 + 100) and not likely_zone_error(7 * 60)
    assert verdict(30, 60, 600) == "ok"
    assert verdict(-180, 60, 600) == "correct"
    assert verdict(-28800, 60, 600) == "report"


def test_a_device_without_its_own_zone_runs_on_the_site_zone(tmp_path: Path) -> None:
    from punchd.config import load_settings

    config = tmp_path / "punchd.toml"
    config.write_text(
        'timezone = "Asia/Shanghai"\n'
        '[[devices]]\nname = "a"\ndriver = "zk"\nhost = "127.0.0.1"\n'
        '[[devices]]\nname = "b"\ndriver = "zk"\nhost = "127.0.0.1"\n'
        'timezone = "Europe/Lisbon"\n'
    )
    s = load_settings(config)
    assert s.device("a").timezone == "Asia/Shanghai"
    assert s.device_zone(s.device("a")).key == "Asia/Shanghai"
    assert s.device_zone(s.device("b")).key == "Europe/Lisbon"
    config.write_text("[daemon]\nclock_sync_threshold = 120\nclock_auto_correct_max = 60\n")
    from punchd.config import ConfigError

    with pytest.raises(ConfigError, match="clock_auto_correct_max must be at least"):
        load_settings(config)


# ----------------------------------------------------------------- the daily clock check


def test_clock_check_runs_on_site_time_and_never_shifts_a_right_clock(
    start_daemon, db_url: str, tmp_path: Path
) -> None:
    offset = site_offset()
    with (
        ZKSimulator(port=0, users=USERS[:3], punches=PUNCHES[:20], clock_offset=offset) as right,
        ZKSimulator(
            port=0, users=USERS[:3], punches=PUNCHES[:20], clock_offset=offset - timedelta(hours=8)
        ) as zone_off,
        ZKSimulator(
            port=0,
            users=USERS[:3],
            punches=PUNCHES[:20],
            clock_offset=offset - timedelta(minutes=3),
        ) as near,
    ):

        def checking_at(due: datetime) -> str:
            return site_config(
                daemon_table(poll_every="1h", clock_check_at=due.strftime("%H:%M:%S")),
                zk("right", right) + zk("zone_off", zone_off) + zk("near", near),
            )

        daemon = start_daemon(checking_at(site_now() + timedelta(hours=6)))
        # Due a few seconds from now on the site's clock; on the host's (UTC) clock that time
        # of day is 8 hours away. Set once the daemon is up (a reload): a start that takes
        # long on a loaded machine would miss a time set before it, and check tomorrow.
        due = site_now() + timedelta(seconds=10)
        (tmp_path / "punchd.toml").write_text(checking_at(due), encoding="utf-8")
        daemon.proc.send_signal(signal.SIGHUP)
        reloaded = daemon.wait_event("configuration reloaded", timeout=30)
        assert logged_at(reloaded) < due.replace(tzinfo=SITE_ZONE), "reloaded too late"
        checked = daemon.wait_event("device clock checked", timeout=60, device="right")
        assert abs(checked["drift_s"]) <= 2
        corrected = daemon.wait_event("device clock corrected", timeout=20, device="near")
        assert -185 <= corrected["drift_s"] <= -175 and abs(corrected["after_s"]) <= 2
        assert corrected["zone"] == SITE
        reported = daemon.wait_event(
            "device clock not corrected: drift too large to be a clock error",
            timeout=20,
            device="zone_off",
        )
        assert reported["problem"] == (
            "clock is 8 h 00 min behind: is the device's time zone right?"
        )
        assert daemon.stop() == 0
        assert abs(drift_from_site(right)) <= 3  # left alone: never "corrected" by 8 h
        assert abs(drift_from_site(near)) <= 3  # 3 min off: corrected
        assert -28803 <= drift_from_site(zone_off) <= -28797  # 8 h off: reported, untouched
    events = daemon.events()
    assert not [e for e in events if e.get("event") == "device clock corrected"][1:]
    # The punches were read in the site's zone: device wall time minus 8 h is UTC.
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            t = schema.att_punch
            pairs = conn.execute(select(t.c.punched_at, t.c.punched_at_utc).limit(5)).all()
    finally:
        engine.dispose()
    assert pairs and all(local - utc == timedelta(hours=8) for local, utc in pairs)

    env = cli_env(tmp_path, db_url, COLUMNS="250", TZ=HOST_TZ)
    status = punchd("status", env=env, timeout=60)
    assert status.returncode == 1, status.stdout + status.stderr
    assert f"times in {SITE}" in status.stdout
    assert (
        "zone_off: clock is 8 h 00 min behind: is the device's time zone right? "
        "(not corrected automatically: punchd devices set-time zone_off)" in status.stdout
    )
    assert "right: clock" not in status.stdout and "near: clock" not in status.stdout
    listing = punchd("devices", env=env, timeout=60)
    assert listing.returncode == 0, listing.stderr
    assert f"Devices (times in {SITE})" in listing.stdout
    assert "zone_off: clock is 8 h 00 min behind: is the device's time zone right?" in (
        listing.stdout
    )


def test_collect_summary_reports_a_large_drift(db_url: str, engine, tmp_path: Path) -> None:
    with ZKSimulator(
        port=0,
        users=USERS[:3],
        punches=PUNCHES[:10],
        clock_offset=site_offset() + timedelta(hours=8),
    ) as sim:
        (tmp_path / "punchd.toml").write_text(site_config("", zk("gate", sim)))
        env = cli_env(tmp_path, db_url, COLUMNS="250", TZ=HOST_TZ)
        result = punchd("collect", env=env, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
        assert (
            "gate: clock is 8 h 00 min ahead: is the device's time zone right? — not "
            "corrected automatically" in result.stderr
        )
        assert 28797 <= drift_from_site(sim) <= 28803  # collect never sets a clock


def test_set_time_is_a_deliberate_audited_command(db_url: str, engine, tmp_path: Path) -> None:
    with ZKSimulator(
        port=0,
        users=USERS[:3],
        punches=PUNCHES[:10],
        clock_offset=site_offset() - timedelta(hours=8),
    ) as sim:
        (tmp_path / "punchd.toml").write_text(site_config("", zk("gate", sim)))
        env = cli_env(tmp_path, db_url, COLUMNS="250", TZ=HOST_TZ)
        done = punchd("devices", "set-time", "gate", "--by", "alice", env=env, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "before: clock is 8 h 00 min behind" in done.stdout
        assert abs(drift_from_site(sim)) <= 3  # now on the site's clock
        chosen = punchd(
            "devices", "set-time", "gate", "--to", "2030-01-02 08:00:00", env=env, timeout=60
        )
        assert chosen.returncode == 0, chosen.stderr
        assert abs((sim.device_time() - datetime(2030, 1, 2, 8)).total_seconds()) <= 3
        bad = punchd("devices", "set-time", "gate", "--to", "tomorrow", env=env, timeout=60)
        assert bad.returncode == 2
        assert bad.stderr.strip().splitlines() == [
            "error: --to: not a time 'YYYY-MM-DD HH:MM:SS': 'tomorrow'"
        ]
        unknown = punchd("devices", "set-time", "nope", env=env, timeout=60)
        assert unknown.returncode == 2 and "no device named 'nope'" in unknown.stderr
        # Held by a collector: refused after --wait, and nothing is set.
        before, t0 = sim.device_time(), time.monotonic()
        with engine.connect() as conn:
            device_id = conn.execute(
                select(schema.att_device.c.id).where(schema.att_device.c.name == "gate")
            ).scalar_one()
        with database_lease(engine, device_id, "gate", purpose="schedule"):
            held = punchd("devices", "set-time", "gate", "--wait", "1", env=env, timeout=60)
        assert held.returncode == 1 and "busy" in held.stderr, held.stderr
        assert len(held.stderr.strip().splitlines()) == 1
        moved = (sim.device_time() - before).total_seconds()
        assert abs(moved - (time.monotonic() - t0)) <= 3  # only time passed: nothing set
    a = schema.att_audit
    with engine.connect() as conn:
        rows = conn.execute(
            select(a.c.changed_by, a.c.action, a.c.entity, a.c.entity_key, a.c.detail)
            .where(a.c.action == "set-time")
            .order_by(a.c.id)
        ).all()
    assert [r[:4] for r in rows][:1] == [("alice", "set-time", "device", "gate")]
    assert len(rows) == 2
    first = json.loads(rows[0].detail)
    assert first["zone"] == SITE and -28803 <= first["drift_before_s"] <= -28797
    assert json.loads(rows[1].detail)["to"] == "2030-01-02 08:00:00"


# ------------------------------------------------------------------- reload and status


def test_reload_keeps_a_failing_devices_backoff(start_daemon, db_url: str, tmp_path: Path):
    with ZKSimulator(port=0) as gone:
        pass  # stopped: its port refuses
    with ZKSimulator(port=0, users=USERS[:3], punches=PUNCHES[:10]) as sim:
        table = daemon_table(backoff_base="40s", backoff_max="40s")
        daemon = start_daemon(site_config(table, zk("down", gone) + zk("gate", sim)))
        failed = daemon.wait_event("device poll failed; backing off", device="down", failures=1)
        # A good reload that changes the schedule of every device (so each job is rebuilt).
        config = tmp_path / "punchd.toml"
        config.write_text(
            site_config(
                daemon_table(poll_every="2s", backoff_base="40s", backoff_max="40s"),
                zk("down", gone) + zk("gate", sim),
            )
        )
        daemon.proc.send_signal(signal.SIGHUP)
        reloaded = daemon.wait_event("configuration reloaded", timeout=40)
        sim.add_punches(extra_punches(0, 3))
        wait_until(lambda: stored(db_url)[0] == 13, 30, "gate polled after the reload")

        def gate_polls_since_reload() -> int:
            return sum(
                1
                for e in daemon.events()
                if e.get("event") == "collection"
                and e.get("device") == "gate"
                and logged_at(e) > logged_at(reloaded)
            )

        # A rebuilt job is due at once: "down" without its backoff would have been polled
        # beside gate's first poll, long before gate's second one on the new schedule.
        wait_until(lambda: gate_polls_since_reload() >= 2, 30, "two polls of gate")
        assert daemon.stop() == 0
    retries = [
        e
        for e in daemon.events()
        if e.get("event") == "collection"
        and e.get("device") == "down"
        and logged_at(e) > logged_at(failed)
    ]
    # Not re-polled by the reload: the next try (if the test outlasts the backoff) comes
    # 40 s after the failure (1 s: the failure is logged just after its backoff is set).
    early = [e for e in retries if logged_at(e) < logged_at(failed) + timedelta(seconds=39)]
    assert early == [], (failed, early)


def test_a_reload_never_runs_a_failing_devices_poll_before_its_backoff(
    engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In process, the race made certain: the main thread stalls right after the reload
    adds a device's job (a loaded machine), while the scheduler thread runs what is due."""
    from punchd.collector.collect import RunResult
    from punchd.collector.daemon import Daemon
    from punchd.config import load_settings

    config = tmp_path / "punchd.toml"

    def write(poll_every: str) -> None:
        config.write_text(
            f'data_dir = "{tmp_path / "data"}"\n'
            + daemon_table(poll_every=poll_every, backoff_base="40s", backoff_max="40s")
            + '[[devices]]\nname = "down"\ndriver = "zk"\nhost = "127.0.0.1"\n'
        )

    write("1s")
    daemon = Daemon(load_settings(config), engine, config_path=config)
    polled: list[str] = []
    monkeypatch.setattr(daemon, "_poll", polled.append)  # what the scheduler runs
    daemon.owned = {"down"}
    daemon.scheduler.start()
    try:
        device = daemon.settings.device("down")
        daemon._add_device(device, first=datetime.now(UTC) + timedelta(hours=1))
        daemon._after_poll(device, RunResult(device="down", status="failed", error="refused"))
        backoff = daemon.scheduler.get_job("poll:down").next_run_time
        assert backoff > datetime.now(UTC) + timedelta(seconds=35)
        add_job = daemon.scheduler.add_job

        def add_then_stall(*args: object, **kw: object) -> object:
            job = add_job(*args, **kw)
            time.sleep(1)  # the scheduler thread wakes for the new job meanwhile
            return job

        monkeypatch.setattr(daemon.scheduler, "add_job", add_then_stall)
        write("2s")  # a new schedule: the job is rebuilt
        daemon.reload()
        assert polled == []
        assert daemon.scheduler.get_job("poll:down").next_run_time == backoff
    finally:
        daemon.scheduler.shutdown(wait=False)


def test_status_after_stop_shows_the_last_processing_in_site_time(
    start_daemon, engine, db_url: str, tmp_path: Path
) -> None:
    # People on the roster, so that the collected punches are really processed.
    with engine.begin() as conn:
        for no in sorted({p.user_id for p in PUNCHES[:30]}):
            hr.add_employee(
                conn,
                f"E{no}",
                f"Person {no}",
                "OPS",
                date(2000, 1, 1),
                actor="test",
                now=datetime(2000, 1, 1),
                enroll_no=no,
            )
    with ZKSimulator(
        port=0, users=USERS[:3], punches=PUNCHES[:30], clock_offset=site_offset()
    ) as sim:
        daemon = start_daemon(site_config(daemon_table(poll_every="1h"), zk("gate", sim)))
        wait_until(lambda: stored(db_url)[0] == 30, 30, "collected")
        # Processed after the commit: a stop before that would cancel it (not a fixed sleep,
        # which a loaded machine outlasts).
        daemon.wait_event("re-processed", timeout=30)
        assert daemon.stop() == 0
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            row = conn.execute(select(schema.att_daemon)).mappings().one()
            poll = conn.execute(select(schema.att_device_poll)).mappings().one()
    finally:
        engine.dispose()
    assert row["last_processing_at"] is not None
    for value in (
        row["started_at"],
        row["heartbeat_at"],
        row["stopped_at"],
        row["last_processing_at"],
        poll["last_success_at"],
        poll["updated_at"],
    ):
        assert value.microsecond == 0, value  # to the second, like every *_at column
    env = cli_env(tmp_path, db_url, COLUMNS="250", TZ=HOST_TZ)
    status = punchd("status", env=env, timeout=60)
    shown = (row["last_processing_at"] + timedelta(hours=8)).strftime("%m-%d %H:%M:%S")
    assert f"last processing: {shown}" in status.stdout, status.stdout
    assert "none yet" not in status.stdout


def test_commands_with_the_database_down_say_one_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "punchd.toml").write_text(
        '[[devices]]\nname = "a"\ndriver = "zk"\nhost = "127.0.0.1"\n'
    )
    for url in (
        f"postgresql+psycopg://punchd:s3cret@127.0.0.1:{port}/x",
        f"mysql+pymysql://punchd:s3cret@127.0.0.1:{port}/x",
    ):
        env = cli_env(tmp_path, url)
        for args in (("db", "current"), ("db", "upgrade"), ("status",), ("devices",)):
            result = punchd(*args, env=env, timeout=60)
            lines = result.stderr.strip().splitlines()
            assert result.returncode == 2, (args, result.stderr)
            assert len(lines) == 1 and lines[0].startswith("error: "), (args, result.stderr)
            assert "Traceback" not in result.stderr and "s3cret" not in result.stderr
            assert "unavailable" in lines[0] or "failed" in lines[0], lines


# ------------------------------------------------------------ hung devices: fair, bounded


def test_hung_devices_neither_starve_others_nor_hold_the_shutdown(
    start_daemon, db_url: str
) -> None:
    # Two devices stop answering mid-transfer and keep the connection open; the driver's
    # per-read timeout (60 s) keeps each run alive far longer than the test.
    small = PUNCHES[:3000]
    with (
        ZKSimulator(port=0, users=USERS, punches=PUNCHES[:50]) as healthy,
        ZKSimulator(port=0, users=USERS, punches=small, faults=["stall:0.3"]) as hung1,
        ZKSimulator(port=0, users=USERS, punches=small, faults=["stall:0.3"]) as hung2,
    ):
        config = site_config(
            daemon_table(poll_every="1s", max_concurrent_polls=2, shutdown_timeout=3),
            zk("hung1", hung1, timeout=60)
            + zk("hung2", hung2, timeout=60)
            + zk("healthy", healthy),
        )
        daemon = start_daemon(config)
        wait_until(lambda: hung1.commands and hung2.commands, 20, "both hung devices polled")
        t0 = time.monotonic()

        def three_finished() -> list[dict] | None:
            # A run still in progress says "running": finished ones only.
            done = [r for r in runs(db_url) if r["name"] == "healthy" and r["status"] != "running"]
            return done if len(done) >= 3 else None

        # Both slots are held by hung runs; each gives its slot back after 5 s, so the
        # healthy device is polled every few seconds (it would get none in 60 s otherwise).
        done = wait_until(three_finished, 40, "three finished polls of the healthy device")
        waited = time.monotonic() - t0
        assert all(r["status"] == "ok" for r in done), [(r["status"], r["error"]) for r in done]
        daemon.wait_event("device poll outlives its slot; the slot goes to the other devices")
        t1 = time.monotonic()
        code = daemon.stop(signal.SIGTERM, timeout=30)
        took = time.monotonic() - t1
        assert code == 0
        assert took < 3 + 7, f"SIGTERM took {took:.1f} s with shutdown_timeout = 3"
        print(
            f"\nhealthy device: {len(done)} polls in {waited:.0f} s beside two hung ones; "
            f"SIGTERM to exit: {took:.1f} s (shutdown_timeout 3 s)"
        )
    events = [e["event"] for e in daemon.events()]
    assert "work still running at shutdown; exiting anyway" in events
    assert events[-1] == "daemon stopped"
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            t, d = schema.att_punch, schema.att_device
            per_device = dict(
                conn.execute(
                    select(d.c.name, func.count(t.c.id))
                    .select_from(d.outerjoin(t, t.c.device_id == d.c.id))
                    .group_by(d.c.name)
                ).all()
            )
    finally:
        engine.dispose()
    assert per_device.get("hung1", 0) == per_device.get("hung2", 0) == 0  # nothing partial
    assert per_device["healthy"] == 50


# ------------------------------------------------------------ a half-open database link


def test_silent_database_link_is_detected_and_spooled(
    start_daemon, db_url: str, tmp_path: Path
) -> None:
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        pytest.skip("a half-open link needs a server behind a proxy")
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    database = "[database]\nconnect_timeout = 2\nstatement_timeout = 3\nkeepalive_idle = 2\n"
    try:
        with ZKSimulator(port=0, users=USERS, punches=PUNCHES[:500]) as sim:
            config = site_config(daemon_table(heartbeat_every=1), zk("gate", sim)) + database
            daemon = start_daemon(config, url=proxied)
            # The whole first run, not only its commit: silenced between its commit and its
            # run record, that run (not the next poll) would meet the silent link.
            daemon.wait_event("collection", timeout=60, status="ok", records_new=500)
            assert stored(db_url)[0] == 500
            proxy.silence()
            silenced = time.monotonic()
            sim.add_punches(extra_punches(0, 40))
            daemon.wait_event("collection spooled", timeout=60)
            detected = time.monotonic() - silenced
            spool = tmp_path / "data" / "spool"
            assert any(spool.glob("*.jsonl"))
            logged = [
                e for e in daemon.events() if e.get("event", "").startswith("database unreachable")
            ]
            assert logged, "the hung database was not logged"
            sim.add_punches(extra_punches(100, 20))
            time.sleep(2)
            proxy.restore()
            wait_until(lambda: not any(spool.glob("*.jsonl")), 90, "the spool to drain")
            wait_until(lambda: stored(db_url)[0] == 560, 90, "every punch stored")
            assert daemon.stop() == 0
        rows, distinct = stored(db_url)
        assert rows == distinct == 560
        assert detected < 45, f"the silent database took {detected:.0f} s to notice"
        print(f"\nsilent database link noticed and spooled after {detected:.1f} s")
    finally:
        proxy.close()


def test_every_backend_bounds_its_waits(db_url: str) -> None:
    from sqlalchemy import text

    engine = make_engine(db_url, connect_timeout=4, statement_timeout=5, keepalive_idle=6)
    try:
        with engine.connect() as conn:
            dbapi = conn.connection.dbapi_connection
            backend = engine.dialect.name
            if backend == "postgresql":
                assert conn.execute(text("SHOW statement_timeout")).scalar() == "5s"
                params = dbapi.info.get_parameters()
                assert params["connect_timeout"] == "4"
                assert params["keepalives_idle"] == "6" and params["keepalives"] == "1"
                assert params["tcp_user_timeout"] == "5000"
            elif backend in ("mysql", "mariadb"):
                assert dbapi._read_timeout == 5 and dbapi._write_timeout == 5
                assert dbapi.connect_timeout == 4
            else:
                assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 30_000
    finally:
        engine.dispose()


def test_every_schedule_is_on_the_site_clock(engine, tmp_path: Path) -> None:
    from punchd.collector.daemon import Daemon
    from punchd.config import load_settings

    config = tmp_path / "punchd.toml"
    config.write_text(
        f'timezone = "{SITE}"\ndata_dir = "{tmp_path / "data"}"\n'
        '[daemon]\nclock_check_at = "03:00"\nclose_of_day_at = "00:30"\n'
        '[[devices]]\nname = "a"\ndriver = "zk"\nhost = "127.0.0.1"\n'
        'poll_every = "0 9 * * *"\n'
    )
    daemon = Daemon(load_settings(config), engine)
    daemon.scheduler.start(paused=True)
    try:
        daemon._schedule_service_jobs()
        daemon._add_device(daemon.settings.device("a"))
        for job_id, hour, minute in (
            ("clock-check", 3, 0),
            ("close-of-day", 0, 30),
            ("poll:a", 9, 0),
        ):
            trigger = daemon.scheduler.get_job(job_id).trigger
            assert str(trigger.timezone) == SITE, job_id
            fire = trigger.get_next_fire_time(None, datetime.now(SITE_ZONE))
            assert (fire.hour, fire.minute) == (hour, minute), job_id
            assert fire.utcoffset() == timedelta(hours=8), job_id
    finally:
        daemon.scheduler.shutdown(wait=False)
