"""The foreground ZK simulator of ``punchd simulate zk``: a generated population served
until SIGINT/SIGTERM."""

from __future__ import annotations

import random
import signal
import threading
from collections.abc import Iterable

from punchd.drivers.zk.simulator.data import generate, live_punch
from punchd.drivers.zk.simulator.faults import Fault, describe
from punchd.drivers.zk.simulator.server import ZKSimulator

__all__ = ["serve"]


def serve(
    *,
    port: int = 4370,
    udp: bool = False,
    users: int = 50,
    punches: int = 1000,
    seed: int = 0,
    comm_key: int = 0,
    record_size: int = 40,
    faults: Iterable[str | Fault] = (),
    punch_every: float | None = None,
    host: str = "127.0.0.1",
) -> None:
    """Run a simulator in the foreground until SIGINT/SIGTERM (``punchd simulate zk``).

    Prints one line with the address, protocol and counts (never the comm key). With
    ``punch_every`` a random user punches every that many seconds (device clock).
    """
    sim_users, sim_punches = generate(users, punches, seed=seed)
    sim = ZKSimulator(
        host,
        port,
        udp=udp,
        comm_key=comm_key,
        record_size=record_size,
        users=sim_users,
        punches=sim_punches,
        faults=list(faults),
    )
    stop = threading.Event()
    previous: dict[int, object] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, lambda *_: stop.set())
    try:
        with sim:
            proto = "udp" if udp else "tcp"
            fault_text = describe(sim.faults)
            print(
                f"punchd zk simulator listening on {proto}://{host}:{sim.port} "
                f"record_size={record_size} users={len(sim_users)} punches={len(sim_punches)} "
                f"comm_key={'set' if comm_key else 'none'} faults={fault_text or 'none'}",
                flush=True,
            )
            rng = random.Random(seed + 1)
            while not stop.wait(punch_every if punch_every else 3600):
                if punch_every and sim_users:
                    sim.add_punches([live_punch(rng, sim_users, sim.device_time())])
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
