"""The rules file: parsing and validation (no database)."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import pytest

from punchd.processing import Period, ProcessingSettings
from punchd.rules.file import (
    SETTING_NAMES,
    RulesError,
    load_rules_file,
    parse_rules,
    setting_defaults,
    validate_setting,
)

EXAMPLE = Path(__file__).resolve().parents[1] / "config" / "rules.example.toml"


def problems(text: str) -> list[str]:
    with pytest.raises(RulesError) as info:
        parse_rules(text)
    return info.value.problems


def test_example_file_parses_into_the_engines_periods() -> None:
    rules = load_rules_file(EXAMPLE)
    periods = {p.code: p for p in rules.periods}
    # the long day
    assert [(periods[c].start, periods[c].end) for c in ("L1", "L2", "L3")] == [
        (480, 720),
        (780, 1020),
        (1080, 1200),
    ]
    assert periods["L3"].must_check_in is False
    # the rotation: night from the work date's midnight, middle until 24:00
    assert (periods["D"].start, periods["D"].end) == (480, 960)
    assert (periods["M"].start, periods["M"].end) == (960, 1440)
    assert (periods["N"].start, periods["N"].end) == (0, 480)
    assert (periods["N"].checkin_from, periods["N"].checkin_until) == (-60, 30)
    # overnight guard: 22:00–06:00 belongs to the evening
    assert (periods["G"].start, periods["G"].end, periods["G"].minutes) == (1320, 1800, 420)
    # exactly what Period.at builds
    assert periods["AM"] == Period.at("08:00", "12:00", code="AM", checkin=("06:30", "10:00"),
                                      late_grace=5, must_check_out=False)  # fmt: skip

    shifts = {s.code: s for s in rules.shifts}
    office = shifts["OFFICE"]
    assert (office.unit, office.cycle_days, office.follows_calendar) == ("week", 7, True)
    assert office.days == (("AM", "PM"),) * 5 + ((), ())
    assert shifts["LONG"].days[5] == ("L1", "L2", "L3") and shifts["LONG"].days[6] == ()
    rot = shifts["ROT"]
    assert (rot.unit, rot.cycle_days, rot.follows_calendar) == ("day", 9, False)
    assert rot.days == (("D",), ("D",), (), ("M",), ("M",), (), ("N",), ("N",), ())

    assert rules.settings["missing_punch_policy"] == "late"
    assert rules.settings["calendar_china"] is True
    assert "late_as_absent_after" not in rules.settings  # commented out: default
    holidays = {h.day: (h.kind, h.name) for h in rules.holidays}
    assert holidays[date(2026, 6, 1)] == ("holiday", "Company day")
    assert holidays[date(2026, 12, 24)] == holidays[date(2026, 12, 25)]  # from/to range
    assert holidays[date(2026, 12, 26)][0] == "workday"
    departments = {s.department for s in rules.schedules if s.department}
    assert departments == {"ADMIN", "WORKSHOP", "LINE-A", "LINE-B"}
    line_b = next(s for s in rules.schedules if s.department == "LINE-B")
    assert line_b.anchor == date(2025, 12, 29) and line_b.date_to is None
    guard = next(s for s in rules.schedules if s.employee)
    assert (guard.employee, guard.shift, guard.date_to) == ("E1001", "GUARD", date(2026, 12, 31))
    inventory, rest = rules.overrides
    assert (inventory.shift, inventory.day_index, inventory.department) == ("OFFICE", 0, "ADMIN")
    assert (rest.shift, rest.employee) == (None, "E1001")


def test_a_broken_file_lists_every_problem_with_its_location() -> None:
    found = problems(
        """
        [settings]
        collapse_minutes = -1
        missing_punch_policy = "maybe"
        calendar_china = true
        [calendar]
        country = "XX"
        holidays = [{date = 2026-01-01}, 2026-01-01]
        [[period]]
        code = "A"
        start = "08:00"
        end = "8am"
        [[period]]
        code = "B"
        start = "08:00"
        end = "12:00"
        [[period]]
        code = "C"
        start = "11:00"
        end = "14:00"
        late_grace = -3
        [[period]]
        code = "E"
        start = "11:00"
        end = "14:00"
        [[period]]
        code = "B"
        start = "09:00"
        end = "10:00"
        [[shift]]
        code = "OFF"
        periods = ["B", "E"]
        [[shift]]
        code = "ROT"
        unit = "day"
        days = [["B"], ["E"], ["X"]]
        [[shift]]
        code = "W"
        unit = "week"
        days = [["E"]]
        [[shift]]
        code = "R3"
        days = [["B"], ["E"], []]
        [[schedule]]
        shift = "NOPE"
        department = "D"
        from = 2026-01-01
        to = 2025-01-01
        [[schedule]]
        shift = "OFF"
        from = 2026-01-01
        [[override]]
        date = 2026-01-01
        employee = "x"
        shift = "W"
        [[override]]
        date = 2026-01-02
        employee = "x"
        shift = "R3"
        day = 4
        [[overide]]
        """
    )
    expected = [
        "unknown section 'overide'",
        "settings: collapse_minutes must be 0 … 1440 minutes, not -1",
        'settings: missing_punch_policy must be "late" or "absent", not \'maybe\'',
        "settings: unknown setting 'calendar_china' (it goes in [calendar])",
        "calendar: the holidays package does not know the country 'XX'",
        "calendar.holidays[2]: 2026-01-01 is already listed in calendar.holidays[1]",
        "period[1] \"A\": end: not a time of day (HH:MM): '8am'",
        'period[3] "C": late_grace: Input should be greater than or equal to 0',
        "period[5] \"B\": the code 'B' is used by an earlier period",
        'shift[2] "ROT": day 3 names unknown period "X"',
        'shift[3] "W": a weekly shift needs 7, 14, … days, not 1',
        'schedule[1]: unknown shift "NOPE"',
        "schedule[1]: to (2025-01-01) is before from (2026-01-01)",
        "schedule[2]: give exactly one of department or employee",
        "override[2]: shift 'R3' has 3 days, not 4",
    ]
    for message in expected:
        assert message in found
    overlap = [p for p in found if p.startswith('shift[1] "OFF"')]
    assert len(overlap) == 1 and "must be in time order and not overlap" in overlap[0]
    # override[1] names W, which is itself broken: reported once, at the shift
    assert not [p for p in found if p.startswith("override[1]")]
    assert len(found) == len(expected) + 1


def test_not_toml() -> None:
    (problem,) = problems("[[period]\ncode = 1")
    assert problem.startswith("not valid TOML")


def test_missing_and_unknown_keys() -> None:
    found = problems('[[period]]\ncode = "A"\nstart = "08:00"\nfinish = "12:00"\n')
    assert found == ['period[1] "A": end is required', 'period[1] "A": finish: unknown key']


@pytest.mark.parametrize(
    ("shift", "message"),
    [
        ('periods = ["A"]\nworkdays = ["mon", "funday"]', "workdays: 'funday' is not a weekday"),
        ('periods = ["A"]\ndays = [["A"]]', "give either days, or periods and workdays"),
        ('unit = "day"\nperiods = ["A"]', 'unit = "week"'),
        ("name = 'x'", "give periods (and workdays), or days"),
        ('days = [["A", "A"]]', "day 1 names a period twice"),
        ('periods = ["A", "Z"]', 'periods names unknown period "Z"'),
    ],
)
def test_shift_problems(shift: str, message: str) -> None:
    text = f'[[period]]\ncode = "A"\nstart = "08:00"\nend = "12:00"\n[[shift]]\ncode = "S"\n{shift}'
    found = problems(text)
    assert len(found) == 1 and message in found[0], found


def test_weekly_shift_defaults_to_monday_to_friday_and_takes_weekday_names() -> None:
    base = '[[period]]\ncode = "A"\nstart = "08:00"\nend = "12:00"\n[[shift]]\ncode = "S"\n'
    (s,) = parse_rules(base + 'periods = ["A"]').shifts
    assert s.days == (("A",),) * 5 + ((), ())
    (s,) = parse_rules(base + 'periods = ["A"]\nworkdays = ["Saturday", "SUN"]').shifts
    assert s.days == ((),) * 5 + (("A",), ("A",))
    assert s.name == "S"


def test_periods_of_a_day_are_stored_in_time_order() -> None:
    text = """
    [[period]]
    code = "PM"
    start = "13:00"
    end = "17:00"
    [[period]]
    code = "AM"
    start = "08:00"
    end = "12:00"
    [[shift]]
    code = "S"
    unit = "day"
    days = [["PM", "AM"]]
    """
    assert parse_rules(text).shifts[0].days == (("AM", "PM"),)


def test_a_day_running_into_the_next_days_first_period_is_refused() -> None:
    text = """
    [[period]]
    code = "LATE"
    start = "22:00"
    end = "07:00"
    [[period]]
    code = "EARLY"
    start = "06:00"
    end = "14:00"
    [[shift]]
    code = "BAD"
    unit = "day"
    days = [["LATE"], ["EARLY"]]
    """
    (problem,) = problems(text)
    assert problem.startswith('shift[1] "BAD": day 1 ends at 07:00 the next morning')


def test_overnight_and_midnight_periods() -> None:
    text = """
    [[period]]
    code = "G"
    start = "22:00"
    end = "06:00"
    checkout = ["05:00", "09:00"]
    [[period]]
    code = "M"
    start = "16:00"
    end = "24:00"
    """
    g, m = parse_rules(text).periods
    assert (g.start, g.end, g.checkout_from, g.checkout_until) == (1320, 1800, 1740, 1980)
    assert (m.start, m.end) == (960, 1440)
    (problem,) = problems('[[period]]\ncode = "X"\nstart = "24:00"\nend = "08:00"')
    assert "cannot start at 24:00" in problem


def test_overrides_and_holiday_forms() -> None:
    text = """
    [calendar]
    country = "de"
    subdivision = "BY"
    holidays = ["2026-01-01", {from = 2026-05-01, to = 2026-05-03, name = "May"}]
    workdays = [2026-05-09]
    [[period]]
    code = "A"
    start = "08:00"
    end = "12:00"
    [[shift]]
    code = "S"
    periods = ["A"]
    [[override]]
    date = 2026-05-09
    department = "X"
    shift = "S"
    day = 6
    [[override]]
    date = 2026-05-10
    employee = "E1"
    rest = true
    """
    rules = parse_rules(text)
    assert rules.settings == {"calendar_country": "DE", "calendar_subdivision": "BY"}
    assert [(h.day.isoformat(), h.kind, h.name) for h in rules.holidays] == [
        ("2026-01-01", "holiday", ""),
        ("2026-05-01", "holiday", "May"),
        ("2026-05-02", "holiday", "May"),
        ("2026-05-03", "holiday", "May"),
        ("2026-05-09", "workday", ""),
    ]
    work, rest = rules.overrides
    assert (work.shift, work.day_index, work.department) == ("S", 5, "X")
    assert (rest.shift, rest.day_index, rest.employee) == (None, 0, "E1")
    found = problems(
        text.replace("rest = true", 'rest = true\nshift = "S"').replace('"BY"', '"ZZ"')
    )
    assert "override[2]: give either shift (and day) or rest = true" in found
    assert any(p.startswith("calendar: DE has no subdivision 'ZZ'") for p in found)


def test_setting_names_cover_the_engine() -> None:
    names = {f.name for f in dataclasses.fields(ProcessingSettings)}
    assert names | {"calendar_country", "calendar_subdivision", "calendar_china"} == set(
        SETTING_NAMES
    )
    defaults = setting_defaults()
    assert defaults["collapse_minutes"] == 5 and defaults["calendar_china"] is False


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("collapse_minutes", True, "whole number"),
        ("default_checkin_before", 721, "0 … 720"),
        ("late_as_absent_after", "100", "whole number"),
        ("overtime_after_end", 1, "true or false"),
        ("calendar_country", 3, "text code"),
        ("nope", 1, "unknown setting"),
    ],
)
def test_validate_setting_refuses(name: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_setting(name, value)


def test_validate_setting_accepts() -> None:
    assert validate_setting("late_as_absent_after", None) is None
    assert validate_setting("late_as_absent_after", 100) == 100
    assert validate_setting("calendar_country", " cn ") == "CN"
    assert validate_setting("missing_punch_policy", "absent") == "absent"


def test_an_unknown_key_does_not_hide_a_bad_time_in_the_same_entry() -> None:
    found = problems(
        '[[period]]\ncode = "A"\nstart = "09:00"\nend = "6pm"\nlate_grase = 5\n'
        '[[period]]\ncode = "B"\nstart = "09:00"\nend = "17:00"\nlate_grase = 5\n'
        'checkin = ["10:00", "08:00"]\n'
    )
    assert found == [
        "period[1] \"A\": end: not a time of day (HH:MM): '6pm'",
        'period[1] "A": late_grase: unknown key',
        'period[2] "B": late_grase: unknown key',
        'period[2] "B": check-in window closes before it opens',
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "late_grace = 100000000000000000000",
            "late_grace: Input should be less than or equal to 720",
        ),
        ("late_grace = 99999999999", "late_grace: Input should be less than or equal to 720"),
        ("early_grace = 721", "early_grace: Input should be less than or equal to 720"),
        ("minutes = 1441", "minutes: Input should be less than or equal to 1440"),
        ("late_grace = -1", "late_grace: Input should be greater than or equal to 0"),
        ('code = "A\\u0000"', "code: contains the control character U+0000"),
        ('code = "' + "X" * 33 + '"', "code: String should have at most 32 characters"),
    ],
)
def test_every_number_and_text_of_a_period_has_a_range(text: str, expected: str) -> None:
    entry = '[[period]]\nstart = "09:00"\nend = "17:00"\n'
    if not text.startswith("code"):
        entry += 'code = "A"\n'
    (problem,) = problems(entry + text + "\n")
    assert problem.endswith(expected), problem


def test_ranges_of_settings_dates_and_cycles() -> None:
    found = problems(
        "[settings]\ncollapse_minutes = 99999999999\novertime_threshold = 1441\n"
        "late_as_absent_after = 100000000000000000000\n"
        '[calendar]\ncountry = "C\\u0000N"\nholidays = [0001-01-01, {date = 2200-01-01}]\n'
        '[[period]]\ncode = "A"\nstart = "09:00"\nend = "17:00"\n'
        '[[shift]]\ncode = "S"\ndays = [' + ", ".join(['["A"]'] * 367) + "]\n"
        '[[shift]]\ncode = "T\\u001b[2J"\ndays = [["A"]]\n'
        '[[override]]\ndate = 2026-01-01\ndepartment = "D"\nshift = "S"\nday = 99999999999\n'
        '[[schedule]]\nshift = "S"\ndepartment = "D"\nfrom = 1899-12-31\n'
    )
    assert "settings: collapse_minutes must be 0 … 1440 minutes, not 99999999999" in found
    assert "settings: overtime_threshold must be 0 … 1440 minutes, not 1441" in found
    assert any(p.startswith("settings: late_as_absent_after must be 0 … 1440") for p in found)
    assert any(p.startswith("calendar: calendar_country must be a short code") for p in found)
    assert "calendar.holidays[1]: 0001-01-01 is not between 1900-01-01 and 2199-12-31" in found
    assert (
        "calendar.holidays[2]: date: 2200-01-01 is not between 1900-01-01 and 2199-12-31" in found
    )
    assert (
        'shift[1] "S": days: List should have at most 366 items after validation, not 367' in found
    )
    assert any("contains the control character U+001B" in p for p in found)
    assert "override[1]: day: Input should be less than or equal to 366" in found
    assert "schedule[1]: from: 1899-12-31 is not between 1900-01-01 and 2199-12-31" in found


def test_hostile_toml_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    (problem,) = problems("x = " + "[" * 5000 + "]" * 5000)
    assert problem == "not valid TOML: arrays or tables nested too deeply"
    (problem,) = problems("[settings]\ncollapse_minutes = " + "[" * 100 + "]" * 100)
    assert problem.startswith("settings: collapse_minutes must be a whole number")
    big = tmp_path / "big.toml"
    big.write_bytes(b"# " + b"x" * (1024 * 1024))
    with pytest.raises(RulesError, match="larger than 1024 KiB"):
        load_rules_file(big)
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b'[[period]]\ncode = "\xe9"\n')
    with pytest.raises(RulesError, match=r"not UTF-8 text \(byte 20\)"):
        load_rules_file(latin)
