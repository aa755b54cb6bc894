"""The old home of the rules edits, kept only so that callers outside the rules area
(``cli/demo.py``, ``tests/test_requeue.py``, ``tests/test_fuzz_files.py``) keep working until
the merge moves them to the modules named below. Nothing new imports this module; delete it
then."""

from __future__ import annotations

from punchd.rules.active import stored_settings as get_settings
from punchd.rules.errors import RulesError
from punchd.rules.holiday_file import HolidayEntry, parse_holiday_csv
from punchd.rules.holidays import (
    HolidayImport,
    add_holiday,
    calendar_years,
    confirm_year,
    import_holidays,
    list_holidays,
    remove_holiday,
    unconfirm_year,
)
from punchd.rules.leave import add_leave, list_leave, remove_leave
from punchd.rules.lookups import department, employee, shift
from punchd.rules.punches import add_manual_punch, list_punches, unvoid_punch, void_punch
from punchd.rules.schedules import (
    assign_schedule,
    clear_override,
    list_overrides,
    list_schedules,
    remove_schedule,
    set_override,
)
from punchd.rules.settings import RulesOverview, overview, set_setting, unset_setting
from punchd.rules.sync import LoadSummary, apply_rules_file, check_rules

load_rules = apply_rules_file  # the old name of rules.sync.apply_rules_file

__all__ = [
    "HolidayEntry",
    "HolidayImport",
    "LoadSummary",
    "RulesError",
    "RulesOverview",
    "add_holiday",
    "add_leave",
    "add_manual_punch",
    "apply_rules_file",
    "assign_schedule",
    "calendar_years",
    "check_rules",
    "clear_override",
    "confirm_year",
    "department",
    "employee",
    "get_settings",
    "import_holidays",
    "list_holidays",
    "list_leave",
    "list_overrides",
    "list_punches",
    "list_schedules",
    "load_rules",
    "overview",
    "parse_holiday_csv",
    "remove_holiday",
    "remove_leave",
    "remove_schedule",
    "set_override",
    "set_setting",
    "shift",
    "unconfirm_year",
    "unset_setting",
    "unvoid_punch",
    "void_punch",
]
