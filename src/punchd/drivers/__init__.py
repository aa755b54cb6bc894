"""Device drivers: a small abstract base, a registry and one package per family."""

from punchd.drivers.base import AfterCommit, DeviceConfig, Driver, Progress
from punchd.drivers.errors import (
    AuthenticationRefused,
    DeviceBusy,
    DeviceUnreachable,
    DriverError,
    NotSupported,
    RunDeadline,
    TransferBroken,
    TransferTimeout,
    TransferTooLarge,
)
from punchd.drivers.records import DeviceInfo, DeviceUser, Punch, PunchState
from punchd.drivers.registry import available, get_driver

__all__ = [
    "AfterCommit",
    "AuthenticationRefused",
    "DeviceBusy",
    "DeviceConfig",
    "DeviceInfo",
    "DeviceUnreachable",
    "DeviceUser",
    "Driver",
    "DriverError",
    "NotSupported",
    "Progress",
    "Punch",
    "PunchState",
    "RunDeadline",
    "TransferBroken",
    "TransferTimeout",
    "TransferTooLarge",
    "available",
    "get_driver",
]
