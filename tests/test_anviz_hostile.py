"""Anviz clocks that never stop sending but never finish — a byte at a time, noise before
every answer, answers that always fail their CRC — over a real pty pair and TCP, collected
into a real database: the run ends at ``max_run_seconds`` with ``timeout``, stores and clears
nothing, and the clock collects completely once the line is fixed. Time is asserted only
loosely: far below what the per-answer timeout and retries alone would allow."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from punchd.collector.collect import RunResult, collect_device
from punchd.drivers.anviz.client import DeadlinePassed, time_left
from punchd.drivers.anviz.driver import AnvizConfig, AnvizDriver
from punchd.drivers.anviz.simulator import AnvizSimulator
from punchd.drivers.anviz.transport import bus_lock
from punchd.drivers.errors import RunDeadline
from punchd.storage import schema

from .helpers.anviz import Line, Where

PUNCHES = 300


def clock(where: Where, **kw: Any) -> AnvizConfig:
    cfg: dict[str, Any] = {"name": "door-1", "driver": "anviz", "device_id": 1, **where}
    cfg.update(kw)
    return AnvizConfig(**cfg)


def punch_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(schema.att_punch)).scalar_one()


def run_row(engine: Engine, run_id: int | None) -> tuple:
    t = schema.att_collection_run
    with engine.connect() as conn:
        row = conn.execute(
            select(t.c.status, t.c.error_kind, t.c.records_new).where(t.c.id == run_id)
        ).one()
    return tuple(row)


def assert_cut_off(engine: Engine, sim: AnvizSimulator, result: RunResult, limit: float) -> None:
    """Failed with ``timeout`` at the deadline; nothing stored, no flag cleared."""
    assert (result.status, result.error_kind) == ("failed", "timeout"), result
    assert f"max_run_seconds = {limit:g} s" in (result.error or ""), result.error
    assert "door-1" in (result.error or "")
    assert punch_count(engine) == 0
    assert sim.device(1).new == PUNCHES and sim.device(1).clears == []
    assert run_row(engine, result.run_id) == ("failed", "timeout", 0)


# Each attack, left to the per-answer timeout (30 s) and retries alone, holds the run for
# minutes: a 29-byte answer dripped at 0.5 s takes 14 s and device info alone asks for four;
# noise for 60 s makes every attempt wait the whole 30 s (x 4 attempts, per request); an
# answer dripped at 0.05 s that always fails its CRC is asked for 11 times (15 s) before
# the run would fail as corrupt.
ATTACKS = pytest.mark.parametrize(
    ("faults", "retries"),
    [(["drip:0.5"], 3), (["noise:60"], 3), (["crc:1", "drip:0.05"], 10)],
    ids=["drip", "noise", "bad-crc-asked-again"],
)


@ATTACKS
def test_a_clock_that_never_finishes_is_cut_off_at_max_run_seconds(
    engine: Engine, line: Line, faults: list[str], retries: int
) -> None:
    sim, where = line(ids=[1], punches=PUNCHES, faults=faults)
    device = clock(where, timeout=30, retries=retries, max_run_seconds=2)
    started = time.monotonic()
    result = collect_device(engine, device)
    took = time.monotonic() - started
    sim.faults = []  # the line is fixed
    assert_cut_off(engine, sim, result, 2)
    assert took < 2 + 8, took  # loose; without the deadline: minutes
    assert sim.fault_hits[faults[-1].split(":")[0]] >= 1
    if "crc:1" in faults:
        assert sim.requests >= 2, "the corrupt answer was asked for again"
    fixed = collect_device(engine, device.model_copy(update={"timeout": 2.0}))
    assert fixed.ok, fixed.error
    assert (fixed.records_new, fixed.cleared) == (PUNCHES, True)
    assert punch_count(engine) == PUNCHES and sim.device(1).new == 0


def test_a_healthy_clock_collects_well_within_its_deadline(engine: Engine, line: Line) -> None:
    sim, where = line(ids=[1], punches=2_000, faults=["split:0.0005", "crc:7"])
    device = clock(where, timeout=2, max_run_seconds=60)
    result = collect_device(engine, device)
    assert result.ok, result.error
    assert (result.records_read, result.records_new, result.cleared) == (2_000, 2_000, True)
    assert punch_count(engine) == 2_000 and sim.device(1).new == 0
    again = collect_device(engine, device)
    assert again.ok and (again.records_read, again.records_new) == (0, 0)


def test_waiting_for_a_busy_port_ends_at_the_deadline(engine: Engine, ptys, sims) -> None:
    # Another clock on the same RS-485 bus is being polled (holds the port's lock) for
    # longer than this run may last: this run gives up at its own deadline, not bus_wait.
    sim = AnvizSimulator(ids=[1, 2], punches=PUNCHES)
    sims.append(sim)
    master, path = ptys()
    sim.serve_fd(master)
    device = clock({"port": path}, max_run_seconds=1.5, bus_wait=300)
    holding, release = threading.Event(), threading.Event()

    def door_2() -> None:
        with bus_lock(device.bus(), "door-2", 1):
            holding.set()
            release.wait(30)

    other = threading.Thread(target=door_2)
    other.start()
    try:
        assert holding.wait(10)
        started = time.monotonic()
        result = collect_device(engine, device)
        took = time.monotonic() - started
    finally:
        release.set()
        other.join(10)
    assert_cut_off(engine, sim, result, 1.5)
    assert "still in use by device 'door-2'" in (result.error or "")
    assert took < 1.5 + 8, took
    assert sim.requests == 0


def test_no_request_goes_out_after_the_deadline_but_the_clear_gets_a_grace(line: Line) -> None:
    sim, where = line(ids=[1], punches=PUNCHES)
    driver = AnvizDriver(clock(where, timeout=2))
    driver.deadline = time.monotonic() + 60
    with driver:
        punches = driver.punches()
        assert len(punches) == PUNCHES
        driver.deadline = time.monotonic() - 1  # the commit took the rest of the run
        done = driver.after_commit(len(punches))  # stored: the flags may still be cleared
        assert done.cleared and done.skipped is None
        assert sim.device(1).new == 0 and sim.device(1).clears == [(2, PUNCHES)]
        asked = sim.requests
        with pytest.raises(RunDeadline, match=r"read device clock: the run took longer"):
            driver.get_time()
        assert sim.requests == asked, "a request was sent after the deadline"


def test_time_left() -> None:
    assert time_left(None, 7.5) == 7.5
    assert time_left(time.monotonic() + 3600, 7.5) == 7.5
    assert 0 < time_left(time.monotonic() + 1, 7.5) <= 1
    with pytest.raises(DeadlinePassed):
        time_left(time.monotonic() - 0.001, 7.5)


def test_a_serial_clocks_default_deadline_fits_a_full_download_at_its_line_speed() -> None:
    def deadline(**kw: Any) -> float:
        return AnvizConfig(name="c", driver="anviz", device_id=1, **kw).max_run_seconds

    slow = deadline(port="/dev/ttyS0")  # 9600 baud: about 64 records/s
    assert slow >= 100_000 / 64  # a full clock's download fits
    assert deadline(port="/dev/ttyS0", baudrate=19200) < slow
    assert deadline(port="/dev/ttyS0", baudrate=115200) == 300  # never below the default
    assert deadline(host="192.0.2.1") == 300  # TCP: the line speed is not the limit
    assert deadline(port="/dev/ttyS0", max_run_seconds=5) == 5  # a setting always wins
