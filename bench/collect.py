"""Collection benchmark: bare pyzk read vs a full punchd collection into SQLite.

    .venv/bin/python bench/collect.py [--punches 100000] [--users 1000]

Starts the ZK simulator on loopback TCP and measures, in this one process:
  * bare: unmodified pyzk 0.9 ``connect`` + ``get_attendance`` (what any tool built on pyzk pays)
  * first: ``collect_device`` into an empty SQLite file (connect, device info, clock,
    users, attendance, dedup, insert, commit, run bookkeeping)
  * again: the same collection once more, storing 0 new punches
and prints the ratios punchd / bare (targets: first ≤ 1.5, again ≤ 1.2).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import time
from pathlib import Path

from zk import ZK

from punchd.collector.collect import collect_device
from punchd.drivers.zk.driver import ZKConfig, ZKDriver
from punchd.drivers.zk.simulator import ZKSimulator, generate
from punchd.storage.database import make_engine, upgrade


def bare_pyzk(port: int, key: int) -> tuple[float, int]:
    started = time.perf_counter()
    conn = ZK("127.0.0.1", port=port, timeout=60, password=key, ommit_ping=True).connect()
    try:
        records = conn.get_attendance()
    finally:
        conn.disconnect()
    return time.perf_counter() - started, len(records)


def driver_read(cfg: ZKConfig) -> tuple[float, int]:
    started = time.perf_counter()
    with ZKDriver(cfg) as d:
        n = len(d.punches())
    return time.perf_counter() - started, n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--punches", type=int, default=100_000)
    ap.add_argument("--users", type=int, default=1_000)
    ap.add_argument("--profile", action="store_true", help="print where the first run spends")
    args = ap.parse_args()

    key = 4242
    users, punches = generate(users=args.users, punches=args.punches, seed=1)
    with (
        tempfile.TemporaryDirectory() as tmp,
        ZKSimulator(port=0, comm_key=key, users=users, punches=punches, record_size=40) as sim,
    ):
        cfg = ZKConfig(
            name="bench", driver="zk", host="127.0.0.1", port=sim.port, comm_key=key, timeout=60
        )
        engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        upgrade(engine)

        bare, n_bare = bare_pyzk(sim.port, key)
        read, n_read = driver_read(cfg)
        prof = cProfile.Profile() if args.profile else None
        if prof:
            prof.enable()
        t0 = time.perf_counter()
        first = collect_device(engine, cfg)
        first_s = time.perf_counter() - t0
        if prof:
            prof.disable()
        t0 = time.perf_counter()
        again = collect_device(engine, cfg)
        again_s = time.perf_counter() - t0
        assert first.ok and again.ok, (first.error, again.error)
        assert n_bare == n_read == first.records_new == args.punches and again.records_new == 0

    print(f"punches {args.punches:,}, users {args.users:,}, ZK simulator over loopback TCP")
    print(f"bare pyzk get_attendance          {bare:7.3f} s")
    print(f"punchd driver read only (no DB)   {read:7.3f} s   ratio {read / bare:5.2f}")
    print(
        f"punchd first collection → SQLite  {first_s:7.3f} s   ratio {first_s / bare:5.2f}"
        "   (target ≤ 1.5)"
    )
    print(
        f"punchd re-collection, 0 new       {again_s:7.3f} s   ratio {again_s / bare:5.2f}"
        "   (target ≤ 1.2)"
    )
    if prof:
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    main()
