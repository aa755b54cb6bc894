"""The home page per role: today's state within the account's scope, never wider."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import insert

from punchd.app import access, home
from punchd.app import accounts as acc
from punchd.storage import hr as hr_store
from punchd.storage.schema import att_day

from .conftest import T0

DAY = date(2026, 3, 2)  # T0 in Shanghai


@pytest.fixture
def results(site):
    """E1 (OPS-A) late 12 min today, E2 (SALES) absent today, E1 present yesterday."""
    with site.engine.begin() as conn:
        ids = {no: hr_store.find_employee(conn, no)["id"] for no in ("E1", "E2")}
        zero = dict.fromkeys(
            (
                "scheduled_minutes", "worked_minutes", "late_minutes", "early_minutes",
                "absent_minutes", "leave_minutes", "overtime_minutes",
                "holiday_overtime_minutes", "rest_overtime_minutes", "missing_punches",
            ),
            0,
        )  # fmt: skip
        for no, day, status, extra in (
            ("E1", DAY, "present", {"late_minutes": 12, "worked_minutes": 468}),
            ("E2", DAY, "absent", {"absent_minutes": 480}),
            ("E1", date(2026, 3, 1), "present", {"worked_minutes": 480}),
        ):
            conn.execute(
                insert(att_day).values(
                    employee_id=ids[no],
                    work_date=day,
                    shift_code="DAY",
                    status=status,
                    first_punch=datetime.combine(day, datetime.min.time()).replace(hour=8),
                    last_punch=None,
                    processed_at=T0,
                    **{**zero, **extra},
                )
            )
    return site


def _glance(site, name):
    scope = access.scope_for(site, acc.get_account(site, name))
    return home.at_a_glance(site, scope, today=DAY)


def test_each_role_sees_its_scope(results) -> None:
    hr = _glance(results, "harry")
    assert [p.employee_no for p in hr.late_or_absent] == ["E1", "E2"]
    assert hr.attention is not None and hr.own_days is None
    leader = _glance(results, "lena")  # leads OPS, so OPS-A below it
    assert [p.employee_no for p in leader.late_or_absent] == ["E1"]
    assert [d.department_code for d in leader.departments] == ["OPS-A"]
    assert leader.attention is None  # no clocks for leaders
    payroll = _glance(results, "paul")
    assert [d.department_code for d in payroll.departments] == ["OPS-A", "SALES"]
    me = _glance(results, "emma")
    assert me.late_or_absent is None and me.departments is None and me.attention is None
    assert [d.work_date for d in me.own_days] == [DAY, date(2026, 3, 1)]


def test_home_pages(results, client_for, clock) -> None:
    clock.value = T0
    leader = client_for("leader").get("/").text
    assert 'data-employee="E1"' in leader and 'data-employee="E2"' not in leader
    assert "Li Si" not in leader and 'id="attention"' not in leader
    hr = client_for("hr").get("/").text
    assert 'data-employee="E2"' in hr and 'id="attention"' in hr
    own = client_for("employee").get("/").text
    assert 'id="own-days"' in own and 'data-date="2026-03-02"' in own
    assert "Li Si" not in own and "data-employee=" not in own
