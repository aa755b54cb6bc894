"""Rule inputs: parsing, validation, calendars, schedule lookup, punch load range."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from punchd.processing import (
    CalendarDataMissing,
    DayKind,
    DayOverride,
    DayType,
    Employee,
    HolidayCalendar,
    Leave,
    Period,
    ProcessingSettings,
    Rules,
    ScheduleAssignment,
    Shift,
    format_minutes,
    parse_clock,
    punch_load_range,
    scheduled_day,
)

P = Period.at


def test_parse_clock():
    assert parse_clock("08:30") == 510
    assert parse_clock("0:05") == 5
    assert parse_clock("24:00") == 1440
    for bad in ("24:01", "8.30", "12:60", "x"):
        with pytest.raises(ValueError):
            parse_clock(bad)


def test_format_minutes():
    assert format_minutes(510) == "08:30"
    assert format_minutes(1800) == "+1 06:00"
    assert format_minutes(-60) == "-1 23:00"


def test_period_at_crosses_midnight_and_ends_at_2400():
    assert (P("22:00", "06:00").start, P("22:00", "06:00").end) == (1320, 1800)
    assert (P("16:00", "24:00").start, P("16:00", "24:00").end) == (960, 1440)
    assert (P("00:00", "08:00").start, P("00:00", "08:00").end) == (0, 480)
    with pytest.raises(ValueError):
        P("24:00", "08:00")


def test_period_window_times_land_on_the_nearest_day():
    night = P("00:00", "08:00", checkin=("23:00", "00:30"), checkout=("07:00", "12:00"))
    assert (night.checkin_from, night.checkin_until) == (-60, 30)
    assert (night.checkout_from, night.checkout_until) == (420, 720)
    guard = P("22:00", "06:00", checkin=("20:00", "23:00"), checkout=("05:00", "10:00"))
    assert (guard.checkin_from, guard.checkin_until) == (1200, 1380)
    assert (guard.checkout_from, guard.checkout_until) == (1740, 2040)


def test_default_windows():
    p = P("08:00", "12:00")
    assert p.windows(ProcessingSettings()) == (360, 599, 600, 960)  # 06:00–09:59, 10:00–16:00


def test_period_validation():
    with pytest.raises(ValueError):
        Period(480, 480)
    with pytest.raises(ValueError):
        Period(480, 480 + 1441)
    with pytest.raises(ValueError):
        P("08:00", "12:00", checkin=("18:00", "19:00"))  # check-in window after check-out's
    with pytest.raises(ValueError):
        Period(480, 720, checkin_from=480 - 721)  # more than 12 h before the start
    with pytest.raises(ValueError):
        P("08:00", "12:00", late_grace=-1)


def test_shift_validation():
    with pytest.raises(ValueError):
        Shift("X", ((P("08:00", "12:00"), P("11:00", "13:00")),))  # overlap
    with pytest.raises(ValueError):
        Shift("X", ((),) * 6, unit="week")
    with pytest.raises(ValueError):
        Shift("X", ())
    weekly = Shift.weekly("W", [P("08:00", "17:00")], workdays=(0, 1, 2, 3, 4, 5))
    assert [bool(d) for d in weekly.days] == [True] * 6 + [False]


def test_weekly_cycle_day_index_starts_on_monday():
    two_weeks = Shift("2W", ((P("08:00", "17:00"),),) * 7 + ((),) * 7, unit="week")
    anchor = date(2024, 3, 6)  # a Wednesday: day 0 is that week's Monday
    assert two_weeks.day_index(anchor, date(2024, 3, 4)) == 0
    assert two_weeks.day_index(anchor, date(2024, 3, 11)) == 7
    assert two_weeks.day_index(anchor, date(2024, 3, 18)) == 0
    daily = Shift("3D", ((P("08:00", "16:00"),), (), ()))
    assert daily.day_index(anchor, date(2024, 3, 6)) == 0
    assert daily.day_index(anchor, date(2024, 3, 5)) == 2


def test_scope_and_leave_validation():
    shift = Shift.weekly("W", [P("08:00", "17:00")])
    with pytest.raises(ValueError):
        ScheduleAssignment(shift, date(2024, 1, 1))
    with pytest.raises(ValueError):
        ScheduleAssignment(shift, date(2024, 1, 1), employee_id=1, department="D")
    with pytest.raises(ValueError):
        DayOverride(date(2024, 1, 1), shift, day=7, employee_id=1)
    with pytest.raises(ValueError):
        Leave(1, "x", date(2024, 1, 2), datetime(2024, 1, 3))
    with pytest.raises(ValueError):
        Leave(1, "x", datetime(2024, 1, 2, 10), datetime(2024, 1, 2, 10))
    assert Leave(1, "x", date(2024, 1, 2), date(2024, 1, 2)).full_days


def test_settings_validation():
    with pytest.raises(ValueError):
        ProcessingSettings(missing_punch_policy="ignore")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ProcessingSettings(default_checkout_after=721)
    with pytest.raises(ValueError):
        ProcessingSettings(collapse_minutes=-1)


# ---------------------------------------------------------------------------- calendar


def test_explicit_dates_beat_the_packages():
    cal = HolidayCalendar(
        holidays={date(2024, 2, 4): "company day"},  # chinese-calendar: make-up workday
        workdays=[date(2024, 2, 12)],  # chinese-calendar: Spring Festival
        china=True,
    )
    r = cal.resolve(date(2024, 2, 1), date(2024, 2, 29))
    assert r.day_type(date(2024, 2, 4)) is DayType.HOLIDAY
    assert r.name(date(2024, 2, 4)) == "company day"
    assert r.day_type(date(2024, 2, 12)) is DayType.MAKEUP_WORKDAY
    assert r.day_type(date(2024, 2, 13)) is DayType.HOLIDAY
    assert r.day_type(date(2024, 2, 18)) is DayType.MAKEUP_WORKDAY
    assert r.day_type(date(2024, 2, 20)) is DayType.ORDINARY


def test_country_calendar_from_the_holidays_package():
    r = HolidayCalendar(country="DE").resolve(date(2024, 12, 20), date(2024, 12, 31))
    assert r.day_type(date(2024, 12, 25)) is DayType.HOLIDAY
    assert r.name(date(2024, 12, 25)) == "Christmas Day"
    assert r.day_type(date(2024, 12, 24)) is DayType.ORDINARY


def test_chinese_calendar_outside_any_data_refuses():
    with pytest.raises(CalendarDataMissing):
        HolidayCalendar(china=True).resolve(date(1949, 12, 1), date(1949, 12, 31))


def test_date_cannot_be_holiday_and_workday():
    with pytest.raises(ValueError):
        HolidayCalendar(holidays=[date(2024, 1, 1)], workdays=[date(2024, 1, 1)])


# ---------------------------------------------------------------------------- schedule


def test_scheduled_day():
    office = Shift.weekly("OFF", [P("08:00", "17:00")])
    rules = Rules(
        assignments=[ScheduleAssignment(office, date(2024, 1, 1), department="D")],
        calendar=HolidayCalendar(china=True),
    )
    emp = Employee(1, "D")
    monday = scheduled_day(emp, date(2024, 3, 4), rules)
    assert (monday.kind, monday.shift_code, len(monday.periods)) == (DayKind.WORKDAY, "OFF", 1)
    assert scheduled_day(emp, date(2024, 3, 9), rules).kind is DayKind.REST
    festival = scheduled_day(emp, date(2024, 2, 12), rules)
    assert (festival.kind, festival.calendar_name) == (DayKind.HOLIDAY, "Spring Festival")
    makeup = scheduled_day(emp, date(2024, 2, 4), rules)
    assert (makeup.kind, makeup.periods) == (DayKind.WORKDAY, office.days[0])
    assert scheduled_day(Employee(2, "X"), date(2024, 3, 4), rules).kind is DayKind.UNSCHEDULED


def test_assignment_date_range_is_inclusive():
    a = Shift.weekly("A", [P("08:00", "17:00")])
    b = Shift.weekly("B", [P("09:00", "18:00")])
    rules = Rules(
        assignments=[
            ScheduleAssignment(a, date(2024, 1, 1), department="D"),
            ScheduleAssignment(b, date(2024, 3, 4), date(2024, 3, 5), employee_id=1),
        ]
    )
    emp = Employee(1, "D")
    codes = [scheduled_day(emp, date(2024, 3, d), rules).shift_code for d in (1, 4, 5, 6)]
    assert codes == ["A", "B", "B", "A"]


def test_punch_load_range():
    day = Shift.weekly("DAY", [P("08:00", "17:00")])
    night = Shift("N", ((P("00:00", "08:00"),),))
    guard = Shift("G", ((P("22:00", "06:00"),),))
    rules = Rules(
        assignments=[
            ScheduleAssignment(s, date(2024, 1, 1), department=s.code) for s in (day, night, guard)
        ]
    )
    lo, hi = punch_load_range(rules, date(2024, 3, 1), date(2024, 3, 31))
    # night's check-in window opens 22:00 the day before; 5 more minutes for duplicates
    assert lo == datetime(2024, 2, 29, 21, 55)
    assert hi == datetime(2024, 4, 1, 10, 1)  # guard's check-out until 10:00 (inclusive)
    lo, hi = punch_load_range(Rules(), date(2024, 3, 1), date(2024, 3, 31))
    assert (lo, hi) == (datetime(2024, 2, 29, 23, 55), datetime(2024, 4, 1))
