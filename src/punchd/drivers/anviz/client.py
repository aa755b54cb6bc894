"""Anviz TC_B transactions with one device id over a transport.

A transaction: drop whatever stale bytes the line holds, send the request, then read frames
until the answer from *this* device id with *this* ACK arrives or the timeout passes. Frames
for other device ids (a shared RS-485 bus), other ACKs and garbage are skipped. Idempotent
requests are asked again (up to ``retries`` times) after a timeout or a corrupt answer (bad
CRC, bad layout). A clear (0x4E) is never repeated: it is not idempotent.

The record download (0x40) asks for packets of at most 25 records and re-requests a bad
packet with parameter 0x10 ("send the last packet again"). Nothing in the protocol numbers
packets, so the client guards against taking a packet twice or skipping one:

* an answer identical to the previous packet while waiting for the next one is a late
  duplicate: it is dropped and the real answer awaited;
* after a timeout the client cannot tell "my request was lost" (the device is still on the
  previous packet) from "its answer was lost" (the device moved on). It asks for the last
  packet again (0x10): a packet it has not seen means the answer was lost, and it is taken.
  A copy of the previous packet means the device never got the request - or is a late
  duplicate. To tell these apart it asks once more: the previous packet twice in a row
  proves the device is a packet behind, and only then is "next" sent again.

Every wait for the device also ends at the run's deadline (``deadline``, a
``time.monotonic()`` value; None: no deadline) with ``DeadlinePassed``: the per-answer
timeout and ``retries`` alone let a clock that drips its bytes, keeps sending noise or keeps
answering with bad CRCs hold a run for timeout x attempts x requests.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from punchd.drivers.anviz import codec
from punchd.drivers.anviz import framer as f
from punchd.drivers.anviz.transport import Transport

T = TypeVar("T")
#: after an answer with a bad CRC, how long to wait for a good copy before asking again
CORRUPT_GRACE = 0.005


class ClientError(Exception):
    """Base of the client's failures (translated into driver errors by the driver)."""


class DeadlinePassed(ClientError):
    """The run's deadline passed while waiting for the device (or before a request)."""


def time_left(deadline: float | None, wait: float) -> float:
    """Seconds the next wait may take: ``wait``, or less when the run's ``deadline`` is
    nearer. ``DeadlinePassed`` once it has passed; ``wait`` as is without a deadline."""
    if deadline is None:
        return wait
    left = deadline - time.monotonic()
    if left <= 0:
        raise DeadlinePassed("the run's deadline passed")
    return min(wait, left)


class NoAnswer(ClientError):
    pass


class Corrupt(ClientError):
    """Answers kept arriving with a bad CRC or an impossible layout."""


class Refused(ClientError):
    """The device answered with a RET other than success."""

    def __init__(self, command: int, ret: int) -> None:
        super().__init__(f"the device answered {f.ret_name(ret)} to command 0x{command:02X}")
        self.command = command
        self.ret = ret


class ShortDownload(ClientError):
    pass


class AnvizClient:
    def __init__(
        self, transport: Transport, device_id: int, *, timeout: float, retries: int = 3
    ) -> None:
        self.transport = transport
        self.device_id = device_id
        self.timeout = timeout
        self.retries = retries
        self.decoder = f.Decoder(responses=True)
        #: ``time.monotonic()`` by which every wait ends (None: only the per-answer timeout)
        self.deadline: float | None = None
        #: set once this device has answered anything in this session
        self.answered = False
        # what happened, for tests, logs and the benchmark
        self.requests = 0
        self.resends = 0
        self.timeouts = 0
        self.bad_answers = 0
        self.stale = 0
        self.behind = 0

    # ---------------------------------------------------------------- frames

    def _send(self, command: int, data: bytes) -> None:
        time_left(self.deadline, self.timeout)  # no request goes out once the run is over
        self.transport.discard_input()
        self.decoder.reset()
        self.requests += 1
        self.transport.write(f.encode_request(self.device_id, command, data))

    def _await(self, command: int, stale: bytes | None = None) -> f.Frame:
        """The next answer of this device to ``command``. ``stale``: DATA of an answer
        already taken; a frame carrying it again is a late duplicate and skipped."""
        ack = command | 0x80
        me = self.device_id
        deadline = time.monotonic() + self.timeout
        corrupt = False
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                if corrupt:
                    raise Corrupt(f"answer to command 0x{command:02X} failed its CRC check")
                self.timeouts += 1
                raise NoAnswer(f"no answer to command 0x{command:02X} within {self.timeout:g}s")
            chunk = self.transport.read(time_left(self.deadline, remaining))
            if not chunk:
                continue
            for frame in self.decoder.feed(chunk):
                if frame.device_id != me or frame.code != ack:
                    continue  # another device on the bus, a pushed record, an echo
                if stale is not None and frame.data == stale and frame.ret == f.RET_SUCCESS:
                    self.stale += 1
                    continue
                self.answered = True
                return frame
            if (me, ack) in self.decoder.take_rejected() and not corrupt:
                # Our answer, damaged. Take a good copy if one follows at once, else ask again.
                corrupt = self.answered = True
                self.bad_answers += 1
                deadline = min(deadline, time.monotonic() + CORRUPT_GRACE)

    def request(self, command: int, data: bytes = b"", *, idempotent: bool = True) -> f.Frame:
        """Send ``command`` and return the device's (successful) answer."""
        attempts = 1 + (self.retries if idempotent else 0)
        last: ClientError | None = None
        for attempt in range(attempts):
            if attempt:
                self.resends += 1
            self._send(command, data)
            try:
                frame = self._await(command)
            except (NoAnswer, Corrupt) as exc:
                last = exc
                continue
            if frame.ret != f.RET_SUCCESS:
                raise Refused(command, frame.ret or 0)
            return frame
        assert last is not None
        raise _exhausted(last, attempts)

    # ---------------------------------------------------------------- commands

    def counts(self) -> codec.Counts:
        return self._decode(self.request(f.CMD_RECORD_INFO), codec.decode_counts)

    def clock(self) -> datetime:
        return self._decode(self.request(f.CMD_GET_TIME), codec.decode_clock)

    def set_clock(self, when: datetime) -> None:
        self.request(f.CMD_SET_TIME, codec.encode_clock(when))

    def text(self, command: int) -> str | None:
        """Serial number (0x24) or device type (0x48); None when the device refuses."""
        try:
            frame = self.request(command)
        except Refused:
            return None
        return codec.decode_text(frame.data)

    def firmware(self) -> str | None:
        try:
            frame = self.request(f.CMD_GET_INFO1)
        except Refused:
            return None
        return codec.decode_firmware(frame.data)

    def clear_new_flags(self, amount: int) -> int:
        """0x4E type 2: clear the new-record flag on the ``amount`` oldest new records.
        Sent once, never repeated; returns the count the device reports."""
        if not 0 < amount <= 0xFFFFFF:
            raise ValueError(f"cannot clear {amount} flags")
        data = bytes((f.CLEAR_FLAGS,)) + amount.to_bytes(3, "big")
        frame = self.request(f.CMD_CLEAR, data, idempotent=False)
        return codec.u24(frame.data) if len(frame.data) >= 3 else amount

    # ---------------------------------------------------------------- people

    def staff(self, total: int) -> tuple[int | None, list[bytes]]:
        """0x72: the first ``total`` user records, ``STAFF_ASK`` a packet (valid for both
        layouts): (record size, raw records); size None when there are none. A broken
        download raises; an "empty" answer ends it early (the clock has no more)."""
        out: list[bytes] = []
        size: int | None = None
        previous: bytes | None = None
        while len(out) < total:
            want = min(codec.STAFF_ASK, total - len(out))
            try:
                previous, (got, records) = self._packet(
                    f.DOWNLOAD_ALL,
                    want,
                    previous,
                    command=f.CMD_DOWNLOAD_STAFF,
                    parse=_parse_staff,
                )
            except ShortDownload:
                break  # "empty": fewer user records than the count said; these are all
            if size is not None and got != size:
                raise Corrupt(f"staff packets of {size} and of {got} bytes a record")
            size = got
            out.extend(records)
        return size, out

    def upload_staff(self, record: bytes) -> bool:
        """0x73 with one record: whether the clock took it (bit 0 of the answer's 2-byte
        flag, big-endian like every field). Repeating it writes the same record again."""
        frame = self.request(f.CMD_UPLOAD_STAFF, codec.encode_staff_packet([record]))
        if len(frame.data) < 2:
            raise Corrupt(f"upload answer of {len(frame.data)} bytes, expected a 2-byte flag")
        return bool(int.from_bytes(frame.data[:2], "big") & 1)

    def delete_user(self, user_id: int) -> bool:
        """0x4C with backup code 0xFF (everything of the user, staff record included):
        True when removed, False when the clock has no such user (also on a repeat whose
        first answer was lost)."""
        try:
            self.request(f.CMD_DELETE_USER, codec.encode_user_ref(user_id, codec.DELETE_ALL_DATA))
        except Refused as exc:
            if exc.ret == f.RET_NO_USER:
                return False
            raise
        return True

    def template(self, user_id: int, slot: int) -> bytes | None:
        """0x44: the template of ``user_id``'s finger ``slot`` (1 FP1, 2 FP2); None when the
        clock has no such user or finger."""
        try:
            frame = self.request(f.CMD_GET_TEMPLATE, codec.encode_user_ref(user_id, slot))
        except Refused as exc:
            if exc.ret in (f.RET_NO_USER, f.RET_FAIL, f.RET_EMPTY):
                return None
            raise
        return bytes(frame.data) or None

    def put_template(self, user_id: int, slot: int, template: bytes) -> None:
        """0x45: store ``template`` as ``user_id``'s finger ``slot`` (Refused as answered)."""
        self.request(f.CMD_PUT_TEMPLATE, codec.encode_user_ref(user_id, slot) + template)

    def capacity(self) -> int | None:
        """0x5D: how many users the clock holds at most (None: it does not say)."""
        try:
            frame = self.request(f.CMD_CAPACITY)
        except Refused:
            return None
        if len(frame.data) < 3:
            return None
        return codec.u24(frame.data)

    def _decode(self, frame: f.Frame, parse: Callable[[bytes], T]) -> T:
        try:
            return parse(frame.data)
        except codec.BadData as exc:
            raise Corrupt(str(exc)) from None

    # ---------------------------------------------------------------- download

    def download(
        self,
        total: int,
        *,
        new_only: bool,
        progress: Callable[[int, int], None] | None = None,
    ) -> list[codec.Record]:
        """The first ``total`` records (new only, or all), oldest first; all or nothing."""
        out: list[codec.Record] = []
        previous: bytes | None = None
        start = f.DOWNLOAD_NEW if new_only else f.DOWNLOAD_ALL
        if progress is not None:
            progress(0, total)
        while len(out) < total:
            want = min(f.MAX_RECORDS_PER_PACKET, total - len(out))
            previous, records = self._packet(start, want, previous)
            out.extend(records)
            if progress is not None:
                progress(len(out), total)
        return out

    def _packet(
        self,
        start: int,
        want: int,
        previous: bytes | None,
        *,
        command: int = f.CMD_DOWNLOAD,
        parse: Callable[[bytes, int], T] | None = None,
    ) -> tuple[bytes, T]:
        """The next packet of at most ``want`` records of ``command`` (0x40 records, 0x72
        staff, both paged alike): (its DATA, ``parse(DATA, want)``). ``previous`` is the
        DATA of the packet before (None for the first)."""
        if parse is None:
            parse = _parse_records  # type: ignore[assignment]
        assert parse is not None
        first = previous is None
        mode = start if first else f.DOWNLOAD_NEXT
        failures = 0
        behind_once = False
        while True:
            self._send(command, bytes((mode, want)))
            problem: ClientError
            try:
                frame = self._await(command, stale=None if mode == f.DOWNLOAD_RESEND else previous)
            except (NoAnswer, Corrupt) as exc:
                problem = exc
            else:
                if frame.ret == f.RET_EMPTY:
                    raise ShortDownload("the device has no more records")
                if frame.ret != f.RET_SUCCESS:
                    raise Refused(command, frame.ret or 0)
                if mode == f.DOWNLOAD_RESEND and frame.data == previous:
                    if behind_once:
                        # Twice the previous packet: our "next" never reached the device.
                        self.behind += 1
                        mode, behind_once = f.DOWNLOAD_NEXT, False
                    else:
                        behind_once = True  # or a late duplicate: ask once more
                    continue
                try:
                    return frame.data, parse(frame.data, want)
                except codec.BadData as exc:
                    self.bad_answers += 1
                    problem = Corrupt(str(exc))
            failures += 1
            if failures > self.retries:
                raise _exhausted(problem, failures)
            self.resends += 1
            # The first packet is simply asked for again (that restarts the download);
            # later ones are re-requested with 0x10 so that the device does not move on.
            mode = start if first else f.DOWNLOAD_RESEND
            behind_once = False


def _parse_records(data: bytes, most: int) -> list[codec.Record]:
    return codec.decode_records(data, most=most)


def _parse_staff(data: bytes, most: int) -> tuple[int, list[bytes]]:
    return codec.split_staff(data, most=most)


def _exhausted(last: ClientError, attempts: int) -> ClientError:
    kind = type(last)
    return kind(f"{last} ({attempts} attempts)")
