"""Engine benchmark: the attendance engine alone, on a realistic generated month.

    .venv/bin/python bench/engine.py [--employees 2000] [--days 31] [--runs 5] [--profile]

``make_dataset(employees, days, seed)`` is importable (bench/process.py builds its database
from it): 2,000 employees × 31 days give about 250,000 punches with a realistic mix —
office day shift (two periods, Monday–Friday), factory three-period day (Monday–Saturday),
day / middle / night rotation teams (24/7, ignoring holidays), a 22:00–06:00 guard shift,
China's Qingming and May Day holidays and two make-up Sundays, late / early / absent days,
full- and half-day leave, forgotten punches, duplicates, manual and void punches, overtime,
hires and leavers.

Prints the engine-only throughput in employee-days per second (target ≥ 50,000).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import statistics
import time
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from punchd.processing import (
    DayOverride,
    Employee,
    EmployeePunch,
    HolidayCalendar,
    Leave,
    Period,
    Rules,
    ScheduleAssignment,
    Shift,
    process_range,
)
from punchd.processing.plan import DayKind, ScheduleIndex

P = Period.at

OFFICE = Shift.weekly(
    "OFFICE",
    [
        P("08:30", "12:00", code="AM", late_grace=5, early_grace=5),
        P("13:00", "17:30", code="PM", late_grace=5, early_grace=5),
    ],
)
FACTORY = Shift.weekly(
    "LONG",
    [
        P("08:00", "12:00", code="1"),
        P("13:00", "17:00", code="2"),
        P("18:00", "20:00", code="3"),
    ],
    workdays=(0, 1, 2, 3, 4, 5),
)
_DAY = (P("08:00", "16:00", code="D"),)
_MIDDLE = (P("16:00", "24:00", code="M"),)
_NIGHT = (P("00:00", "08:00", code="N"),)
ROTATION = Shift(
    "ROT",
    (_DAY, _DAY, (), _MIDDLE, _MIDDLE, (), _NIGHT, _NIGHT, ()),
    follows_calendar=False,
)
GUARD = Shift("GUARD", ((P("22:00", "06:00", code="G"),),) * 4 + ((),) * 2, follows_calendar=False)

# department → (shift, share of employees, anchor offset in days)
DEPARTMENTS: dict[str, tuple[Shift, float, int]] = {
    **{f"OFF{i}": (OFFICE, 0.25 / 6, 0) for i in range(6)},
    **{f"FAC{i}": (FACTORY, 0.50 / 6, 0) for i in range(6)},
    **{f"ROT{t}": (ROTATION, 0.18 / 3, 3 * t) for t in range(3)},
    "GUARD": (GUARD, 0.07, 0),
}


@dataclass(frozen=True)
class Dataset:
    employees: list[Employee]
    punches: dict[int, list[EmployeePunch]]
    rules: Rules
    date_from: date
    date_to: date
    now: datetime

    @property
    def punch_count(self) -> int:
        return sum(len(v) for v in self.punches.values())

    @property
    def employee_days(self) -> int:
        n = 0
        for e in self.employees:
            lo = max(self.date_from, e.hire_date or self.date_from)
            hi = min(self.date_to, e.separation_date or self.date_to)
            n += max(0, (hi - lo).days + 1)
        return n


def make_dataset(
    employees: int = 2000, days: int = 31, seed: int = 1, *, per_employee: bool = False
) -> Dataset:
    """A reproducible month (from 2024-04-01) of schedules, leave and punches.

    ``per_employee=True`` stores every department schedule as one assignment per employee
    (as ZKTime keeps batch schedules), with the same results.
    """
    rng = random.Random(seed)
    date_from = date(2024, 4, 1)
    date_to = date_from + timedelta(days=days - 1)
    names = list(DEPARTMENTS)
    weights = [DEPARTMENTS[n][1] for n in names]
    assignments = [
        ScheduleAssignment(
            shift,
            date(2024, 1, 1),
            department=dept,
            anchor=date(2024, 1, 1) + timedelta(days=offset),
        )
        for dept, (shift, _, offset) in DEPARTMENTS.items()
    ]
    overrides: list[DayOverride] = []
    leaves: list[Leave] = []
    emps: list[Employee] = []
    for eid in range(1, employees + 1):
        dept = rng.choices(names, weights)[0]
        hire = date(2020, 1, 1)
        sep = None
        r = rng.random()
        if r < 0.03:
            hire = date_from + timedelta(days=rng.randrange(days))
        elif r < 0.05:
            sep = date_from + timedelta(days=rng.randrange(days))
        emps.append(Employee(eid, dept, hire, sep))
        r = rng.random()
        if r < 0.03:  # moved to the office shift mid-month
            assignments.append(
                ScheduleAssignment(
                    OFFICE, date_from + timedelta(days=rng.randrange(days)), employee_id=eid
                )
            )
        elif r < 0.05:  # a one-day swap
            overrides.append(
                DayOverride(
                    date_from + timedelta(days=rng.randrange(days)), ROTATION, 3, employee_id=eid
                )
            )
    if per_employee:
        by_dept = {a.department: a for a in assignments if a.department is not None}
        assignments = [
            replace(by_dept[e.department], department=None, employee_id=e.id) for e in emps
        ] + [a for a in assignments if a.department is None]
    calendar = HolidayCalendar(china=True)
    rules0 = Rules(tuple(assignments), tuple(overrides), (), calendar)
    index = ScheduleIndex(rules0, calendar.resolve(date_from, date_to))
    punches: dict[int, list[EmployeePunch]] = {}
    for emp in emps:
        out: list[EmployeePunch] = []
        for n in range(days):
            d = date_from + timedelta(days=n)
            if emp.hire_date > d or (emp.separation_date and emp.separation_date < d):
                continue
            plan = index.day(emp, d)
            midnight = datetime.combine(d, datetime.min.time())
            if plan.kind is not DayKind.WORKDAY:
                if rng.random() < 0.08:  # works a rest day / holiday
                    s = midnight + timedelta(minutes=rng.randrange(420, 560))
                    out.append(EmployeePunch(s))
                    out.append(EmployeePunch(s + timedelta(minutes=rng.randrange(120, 540))))
                continue
            r = rng.random()
            if r < 0.03:  # absent
                continue
            if r < 0.05:  # full-day leave
                leaves.append(Leave(emp.id, rng.choice(["annual", "sick", "personal"]), d, d))
                continue
            periods = list(plan.periods)
            if r < 0.06 and len(periods) > 1:  # half-day leave: the first period
                p0 = periods.pop(0)
                leaves.append(
                    Leave(
                        emp.id,
                        "personal",
                        midnight + timedelta(minutes=p0.start),
                        midnight + timedelta(minutes=p0.end),
                    )
                )
            late = rng.random() < 0.08
            early = rng.random() < 0.04
            overtime = rng.random() < 0.10
            forget = rng.random() < 0.02
            for i, p in enumerate(periods):
                ci = p.start - rng.randrange(1, 25)
                if late and i == 0:
                    ci = p.start + rng.randrange(1, 40)
                co = p.end + rng.randrange(0, 15)
                if early and i == len(periods) - 1:
                    co = p.end - rng.randrange(1, 60)
                if overtime and i == len(periods) - 1:
                    co = p.end + rng.randrange(31, 200)
                stamps = [ci, co]
                if forget:
                    stamps.pop(rng.randrange(2))
                    forget = False
                for m in stamps:
                    at = midnight + timedelta(minutes=m, seconds=rng.randrange(60))
                    u = rng.random()
                    if u < 0.005:
                        out.append(EmployeePunch(at, "manual"))
                    elif u < 0.007:
                        out.append(EmployeePunch(at, "device", void=True))
                        out.append(EmployeePunch(at + timedelta(minutes=7)))
                    else:
                        out.append(EmployeePunch(at))
                    if u > 0.92:  # duplicate swipe (collapses)
                        out.append(EmployeePunch(at + timedelta(seconds=rng.randrange(5, 200))))
                    elif u > 0.77:  # swiped again a while later (same window)
                        out.append(EmployeePunch(at + timedelta(minutes=rng.randrange(6, 30))))
        out.sort(key=lambda p: p.at)
        punches[emp.id] = out
    rules = Rules(tuple(assignments), tuple(overrides), tuple(leaves), calendar)
    now = datetime.combine(date_to + timedelta(days=1), datetime.min.time()) + timedelta(hours=12)
    return Dataset(emps, punches, rules, date_from, date_to, now)


def run_engine(ds: Dataset) -> tuple[float, int]:
    started = time.perf_counter()
    n = 0
    for _ in process_range(
        ds.employees, ds.punches, ds.rules, ds.date_from, ds.date_to, now=ds.now
    ):
        n += 1
    return time.perf_counter() - started, n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--employees", type=int, default=2000)
    ap.add_argument("--days", type=int, default=31)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--profile", action="store_true", help="print where the engine spends")
    ap.add_argument(
        "--per-employee",
        action="store_true",
        help="schedules stored per employee instead of per department",
    )
    args = ap.parse_args()

    started = time.perf_counter()
    ds = make_dataset(args.employees, args.days, args.seed, per_employee=args.per_employee)
    print(
        f"dataset: {len(ds.employees)} employees × {args.days} days, "
        f"{ds.punch_count:,} punches, {len(ds.rules.leaves):,} leave entries "
        f"(generated in {time.perf_counter() - started:.1f} s)"
    )
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        run_engine(ds)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(15)
        return
    rates = []
    for _ in range(args.runs):
        seconds, n = run_engine(ds)
        rates.append(n / seconds)
        print(f"  {n:,} employee-days in {seconds:.3f} s = {n / seconds:,.0f} employee-days/s")
    print(
        f"engine: best {max(rates):,.0f}, median {statistics.median(rates):,.0f} "
        "employee-days/s (target ≥ 50,000)"
    )


if __name__ == "__main__":
    main()
