"""Roster import in the console: the template, the check step that lists every bad row
before anything is imported, the confirm step (the checked upload kept for this session
only, for a while; imported once however often it is confirmed), and files that are not
rosters at all."""

from __future__ import annotations

import io
import re

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from punchd.app import Site, people
from punchd.hr.roster import COLUMN_NAMES
from punchd.storage.schema import att_audit, att_employee
from punchd.web.app import create_app

from .conftest import ROLE_ACCOUNTS, csrf_of, sign_in

GOOD = (
    "employee_no,name,department,enroll_no,card_no,hire_date\n"
    "R1,Wang Fang,OPS-A,7001,90000001,2024-03-01\n"
    "R2,Zhao Lei,SALES,7002,,2024-03-04\n"
)
BAD = (
    "employee_no,name,department,enroll_no,card_no,hire_date\n"
    "R1,Wang Fang,OPS-A,7001,90000001,2024-03-01\n"
    "R2,,SALES,70x2,,2024-02-30\n"
    "R3,Sun Li,SALES,1000,,2024-03-04\n"
)


@pytest.fixture
def hr(client_for):
    return client_for("hr")


@pytest.fixture
def roomy(site, clock):
    """HR on a console that takes bodies of 200 kB (an XLSX is a few kB at least)."""
    web = site.settings.web.model_copy(update={"max_body_bytes": 200_000})
    bigger = Site(site.settings.model_copy(update={"web": web}), site.engine)
    with TestClient(create_app(bigger, now=clock)) as client:
        assert sign_in(client, ROLE_ACCOUNTS["hr"]).status_code == 303
        yield client


def _count(site) -> int:
    with site.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(att_employee)).scalar_one()


def _upload(client, data: bytes, name: str = "roster.csv", kind: str = "text/csv"):
    token = csrf_of(client.get("/people/roster").text)
    return client.post(
        "/people/roster",
        data={"csrf": token},
        files={"file": (name, data, kind)},
        follow_redirects=False,
    )


def _confirm(client, upload_url: str):
    page = client.get(upload_url)
    token = csrf_of(page.text)
    return client.post(upload_url + "/import", data={"csrf": token}, follow_redirects=False)


def test_the_templates_are_the_clis(hr) -> None:
    csv_file = hr.get("/people/roster-template.csv")
    assert csv_file.status_code == 200
    assert "attachment" in csv_file.headers["content-disposition"]
    assert csv_file.content.decode("utf-8-sig").strip() == ",".join(COLUMN_NAMES)
    xlsx = hr.get("/people/roster-template.xlsx")
    book = load_workbook(io.BytesIO(xlsx.content))
    assert [c.value for c in book["roster"][1]] == list(COLUMN_NAMES)


def test_a_bad_row_is_shown_and_nothing_is_imported(hr, site) -> None:
    before = _count(site)
    r = _upload(hr, BAD.encode())
    assert r.status_code == 303
    page = hr.get(r.headers["location"])
    assert page.status_code == 400
    problems = re.findall(r'<tr data-row="(\d+)" data-column="([^"]*)"', page.text)
    assert ("3", "name") in problems and ("3", "enroll_no") in problems
    assert ("3", "hire_date") in problems and ("4", "enroll_no") in problems
    assert "belongs to employee E1" in page.text  # against the database too
    assert 'id="roster-confirm"' not in page.text
    # a confirm sent anyway imports nothing
    token = csrf_of(page.text)
    forced = hr.post(r.headers["location"] + "/import", data={"csrf": token})
    assert forced.status_code == 400
    assert _count(site) == before


def test_check_then_confirm_imports_once(hr, site) -> None:
    before = _count(site)
    r = _upload(hr, GOOD.encode())
    url = r.headers["location"]
    page = hr.get(url)
    assert page.status_code == 200 and 'id="roster-confirm"' in page.text
    assert "add 2 new employees" in page.text
    assert _count(site) == before  # the check wrote nothing
    done = _confirm(hr, url)
    assert done.status_code == 303
    assert _count(site) == before + 2
    with site.engine.connect() as conn:
        audits = conn.execute(select(func.count()).select_from(att_audit)).scalar_one()
    # sent again (a double click, a resent form): the same result, nothing more imported
    token = csrf_of(hr.get(url).text)
    again = hr.post(url + "/import", data={"csrf": token}, follow_redirects=False)
    assert again.status_code == 303
    result = hr.get(url).text
    assert 'id="import-done"' in result and 'data-created="2"' in result
    with site.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(att_audit)).scalar_one() == audits
    assert _count(site) == before + 2
    assert people.show_employee(site, "R1").cards == ["90000001"]


def test_an_xlsx_roster(roomy, site) -> None:
    hr = roomy
    book = Workbook()
    sheet = book.active
    sheet.title = "花名册"
    sheet.append(["工号", "姓名", "部门", "登记号码", "卡号", "入职日期"])
    sheet.append(["X1", "李雷", "OPS", "8001", "", "2023-09-01"])
    buffer = io.BytesIO()
    book.save(buffer)
    r = _upload(hr, buffer.getvalue(), "名单.xlsx", "application/octet-stream")
    url = r.headers["location"]
    assert "名单.xlsx" in hr.get(url).text
    assert _confirm(hr, url).status_code == 303
    assert people.show_employee(site, "X1").employee.name == "李雷"


@pytest.mark.parametrize(
    ("name", "data", "says"),
    [
        ("notes.csv", b"hello,world\n1,2\n", "missing required column"),
        ("roster.pdf", b"%PDF-1.4", "unknown file type"),
        ("roster.xlsx", b"this is not a zip", "not a readable XLSX file"),
        ("roster.csv", b"\xff\xfe\x00", "not valid UTF-16"),
        ("roster.csv", b"employee_no,name\n\x81\xff\x80\n", "not UTF-8 or GB18030"),
    ],
)
def test_files_that_are_not_rosters(hr, site, name, data, says) -> None:
    before = _count(site)
    r = _upload(hr, data, name)
    if r.status_code == 303:  # readable, but its rows are wrong
        page = hr.get(r.headers["location"])
        assert page.status_code == 400
    else:
        page = r
        assert r.status_code == 400
    assert says in page.text
    assert "/tmp" not in page.text  # the upload's name, never a temporary path
    assert _count(site) == before


def test_an_empty_or_missing_file(hr) -> None:
    assert "The file is empty." in _upload(hr, b"").text
    token = csrf_of(hr.get("/people/roster").text)
    r = hr.post("/people/roster", data={"csrf": token})
    assert r.status_code == 400 and "Choose a roster file" in r.text


def test_a_huge_file_is_refused_unread(hr, site) -> None:
    before = _count(site)
    big = GOOD.encode() + b"R9,x,OPS,,,2024-01-01\n" * 1000  # over max_body_bytes
    r = _upload(hr, big)
    assert r.status_code == 413
    assert _count(site) == before


def test_the_upload_is_this_sessions_only_and_expires(hr, client_for, clock, site) -> None:
    url = _upload(hr, GOOD.encode()).headers["location"]
    other = client_for("admin")
    assert other.get(url).status_code == 404
    token = csrf_of(other.get("/people/roster").text)
    assert other.post(url + "/import", data={"csrf": token}).status_code == 404
    assert hr.get("/people/roster/not-an-upload").status_code == 404
    clock.advance(minutes=20)
    assert hr.get(url, follow_redirects=False).status_code == 200
    clock.advance(minutes=11)  # the session lives on (idle 11 minutes), the upload is gone
    assert hr.get(url, follow_redirects=False).status_code == 404
    assert _count(site) == 2


def test_two_confirms_at_the_same_instant_import_once(app, hr, site) -> None:
    """Two requests of the same session race to confirm: the second waits for the first
    and finds its result."""
    from concurrent.futures import ThreadPoolExecutor

    before = _count(site)
    url = _upload(hr, GOOD.encode()).headers["location"]
    token = csrf_of(hr.get(url).text)
    twin = TestClient(app)
    twin.cookies.update(hr.cookies)

    def confirm(client):
        return client.post(url + "/import", data={"csrf": token}, follow_redirects=False)

    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(confirm, (hr, twin)))
    assert [a.status_code for a in answers] == [303, 303]
    assert _count(site) == before + 2
    with site.engine.connect() as conn:
        created = conn.execute(
            select(func.count())
            .select_from(att_audit)
            .where(att_audit.c.entity == "employee", att_audit.c.action == "create")
        ).scalar_one()
    assert created == 2


def test_the_files_name_is_text(hr) -> None:
    r = _upload(hr, GOOD.encode(), name="<img src=x onerror=alert(1)>.csv")
    page = hr.get(r.headers["location"]).text
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;.csv" in page
