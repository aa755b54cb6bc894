"""The foreground fleet of ``punchd simulate adms``: N push clocks until SIGINT/SIGTERM."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterable

from punchd.drivers.adms.simulator.client import PushClock, PushFleet
from punchd.drivers.adms.simulator.faults import Fault, parse_fault

__all__ = ["run_fleet"]


def _done_line(clock: PushClock) -> str:
    c = clock.counters
    return (
        f"{clock.serial}: all {len(clock.punches)} punches acknowledged "
        f"(uploads {c.uploads}, re-sent {c.resent}, failures {c.failures}, "
        f"commands {c.commands})"
    )


def run_fleet(
    *,
    server: str,
    devices: int = 1,
    punches: int = 1000,
    users: int = 20,
    faults: Iterable[str | Fault] = (),
    delay: float | None = None,
    seed: int = 0,
) -> None:
    """Run ``devices`` push clocks against ``server`` until SIGINT/SIGTERM.

    Prints one line when it starts and one per device when all its punches are
    acknowledged (again after a re-query or new punches).
    """
    fault_list = [parse_fault(f) for f in faults]
    lock = threading.Lock()

    def caught_up(clock: PushClock) -> None:
        with lock:
            print(_done_line(clock), flush=True)

    fleet = PushFleet(
        server,
        devices,
        users=users,
        punches=punches,
        faults=fault_list,
        seed=seed,
        delay=delay,
        on_caught_up=caught_up,
    )
    stop = threading.Event()
    previous: dict[int, object] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, lambda *_: stop.set())
    try:
        print(
            f"punchd adms simulator: {devices} push clock(s) -> {server} "
            f"users={users} punches={punches} "
            f"faults={', '.join(map(str, fault_list)) or 'none'}",
            flush=True,
        )
        with fleet:
            stop.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
