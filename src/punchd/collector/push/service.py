"""What the push receiver does with each request. The HTTP layer,
:mod:`punchd.collector.push.receiver`, runs the blocking methods (database work) in worker
threads; the few marked "memory only" never block and are called on its event loop, so that
the heartbeats of a fleet are answered without waiting for a thread while clocks upload.

Exactly once: an upload is acknowledged (``OK: n``) only after its punches are committed —
in one transaction with its ``att_collection_run`` row and the stamp it carried — or, with
the database away, after they are fsync'd to the spool; otherwise the reply is 503 and the
clock keeps its records and sends them again. Re-sends are absorbed by ``att_punch``'s unique
key. Every parse and every reply text comes from :mod:`punchd.drivers.adms.protocol`.
"""

from __future__ import annotations

import base64
import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from punchd import logs
from punchd.clock import local_to_utc, utcnow
from punchd.collector import sink
from punchd.collector.push import DRIVER
from punchd.collector.push.state import ReceiverState
from punchd.collector.spool import Spool
from punchd.config import Settings
from punchd.drivers import DeviceConfig
from punchd.drivers.adms import protocol
from punchd.drivers.records import DeviceUser, PunchState, punch_flag
from punchd.drivers.zk.driver import STATES
from punchd.hr.enrolment import StoredTemplate, templates_to_learn
from punchd.storage import audit
from punchd.storage import collection as store
from punchd.storage import push as push_store
from punchd.storage import templates as template_store
from punchd.storage.templates import TemplateCipher, TemplateKeyWrong

#: an unanswered command is sent again after this long
RESEND_AFTER = timedelta(minutes=5)
#: the look for queued commands is renewed (in the background) once it is older than this
#: share of command_check_seconds, so that under load no heartbeat ever waits for it
RENEW_LOOK_AT = 0.75
#: problems of one upload quoted in its log line
PROBLEMS_LOGGED = 3
_WORK_CODE_MAX = 16

#: "OK" for every request that carries nothing to answer
OK = "OK"


#: work a request leaves to do in the background (in a worker thread)
Chore = Callable[[], None]


@dataclass
class Reply:
    status: int
    text: str
    headers: dict[str, str] = field(default_factory=dict)


def serial_of(device: DeviceConfig) -> str | None:
    """The serial number a configured push clock is known by."""
    return getattr(device, "serial", None)


def push_address(serial: str) -> str:
    return f"push:{serial}"


def zone_minutes(tz: ZoneInfo, at_utc: datetime) -> int:
    """Minutes east of UTC of ``tz`` at ``at_utc`` (naive UTC)."""
    offset = at_utc.replace(tzinfo=UTC).astimezone(tz).utcoffset() or timedelta(0)
    return int(offset.total_seconds() // 60)


def state_of(status: int | None) -> PunchState:
    """An ATTLOG status code as a punch state, mapped like the ZK driver maps its own."""
    return STATES.get(status, PunchState.UNKNOWN) if status is not None else PunchState.UNKNOWN


def _allowed(address: str, allow_from: Sequence[str]) -> bool:
    if not allow_from:
        return True
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    for entry in allow_from:
        try:
            if ip in ipaddress.ip_network(entry.strip(), strict=False):
                return True
        except ValueError:
            continue
    return False


def _problems_text(problems: Sequence[protocol.LineProblem]) -> list[str]:
    return [f"line {p.line_no}: {p.reason}: {p.text}" for p in problems[:PROBLEMS_LOGGED]]


class PushService:
    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        spool: Spool,
        *,
        now: Callable[[], datetime] = utcnow,
        after_commit: Callable[[int], None] | None = None,
        state: ReceiverState | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """``now``: naive UTC (injected by tests), ``monotonic``: the clock of the look for
        queued commands (likewise); ``after_commit(new)``: told after every committed upload
        with the number of new punches (the daemon re-processes)."""
        self.engine = engine
        self.spool = spool
        self.now = now
        self.monotonic = monotonic
        self.after_commit = after_commit
        self.state = state or ReceiverState()
        self.host = socket.gethostname()
        self.log = logs.get_logger(component="push")
        self._lock = threading.Lock()
        self._device_ids: dict[str, int] = {}
        # Which clocks have commands waiting, read for all clocks at once at most every
        # [push] command_check_seconds: heartbeats dominate the load, and nearly all of
        # them have nothing to fetch.
        self._commands_lock = threading.Lock()
        self._look_lock = threading.Lock()  # one blocking look at a time
        self._open_commands: set[int] = set()
        self._open_read_at: float | None = None
        self._renewing = False  # a renewal of that look is under way (one at a time)
        self.update_settings(settings)

    def update_settings(self, settings: Settings) -> None:
        """Take a reloaded configuration (devices added, removed, changed)."""
        by_serial = {}
        for device in settings.devices:
            serial = serial_of(device)
            if device.driver == DRIVER and serial and device.enabled:
                by_serial[serial] = device
        with self._lock:
            self.settings = settings
            self.push = settings.push
            self.by_serial = by_serial
            self._device_ids.clear()  # address or user code may have changed

    # -- who is calling -----------------------------------------------------------------
    def admit(self, serial: str, address: str) -> DeviceConfig | Reply:
        """The configured clock with this serial, or the 403 for a caller that is not one
        (an unknown serial is recorded as pending: may write to the database)."""
        known = self.admit_known(serial, address)
        if known is not None:
            return known
        self._note_pending(serial, address)
        return Reply(403, "unknown device")

    def admit_known(self, serial: str, address: str) -> DeviceConfig | Reply | None:
        """Memory only: the configured clock with this serial, the 403 for an address outside
        its ``allow_from``, or None for a serial that is not configured (see :meth:`admit`)."""
        device = self.by_serial.get(serial)
        if device is None:
            return None
        if not _allowed(address, getattr(device, "allow_from", None) or []):
            self.log.warning(
                "push request refused: address not in allow_from",
                device=device.name,
                address=address,
            )
            return Reply(403, "address not allowed")
        return device

    def _note_pending(self, serial: str, address: str) -> None:
        count = self.state.pending_call(serial)
        if not count:
            return
        self.log.warning(
            "push clock with an unknown serial refused; listed as pending",
            serial=serial,
            address=address,
        )
        for attempt in (1, 2):  # two first calls at once: the second insert fails, then updates
            try:
                with self.engine.begin() as conn:
                    push_store.record_pending(
                        conn, serial, at=self.now(), address=address, requests=count
                    )
                return
            except SQLAlchemyError as exc:
                if attempt == 2:
                    self.state.pending_write_failed(serial, count)
                    self.log.warning("pending serial not recorded", error=_first_line(exc))

    def _device_id(self, device: DeviceConfig) -> int:
        """The clock's att_device id, its row (and push state) created or brought up to date
        once per process: serialised, so two first uploads do not both insert it."""
        device_id = self._device_ids.get(device.name)
        if device_id is not None:
            return device_id
        with self._lock:
            device_id = self._device_ids.get(device.name)
            if device_id is not None:
                return device_id
            serial = serial_of(device) or ""
            with self.engine.begin() as conn:
                device_id = store.upsert_device(
                    conn,
                    name=device.name,
                    driver=DRIVER,
                    address=push_address(serial),
                    user_code=getattr(device, "user_code", "enroll"),
                )
                store.update_device_info(conn, device_id, serial_number=serial)
                stored = push_store.ensure_state(conn, device_id)
            self.state.set_stamp(device.name, stored.attlog_stamp)
            self._device_ids[device.name] = device_id
            return device_id

    def _forget(self, device: DeviceConfig) -> None:
        """After a database error: look the device row up again next time."""
        self._device_ids.pop(device.name, None)

    def zone(self, device: DeviceConfig) -> ZoneInfo:
        return self.settings.device_zone(device)

    # -- requests -----------------------------------------------------------------------
    def seen(self, device: DeviceConfig, address: str) -> None:
        """Last contact: in memory always, in the database at most once a minute."""
        if self.note_contact(device, address):
            self.record_contact(device, address)

    def note_contact(self, device: DeviceConfig, address: str) -> bool:
        """Memory only: note a request of ``device``; True when the database should hear of
        it now (:meth:`record_contact`: first contact, a new address, a minute since)."""
        return self.state.seen(device.name, address)

    def record_contact(self, device: DeviceConfig, address: str) -> None:
        """Write the last contact noted by :meth:`note_contact` (a failed write is tried
        again at the clock's next request)."""
        try:
            device_id = self._device_id(device)
            with self.engine.begin() as conn:
                push_store.record_seen(conn, device_id, at=self.now(), address=address)
        except SQLAlchemyError as exc:
            self._forget(device)
            self.state.write_failed(device.name)
            self.log.debug("last contact not recorded", device=device.name, error=_first_line(exc))

    def handshake(self, device: DeviceConfig, address: str) -> Reply:
        self.seen(device, address)
        try:
            self._device_id(device)  # loads the saved stamp
        except SQLAlchemyError as exc:  # the stamp remembered in memory (or None) will do
            self._forget(device)
            self.log.warning(
                "handshake without the database", device=device.name, error=_first_line(exc)
            )
        stamp = protocol.clean_stamp(self.state.stamp(device.name))
        text = protocol.handshake_reply(
            serial_of(device) or "",
            attlog_stamp=stamp,
            tz_minutes=zone_minutes(self.zone(device), self.now()),
            delay=self.push.delay,
            error_delay=self.push.error_delay,
        )
        self.log.info("push clock handshake", device=device.name, address=address, stamp=stamp)
        return Reply(200, text)

    def attlog(self, device: DeviceConfig, body: bytes, stamp: str | None) -> Reply:
        """Store one ATTLOG upload; ``OK: n`` once committed or spooled, else 503."""
        records, problems = protocol.parse_attlog(body)
        log = self.log.bind(device=device.name)
        if problems:
            log.warning(
                "push upload: lines not taken",
                table="ATTLOG",
                taken=len(records),
                problems=len(problems),
                first=_problems_text(problems),
            )
        stamp = protocol.clean_stamp(stamp)
        # A line that cannot be taken is logged and acknowledged with the rest: it is no
        # punch, and sending it again would not make it one (a device whose cursor moves by
        # n would otherwise re-send that batch for ever).
        handled = len(records) + len(problems)
        if not records:
            return Reply(200, protocol.acknowledge(handled))
        tz = self.zone(device)
        now = self.now().replace(microsecond=0)
        device_now = now.replace(tzinfo=UTC).astimezone(tz).replace(tzinfo=None)

        def row(record: protocol.AttLog, device_id: int | None, run_id: int | None) -> dict:
            work_code = record.workcode or None
            return {
                "device_id": device_id,
                "enroll_no": record.pin,
                "punched_at": record.when,
                "punched_at_utc": local_to_utc(record.when, tz),
                "state": state_of(record.status).value,
                "verify_mode": record.verify,
                "work_code": work_code[:_WORK_CODE_MAX] if work_code else None,
                "source": "device",
                "collected_at": now,
                "run_id": run_id,
                "flag": punch_flag(record.when, device_now),
            }

        note = None
        if problems:
            note = f"{device.name}: {len(problems)} line(s) not taken: " + "; ".join(
                _problems_text(problems)
            )
        try:
            device_id = self._device_id(device)
            with self.engine.begin() as conn:
                run_id = store.start_run(
                    conn, device_id, trigger="push", host=self.host, started_at=now
                )
                stored = sink.store_punches(
                    conn,
                    device_id,
                    device.name,
                    records,
                    reason="push",
                    key=lambda r: (r.pin, r.when, state_of(r.status).value),
                    row=lambda r: row(r, device_id, run_id),
                )
                store.finish_run(
                    conn,
                    run_id,
                    status="ok",
                    finished_at=self.now(),
                    records_read=len(records),
                    records_new=stored.new,
                    error=logs.scrub(note) if note else None,
                )
                push_store.save_stamps(conn, device_id, attlog_stamp=stamp)
        except SQLAlchemyError as exc:
            self._forget(device)
            return self._spool(device, [row(r, None, None) for r in records], exc, handled)
        self.state.set_stamp(device.name, stamp)
        log.info(
            "push upload stored",
            table="ATTLOG",
            run_id=run_id,
            records_read=len(records),
            records_new=stored.new,
            stamp=stamp,
        )
        if stored.flagged:
            log.warning(
                "implausible data from the device",
                flagged=stored.flagged,
                note="stored flagged: ignored by processing, listed by punchd status",
            )
        if self.after_commit is not None:
            try:
                self.after_commit(stored.new)
            except Exception as exc:  # the punches are stored: the reply must still say so
                log.error("after-commit hook failed", error=str(exc))
        return Reply(200, protocol.acknowledge(handled))

    def _spool(
        self, device: DeviceConfig, rows: list[dict], exc: BaseException, handled: int
    ) -> Reply:
        log = self.log.bind(device=device.name)
        try:
            spooled = self.spool.write(
                device=device.name,
                driver=DRIVER,
                address=push_address(serial_of(device) or ""),
                rows=rows,
            )
        except OSError as spool_exc:
            log.error(
                "push upload refused: database and spool unavailable (the clock keeps it)",
                records=len(rows),
                error=_first_line(exc),
                spool_error=str(spool_exc),
            )
            return Reply(503, "database unavailable", {"Retry-After": str(self.push.error_delay)})
        log.warning(
            "push upload spooled: database unreachable",
            records=len(rows),
            spooled=spooled,
            error=_first_line(exc),
        )
        return Reply(200, protocol.acknowledge(handled))

    def operlog(self, device: DeviceConfig, body: bytes, stamp: str | None) -> Reply:
        """USER lines into att_device_user; every line counts in ``OK: n``."""
        users, accepted, problems = protocol.parse_operlog(body)
        if problems:
            self.log.warning(
                "push upload: lines not taken",
                device=device.name,
                table="OPERLOG",
                taken=accepted,
                problems=len(problems),
                first=_problems_text(problems),
            )
        stamp = protocol.clean_stamp(stamp)
        if users or stamp:
            try:
                device_id = self._device_id(device)
                with self.engine.begin() as conn:
                    push_store.upsert_users(
                        conn,
                        device_id,
                        [
                            DeviceUser(
                                enroll_no=u.pin, name=u.name, card=u.card, privilege=u.privilege
                            )
                            for u in users
                        ],
                        seen_at=self.now(),
                    )
                    push_store.save_stamps(conn, device_id, operlog_stamp=stamp)
            except SQLAlchemyError as exc:
                self._forget(device)
                self.log.warning(
                    "push OPERLOG refused: database unreachable (the clock sends it again)",
                    device=device.name,
                    error=_first_line(exc),
                )
                return Reply(
                    503, "database unavailable", {"Retry-After": str(self.push.error_delay)}
                )
        if users:
            self.log.info("push users stored", device=device.name, users=len(users))
        try:
            learnt = self.learn_fingers(device, self._device_id(device), body)
        except (SQLAlchemyError, TemplateKeyWrong) as exc:
            # the users and the stamp are stored; the fingers come again with the next
            # change on the clock (or a CHECK): not worth a re-send of the whole post
            learnt = 0
            self.log.warning("push fingers not learnt", device=device.name, error=_first_line(exc))
        if learnt:
            self.log.info("push fingers learnt", device=device.name, fingers=learnt)
        try:
            bio = self.learn_bio(device, self._device_id(device), body)
        except (SQLAlchemyError, TemplateKeyWrong) as exc:
            bio = 0  # as for the fingers: they come again with the next change
            self.log.warning("push faces not learnt", device=device.name, error=_first_line(exc))
        if bio:
            self.log.info("push faces and palms learnt", device=device.name, templates=bio)
        return Reply(200, protocol.acknowledge(accepted + len(problems)))  # see attlog

    def getrequest(self, device: DeviceConfig, address: str, info: str | None = None) -> Reply:
        """Heartbeat: the queued commands (sent, or re-sent when unanswered), else OK.
        ``info``: the ``INFO=`` of a first poll (its face algorithm version is kept)."""
        self.seen(device, address)
        now = self.now()
        try:
            device_id = self._device_id(device)
            if info:
                self._note_info(device, device_id, info)
            if not self._may_have_commands(device_id):
                return Reply(200, OK)
            with self.engine.begin() as conn:
                due = push_store.commands_due(
                    conn,
                    device_id,
                    now=now,
                    resend_after=RESEND_AFTER,
                    limit=protocol.MAX_COMMANDS_PER_POLL,
                )
                if not due:
                    return Reply(200, OK)
                sendable = []
                for command_id, queued in due:
                    try:
                        text = self._with_template(conn, queued)
                        sendable.append((command_id, protocol.check_command(text)))
                    except (ValueError, TemplateKeyWrong) as exc:  # queued by hand, the
                        # rules changed since, the finger gone or under another key
                        push_store.record_result(
                            conn,
                            device_id,
                            command_id,
                            return_code=None,
                            result=f"not sent: {exc}",
                            at=now,
                        )
                fitted = protocol.fit_commands(sendable)
                push_store.mark_sent(conn, device_id, [c for c, _ in fitted], at=now)
        except SQLAlchemyError as exc:
            self._forget(device)
            self.log.debug("commands not read", device=device.name, error=_first_line(exc))
            return Reply(200, OK)
        if not fitted:
            return Reply(200, OK)
        self.log.info("push commands sent", device=device.name, commands=[c for c, _ in fitted])
        return Reply(200, protocol.command_lines(fitted))

    def _cipher(self) -> TemplateCipher | None:
        key = self.settings.enrolment.template_key
        return None if key is None else TemplateCipher(key.get_secret_value())

    def _with_template(self, conn: Connection, text: str) -> str:
        """A queued FINGERTMP or BIODATA command with the stored template put in (the queue
        holds none); ValueError when it cannot be (no key, the template no longer stored)."""
        verb, pairs = protocol.command_pairs(text)
        if verb == "DATA UPDATE BIODATA" and pairs.get("tmp") == protocol.STORED_TEMPLATE:
            return self._with_bio_template(conn, pairs)
        if verb != "DATA UPDATE FINGERTMP" or pairs.get("tmp") != protocol.STORED_TEMPLATE:
            return text
        cipher = self._cipher()
        if cipher is None:
            raise ValueError("no template key is set: the stored finger cannot be read")
        pin, finger = pairs.get("pin", ""), pairs.get("fid", "")
        row = push_store.fingers_of(conn, cipher, [pin]).get(pin, (0, {}))[1]
        stored = row.get(int(finger)) if finger.isdigit() else None
        if stored is None:
            raise ValueError(f"finger {finger} of {pin} is no longer stored")
        tmp = base64.b64encode(stored.template).decode("ascii")
        return protocol.fingertmp_command(pin, stored.finger, len(tmp), stored.valid, tmp)

    def learn_fingers(self, device: DeviceConfig, device_id: int, body: bytes) -> int:
        """The fingers an OPERLOG post's FP lines carry, stored (encrypted) as a ZK clock's
        are learnt: of people the roster knows, a finger not stored yet, or stored from this
        clock and enrolled again there. Nothing without a template key; the count stored."""
        cipher = self._cipher()
        fingers = protocol.parse_fingers(body)
        if cipher is None or not fingers:
            return 0
        on_clock: dict[str, dict[int, tuple[bytes, int]]] = {}
        for f in fingers:
            on_clock.setdefault(f.pin, {})[f.finger] = (f.template, f.valid)
        with self.engine.begin() as conn:
            known = push_store.fingers_of(conn, cipher, list(on_clock))
            stored = {
                enroll_no: {
                    r.finger: StoredTemplate(r.finger, r.template, r.fp_version, r.source_device)
                    for r in rows.values()
                }
                for enroll_no, (_employee_id, rows) in known.items()
            }
            learn = templates_to_learn(device.name, None, on_clock, stored, list(known))
            if not learn:
                return 0
            template_store.save(
                conn,
                cipher,
                {
                    known[enroll_no][0]: {
                        f: (t.template, t.fmt, t.valid, t.source) for f, t in fingers.items()
                    }
                    for enroll_no, fingers in learn.items()
                },
            )
            for enroll_no, learnt in learn.items():
                audit.record(  # which fingers, never the templates
                    conn,
                    "punchd push",
                    "enrol-template-store",
                    "employee",
                    enroll_no,
                    {"device": device.name, "fingers": sorted(learnt), "enroll_no": enroll_no},
                )
        return sum(len(f) for f in learn.values())

    def _with_bio_template(self, conn: Connection, pairs: dict[str, str]) -> str:
        cipher = self._cipher()
        if cipher is None:
            raise ValueError("no template key is set: the stored template cannot be read")
        pin = pairs.get("pin", "")
        numbers = [pairs.get(k, "") for k in ("type", "no", "index")]
        employee_id = template_store.employee_id_of(conn, pin)
        if employee_id is None or not all(n.isdigit() for n in numbers):
            raise ValueError(f"the template of {pin} is no longer stored")
        key = (int(numbers[0]), int(numbers[1]), int(numbers[2]))
        try:
            row = template_store.open_bio(conn, cipher, employee_id, key)
        except KeyError:
            raise ValueError(f"template type {key[0]} of {pin} is no longer stored") from None
        return protocol.biodata_command(
            pin,
            bio_type=row.bio_type,
            no=row.no,
            index=row.index,
            valid=row.valid,
            duress=row.duress,
            major_ver=row.major_ver,
            minor_ver=row.minor_ver,
            fmt=row.format,
            tmp=base64.b64encode(row.template).decode("ascii"),
        )

    def _note_info(self, device: DeviceConfig, device_id: int, info: str) -> None:
        """Keep the face algorithm version a first poll's ``INFO=`` reports (its 7th field,
        ``fw,users,fps,logs,ip,fp_alg,face_alg,…``) as the clock's version of BIODATA
        Type 2 (face)."""
        face = protocol.parse_info(info).get("face_alg", "").strip()
        major = face.split(".", 1)[0]
        if not major.isdigit() or major == "0":  # 0: no face algorithm
            return
        with self.engine.begin() as conn:
            push_store.ensure_state(conn, device_id)
            if push_store.save_bio_versions(conn, device_id, {2: major}):
                self.log.info("push clock face algorithm", device=device.name, version=major)

    def learn_bio(self, device: DeviceConfig, device_id: int, body: bytes) -> int:
        """An OPERLOG post's BIODATA lines: the versions they carry are the clock's own (kept
        whether or not templates are); faces, palms … (any type but fingerprint) stored,
        encrypted, with a template key: of people the roster knows, one not stored yet, or
        stored from this clock (enrolled again there). The count stored; never a byte of a
        template in a log."""
        records = [r for r in protocol.parse_biodata(body) if r.bio_type != protocol.BIODATA_FINGER]
        if not records:
            return 0
        cipher = self._cipher()
        learnt: dict[str, list[int]] = {}
        with self.engine.begin() as conn:
            push_store.ensure_state(conn, device_id)
            push_store.save_bio_versions(
                conn, device_id, {r.bio_type: r.major_ver for r in records}
            )
            if cipher is None:
                return 0
            ids = template_store.employee_ids(conn)
            known = {r.pin: ids[r.pin] for r in records if r.pin in ids}
            stored = template_store.bio_of(conn, known.values())
            rows = []
            for r in records:
                employee_id = known.get(r.pin)
                if employee_id is None:
                    continue
                key = (r.bio_type, r.no, r.index)
                old = stored.get(employee_id, {}).get(key)
                if old is not None and old.source_device != device.name[:64]:
                    continue  # learnt elsewhere: this is that template's copy (no flip-flop)
                rows.append(
                    template_store.BioRow(
                        employee_id,
                        r.bio_type,
                        r.no,
                        r.index,
                        r.major_ver,
                        r.minor_ver,
                        r.format,
                        r.valid,
                        r.duress,
                        device.name,
                        r.template,
                    )
                )
                learnt.setdefault(r.pin, []).append(r.bio_type)
            if not rows:
                return 0
            template_store.save_bio(conn, cipher, rows)
            for enroll_no, types in learnt.items():
                audit.record(  # which kinds, never the templates
                    conn,
                    "punchd push",
                    "enrol-bio-store",
                    "employee",
                    enroll_no,
                    {"device": device.name, "types": sorted(set(types)), "enroll_no": enroll_no},
                )
        return len(rows)

    def heartbeat(self, device: DeviceConfig, address: str) -> tuple[Reply | None, list[Chore]]:
        """Memory only: the reply to a heartbeat (``getrequest``) of a clock with no command
        waiting, with the chores left to run in the background (the clock's last contact,
        the renewal of the look for queued commands); or ``(None, [])`` when the answer
        needs the database — a command may be waiting, the clock's row is not known yet, or
        the latest look is older than command_check_seconds: then :meth:`getrequest`."""
        every = self.push.command_check_seconds
        device_id = self._device_ids.get(device.name)
        if every <= 0 or device_id is None:
            return None, []
        with self._commands_lock:
            read_at = self._open_read_at
            age = None if read_at is None else self.monotonic() - read_at
            if age is None or age >= every or device_id in self._open_commands:
                return None, []
            renew = not self._renewing and age >= every * RENEW_LOOK_AT
            if renew:
                self._renewing = True
        chores: list[Chore] = [self.renew_command_look] if renew else []
        if self.note_contact(device, address):
            chores.append(lambda: self.record_contact(device, address))
        return Reply(200, OK), chores

    def renew_command_look(self) -> None:
        """Look again which clocks have commands waiting (one query for all of them); a
        look that fails leaves the old one to age (heartbeats then ask the database)."""
        started = self.monotonic()
        waiting: set[int] | None = None
        try:
            with self.engine.connect() as conn:
                waiting = push_store.devices_with_open_commands(conn)
        except SQLAlchemyError as exc:
            self.log.debug("command queue not read", error=_first_line(exc))
        finally:
            with self._commands_lock:
                self._renewing = False
                newer = self._open_read_at is None or started > self._open_read_at
                if waiting is not None and newer:
                    self._open_commands, self._open_read_at = waiting, started

    def _may_have_commands(self, device_id: int) -> bool:
        """False only when the latest look (younger than command_check_seconds) found no
        unanswered command of the clock. A look that fails raises SQLAlchemyError, which the
        heartbeat answers like a queue it cannot read."""
        every = self.push.command_check_seconds
        if every <= 0:
            return True
        # _commands_lock is never held across a query: the event loop takes it too.
        with self._look_lock:
            with self._commands_lock:
                read_at = self._open_read_at
            started = self.monotonic()
            if read_at is None or started - read_at >= every:
                with self.engine.connect() as conn:
                    waiting = push_store.devices_with_open_commands(conn)
                with self._commands_lock:
                    if self._open_read_at is None or started > self._open_read_at:
                        self._open_commands, self._open_read_at = waiting, started
        with self._commands_lock:
            return device_id in self._open_commands

    def devicecmd(self, device: DeviceConfig, body: bytes) -> Reply:
        """Record the results of commands (several per post)."""
        results = protocol.parse_devicecmd(body)
        now = self.now()
        unknown = []
        try:
            device_id = self._device_id(device)
            with self.engine.begin() as conn:
                for r in results:
                    detail = "\n".join(f"{k}={v}" for k, v in r.fields.items())
                    text = f"CMD={r.command}" + (f"\n{detail}" if detail else "")
                    if not push_store.record_result(
                        conn, device_id, r.id, return_code=r.code, result=text, at=now
                    ):
                        unknown.append(r.id)
                        continue
                    self._follow_result(conn, device_id, r.id, r.code, now)
        except SQLAlchemyError as exc:
            self._forget(device)
            self.log.warning(
                "command results refused: database unreachable (the clock sends them again)",
                device=device.name,
                error=_first_line(exc),
            )
            return Reply(503, "database unavailable", {"Retry-After": str(self.push.error_delay)})
        self.log.info(
            "push command results",
            device=device.name,
            results={r.id: r.code for r in results},
            unknown=unknown or None,
        )
        return Reply(200, OK)

    @staticmethod
    def _follow_result(
        conn: Connection, device_id: int, command_id: str, code: int, now: datetime
    ) -> None:
        """A user written or removed by a command is (or is no longer) on the clock: its
        att_device_user row says so at once, so the next enrolment plan is empty."""
        text = push_store.command_text(conn, device_id, command_id)
        if text is None:
            return
        verb, pairs = protocol.command_pairs(text)
        pin = pairs.get("pin", "")
        if not pin:
            return
        if verb == "DATA UPDATE USERINFO" and code == 0:
            privilege = pairs.get("pri", "0")
            user = DeviceUser(
                enroll_no=pin,
                name=pairs.get("name", ""),
                card=pairs.get("card") or None,
                privilege=int(privilege) if privilege.isdigit() else 0,
            )
            push_store.upsert_users(conn, device_id, [user], seen_at=now)
        elif verb == "DATA DELETE USERINFO" and code in (0, protocol.PIN_NOT_ON_DEVICE):
            push_store.mark_absent(conn, device_id, [pin], seen_at=now)

    # -- commands (for the front doors) ---------------------------------------------------
    def queue(self, device: DeviceConfig, command: str, *, created_by: str) -> str:
        """Queue a checked command for ``device``; its id. ValueError for a refused one."""
        return queue_command(self.engine, device, command, created_by=created_by, now=self.now())


def queue_command(
    engine: Engine,
    device: DeviceConfig,
    command: str,
    *,
    created_by: str,
    now: datetime | None = None,
) -> str:
    """Queue ``command`` for the push clock ``device`` (checked by the protocol: ValueError
    for a forbidden or unknown one); returns the command's id."""
    if device.driver != DRIVER:
        raise ValueError(f"{device.name} is not a push clock (driver {device.driver!r})")
    text = protocol.check_command(command)
    serial = serial_of(device) or ""
    with engine.begin() as conn:
        device_id = store.upsert_device(
            conn,
            name=device.name,
            driver=DRIVER,
            address=push_address(serial),
            user_code=getattr(device, "user_code", "enroll"),
        )
        return push_store.queue_command(
            conn, device_id, text, created_by=created_by, at=now or utcnow()
        )


def _first_line(exc: BaseException) -> str:
    text = str(exc)
    return logs.scrub(f"{exc.__class__.__name__}: {text.splitlines()[0] if text else ''}")
