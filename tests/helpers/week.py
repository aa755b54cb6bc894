"""The standard processing week: a small site with its punches, and its expected rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.engine import Engine

from punchd.processing.runner import ProcessSummary, process
from punchd.storage.schema import att_day, att_exception

from .rows import (
    add_card,
    add_department,
    add_device,
    add_employee,
    add_manual,
    add_period,
    add_punch,
    add_schedule,
    add_shift,
)

MON = date(2024, 3, 4)  # Monday
TUE, WED, THU, FRI, SAT, SUN = (MON + timedelta(days=i) for i in range(1, 7))
#: Processing "now": long after the week, so every window has closed.
NOW = datetime(2024, 4, 1, 12, 0)


def at(d: date, hm: str, second: int = 0) -> datetime:
    h, m = hm.split(":")
    return datetime.combine(d, datetime.min.time()).replace(
        hour=int(h), minute=int(m), second=second
    )


@dataclass
class Site:
    """The standard week (Mon 4 – Sun 10 March 2024): one 08:00–17:00 period (late grace
    5), Monday–Friday, for departments OFF (办公室) and FAC (车间)."""

    engine: Engine
    dept: dict[str, int] = field(default_factory=dict)
    emp: dict[str, int] = field(default_factory=dict)
    device: dict[str, int] = field(default_factory=dict)
    shift: dict[str, int] = field(default_factory=dict)


def build_site(engine: Engine) -> Site:
    site = Site(engine)
    with engine.begin() as c:
        site.dept["OFF"] = add_department(c, "OFF", "办公室")
        site.dept["FAC"] = add_department(c, "FAC", "车间")
        day = add_period(c, "DAY", 480, 1020, late_grace=5)
        site.shift["OFFICE"] = add_shift(c, "OFFICE", {i: [day] for i in range(5)})
        for dept in site.dept.values():
            add_schedule(c, site.shift["OFFICE"], department_id=dept)
        site.emp["E1"] = add_employee(c, "E1", "张三", site.dept["OFF"], "101")
        site.emp["E2"] = add_employee(c, "E2", "李四", site.dept["OFF"], "102")
        site.emp["E3"] = add_employee(c, "E3", "王五", site.dept["FAC"])  # card only
        site.emp["E4"] = add_employee(c, "E4", "赵六", site.dept["FAC"], "104")
        gate = site.device["gate"] = add_device(c, "gate")
        cards = site.device["cards"] = add_device(c, "cards", user_code="card")
        e1 = site.emp["E1"]
        # E1: on time; late 12 / early 20; manual punches; check-out voided; absent Friday
        add_punch(c, gate, "101", at(MON, "07:55"))
        add_punch(c, gate, "101", at(MON, "17:02"))
        add_punch(c, gate, "101", at(TUE, "08:12", 30))
        add_punch(c, gate, "101", at(TUE, "16:40"))
        add_manual(c, e1, "101", at(WED, "07:58"))
        add_manual(c, e1, "101", at(WED, "17:00"))
        add_punch(c, gate, "101", at(THU, "08:00"))
        add_punch(c, gate, "101", at(THU, "17:05"), void=True)
        # a card clock's "101" is a card number nobody holds, not E1's enroll number
        add_punch(c, cards, "101", at(FRI, "08:00"))
        add_punch(c, cards, "101", at(FRI, "17:00"))
        # E2: Monday fine, Tuesday 30 late, then nothing
        add_punch(c, gate, "102", at(MON, "07:58"))
        add_punch(c, gate, "102", at(MON, "17:00"))
        add_punch(c, gate, "102", at(TUE, "08:30"))
        add_punch(c, gate, "102", at(TUE, "17:00"))
        # card C-7: E3's until Wednesday 12:00, then E4's
        add_card(c, "C-7", site.emp["E3"], datetime(2024, 1, 1))
        add_card(c, "C-7", site.emp["E4"], at(WED, "12:00"))
        add_punch(c, cards, "C-7", at(TUE, "07:50"))
        add_punch(c, cards, "C-7", at(TUE, "17:10"))
        add_punch(c, cards, "C-7", at(WED, "07:59"))  # E3 (before the hand-over)
        add_punch(c, gate, "104", at(WED, "07:45"))  # E4 by enroll number
        add_punch(c, cards, "C-7", at(WED, "17:10"))  # E4 (after the hand-over)
        add_punch(c, cards, "C-7", at(THU, "07:50"))  # E4
        add_punch(c, cards, "C-7", at(THU, "17:10"))  # E4
        # somebody not on the roster yet
        add_punch(c, gate, "999", at(MON, "07:50"))
        add_punch(c, gate, "999", at(MON, "17:05"))
    return site


DAY_COLUMNS = (
    "work_date",
    "shift_code",
    "status",
    "scheduled_minutes",
    "worked_minutes",
    "late_minutes",
    "early_minutes",
    "absent_minutes",
    "leave_minutes",
    "overtime_minutes",
    "holiday_overtime_minutes",
    "rest_overtime_minutes",
    "missing_punches",
    "first_punch",
    "last_punch",
)


def days_of(engine: Engine, employee_id: int) -> list[tuple]:
    with engine.connect() as c:
        return [
            tuple(r)
            for r in c.execute(
                select(*(att_day.c[n] for n in DAY_COLUMNS))
                .where(att_day.c.employee_id == employee_id)
                .order_by(att_day.c.work_date)
            )
        ]


def findings_of(engine: Engine, employee_id: int) -> list[tuple]:
    with engine.connect() as c:
        return [
            tuple(r)
            for r in c.execute(
                select(
                    att_exception.c.work_date,
                    att_exception.c.period,
                    att_exception.c.kind,
                    att_exception.c.minutes,
                    att_exception.c.detail,
                )
                .where(att_exception.c.employee_id == employee_id)
                .order_by(att_exception.c.work_date, att_exception.c.id)
            )
        ]


def all_rows(engine: Engine) -> tuple[list[tuple], list[tuple]]:
    """Every att_day row (with id and processed_at) and att_exception row."""
    with engine.connect() as c:
        days = [tuple(r) for r in c.execute(select(att_day).order_by(att_day.c.id))]
        exc = [tuple(r) for r in c.execute(select(att_exception).order_by(att_exception.c.id))]
    return days, exc


def present(d: date, first: datetime, last: datetime, worked: int = 540, **kw: int) -> tuple:
    values = {"late": 0, "early": 0, "missing": 0} | kw
    return (
        d,
        "OFFICE",
        "present",
        540,
        worked,
        values["late"],
        values["early"],
        0,
        0,
        0,
        0,
        0,
        values["missing"],
        first,
        last,
    )


def absent(d: date) -> tuple:
    return (d, "OFFICE", "absent", 540, 0, 0, 0, 540, 0, 0, 0, 0, 0, None, None)


def rest(d: date) -> tuple:
    return (d, "OFFICE", "rest", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, None, None)


def run(site: Site, d_from: date = MON, d_to: date = SUN, **kw) -> ProcessSummary:
    kw.setdefault("now", NOW)
    kw.setdefault("actor", "tester")
    return process(site.engine, d_from, d_to, **kw)
