"""The rules pages: what is loaded; a rules file uploaded, checked (every problem with where
it is, nothing loaded) and compared with what is loaded (added / changed / removed, field by
field) before the confirm loads it — once, however often it is sent; the loaded rules
downloaded as a file that loads back to the same rules; a year's holidays with their source
and the "not confirmed" warning, added, removed, confirmed. Payroll and an HR account of
some departments read the rules but change nothing; forms without their token are refused."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from punchd.app import Actor, Site
from punchd.app import accounts as acc
from punchd.app import rules as ops
from punchd.app import rules_console as rc
from punchd.storage.schema import att_audit
from punchd.web.app import create_app

from .conftest import ROLE_ACCOUNTS, csrf_of, sign_in

SETUP = Actor("test-setup")
#: 2090: China's calendar is on, and no package has that year (the "not confirmed" warning)
YEAR = 2090

BASE = """
[settings]
collapse_minutes = 5
missing_minutes = 60
[calendar]
china = true
holidays = [{ date = 2090-06-01, name = "Company day" }]
[[period]]
code = "AM"
start = "08:00"
end = "12:00"
late_grace = 5
[[period]]
code = "PM"
start = "13:00"
end = "17:00"
[[period]]
code = "G"
start = "22:00"
end = "06:00"
minutes = 420
[[period]]
code = "N"
start = "00:00"
end = "08:00"
checkin = ["23:00", "00:30"]
[[period]]
code = "M"
start = "16:00"
end = "24:00"
[[shift]]
code = "OFFICE"
name = "Office day"
periods = ["AM", "PM"]
[[shift]]
code = "GUARD"
name = "Guard"
unit = "day"
follows_calendar = false
days = [["G"], []]
[[shift]]
code = "ROT"
name = "Rotation"
unit = "day"
days = [["M"], ["N"], []]
[[schedule]]
shift = "OFFICE"
department = "OPS"
from = 2026-01-01
[[schedule]]
shift = "GUARD"
employee = "E1"
from = 2026-03-01
to = 2026-12-31
[[override]]
date = 2026-11-28
department = "SALES"
shift = "OFFICE"
day = 1
"""

#: BASE changed: settings, periods (AM changed, G removed, X added), shifts (OFFICE renamed,
#: GUARD removed — its schedule goes too, in use —, NIGHT added), a holiday renamed, one added
NEW = """
[settings]
collapse_minutes = 10
overtime_threshold = 45
[calendar]
china = true
holidays = [{ date = 2090-06-01, name = "Founders day" }]
workdays = [{ date = 2090-10-08 }]
[[period]]
code = "AM"
start = "08:00"
end = "12:00"
late_grace = 10
[[period]]
code = "PM"
start = "13:00"
end = "17:00"
[[period]]
code = "X"
start = "09:00"
end = "15:00"
[[period]]
code = "N"
start = "00:00"
end = "08:00"
checkin = ["23:00", "00:30"]
[[period]]
code = "M"
start = "16:00"
end = "24:00"
[[shift]]
code = "OFFICE"
name = "Office (new)"
periods = ["AM", "PM"]
[[shift]]
code = "NIGHT"
name = "Night"
unit = "day"
days = [["X"]]
[[shift]]
code = "ROT"
name = "Rotation"
unit = "day"
days = [["M"], ["N"], []]
[[schedule]]
shift = "OFFICE"
department = "OPS"
from = 2026-01-01
[[override]]
date = 2026-11-28
department = "SALES"
shift = "OFFICE"
day = 1
"""


def load_base(site: Site, tmp_path: Path, text: str = BASE) -> None:
    path = tmp_path / "base.toml"
    path.write_text(text, encoding="utf-8")
    rules = ops.check_rules_file(site, ops.read_rules_file(path))
    ops.apply_rules_load(site, path, rules, actor=SETUP)


def loads(site: Site) -> int:
    with site.engine.connect() as conn:
        query = select(func.count()).select_from(att_audit).where(att_audit.c.action == "load")
        return conn.execute(query).scalar_one()


def upload(client: TestClient, data: bytes, name: str = "rules.toml"):
    token = csrf_of(client.get("/rules/upload").text)
    return client.post(
        "/rules/upload",
        data={"csrf": token},
        files={"file": (name, data, "application/toml")},
        follow_redirects=False,
    )


def checked(client: TestClient, data: bytes) -> tuple[str, str]:
    r = upload(client, data)
    assert r.status_code == 303, r.text
    url = r.headers["location"]
    return url, client.get(url).text


def rows(html: str, what: str, key: str) -> dict[str, tuple[str, str]]:
    """The diff's rows of one item: field → (before, after) as shown."""
    out = {}
    pattern = rf'<tr data-what="{what}" data-key="{re.escape(key)}" data-field="([^"]+)">(.*?)</tr>'
    for field, body in re.findall(pattern, html, re.S):
        cells = re.findall(r"<td>(.*?)</td>", body, re.S)
        before, after = (re.sub(r"<[^>]+>", "", c).strip() for c in cells[-2:])
        out[field] = (before, after)
    return out


@pytest.fixture
def hr(client_for) -> TestClient:
    return client_for("hr")


@pytest.fixture
def base(site: Site, tmp_path: Path) -> Site:
    load_base(site, tmp_path)
    return site


def test_the_rules_page_shows_what_is_loaded(base, client_for) -> None:
    for role in ("admin", "hr", "payroll"):
        page = client_for(role).get("/rules")
        assert page.status_code == 200
        assert 'id="nav-rules"' in page.text
        assert '<tr data-period="G">' in page.text and "+1 06:00" in page.text
        assert '<tr data-shift="OFFICE">' in page.text and "Office day" in page.text
        assert "AM+PM" in page.text
        assert re.search(r'data-setting="collapse_minutes">.*?<code>5</code>', page.text, re.S)
        assert page.text.count("<tr data-schedule=") == 2
        assert 'id="calendar-status"' in page.text
        assert ('id="nav-upload"' in page.text) is (role != "payroll")


def test_a_file_with_problems_is_listed_and_nothing_is_loaded(base, hr) -> None:
    before = rc.rules_file_text(base)
    bad = (
        BASE.replace('end = "12:00"', 'end = "25:00"')
        .replace('department = "OPS"', 'department = "NOPE"')
        .replace('periods = ["AM", "PM"]', 'periods = ["AM", "PM", "ZZ"]')
    )
    url, page = checked(hr, bad.encode())
    assert 'id="rules-problems"' in page
    where = re.findall(r'<tr data-where="([^"]*)">', page)
    assert "period[1] &#34;AM&#34;" in where, where
    assert "end: not a time of day" in page
    assert "shift[1] &#34;OFFICE&#34;" in where and "schedule[1]" in where
    assert "unknown department" in page and "NOPE" in page
    assert 'id="rules-confirm"' not in page
    token = csrf_of(page)
    forced = hr.post(url + "/load", data={"csrf": token})
    assert forced.status_code == 400
    assert rc.rules_file_text(base) == before


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"\xff\xfe\x00\x01garbage\x80", "not UTF-8"),
        (b"this is = not [ toml", "not valid TOML"),
        (b'[[devices]]\nname = "gate"\n', "unknown section"),
        (b"", "The file is empty."),
    ],
)
def test_what_is_not_a_rules_file_is_said_so(base, hr, data, says) -> None:
    before = rc.rules_file_text(base)
    r = upload(hr, data)
    page = hr.get(r.headers["location"]).text if r.status_code == 303 else r.text
    assert says in page
    assert 'id="rules-confirm"' not in page
    assert rc.rules_file_text(base) == before and loads(base) == 1


def test_a_huge_file_is_refused_unread(base, hr, site, clock) -> None:
    # over the console's body limit (4 kB in the tests): refused before any route runs
    r = upload(hr, b"# x\n" * 2000)
    assert r.status_code == 413 and "too large" in r.text
    # under a roomier limit, still over what a rules file may be
    web = site.settings.web.model_copy(update={"max_body_bytes": 3_000_000})
    roomy = Site(site.settings.model_copy(update={"web": web}), site.engine)
    with TestClient(create_app(roomy, now=clock)) as client:
        assert sign_in(client, ROLE_ACCOUNTS["hr"]).status_code == 303
        r = upload(client, b"# x\n" * 300_000)
        assert r.status_code == 303
        assert "larger than 1024 KiB" in client.get(r.headers["location"]).text
    assert loads(site) == 1


def test_the_diff_lists_what_is_added_changed_and_removed(base, hr) -> None:
    _url, page = checked(hr, NEW.encode())
    assert 'id="rules-confirm"' in page
    sections = dict(
        re.findall(
            r'data-section="(\w+)" data-added="(\d+" data-changed="\d+" data-removed="\d+)"', page
        )
    )
    assert sections["setting"] == '1" data-changed="1" data-removed="1'
    assert sections["period"] == '1" data-changed="1" data-removed="1'
    assert sections["shift"] == '1" data-changed="1" data-removed="1'
    assert sections["schedule"] == '0" data-changed="0" data-removed="1'
    assert sections["holiday"] == '1" data-changed="1" data-removed="0'
    assert rows(page, "changed", "collapse_minutes") == {"value": ("5", "10")}
    assert rows(page, "added", "overtime_threshold") == {"value": ("–", "45")}
    assert rows(page, "removed", "missing_minutes") == {"value": ("60", "60")}  # its default
    assert rows(page, "changed", "AM") == {"late_grace": ("5", "10")}
    assert rows(page, "removed", "G")["minutes"] == ("420", "–")
    assert rows(page, "added", "X")["start"] == ("–", "&#34;09:00&#34;")
    assert rows(page, "changed", "OFFICE") == {
        "name": ("&#34;Office day&#34;", "&#34;Office (new)&#34;")
    }
    assert "GUARD" in rows(page, "removed", "GUARD")["code"][0]
    assert rows(page, "changed", "2090-06-01") == {
        "name": ("&#34;Company day&#34;", "&#34;Founders day&#34;")
    }
    assert rows(page, "added", "2090-10-08")["kind"] == ("–", "&#34;workday&#34;")
    # GUARD's schedule is in use: the load needs consent
    assert 'id="in-use"' in page and "GUARD/E1/2026-03-01" in page


def test_confirm_loads_once_and_in_use_needs_consent(base, hr) -> None:
    url, page = checked(hr, NEW.encode())
    token = csrf_of(page)
    refused = hr.post(url + "/load", data={"csrf": token})
    assert refused.status_code == 400 and 'id="error-remove_in_use"' in refused.text
    assert loads(base) == 1
    done = hr.post(
        url + "/load", data={"csrf": token, "remove_in_use": "1"}, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"] == url
    assert loads(base) == 2
    # sent again (a double click, a resent form): the first one's result, nothing loaded again
    again = hr.post(
        url + "/load", data={"csrf": token, "remove_in_use": "1"}, follow_redirects=False
    )
    assert again.status_code == 303
    assert loads(base) == 2
    result = hr.get(url).text
    assert 'id="load-done"' in result and 'id="rules-confirm"' not in result
    view = ops.show_rules(base)
    assert {s["code"] for s in view.shifts} == {"OFFICE", "NIGHT", "ROT"}
    assert view.settings["collapse_minutes"] == 10
    with base.engine.connect() as conn:
        who = conn.execute(
            select(att_audit.c.changed_by)
            .where(att_audit.c.action == "load")
            .order_by(att_audit.c.id.desc())
        ).first()
    assert who is not None and who.changed_by == "harry"


def test_a_load_after_the_rules_changed_loads_nothing(base, hr, tmp_path) -> None:
    url, page = checked(hr, NEW.encode())
    ops.set_setting(base, "collapse_minutes", 7, actor=SETUP)  # someone else, meanwhile
    r = hr.post(url + "/load", data={"csrf": csrf_of(page), "remove_in_use": "1"})
    assert r.status_code == 409 and "changed since the file was checked" in r.text
    assert loads(base) == 1 and ops.show_rules(base).settings["collapse_minutes"] == 7


def test_the_download_loads_back_to_the_same_rules(base, hr, tmp_path) -> None:
    ops.add_holiday(base, date(2090, 5, 4), name='Quote " and \\', actor=SETUP)
    r = hr.get("/rules/rules.toml")
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    path = tmp_path / "downloaded.toml"
    path.write_bytes(r.content)
    # what `punchd rules load` does with it: no problem, nothing to change
    rules = ops.check_rules_file(base, ops.read_rules_file(path))
    plan = ops.plan_rules_load(base, path, rules)
    assert plan.changes == 0, plan.lines()
    assert len(rules.schedules) == 2 and len(rules.overrides) == 1
    # and uploaded: the diff is empty
    url, page = checked(hr, r.content)
    assert 'id="no-changes"' in page and 'data-changes="0"' in page
    # confirmed anyway: as `punchd rules load`, nothing is written
    done = hr.post(url + "/load", data={"csrf": csrf_of(page)}, follow_redirects=False)
    assert done.status_code == 303 and loads(base) == 1


def test_the_holidays_of_a_year(base, hr) -> None:
    page = hr.get(f"/rules/holidays?year={YEAR}")
    assert page.status_code == 200
    assert 'id="year-status" data-attention="yes"' in page.text
    assert f"calendar for {YEAR} not confirmed" in page.text
    assert '<tr data-day="2090-06-01" data-kind="holiday" data-source="entered">' in page.text
    # fixed-date statutory holidays come from the calendar library
    assert 'data-day="2090-01-01" data-kind="holiday" data-source="library"' in page.text
    token = csrf_of(page.text)
    form = {
        "csrf": token,
        "day": "2090-10-08",
        "name": "Make-up",
        "workday": "1",
        "year": str(YEAR),
    }
    r = hr.post("/rules/holidays/add", data=form, follow_redirects=False)
    assert r.status_code == 303 and "done=added" in r.headers["location"]
    again = hr.post("/rules/holidays/add", data=form, follow_redirects=False)
    assert "done=unchanged" in again.headers["location"]
    assert [h.holiday_date.isoformat() for h in ops.list_holidays(base)] == [
        "2090-06-01",
        "2090-10-08",
    ]
    page = hr.get(f"/rules/holidays?year={YEAR}").text
    assert 'data-day="2090-10-08" data-kind="workday" data-source="entered"' in page
    bad = hr.post("/rules/holidays/add", data={**form, "day": "2090-02-30"})
    assert bad.status_code == 400 and 'id="error-day"' in bad.text
    removed = {"csrf": token, "day": "2090-10-08"}
    r = hr.post("/rules/holidays/remove", data=removed, follow_redirects=False)
    assert r.status_code == 303 and "done=removed" in r.headers["location"]
    assert (
        hr.post("/rules/holidays/remove", data=removed, follow_redirects=False).status_code == 303
    )
    assert len(ops.list_holidays(base)) == 1
    r = hr.post(
        "/rules/holidays/confirm", data={"csrf": token, "year": str(YEAR)}, follow_redirects=False
    )
    assert r.status_code == 303
    page = hr.get(f"/rules/holidays?year={YEAR}").text
    assert 'data-attention="no"' in page and "confirmed by harry" in page
    assert 'id="year-confirm"' not in page


def test_a_year_that_cannot_be_confirmed_says_why(site, hr) -> None:
    # China's calendar off: nothing to confirm
    page = hr.get(f"/rules/holidays?year={YEAR}")
    r = hr.post("/rules/holidays/confirm", data={"csrf": csrf_of(page.text), "year": str(YEAR)})
    assert r.status_code == 409 and 'id="error-confirm"' in r.text


def test_payroll_reads_but_changes_nothing(base, client_for) -> None:
    pay = client_for("payroll")
    assert pay.get("/rules/rules.toml").status_code == 200
    page = pay.get(f"/rules/holidays?year={YEAR}")
    assert page.status_code == 200 and 'id="holiday-add"' not in page.text
    assert 'id="remove-2090-06-01"' not in page.text
    token = csrf_of(page.text)
    assert pay.get("/rules/upload").status_code == 404
    for url, data in (
        ("/rules/holidays/add", {"day": "2090-07-01"}),
        ("/rules/holidays/remove", {"day": "2090-06-01"}),
        ("/rules/holidays/confirm", {"year": str(YEAR)}),
        ("/rules/upload", {}),
    ):
        r = pay.post(url, data={"csrf": token, **data})
        assert r.status_code == 404, url
    assert len(ops.list_holidays(base)) == 1 and loads(base) == 1


def test_an_hr_account_of_some_departments_reads_but_changes_nothing(base, app) -> None:
    acc.add_account(base, "hops", "correct horse battery", "hr", actor=SETUP, departments=("OPS",))
    client = TestClient(app)
    assert sign_in(client, "hops").status_code == 303
    page = client.get("/rules")
    assert page.status_code == 200 and 'id="nav-upload"' not in page.text
    assert client.get("/rules/rules.toml").status_code == 200
    holidays = client.get(f"/rules/holidays?year={YEAR}")
    assert holidays.status_code == 200 and 'id="holiday-add"' not in holidays.text
    token = csrf_of(page.text)
    assert client.get("/rules/upload").status_code == 404
    r = client.post("/rules/upload", data={"csrf": token}, files={"file": ("r.toml", NEW.encode())})
    assert r.status_code == 404 and 'data-kind="not_found"' in r.text
    for url, data in (
        ("/rules/holidays/add", {"day": "2090-07-01"}),
        ("/rules/holidays/remove", {"day": "2090-06-01"}),
        ("/rules/holidays/confirm", {"year": str(YEAR)}),
    ):
        r = client.post(url, data={"csrf": token, **data})
        assert r.status_code == 404 and 'data-kind="not_found"' in r.text, url
    assert len(ops.list_holidays(base)) == 1 and loads(base) == 1
    # the application refuses it too, whatever the page does
    scope = acc_scope(base, "hops")
    with pytest.raises(rc.NotFound):
        rc.check_rules_upload(base, scope, NEW.encode(), "r.toml")


def acc_scope(site: Site, name: str):
    from punchd.app.access import scope_for

    return scope_for(site, acc.get_account(site, name))


@pytest.mark.parametrize("role", ["leader", "employee"])
def test_other_roles_do_not_see_the_rules(client_for, role) -> None:
    client = client_for(role)
    for url in ("/rules", "/rules/rules.toml", "/rules/holidays", "/rules/upload"):
        assert client.get(url).status_code == 404, url
    assert 'id="nav-rules"' not in client.get("/").text


def test_forms_without_their_token_are_refused(base, hr) -> None:
    url, _page = checked(hr, NEW.encode())
    for target, data in (
        ("/rules/upload", {}),
        (url + "/load", {"remove_in_use": "1"}),
        ("/rules/holidays/add", {"day": "2090-07-01"}),
        ("/rules/holidays/remove", {"day": "2090-06-01"}),
        ("/rules/holidays/confirm", {"year": str(YEAR)}),
    ):
        for token in ({}, {"csrf": "forged"}):
            r = hr.post(target, data={**data, **token})
            assert r.status_code == 403 and 'data-kind="csrf"' in r.text, target
    assert loads(base) == 1 and len(ops.list_holidays(base)) == 1


def test_an_upload_is_the_uploading_sessions_only(base, hr, client_for) -> None:
    url, _page = checked(hr, NEW.encode())
    other = client_for("admin")
    assert other.get(url).status_code == 404
    r = other.post(url + "/load", data={"csrf": csrf_of(other.get("/rules").text)})
    assert r.status_code == 404 and loads(base) == 1


def test_the_diff_in_chinese(base, hr) -> None:
    hr.cookies.set("lang", "zh_Hans")
    page = hr.get(f"/rules/holidays?year={YEAR}").text
    assert "2090 年的节假日日历尚未确认" in page and "Holidays 2090" not in page
    _url, page = checked(hr, NEW.encode())
    assert "Load the rules" not in page and "载入规则" in page
