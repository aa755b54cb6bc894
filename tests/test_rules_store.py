"""Rules into the tables: loading the rules file and the everyday edits, on every backend."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.engine import Engine

from punchd.processing import inputs as rules_active
from punchd.rules import holidays as rules_holidays
from punchd.rules import leave as rules_leave
from punchd.rules import punches as rules_punches
from punchd.rules import schedules as rules_schedules
from punchd.rules import settings as rules_settings
from punchd.rules import sync
from punchd.rules.errors import RulesError
from punchd.rules.file import load_rules_file, parse_rules
from punchd.storage.schema import (
    att_audit,
    att_device,
    att_holiday,
    att_leave,
    att_period,
    att_punch,
    att_schedule,
    att_schedule_override,
    att_setting,
    att_shift,
    att_shift_period,
)

from .helpers.org import EXAMPLE, seed_org

T0 = datetime(2026, 1, 1)
RULE_TABLES = (
    att_setting,
    att_holiday,
    att_period,
    att_shift,
    att_shift_period,
    att_schedule,
    att_schedule_override,
)


@pytest.fixture
def org(engine: Engine) -> dict[str, int]:
    return seed_org(engine)


def load(engine: Engine, text_or_path: str | Path, actor: str = "hr") -> sync.LoadSummary:
    rules = (
        load_rules_file(text_or_path)
        if isinstance(text_or_path, Path)
        else parse_rules(text_or_path)
    )
    with engine.begin() as conn:
        return sync.apply_rules_file(conn, rules, actor=actor)


def snapshot(engine: Engine) -> dict[str, list[tuple]]:
    """Every rules table, without the timestamps."""
    out = {}
    with engine.connect() as conn:
        for table in RULE_TABLES:
            cols = [c for c in table.c if not c.name.endswith("_at")]
            rows = conn.execute(select(*cols)).all()
            out[table.name] = sorted(tuple(r) for r in rows)
    return out


def drop_block(text: str, start: str) -> str:
    """``text`` without the TOML table that begins with ``start`` (up to a blank line)."""
    begin = text.index(start)
    return text[:begin] + text[text.index("\n\n", begin) + 2 :]


def audits(engine: Engine, entity: str | None = None) -> list[Any]:
    query = select(att_audit).order_by(att_audit.c.id)
    if entity:
        query = query.where(att_audit.c.entity == entity)
    with engine.connect() as conn:
        return conn.execute(query).all()


# ------------------------------------------------------------------------------ the file


def test_example_file_loads_into_the_tables(engine: Engine, org: dict[str, int]) -> None:
    summary = load(engine, EXAMPLE)
    assert summary.added["period"] == ["AM", "PM", "L1", "L2", "L3", "D", "M", "N", "G"]
    with engine.connect() as conn:
        periods = {r.code: r for r in conn.execute(select(att_period))}
        shifts = {r.code: r for r in conn.execute(select(att_shift))}
        days = conn.execute(select(att_shift_period)).all()
        settings = {r.name: json.loads(r.value) for r in conn.execute(select(att_setting))}
        holidays = {r.holiday_date: (r.kind, r.name) for r in conn.execute(select(att_holiday))}
        schedules = conn.execute(select(att_schedule)).all()
        overrides = conn.execute(select(att_schedule_override)).all()

    def span(code: str) -> tuple[int, int]:
        return periods[code].start_minute, periods[code].end_minute

    assert [span(c) for c in ("L1", "L2", "L3")] == [(480, 720), (780, 1020), (1080, 1200)]
    assert span("D") == (480, 960) and span("M") == (960, 1440) and span("N") == (0, 480)
    assert span("G") == (1320, 1800) and periods["G"].counted_minutes == 420
    assert periods["D"].counted_minutes is None  # its length
    am = periods["AM"]
    assert (am.checkin_from, am.checkin_until, am.checkout_from, am.checkout_until) == (
        390,
        600,
        None,
        None,
    )
    assert (am.late_grace, am.early_grace, am.must_check_in, am.must_check_out) == (
        5,
        0,
        True,
        False,
    )
    assert periods["L3"].must_check_in is False
    assert periods["N"].checkin_from == -60  # 23:00 the evening before
    assert am.updated_by == "hr"

    rot, office = shifts["ROT"], shifts["OFFICE"]
    assert (rot.unit, rot.cycle_days, rot.follows_calendar) == ("day", 9, False)
    assert (office.unit, office.cycle_days, office.follows_calendar, office.name) == (
        "week",
        7,
        True,
        "Office day",
    )
    code = {p.id: c for c, p in periods.items()}
    rot_days = sorted((d.day_index, code[d.period_id]) for d in days if d.shift_id == rot.id)
    assert rot_days == [(0, "D"), (1, "D"), (3, "M"), (4, "M"), (6, "N"), (7, "N")]
    office_days = sorted((d.day_index, code[d.period_id]) for d in days if d.shift_id == office.id)
    assert office_days == [(i, p) for i in range(5) for p in ("AM", "PM")]

    assert settings["collapse_minutes"] == 5 and settings["calendar_china"] is True
    assert settings["missing_punch_policy"] == "late"
    assert "late_as_absent_after" not in settings and "calendar_country" not in settings
    assert holidays[date(2026, 6, 1)] == ("holiday", "Company day")
    assert holidays[date(2026, 12, 25)] == ("holiday", "Year-end break")
    assert holidays[date(2026, 12, 26)][0] == "workday"

    by_target = {(s.department_id, s.employee_id): s for s in schedules}
    admin = by_target[(org["ADMIN"], None)]
    assert (admin.shift_id, admin.date_from, admin.date_to, admin.anchor) == (
        office.id,
        date(2026, 1, 1),
        None,
        None,
    )
    assert by_target[(org["LINE-B"], None)].anchor == date(2025, 12, 29)
    guard = by_target[(None, org["E1001"])]
    assert (guard.shift_id, guard.date_to) == (shifts["GUARD"].id, date(2026, 12, 31))
    assert len(schedules) == 5
    by_date = {o.work_date: o for o in overrides}
    inventory = by_date[date(2026, 11, 28)]
    assert (inventory.department_id, inventory.shift_id, inventory.day_index) == (
        org["ADMIN"],
        office.id,
        0,
    )
    rest = by_date[date(2026, 11, 30)]
    assert (rest.employee_id, rest.shift_id) == (org["E1001"], None)

    (entry,) = audits(engine, "rules")
    assert (entry.action, entry.changed_by) == ("load", "hr")
    assert entry.entity_key.endswith("rules.example.toml")
    assert json.loads(entry.detail)["added"]["shift"] == ["OFFICE", "LONG", "ROT", "GUARD"]


def test_reloading_the_same_file_changes_nothing(engine: Engine, org: dict[str, int]) -> None:
    load(engine, EXAMPLE)
    before = snapshot(engine)
    summary = load(engine, EXAMPLE, actor="someone-else")
    assert summary.changes == 0
    assert summary.unchanged == {
        "setting": 9,
        "period": 9,
        "shift": 4,
        "schedule": 5,
        "override": 2,
        "holiday": 4,
    }
    assert snapshot(engine) == before  # ids and created_by included


def test_reload_replaces_the_files_parts_and_keeps_the_commands(
    engine: Engine, org: dict[str, int]
) -> None:
    load(engine, EXAMPLE)
    with engine.connect() as conn:
        d_id = conn.execute(select(att_period.c.id).where(att_period.c.code == "D")).scalar_one()
    with engine.begin() as conn:
        rules_leave.add_leave(conn, "E1001", "annual", date(2026, 11, 2), actor="hr")
        rules_holidays.add_holiday(conn, date(2026, 10, 1), name="National Day", actor="hr")
        rules_schedules.set_override(
            conn, date(2026, 11, 3), employee_no="E1001", actor="hr"
        )  # rest
        rules_schedules.assign_schedule(
            conn, "OFFICE", employee_no="E1002", date_from=date(2026, 2, 1), actor="hr"
        )
    text = EXAMPLE.read_text(encoding="utf-8")
    day = 'code = "D"\nstart = "{}"\nend = "{}"'
    text = text.replace(day.format("08:00", "16:00"), day.format("07:30", "15:30"))
    text = text.replace('missing_punch_policy = "late"', 'missing_punch_policy = "absent"')
    text = text.replace("collapse_minutes = 5 ", "")
    # drop the guard's period, shift and schedule
    text = drop_block(text, "[[period]]                       # gate guard")
    text = drop_block(text, '[[shift]]\ncode = "GUARD"')
    text = drop_block(text, '[[schedule]]\nshift = "GUARD"')
    summary = load(engine, text)
    assert summary.changed == {"setting": ["missing_punch_policy"], "period": ["D"]}
    assert summary.removed["setting"] == ["collapse_minutes"]
    assert summary.removed["shift"] == ["GUARD"]
    assert summary.removed["period"] == ["G"]
    assert len(summary.removed["schedule"]) == 2  # GUARD's and the one from the command line
    with engine.connect() as conn:
        d = conn.execute(select(att_period).where(att_period.c.code == "D")).one()
        assert (d.id, d.start_minute, d.end_minute) == (d_id, 450, 930)  # same row, changed
        codes = set(conn.execute(select(att_shift.c.code)).scalars())
        assert codes == {"OFFICE", "LONG", "ROT"}
        assert conn.execute(select(func.count()).select_from(att_schedule)).scalar_one() == 4
        settings = {r.name: json.loads(r.value) for r in conn.execute(select(att_setting))}
        assert settings["missing_punch_policy"] == "absent" and "collapse_minutes" not in settings
        # what came from the commands is still there
        assert conn.execute(select(func.count()).select_from(att_leave)).scalar_one() == 1
        holiday = conn.execute(
            select(att_holiday).where(att_holiday.c.holiday_date == date(2026, 10, 1))
        ).one()
        assert holiday.name == "National Day"
        dates = set(conn.execute(select(att_schedule_override.c.work_date)).scalars())
        assert dates == {date(2026, 11, 3), date(2026, 11, 28), date(2026, 11, 30)}


def test_problems_with_the_database_change_nothing(engine: Engine, org: dict[str, int]) -> None:
    load(engine, EXAMPLE)
    before = snapshot(engine)
    text = EXAMPLE.read_text(encoding="utf-8")
    text = text.replace('department = "WORKSHOP"', 'department = "NOWHERE"')
    text = text.replace('employee = "E1001"\nfrom', 'employee = "E404"\nfrom')
    text = text.replace('period = ["AM", "PM"]', 'period = ["AM", "PM"]')
    with pytest.raises(RulesError) as info:
        load(engine, text)
    assert info.value.problems == [
        'schedule[2]: unknown department "NOWHERE"',
        'schedule[5]: unknown employee "E404"',
    ]
    assert snapshot(engine) == before
    assert len(audits(engine, "rules")) == 1


def test_a_broken_file_never_reaches_the_tables(engine: Engine, org: dict[str, int]) -> None:
    text = EXAMPLE.read_text(encoding="utf-8").replace('end = "17:00"', 'end = "half past five"', 1)
    with pytest.raises(RulesError) as info:
        load(engine, text)
    assert info.value.problems == [
        "period[2] \"PM\": end: not a time of day (HH:MM): 'half past five'"
    ]
    assert all(rows == [] for rows in snapshot(engine).values())


def test_a_shift_still_used_by_a_temporary_schedule_cannot_be_dropped(
    engine: Engine, org: dict[str, int]
) -> None:
    load(engine, EXAMPLE)
    with engine.begin() as conn:
        rules_schedules.set_override(
            conn, date(2026, 5, 5), department_code="LINE-A", shift_code="GUARD", actor="hr"
        )
    text = EXAMPLE.read_text(encoding="utf-8").replace('"GUARD"', '"GUARD2"')
    with pytest.raises(RulesError) as info:
        load(engine, text)
    (problem,) = info.value.problems
    assert problem.startswith('shift "GUARD" is not in the file but temporary schedules use it: '
                              "2026-05-05 (department LINE-A)")  # fmt: skip
    # the file's own temporary schedule for that date and department replaces it: fine
    text += '\n[[override]]\ndate = 2026-05-05\ndepartment = "LINE-A"\nrest = true\n'
    summary = load(engine, text)
    assert summary.removed["shift"] == ["GUARD"] and summary.added["shift"] == ["GUARD2"]
    assert summary.changed["override"] == ["2026-05-05/LINE-A"]
    with engine.connect() as conn:
        row = conn.execute(
            select(att_schedule_override).where(
                att_schedule_override.c.work_date == date(2026, 5, 5)
            )
        ).one()
    assert row.shift_id is None


# ------------------------------------------------------------------------ everyday edits


def test_leave_full_and_part_days(engine: Engine, org: dict[str, int]) -> None:
    with engine.begin() as conn:
        full = rules_leave.add_leave(
            conn, "E1001", "annual", date(2026, 11, 2), date(2026, 11, 3), actor="hr"
        )
        one = rules_leave.add_leave(conn, "E1001", "sick", date(2026, 11, 9), actor="hr")
        part = rules_leave.add_leave(
            conn,
            "E1001",
            "personal",
            datetime(2026, 11, 4, 8, 0),
            datetime(2026, 11, 4, 12, 0),
            note="dentist",
            actor="boss",
        )
        # a leaver's leave is accepted, also after the separation was entered
        late = rules_leave.add_leave(
            conn, "E1002", "sick", date(2026, 3, 30), date(2026, 4, 2), actor="hr"
        )
    with engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(select(att_leave))}
    assert (rows[full].start_at, rows[full].end_at, rows[full].full_day) == (
        datetime(2026, 11, 2),
        datetime(2026, 11, 3),
        True,
    )
    assert (rows[one].start_at, rows[one].end_at) == (datetime(2026, 11, 9), datetime(2026, 11, 9))
    assert (rows[part].start_at, rows[part].end_at, rows[part].full_day, rows[part].note) == (
        datetime(2026, 11, 4, 8),
        datetime(2026, 11, 4, 12),
        False,
        "dentist",
    )
    assert (rows[part].kind, rows[part].created_by) == ("personal", "boss")
    assert rows[late].employee_id == org["E1002"]
    with engine.connect() as conn:
        assert [r.id for r in rules_leave.list_leave(conn, "E1001")] == [full, part, one]
        assert [
            r.id for r in rules_leave.list_leave(conn, None, date(2026, 11, 3), date(2026, 11, 4))
        ] == [
            full,
            part,
        ]
        assert [r.id for r in rules_leave.list_leave(conn, date_from=date(2026, 11, 5))] == [one]
    with engine.begin() as conn:
        rules_leave.remove_leave(conn, full, actor="hr")
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(att_leave)).scalar_one() == 3
    trail = audits(engine, "leave")
    assert [a.action for a in trail] == ["add"] * 4 + ["remove"]
    assert json.loads(trail[-1].detail)["employee_no"] == "E1001"


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (date(2026, 11, 3), date(2026, 11, 2), "ends before it starts"),
        (datetime(2026, 11, 3, 12), datetime(2026, 11, 3, 8), "ends before it starts"),
        (datetime(2026, 11, 3, 12), None, "needs an end time"),
        (date(2026, 11, 3), datetime(2026, 11, 3, 8), "both ends as dates"),
    ],
)
def test_leave_refused(engine: Engine, org: dict[str, int], start, end, message: str) -> None:
    with engine.begin() as conn, pytest.raises(RulesError, match=message):
        rules_leave.add_leave(conn, "E1001", "annual", start, end, actor="hr")
    with engine.begin() as conn, pytest.raises(RulesError, match="unknown employee 'E9'"):
        rules_leave.add_leave(conn, "E9", "annual", date(2026, 1, 1), actor="hr")


def test_manual_punch_row(engine: Engine, org: dict[str, int]) -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    with engine.begin() as conn:
        pid = rules_punches.add_manual_punch(
            conn,
            "E1001",
            datetime(2026, 11, 2, 8, 0),
            reason="forgot card",
            actor="hr-anna",
            tz=shanghai,
            state="in",
        )
        no_enroll = rules_punches.add_manual_punch(
            conn,
            "E1002",
            datetime(2026, 3, 29, 7, 58, 30),
            reason="clock broken",
            actor="hr",
            tz=ZoneInfo("Europe/Berlin"),
        )
    with engine.connect() as conn:
        row = conn.execute(select(att_punch).where(att_punch.c.id == pid)).one()
        other = conn.execute(select(att_punch).where(att_punch.c.id == no_enroll)).one()
    assert row.source == "manual" and row.device_id is None and row.run_id is None
    assert (row.employee_id, row.enroll_no, row.state) == (org["E1001"], "1001", "in")
    assert row.punched_at == datetime(2026, 11, 2, 8, 0)
    assert row.punched_at_utc == datetime(2026, 11, 2, 0, 0)  # UTC+8
    assert (row.note, row.created_by, row.void) == ("forgot card", "hr-anna", False)
    assert abs((row.collected_at - datetime.utcnow()).total_seconds()) < 120
    assert (other.enroll_no, other.state) == ("", "unknown")
    # 29 March 2026 is after the switch to summer time in Berlin: UTC+2
    assert other.punched_at_utc == datetime(2026, 3, 29, 5, 58, 30)
    with engine.begin() as conn, pytest.raises(RulesError, match="already has a manual punch"):
        rules_punches.add_manual_punch(
            conn, "E1001", datetime(2026, 11, 2, 8, 0, 40), reason="x", actor="hr", tz=shanghai
        )
    with engine.begin() as conn, pytest.raises(RulesError, match="needs a reason"):
        rules_punches.add_manual_punch(
            conn, "E1001", datetime(2026, 11, 2, 9), reason=" ", actor="hr", tz=shanghai
        )
    (entry,) = audits(engine, "punch")[:1]
    assert (entry.action, entry.entity_key, entry.changed_by) == ("add", str(pid), "hr-anna")


def add_device_punch(engine: Engine, enroll_no: str, at: datetime, *, card: bool = False) -> int:
    with engine.begin() as conn:
        name = "card-clock" if card else "gate"
        device_id = conn.execute(select(att_device.c.id).where(att_device.c.name == name)).scalar()
        if device_id is None:
            device_id = conn.execute(
                insert(att_device).values(
                    name=name,
                    driver="zk",
                    address="192.0.2.1",
                    user_code="card" if card else "enroll",
                    created_at=T0,
                    updated_at=T0,
                )
            ).inserted_primary_key[0]
        return conn.execute(
            insert(att_punch).values(
                device_id=device_id,
                enroll_no=enroll_no,
                punched_at=at,
                punched_at_utc=at,
                state="unknown",
                source="device",
                collected_at=T0,
            )
        ).inserted_primary_key[0]


def test_void_keeps_the_row_and_unvoid_restores_it(engine: Engine, org: dict[str, int]) -> None:
    device_punch = add_device_punch(engine, "1001", datetime(2026, 11, 2, 17, 1))
    add_device_punch(engine, "1001", datetime(2026, 11, 2, 17, 2), card=True)  # someone's card
    add_device_punch(engine, "1002", datetime(2026, 11, 2, 17, 3))  # someone else
    with engine.begin() as conn:
        manual = rules_punches.add_manual_punch(
            conn, "E1001", datetime(2026, 11, 2, 8), reason="forgot", actor="hr", tz=ZoneInfo("UTC")
        )
        rules_punches.void_punch(conn, device_punch, reason="pressed twice", actor="boss")
    with engine.connect() as conn:
        row = conn.execute(select(att_punch).where(att_punch.c.id == device_punch)).one()
        listed = rules_punches.list_punches(conn, "E1001", date(2026, 11, 2), date(2026, 11, 2))
    assert (row.void, row.void_reason, row.voided_by) == (True, "pressed twice", "boss")
    assert row.voided_at is not None and row.enroll_no == "1001"
    assert [(r.id, r.source, r.void, r.device) for r in listed] == [
        (manual, "manual", False, None),
        (device_punch, "device", True, "gate"),
    ]
    with engine.begin() as conn, pytest.raises(RulesError, match="already void"):
        rules_punches.void_punch(conn, device_punch, reason="again", actor="hr")
    with engine.begin() as conn:
        rules_punches.unvoid_punch(conn, device_punch, actor="hr", reason="was right")
    with engine.connect() as conn:
        row = conn.execute(select(att_punch).where(att_punch.c.id == device_punch)).one()
    assert (row.void, row.void_reason, row.voided_by, row.voided_at) == (False, None, None, None)
    with engine.begin() as conn, pytest.raises(RulesError, match="is not void"):
        rules_punches.unvoid_punch(conn, device_punch, actor="hr")
    with engine.begin() as conn, pytest.raises(RulesError, match="no punch with id"):
        rules_punches.void_punch(conn, 987654, reason="x", actor="hr")
    trail = [(a.action, a.entity_key) for a in audits(engine, "punch")]
    assert trail == [
        ("add", str(manual)),
        ("void", str(device_punch)),
        ("unvoid", str(device_punch)),
    ]
    detail = json.loads(audits(engine, "punch")[-1].detail)
    assert (detail["was_void_reason"], detail["was_voided_by"]) == ("pressed twice", "boss")


def test_holidays(engine: Engine, org: dict[str, int]) -> None:
    with engine.begin() as conn:
        assert (
            rules_holidays.add_holiday(conn, date(2026, 10, 1), name="National Day", actor="hr")
            == "added"
        )
        assert (
            rules_holidays.add_holiday(conn, date(2026, 10, 10), workday=True, actor="hr")
            == "added"
        )
        assert (
            rules_holidays.add_holiday(conn, date(2026, 10, 1), name="National Day", actor="x")
            == "unchanged"
        )
        assert (
            rules_holidays.add_holiday(conn, date(2026, 10, 10), name="make-up", actor="hr")
            == "changed"
        )
        rules_holidays.add_holiday(conn, date(2027, 1, 1), actor="hr")
    with engine.connect() as conn:
        rows = rules_holidays.list_holidays(conn, 2026)
    assert [(r.holiday_date, r.kind, r.name) for r in rows] == [
        (date(2026, 10, 1), "holiday", "National Day"),
        (date(2026, 10, 10), "holiday", "make-up"),
    ]
    with engine.begin() as conn:
        rules_holidays.remove_holiday(conn, date(2026, 10, 1), actor="hr")
    with engine.begin() as conn, pytest.raises(RulesError, match="no holiday"):
        rules_holidays.remove_holiday(conn, date(2026, 10, 1), actor="hr")
    with engine.connect() as conn:
        assert [r.holiday_date for r in rules_holidays.list_holidays(conn)] == [
            date(2026, 10, 10),
            date(2027, 1, 1),
        ]
    assert [a.action for a in audits(engine, "holiday")] == ["set", "set", "set", "set", "remove"]


def test_schedules_and_overrides(engine: Engine, org: dict[str, int]) -> None:
    load(engine, EXAMPLE)
    with engine.begin() as conn:
        sid = rules_schedules.assign_schedule(
            conn,
            "ROT",
            employee_no="E1002",
            date_from=date(2026, 2, 1),
            date_to=date(2026, 3, 31),
            anchor=date(2026, 2, 4),
            actor="hr",
        )
        assert (
            rules_schedules.set_override(
                conn,
                date(2026, 11, 2),
                employee_no="E1001",
                shift_code="ROT",
                day_index=6,
                actor="hr",
            )
            == "added"
        )
        # the same date and target again: replaced, not added
        assert (
            rules_schedules.set_override(conn, date(2026, 11, 2), employee_no="E1001", actor="hr")
            == "changed"
        )
        assert (
            rules_schedules.set_override(conn, date(2026, 11, 2), employee_no="E1001", actor="x")
            == "unchanged"
        )
        assert (
            rules_schedules.set_override(
                conn, date(2026, 11, 2), department_code="ADMIN", shift_code="OFFICE", actor="hr"
            )
            == "added"
        )
    with engine.connect() as conn:
        row = conn.execute(select(att_schedule).where(att_schedule.c.id == sid)).one()
        overrides = rules_schedules.list_overrides(conn, date(2026, 11, 2), date(2026, 11, 2))
        schedules = rules_schedules.list_schedules(conn)
    assert (row.employee_id, row.department_id, row.anchor) == (
        org["E1002"],
        None,
        date(2026, 2, 4),
    )
    assert [(o["employee"], o["department"], o["shift"], o["day_index"]) for o in overrides] == [
        ("E1001", None, None, 0),
        (None, "ADMIN", "OFFICE", 0),
    ]
    mine = next(s for s in schedules if s["id"] == sid)
    assert (mine["shift"], mine["employee"], mine["to"]) == ("ROT", "E1002", date(2026, 3, 31))
    with engine.begin() as conn:
        rules_schedules.clear_override(conn, date(2026, 11, 2), employee_no="E1001", actor="hr")
        rules_schedules.remove_schedule(conn, sid, actor="hr")
    with engine.connect() as conn:
        assert len(rules_schedules.list_overrides(conn, date(2026, 11, 2), date(2026, 11, 2))) == 1
        assert sid not in [s["id"] for s in rules_schedules.list_schedules(conn)]
    D0 = T0.date()
    assign = rules_schedules.assign_schedule
    problems = [
        (lambda c: assign(c, "NOPE", employee_no="E1001", date_from=D0, actor="h"),
         "unknown shift 'NOPE'"),
        (lambda c: assign(c, "ROT", department_code="X", date_from=D0, actor="h"),
         "unknown department 'X'"),
        (lambda c: assign(c, "ROT", date_from=T0.date(), actor="h"),
         "exactly one of an employee or a department"),
        (lambda c: assign(c, "ROT", employee_no="E1001", date_from=date(2026, 2, 1),
                                      date_to=date(2026, 1, 1), actor="h"),
         "ends"),
        (lambda c: rules_schedules.set_override(c, T0.date(), employee_no="E1001", shift_code="ROT",
                                   day_index=9, actor="h"),
         "has days 1–9, not 10"),
        (lambda c: rules_schedules.clear_override(c, T0.date(), employee_no="E1001", actor="h"),
         "no temporary schedule"),
    ]  # fmt: skip
    for action, message in problems:
        with engine.begin() as conn, pytest.raises(RulesError, match=message):
            action(conn)
    trail = [(a.action, a.entity) for a in audits(engine) if a.entity != "rules"]
    assert trail == [
        ("assign", "schedule"),
        ("override", "schedule_override"),
        ("override", "schedule_override"),
        ("override", "schedule_override"),
        ("remove", "schedule_override"),
        ("remove", "schedule"),
    ]


def test_settings(engine: Engine, org: dict[str, int]) -> None:
    with engine.begin() as conn:
        rules_settings.set_setting(conn, "late_as_absent_after", 100, actor="hr")
        rules_settings.set_setting(conn, "calendar_country", "de", actor="hr")
        rules_settings.set_setting(conn, "late_as_absent_after", 90, actor="hr")
        with pytest.raises(RulesError, match="whole number"):
            rules_settings.set_setting(conn, "missing_minutes", "60", actor="hr")
        with pytest.raises(RulesError, match="no subdivision"):
            rules_settings.set_setting(conn, "calendar_subdivision", "XX", actor="hr")
    with engine.connect() as conn:
        assert rules_active.stored_settings(conn) == {
            "late_as_absent_after": 90,
            "calendar_country": "DE",
        }
        view = rules_settings.overview(conn)
    assert view.settings["late_as_absent_after"] == 90 and view.settings["collapse_minutes"] == 5
    assert view.stored_settings == {"late_as_absent_after", "calendar_country"}
    with engine.begin() as conn:
        assert rules_settings.unset_setting(conn, "late_as_absent_after", actor="hr") is True
        assert rules_settings.unset_setting(conn, "late_as_absent_after", actor="hr") is False
    with engine.connect() as conn:
        assert rules_active.stored_settings(conn) == {"calendar_country": "DE"}
    assert [a.action for a in audits(engine, "setting")] == ["set", "set", "set", "unset"]


def test_overview_after_loading(engine: Engine, org: dict[str, int]) -> None:
    load(engine, EXAMPLE)
    with engine.connect() as conn:
        view = rules_settings.overview(conn)
    shifts = {s["code"]: s for s in view.shifts}
    assert shifts["ROT"]["days"] == [["D"], ["D"], [], ["M"], ["M"], [], ["N"], ["N"], []]
    assert shifts["LONG"]["days"][0] == ["L1", "L2", "L3"]
    assert view.periods[0].code == "N"  # by start
    assert (view.holidays, view.overrides, len(view.schedules)) == (4, 2, 5)
