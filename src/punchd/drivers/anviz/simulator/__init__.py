"""Anviz TC_B card clocks on a pty (a serial line) or TCP, speaking the protocol byte for byte.

``data`` makes the records (``SimDevice`` is one clock), ``faults`` the faults it can inject
(in the grammar shared with the ZK simulator, ``punchd.drivers.testing.faults``), ``lines``
the line ends (pty, TCP), ``server`` the devices on one line (``AnvizSimulator``: commands,
the bus), ``cli`` the foreground ``serve`` behind ``punchd simulate anviz``.
"""

from punchd.drivers.anviz.simulator.cli import serve
from punchd.drivers.anviz.simulator.data import SimDevice, generate_records
from punchd.drivers.anviz.simulator.faults import Fault, parse_fault
from punchd.drivers.anviz.simulator.server import AnvizSimulator

__all__ = [
    "AnvizSimulator",
    "Fault",
    "SimDevice",
    "generate_records",
    "parse_fault",
    "serve",
]
