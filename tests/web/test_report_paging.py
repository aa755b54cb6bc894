"""The employee detail's page is cut in the database (only the rows shown are built): every
page, for every sort column and direction, each exception filter, with and without
flagged punches, is exactly that page of the whole report sorted as before — names in
mixed case and other scripts, empty shifts and punches, ties — on every test database."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import insert, select

from punchd.app import accounts as acc
from punchd.app import reports as ops
from punchd.app.access import scope_for
from punchd.storage import hr as hr_store
from punchd.storage.schema import att_day, att_device, att_employee, att_exception, att_punch

from .conftest import ADMIN, T0

START, END = date(2026, 3, 2), date(2026, 3, 7)
NAMES = ["alice", "Bob", "Émile", "张三", "bob", "Zed"]
ZERO = dict.fromkeys(
    ("scheduled_minutes", "worked_minutes", "late_minutes", "early_minutes",
     "absent_minutes", "leave_minutes", "overtime_minutes", "holiday_overtime_minutes",
     "rest_overtime_minutes", "missing_punches"),
    0,
)  # fmt: skip


@pytest.fixture
def varied(site):
    """Six people (OPS and SALES) × six days: late, early, absent, leave, overtime, a
    missing punch by count and one only by its exception, shifts empty or missing, ties."""
    with site.engine.begin() as conn:
        depts = [hr_store.department_id(conn, "OPS"), hr_store.department_id(conn, "SALES")]
        for i, name in enumerate(NAMES):
            conn.execute(
                insert(att_employee).values(
                    employee_no=f"P{i % 3}{i}",
                    name=name,
                    department_id=depts[i % 2],
                    enroll_no=f"9{i}",
                    hire_date=date(2020, 1, 1),
                    created_at=T0,
                    updated_at=T0,
                    updated_by="t",
                )
            )
        people = conn.execute(
            select(att_employee.c.id, att_employee.c.employee_no).where(
                att_employee.c.employee_no.like("P%")
            )
        ).all()
        for n, (eid, _) in enumerate(people):
            day = START
            while day <= END:
                k = n + day.day
                status = ("present", "absent", "leave", "rest", "incomplete")[k % 5]
                values = {
                    **ZERO,
                    "scheduled_minutes": 480 if status != "rest" else 0,
                    "worked_minutes": (k * 37) % 500,
                    "late_minutes": (k % 3) * 5,
                    "early_minutes": 10 if k % 4 == 0 else 0,
                    "absent_minutes": 480 if status == "absent" else 0,
                    "leave_minutes": 240 if k % 7 == 0 else 0,
                    "overtime_minutes": 60 if k % 6 == 0 else 0,
                    "missing_punches": 1 if status == "incomplete" else 0,
                }
                at = datetime.combine(day, datetime.min.time())
                conn.execute(
                    insert(att_day).values(
                        employee_id=eid,
                        work_date=day,
                        shift_code=("DAY", "", None, "night")[k % 4],
                        status=status,
                        first_punch=None if k % 3 == 0 else at + timedelta(hours=8, minutes=k),
                        last_punch=None if k % 2 == 0 else at + timedelta(hours=17),
                        processed_at=T0,
                        **values,
                    )
                )
                kinds = []
                if values["late_minutes"]:
                    kinds.append(("late", values["late_minutes"]))
                if k % 5 == 1:  # a missing punch the count does not show
                    kinds.append(("missing_out", 0))
                for kind, minutes in kinds:
                    conn.execute(
                        insert(att_exception).values(
                            employee_id=eid,
                            work_date=day,
                            period="1",
                            kind=kind,
                            minutes=minutes,
                            detail=f"{kind} {minutes}",
                        )
                    )
                day += timedelta(days=1)


def _flag_a_punch(site) -> None:
    with site.engine.begin() as conn:
        device = conn.execute(select(att_device.c.id).where(att_device.c.name == "gate-1")).scalar()
        if device is None:
            device = conn.execute(
                insert(att_device).values(
                    name="gate-1", driver="memory", address="-", created_at=T0, updated_at=T0
                )
            ).inserted_primary_key[0]
        for enroll, at in (("91", datetime(2026, 3, 4, 9, 0)), ("404", datetime(2026, 3, 5, 9))):
            conn.execute(
                insert(att_punch).values(
                    device_id=device,
                    enroll_no=enroll,
                    punched_at=at,
                    punched_at_utc=at - timedelta(hours=8),
                    state="in",
                    collected_at=datetime(2026, 3, 5, 12),
                    flag="future",
                )
            )


def _scope(site):
    return scope_for(site, acc.get_account(site, "harry"))


def _whole(site, scope, query: ops.ReportQuery) -> list[tuple]:
    built, _ = ops.scoped_report(site, scope, query, actor=ADMIN)
    return built.report.rows


def _walk(site, scope, query: ops.ReportQuery, per: int) -> list[tuple]:
    """Every page of ``query`` in turn, and one past the end (the last again)."""
    first = ops.report_page(
        site, scope, ops.ReportQuery(**{**vars(query), "per_page": per}), actor=ADMIN
    )
    rows = list(first.rows)
    for n in range(2, first.pages + 1):
        shown = ops.report_page(
            site, scope, ops.ReportQuery(**{**vars(query), "per_page": per, "page": n}), actor=ADMIN
        )
        assert shown.query.page == n
        assert shown.total == first.total
        rows.extend(shown.rows)
    past = ops.report_page(
        site,
        scope,
        ops.ReportQuery(**{**vars(query), "per_page": per, "page": first.pages + 3}),
        actor=ADMIN,
    )
    assert past.query.page == first.pages
    assert past.rows == rows[(first.pages - 1) * per :]
    return rows


@pytest.mark.parametrize("flagged", [False, True], ids=["days", "with-flagged-punches"])
def test_every_page_is_the_whole_reports_page(site, varied, flagged) -> None:
    if flagged:
        _flag_a_punch(site)
    scope = _scope(site)
    keys = [ops.column_key(c.header) for c in ops.build.DETAIL_COLUMNS]
    base = ops.ReportQuery("detail", START, END)
    whole = _whole(site, scope, base)
    assert len(whole) == 36 + (2 if flagged else 0)
    for sort in [None, *keys]:
        for descending in (False, True):
            query = ops.ReportQuery("detail", START, END, sort=sort, descending=descending)
            expected = _whole(site, scope, query)
            assert _walk(site, scope, query, 7) == expected, (sort, descending)
    for only in (["late"], ["missing"], ["absent", "leave"], ["overtime", "early"], ["flagged"]):
        for sort in (None, "name", "first-punch", "exceptions"):
            query = ops.ReportQuery(
                "detail", START, END, only=frozenset(only), sort=sort, descending=True
            )
            expected = _whole(site, scope, query)
            assert expected or only == ["flagged"]
            assert _walk(site, scope, query, 5) == expected, (only, sort)
    # which pages came from the database: all but those sorted by a column made in Python
    # (and, with flagged punches, every sorted one)
    from punchd.app.attendance import PageAsked

    for sort, paged in (("Name", not flagged), ("Exceptions", False), (None, True)):
        built, _ = ops.scoped_report(site, scope, base, actor=ADMIN, page=PageAsked(1, 5, sort))
        assert (built.total is not None) is paged, sort
    ops_only = ops.ReportQuery("detail", START, END, department="OPS", sort="shift")
    assert _walk(site, scope, ops_only, 4) == _whole(site, scope, ops_only)


def test_the_missing_kind_counts_a_missing_punch_exception(site, varied) -> None:
    """A day whose count says no missing punch but whose exceptions say one is missing is
    a "missing" day on the page as in the whole report."""
    scope = _scope(site)
    query = ops.ReportQuery("detail", START, END, only=frozenset(["missing"]), per_page=100)
    page = ops.report_page(site, scope, query, actor=ADMIN)
    by_count = [r for r in page.rows if r[19]]  # Missing punches
    assert by_count and len(page.rows) > len(by_count)
    assert page.rows == _whole(site, scope, query)
