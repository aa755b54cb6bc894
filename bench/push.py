"""Push receiver benchmark: one ``punchd run`` daemon, 500 push clocks heartbeating, a punch
stream on top, into SQLite and into PostgreSQL.

    .venv/bin/python bench/push.py [--devices 500] [--stream-clocks 40] [--stream-punches 4000]
                                   [--heartbeat-seconds 30] [--db sqlite,postgresql]

Per database, one ``punchd run`` subprocess with ``[push] listen`` on loopback and every clock
configured, then:

* heartbeat phase: ``--devices`` simulated clocks (``PushFleet``, a thread each, in a child
  process of their own) handshake, post their users, and poll ``getrequest`` every Delay
  (10 s), their starts spread over one Delay as a site's clocks are; each poll is timed on the
  client side (request sent to reply read);
* stream phase: the heartbeats go on while ``--stream-clocks`` more clocks (another child
  process) upload ``--stream-punches`` records each, in 128-record ATTLOG batches, as fast as
  the daemon acknowledges them; rows in ``att_punch`` are counted every 250 ms.

Printed per database: heartbeat latency p50/p99 in each phase, sustained punches/s (from 10 %
to 90 % of the stream's rows), the daemon's CPU share (utime+stime from /proc/<pid>/stat over
the wall time; 100 % = one core) and its peak RSS (VmHWM), and the machine's load average
when the stream started and ended (the clocks, the database and anything else on the machine
share its cores with the daemon). Targets: heartbeat p99 ≤ 50 ms with 500 devices; ≥ 5,000
punches/s into PostgreSQL.

PostgreSQL: ``$PUNCHD_BENCH_POSTGRES_URL`` (default ``$PUNCHD_TEST_POSTGRES_URL``, else
postgresql+psycopg://postgres@127.0.0.1:5432/test) names a server where the bench creates,
and afterwards drops, a database of its own.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from punchd.storage import schema
from punchd.storage.database import make_engine, upgrade

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- the clocks


def heartbeat_clocks(server: str, devices: int, stagger: float, stop, out) -> None:
    """Child process: ``devices`` idle clocks polling every Delay; every poll's
    (wall time at start, seconds taken) sent back through ``out`` when ``stop`` is set."""
    from punchd.drivers.adms.simulator import PushFleet

    fleet = PushFleet(server, devices, users=5, punches=0, prefix="HB", timeout=30)
    timings: list[tuple[float, float]] = []

    def timed(poll):
        def run() -> None:
            began, t0 = time.time(), time.perf_counter()
            poll()
            timings.append((began, time.perf_counter() - t0))

        return run

    for clock in fleet.clocks:
        clock.poll = timed(clock.poll)  # type: ignore[method-assign]
    fleet.start(stagger=stagger)
    stop.wait()
    fleet.stop(timeout=15)
    failures = sum(c.counters.failures for c in fleet.clocks)
    out.send((timings, failures))


def stream_clocks(server: str, clocks: int, punches: int, go, out) -> None:
    """Child process: ``clocks`` clocks with ``punches`` records each, uploading once ``go``
    is set; sends (seconds to catch up, uploads, failures) back."""
    from punchd.drivers.adms.simulator import PushFleet

    fleet = PushFleet(server, clocks, users=200, punches=punches, prefix="ST", seed=7, timeout=60)
    go.wait()
    started = time.perf_counter()
    fleet.start()
    done = fleet.wait_caught_up(3_600)
    elapsed = time.perf_counter() - started
    fleet.stop(timeout=15)
    uploads = sum(c.counters.uploads for c in fleet.clocks)
    failures = sum(c.counters.failures for c in fleet.clocks)
    out.send((done, elapsed, uploads, failures))


# --------------------------------------------------------------------------- the daemon


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def config(port: int, devices: int, stream: int) -> str:
    lines = [
        "[daemon]",
        'poll_every = "1h"',
        "",
        "[push]",
        f'listen = "127.0.0.1:{port}"',
        "delay = 10",
        "error_delay = 5",
        "max_uploads_per_device = 2",
        "reconcile_days = 0",
        "",
    ]
    for prefix, n in (("HB", devices), ("ST", stream)):
        for i in range(1, n + 1):
            serial = f"{prefix}{i:04d}"
            lines += [
                "[[devices]]",
                f'name = "{serial.lower()}"',
                'driver = "adms"',
                f'serial = "{serial}"',
                'timezone = "Asia/Shanghai"',
                "",
            ]
    return "\n".join(lines)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14, 15)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"punchd run exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("punchd run did not listen in time")


def count_rows(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(schema.att_punch)).scalar_one()


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Figures:
    db: str
    hb_idle: list[float]
    hb_stream: list[float]
    hb_failures: int
    rate: float
    overall_rate: float
    rows: int
    stream_seconds: float
    uploads: int
    stream_failures: int
    cpu_idle: float
    cpu_stream: float
    cpu_all: float
    rss_mb: float
    load: tuple[float, float]  # 1-minute load average when the stream started, ended


def bench(db: str, url: str, args: argparse.Namespace, workdir: Path) -> Figures:
    engine = make_engine(url)
    upgrade(engine)
    port = free_port()
    (workdir / "punchd.toml").write_text(
        config(port, args.devices, args.stream_clocks), encoding="utf-8"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUNCHD_")}
    env.update(
        PUNCHD_CONFIG=str(workdir / "punchd.toml"),
        PUNCHD_DATABASE_URL=url,
        PUNCHD_DATA_DIR=str(workdir / "data"),
        PUNCHD_LOG_FORMAT="json",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")])),
    )
    log = open(workdir / f"daemon-{db}.log", "wb")  # noqa: SIM115 - closed below
    daemon = subprocess.Popen(
        [sys.executable, "-m", "punchd", "run"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    ctx = mp.get_context("spawn")
    hb_stop, go = ctx.Event(), ctx.Event()
    hb_recv, hb_send = ctx.Pipe(duplex=False)
    st_recv, st_send = ctx.Pipe(duplex=False)
    server = f"http://127.0.0.1:{port}"
    hb = ctx.Process(
        target=heartbeat_clocks, args=(server, args.devices, 10.0, hb_stop, hb_send), daemon=True
    )
    st = ctx.Process(
        target=stream_clocks,
        args=(server, args.stream_clocks, args.stream_punches, go, st_send),
        daemon=True,
    )
    try:
        wait_port(port, daemon)
        started, cpu0 = time.time(), cpu_seconds(daemon.pid)
        hb.start()
        st.start()  # generates its records while the heartbeats settle
        time.sleep(10.0 + 2.0)  # every clock started and past its first poll
        idle_from, cpu_idle0 = time.time(), cpu_seconds(daemon.pid)
        time.sleep(args.heartbeat_seconds)
        stream_from, cpu_stream0 = time.time(), cpu_seconds(daemon.pid)
        load_from = os.getloadavg()[0]
        total = args.stream_clocks * args.stream_punches
        base = count_rows(engine)
        samples: list[tuple[float, int]] = [(time.perf_counter(), 0)]
        go.set()
        while not st_recv.poll(0.25):
            samples.append((time.perf_counter(), count_rows(engine) - base))
            if not st.is_alive() and not st_recv.poll():
                raise SystemExit("the stream process died")
        done, stream_seconds, uploads, stream_failures = st_recv.recv()
        samples.append((time.perf_counter(), count_rows(engine) - base))
        stream_to, cpu_stream1 = time.time(), cpu_seconds(daemon.pid)
        load_to = os.getloadavg()[0]
        rss = peak_rss_mb(daemon.pid)
        hb_stop.set()
        timings, hb_failures = hb_recv.recv()
        cpu_end, ended = cpu_seconds(daemon.pid), time.time()
    finally:
        hb_stop.set()
        go.set()
        for child in (hb, st):
            child.join(20)
            if child.is_alive():
                child.kill()
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(60)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        log.close()
    if not done:
        raise SystemExit(f"{db}: the stream did not catch up")
    rows = samples[-1][1]
    # sustained: the time from 10 % to 90 % of the rows (ramp-up and tail left out)
    t10 = next(t for t, n in samples if n >= 0.1 * total)
    n10 = next(n for t, n in samples if n >= 0.1 * total)
    t90, n90 = next((t, n) for t, n in samples if n >= 0.9 * total)
    final_rows = count_rows(engine) - base
    engine.dispose()
    return Figures(
        db=db,
        hb_idle=[s for at, s in timings if idle_from <= at < stream_from],
        hb_stream=[s for at, s in timings if stream_from <= at < stream_to],
        hb_failures=hb_failures,
        rate=(n90 - n10) / (t90 - t10) if t90 > t10 else float("nan"),
        overall_rate=rows / stream_seconds,
        rows=final_rows,
        stream_seconds=stream_seconds,
        uploads=uploads,
        stream_failures=stream_failures,
        cpu_idle=(cpu_stream0 - cpu_idle0) / (stream_from - idle_from),
        cpu_stream=(cpu_stream1 - cpu_stream0) / (stream_to - stream_from),
        cpu_all=(cpu_end - cpu0) / (ended - started),
        rss_mb=rss,
        load=(load_from, load_to),
    )


def show(f: Figures, args: argparse.Namespace) -> None:
    total = args.stream_clocks * args.stream_punches

    def ms(values: list[float], q: float) -> str:
        return f"{pct(values, q) * 1000:7.1f} ms"

    print(f"--- {f.db}: {args.devices} heartbeating clocks (Delay 10 s) + a punch stream")
    print(
        f"heartbeat latency, heartbeats only   p50 {ms(f.hb_idle, 0.5)}   p99 "
        f"{ms(f.hb_idle, 0.99)}   ({len(f.hb_idle)} polls)   (target p99 ≤ 50 ms)"
    )
    print(
        f"heartbeat latency, during the stream p50 {ms(f.hb_stream, 0.5)}   p99 "
        f"{ms(f.hb_stream, 0.99)}   ({len(f.hb_stream)} polls, max "
        f"{max(f.hb_stream or [0]) * 1000:.0f} ms, {f.hb_failures} failed)"
    )
    target = "   (target ≥ 5,000/s)" if f.db == "postgresql" else ""
    print(
        f"punches ingested: {f.rows:,} of {total:,} from {args.stream_clocks} clocks in 128-record "
        f"batches ({f.uploads:,} uploads, {f.stream_failures} failed)"
    )
    print(
        f"  sustained {f.rate:8,.0f} punches/s (10–90 %){target};  overall {f.overall_rate:,.0f}"
        f"/s over {f.stream_seconds:.1f} s"
    )
    print(
        f"daemon CPU (100 % = one core of {os.cpu_count()}): heartbeats only {f.cpu_idle:5.1%}, "
        f"during the stream {f.cpu_stream:5.1%}, whole run {f.cpu_all:5.1%}"
    )
    print(
        f"daemon peak RSS (VmHWM) {f.rss_mb:.0f} MB;  load average {f.load[0]:.2f} at the "
        f"stream's start, {f.load[1]:.2f} at its end"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--devices", type=int, default=500)
    ap.add_argument("--stream-clocks", type=int, default=40)
    ap.add_argument("--stream-punches", type=int, default=4_000, help="records per stream clock")
    ap.add_argument("--heartbeat-seconds", type=float, default=30.0)
    ap.add_argument("--db", default="sqlite,postgresql")
    args = ap.parse_args()

    results = []
    for db in args.db.split(","):
        workdir = Path(tempfile.mkdtemp(prefix=f"punchd-bench-push-{db}-"))
        admin = database = None
        try:
            if db == "sqlite":
                url = f"sqlite:///{workdir / 'punchd.db'}"
            elif db == "postgresql":
                server = make_url(
                    os.environ.get("PUNCHD_BENCH_POSTGRES_URL")
                    or os.environ.get("PUNCHD_TEST_POSTGRES_URL")
                    or DEFAULT_PG
                )
                database = f"punchd_bench_{secrets.token_hex(4)}"
                admin = create_engine(server, isolation_level="AUTOCOMMIT")
                with admin.connect() as conn:
                    conn.execute(text(f"CREATE DATABASE {database}"))
                url = server.set(database=database).render_as_string(hide_password=False)
            else:
                raise SystemExit(f"--db: sqlite or postgresql, not {db!r}")
            results.append(bench(db, url, args, workdir))
            show(results[-1], args)
        finally:
            if admin is not None:
                with admin.connect() as conn:
                    conn.execute(text(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
                admin.dispose()
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
