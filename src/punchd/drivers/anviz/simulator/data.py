"""The data of simulated Anviz clocks: a device's records and counters (``SimDevice``),
and realistic, deterministic records (``generate_records``)."""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from punchd.drivers.anviz import codec
from punchd.drivers.anviz.codec import Record, Staff

__all__ = ["SimDevice", "arriving_records", "generate_records"]


def generate_records(
    count: int,
    *,
    seed: int = 0,
    users: int = 40,
    start: datetime | None = None,
    card: bool = False,
) -> list[Record]:
    """``count`` realistic records, oldest first, ending before ``start`` (default: today
    00:00). Weekdays, in around 08:00 and out around 17:00 with jitter; backup codes mixed
    (finger, password, card); a few with the door-open bit or a work type. User codes are
    enroll numbers 1001… or, with ``card``, 10-digit card numbers up to 5 bytes.
    ``(user_code, when)`` is unique."""
    if count < 0 or users < 1:
        raise ValueError("count must be >= 0 and users >= 1")
    rng = random.Random(seed)
    if card:
        codes = sorted(rng.sample(range(1 << 32, 1 << 40), users))
    else:
        codes = [1001 + i for i in range(users)]
    if start is None:
        start = datetime.combine(date.today(), datetime.min.time())
    events: list[Record] = []
    day = start.date()
    while len(events) < count:
        day -= timedelta(days=1)
        if day < date(2000, 1, 3):
            raise ValueError("too many records for so few users")
        if day.weekday() >= 5:
            continue
        base = datetime.combine(day, datetime.min.time())
        for code in codes:
            if rng.random() < 0.05:
                continue  # away
            t_in = base + timedelta(minutes=8 * 60 + rng.gauss(0, 10), seconds=rng.randrange(60))
            t_out = base + timedelta(minutes=17 * 60 + rng.gauss(0, 15), seconds=rng.randrange(60))
            for when, state in ((t_in, 0), (t_out, 1)):
                backup = 3 if card else rng.choice((0, 0, 0, 0, 1, 2, 3, 3))
                rtype = state | (0x80 if rng.random() < 0.05 else 0)
                work = rng.choice((0,) * 18 + (1, 70_000))
                events.append(Record(code, when.replace(microsecond=0), backup, rtype, work))
    events.sort(key=lambda r: (r.when, r.user_code))
    return events[len(events) - count :]


@dataclass(eq=False)
class SimDevice:
    """One clock: its records (oldest first; the last ``new_count`` are flagged new)."""

    device_id: int
    records: list[Record] = field(default_factory=list)
    new_count: int | None = None  # None: every record is new
    serial_number: str = ""
    device_type: str = "TC-B SIM"
    firmware: str = "V2.15sim"
    users: int = 40  # users generated when ``staff`` is not given (ids 1001…)
    clock_offset: timedelta = timedelta(0)
    # the user table (0x72 / 0x73 / 0x4C / 0x5D): by user id, in enrolment order
    staff: list[Staff] | dict[int, Staff] | None = None
    staff_size: int = codec.STAFF_ANSI  # 30 (ANSI) or 40 (UNICODE) bytes a record
    name_encoding: str = "latin-1"
    user_capacity: int = 3000
    #: fingerprint templates by (user id, backup code 1 / 2); their size on this model
    fingerprints: dict[tuple[int, int], bytes] = field(default_factory=dict)
    template_size: int = codec.FP_TEMPLATE_SIZE
    fingerprint_capacity: int = 6000
    #: user ids whose upload the clock flags as failed (a value it will not take)
    refuse_ids: set[int] = field(default_factory=set)
    # observed
    clears: list[tuple[int, int]] = field(default_factory=list)  # (type, amount) received
    delete_all: int = 0
    downloads: int = 0
    packets: int = 0
    staff_writes: int = 0
    staff_deletes: int = 0
    staff_downloads: int = 0
    template_writes: int = 0
    # download state
    _packed: list[bytes] = field(default_factory=list, repr=False)
    _cursor: int | None = field(default=None, repr=False)
    _last: bytes | None = field(default=None, repr=False)
    _staff_out: list[bytes] = field(default_factory=list, repr=False)
    _staff_cursor: int | None = field(default=None, repr=False)
    _staff_last: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.staff is None:
            self.staff = [Staff(1001 + i, f"User {1001 + i}") for i in range(self.users)]
        if not isinstance(self.staff, dict):
            self.staff = {s.user_id: s for s in self.staff}
        if not self.serial_number:
            self.serial_number = f"ANVSIM{self.device_id:06d}"
        self._packed = [r.pack() for r in self.records]
        if self.new_count is None:
            self.new_count = len(self.records)
        self.new_count = max(0, min(self.new_count, len(self.records)))

    @property
    def new(self) -> int:
        return int(self.new_count or 0)

    @property
    def people(self) -> dict[int, Staff]:
        """The user table, by user id."""
        assert isinstance(self.staff, dict)
        return self.staff

    def new_records(self) -> list[Record]:
        return self.records[len(self.records) - self.new :]

    def add(self, records: Iterable[Record], *, new: bool = True) -> None:
        for r in records:
            self.records.append(r)
            self._packed.append(r.pack())
            if new:
                self.new_count = self.new + 1

    def device_time(self) -> datetime:
        return datetime.now().replace(microsecond=0) + self.clock_offset


def arriving_records(device: SimDevice, n: int) -> list[Record]:
    """``n`` punches made on ``device`` just now: after its last record (of the user codes
    following the last one), a minute apart, by card."""
    last = device.records[-1].when if device.records else datetime(2026, 1, 5, 8, 0)
    code = device.records[-1].user_code if device.records else 1001
    return [Record(code + i + 1, last + timedelta(minutes=i + 1), 3, 0) for i in range(n)]
