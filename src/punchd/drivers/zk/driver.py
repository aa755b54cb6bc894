"""The ``zk`` driver: ZKTeco-style terminals over TCP or UDP (port 4370)."""

from __future__ import annotations

import struct
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Literal

import structlog
from pydantic import Field, Secret, field_validator
from zk.exception import ZKError, ZKErrorResponse, ZKNetworkError

from punchd.drivers.base import DeviceConfig, Driver, Progress, PunchBatches
from punchd.drivers.errors import (
    AuthenticationRefused,
    CapacityFull,
    CommandRefused,
    DeviceBusy,
    DeviceUnreachable,
    DriverError,
    NotSupported,
    RunDeadline,
    TransferBroken,
    TransferTimeout,
    TransferTooLarge,
)
from punchd.drivers.records import (
    DeviceInfo,
    DeviceUser,
    FingerTemplate,
    Punch,
    PunchRow,
    PunchState,
)
from punchd.drivers.zk import protocol as p
from punchd.drivers.zk.client import CorruptReply, DeadlinePassed, PunchdZK, TooLarge

log = structlog.get_logger("punchd.drivers.zk")

CommKey = Secret[Annotated[int, Field(ge=0, le=999_999_999)]]

#: Default ``max_transfer_bytes``: 32 MiB holds 680,000 records of the largest (49-byte)
#: format, several times the capacity of any ZK terminal, and bounds the memory a lying
#: device can make punchd spend.
DEFAULT_MAX_TRANSFER_BYTES = 32 << 20
#: At most this long (and at most ``timeout``) to re-enable a device after a run broke off,
#: even past the run's deadline.
REENABLE_SECONDS = 3.0

#: ZK "punch" byte → state
STATES = {
    0: PunchState.IN,
    1: PunchState.OUT,
    2: PunchState.BREAK_OUT,
    3: PunchState.BREAK_IN,
    4: PunchState.OT_IN,
    5: PunchState.OT_OUT,
}


class ZKConfig(DeviceConfig):
    driver: Literal["zk"] = "zk"
    host: str = Field(min_length=1)
    port: int = Field(default=4370, ge=1, le=65535)
    protocol: Literal["tcp", "udp"] = "tcp"
    comm_key: CommKey = Field(default=CommKey(0), description="device comm key (secret)")
    encoding: str = "utf-8"
    #: ceiling of one bulk read (users or attendance), whatever the device announces
    max_transfer_bytes: int = Field(default=DEFAULT_MAX_TRANSFER_BYTES, ge=1 << 16, le=1 << 30)

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        import codecs

        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown text encoding {value!r}") from None
        return value

    def address(self) -> str:
        return f"{self.protocol}://{self.host}:{self.port}"


class ZKDriver(Driver):
    name = "zk"
    config_model = ZKConfig
    config: ZKConfig
    disables_device = True

    def __init__(self, config: ZKConfig) -> None:
        super().__init__(config)
        self._zk: PunchdZK | None = None
        # uid → user id from the last users() read of this session (8-byte records need it)
        self._uid_to_user: dict[str, str] | None = None
        # user id → uid, for writing and deleting users (from users(), kept up to date)
        self._user_uids: dict[str, int] | None = None
        self._next_uid = 1
        # Set when a conversation broke: the stream is out of step, send nothing more on it.
        self._broken = False
        # While re-enabling after a broken run: the short deadline of that clean-up.
        self._cleanup_deadline: float | None = None

    # -- errors -------------------------------------------------------------------------
    @contextmanager
    def _talking(self, stage: str) -> Iterator[PunchdZK]:
        """Translate pyzk / socket failures into punchd's driver errors for ``stage``."""
        if self._zk is None:
            raise DriverError(f"{self._where()}: not connected")
        try:
            yield self._zk
        except Exception as exc:
            if stage != "connect":
                self._broken = True
            if isinstance(exc, DriverError):
                raise
            raise self._translate(exc, stage) from None

    def _where(self) -> str:
        return f"{self.config.name} ({self.config.address()})"

    def _translate(self, exc: Exception, stage: str) -> DriverError:
        where = self._where()
        if isinstance(exc, CorruptReply):
            return TransferBroken(f"{where}: {stage}: {exc}")
        if isinstance(exc, TooLarge):
            return TransferTooLarge(
                f"{where}: {stage}: {exc} (by the device's own counts, and max_transfer_bytes = "
                f"{self.config.max_transfer_bytes}); refused"
            )
        if isinstance(exc, DeadlinePassed):
            return RunDeadline(
                f"{where}: {stage}: the run took longer than max_run_seconds = "
                f"{self.config.max_run_seconds:g} s; abandoned"
            )
        if isinstance(exc, TimeoutError):
            return self._timeout(where, stage)
        if isinstance(exc, ConnectionRefusedError):
            return DeviceUnreachable(f"{where}: connection refused")
        if isinstance(exc, OSError):
            if stage == "connect":
                return DeviceUnreachable(f"{where}: {exc.strerror or exc}")
            return TransferBroken(f"{where}: {stage}: connection lost ({exc})")
        if isinstance(exc, ZKNetworkError):
            text = str(exc)
            if isinstance(exc.__cause__, ConnectionRefusedError):
                return DeviceUnreachable(f"{where}: connection refused")
            if "timed out" in text:
                return self._timeout(where, stage)
            if stage == "connect" and self.config.protocol == "udp":
                # A busy UDP device does not answer at all (a timeout, above).
                return TransferBroken(f"{where}: connect: {text}")
            if stage == "connect":
                return DeviceBusy(
                    f"{where}: the device accepted the connection but closed it without "
                    "answering; another client (e.g. the vendor program) is probably connected"
                )
            return TransferBroken(f"{where}: {stage}: connection lost ({text})")
        if isinstance(exc, ZKErrorResponse) and "Unauthenticated" in str(exc):
            return AuthenticationRefused(f"{where}: the device refused the comm key")
        if isinstance(exc, ZKError):
            return TransferBroken(f"{where}: {stage}: {exc}")
        if isinstance(exc, (ValueError, IndexError, struct.error)):  # impossible dates, short data
            return TransferBroken(f"{where}: {stage}: unusable data ({exc})")
        return TransferBroken(f"{where}: {stage}: {exc.__class__.__name__}: {exc}")

    def _timeout(self, where: str, stage: str) -> DriverError:
        if stage == "connect" and self._zk is not None and self._zk.tcp_connected:
            return TransferTimeout(
                f"{where}: connected, but the device did not answer within "
                f"{self.config.timeout:g}s (overloaded, or busy with another client)"
            )
        if stage == "connect":
            if self.config.protocol == "udp":
                return DeviceUnreachable(
                    f"{where}: no answer within {self.config.timeout:g}s "
                    "(device down, wrong port, or busy with another client)"
                )
            return DeviceUnreachable(f"{where}: no answer within {self.config.timeout:g}s")
        return TransferTimeout(
            f"{where}: {stage}: the device stopped answering (timed out after "
            f"{self.config.timeout:g}s)"
        )

    # -- session ------------------------------------------------------------------------
    def connect(self) -> None:
        cfg = self.config
        self._broken = False
        self._uid_to_user = None
        self._user_uids = None
        self._zk = PunchdZK(
            cfg.host,
            port=cfg.port,
            timeout=cfg.timeout,
            password=cfg.comm_key.get_secret_value(),
            force_udp=cfg.protocol == "udp",
            encoding=cfg.encoding,
            max_transfer_bytes=cfg.max_transfer_bytes,
        )
        self._zk.deadline = self._cleanup_deadline or self.deadline
        try:
            with self._talking("connect") as zk:
                zk.connect()
        except DriverError:
            self._zk.close_socket()
            self._zk = None
            raise

    def close(self) -> None:
        zk, self._zk = self._zk, None
        if zk is None:
            return
        try:
            if zk.is_connect and not self._broken:
                zk.disconnect()
        except (ZKError, OSError):
            pass
        finally:
            zk.close_socket()

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Keep people from punching while we read and clear; always re-enable."""
        self.left_disabled = False
        try:
            with self._talking("disable device") as zk:
                zk.disable_device()
        except DriverError:
            # The answer may be what was lost or late, not the command: enable it again.
            self.left_disabled = not self._reenable()
            raise
        try:
            yield
        finally:
            self.left_disabled = not self._reenable()

    def ensure_enabled(self) -> None:
        with self._talking("re-enable device") as zk:
            zk.enable_device()

    def _reenable(self) -> bool:
        """Enable the device again; False if that failed (it may still be disabled)."""
        # A run past its deadline still gets a short, bounded chance to unlock the device.
        self._cleanup_deadline = time.monotonic() + min(self.config.timeout, REENABLE_SECONDS)
        try:
            return self._reenable_within()
        finally:
            self._cleanup_deadline = None

    def _reenable_within(self) -> bool:
        if not self._broken and self._zk is not None:
            self._zk.deadline = self._cleanup_deadline
            try:
                with self._talking("re-enable device") as zk:
                    zk.enable_device()
                return True
            except DriverError:
                pass
        # The session broke mid-conversation: a fresh one re-enables the device rather
        # than leaving it locked until the firmware notices the dead session — unless the
        # device may be another collector's by now (this process was stalled past its
        # hold): a second session beside theirs, and they re-enable it themselves.
        self.close()
        if not self.may_reopen():
            log.warning(
                "device may still be disabled: its hold was lost, not reconnecting",
                device=self.config.name,
            )
            return False
        for attempt in range(3):
            try:
                self.connect()
                with self._talking("re-enable device") as zk:
                    zk.enable_device()
                return True
            except DeviceBusy:
                # The device may not have noticed yet that the broken session is gone.
                pause = 0.3 * (attempt + 1)
                if time.monotonic() + pause >= (self._cleanup_deadline or 0):
                    break
                time.sleep(pause)
            except DriverError as exc:
                log.warning("device may still be disabled", device=self.config.name, error=str(exc))
                return False
        log.warning("device may still be disabled: it stays busy", device=self.config.name)
        return False

    # -- reads --------------------------------------------------------------------------
    def device_info(self) -> DeviceInfo:
        with self._talking("read device info") as zk:
            zk.read_sizes()
            return DeviceInfo(
                serial_number=_optional(zk.get_serialnumber),
                model=_optional(zk.get_device_name),
                firmware=_optional(zk.get_firmware_version),
                platform=_optional(zk.get_platform),
                mac=_optional(zk.get_mac),
                user_count=zk.users,
                record_count=zk.records,
                record_capacity=zk.rec_cap,
            )

    def record_count(self) -> int:
        with self._talking("read record count") as zk:
            zk.read_sizes()
            return int(zk.records)

    def users(self) -> list[DeviceUser]:
        with self._talking("read users") as zk:
            rows = zk.read_users()
        self._uid_to_user = {str(uid): user_id for uid, user_id, *_ in rows}
        self._user_uids = {user_id: uid for uid, user_id, *_ in rows}
        self._next_uid = max((uid for uid, *_ in rows), default=0) + 1
        return [
            DeviceUser(
                enroll_no=user_id, name=name, card=str(card) if card else None, privilege=priv
            )
            for _uid, user_id, name, card, priv in rows
        ]

    def punches(
        self, progress: Progress | None = None, *, all_records: bool = False
    ) -> list[Punch]:
        return [
            Punch(enroll_no, at, PunchState(state), verify, work_code)
            for batch in self.read_punches(progress, all_records=all_records).batches(BATCH)
            for enroll_no, at, state, verify, work_code in batch
        ]

    def read_punches(
        self, progress: Progress | None = None, *, all_records: bool = False
    ) -> ZKPunches:
        # ZK terminals have no "new record" mark: every read is a full read. The transfer
        # is read whole (a few bytes a record) and decoded a batch at a time.
        self.undecodable, self.undecodable_examples = 0, []
        with self._talking("read attendance") as zk:
            zk.on_chunk = progress
            try:
                body, record_size = zk.read_attendance_buffer()
                uid_to_user: dict[str, str] = {}
                if record_size == 8:  # old firmware stores the internal uid only
                    if self._uid_to_user is None:  # users() not read in this session
                        self.users()
                    uid_to_user = self._uid_to_user or {}
            finally:
                zk.on_chunk = None
        return ZKPunches(self, body, record_size, uid_to_user)

    def get_time(self) -> datetime:
        with self._talking("read device clock") as zk:
            return zk.get_time()

    def set_time(self, when: datetime) -> None:
        with self._talking("set device clock") as zk:
            zk.set_time(when)

    def clear_punches(self) -> None:
        with self._talking("clear attendance") as zk:
            zk.clear_attendance()

    # -- people on the clock ------------------------------------------------------------
    def _uids(self) -> dict[str, int]:
        if self._user_uids is None:
            self.users()
        assert self._user_uids is not None
        return self._user_uids

    def _free_uid(self) -> int:
        """A uid no user has: after the highest (as pyzk), else the lowest gap."""
        used = set(self._uids().values())
        if self._next_uid <= p.USHRT_MAX:
            return self._next_uid
        for uid in range(1, p.USHRT_MAX + 1):
            if uid not in used:
                return uid
        raise CapacityFull(f"{self._where()}: every user number (uid) is taken")

    def _user_size(self) -> int:
        """The user record layout of this clock: measured on its users, else (a clock
        without users) asked of its options, once per session."""
        if self._zk is None:
            raise DriverError(f"{self._where()}: not connected")
        if not self._zk.user_layout_known:
            with self._talking("read options") as zk:
                zk.learn_user_layout()
        return int(self._zk.user_packet_size)

    def fit_name(self, name: str) -> str:
        return p.fit_name(self._user_size(), name, self.config.encoding)

    def _user_record(self, user: DeviceUser, uid: int) -> bytes:
        """``user`` as a record of this clock's layout, with the uid ``uid`` (NotSupported
        for a value the layout cannot hold); password and group carried over."""
        size = self._user_size()
        where, who = self._where(), user.enroll_no
        card = int(user.card) if user.card else 0
        if not 0 <= card <= p.CARD_MAX:
            raise NotSupported(f"{where}: card {user.card} does not fit the clock's card field")
        if size == 28 and not (who.isdigit() and int(who) <= p.CARD_MAX):
            raise NotSupported(f"{where}: enrol number {who!r} is not a number this clock holds")
        if len(who.encode(self.config.encoding, errors="replace")) > 24:
            raise NotSupported(f"{where}: enrol number {who!r} is longer than 24 bytes")
        assert self._zk is not None
        password, group = self._zk.user_kept.get(who, ("", ""))
        return p.pack_user(
            size,
            uid=uid,
            user_id=who,
            name=user.name,
            privilege=user.privilege,
            password=password,
            card=card,
            group_id=group if size == 72 or group.isdigit() else "",
            encoding=self.config.encoding,
        )

    def write_user(self, user: DeviceUser) -> None:
        uids = self._uids()
        where, who = self._where(), user.enroll_no
        uid = uids.get(who)
        new_uid = uid if uid is not None else self._free_uid()
        record = self._user_record(user, new_uid)
        with self._talking("write user") as zk:
            code = zk.change(p.CMD_USER_WRQ, record)
        if code == p.ACK_OK:
            uids[who] = new_uid
            if uid is None:
                self._next_uid = max(self._next_uid, new_uid + 1)
            return
        if code == p.ACK_UNKNOWN:
            raise NotSupported(f"{where}: the clock does not take user writes (unknown command)")
        if uid is None:
            with self._talking("read free sizes") as zk:
                enrolled, capacity = zk.free_users()
            if capacity and enrolled >= capacity:
                raise CapacityFull(f"{where}: the clock is full ({enrolled} of {capacity} users)")
        raise CommandRefused(f"{where}: the clock refused to write user {who!r} (reply {code})")

    def delete_user(self, enroll_no: str) -> None:
        uids = self._uids()
        uid = uids.get(enroll_no)
        if uid is None:
            return  # not on the clock: nothing to do
        with self._talking("remove user") as zk:
            code = zk.change(p.CMD_DELETE_USER, p.pack_delete_user(uid))
        if code == p.ACK_OK:
            del uids[enroll_no]
            return
        where = self._where()
        if code == p.ACK_UNKNOWN:
            raise NotSupported(f"{where}: the clock does not take user removals (unknown command)")
        raise CommandRefused(
            f"{where}: the clock refused to remove user {enroll_no!r} (reply {code})"
        )

    # -- fingerprint templates ----------------------------------------------------------
    def template_format(self) -> str | None:
        if self._zk is None:
            raise DriverError(f"{self._where()}: not connected")
        with self._talking("read options") as zk:
            return zk.read_option(p.FP_VERSION_OPTION) or None

    def templates(self) -> list[FingerTemplate]:
        users = {uid: who for who, uid in self._uids().items()}
        with self._talking("read templates") as zk:
            rows = zk.read_templates()
        return [
            FingerTemplate(users[uid], finger, template, valid)
            for uid, finger, valid, template in rows
            if uid in users and 0 <= finger <= 9
        ]

    def write_templates(self, user: DeviceUser, templates: Sequence[FingerTemplate]) -> None:
        where, who = self._where(), user.enroll_no
        uid = self._uids().get(who)
        if uid is None:
            raise CommandRefused(f"{where}: user {who!r} is not on the clock")
        for t in templates:
            if not 0 <= t.finger <= 9 or not 0 < len(t.template) <= p.TEMPLATE_MAX:
                raise NotSupported(f"{where}: finger {t.finger} of {who!r} is no template it holds")
        upload = p.pack_save_usertemps(
            [(self._user_record(user, uid), uid, [(t.finger, t.template) for t in templates])]
        )
        with self._talking("write templates") as zk:
            code = zk.upload(upload)
            if code == p.ACK_OK:
                code = zk.change(p.CMD_SAVE_USERTEMPS, p.SAVE_COMMIT.pack(*p.SAVE_COMMIT_ARGS))
        if code == p.ACK_OK:
            return
        if code == p.ACK_UNKNOWN:
            raise NotSupported(f"{where}: the clock does not take templates (unknown command)")
        with self._talking("read free sizes") as zk:
            stored, capacity = zk.free_fingers()
        if capacity and stored + len(templates) > capacity:
            raise CapacityFull(
                f"{where}: the clock is full ({stored} of {capacity} fingerprint templates)"
            )
        raise CommandRefused(f"{where}: the clock refused the templates of {who!r} (reply {code})")

    def users_written(self) -> None:
        with self._talking("refresh data") as zk:
            zk.refresh_data()


#: Records per batch when :meth:`ZKDriver.punches` decodes a whole read.
BATCH = 10_000
#: ZK "punch" byte → the state's text (a PunchRow's)
STATE_VALUES = {code: state.value for code, state in STATES.items()}


class ZKPunches(PunchBatches):
    """An attendance transfer, decoded a batch at a time. Records whose time is no date
    are skipped, and counted on the driver once a pass has read them all (once, however
    often the batches are read)."""

    def __init__(
        self, driver: ZKDriver, body: memoryview, record_size: int, uid_to_user: dict[str, str]
    ) -> None:
        self._driver = driver
        self._body = body
        self._record_size = record_size
        self._uid_to_user = uid_to_user
        self._noted = False

    def batches(self, size: int) -> Iterator[list[PunchRow]]:
        if not self._record_size:
            return
        skipped: list[str] = []
        decode = p.TimeDecoder()
        users = self._uid_to_user
        states = STATE_VALUES
        unknown = PunchState.UNKNOWN.value
        batch: list[PunchRow] = []
        records = p.iter_attendance(self._body, self._record_size)
        for index, (user_id, _uid, t, status, punch, workcode) in enumerate(records):
            try:
                when = decode(t)
            except ValueError as exc:  # e.g. 31 February: skip it, keep the rest
                skipped.append(
                    f"record {index + 1} (user {user_id!r}): time value {t} is no date ({exc})"
                )
                continue
            batch.append(
                (
                    users.get(user_id, user_id) if users else user_id,
                    when,
                    states.get(punch, unknown),
                    status,
                    str(workcode) if workcode else None,
                )
            )
            if len(batch) >= size:
                yield batch
                batch = []
        if batch:
            yield batch
        if not self._noted:  # the first pass read to the end: count what it skipped
            self._noted = True
            for description in skipped:
                self._driver.note_undecodable(description)


def _optional(getter: object) -> str | None:
    """Options some firmware does not know: absent rather than an error."""
    try:
        value = getter()  # type: ignore[operator]
    except ZKErrorResponse:
        return None
    value = str(value).strip() if value is not None else ""
    return value or None
