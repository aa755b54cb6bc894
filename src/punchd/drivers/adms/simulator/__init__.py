"""Virtual ZKTeco push clocks (ADMS / iclock HTTP clients) for tests and benches.

``data`` makes users and punches, ``faults`` the field faults they can show (in the grammar
shared with the ZK and Anviz simulators), ``client`` the devices (``PushClock``, a fleet of
them ``PushFleet``), ``cli`` the foreground ``run_fleet`` behind ``punchd simulate adms``.
"""

from punchd.drivers.adms.simulator.cli import run_fleet
from punchd.drivers.adms.simulator.client import BATCH, ClockCounters, PushClock, PushFleet
from punchd.drivers.adms.simulator.data import SimPunch, SimUser, generate
from punchd.drivers.adms.simulator.faults import Fault, parse_fault

__all__ = [
    "BATCH",
    "ClockCounters",
    "Fault",
    "PushClock",
    "PushFleet",
    "SimPunch",
    "SimUser",
    "generate",
    "parse_fault",
    "run_fleet",
]
