"""Device drivers: a small abstract base, a registry and one package per family."""

from .base import AfterCommit, DeviceConfig, Driver, Progress
from .errors import (
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
from .records import DeviceInfo, DeviceUser, Punch, PunchState
from .registry import available, get_driver

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
