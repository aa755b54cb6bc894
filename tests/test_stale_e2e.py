"""Results follow every change, through the real ``punchd`` command on every database: each
edit re-processes exactly the employee-days it affects (no manual ``process``), a report
shows leave right after ``leave add``, and a report whose days could not be re-processed
marks them stale instead of showing them as final."""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
import time as _time
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Engine, make_url

from punchd.drivers.zk.simulator import SimPunch, SimUser, ZKSimulator
from punchd.processing import requeue
from punchd.storage import schema
from punchd.storage.database import make_engine

from .cli_helpers import punchd, subprocess_env
from .tcp_proxy import TcpProxy

MON = date(2025, 3, 3)  # Monday 3 … Friday 7 March 2025
OLD = datetime(2000, 1, 1)
DAYS = [MON + timedelta(days=i) for i in range(5)]
MON_, TUE, WED, THU, FRI = DAYS

USERS = [
    SimUser(uid=1, user_id="100001", name="Wang Fang"),
    SimUser(uid=2, user_id="100002", name="Li Na"),
    SimUser(uid=3, user_id="100003", name="Zhang Wei"),
]
ROSTER_HEADER = "employee_no,name,department,enroll_no,card_no,hire_date,separation_date\n"
ROSTER = ROSTER_HEADER + (
    "E1,Wang Fang,ADMIN,100001,,2024-01-01,\n"
    "E2,Li Na,ADMIN,100002,,2024-01-01,\n"
    "E3,Zhang Wei,ADMIN,100003,,2024-01-01,\n"
)
RULES = """
[[period]]
code = "DAY"
start = "08:00"
end = "17:00"
late_grace = {grace}

[[shift]]
code = "OFFICE"
name = "Office"
periods = ["DAY"]

[[shift]]
code = "LATE"
name = "Late"
periods = ["DAY"]

[[schedule]]
shift = "OFFICE"
department = "ADMIN"
from = 2025-01-01
"""


def _punches() -> list[SimPunch]:
    out = []
    for uid, who in ((1, "100001"), (2, "100002"), (3, "100003")):
        for d in DAYS:
            for hhmm in ("07:55", "17:05"):
                at = datetime.combine(d, time.fromisoformat(hhmm))
                out.append(SimPunch(user_id=who, uid=uid, when=at, punch=0))
    return sorted(out, key=lambda p: p.when)


@pytest.fixture
def sim() -> Iterator[ZKSimulator]:
    with ZKSimulator(port=0, users=USERS, punches=_punches()) as s:
        yield s


@pytest.fixture
def env(tmp_path: Path, db_url: str, sim: ZKSimulator) -> dict[str, str]:
    (tmp_path / "punchd.toml").write_text(
        "[[devices]]\n"
        'name = "front"\ndriver = "zk"\nhost = "127.0.0.1"\n'
        f"port = {sim.port}\ntimeout = 3\n",
        encoding="utf-8",
    )
    return subprocess_env(
        PUNCHD_CONFIG=str(tmp_path / "punchd.toml"),
        PUNCHD_DATABASE_URL=db_url,
        PUNCHD_TIMEZONE="Asia/Shanghai",
        TZ="America/New_York",  # the host's zone must not matter
        XDG_DATA_HOME=str(tmp_path / "data"),
        COLUMNS="250",
        NO_COLOR="1",
    )


@pytest.fixture
def db(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def _ok(result, what: str) -> str:
    assert result.returncode == 0, f"{what}: {result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr
    return result.stdout


def _results(engine: Engine) -> dict[tuple[str, date], datetime]:
    """(employee_no, work_date) → att_day.processed_at."""
    d, e = schema.att_day, schema.att_employee
    with engine.connect() as conn:
        rows = conn.execute(
            select(e.c.employee_no, d.c.work_date, d.c.processed_at).join(
                e, e.c.id == d.c.employee_id
            )
        ).all()
    return {(no, day): at for no, day, at in rows}


def _age_results(engine: Engine) -> dict[tuple[str, date], datetime]:
    """Date every result back, so that a re-processed day shows whatever the clock."""
    with engine.begin() as conn:
        conn.execute(update(schema.att_day).values(processed_at=OLD))
    return _results(engine)


def _changed(before: dict, after: dict) -> set[tuple[str, date]]:
    return {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}


def _backlog(engine: Engine) -> int:
    with engine.connect() as conn:
        return len(conn.execute(select(schema.att_reprocess.c.id)).all())


def _csv_rows(out: str) -> list[dict[str, str]]:
    """The rows of a CSV report (leading ``note:`` lines, if any, left out)."""
    lines = out.lstrip("\ufeff").splitlines()
    while lines and lines[0].startswith(("note:", '"note:')):
        lines.pop(0)
    return list(csv.DictReader(io.StringIO("\n".join(lines))))


def _status_of(env: dict[str, str], employee: str, day: date) -> dict[str, str]:
    out = _ok(
        punchd(
            "report",
            "--from",
            day.isoformat(),
            "--to",
            day.isoformat(),
            "-e",
            employee,
            "--format",
            "csv",
            env=env,
        ),
        "report",
    )
    rows = _csv_rows(out)
    assert len(rows) == 1, out
    return rows[0]


def _setup(env: dict[str, str], tmp_path: Path, engine: Engine) -> None:
    (tmp_path / "roster.csv").write_text(ROSTER, encoding="utf-8")
    (tmp_path / "rules.toml").write_text(RULES.format(grace=0), encoding="utf-8")
    _ok(punchd("db", "upgrade", env=env), "db upgrade")
    _ok(punchd("employees", "import", str(tmp_path / "roster.csv"), env=env), "import")
    _ok(punchd("rules", "load", str(tmp_path / "rules.toml"), env=env), "rules load")
    # collect re-processes what it stored: every day of the week has results at once
    _ok(punchd("collect", env=env), "collect")
    assert len(_results(engine)) == 15
    assert _backlog(engine) == 0


def test_every_edit_refreshes_exactly_its_days(
    env: dict[str, str], tmp_path: Path, db: Engine
) -> None:
    _setup(env, tmp_path, db)

    def step(args: list[str], expected: set[tuple[str, date]]) -> None:
        before = _age_results(db)
        _ok(punchd(*args, env=env), " ".join(args))
        assert _changed(before, _results(db)) == expected, args
        assert _backlog(db) == 0, args

    # leave: the report shows it without a manual `process`
    assert _status_of(env, "E2", THU)["Status"] == "present"
    step(["leave", "add", "E2", "--type", "annual", "--from", THU.isoformat()], {("E2", THU)})
    assert _status_of(env, "E2", THU)["Status"] == "leave"

    # a manual punch and a void: the day the punch belongs to
    step(["punch", "add", "E1", f"{WED} 12:00", "--reason", "forgot"], {("E1", WED)})
    with db.connect() as conn:
        p = schema.att_punch
        late_out = conn.execute(
            select(p.c.id).where(
                p.c.enroll_no == "100003",
                p.c.punched_at == datetime.combine(TUE, time(17, 5)),
            )
        ).scalar_one()
    step(["punch", "void", str(late_out), "--reason", "test"], {("E3", TUE)})
    assert "17:05" not in _status_of(env, "E3", TUE)["Last punch"]
    step(["punch", "unvoid", str(late_out)], {("E3", TUE)})
    assert "17:05" in _status_of(env, "E3", TUE)["Last punch"]

    # separation: the days after the last day that counts (they lose their results)
    step(["employees", "separate", "E3", "--date", WED.isoformat()], {("E3", THU), ("E3", FRI)})
    assert ("E3", THU) not in _results(db)
    step(["employees", "unseparate", "E3"], {("E3", THU), ("E3", FRI)})

    # a card: its holder's days from the time it is issued
    step(
        ["cards", "issue", "7700", "E1", "--from", f"{THU} 00:00"],
        {("E1", THU), ("E1", FRI)},
    )

    # a temporary schedule: that date, that employee
    step(["schedule", "override", TUE.isoformat(), "--employee", "E2", "--rest"], {("E2", TUE)})
    assert _status_of(env, "E2", TUE)["Status"] == "rest"

    # a holiday: the whole site, that date
    step(
        ["holiday", "add", MON_.isoformat(), "--name", "Test"],
        {(e, MON_) for e in ("E1", "E2", "E3")},
    )

    # rules: every processed day of everyone
    (tmp_path / "rules.toml").write_text(RULES.format(grace=5), encoding="utf-8")
    everyone = {(f"E{i}", d) for i in (1, 2, 3) for d in DAYS}
    step(["rules", "load", str(tmp_path / "rules.toml")], everyone)
    step(["rules", "set", "collapse_minutes", "2"], everyone)

    # a roster import: only the employee it changed
    (tmp_path / "roster2.csv").write_text(
        ROSTER.replace("E2,Li Na,ADMIN", "E2,Li Na,SALES"), encoding="utf-8"
    )
    step(["employees", "import", str(tmp_path / "roster2.csv")], {("E2", d) for d in DAYS})

    # processing by hand leaves nothing behind either
    step(["process", "--from", MON_.isoformat(), "--to", FRI.isoformat()], everyone)


def test_a_failing_drain_marks_the_report_stale(
    env: dict[str, str], tmp_path: Path, db: Engine
) -> None:
    _setup(env, tmp_path, db)
    # break the rules behind punchd's back: processing now fails
    with db.begin() as conn:
        conn.execute(
            insert(schema.att_setting).values(
                name="collapse_minutes",
                value="{broken",
                updated_at=datetime(2025, 1, 1),
                updated_by="test",
            )
        )
    leave = punchd("leave", "add", "E2", "--type", "sick", "--from", THU.isoformat(), env=env)
    _ok(leave, "leave add")  # the leave is recorded anyway
    assert "warning: results not re-processed" in leave.stderr
    assert _backlog(db) == 1

    report = punchd(
        "report", "--from", MON_.isoformat(), "--to", FRI.isoformat(), "--format", "csv", env=env
    )
    out = _ok(report, "report")
    assert "1 employee-days in this report changed after they were processed" in report.stderr
    assert "punchd process" in report.stderr
    rows = _csv_rows(out)
    stale = [(r["Employee no"], r["Date"]) for r in rows if r["Stale"] == "yes"]
    assert stale == [("E2", THU.isoformat())]
    status = punchd("status", env=env)
    assert "re-process queue: 1 changes waiting to be re-processed" in status.stdout

    with db.begin() as conn:  # the admin fixes the rules
        conn.execute(
            delete(schema.att_setting).where(schema.att_setting.c.name == "collapse_minutes")
        )
    report = punchd(
        "report", "--from", MON_.isoformat(), "--to", FRI.isoformat(), "--format", "csv", env=env
    )
    out = _ok(report, "report")
    assert "stale" not in report.stderr
    rows = _csv_rows(out)
    assert "Stale" not in rows[0]
    assert [r["Status"] for r in rows if (r["Employee no"], r["Date"]) == ("E2", str(THU))] == [
        "leave"
    ]
    assert _backlog(db) == 0


# ------------------------------------------------------------------------------ the daemon


class _Daemon:
    """``punchd run`` as a subprocess, JSON log to a file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self._fh = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "punchd", "run"],
            env={**env, "PUNCHD_LOG_FORMAT": "json"},
            stdout=self._fh,
            stderr=subprocess.STDOUT,
        )

    def stop(self) -> int:
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
            return self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self._fh.close()


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = _time.monotonic() + timeout
    while _time.monotonic() < deadline:
        if predicate():
            return
        _time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _day_status(engine: Engine, employee_no: str, day: date) -> str | None:
    d, e = schema.att_day, schema.att_employee
    with engine.connect() as conn:
        return conn.execute(
            select(d.c.status)
            .join(e, e.c.id == d.c.employee_id)
            .where(e.c.employee_no == employee_no, d.c.work_date == day)
        ).scalar_one_or_none()


def _daemon_config(port: int) -> str:
    return (
        '[daemon]\npoll_every = "1s"\nheartbeat_every = 0.5\nbackoff_base = "1s"\n'
        'backoff_max = "2s"\n\n[[devices]]\nname = "front"\ndriver = "zk"\n'
        f'host = "127.0.0.1"\nport = {port}\ntimeout = 3\n'
    )


def test_daemon_refreshes_results_from_the_spool_and_from_other_programs(
    tmp_path: Path, db_url: str, db: Engine
) -> None:
    """After a database outage the spooled punches reach the database and their days are
    re-processed; a change queued by another program is re-processed within seconds."""
    url = make_url(db_url)
    server = url.get_backend_name() != "sqlite"
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432)) if server else None
    daemon_url = (
        url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
        if proxy is not None
        else db_url
    )
    try:
        with ZKSimulator(port=0, users=USERS, punches=[]) as sim:
            (tmp_path / "punchd.toml").write_text(_daemon_config(sim.port), encoding="utf-8")
            env = {k: v for k, v in os.environ.items() if not k.startswith("PUNCHD_")}
            env.update(
                PUNCHD_CONFIG=str(tmp_path / "punchd.toml"),
                PUNCHD_DATABASE_URL=db_url,
                PUNCHD_TIMEZONE="Asia/Shanghai",
                PUNCHD_DATA_DIR=str(tmp_path / "data"),
                NO_COLOR="1",
            )
            (tmp_path / "roster.csv").write_text(ROSTER, encoding="utf-8")
            (tmp_path / "rules.toml").write_text(RULES.format(grace=0), encoding="utf-8")
            _ok(punchd("db", "upgrade", env=env), "db upgrade")
            _ok(punchd("employees", "import", str(tmp_path / "roster.csv"), env=env), "import")
            _ok(punchd("rules", "load", str(tmp_path / "rules.toml"), env=env), "rules")
            _ok(punchd("process", "--from", str(MON_), "--to", str(FRI), env=env), "process")
            assert _day_status(db, "E1", WED) == "absent"

            daemon = _Daemon({**env, "PUNCHD_DATABASE_URL": daemon_url}, tmp_path / "d.log")
            try:
                if proxy is not None:
                    _wait_for(lambda: _polled(db), 30, "a first poll")
                    proxy.cut()
                    spool = tmp_path / "data" / "spool"
                    sim.add_punches(
                        [
                            SimPunch(user_id="100001", uid=1, when=datetime.combine(WED, t))
                            for t in (time(7, 55), time(17, 5))
                        ]
                    )
                    _wait_for(lambda: any(spool.glob("*.jsonl")), 30, "punches spooled")
                    proxy.restore()
                    _wait_for(lambda: not any(spool.glob("*.jsonl")), 60, "the spool to flush")
                    _wait_for(lambda: _day_status(db, "E1", WED) == "present", 30, "E1's Wednesday")
                # another program records leave and queues the day, as docs/reports.md says
                with db.begin() as conn:
                    e2 = conn.execute(
                        select(schema.att_employee.c.id).where(
                            schema.att_employee.c.employee_no == "E2"
                        )
                    ).scalar_one()
                    conn.execute(
                        insert(schema.att_leave).values(
                            employee_id=e2,
                            kind="trip",
                            start_at=datetime.combine(THU, time()),
                            end_at=datetime.combine(THU, time()),
                            full_day=True,
                            created_at=datetime(2025, 1, 1),
                            created_by="hr-system",
                        )
                    )
                    requeue.enqueue(
                        conn, employee_id=e2, date_from=THU, date_to=THU, reason="import"
                    )
                _wait_for(lambda: _day_status(db, "E2", THU) == "leave", 30, "E2's leave")
                # the drain deletes its rows just after committing the results it made
                _wait_for(lambda: _backlog(db) == 0, 10, "the queue to be emptied")
            finally:
                assert daemon.stop() == 0
    finally:
        if proxy is not None:
            proxy.close()


def _polled(engine: Engine) -> bool:
    with engine.connect() as conn:
        return conn.execute(select(schema.att_collection_run.c.id).limit(1)).first() is not None
