"""punchd.app.rules called directly: typed results, its own transactions, RulesError."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from punchd.app import Actor, Site
from punchd.app import rules as ops
from punchd.config import Settings
from punchd.errors import PunchdError
from punchd.rules.errors import FileProblems, RulesError
from punchd.storage.schema import att_audit, att_leave, att_punch

from .test_rules_store import EXAMPLE, seed_org

HR = Actor("hr-anna")


@pytest.fixture
def site(engine: Engine, tmp_path: Path) -> Site:
    seed_org(engine)
    return Site(Settings(data_dir=tmp_path, timezone="Asia/Shanghai"), engine)


def audit_rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(att_audit)).scalar_one()


def test_rules_file_check_plan_apply(site: Site, engine: Engine) -> None:
    parsed = ops.read_rules_file(EXAMPLE)
    assert parsed.problems == []
    rules = ops.check_rules_file(site, parsed)
    plan = ops.plan_rules_load(site, EXAMPLE, rules)
    assert plan.changes > 0 and audit_rows(engine) == 0  # the plan was rolled back
    done = ops.apply_rules_load(site, EXAMPLE, rules, actor=HR, expected=plan)
    assert done.as_dict() == plan.as_dict()
    assert ops.plan_rules_load(site, EXAMPLE, rules).changes == 0
    view = ops.show_rules(site)
    assert [s["code"] for s in view.shifts] == sorted(s["code"] for s in view.shifts)
    assert [s.year for s in ops.calendar_status(site, [2026, 2027])] == [2026, 2027]


def test_file_problems_and_unreadable(site: Site, tmp_path: Path) -> None:
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    with pytest.raises(FileProblems) as caught:
        ops.check_rules_file(site, ops.read_rules_file(empty))
    assert (
        caught.value.path == empty and "defines no shifts (it is empty)" in caught.value.problems[0]
    )
    with pytest.raises(RulesError, match="cannot read"):
        ops.read_rules_file(tmp_path / "missing.toml")
    bad = tmp_path / "h.csv"
    bad.write_text("date,kind,name\n2026-13-01,holiday,x\n")
    with pytest.raises(FileProblems, match="not a date"):
        ops.read_holiday_file(bad)
    assert issubclass(RulesError, PunchdError)


def test_edits_are_committed_and_listed(site: Site, engine: Engine) -> None:
    leave_id = ops.add_leave(site, "E1001", "annual", date(2026, 11, 2), actor=HR)
    assert [r.id for r in ops.list_leave(site, "E1001")] == [leave_id]
    punch_id = ops.add_punch(
        site, "E1001", datetime(2026, 11, 3, 9, 0), reason="forgot card", state="in", actor=HR
    )
    ops.void_punch(site, punch_id, reason="wrong day", actor=HR)
    listing = ops.list_punches(site, "E1001", date(2026, 11, 3), date(2026, 11, 3))
    assert [(p.id, p.void) for p in listing.punches] == [(punch_id, True)]
    ops.unvoid_punch(site, punch_id, actor=HR)
    with engine.connect() as conn:
        assert conn.execute(select(att_punch.c.void)).scalar_one() is False
    assert ops.add_holiday(site, date(2026, 10, 1), name="National Day", actor=HR) == "added"
    assert [h.holiday_date for h in ops.list_holidays(site)] == [date(2026, 10, 1)]
    ops.remove_leave(site, leave_id, actor=HR)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(att_leave)).scalar_one() == 0
        by = set(conn.execute(select(att_audit.c.changed_by)).scalars())
    assert by == {"hr-anna"}


def test_a_refused_edit_changes_nothing(site: Site, engine: Engine) -> None:
    with pytest.raises(RulesError, match="unknown employee 'E9'"):
        ops.add_leave(site, "E9", "annual", date(2026, 11, 2), actor=HR)
    with pytest.raises(RulesError, match="no punch with id 99"):
        ops.void_punch(site, 99, reason="x", actor=HR)
    with pytest.raises(RulesError, match="unknown shift"):
        ops.set_override(site, date(2026, 11, 2), employee_no="E1001", shift_code="NOPE", actor=HR)
    assert audit_rows(engine) == 0
    listing = ops.list_schedules(site)
    assert (listing.schedules, listing.overrides) == ([], [])
