"""The ``anviz`` driver: Anviz TC_B card clocks over a serial line (RS-232 / RS-485 bus,
pyserial) or TCP (port 5010).

Incremental collection uses the device's new-record flags, never deletion:

* ``punches()`` reads the record counts (0x3C), then downloads exactly the ``n`` records
  flagged new at that moment (0x40 parameter 2), oldest first, in packets of at most 25; with
  ``all_records`` it downloads all ``t`` records instead (parameter 1). All or nothing.
* ``after_commit()`` — called only once those punches are committed — clears the new flag on
  exactly ``n`` records (0x4E type 2, "the ``n`` oldest new ones"). New records are always the
  newest ones on the device, so the ``n`` oldest new records are the ones read: a punch made
  while the download ran is newer still, keeps its flag and is read next run. With
  ``all_records`` it is the same ``n`` (the new count read *before* that download): those
  ``n`` records were the last ``n`` of the ``t`` downloaded, so they are committed too, and
  anything that arrived since stays new. Before clearing, the new count is read again: if it
  fell below ``n`` another program has been collecting the clock and nothing is cleared.
* "Delete all" (0x4E type 0) is never sent; ``clear_after_collect`` does not apply.

Every wait — for the port's bus lock, the TCP connect, each answer — ends at the run's
``deadline`` (``RunDeadline``), whatever the clock sends; only the flag clear after the commit
gets a short grace past it (``CLEAR_GRACE_SECONDS``).
"""

from __future__ import annotations

import codecs
import contextlib
import dataclasses
import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Literal

import structlog
from pydantic import Field, field_validator, model_validator

from punchd.drivers.anviz import codec
from punchd.drivers.anviz import framer as f
from punchd.drivers.anviz.client import (
    AnvizClient,
    ClientError,
    Corrupt,
    DeadlinePassed,
    NoAnswer,
    Refused,
    ShortDownload,
    time_left,
)
from punchd.drivers.anviz.codec import Record
from punchd.drivers.anviz.transport import (
    BusBusy,
    LinkLost,
    OpenFailed,
    SerialTransport,
    TcpTransport,
    Transport,
    bus_key,
    bus_lock,
)
from punchd.drivers.base import DEFAULT_MAX_RUN_SECONDS, AfterCommit, DeviceConfig, Driver, Progress
from punchd.drivers.errors import (
    CapacityFull,
    CommandRefused,
    DeviceBusy,
    DeviceUnreachable,
    DriverError,
    NotSupported,
    RunDeadline,
    TransferBroken,
    TransferTimeout,
)
from punchd.drivers.records import DeviceInfo, DeviceUser, FingerTemplate, Punch, PunchState

log = structlog.get_logger("punchd.drivers.anviz")

#: the ZK-style privilege a clock administrator is shown with (``DeviceUser.privilege``)
ADMIN_PRIVILEGE = 14
#: user record size by ``user_record``
LAYOUTS = {"ansi": codec.STAFF_ANSI, "unicode": codec.STAFF_UNICODE}

#: attendance state in the low 4 bits of the record type (the specs define 0 and 1)
STATES = {0: PunchState.IN, 1: PunchState.OUT}

#: At most this long (and at most ``timeout``) past the run's deadline to clear the new flags
#: of punches already committed: a run that stored its punches in time also lets the clock
#: forget them, so the next run does not read (and time out on) the same records again.
CLEAR_GRACE_SECONDS = 3.0

_SERIAL_ONLY = ("baudrate", "rs485", "rs485_delay_before_tx", "rs485_delay_before_rx")


#: Records a serial line moves per second at 9600 baud (measured), and the download a
#: default deadline must fit: a full clock, with a minute to spare.
SERIAL_RECORDS_PER_S_AT_9600 = 64
FULL_CLOCK_RECORDS = 100_000


def serial_run_seconds(baudrate: int) -> float:
    """Default ``max_run_seconds`` of a clock on a serial line of ``baudrate``."""
    per_s = SERIAL_RECORDS_PER_S_AT_9600 * baudrate / 9600
    return max(DEFAULT_MAX_RUN_SECONDS, round(60 + FULL_CLOCK_RECORDS / per_s))


class AnvizConfig(DeviceConfig):
    driver: Literal["anviz"] = "anviz"
    device_id: int = Field(ge=1, le=f.MAX_DEVICE_ID, description="the clock's id on its line")
    # exactly one transport
    port: str | None = Field(
        default=None, min_length=1, description="serial device path or pyserial URL"
    )
    host: str | None = Field(default=None, min_length=1, description="TCP address")
    tcp_port: int = Field(default=5010, ge=1, le=65535)
    # serial line
    baudrate: int = Field(default=9600, gt=0, le=4_000_000)
    rs485: bool = False
    rs485_delay_before_tx: float | None = Field(default=None, ge=0, le=1)
    rs485_delay_before_rx: float | None = Field(default=None, ge=0, le=1)
    # records
    user_code: Literal["enroll", "card"] = "enroll"
    # people on the clock (``punchd enrol``): the user record layout of 0x72 / 0x73, "auto"
    # learns it from the clock's own users; the code page of names in the 30-byte layout
    user_record: Literal["auto", "ansi", "unicode"] = "auto"
    name_encoding: str = "latin-1"
    retries: int = Field(default=3, ge=0, le=10)
    bus_wait: float = Field(default=300.0, gt=0)

    @field_validator("name_encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown text encoding {value!r}") from None
        return value

    @model_validator(mode="after")
    def _one_transport(self) -> AnvizConfig:
        if (self.port is None) == (self.host is None):
            raise ValueError(
                "set exactly one of `port` (serial device or pyserial URL, e.g. "
                '"/dev/ttyUSB0" or "socket://gw:4001") or `host` (TCP, with `tcp_port`)'
            )
        given = self.model_fields_set
        if self.host is not None:
            serial_only = [key for key in _SERIAL_ONLY if key in given]
            if serial_only:
                raise ValueError(
                    f"{', '.join(serial_only)}: only for a serial `port`, not with `host`"
                )
        elif "tcp_port" in given:
            raise ValueError(
                "`tcp_port` only applies with `host`; for serial over TCP use "
                'port = "socket://HOST:PORT"'
            )
        if not self.rs485 and (
            self.rs485_delay_before_tx is not None or self.rs485_delay_before_rx is not None
        ):
            raise ValueError("rs485_delay_before_tx/rx need rs485 = true")
        if self.port is not None and "max_run_seconds" not in given:
            # Unless set, the deadline follows the line speed: a whole download of a full
            # clock must fit (it is all or nothing, so a run cut short never progresses).
            object.__setattr__(self, "max_run_seconds", serial_run_seconds(self.baudrate))
        return self

    def address(self) -> str:
        if self.host is not None:
            return f"tcp://{self.host}:{self.tcp_port}#{self.device_id}"
        assert self.port is not None
        if "://" in self.port:
            return f"{self.port}#{self.device_id}"
        return f"serial://{self.port}#{self.device_id}"

    def bus(self) -> str:
        """The key of the line this device shares with others (see ``transport.bus_key``)."""
        return bus_key(self.port, self.host, self.tcp_port)


class AnvizDriver(Driver):
    name = "anviz"
    config_model = AnvizConfig
    config: AnvizConfig
    #: 0x72 pages 25 users at a time: 3,000 users take about 2 minutes at 9600 baud
    users_with_punches = False

    def __init__(self, config: AnvizConfig) -> None:
        super().__init__(config)
        self._session: contextlib.ExitStack | None = None
        self._transport: Transport | None = None
        self._client: AnvizClient | None = None
        self._broken = False
        # set by punches(): how many records were flagged new when it read them, and how
        # many punches it returned; consumed by after_commit()
        self._new_at_read: int | None = None
        self._returned = 0
        #: the client of the last session, kept after close() for its counters
        self.last_client: AnvizClient | None = None
        # set by users(): the clock's user records by user id, and their size (30 / 40)
        self._staff: dict[int, codec.Staff] | None = None
        self._layout: int | None = LAYOUTS.get(config.user_record)
        self._no_staff: str | None = None  # why the clock's users cannot be read (users())

    # -- session ------------------------------------------------------------------------
    def _where(self) -> str:
        return f"{self.config.name} ({self.config.address()})"

    def make_transport(self) -> Transport:
        cfg = self.config
        if cfg.port is not None:
            return SerialTransport(
                cfg.port,
                baudrate=cfg.baudrate,
                rs485=cfg.rs485,
                rs485_delay_before_tx=cfg.rs485_delay_before_tx,
                rs485_delay_before_rx=cfg.rs485_delay_before_rx,
            )
        assert cfg.host is not None
        connect = self._within_run("connect", cfg.timeout)
        return TcpTransport(cfg.host, cfg.tcp_port, connect_timeout=connect)

    def connect(self) -> None:
        """Take the port's lock (devices sharing a port are polled in turn), then open it.
        The lock is held until ``close()``."""
        cfg = self.config
        self._broken = False
        self._new_at_read = None
        session = contextlib.ExitStack()
        try:
            wait = self._within_run("wait for the port", cfg.bus_wait)
            session.enter_context(bus_lock(cfg.bus(), cfg.name, wait))
        except BusBusy as exc:
            self._check_deadline(f"wait for the port ({exc})")
            raise DeviceBusy(f"{self._where()}: {exc}") from None
        try:
            transport = self.make_transport()
            transport.open()
        except OpenFailed as exc:
            session.close()
            self._check_deadline("connect")
            kind = DeviceBusy if exc.busy else DeviceUnreachable
            raise kind(f"{self._where()}: {exc}") from None
        except RunDeadline:
            session.close()
            raise
        session.callback(transport.close)
        self._session = session
        self._transport = transport
        self._client = AnvizClient(
            transport, cfg.device_id, timeout=cfg.timeout, retries=cfg.retries
        )
        self._client.deadline = self.deadline

    def close(self) -> None:
        session, self._session = self._session, None
        if self._client is not None:
            self.last_client = self._client
        self._client = None
        self._transport = None
        if session is not None:
            with contextlib.suppress(Exception):
                session.close()

    @property
    def client(self) -> AnvizClient | None:
        return self._client

    @property
    def transport(self) -> Transport | None:
        return self._transport

    # -- errors -------------------------------------------------------------------------
    def _deadline_error(self, stage: str) -> RunDeadline:
        return RunDeadline(
            f"{self._where()}: {stage}: the run took longer than max_run_seconds = "
            f"{self.config.max_run_seconds:g} s; abandoned"
        )

    def _within_run(self, stage: str, wait: float) -> float:
        """``wait``, cut to what is left of the run (``RunDeadline`` once it is over)."""
        try:
            return time_left(self.deadline, wait)
        except DeadlinePassed:
            raise self._deadline_error(stage) from None

    def _check_deadline(self, stage: str) -> None:
        """``RunDeadline`` if the run's deadline has (all but) passed: a wait that ended
        then was cut by the deadline, not by its own limit."""
        if self.deadline is not None and time.monotonic() >= self.deadline - 0.01:
            raise self._deadline_error(stage)

    @contextlib.contextmanager
    def _talking(self, stage: str, *, deadline: float | None = None) -> Iterator[AnvizClient]:
        """Translate the client's and the transport's failures for ``stage``; every wait in
        it ends at ``deadline`` (default: the run's)."""
        where = self._where()
        client = self._client
        if client is None:
            raise DriverError(f"{where}: not connected")
        if self._broken:
            raise TransferBroken(f"{where}: {stage}: the line was lost earlier in this run")
        client.deadline = self.deadline if deadline is None else deadline
        try:
            yield client
        except DeadlinePassed:
            self._broken = True  # an answer may be half read: the line is out of step
            raise self._deadline_error(stage) from None
        except LinkLost as exc:
            self._broken = True
            if self.config.port is not None:
                raise TransferBroken(
                    f"{where}: {stage}: the serial port vanished (USB adapter unplugged or "
                    f"device server gone?): {exc}"
                ) from None
            raise TransferBroken(f"{where}: {stage}: connection lost: {exc}") from None
        except NoAnswer as exc:
            if not client.answered:
                raise DeviceUnreachable(
                    f"{where}: no answer from device id {self.config.device_id} ({exc}): "
                    "device off, wrong device_id or baudrate, or wiring"
                ) from None
            raise TransferTimeout(
                f"{where}: {stage}: the device stopped answering ({exc})"
            ) from None
        except Corrupt as exc:
            raise TransferBroken(
                f"{where}: {stage}: corrupt answers ({exc}): line noise, wrong baudrate or "
                "another master on the bus?"
            ) from None
        except (Refused, ShortDownload) as exc:
            raise TransferBroken(f"{where}: {stage}: {exc}") from None

    # -- reads --------------------------------------------------------------------------
    def device_info(self) -> DeviceInfo:
        with self._talking("read device info") as c:
            counts = c.counts()
            return DeviceInfo(
                serial_number=c.text(f.CMD_SERIAL_NUMBER),
                model=c.text(f.CMD_DEVICE_TYPE),
                firmware=c.firmware(),
                user_count=counts.users,
                record_count=counts.records,
            )

    def record_count(self) -> int:
        with self._talking("read record count") as c:
            return c.counts().records

    # -- people on the clock (``punchd enrol``) -----------------------------------------
    def users(self) -> list[DeviceUser]:
        """The clock's users (0x72, paged like the records). Collection does not need them
        (every record carries its user code); enrolment does."""
        with self._talking("read users") as c:
            total = c.counts().users
            try:
                size, raws = c.staff(total)
            except Refused as exc:
                # A model without the extended user commands: collection goes on without
                # users (as before they were read); each change of enrolment says why not.
                self._no_staff = (
                    f"{self._where()}: the clock answered {f.ret_name(exc.ret)} to the user "
                    "download (0x72): a model without the extended user commands, whose "
                    "users punchd cannot read or write"
                )
                log.warning("users not read", device=self.config.name, reason=self._no_staff)
                self._staff = {}
                return []
        if size is not None:
            wanted = LAYOUTS.get(self.config.user_record)
            if wanted is not None and wanted != size:  # the clock knows best
                log.warning(
                    "user_record does not match the clock: using the clock's layout",
                    device=self.config.name,
                    user_record=self.config.user_record,
                    record_bytes=size,
                )
            self._layout = size
        enc = self.config.name_encoding
        self._staff = {}
        for raw in raws:
            s = codec.decode_staff(raw, size or codec.STAFF_ANSI, enc)
            self._staff[s.user_id] = s
        return [_device_user(s) for s in self._staff.values()]

    def _known(self) -> dict[int, codec.Staff]:
        if self._staff is None:
            self.users()
        assert self._staff is not None
        return self._staff

    def _record_size(self) -> int:
        if self._no_staff is not None:
            raise NotSupported(self._no_staff)
        if self._layout is None:
            raise NotSupported(
                f"{self._where()}: the clock holds no users yet, so its user record layout "
                'is unknown: set user_record = "ansi" (30-byte records, 10-byte names) or '
                '"unicode" (40-byte, 20-byte UTF-16 names) in its [[devices]] entry'
            )
        return self._layout

    def fit_name(self, name: str) -> str:
        if self._layout is None:
            return name  # no users on the clock: nothing to compare with
        return codec.fit_staff_name(name, self._layout, self.config.name_encoding)

    def _user_id(self, enroll_no: str) -> int:
        if not (enroll_no.isascii() and enroll_no.isdigit()):
            raise NotSupported(
                f"{self._where()}: enrol number {enroll_no!r} is not a number (the clock's "
                "user id is a 5-byte number)"
            )
        user_id = int(enroll_no)
        if user_id > codec.MAX_USER_ID or user_id == 0:
            raise NotSupported(f"{self._where()}: enrol number {enroll_no} is no user id it holds")
        return user_id

    def write_user(self, user: DeviceUser) -> None:
        where, who = self._where(), user.enroll_no
        user_id = self._user_id(who)
        card: int | None = None
        if user.card:
            if not user.card.isdigit() or int(user.card) > codec.MAX_CARD:
                raise NotSupported(f"{where}: card {user.card} does not fit the clock's card field")
            card = int(user.card)
        known = self._known()
        size = self._record_size()
        authority = codec.AUTHORITY_USER if user.privilege == 0 else codec.AUTHORITY_ADMIN
        before = known.get(user_id)
        if before is None:
            staff = codec.Staff(user_id, user.name, card, authority)
        else:  # password, department, group, attendance mode kept as the clock has them
            staff = dataclasses.replace(before, name=user.name, card=card, authority=authority)
        # the fingerprint enrol state cannot be set: 0 in an upload (specs)
        upload = dataclasses.replace(staff, fingers=0)
        record = codec.encode_staff(upload, size, self.config.name_encoding)
        ret: int | None = None
        with self._talking("write user") as c:
            try:
                taken = c.upload_staff(record)
            except Refused as exc:
                taken, ret = False, exc.ret
            if not taken and ret != f.RET_FULL and before is None:
                users, capacity = c.counts().users, c.capacity()
                if capacity and users >= capacity:
                    raise CapacityFull(f"{where}: the clock is full ({users} of {capacity} users)")
        if taken:
            known[user_id] = staff
            return
        if ret == f.RET_FULL:
            raise CapacityFull(f"{where}: the clock is full (it answered {f.ret_name(ret)})")
        why = f"answered {f.ret_name(ret)}" if ret is not None else "its answer flags it failed"
        raise CommandRefused(f"{where}: the clock refused to write user {who!r} ({why})")

    def delete_user(self, enroll_no: str) -> None:
        try:
            user_id = self._user_id(enroll_no)
        except NotSupported:
            return  # no such user id can be on the clock
        known = self._known()
        if self._no_staff is not None:
            raise NotSupported(self._no_staff)
        if user_id not in known:
            return  # not on the clock: nothing to do
        with self._talking("remove user") as c:
            try:
                c.delete_user(user_id)  # "no user": gone already, as wanted
            except Refused as exc:
                raise CommandRefused(
                    f"{self._where()}: the clock refused to remove user {enroll_no!r} "
                    f"(it answered {f.ret_name(exc.ret)})"
                ) from None
        del known[user_id]

    def template_format(self) -> str | None:
        """Templates travel only between clocks of one model: the device type (0x48)."""
        with self._talking("read device type") as c:
            model = c.text(f.CMD_DEVICE_TYPE)
        return f"anviz:{model}" if model else None

    def templates(self) -> list[FingerTemplate]:
        """The FP1 / FP2 templates (0x44) of every user whose record says they are enrolled:
        one request a finger."""
        out: list[FingerTemplate] = []
        if self._no_staff is not None:
            return out
        with self._talking("read templates") as c:
            for s in list(self._known().values()):
                for slot in codec.FP_SLOTS:
                    if not s.fingers & (1 << (slot - 1)):
                        continue
                    template = c.template(s.user_id, slot)
                    if template is not None:
                        out.append(FingerTemplate(str(s.user_id), slot - 1, template))
        return out

    def write_templates(self, user: DeviceUser, templates: Sequence[FingerTemplate]) -> None:
        where, who = self._where(), user.enroll_no
        if self._no_staff is not None:
            raise NotSupported(self._no_staff)
        user_id = self._user_id(who)
        known = self._known()
        if user_id not in known:
            raise CommandRefused(f"{where}: user {who!r} is not on the clock")
        slots = []
        for t in templates:
            try:
                slots.append(codec.finger_slot(t.finger))
            except ValueError as exc:
                raise NotSupported(f"{where}: {who!r}: {exc}") from None
            if not 0 < len(t.template) <= f.MAX_DATA - 6:
                raise NotSupported(f"{where}: finger {t.finger} of {who!r} is no template it holds")
        with self._talking("write templates") as c:
            for slot, t in zip(slots, templates, strict=True):
                try:
                    c.put_template(user_id, slot, t.template)
                except Refused as exc:
                    if exc.ret == f.RET_FULL:
                        raise CapacityFull(
                            f"{where}: the clock holds no more fingerprints (it answered "
                            f"{f.ret_name(exc.ret)})"
                        ) from None
                    raise CommandRefused(
                        f"{where}: the clock refused finger {t.finger} of {who!r} (it answered "
                        f"{f.ret_name(exc.ret)})"
                    ) from None
                s = known[user_id]
                known[user_id] = dataclasses.replace(s, fingers=s.fingers | (1 << (slot - 1)))

    def punches(
        self, progress: Progress | None = None, *, all_records: bool = False
    ) -> list[Punch]:
        self._new_at_read = None
        stage = "download all records" if all_records else "download new records"
        with self._talking(stage) as c:
            counts = c.counts()
            total = counts.records if all_records else counts.new_records
            records = c.download(total, new_only=not all_records, progress=progress)
        if c.resends or c.bad_answers or c.stale:
            log.warning(
                "line trouble",
                device=self.config.name,
                resends=c.resends,
                bad_answers=c.bad_answers,
                timeouts=c.timeouts,
                late_duplicates=c.stale,
            )
        out = [self._punch(r) for r in records]
        self._new_at_read = counts.new_records
        self._returned = len(out)
        return out

    def _punch(self, r: Record) -> Punch:
        # enroll_no is the user code as decimal text in both modes; with user_code = "card"
        # it is a card number, mapped to an employee by issued card in later processing.
        return Punch(
            enroll_no=str(r.user_code),
            punched_at=r.when,
            state=STATES.get(r.record_type & 0x0F, PunchState.UNKNOWN),
            verify_mode=r.backup_code,
            work_code=str(r.work_type) if r.work_type else None,
        )

    def get_time(self) -> datetime:
        with self._talking("read device clock") as c:
            return c.clock()

    def set_time(self, when: datetime) -> None:
        with self._talking("set device clock") as c:
            c.set_clock(when)

    # -- after the commit ---------------------------------------------------------------
    def clear_punches(self) -> None:
        raise NotSupported(
            f"{self._where()}: punchd never deletes the records of an Anviz clock; it clears "
            "their new-record flags once they are stored"
        )

    def after_commit(self, read: int) -> AfterCommit:
        """Clear the new flag on exactly the records that were new when read (see the
        module docstring). A failure here loses nothing: the records stay flagged new and
        the next run reads them again, stored once."""
        n, self._new_at_read = self._new_at_read, None
        if n is None:
            return AfterCommit(skipped="new-record flags not cleared: nothing was read")
        if read != self._returned:
            return AfterCommit(
                skipped=f"new-record flags not cleared: {read} punches committed but "
                f"{self._returned} were read"
            )
        if n == 0:
            return AfterCommit()
        until = None  # the run's deadline, or a short grace past it
        if self.deadline is not None:
            grace = min(self.config.timeout, CLEAR_GRACE_SECONDS)
            until = max(self.deadline, time.monotonic() + grace)
        try:
            with self._talking("clear new-record flags", deadline=until) as c:
                now_new = c.counts().new_records
                if now_new < n:
                    return AfterCommit(
                        skipped=f"new-record flags not cleared: the device flags {now_new} "
                        f"records new, fewer than the {n} read (another program collecting "
                        "this clock?); they are read again next run"
                    )
                sent = c.requests
                try:
                    cleared = c.clear_new_flags(n)
                except DeadlinePassed:
                    if c.requests == sent:
                        raise  # not sent: nothing was cleared
                    return AfterCommit(
                        skipped=f"clearing {n} new-record flags is unconfirmed (no answer "
                        "before the run's deadline); if the device did not clear them they "
                        "are read again next run"
                    )
                except (NoAnswer, Corrupt) as exc:
                    return AfterCommit(
                        skipped=f"clearing {n} new-record flags is unconfirmed ({exc}); if "
                        "the device did not clear them they are read again next run"
                    )
        except DriverError as exc:
            return AfterCommit(
                skipped=f"new-record flags not cleared ({exc}); the records are read again next run"
            )
        except ClientError as exc:  # pragma: no cover - translated by _talking
            return AfterCommit(skipped=f"new-record flags not cleared ({exc})")
        if cleared != n:
            return AfterCommit(
                cleared=True, skipped=f"the device cleared {cleared} new-record flags of {n}"
            )
        return AfterCommit(cleared=True)


def _device_user(s: codec.Staff) -> DeviceUser:
    return DeviceUser(
        enroll_no=str(s.user_id),
        name=s.name,
        card=str(s.card) if s.card is not None else None,
        privilege=ADMIN_PRIVILEGE if s.authority == codec.AUTHORITY_ADMIN else 0,
    )
