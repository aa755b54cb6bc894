"""Engine acceptance tests on plain data: one test (at least) per acceptance item.

Dates: 2024-03-04 is a Monday. Unless a test says otherwise an employee is in department
"D", which works a shift from 2024-01-01, and nothing is pending (``now=None``).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from punchd.processing import (
    DayOverride,
    DayResult,
    Employee,
    EmployeePunch,
    HolidayCalendar,
    Leave,
    Period,
    ProcessingSettings,
    Rules,
    ScheduleAssignment,
    Shift,
    Status,
    process_day,
    process_range,
)

P = Period.at
MON, TUE, WED, THU, FRI, SAT, SUN = (date(2024, 3, 4) + timedelta(days=i) for i in range(7))

LONG = Shift.weekly("LONG", [P("08:00", "12:00"), P("13:00", "17:00"), P("18:00", "20:00")])
DAY = Shift.weekly("DAY", [P("08:00", "17:00", late_grace=5, early_grace=5)])
MORNING = Shift.weekly("AM", [P("08:00", "12:00")])
GUARD = Shift("GUARD", ((P("22:00", "06:00", code="G"),),), follows_calendar=False)
D_ = P("08:00", "16:00", code="D", late_grace=5, early_grace=5)
M_ = P("16:00", "24:00", code="M", late_grace=5, early_grace=5)
N_ = P("00:00", "08:00", code="N", late_grace=5, early_grace=5)
ROTATION = Shift("ROT", ((D_,), (M_,), (N_,)), follows_calendar=False)

EMP = Employee(1, "D")


def at(d: date, hm: str) -> datetime:
    """``at(MON, "07:55")`` / ``at(MON, "07:55:30")``."""
    return datetime.fromisoformat(f"{d.isoformat()} {hm}")


def rules_for(shift: Shift, anchor: date = date(2024, 1, 1), **kw) -> Rules:
    assignment = ScheduleAssignment(shift, date(2024, 1, 1), department="D", anchor=anchor)
    return Rules(assignments=(assignment, *kw.pop("assignments", ())), **kw)


def one_day(
    shift_or_rules: Shift | Rules,
    punches: list,
    work_date: date = MON,
    *,
    emp: Employee = EMP,
    now: datetime | None = None,
) -> DayResult:
    rules = shift_or_rules if isinstance(shift_or_rules, Rules) else rules_for(shift_or_rules)
    r = process_day(emp, work_date, punches, rules, now=now)
    assert r is not None
    return r


def findings(r: DayResult) -> list[tuple[str | None, str, int]]:
    return [(f.period, str(f.kind), f.minutes) for f in r.findings]


def totals(r: DayResult) -> dict[str, int]:
    """The minute columns that are not 0."""
    row = r.as_row()
    return {k: v for k, v in row.items() if k.endswith("minutes") and v} | (
        {"missing_punches": r.missing_punches} if r.missing_punches else {}
    )


# ------------------------------------------------------------------ the three-period day


def test_three_period_day_with_a_punch_in_every_window():
    punches = [at(MON, x) for x in ("07:52", "12:03", "12:56", "17:04", "17:57", "20:02")]
    r = one_day(LONG, punches)
    assert r.status is Status.PRESENT
    assert r.shift_code == "LONG"
    assert totals(r) == {"scheduled_minutes": 600, "worked_minutes": 600}
    assert r.findings == ()
    assert (r.first_punch, r.last_punch) == (at(MON, "07:52"), at(MON, "20:02"))


def test_three_period_day_with_one_periods_punches_missing():
    punches = [at(MON, x) for x in ("07:52", "12:03", "17:57", "20:02")]
    r = one_day(LONG, punches)
    assert r.status is Status.PRESENT
    assert totals(r) == {"scheduled_minutes": 600, "worked_minutes": 360, "absent_minutes": 240}
    assert findings(r) == [("2", "absent", 240)]


def test_three_period_day_with_only_the_first_and_last_punch():
    r = one_day(LONG, [at(MON, "07:55"), at(MON, "20:05")])
    # period 1 has no check-out (60 min early), period 2 nothing (absent), period 3 no
    # check-in (60 min late); worked = (240 − 60) + 0 + (120 − 60)
    assert r.status is Status.PRESENT
    assert totals(r) == {
        "scheduled_minutes": 600,
        "worked_minutes": 240,
        "late_minutes": 60,
        "early_minutes": 60,
        "absent_minutes": 240,
        "missing_punches": 2,
    }
    assert findings(r) == [("1", "missing_out", 60), ("2", "absent", 240), ("3", "missing_in", 60)]


def test_three_period_day_only_first_and_last_with_missing_punch_policy_absent():
    rules = rules_for(LONG, settings=ProcessingSettings(missing_punch_policy="absent"))
    r = one_day(rules, [at(MON, "07:55"), at(MON, "20:05")])
    assert r.status is Status.ABSENT
    assert totals(r) == {"scheduled_minutes": 600, "absent_minutes": 600, "missing_punches": 2}
    assert findings(r) == [
        ("1", "missing_out", 0),
        ("1", "absent", 240),
        ("2", "absent", 240),
        ("3", "missing_in", 0),
        ("3", "absent", 120),
    ]


def test_three_period_day_only_first_and_last_when_inner_punches_are_not_required():
    relaxed = Shift.weekly(
        "LONG2",
        [
            P("08:00", "12:00", must_check_out=False),
            P("13:00", "17:00", must_check_in=False, must_check_out=False),
            P("18:00", "20:00", must_check_in=False),
        ],
    )
    r = one_day(relaxed, [at(MON, "07:55"), at(MON, "20:05")])
    assert r.status is Status.PRESENT
    assert totals(r) == {"scheduled_minutes": 600, "worked_minutes": 600}
    assert r.findings == ()


def test_gap_between_periods_is_split_at_its_midpoint():
    # 12:00–13:00 gap → 12:29 is period 1's check-out, 12:30 period 2's check-in
    rest = ("17:00", "17:58", "20:00")
    r = one_day(LONG, [at(MON, x) for x in ("07:55", "12:29", *rest)])
    assert findings(r) == [("2", "missing_in", 60)]
    r = one_day(LONG, [at(MON, x) for x in ("07:55", "12:30", *rest)])
    assert findings(r) == [("1", "missing_out", 60)]


# -------------------------------------------------------------------------- rotations


def rotation_rules(**kw) -> Rules:
    return rules_for(ROTATION, anchor=MON, **kw)  # Mon day, Tue middle, Wed night, Thu day…


def test_rotation_day_middle_night_on_consecutive_days():
    punches = [
        at(MON, "07:50"),
        at(MON, "16:03"),
        at(TUE, "15:52"),
        at(TUE, "23:57"),  # middle ends 24:00: 3 min early, within the 5 min grace
        at(WED, "00:03"),  # night starts 00:00 Wednesday: the gap of 0 min is split at 24:00
        at(WED, "08:02"),
    ]
    rows = list(process_range([EMP], {1: punches}, rotation_rules(), MON, THU, now=None))
    assert [(r.work_date, r.shift_code, r.status) for r in rows] == [
        (MON, "ROT", Status.PRESENT),
        (TUE, "ROT", Status.PRESENT),
        (WED, "ROT", Status.PRESENT),
        (THU, "ROT", Status.ABSENT),
    ]
    assert [r.worked_minutes for r in rows] == [480, 480, 480, 0]
    assert [(r.first_punch, r.last_punch) for r in rows[:3]] == [
        (at(MON, "07:50"), at(MON, "16:03")),
        (at(TUE, "15:52"), at(TUE, "23:57")),
        (at(WED, "00:03"), at(WED, "08:02")),
    ]
    assert [findings(r) for r in rows] == [[], [], [], [("D", "absent", 480)]]


def test_rotation_middle_shift_ending_at_2400_checks_out_after_midnight():
    shift = Shift("MR", ((M_,), ()), follows_calendar=False)  # Mon middle, Tue rest
    rules = rules_for(shift, anchor=MON)
    rows = list(
        process_range([EMP], {1: [at(MON, "15:55"), at(TUE, "00:45")]}, rules, MON, TUE, now=None)
    )
    mon, tue = rows
    assert mon.status is Status.PRESENT and mon.worked_minutes == 480
    assert mon.overtime_minutes == 45  # 00:45 is 45 min after 24:00
    assert mon.last_punch == at(TUE, "00:45")
    assert findings(mon) == [("M", "overtime", 45)]
    assert (tue.status, tue.first_punch, tue.findings) == (Status.REST, None, ())


def test_rotation_night_shift_0000_0800_is_dated_by_the_day_it_starts():
    shift = Shift("RN", ((), (N_,)), follows_calendar=False)  # Mon rest, Tue night 00–08
    rules = rules_for(shift, anchor=MON)
    punches = [at(MON, "23:50"), at(TUE, "08:04")]
    mon, tue = process_range([EMP], {1: punches}, rules, MON, TUE, now=None)
    assert (mon.status, mon.first_punch, mon.rest_overtime_minutes) == (Status.REST, None, 0)
    assert tue.status is Status.PRESENT
    assert (tue.first_punch, tue.last_punch) == (at(MON, "23:50"), at(TUE, "08:04"))
    assert totals(tue) == {"scheduled_minutes": 480, "worked_minutes": 480}


def test_overnight_2200_0600_is_dated_by_the_day_it_starts():
    punches = [at(MON, "21:50"), at(TUE, "06:10"), at(TUE, "21:55"), at(WED, "05:50")]
    mon, tue = process_range([EMP], {1: punches}, rules_for(GUARD), MON, TUE, now=None)
    assert (mon.first_punch, mon.last_punch) == (at(MON, "21:50"), at(TUE, "06:10"))
    assert totals(mon) == {"scheduled_minutes": 480, "worked_minutes": 480}
    assert (tue.first_punch, tue.last_punch) == (at(TUE, "21:55"), at(WED, "05:50"))
    assert totals(tue) == {"scheduled_minutes": 480, "worked_minutes": 470, "early_minutes": 10}
    assert findings(tue) == [("G", "early", 10)]


# ------------------------------------------------------------------------------ grace


def test_late_exactly_at_grace_is_not_late():
    r = one_day(DAY, [at(MON, "08:05:59"), at(MON, "17:00")])  # seconds are cut: 08:05
    assert r.late_minutes == 0 and r.findings == ()


def test_late_one_minute_past_grace_counts_in_full():
    r = one_day(DAY, [at(MON, "08:06"), at(MON, "17:00")])
    assert totals(r) == {"scheduled_minutes": 540, "worked_minutes": 534, "late_minutes": 6}
    assert findings(r) == [("1", "late", 6)]


def test_early_exactly_at_grace_is_not_early():
    r = one_day(DAY, [at(MON, "08:00"), at(MON, "16:55")])
    assert r.early_minutes == 0 and r.findings == ()


def test_early_one_minute_past_grace_counts_in_full():
    r = one_day(DAY, [at(MON, "08:00"), at(MON, "16:54:59")])
    assert totals(r) == {"scheduled_minutes": 540, "worked_minutes": 534, "early_minutes": 6}
    assert findings(r) == [("1", "early", 6)]


# ------------------------------------------------------------------------- duplicates


def test_duplicate_punches_collapse_to_the_first():
    punches = [at(MON, x) for x in ("07:58:10", "07:59:00", "08:03:09", "17:01:00", "17:02:30")]
    r = one_day(DAY, punches)
    assert r.findings == ()
    assert (r.first_punch, r.last_punch) == (at(MON, "07:58:10"), at(MON, "17:01"))


def test_duplicate_window_is_five_minutes_to_the_second():
    # 08:00–12:00, midpoint 10:00: a double swipe around the midpoint
    r = one_day(MORNING, [at(MON, "09:58:00"), at(MON, "10:02:59")])  # 4:59 apart: one punch
    assert (r.late_minutes, r.early_minutes, r.missing_punches) == (118, 60, 1)
    r = one_day(MORNING, [at(MON, "09:58:00"), at(MON, "10:03:00")])  # 5:00 apart: two
    assert (r.late_minutes, r.early_minutes, r.missing_punches) == (118, 117, 0)
    no_collapse = rules_for(MORNING, settings=ProcessingSettings(collapse_minutes=0))
    r = one_day(no_collapse, [at(MON, "09:58:00"), at(MON, "10:01:00")])
    assert (r.late_minutes, r.early_minutes, r.missing_punches) == (118, 119, 0)


# ------------------------------------------------------------------ holidays, make-up day

HOLIDAY_WED = HolidayCalendar(holidays={WED: "Founders' Day"})


def test_holiday_without_punches_is_no_exception():
    r = one_day(rules_for(DAY, calendar=HOLIDAY_WED), [], WED)
    assert (r.status, r.shift_code, r.scheduled_minutes) == (Status.HOLIDAY, "DAY", 0)
    assert totals(r) == {} and r.findings == ()


def test_holiday_with_punches_is_holiday_overtime():
    r = one_day(rules_for(DAY, calendar=HOLIDAY_WED), [at(WED, "09:00"), at(WED, "15:30")], WED)
    assert r.status is Status.HOLIDAY
    assert totals(r) == {"holiday_overtime_minutes": 390}
    assert findings(r) == [(None, "holiday_overtime", 390)]
    assert "Founders' Day" in r.findings[0].detail


def test_holiday_on_a_rest_day_is_a_holiday():
    r = one_day(rules_for(DAY, calendar=HolidayCalendar(holidays=[SAT])), [], SAT)
    assert r.status is Status.HOLIDAY


def test_makeup_workday_from_chinese_calendar():
    rules = rules_for(DAY, calendar=HolidayCalendar(china=True))
    sunday = date(2024, 2, 4)  # worked to make up for the Spring Festival
    r = one_day(rules, [], sunday)
    assert (r.status, r.shift_code) == (Status.ABSENT, "DAY")
    assert totals(r) == {"scheduled_minutes": 540, "absent_minutes": 540}
    r = one_day(rules, [at(sunday, "07:58"), at(sunday, "17:00")], sunday)
    assert r.status is Status.PRESENT
    assert totals(r) == {"scheduled_minutes": 540, "worked_minutes": 540}
    # and the Spring Festival Monday is a holiday
    assert one_day(rules, [], date(2024, 2, 12)).status is Status.HOLIDAY


def test_makeup_workday_entered_explicitly():
    rules = rules_for(DAY, calendar=HolidayCalendar(workdays=[SAT]))
    r = one_day(rules, [at(SAT, "08:20"), at(SAT, "17:00")], SAT)
    assert r.status is Status.PRESENT
    assert totals(r) == {"scheduled_minutes": 540, "worked_minutes": 520, "late_minutes": 20}


# ------------------------------------------------------------------------------- leave


def test_full_day_leave():
    rules = rules_for(LONG, leaves=[Leave(1, "annual", MON, MON)])
    r = one_day(rules, [])
    assert r.status is Status.LEAVE
    assert totals(r) == {"scheduled_minutes": 600, "leave_minutes": 600}
    assert findings(r) == [("1", "leave", 240), ("2", "leave", 240), ("3", "leave", 120)]
    assert {f.detail for f in r.findings} == {"annual"}


def test_half_day_leave_lateness_measured_against_the_next_period():
    leave = Leave(1, "personal", at(MON, "08:00"), at(MON, "12:00"))
    rules = rules_for(LONG, leaves=[leave])
    r = one_day(rules, [at(MON, x) for x in ("13:07", "17:01", "17:58", "20:00")])
    assert r.status is Status.PRESENT
    assert totals(r) == {
        "scheduled_minutes": 600,
        "worked_minutes": 353,
        "late_minutes": 7,
        "leave_minutes": 240,
    }
    assert findings(r) == [("1", "leave", 240), ("2", "late", 7)]


def test_morning_leave_moves_the_start_late_measured_from_its_end():
    rules = rules_for(DAY, leaves=[Leave(1, "personal", at(MON, "08:00"), at(MON, "10:00"))])
    r = one_day(rules, [at(MON, "10:07"), at(MON, "17:00")])
    assert totals(r) == {
        "scheduled_minutes": 540,
        "worked_minutes": 413,
        "late_minutes": 7,
        "leave_minutes": 120,
    }
    assert findings(r) == [("1", "leave", 120), ("1", "late", 7)]
    r = one_day(rules, [at(MON, "10:05"), at(MON, "17:00")])  # within the 5 min grace
    assert r.late_minutes == 0


def test_afternoon_leave_moves_the_end_early_measured_to_its_start():
    rules = rules_for(DAY, leaves=[Leave(1, "doctor", at(MON, "15:00"), at(MON, "17:00"))])
    r = one_day(rules, [at(MON, "07:59"), at(MON, "14:50")])
    assert totals(r) == {
        "scheduled_minutes": 540,
        "worked_minutes": 410,
        "early_minutes": 10,
        "leave_minutes": 120,
    }


def test_leave_inside_a_period_moves_nothing():
    rules = rules_for(DAY, leaves=[Leave(1, "errand", at(MON, "10:00"), at(MON, "11:00"))])
    r = one_day(rules, [at(MON, "07:59"), at(MON, "17:00")])
    assert totals(r) == {"scheduled_minutes": 540, "worked_minutes": 480, "leave_minutes": 60}


def test_full_day_leave_covers_an_overnight_period():
    rules = rules_for(GUARD, leaves=[Leave(1, "annual", MON, MON)])
    mon, tue = process_range([EMP], {}, rules, MON, TUE, now=None)
    assert (mon.status, mon.leave_minutes) == (Status.LEAVE, 480)
    assert (tue.status, tue.absent_minutes) == (Status.ABSENT, 480)


def test_leave_entered_after_the_separation():
    """A leaver's leave counts up to the separation day, whatever order things come in."""
    leaver = Employee(1, "D", separation_date=WED)
    sick = Leave(1, "sick", WED, FRI)
    other = Leave(1, "annual", MON, MON)
    punches = {1: [at(TUE, "07:58"), at(TUE, "17:00")]}
    results = [
        list(process_range([leaver], punches, rules_for(DAY, leaves=leaves), MON, FRI, now=None))
        for leaves in ([other, sick], [sick, other])
    ]
    assert results[0] == results[1]
    rows = results[0]
    assert [(r.work_date, r.status) for r in rows] == [
        (MON, Status.LEAVE),
        (TUE, Status.PRESENT),
        (WED, Status.LEAVE),
    ]
    assert rows[2].leave_minutes == 540
    # the same as for someone who did not leave, up to the separation day
    stayer = list(
        process_range(
            [Employee(1, "D")], punches, rules_for(DAY, leaves=[sick, other]), MON, FRI, now=None
        )
    )
    assert stayer[:3] == rows


# ------------------------------------------------------------------ hire and separation


def test_separation_day_is_processed_and_the_day_after_has_no_row():
    leaver = Employee(1, "D", separation_date=WED)
    punches = {1: [at(d, x) for d in (MON, TUE, WED, THU) for x in ("07:58", "17:00")]}
    rows = list(process_range([leaver], punches, rules_for(DAY), MON, FRI, now=None))
    assert [(r.work_date, r.status) for r in rows] == [
        (MON, Status.PRESENT),
        (TUE, Status.PRESENT),
        (WED, Status.PRESENT),
    ]
    assert process_day(leaver, THU, punches[1], rules_for(DAY), now=None) is None


def test_night_shift_on_the_separation_day_keeps_its_next_morning_checkout():
    leaver = Employee(1, "D", separation_date=MON)
    punches = {1: [at(MON, "21:55"), at(TUE, "06:02")]}
    rows = list(process_range([leaver], punches, rules_for(GUARD), MON, WED, now=None))
    assert len(rows) == 1
    assert (rows[0].status, rows[0].last_punch) == (Status.PRESENT, at(TUE, "06:02"))


def test_hire_mid_month():
    hired = Employee(1, "D", hire_date=date(2024, 3, 13))
    rows = list(
        process_range([hired], {}, rules_for(DAY), date(2024, 3, 1), date(2024, 3, 31), now=None)
    )
    assert rows[0].work_date == date(2024, 3, 13)
    assert len(rows) == 19
    assert rows[0].status is Status.ABSENT  # a Wednesday without punches
    assert process_day(hired, date(2024, 3, 12), [], rules_for(DAY), now=None) is None


def test_employee_outside_the_range_has_no_rows():
    later = Employee(1, "D", hire_date=date(2024, 4, 1))
    assert list(process_range([later], {}, rules_for(DAY), MON, FRI, now=None)) == []


# ------------------------------------------------------------- manual and voided punches


def test_manual_punch_fills_a_missing_checkout():
    r = one_day(DAY, [EmployeePunch(at(MON, "07:58"))])
    assert findings(r) == [("1", "missing_out", 60)]
    r = one_day(DAY, [EmployeePunch(at(MON, "07:58")), EmployeePunch(at(MON, "17:00"), "manual")])
    assert r.status is Status.PRESENT and r.findings == () and r.missing_punches == 0
    assert r.last_punch == at(MON, "17:00")


def test_voided_punch_is_ignored():
    real = [EmployeePunch(at(MON, "07:58")), EmployeePunch(at(MON, "17:00"))]
    voided = EmployeePunch(at(MON, "06:50"), void=True)  # would be 70 min overtime
    r = one_day(DAY, [voided, *real])
    assert r == one_day(DAY, real)  # flagged void == left out by the caller
    assert (r.overtime_minutes, r.first_punch) == (0, at(MON, "07:58"))


# ---------------------------------------------------------------------------- overtime


def test_overtime_after_the_last_period():
    r = one_day(DAY, [at(MON, "07:58"), at(MON, "18:45")])
    assert totals(r) == {"scheduled_minutes": 540, "worked_minutes": 540, "overtime_minutes": 105}
    assert findings(r) == [("1", "overtime", 105)]


def test_overtime_threshold_is_exclusive_and_not_subtracted():
    assert one_day(DAY, [at(MON, "07:58"), at(MON, "17:30")]).overtime_minutes == 0
    assert one_day(DAY, [at(MON, "07:58"), at(MON, "17:31")]).overtime_minutes == 31


def test_overtime_before_the_first_period():
    r = one_day(DAY, [at(MON, "07:00"), at(MON, "17:00")])
    assert r.overtime_minutes == 60
    assert findings(r) == [("1", "overtime", 60)]
    off = rules_for(DAY, settings=ProcessingSettings(overtime_before_start=False))
    assert one_day(off, [at(MON, "07:00"), at(MON, "17:00")]).overtime_minutes == 0


def test_overtime_after_the_last_of_three_periods_only():
    punches = [at(MON, x) for x in ("07:55", "12:00", "12:40", "17:00", "17:58", "21:10")]
    r = one_day(LONG, punches)
    assert findings(r) == [("3", "overtime", 70)]


def test_overtime_on_a_rest_day():
    r = one_day(DAY, [at(SAT, "09:00"), at(SAT, "09:01"), at(SAT, "12:30")], SAT)
    assert (r.status, r.shift_code) == (Status.REST, "DAY")
    assert totals(r) == {"rest_overtime_minutes": 210}
    assert findings(r) == [(None, "rest_overtime", 210)]


def test_single_punch_on_a_rest_day_is_unpaired():
    r = one_day(DAY, [at(SAT, "09:00")], SAT)
    assert totals(r) == {}
    assert findings(r) == [(None, "unpaired_punch", 0)]


# ------------------------------------------------------------------ open windows (now)


def test_open_checkout_window_is_never_absent():
    # DAY's check-out window runs until 21:00 inclusive
    for now in ("12:00", "21:00"):
        r = one_day(DAY, [], now=at(MON, now))
        assert (r.status, r.absent_minutes, r.findings) == (Status.INCOMPLETE, 0, ())
    r = one_day(DAY, [], now=at(MON, "21:01"))
    assert (r.status, r.absent_minutes) == (Status.ABSENT, 540)


def test_open_checkout_window_reports_known_lateness_only():
    r = one_day(DAY, [at(MON, "08:20")], now=at(MON, "18:00"))
    assert r.status is Status.INCOMPLETE
    assert totals(r) == {"scheduled_minutes": 540, "late_minutes": 20}
    r = one_day(DAY, [at(MON, "08:20")], now=at(MON, "21:01"))
    assert totals(r) == {
        "scheduled_minutes": 540,
        "worked_minutes": 460,
        "late_minutes": 20,
        "early_minutes": 60,
        "missing_punches": 1,
    }


def test_future_days_are_incomplete_rest_days_are_rest():
    rows = list(process_range([EMP], {}, rules_for(DAY), FRI, SAT, now=at(THU, "12:00")))
    assert [r.status for r in rows] == [Status.INCOMPLETE, Status.REST]


# --------------------------------------------------------------------------- the rest


def test_punch_in_no_window_is_a_stray_punch():
    r = one_day(DAY, [at(MON, "07:58"), at(MON, "17:00"), at(MON, "22:30")])
    assert findings(r) == [(None, "stray_punch", 0)]
    assert r.last_punch == at(MON, "22:30")
    assert (r.overtime_minutes, r.worked_minutes) == (0, 540)


def test_late_beyond_the_limit_counts_as_absent():
    rules = rules_for(DAY, settings=ProcessingSettings(late_as_absent_after=100))
    r = one_day(rules, [at(MON, "09:41"), at(MON, "17:00")])
    assert (r.status, r.late_minutes, r.absent_minutes) == (Status.ABSENT, 0, 540)
    assert findings(r) == [("1", "absent", 540)]
    r = one_day(rules, [at(MON, "09:40"), at(MON, "17:00")])
    assert (r.status, r.late_minutes, r.absent_minutes) == (Status.PRESENT, 100, 0)


def test_single_punch_in_overlapping_windows_goes_to_the_nearer_end():
    wide = Shift.weekly(
        "WIDE", [P("08:00", "17:00", checkin=("06:00", "16:00"), checkout=("09:00", "21:00"))]
    )
    r = one_day(wide, [at(MON, "16:40")])
    assert findings(r) == [("1", "missing_in", 60), ("1", "early", 20)]
    r = one_day(wide, [at(MON, "08:10")])
    assert findings(r) == [("1", "late", 10), ("1", "missing_out", 60)]


def test_unscheduled_day_is_rest_and_flags_punches():
    rules = Rules()
    r = one_day(rules, [])
    assert (r.status, r.shift_code, r.findings) == (Status.REST, None, ())
    r = one_day(rules, [at(MON, "08:00"), at(MON, "17:00")])
    assert totals(r) == {}
    assert findings(r) == [(None, "unscheduled", 540)]


def test_punches_may_be_bare_datetimes_in_any_order():
    punches = [at(MON, "17:00"), EmployeePunch(at(MON, "07:58"))]
    r = one_day(DAY, punches)
    assert r.status is Status.PRESENT and r.findings == ()


# ---------------------------------------------------------------------------- schedules


def test_employee_schedule_beats_department_schedule():
    rules = rules_for(DAY, assignments=[ScheduleAssignment(GUARD, WED, employee_id=1)])
    rows = list(process_range([EMP, Employee(2, "D")], {}, rules, TUE, WED, now=None))
    assert [(r.employee_id, r.work_date, r.shift_code) for r in rows] == [
        (1, TUE, "DAY"),
        (1, WED, "GUARD"),
        (2, TUE, "DAY"),
        (2, WED, "DAY"),
    ]


def test_latest_assignment_wins():
    rules = rules_for(DAY, assignments=[ScheduleAssignment(LONG, WED, department="D")])
    rows = list(process_range([EMP], {}, rules, TUE, WED, now=None))
    assert [r.shift_code for r in rows] == ["DAY", "LONG"]


def test_day_override_beats_assignments_and_the_calendar():
    rules = rules_for(
        DAY,
        assignments=[ScheduleAssignment(GUARD, MON, employee_id=1)],
        overrides=[
            DayOverride(TUE, None, employee_id=1),  # a day off
            DayOverride(WED, LONG, department="D"),  # loses to the employee's own override
            DayOverride(WED, MORNING, employee_id=1),
            DayOverride(THU, LONG, department="D"),  # holiday, but worked
        ],
        calendar=HolidayCalendar(holidays=[THU]),
    )
    rows = list(process_range([EMP], {}, rules, MON, THU, now=None))
    assert [(r.shift_code, r.status, r.scheduled_minutes) for r in rows] == [
        ("GUARD", Status.ABSENT, 480),
        (None, Status.REST, 0),
        ("AM", Status.ABSENT, 240),
        ("LONG", Status.ABSENT, 600),
    ]


def test_cycle_day_counts_from_the_anchor():
    rules = rules_for(ROTATION, anchor=WED)
    rows = list(process_range([EMP], {}, rules, MON, SAT, now=None))
    codes = [r.findings[0].period for r in rows]
    assert codes == ["M", "N", "D", "M", "N", "D"]


def test_shift_not_following_the_calendar_works_holidays():
    rules = rules_for(GUARD, calendar=HOLIDAY_WED)
    assert one_day(rules, [], WED).status is Status.ABSENT


@pytest.mark.parametrize("now", [None, at(FRI, "12:00")])
def test_reprocessing_gives_the_same_answer(now):
    punches = {1: [at(d, x) for d in (MON, TUE, THU) for x in ("08:10", "12:01", "13:02")]}
    rules = rules_for(LONG, leaves=[Leave(1, "sick", WED, WED)])
    first = list(process_range([EMP], punches, rules, MON, SUN, now=now))
    again = list(process_range([EMP], punches, rules, MON, SUN, now=now))
    assert first == again
    assert [process_day(EMP, r.work_date, punches[1], rules, now=now) for r in first] == first


def test_closed_period_is_judged_while_a_later_one_is_still_open():
    r = one_day(LONG, [], now=at(MON, "14:00"))  # period 1's check-out window closed 12:30
    assert r.status is Status.INCOMPLETE
    assert findings(r) == [("1", "absent", 240)]


def test_night_checkout_on_a_holiday_morning_belongs_to_the_night():
    nights = Shift.weekly("N22", [P("22:00", "06:00")])
    rules = rules_for(nights, calendar=HolidayCalendar(holidays=[TUE]))
    punches = [at(MON, "21:55"), at(TUE, "06:05")]
    mon, tue = process_range([EMP], {1: punches}, rules, MON, TUE, now=None)
    assert totals(mon) == {"scheduled_minutes": 480, "worked_minutes": 480}
    assert (tue.status, tue.first_punch, tue.holiday_overtime_minutes) == (Status.HOLIDAY, None, 0)
