"""The foreground Anviz simulator of ``punchd simulate anviz``: generated clocks on a pty or
TCP until SIGINT/SIGTERM."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterable

from punchd.drivers.anviz.simulator.faults import Fault
from punchd.drivers.anviz.simulator.server import AnvizSimulator

__all__ = ["serve"]


def serve(
    *,
    pty: str | None = None,
    tcp: int | None = None,
    host: str = "127.0.0.1",
    ids: Iterable[int] = (1,),
    punches: int = 1000,
    seed: int = 0,
    card: bool = False,
    faults: Iterable[str | Fault] = (),
    line_rate: int | None = None,
) -> None:
    """Run a simulator in the foreground until SIGINT/SIGTERM (``punchd simulate anviz``).

    Prints one line naming the pty (and the device behind the link) or the TCP address, the
    ids and the counts."""
    if (pty is None) == (tcp is None):
        raise ValueError("give exactly one of --pty LINK or --tcp PORT")
    ids = list(ids)
    sim = AnvizSimulator(
        ids, punches, seed=seed, faults=list(faults), card=card, line_rate=line_rate
    )
    stop = threading.Event()
    previous: dict[int, object] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, lambda *_: stop.set())
    try:
        with sim:
            if pty is not None:
                path = sim.open_pty(pty)
                where = f"pty {path} -> {os.path.realpath(path)}"
            else:
                assert tcp is not None
                where = f"tcp://{host}:{sim.listen_tcp(host, tcp)}"
            fault_text = ",".join(str(x) for x in sim.faults) or "none"
            print(
                f"punchd anviz simulator on {where} ids={','.join(map(str, ids))} "
                f"punches={punches} each user_code={'card' if card else 'enroll'} "
                f"faults={fault_text}",
                flush=True,
            )
            stop.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
