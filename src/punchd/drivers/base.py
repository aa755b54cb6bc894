"""The small abstract driver every device family implements.

A driver talks to one device through one connection for one run: ``connect`` →
reads → ``close``. It returns plain data (``records``) and raises ``errors``; it
knows nothing about the database or the scheduler.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator

from punchd.drivers.errors import NotSupported
from punchd.drivers.records import (
    DeviceInfo,
    DeviceUser,
    FingerTemplate,
    Punch,
    PunchRow,
    punch_row,
)

#: ``progress(done, total)`` in driver-defined units (bytes or records).
Progress = Callable[[int, int], None]

#: Default ``max_run_seconds``: a full 200,000-record terminal takes seconds on a LAN and
#: well under a minute over a slow VPN; five minutes leaves a wide margin and still frees
#: the poll slot of a device that drips or floods.
DEFAULT_MAX_RUN_SECONDS = 300.0
#: How many undecodable records a run keeps described for its summary.
UNDECODABLE_EXAMPLES = 5


@dataclass(frozen=True, slots=True)
class AfterCommit:
    """What a driver did to the device once the punches were safely stored."""

    cleared: bool = False
    skipped: str | None = None  # why it did not clear, for the run summary


class PunchBatches:
    """The punches of one read, handed out in batches of :data:`PunchRow` tuples.

    Iterable again and again (a run whose commit fails spools the same read). This one
    wraps a list a driver built; a driver that can decode its raw transfer a batch at a time
    returns a subclass that does (``zk``), so a large read never exists as Python objects
    all at once."""

    def __init__(self, punches: Sequence[Punch]) -> None:
        self._punches = punches

    def batches(self, size: int) -> Iterator[list[PunchRow]]:
        """The punches, in device order, ``size`` at a time."""
        punches = self._punches
        for start in range(0, len(punches), size):
            yield [punch_row(p) for p in punches[start : start + size]]


def known_zone(value: str | None) -> str | None:
    """``value`` if it names an IANA time zone (or is None); else a ValueError saying so."""
    if value is not None:
        from zoneinfo import ZoneInfo

        try:
            ZoneInfo(value)
        except (ValueError, KeyError, OSError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name)") from None
    return value


class DeviceConfig(BaseModel):
    """Settings shared by every device; drivers subclass it with their own fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64)
    driver: str
    timezone: str | None = None  # IANA name; None: the site's (settings.timezone)
    timeout: float = Field(default=10.0, gt=0)
    clear_after_collect: bool = False
    enabled: bool = True
    #: how often the daemon polls it: "5m"-style or a cron expression; None: the default
    #: (checked by the settings, which own the schedule grammar)
    poll_every: str | None = None
    #: overall deadline of one run (connect to re-enable), whatever the device sends; the
    #: per-read ``timeout`` alone cannot stop a device that answers slowly but never stops
    max_run_seconds: float = Field(default=DEFAULT_MAX_RUN_SECONDS, gt=0, le=86_400)
    #: who ``punchd enrol`` puts on this clock: "all" employees, those of these department
    #: codes (and the departments below them), or "none" (the default: enrolment leaves
    #: the clock alone until a site opts in)
    enrol: Literal["all", "none"] | tuple[str, ...] = "none"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        return known_zone(value)

    @field_validator("enrol", mode="before")
    @classmethod
    def _enrol_spec(cls, value: object) -> object:
        if isinstance(value, str):
            if value not in ("all", "none"):
                raise ValueError(f'"all", "none" or a list of department codes, not {value!r}')
            return value
        if not isinstance(value, (list, tuple)):
            raise ValueError('"all", "none" or a list of department codes')
        codes: list[str] = []
        for code in value:
            if not isinstance(code, str) or not code.strip():
                raise ValueError(f"department codes are non-blank text, not {code!r}")
            if code.strip() in codes:
                raise ValueError(f"the department {code.strip()!r} is listed twice")
            codes.append(code.strip())
        if not codes:
            raise ValueError('an empty list enrols nobody; write enrol = "none"')
        return tuple(codes)

    def address(self) -> str:
        """Human-readable address for tables and messages."""
        return "-"


def _always() -> bool:
    return True


class Driver(ABC):
    """One device, one connection. Use as a context manager."""

    #: the name used in configuration (``driver = "zk"``)
    name: ClassVar[str]
    #: the pydantic model validating this driver's ``[[devices]]`` entries
    config_model: ClassVar[type[DeviceConfig]]
    #: ``hold()`` really disables the device (people cannot punch until it is re-enabled)
    disables_device: ClassVar[bool] = False
    #: a collection reads the user list too (cheap on a network clock; on a serial card
    #: clock it would cost minutes a run, and every record carries its user code anyway)
    users_with_punches: ClassVar[bool] = True

    def __init__(self, config: DeviceConfig) -> None:
        self.config = config
        #: ``time.monotonic()`` value by which the run must be over (set by the collector);
        #: drivers that can, stop waiting for the device then (``RunDeadline``)
        self.deadline: float | None = None
        #: records of the last ``punches()`` that could not be decoded (skipped), and a
        #: description of the first few, for the run summary
        self.undecodable = 0
        self.undecodable_examples: list[str] = []
        #: the last ``hold()`` could not re-enable the device
        self.left_disabled = False
        #: asked before the driver opens a fresh session on its own (to re-enable the device
        #: after a broken one): False when another collector may be talking to the device
        #: now (set by the collector from its hold; default: always)
        self.may_reopen: Callable[[], bool] = _always

    def note_undecodable(self, description: str) -> None:
        """Count one record ``punches()`` skipped because it does not decode."""
        self.undecodable += 1
        if len(self.undecodable_examples) < UNDECODABLE_EXAMPLES:
            self.undecodable_examples.append(description)

    @abstractmethod
    def connect(self) -> None:
        """Open the connection (and authenticate)."""

    @abstractmethod
    def close(self) -> None:
        """Close the connection; never raises."""

    @abstractmethod
    def device_info(self) -> DeviceInfo: ...

    @abstractmethod
    def users(self) -> list[DeviceUser]: ...

    @abstractmethod
    def punches(
        self, progress: Progress | None = None, *, all_records: bool = False
    ) -> list[Punch]:
        """The device's attendance records, in device order.

        Devices that keep a "new record" mark return only unmarked-new records unless
        ``all_records`` (a recovery re-read); devices without one always return all.
        """

    def read_punches(
        self, progress: Progress | None = None, *, all_records: bool = False
    ) -> PunchBatches:
        """:meth:`punches` for the collector: the same read, handed out in batches.
        Undecodable records are counted (``undecodable``) once the batches have been
        gone through."""
        return PunchBatches(self.punches(progress, all_records=all_records))

    @abstractmethod
    def get_time(self) -> datetime:
        """The device clock as naive local time."""

    @abstractmethod
    def set_time(self, when: datetime) -> None: ...

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Keep people from punching while punches are read, stored and cleared.

        Devices that can be locked override this, must unlock in ``finally`` and set
        ``left_disabled`` when unlocking failed.
        """
        yield

    def ensure_enabled(self) -> None:  # noqa: B027 - optional hook, nothing to undo here
        """Enable the device (for devices ``hold()`` disables): undo a killed run's lock."""

    # -- people on the clock (``punchd enrol``) -----------------------------------------
    def write_user(self, user: DeviceUser) -> None:
        """Enrol ``user`` on the device, or change the one with its enrol number (name,
        card, privilege). Drivers that can override this; CapacityFull when the device
        holds no more users, CommandRefused when it answers with its error reply."""
        raise NotSupported(f"{self.config.name}: driver {self.name!r} cannot write users")

    def delete_user(self, enroll_no: str) -> None:
        """Remove the user with ``enroll_no`` from the device (call :meth:`users` first)."""
        raise NotSupported(f"{self.config.name}: driver {self.name!r} cannot remove users")

    def fit_name(self, name: str) -> str:
        """``name`` as the device would keep it (cut to its field): what a later
        :meth:`users` gives back, so an unchanged person is not planned as a change."""
        return name

    def template_format(self) -> str | None:
        """The fingerprint algorithm version of the device (ZK ``~ZKFPVersion``): templates
        travel only between devices of one version. None: the device does not say."""
        return None

    def templates(self) -> list[FingerTemplate]:
        """Every fingerprint template on the device (call :meth:`users` first)."""
        raise NotSupported(f"{self.config.name}: driver {self.name!r} cannot read templates")

    def write_templates(self, user: DeviceUser, templates: Sequence[FingerTemplate]) -> None:
        """Store ``templates`` for ``user`` (on the device already, as it holds them) on the
        device; other fingers of the user stay. CapacityFull when the device holds no more
        templates, CommandRefused when it answers with its error reply."""
        raise NotSupported(f"{self.config.name}: driver {self.name!r} cannot write templates")

    def users_written(self) -> None:  # noqa: B027 - optional hook
        """After a batch of :meth:`write_user` / :meth:`delete_user`: make the device use
        them (ZK: refresh its data)."""

    def record_count(self) -> int:
        """Number of attendance records on the device now."""
        info = self.device_info()
        if info.record_count is None:
            raise NotSupported(f"{self.config.name}: device does not report its record count")
        return info.record_count

    def clear_punches(self) -> None:
        """Delete every attendance record on the device (optional)."""
        raise NotSupported(f"{self.config.name}: driver {self.name!r} cannot clear punches")

    def after_commit(self, read: int) -> AfterCommit:
        """Called once the ``read`` punches of this run are committed to the database.

        The default: with ``clear_after_collect``, clear the device only if its record
        count, re-read now, still equals what was read (nothing arrived since). Drivers
        whose devices mark records as collected override this to mark exactly ``read``.
        """
        if not self.config.clear_after_collect:
            return AfterCommit()
        count = self.record_count()
        if count != read:
            return AfterCommit(
                skipped=f"not cleared: the device now holds {count} records but {read} were "
                "read; they will be collected next run"
            )
        self.clear_punches()
        return AfterCommit(cleared=True)

    def __enter__(self) -> Self:
        self.connect()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
