"""The data of a simulated ZK terminal: enrolled users and attendance records, and a
realistic, deterministic population of both (``generate``)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta

__all__ = ["SimPunch", "SimUser", "generate", "live_punch"]


@dataclass
class SimUser:
    uid: int
    user_id: str
    name: str = ""
    privilege: int = 0
    card: int = 0
    password: str = ""
    group_id: str = ""


@dataclass
class SimPunch:
    """One attendance record. ``status`` is the verify mode (1 finger, 3 password, 4 card,
    15 face), ``punch`` the state (0 in, 1 out, 2 break-out, 3 break-in, 4 OT-in, 5 OT-out).
    """

    user_id: str
    when: datetime
    status: int = 1
    punch: int = 0
    workcode: int = 0
    uid: int = 0


_FIRST = (
    "Ana", "Ben", "Carla", "David", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jonas",
    "Kofi", "Laura", "Marco", "Nadia", "Omar", "Paula", "Rui", "Sofia", "Tomas", "Yara",
)  # fmt: skip
_LAST = (
    "Silva", "Novak", "Okafor", "Schmidt", "Haddad", "Costa", "Kim", "Lopez", "Moreau",
    "Nguyen", "Petrov", "Rossi", "Santos", "Tanaka", "Weber", "Zhou", "Ibrahim", "Dubois",
)  # fmt: skip
_CJK = ("张伟", "王芳", "李娜", "刘洋", "陈静", "杨磊", "赵敏", "黄强", "周杰", "吴霞", "徐丽")
_ACCENTED = ("José Lúcio", "Jürgen Müller", "Chloé Lefèvre", "Hélène Dupré", "Inês Araújo")
_VERIFY_MODES = ((1, 0.70), (15, 0.15), (4, 0.10), (3, 0.05))


def _weighted(rng: random.Random, table: tuple[tuple[int, float], ...]) -> int:
    x = rng.random()
    for value, weight in table:
        x -= weight
        if x < 0:
            return value
    return table[-1][0]


def _clock(day: date, minutes: float, rng: random.Random) -> datetime:
    minutes = max(0.0, min(minutes, 24 * 60 - 1))
    return datetime.combine(day, datetime.min.time()) + timedelta(
        minutes=int(minutes), seconds=rng.randrange(60)
    )


def _day_events(
    rng: random.Random, day: date, user: SimUser, mode: int
) -> list[tuple[datetime, int, int]]:
    """(time, state, verify mode) of one user's working day."""

    def verify() -> int:
        return mode if rng.random() < 0.9 else _weighted(rng, _VERIFY_MODES)

    events: list[tuple[datetime, int]] = []
    t_in = _clock(day, 8 * 60 + max(-40, min(45, rng.gauss(0, 12))), rng)
    events.append((t_in, 0))
    if rng.random() < 0.01:  # double tap at the reader
        events.append((t_in + timedelta(seconds=rng.randrange(3, 50)), 0))
    if rng.random() < 0.3:  # lunch break
        out = _clock(day, 12 * 60 + rng.uniform(-15, 30), rng)
        events.append((out, 2))
        events.append((out + timedelta(minutes=rng.uniform(25, 65)), 3))
    if rng.random() < 0.97:  # 3 % forget to punch out
        t_out = _clock(day, 17 * 60 + max(-30, min(60, rng.gauss(0, 15))), rng)
        events.append((t_out, 1))
        if rng.random() < 0.08:  # overtime
            ot_in = t_out + timedelta(minutes=rng.uniform(5, 30))
            events.append((ot_in, 4))
            events.append((ot_in + timedelta(minutes=rng.uniform(60, 180)), 5))
    events.sort()
    out_events: list[tuple[datetime, int, int]] = []
    last: datetime | None = None
    for when, state in events:
        when = when.replace(microsecond=0)
        if last is not None and when <= last:
            when = last + timedelta(seconds=1)
        last = when
        out_events.append((when, state, verify()))
    return out_events


def generate(
    users: int,
    punches: int,
    seed: int = 0,
    start: datetime | None = None,
    encoding_names: bool = False,
) -> tuple[list[SimUser], list[SimPunch]]:
    """A realistic, deterministic device population.

    Users get uid 1..N and 6-digit numeric enroll numbers ``"100001"``... (text that also
    fits the numeric user id of 16-byte records and 28-byte users, and never equals the uid,
    so a client mixing the two is caught). Uid 1 is an admin. Punches are the most recent
    ``punches`` events before ``start`` (default: today 00:00): weekdays (and a few
    Saturdays), check-in around 08:00 and check-out around 17:00 with jitter, some lunch
    break-out/break-in, some overtime, a few forgotten check-outs and double taps, verify
    modes mixed per user. Sorted by time, ``(user_id, when)`` unique. ``encoding_names``
    mixes in Chinese and accented names (all encodable in GBK).
    """
    if users < 0 or punches < 0:
        raise ValueError("users and punches must be >= 0")
    if punches and not users:
        raise ValueError("punches need at least one user")
    if users > 0xFFFF:
        raise ValueError("at most 65535 users (the uid is 16 bits)")
    rng = random.Random(seed)
    if start is None:
        start = datetime.now().replace(hour=0, minute=0, second=0, microsecond=0)
    sim_users: list[SimUser] = []
    modes: list[int] = []
    for uid in range(1, users + 1):
        if encoding_names and uid % 3 == 0:
            name = rng.choice(_CJK)
        elif encoding_names and uid % 5 == 0:
            name = rng.choice(_ACCENTED)
        else:
            name = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
        sim_users.append(
            SimUser(
                uid=uid,
                user_id=str(100000 + uid),
                name=name,
                privilege=14 if uid == 1 else 0,
                card=rng.randrange(1_000_000, 16_000_000) if rng.random() < 0.4 else 0,
                password=str(rng.randrange(1000, 10000)) if rng.random() < 0.1 else "",
                group_id="1",
            )
        )
        modes.append(_weighted(rng, _VERIFY_MODES))
    saturday_workers = {u.uid for u in sim_users if rng.random() < 0.1}

    events: list[SimPunch] = []
    day = start.date()
    while len(events) < punches:
        if day < date(2000, 1, 1):
            raise ValueError("too many punches for so few users: dates before 2000")
        weekday = day.weekday()
        for user, mode in zip(sim_users, modes, strict=True):
            works = weekday < 5 or (weekday == 5 and user.uid in saturday_workers)
            if not works or rng.random() < 0.07:  # weekend, leave, sick
                continue
            for when, state, verify in _day_events(rng, day, user, mode):
                if when < start:
                    events.append(SimPunch(user.user_id, when, verify, state, 0, user.uid))
        day -= timedelta(days=1)
    events.sort(key=lambda e: (e.when, e.uid))
    return sim_users, events[len(events) - punches :]


def live_punch(rng: random.Random, users: list[SimUser], when: datetime) -> SimPunch:
    """A punch of a random user at ``when`` (a terminal in use): check-in before noon,
    check-out after, with the users' mix of verify modes."""
    user = rng.choice(users)
    state = 0 if when.hour < 12 else 1
    verify = _weighted(rng, _VERIFY_MODES)
    return SimPunch(user.user_id, when, verify, state, 0, user.uid)
