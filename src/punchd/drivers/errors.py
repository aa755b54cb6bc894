"""Driver failures, one class per cause HR and admins need to tell apart.

Messages name the device and what happened; they never contain a comm key.
"""

from __future__ import annotations


class DriverError(Exception):
    """Base of every driver failure."""

    reason = "error"


class DeviceUnreachable(DriverError):
    """Nothing answered at the configured address."""

    reason = "unreachable"


class AuthenticationRefused(DriverError):
    """The device refused the comm key / password."""

    reason = "auth_refused"


class TransferTimeout(DriverError):
    """The device stopped answering in the middle of a conversation."""

    reason = "timeout"


class TransferBroken(DriverError):
    """The connection dropped or the device sent something we cannot use."""

    reason = "transfer_broken"


class TransferTooLarge(TransferBroken):
    """The device announced (or sent) more data than its own counts make plausible, or
    more than the configured ceiling: refused before it is read."""


class RunDeadline(TransferTimeout):
    """The run went past its overall deadline (``max_run_seconds``)."""


class DeviceBusy(DriverError):
    """Another client (e.g. a vendor program) holds the device."""

    reason = "busy"


class NotSupported(DriverError):
    """The driver or device cannot do the requested operation."""

    reason = "not_supported"


class CapacityFull(DriverError):
    """The device holds as many users as it can: a new one is refused."""

    reason = "capacity_full"


class CommandRefused(DriverError):
    """The device answered a change (write or delete a user) with its error reply."""

    reason = "refused"
