"""A leaver's punches that still arrive (issue 14): stored, flagged ``after_leaving``, listed
in ``status`` and the detail report, never counted — and moved with the separation date.

Real collections from in-process clocks (``driver = "memory"``) into every available
database; the separation changed through the HR service (CLI, console and roster import all
end there) and, for a card clock, the application's separation that withdraws the cards.
Fixed dates in 2025 throughout: nothing depends on today's."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from punchd.app import Actor, Site
from punchd.app import people as app_people
from punchd.app.collection import site_status
from punchd.collector import sink
from punchd.collector.collect import collect_device
from punchd.collector.status import device_finding_notices
from punchd.config import load_settings
from punchd.drivers.records import Punch, PunchState
from punchd.drivers.testing.memory import MemoryConfig, MemoryDevice
from punchd.hr import service as hr
from punchd.processing import requeue
from punchd.processing.runner import process
from punchd.reports.build import flagged_punch_rows
from punchd.rules import sync
from punchd.rules.file import parse_rules
from punchd.storage import punches as punch_store
from punchd.storage.schema import att_audit, att_day, att_employee, att_exception, att_punch

Plug = Callable[..., MemoryDevice]

MON = date(2025, 3, 3)
TUE, WED, THU, FRI = (MON + timedelta(days=i) for i in range(1, 5))
WEEK = (MON, TUE, WED, THU, FRI)
NOW = datetime(2025, 4, 1, 12, 0)  # processing "now": every window of the week has closed
RULES = """
[[period]]
code = "DAY"
start = "08:00"
end = "17:00"

[[shift]]
code = "OFFICE"
name = "Office"
periods = ["DAY"]

[[schedule]]
shift = "OFFICE"
department = "ADMIN"
from = 2025-01-01
"""
LEFT = punch_store.AFTER_LEAVING


def _day(enroll_no: str, day: date) -> list[Punch]:
    return [
        Punch(enroll_no, datetime.combine(day, time(7, 55)), PunchState.IN, verify_mode=1),
        Punch(enroll_no, datetime.combine(day, time(17, 5)), PunchState.OUT, verify_mode=1),
    ]


def _week(*enroll_nos: str) -> list[Punch]:
    return [p for no in enroll_nos for d in WEEK for p in _day(no, d)]


def gate(name: str = "gate-1", **kw: object) -> MemoryConfig:
    return MemoryConfig(name=name, timezone="Asia/Shanghai", **kw)  # type: ignore[arg-type]


@pytest.fixture
def emp(engine: Engine) -> dict[str, int]:
    """E1 (enroll 101) and E2 (102) on the office shift since 2024; the week processed."""
    with engine.begin() as conn:
        for no, enroll in (("E1", "101"), ("E2", "102")):
            hr.add_employee(
                conn, no, f"Name {no}", "ADMIN", date(2024, 1, 1), actor="t", now=NOW,
                enroll_no=enroll,
            )  # fmt: skip
        sync.apply_rules_file(conn, parse_rules(RULES), actor="t")
    process(engine, MON, FRI, now=NOW, actor="t")
    with engine.connect() as conn:
        queued = requeue.pending(conn)
        ids = dict(conn.execute(select(att_employee.c.employee_no, att_employee.c.id)).all())
    requeue.forget(engine, queued)
    return ids


def flags(engine: Engine, enroll_no: str) -> dict[datetime, str | None]:
    """punched_at → flag of the punches under ``enroll_no``."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(att_punch.c.punched_at, att_punch.c.flag).where(
                att_punch.c.enroll_no == enroll_no
            )
        ).all()
    return {at: flag for at, flag in rows}


def flagged_days(engine: Engine, enroll_no: str, flag: str = LEFT) -> list[date]:
    return sorted({at.date() for at, f in flags(engine, enroll_no).items() if f == flag})


def status_of(engine: Engine, employee_id: int, day: date) -> str | None:
    with engine.connect() as conn:
        return conn.execute(
            select(att_day.c.status).where(
                att_day.c.employee_id == employee_id, att_day.c.work_date == day
            )
        ).scalar_one_or_none()


def separate(engine: Engine, employee_no: str, on: date | None) -> None:
    with engine.begin() as conn:
        if on is None:
            hr.unseparate(conn, employee_no, actor="hr-clerk")
        else:
            hr.separate(conn, employee_no, on, actor="hr-clerk")


def drain(engine: Engine) -> None:
    requeue.drain(engine, now=NOW, actor="t")


def test_a_punch_on_the_separation_day_counts_one_after_is_stored_flagged(
    engine: Engine, emp: dict[str, int], memory_device: Plug
) -> None:
    separate(engine, "E1", WED)  # the last day that counts
    memory_device("gate-1", punches=_week("101", "102"))
    result = collect_device(engine, gate())
    assert result.ok and result.records_new == 20
    assert result.flagged == {}  # not implausible device data: no error on the run
    assert result.error is None
    assert flagged_days(engine, "101") == [THU, FRI]
    assert flagged_days(engine, "102") == []
    drain(engine)
    assert [status_of(engine, emp["E1"], d) for d in WEEK] == [
        *["present"] * 3,  # the separation day itself counts
        None,
        None,
    ]
    with engine.connect() as conn:  # processing never sees the flagged ones
        counted = conn.execute(
            select(func.count()).where(att_punch.c.enroll_no == "101", att_punch.c.flag.is_(None))
        ).scalar_one()
    assert counted == 6
    assert status_of(engine, emp["E2"], FRI) == "present"


def test_undoing_the_separation_clears_the_flag_and_the_day_is_processed(
    engine: Engine, emp: dict[str, int], memory_device: Plug
) -> None:
    separate(engine, "E1", WED)
    memory_device("gate-1", punches=_week("101"))
    collect_device(engine, gate())
    drain(engine)
    assert status_of(engine, emp["E1"], THU) is None
    separate(engine, "E1", None)
    assert flagged_days(engine, "101") == []
    with engine.connect() as conn:
        queued = [(r.employee_id, r.date_from, r.reason) for r in requeue.pending(conn)]
        detail = conn.execute(
            select(att_audit.c.detail)
            .where(att_audit.c.action == "unseparate")
            .order_by(att_audit.c.id.desc())
        ).scalar_one()
    assert (emp["E1"], THU, "separation") in queued
    assert json.loads(detail)["punches_unflagged"] == 4  # audited with the change
    drain(engine)
    assert status_of(engine, emp["E1"], THU) == "present"
    assert status_of(engine, emp["E1"], FRI) == "present"


def test_moving_the_separation_date_moves_the_flags_both_ways(
    engine: Engine, emp: dict[str, int], memory_device: Plug
) -> None:
    separate(engine, "E1", WED)
    memory_device("gate-1", punches=_week("101"))
    collect_device(engine, gate())
    drain(engine)
    separate(engine, "E1", THU)  # later: Thursday's punches count again
    assert flagged_days(engine, "101") == [FRI]
    drain(engine)
    assert status_of(engine, emp["E1"], THU) == "present"
    assert status_of(engine, emp["E1"], FRI) is None
    separate(engine, "E1", MON)  # earlier: Tuesday on are flagged
    assert flagged_days(engine, "101") == [TUE, WED, THU, FRI]
    drain(engine)
    assert [status_of(engine, emp["E1"], d) for d in WEEK] == ["present", *[None] * 4]


def test_other_flags_are_never_touched(
    engine: Engine, emp: dict[str, int], memory_device: Plug
) -> None:
    """A punch dated 2000 by a clock that lost its time stays ``power_loss`` whatever the
    separation date does (here: before it, moved, undone)."""
    with engine.begin() as conn:
        hr.add_employee(
            conn, "E9", "Old hand", "ADMIN", date(1990, 1, 2), actor="t", now=NOW, enroll_no="109"
        )
    lost = Punch("109", datetime(2000, 6, 1, 8, 0), PunchState.IN, verify_mode=1)
    separate(engine, "E9", date(1999, 6, 30))
    memory_device("gate-1", punches=[lost, *_day("109", MON)])
    collect_device(engine, gate())
    stored = flags(engine, "109")
    assert stored[lost.punched_at] == "power_loss"
    assert flagged_days(engine, "109") == [MON]
    for on in (date(1999, 1, 1), date(2001, 1, 1), None):
        separate(engine, "E9", on)
        assert flags(engine, "109")[lost.punched_at] == "power_loss", on
    assert flagged_days(engine, "109") == []


def test_status_and_the_detail_report_list_them(
    engine: Engine, emp: dict[str, int], memory_device: Plug
) -> None:
    separate(engine, "E1", WED)
    memory_device("gate-1", punches=_week("101", "102"))
    collect_device(engine, gate())
    with engine.connect() as conn:
        collected = conn.execute(select(func.max(att_punch.c.collected_at))).scalar_one()
        named = device_finding_notices(
            conn, {"gate-1"}, collected + timedelta(hours=1), people=True
        )
        console = device_finding_notices(conn, {"gate-1"}, collected + timedelta(hours=1))
        week_on = device_finding_notices(conn, {"gate-1"}, collected + timedelta(days=8))
        rows = flagged_punch_rows(conn, MON, FRI)
        only_e2 = flagged_punch_rows(conn, MON, FRI, [emp["E2"]])
    (notice,) = named  # not listed as implausible punches of the clock
    assert notice.code == "leaver_punches" and notice.params["count"] == 4
    assert notice.text.startswith("punches by people who have left: 4 stored in the last 7 days")
    assert "e.g. E1 Name E1 2025-03-07 17:05 on gate-1" in notice.text
    (quiet,) = console  # the console's notice names nobody: its reader may see one department
    assert quiet.params == {"count": 4, "days": 7}
    assert "E1" not in quiet.text
    assert week_on == []
    assert len(rows) == 4 and all("after_leaving" in r[-1] and r[0] == "E1" for r in rows)
    assert only_e2 == []


def test_re_sent_punches_are_stored_once_and_keep_their_flag(
    engine: Engine, emp: dict[str, int], memory_device: Plug
) -> None:
    separate(engine, "E1", WED)
    memory_device("gate-1", punches=_week("101"))
    assert collect_device(engine, gate()).records_new == 10
    again = collect_device(engine, gate())  # a clock that is not cleared sends them all again
    assert (again.records_read, again.records_new) == (10, 0)
    with engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(att_punch)).scalar_one()
    assert stored == 10
    assert flagged_days(engine, "101") == [THU, FRI]


def test_the_write_path_looks_leavers_up_once_per_batch(
    engine: Engine, emp: dict[str, int], memory_device: Plug, monkeypatch: pytest.MonkeyPatch
) -> None:
    separate(engine, "E1", WED)
    monkeypatch.setattr(sink, "BATCH", 6)
    calls: list[int] = []
    real = punch_store.separations_by_enroll

    def counted(conn, enroll_nos):  # type: ignore[no-untyped-def]
        calls.append(len(set(enroll_nos)))
        return real(conn, enroll_nos)

    monkeypatch.setattr(punch_store, "separations_by_enroll", counted)
    memory_device("gate-1", punches=_week("101", "102"))
    collect_device(engine, gate())
    assert len(calls) == 4  # 20 punches in batches of 6: one look-up each
    assert flagged_days(engine, "101") == [THU, FRI]
    calls.clear()
    collect_device(engine, gate())
    assert calls == []  # nothing new: nothing looked up


def test_a_roster_import_with_a_separation_date_flags_and_its_punches(
    engine: Engine, emp: dict[str, int], memory_device: Plug
) -> None:
    memory_device("gate-1", punches=_week("101"))
    collect_device(engine, gate())
    assert flagged_days(engine, "101") == []
    with engine.begin() as conn:  # the one-row roster import the CLI's `employees add` is
        hr.add_employee(
            conn, "E1", "Name E1", "ADMIN", date(2024, 1, 1), actor="t", now=NOW,
            enroll_no="101", separation_date=TUE,
        )  # fmt: skip
        detail = conn.execute(
            select(att_audit.c.detail).where(att_audit.c.action == "reflag")
        ).scalar_one()
    assert flagged_days(engine, "101") == [WED, THU, FRI]
    assert json.loads(detail) == {"employees": ["E1"], "punches_flagged_after_leaving": 6}


def test_a_card_clock_punch_after_leaving_is_flagged_until_the_separation_is_undone(
    engine: Engine, emp: dict[str, int], memory_device: Plug, tmp_path: Path
) -> None:
    """On a card clock the punch belongs to whoever held the card; a separation withdraws
    the leaver's cards from the next day, and a punch with the withdrawn card is theirs."""
    site = Site(load_settings(None, data_dir=tmp_path, timezone="Asia/Shanghai"), engine)
    actor = Actor("hr-clerk")
    with engine.begin() as conn:
        hr.issue_card(conn, "5001", "E1", datetime(2024, 1, 1), actor="t")
        hr.issue_card(conn, "5002", "E2", datetime(2024, 1, 1), actor="t")
    app_people.separate(site, "E1", WED, actor=actor)
    memory_device("door", punches=_week("5001", "5002"))
    collect_device(engine, gate("door", user_code="card"))
    assert flagged_days(engine, "5001") == [THU, FRI]
    assert flagged_days(engine, "5002") == []
    # `punchd status` names the newest (the withdrawn card's last holder); the console not
    (named,) = [n for n in site_status(site, people=True).notices if n.code == "leaver_punches"]
    assert "e.g. E1 Name E1 2025-03-07 17:05 on door" in named.text
    (quiet,) = [n for n in site_status(site).notices if n.code == "leaver_punches"]
    assert quiet.params == {"count": 4, "days": 7}
    app_people.separate(site, "E1", THU, actor=actor)  # moved: the card came back, then went
    assert flagged_days(engine, "5001") == [FRI]
    app_people.unseparate(site, "E1", actor=actor)
    assert flagged_days(engine, "5001") == []
    drain(engine)
    assert status_of(engine, emp["E1"], FRI) == "present"


def test_a_push_clock_upload_by_a_leaver_is_stored_flagged(
    engine: Engine, emp: dict[str, int], tmp_path: Path
) -> None:
    """The push receiver (real HTTP on loopback) stores through the same write path; a
    punch re-sent in a second upload is stored once."""
    from punchd.drivers.adms.driver import ADMSConfig

    from .helpers.daemon import Receivers

    serial = "CQZ7221160099"
    clock_now = datetime(2025, 3, 10, 2, 0)  # the receiver's clock, naive UTC
    separate(engine, "E1", WED)
    body = "".join(
        f"{pin}\t{when}\t0\t1\t0\t0\t0\n"
        for pin, when in (("101", "2025-03-05 17:05:00"), ("101", "2025-03-06 07:55:00"))
    )
    config = ADMSConfig(name="gate-push", serial=serial, timezone="Asia/Shanghai")
    with Receivers(engine, tmp_path, now=lambda: clock_now) as receivers:
        run = receivers.start(config)
        assert run.post("/iclock/cdata", body, SN=serial, table="ATTLOG").text == "OK: 2"
        assert run.post("/iclock/cdata", body, SN=serial, table="ATTLOG").text == "OK: 2"
    assert flags(engine, "101") == {
        datetime(2025, 3, 5, 17, 5): None,  # the separation day
        datetime(2025, 3, 6, 7, 55): LEFT,
    }


def test_every_flag_has_its_words() -> None:
    """The console's label (translated) and the report's meaning of every att_punch.flag."""
    from punchd.reports.build import _FLAG_MEANING
    from punchd.storage.schema import PUNCH_FLAGS
    from punchd.web import i18n
    from punchd.web.pages import FLAG_NAMES

    zh = i18n.load_translations("zh_Hans")
    assert set(FLAG_NAMES) == set(PUNCH_FLAGS) == set(_FLAG_MEANING)
    assert LEFT in PUNCH_FLAGS and len(LEFT) <= att_punch.c.flag.type.length
    for flag, label in FLAG_NAMES.items():
        assert zh.gettext(label) != label, flag
    assert zh.gettext(FLAG_NAMES[LEFT]) == "离职后打卡"


NIGHT_RULES = """
[[period]]
code = "NIGHT"
start = "22:00"
end = "06:00"

[[shift]]
code = "NIGHTS"
name = "Nights"
periods = ["NIGHT"]

[[schedule]]
shift = "NIGHTS"
department = "ADMIN"
from = 2025-01-01
"""


def test_a_night_shifts_last_check_out_after_midnight_still_counts(
    engine: Engine, memory_device: Plug
) -> None:
    """Separated on Wednesday after Wednesday's night shift (22:00 to Thursday 06:00): the
    06:05 check-out is dated Thursday, so it is flagged and listed, yet it ends the last
    shift, which is complete; Thursday night's punches count nowhere."""
    with engine.begin() as conn:
        hr.add_employee(
            conn, "E1", "Night owl", "ADMIN", date(2024, 1, 1), actor="t", now=NOW,
            enroll_no="101",
        )  # fmt: skip
        sync.apply_rules_file(conn, parse_rules(NIGHT_RULES), actor="t")
        emp_id = conn.execute(select(att_employee.c.id)).scalar_one()
    separate(engine, "E1", WED)
    nights = [
        Punch("101", datetime.combine(d, time(21, 55)), PunchState.IN, verify_mode=1)
        for d in (WED, THU)
    ] + [
        Punch("101", datetime.combine(d, time(6, 5)), PunchState.OUT, verify_mode=1)
        for d in (THU, FRI)
    ]
    clock = memory_device("gate-1", punches=nights[:1])  # Wednesday's check-in
    collect_device(engine, gate())
    drain(engine)  # Wednesday processed without its check-out
    clock.punches.extend(nights[1:])
    collect_device(engine, gate())
    assert flagged_days(engine, "101") == [THU, FRI]
    drain(engine)  # the flagged check-out queued Wednesday again
    with engine.connect() as conn:
        day = conn.execute(
            select(att_day).where(att_day.c.employee_id == emp_id, att_day.c.work_date == WED)
        ).one()
        later = conn.execute(
            select(func.count()).where(att_day.c.employee_id == emp_id, att_day.c.work_date > WED)
        ).scalar_one()
        findings = conn.execute(
            select(att_exception.c.kind).where(att_exception.c.employee_id == emp_id)
        ).all()
    assert day.status == "present", day
    assert findings == []  # checked out: no "missing check-out" on the last shift
    assert later == 0  # no day after the separation
