"""Several collectors on one database: 3 ``punchd run`` daemons × 300 simulated ZK clocks.

    .venv/bin/python bench/cluster.py [--daemons 3] [--devices 300] [--poll-seconds 60]
                                      [--window 60] [--db postgresql,mysql]

Per database, a fresh database of its own on the server, ``--devices`` ZK simulators (one
process: this one) and ``--daemons`` daemons as subprocesses, each with its own data
directory and the same ``[[devices]]`` (``[daemon] takeover_within`` at its default, 30 s):

* idle phase: every clock collected once, then a long poll interval: the database
  transactions per second of the daemons alone (membership: heartbeat + one look at the
  running daemons every 5 s each; plus their own periodic jobs), from ``pg_stat_database``
  (PostgreSQL) or ``Com_*`` status counters (MariaDB, server-wide);
* polling phase: ``poll_every = --poll-seconds`` (SIGHUP), polls per daemon over
  ``--window`` seconds counted at the simulators (a session is a poll) and split by owner;
  expected: devices × window / poll-seconds in total, an even third each;
* lock round-trips per poll: ``--probe`` polls in this process through the same code path
  (``collect_device``), statements counted on the lock connection and on the others;
* takeover: one daemon killed with SIGKILL; for each of its clocks, the seconds until
  another daemon opened a session with it (bound: ``takeover_within`` = 30 s).

Printed per database with the load average and the daemons' peak RSS (VmHWM). The server
URLs: ``$PUNCHD_BENCH_POSTGRES_URL`` / ``$PUNCHD_BENCH_MYSQL_URL`` (default the
``$PUNCHD_TEST_*`` ones).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url

from punchd.collector.collect import collect_device
from punchd.config import load_settings
from punchd.drivers.zk.simulator import ZKSimulator, generate
from punchd.storage import cluster
from punchd.storage.database import make_engine, upgrade

DEFAULTS = {
    "postgresql": ("PUNCHD_BENCH_POSTGRES_URL", "PUNCHD_TEST_POSTGRES_URL"),
    "mysql": ("PUNCHD_BENCH_MYSQL_URL", "PUNCHD_TEST_MYSQL_URL"),
}
USERS, PUNCHES = generate(users=5, punches=20, seed=3)


def _config(sims: list[ZKSimulator], poll: str) -> str:
    text_ = f'[daemon]\npoll_every = "{poll}"\nmax_concurrent_polls = 16\nheartbeat_every = 10\n'
    for i, sim in enumerate(sims):
        text_ += (
            f'[[devices]]\nname = "c{i:03d}"\ndriver = "zk"\nhost = "127.0.0.1"\n'
            f"port = {sim.port}\n"
        )
    return text_


def _transactions(engine: Engine) -> int:
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            return int(
                conn.execute(
                    text(
                        "SELECT xact_commit + xact_rollback FROM pg_stat_database "
                        "WHERE datname = current_database()"
                    )
                ).scalar_one()
            )
        rows = conn.execute(text("SHOW GLOBAL STATUS LIKE 'Questions'")).all()
        return int(rows[0][1])


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _probe(url: str, sims: list[ZKSimulator], n: int, workdir: Path) -> tuple[float, float]:
    """(lock-connection statements per poll, other statements per poll), measured."""
    engine = make_engine(url)
    lock_engine = cluster._lock_engine(engine)
    counts = {"lock": 0, "other": 0}

    def count(kind: str):
        def _on(*_a: object) -> None:
            counts[kind] += 1

        return _on

    event.listen(lock_engine, "before_cursor_execute", count("lock"))
    event.listen(engine, "before_cursor_execute", count("other"))
    settings = load_settings(
        None,
        data_dir=workdir / "probe",
        devices=[
            {"name": f"probe{i}", "driver": "zk", "host": "127.0.0.1", "port": sims[i].port}
            for i in range(n)
        ],
    )
    try:
        for device in settings.devices:
            collect_device(engine, device, lock_dir=workdir / "probe-locks")
    finally:
        engine.dispose()
    return counts["lock"] / n, counts["other"] / n


def bench(db: str, url: str, args: argparse.Namespace, workdir: Path) -> dict:
    engine = make_engine(url)
    upgrade(engine)
    sims = [ZKSimulator(port=0, users=USERS, punches=PUNCHES).start() for _ in range(args.devices)]
    procs: list[subprocess.Popen] = []
    out: dict = {"db": db}
    try:
        homes = []
        for d in range(args.daemons):
            home = workdir / f"d{d}"
            (home / "data").mkdir(parents=True)
            (home / "punchd.toml").write_text(_config(sims, "1h"))
            homes.append(home)
            env = {k: v for k, v in os.environ.items() if not k.startswith("PUNCHD_")}
            env.update(
                PUNCHD_CONFIG=str(home / "punchd.toml"),
                PUNCHD_DATABASE_URL=url,
                PUNCHD_DATA_DIR=str(home / "data"),
                PUNCHD_LOG_FORMAT="json",
            )
            log = open(home / "daemon.log", "ab")  # noqa: SIM115 - the daemon's own
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "punchd", "run"], env=env, stdout=log, stderr=log
                )
            )
        deadline = time.monotonic() + 300
        while any(s.connections == 0 for s in sims) and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(15)  # every daemon has seen the others; first polls over

        # idle: coordination only
        before, t0 = _transactions(engine), time.monotonic()
        time.sleep(args.idle)
        out["idle_tps"] = (_transactions(engine) - before) / (time.monotonic() - t0)

        # polling phase
        for home in homes:
            (home / "punchd.toml").write_text(_config(sims, f"{args.poll_seconds:g}s"))
        for p in procs:
            p.send_signal(signal.SIGHUP)
        time.sleep(10)  # the reload polls every clock at once; the window starts after
        conns = [s.connections for s in sims]
        before, t0 = _transactions(engine), time.monotonic()
        time.sleep(args.window)
        elapsed = time.monotonic() - t0
        out["poll_tps"] = (_transactions(engine) - before) / elapsed
        polls = [s.connections - c for s, c in zip(sims, conns, strict=True)]
        owners = _owners(engine)
        per_daemon: dict[str, int] = {}
        for i, n in enumerate(polls):
            who = owners.get(f"c{i:03d}", "?")
            per_daemon[who] = per_daemon.get(who, 0) + n
        out["polls"] = sum(polls)
        out["polls_expected"] = args.devices * elapsed / args.poll_seconds
        out["per_daemon"] = sorted(per_daemon.values())
        out["rss_kb"] = [_rss_kb(p.pid) for p in procs]

        # takeover after SIGKILL
        victim = procs[0]
        instance = _instance(homes[0])
        theirs = [i for i in range(args.devices) if owners.get(f"c{i:03d}") == instance]
        seen = {i: sims[i].connections for i in theirs}
        victim.kill()
        victim.wait()
        killed = time.monotonic()
        moved: dict[int, float] = {}
        while len(moved) < len(theirs) and time.monotonic() - killed < 120:
            for i in theirs:
                if i not in moved and sims[i].connections > seen[i]:
                    moved[i] = time.monotonic() - killed
            time.sleep(0.05)
        out["takeover"] = sorted(moved.values())
        out["takeover_devices"] = len(theirs)
        out["load"] = os.getloadavg()
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
        lock_stmts, other_stmts = _probe(url, sims, args.probe, workdir)
        out["lock_per_poll"], out["other_per_poll"] = lock_stmts, other_stmts
        for s in sims:
            s.stop()
        engine.dispose()
    return out


def _owners(engine: Engine) -> dict[str, str]:
    from punchd.collector import membership

    with engine.connect() as conn:
        now, rows = cluster.running_daemons(conn)
    alive = membership.live(membership.members(rows, now), 30)
    return {d: m.instance for d, m in membership.assignment(alive).items()}


def _instance(home: Path) -> str:
    for line in (home / "daemon.log").read_text(errors="replace").splitlines():
        if line.startswith("{") and '"daemon started"' in line:
            return json.loads(line)["instance"]
    raise SystemExit("a daemon did not start")


def show(r: dict, args: argparse.Namespace) -> None:
    t = r["takeover"]
    print(f"== {r['db']}: {args.daemons} daemons x {args.devices} clocks")
    print(
        f"polls in the window: {r['polls']} (expected {r['polls_expected']:.0f} = devices x "
        f"window / poll interval; every daemon polling every clock would be {args.daemons}x that)"
    )
    print(f"polls per daemon: {r['per_daemon']}")
    print(
        f"statements per poll: {r['lock_per_poll']:.1f} on the lock connection (take, fence, "
        f"pings), {r['other_per_poll']:.1f} on the others"
    )
    print(
        f"database transactions/s: {r['idle_tps']:.1f} with the daemons idle (coordination and "
        f"their periodic jobs), {r['poll_tps']:.1f} while polling"
    )
    if t:
        print(
            f"takeover after SIGKILL: {len(t)}/{r['takeover_devices']} clocks polled again; "
            f"median {statistics.median(t):.1f} s, max {max(t):.1f} s (bound 30 s)"
        )
    else:
        print(f"takeover after SIGKILL: none of {r['takeover_devices']} clocks polled again")
    print(f"peak RSS per daemon (MiB): {[round(k / 1024) for k in r['rss_kb']]}")
    print(f"load average: {r['load'][0]:.2f} {r['load'][1]:.2f} {r['load'][2]:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--daemons", type=int, default=3)
    ap.add_argument("--devices", type=int, default=300)
    ap.add_argument("--poll-seconds", type=float, default=60.0)
    ap.add_argument("--window", type=float, default=60.0)
    ap.add_argument("--idle", type=float, default=20.0)
    ap.add_argument("--probe", type=int, default=20, help="in-process polls counted")
    ap.add_argument("--db", default="postgresql")
    args = ap.parse_args()
    for db in args.db.split(","):
        env_names = DEFAULTS.get(db)
        if env_names is None:
            raise SystemExit(f"--db: postgresql or mysql, not {db!r}")
        raw = next((os.environ[e] for e in env_names if os.environ.get(e)), None)
        if raw is None:
            raise SystemExit(f"set ${env_names[0]} (a server the bench may create a database on)")
        server = make_url(raw)
        database = f"punchd_bench_{secrets.token_hex(4)}"
        admin = create_engine(server, isolation_level="AUTOCOMMIT")
        workdir = Path(tempfile.mkdtemp(prefix=f"punchd-bench-cluster-{db}-"))
        try:
            with admin.connect() as conn:
                conn.execute(text(f"CREATE DATABASE {database}"))
            url = server.set(database=database).render_as_string(hide_password=False)
            show(bench(db, url, args, workdir), args)
        finally:
            drop = f"DROP DATABASE IF EXISTS {database}"
            with admin.connect() as conn:
                conn.execute(text(drop + (" WITH (FORCE)" if db == "postgresql" else "")))
            admin.dispose()
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
