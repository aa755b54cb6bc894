"""One rule for a form that did not go through (web/forms.py): values that cannot be used
are 400 next to their field, a valid form the state of things refuses (a closed pay period)
is 409; the refusals and calendar warnings of the layers below are worded in the reader's
language (zh_Hans here). Organisation (conftest): OPS > OPS-A (E1), SALES (E2)."""

from __future__ import annotations

import re
from datetime import date

import pytest
from fastapi.testclient import TestClient

from punchd.app import attendance, periods
from punchd.app.forms import FormProblems, Problem
from punchd.errors import PunchdError
from punchd.processing import closing
from punchd.rules import holidays, punches
from punchd.storage import hr as hr_store
from punchd.web import forms, security

from .conftest import ADMIN, T0, csrf_of
from .test_rules_pages import load_base

CLOSED_ZH = "属于已结账的考勤期间 2026-02"


@pytest.fixture(autouse=True)
def fixed_clock(clock) -> None:
    clock.value = T0  # 2026-03-02 09:00 in Shanghai


@pytest.fixture
def hr_zh(client_for) -> TestClient:
    client = client_for("hr")
    client.cookies.set(security.LANG_COOKIE, "zh_Hans")
    return client


@pytest.fixture
def closed_february(site) -> None:
    attendance.process(site, date(2026, 2, 1), date(2026, 3, 31), actor=ADMIN)
    periods.close_period(site, "2026-02", force=True, reason="test", actor=ADMIN)


def _error(html: str, name: str) -> str:
    found = re.search(rf'id="error-{name}"[^>]*>([^<]*)<', html)
    assert found, f"no problem next to {name}"
    return found.group(1)


def test_the_worded_ids_are_those_the_layers_give() -> None:
    assert set(forms.WORDED) == {closing.CLOSED, punches.SAME_MINUTE, *holidays.YEAR_WORDS}
    assert len(forms.WORDED) == len(set(forms.WORDED))


def test_unusable_values_are_400_a_refusal_409() -> None:
    problems, status = forms.refusal(FormProblems({"on": "not a date"}), "form")
    assert status == 400 and problems == {"on": Problem("not a date")}
    refused = closing.PeriodClosed("refused: … closed").worded(
        closing.CLOSED, span="2026-02-27", month="2026-02"
    )
    problems, status = forms.refusal(refused, "start")
    assert status == 409
    assert str(problems["start"]).startswith("Refused: 2026-02-27 lies in the closed pay period")
    # an error without a message id is shown as it is, without secrets, % kept literal
    problems, status = forms.refusal(PunchdError("100% wrong: password=hunter2"), "name")
    assert status == 409 and "hunter2" not in str(problems["name"])
    assert str(problems["name"]).startswith("100% wrong")


def test_a_closed_month_is_refused_in_chinese_on_the_leave_page(
    hr_zh, site, closed_february
) -> None:
    page = hr_zh.get("/people/leave")
    once = re.search(r'id="add-[a-z]+">.*?name="once" value="([^"]+)"', page.text, re.S)
    assert once
    sent = {"csrf": csrf_of(page.text), "once": once.group(1), "employee": "E1",
            "kind": "annual", "span": "days", "start_day": "2026-02-27",
            "end_day": "2026-03-02"}  # fmt: skip
    r = hr_zh.post("/people/leave", data=sent)
    assert r.status_code == 409
    said = _error(r.text, "start")
    assert CLOSED_ZH in said and "2026-02-27" in said and "Refused" not in said


def test_a_closed_month_is_409_on_the_people_pages_in_chinese(hr_zh, site, closed_february) -> None:
    csrf = csrf_of(hr_zh.get("/people/employee/E1").text)
    r = hr_zh.post("/people/separate/E1", data={"csrf": csrf, "on": "2026-02-10"})
    assert r.status_code == 409
    assert CLOSED_ZH in _error(r.text, "form")
    with site.engine.connect() as conn:  # nothing was saved
        assert hr_store.find_employee(conn, "E1")["separation_date"] is None


def test_an_unconfirmed_calendar_year_is_worded_in_chinese_on_the_job_page(
    client_for, app, site, tmp_path
) -> None:
    load_base(site, tmp_path)  # China's calendar on; no package has 2090
    hr = client_for("hr")
    hr.cookies.set(security.LANG_COOKIE, "zh_Hans")
    token = csrf_of(hr.get("/process").text)
    data = {"csrf": token, "from": "2090-03-01", "to": "2090-03-02", "department": "SALES"}
    first = hr.post("/process", data=data, follow_redirects=False)
    assert first.status_code == 303
    assert app.state.process_jobs.wait(timeout=60)
    page = hr.get(first.headers["location"])
    assert 'data-code="calendar_unconfirmed"' in page.text, page.text
    warning = re.search(r'data-code="calendar_unconfirmed">([^<]*)<', page.text)
    assert warning and "2090" in warning.group(1)
    assert "not confirmed" not in warning.group(1)
    # the holidays page says the same in Chinese
    page = hr.get("/rules/holidays?year=2090")
    assert "2090 年的节假日日历尚未确认" in page.text
    status = re.search(r'id="year-status"[^>]*>(.*?)</p>', page.text, re.S)
    assert status and "2090 年的日历尚未确认——" in status.group(1)
    assert "not confirmed" not in status.group(1) and "no package" not in status.group(1)
    # the rules page: every year's status line in Chinese
    lines = re.findall(r'<li data-year="(\d+)"[^>]*>(.*?)</li>', hr.get("/rules").text, re.S)
    assert lines and all(f"{year} 年" in line for year, line in lines), lines
    assert not any("official" in line or "not confirmed" in line for _, line in lines), lines
