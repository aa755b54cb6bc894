"""The report pages: the employee detail and the monthly summary filtered, sorted, paged
and downloaded (CSV and XLSX, byte for byte / cell for cell what ``punchd report`` writes
for the same data, formula text neutralised), a leader limited to their departments (another
one is 404), a ten-year range refused, and processing a range as a background job.
Organisation (conftest): OPS > OPS-A (E1), SALES (E2); here also E3..E7 in OPS."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, insert, select

from punchd.app import attendance
from punchd.storage import hr as hr_store
from punchd.storage.schema import att_day, att_employee, att_exception
from tests.cli_helpers import punchd, subprocess_env

from .conftest import ADMIN, T0, csrf_of

MAR1, MAR31 = date(2026, 3, 1), date(2026, 3, 31)
ZERO = dict.fromkeys(
    (
        "scheduled_minutes", "worked_minutes", "late_minutes", "early_minutes",
        "absent_minutes", "leave_minutes", "overtime_minutes", "holiday_overtime_minutes",
        "rest_overtime_minutes", "missing_punches",
    ),
    0,
)  # fmt: skip
FORMULA = "=HYPERLINK(1)"


@pytest.fixture
def days(site):
    """March 2–6 for E1 (OPS-A), E2 (SALES) and E3..E7 (OPS; E3's name starts with =):
    E1 late on the 2nd, E2 absent on the 3rd, E3 left early on the 4th, the rest present."""
    with site.engine.begin() as conn:
        ops = hr_store.department_id(conn, "OPS")
        for i, name in enumerate((FORMULA, "Wang Wu", "+Plus", "@At", "-Minus"), start=3):
            conn.execute(
                insert(att_employee).values(
                    employee_no=f"E{i}",
                    name=name,
                    department_id=ops,
                    hire_date=date(2020, 1, 1),
                    created_at=T0,
                    updated_at=T0,
                    updated_by="t",
                )
            )
        ids = {e["employee_no"]: e["id"] for e in hr_store.employees(conn)}
        special = {
            ("E1", 2): ("present", {"late_minutes": 12, "worked_minutes": 468}, "late", 12),
            ("E2", 3): ("absent", {"absent_minutes": 480}, "absent", 480),
            ("E3", 4): ("present", {"early_minutes": 30, "worked_minutes": 450}, "early", 30),
        }
        for no, eid in ids.items():
            for d in range(2, 7):
                day = date(2026, 3, d)
                status, extra, kind, minutes = special.get(
                    (no, d), ("present", {"worked_minutes": 480 + d}, None, 0)
                )
                conn.execute(
                    insert(att_day).values(
                        employee_id=eid,
                        work_date=day,
                        shift_code="DAY",
                        status=status,
                        first_punch=datetime(2026, 3, d, 8, 0) if status == "present" else None,
                        last_punch=datetime(2026, 3, d, 17, 0) if status == "present" else None,
                        processed_at=T0,
                        **{**ZERO, "scheduled_minutes": 480, **extra},
                    )
                )
                if kind:
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
    return ids


def rows_of(html: str) -> list[tuple[str, str]]:
    """(employee, date) of each report row on a page."""
    return re.findall(r'<tr data-employee="([^"]*)" data-date="([^"]*)"', html)


def test_the_detail_filters_by_kind_and_department(client_for, days) -> None:
    hr = client_for("hr")
    page = hr.get("/reports/detail?from=2026-03-01&to=2026-03-31")
    assert page.status_code == 200
    assert len(rows_of(page.text)) == 7 * 5
    assert 'id="nav-reports"' in page.text
    late = hr.get("/reports/detail?from=2026-03-01&to=2026-03-31&only=late&only=absent")
    assert rows_of(late.text) == [("E1", "2026-03-02"), ("E2", "2026-03-03")]
    assert 'id="only-late" checked' in late.text
    ops = hr.get("/reports/detail?from=2026-03-01&to=2026-03-31&department=OPS")
    assert {no for no, _ in rows_of(ops.text)} == {"E3", "E4", "E5", "E6", "E7"}
    # markup in a name is text, and a formula is only text on a page
    assert "=HYPERLINK(1)" in ops.text and "<script>" not in ops.text


def test_sorting_and_paging(client_for, days) -> None:
    hr = client_for("hr")
    base = "/reports/detail?from=2026-03-01&to=2026-03-31"
    page = hr.get(base + "&sort=worked-min&dir=desc&per=50")
    found = rows_of(page.text)
    assert len(found) == 35 and found[0][1] == "2026-03-06"  # 486 minutes, the most
    assert 'aria-sort="descending"' in page.text
    # the column's link turns the order round
    assert "sort=worked-min&amp;dir=asc" in page.text
    asc = rows_of(hr.get(base + "&sort=worked-min&dir=asc&per=50").text)
    assert asc[0] == ("E2", "2026-03-03")  # absent: 0 minutes
    first = hr.get(base + "&sort=employee-no&per=50")
    assert 'id="next-page"' not in first.text
    # 35 rows, 50 a page: one page; the summary pages the same way
    summary = hr.get("/reports/summary?from=2026-03-01&to=2026-03-31&sort=late-min&dir=desc")
    assert summary.status_code == 200
    assert re.findall(r'<tr data-employee="([^"]*)"', summary.text)[0] == "E1"


def test_paging_walks_the_rows(client_for, days) -> None:
    hr = client_for("hr")
    base = "/reports/detail?from=2026-03-01&to=2026-03-31&per=20"
    one = hr.get(base)
    assert len(rows_of(one.text)) == 20 and 'id="next-page"' in one.text
    assert "Page 1 of 2." in one.text
    two = hr.get(base + "&page=2")
    assert len(rows_of(two.text)) == 15 and 'id="previous-page"' in two.text
    assert rows_of(one.text) + rows_of(two.text) == rows_of(hr.get(base + "&per=50").text)
    # a page past the end shows the last one; "all" shows every row
    assert rows_of(hr.get(base + "&page=9").text) == rows_of(two.text)
    assert len(rows_of(hr.get(base.replace("per=20", "per=all")).text)) == 35
    # the sort survives paging: the page links carry it
    sorted_page = hr.get(base + "&sort=name&dir=desc")
    assert "sort=name" in sorted_page.text.split('id="next-page"')[0].rsplit("href=", 1)[1]


def test_a_leader_sees_their_departments_only(client_for, days) -> None:
    lena = client_for("leader")
    page = lena.get("/reports/detail?from=2026-03-01&to=2026-03-31")
    assert page.status_code == 200
    assert {no for no, _ in rows_of(page.text)} == {"E1", "E3", "E4", "E5", "E6", "E7"}
    assert "SALES" not in page.text
    for path in ("/reports/detail", "/reports/summary", "/reports/detail/file"):
        for dept in ("SALES", "NO-SUCH"):
            r = lena.get(f"{path}?from=2026-03-01&to=2026-03-31&department={dept}")
            assert r.status_code == 404 and 'data-kind="not_found"' in r.text, (path, dept)
    below = lena.get("/reports/detail?from=2026-03-01&to=2026-03-31&department=OPS-A")
    assert {no for no, _ in rows_of(below.text)} == {"E1"}
    # the downloads too
    data = lena.get("/reports/detail/file?from=2026-03-01&to=2026-03-31&format=csv").content
    assert b"E2" not in data and b"E1" in data
    # no processing for a leader
    assert lena.get("/process").status_code == 404


def test_a_ten_year_range_is_refused(client_for, days) -> None:
    hr = client_for("hr")
    r = hr.get("/reports/detail?from=2016-01-01&to=2026-01-01")
    assert r.status_code == 400 and 'id="error-to"' in r.text
    assert "366" in r.text and 'id="report"' not in r.text
    bad = hr.get("/reports/detail?from=2026-13-01&to=2026-03-01")
    assert bad.status_code == 400 and 'id="error-from"' in bad.text
    form = hr.get("/process")
    done = hr.post(
        "/process",
        data={"csrf": csrf_of(form.text), "from": "2016-01-01", "to": "2026-01-01"},
    )
    assert done.status_code == 400 and 'id="error-to"' in done.text and "366" in done.text


def _cli(db_url: str, tmp_path, *args: str) -> bytes:
    out = tmp_path / f"cli-{len(list(tmp_path.iterdir()))}"
    env = subprocess_env(
        PUNCHD_DATABASE_URL=db_url,
        PUNCHD_DATA_DIR=str(tmp_path / "data"),
        PUNCHD_TIMEZONE="Asia/Shanghai",
    )
    fmt = "xlsx" if "xlsx" in args else "csv"
    done = punchd("report", *args, "-o", f"{out}.{fmt}", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    return (tmp_path / f"{out.name}.{fmt}").read_bytes()


def _cells(data: bytes) -> list[list[object]]:
    ws = load_workbook(io.BytesIO(data)).active
    return [[c.value for c in row] for row in ws.iter_rows()]


@pytest.mark.parametrize("summary", [False, True])
def test_downloads_are_the_clis_files(client_for, days, db_url, tmp_path, summary) -> None:
    hr = client_for("hr")
    kind = "summary" if summary else "detail"
    extra = ["--summary"] if summary else ["--only", "late,absent,early"]
    query = "from=2026-03-01&to=2026-03-31&department=OPS"
    if not summary:
        query += "&only=late&only=absent&only=early"
    got_csv = hr.get(f"/reports/{kind}/file?{query}&format=csv")
    assert got_csv.status_code == 200
    assert got_csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in got_csv.headers["content-disposition"]
    args = ["--from", "2026-03-01", "--to", "2026-03-31", "--department", "OPS", *extra]
    assert got_csv.content == _cli(db_url, tmp_path, *args, "-f", "csv")
    got_xlsx = hr.get(f"/reports/{kind}/file?{query}&format=xlsx")
    assert got_xlsx.status_code == 200
    cells = _cells(got_xlsx.content)
    assert cells == _cells(_cli(db_url, tmp_path, *args, "-f", "xlsx"))
    names = [row[1] for row in cells[2:]]
    if summary:
        # every name that would be a formula stays text: CSV with a leading ', XLSX a
        # string cell with Excel's quote prefix (never a formula cell)
        assert {"=HYPERLINK(1)", "+Plus", "@At", "-Minus"} <= set(names)
        text = got_csv.content.decode("utf-8-sig")
        assert "'=HYPERLINK(1)" in text and "'-Minus" in text and "'@At" in text
        ws = load_workbook(io.BytesIO(got_xlsx.content)).active
        assert all(c.data_type != "f" for row in ws.iter_rows() for c in row)
        risky = [c for row in ws.iter_rows(min_row=3) for c in row if c.column == 2]
        risky = [c for c in risky if str(c.value)[0] in "=+-@"]
        assert len(risky) == 4
        assert all(c.data_type == "s" and c.quotePrefix for c in risky)
    else:
        assert [row[0] for row in cells[2:]] == ["E3"]  # E3 left early, in OPS


def test_the_whole_site_download_is_the_cli_report(client_for, days, db_url, tmp_path) -> None:
    hr = client_for("hr")
    got = hr.get("/reports/detail/file?from=2026-03-01&to=2026-03-31&format=csv").content
    assert got == _cli(db_url, tmp_path, "--from", "2026-03-01", "--to", "2026-03-31", "-f", "csv")
    rows = list(csv.reader(io.StringIO(got.decode("utf-8-sig"))))
    assert len([r for r in rows if r and re.fullmatch(r"E\d", r[0])]) == 35


def test_processing_a_range_runs_as_a_job(client_for, app, site, days) -> None:
    hr = client_for("hr")
    form = hr.get("/process")
    assert form.status_code == 200 and 'id="process-hint"' in form.text
    data = {"csrf": csrf_of(form.text), "from": "2026-02-02", "to": "2026-02-06",
            "department": "SALES"}  # fmt: skip
    first = hr.post("/process", data=data, follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"].startswith("/process/")
    assert app.state.process_jobs.wait(timeout=60)
    page = hr.get(first.headers["location"])
    assert page.status_code == 200
    assert 'data-state="done"' in page.text, page.text
    assert 'id="job-summary"' in page.text and "1 employees" in page.text
    with site.engine.connect() as conn:
        feb = conn.execute(
            select(func.count()).select_from(att_day).where(att_day.c.work_date < MAR1)
        ).scalar_one()
    assert feb == 5  # E2's five days, nobody else's
    # a missing job is as missing as anything else
    assert hr.get("/process/nope").status_code == 404
    # the report of the range is one link away
    assert 'id="job-report"' in page.text
    rep = hr.get("/reports/detail?from=2026-02-02&to=2026-02-06&department=SALES")
    assert len(rows_of(rep.text)) == 5


def test_an_assigned_hr_account_processes_its_departments_only(app, site, days, client_for) -> None:
    from fastapi.testclient import TestClient

    from punchd.app import accounts as acc

    from .conftest import sign_in

    acc.add_account(site, "hops", "correct horse battery", "hr", actor=ADMIN,
                    departments=("OPS",))  # fmt: skip
    client = TestClient(app)
    assert sign_in(client, "hops").status_code == 303
    token = csrf_of(client.get("/process").text)
    r = client.post(
        "/process",
        data={
            "csrf": token,
            "from": "2026-02-02",
            "to": "2026-02-03",
            "department": "SALES",
        },
        follow_redirects=False,
    )
    assert r.status_code == 404
    r = client.post(
        "/process",
        data={"csrf": token, "from": "2026-02-02", "to": "2026-02-03"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert app.state.process_jobs.wait(timeout=60)
    with site.engine.connect() as conn:
        processed = set(
            conn.execute(
                select(att_employee.c.employee_no)
                .join(att_day, att_day.c.employee_id == att_employee.c.id)
                .where(att_day.c.work_date < MAR1)
            ).scalars()
        )
    assert processed == {"E1", "E3", "E4", "E5", "E6", "E7"}
    own = r.headers["location"]
    assert client.get(own).status_code == 200
    # another account's run: seen by HR of every department, not by another assigned one
    harry = client_for("hr")
    assert harry.get(own).status_code == 200
    other = harry.post(
        "/process",
        data={
            "csrf": csrf_of(harry.get("/process").text),
            "from": "2026-02-09",
            "to": "2026-02-09",
            "department": "SALES",
        },
        follow_redirects=False,
    )
    assert app.state.process_jobs.wait(timeout=60)
    assert client.get(other.headers["location"]).status_code == 404
    client.close()


def test_the_detail_is_the_apps_report(site, days) -> None:
    """The page's rows are build_report's rows (the CLI's), in the same order."""
    built = attendance.build_report(site, "detail", MAR1, MAR31, settle=False)
    assert len(built.report.rows) == 35


def test_a_process_form_sent_twice_runs_once(client_for, app, monkeypatch) -> None:
    import threading

    from punchd.web import reports as report_pages

    release, calls = threading.Event(), []

    def slow(*args, **kw):
        calls.append(args)
        release.wait(10)
        raise report_pages.InvalidInput("stopped by the test")

    monkeypatch.setattr(report_pages.ops, "process_in", slow)
    hr = client_for("hr")
    token = csrf_of(hr.get("/process").text)
    data = {"csrf": token, "from": "2026-02-02", "to": "2026-02-06", "department": "OPS"}
    first = hr.post("/process", data=data, follow_redirects=False)
    again = hr.post("/process", data=data, follow_redirects=False)
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    running = hr.get(first.headers["location"])
    assert 'data-state="running"' in running.text
    assert '<meta http-equiv="refresh" content="1">' in running.text
    release.set()
    assert app.state.process_jobs.wait(timeout=30)
    assert len(calls) == 1
    failed = hr.get(first.headers["location"])
    assert 'data-state="failed"' in failed.text and "stopped by the test" in failed.text
