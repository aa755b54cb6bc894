"""The collector's own failures: not the device's fault, so not driver errors.

A collection run records every failure as ``error_kind`` (the ``reason``) and a message on its
``att_collection_run`` row, whether it came from the driver (:class:`punchd.drivers.DriverError`)
or from here; code that records run failures catches both families.
"""

from __future__ import annotations

from punchd.errors import PunchdError


class CollectionError(PunchdError):
    """Base of the collector's failures; ``reason`` is what a run records as ``error_kind``."""

    reason = "error"


class DeviceLeased(CollectionError):
    """Another collector holds the device and did not let go in time."""

    reason = "leased"


class Cancelled(CollectionError):
    """The run was asked to stop (daemon shutdown) before it stored anything."""

    reason = "cancelled"


class NoDevices(CollectionError):
    """Nothing to collect from: no device configured (or enabled)."""


class DeviceFailed(CollectionError):
    """A deliberate device operation (``set-time``) failed at the device; the message is the
    driver's, scrubbed."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class LeaseLost(CollectionError):
    """The run no longer holds the device (its lock connection ended, or another collector
    took the device over): it stops talking to the device, stores nothing more and changes
    nothing on it."""

    reason = "lease_lost"
