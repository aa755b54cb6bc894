"""Anviz benchmark: 50,000 punches over a pty and over TCP.

    .venv/bin/python bench/anviz.py [--punches 50000] [--line-rate BAUD]

The simulator runs in its own process (``punchd simulate anviz``), so that it does not
compete with the collector for the GIL. For each line (pty, TCP) it measures, in this
process:
  * read:    the driver alone — connect, counts, download of every new record in packets of
             25, no database, no clear;
  * collect: ``collect_device`` into an empty SQLite file — device info, clock, download,
             dedup, insert, commit, clear of the new flags, run bookkeeping.
and prints punches/s and how the wall time splits between waiting for the line (blocked in
the transport's read: the wire plus the simulator's own work) and punchd's own code
(framing, CRC, parsing, Punch objects, database). ``--line-rate 9600`` paces the simulator
like a real serial line (then 50,000 punches take about 13 minutes: use fewer).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from punchd.collector.collect import collect_device
from punchd.drivers.anviz.driver import AnvizConfig, AnvizDriver
from punchd.drivers.anviz.transport import Transport
from punchd.storage.database import make_engine, upgrade

made: list[Transport] = []
_make = AnvizDriver.make_transport


def _recording_make_transport(self: AnvizDriver) -> Transport:
    transport = _make(self)
    made.append(transport)
    return transport


AnvizDriver.make_transport = _recording_make_transport  # type: ignore[method-assign]


@contextmanager
def simulator(args: list[str]) -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "punchd", "simulate", "anviz", *args],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def driver_read(cfg: AnvizConfig) -> tuple[float, float, int]:
    started = time.perf_counter()
    with AnvizDriver(cfg) as d:
        n = len(d.punches())
    total = time.perf_counter() - started
    return total, made[-1].waited, n


def collect(cfg: AnvizConfig, db: Path) -> tuple[float, float, int]:
    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    started = time.perf_counter()
    result = collect_device(engine, cfg)
    total = time.perf_counter() - started
    engine.dispose()
    assert result.ok and result.cleared, result.error
    return total, made[-1].waited, result.records_new


def row(line: str, phase: str, total: float, waited: float, n: int) -> str:
    own = total - waited
    return (
        f"{line:4} {phase:22} {total:8.3f} s {n / total:10,.0f} /s "
        f"{100 * own / total:8.1f} % {100 * waited / total:8.1f} %"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--punches", type=int, default=50_000)
    ap.add_argument("--line-rate", type=int, default=None, help="pace the simulator (baud)")
    args = ap.parse_args()
    extra = ["--punches", str(args.punches), "--seed", "3"]
    if args.line_rate:
        extra += ["--line-rate", str(args.line_rate)]

    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        link = Path(tmp) / "ttyANVIZ"
        with simulator(["--pty", str(link), "--ids", "1", *extra]):
            cfg = AnvizConfig(name="bench-pty", device_id=1, port=str(link), timeout=30)
            lines.append(row("pty", "read (driver, no DB)", *driver_read(cfg)))
            lines.append(row("pty", "collect → SQLite", *collect(cfg, Path(tmp) / "pty.db")))
            pty_name = os.path.realpath(link)
        with simulator(["--tcp", "0", "--ids", "1", *extra]) as banner:
            match = re.search(r"tcp://127\.0\.0\.1:(\d+)", banner)
            assert match, banner
            cfg = AnvizConfig(
                name="bench-tcp", device_id=1, host="127.0.0.1", tcp_port=int(match[1]), timeout=30
            )
            lines.append(row("tcp", "read (driver, no DB)", *driver_read(cfg)))
            lines.append(row("tcp", "collect → SQLite", *collect(cfg, Path(tmp) / "tcp.db")))

    pace = f"paced at {args.line_rate} baud" if args.line_rate else "unpaced"
    print(
        f"punches {args.punches:,} per run (packets of 25), simulator in its own process, "
        f"{pace}; pty {pty_name}"
    )
    print(
        f"{'line':4} {'phase':22} {'time':>10} {'punches/s':>13} {'own code':>10} {'waiting':>10}"
    )
    for text in lines:
        print(text)
    wire = args.punches / 25 * (12 + 9 + 1 + 25 * 14 + 2)  # request + answer per packet
    print(
        f"for scale: the same records over a real 9600 baud line need ≥ {wire * 10 / 9600:,.0f} s "
        f"on the wire alone; at 115200 baud ≥ {wire * 10 / 115200:,.1f} s"
    )


if __name__ == "__main__":
    main()
