"""A ZK attendance terminal on loopback, speaking the ZK protocol byte for byte.

``data`` makes the users and attendance records, ``faults`` the faults it can inject (in the
grammar shared with the Anviz simulator, ``punchd.drivers.testing.faults``), ``server`` is
the terminal (``ZKSimulator``: sessions, commands, TCP/UDP), ``cli`` the foreground
``serve`` behind ``punchd simulate zk``.
"""

from punchd.drivers.zk.simulator.cli import serve
from punchd.drivers.zk.simulator.data import SimPunch, SimUser, generate
from punchd.drivers.zk.simulator.faults import Fault, parse_fault
from punchd.drivers.zk.simulator.server import ZKSimulator

__all__ = [
    "Fault",
    "SimPunch",
    "SimUser",
    "ZKSimulator",
    "generate",
    "parse_fault",
    "serve",
]
