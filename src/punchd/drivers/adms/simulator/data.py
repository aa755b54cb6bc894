"""The data of a simulated push clock: enrolled users and attendance records, generated
deterministically (a seed and a start date, never today)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta

__all__ = ["DEFAULT_START", "SimPunch", "SimUser", "generate"]

#: The first working day of a generated data set (a Monday).
DEFAULT_START = date(2024, 1, 8)


@dataclass
class SimUser:
    pin: str
    name: str = ""
    privilege: int = 0
    card: str = ""
    password: str = ""


@dataclass(frozen=True)
class SimPunch:
    """One attendance record: ``status`` the state key (0 in, 1 out, …), ``verify`` the
    verify mode (1 finger, 15 face, 4 card, 3 password)."""

    pin: str
    when: datetime
    status: int = 0
    verify: int = 1
    workcode: str = "0"


_FIRST = ("Ana", "Ben", "Carla", "David", "Elena", "Farid", "Grace", "Hugo", "Ines", "Jonas")
_LAST = ("Silva", "Novak", "Okafor", "Schmidt", "Haddad", "Costa", "Kim", "Lopez", "Weber")
_CJK = ("张伟", "王芳", "李娜", "刘洋", "陈静", "杨磊", "赵敏", "黄强", "周杰", "吴霞")
_VERIFY = (1, 1, 1, 1, 1, 1, 15, 15, 4, 3)


def generate(
    users: int,
    punches: int,
    *,
    seed: int = 0,
    start: date = DEFAULT_START,
    cjk_names: bool = False,
) -> tuple[list[SimUser], list[SimPunch]]:
    """``users`` people and ``punches`` records in device order (oldest first).

    Every user punches in around 08:00 and out around 17:00 on weekdays from ``start``;
    no two records share a (PIN, time), so a receiver that stores each exactly once holds
    exactly ``punches`` records.
    """
    rng = random.Random(seed)
    people = []
    for i in range(1, users + 1):
        if cjk_names:
            name = _CJK[(i - 1) % len(_CJK)]
        else:
            name = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
        card = str(rng.randrange(10**7, 10**8)) if rng.random() < 0.5 else ""
        people.append(SimUser(str(i), name, 14 if i == 1 else 0, card, ""))
    records: list[SimPunch] = []
    if not people:
        return people, records
    day = start
    while len(records) < punches:
        if day.weekday() < 5:
            today: list[SimPunch] = []
            for person in people:
                verify = rng.choice(_VERIFY)
                for status, hour in ((0, 8), (1, 17)):
                    minutes = hour * 60 + int(max(-40, min(45, rng.gauss(0, 12))))
                    when = datetime.combine(day, datetime.min.time()) + timedelta(
                        minutes=minutes, seconds=rng.randrange(60)
                    )
                    today.append(SimPunch(person.pin, when, status, verify))
            today.sort(key=lambda r: (r.when, r.pin))
            records.extend(today[: punches - len(records)])
        day += timedelta(days=1)
    return people, records
