"""Types of the Anviz ``line`` fixture (conftest): a simulator and the keys that reach it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from punchd.drivers.anviz.simulator import AnvizSimulator

#: config keys that reach a simulator: ``{"port": pty}`` or ``{"host": …, "tcp_port": …}``
Where = dict[str, Any]
#: ``line(*simulator_args) -> (simulator, where)``
Line = Callable[..., tuple[AnvizSimulator, Where]]
