"""Self-service in Chromium: HR allows an employee to sign in and out on the web, the
employee signs in to the console, sees their month, and signs in for work (签到) — a double
click stores one punch — then signs out from work (签退). The console runs with
``[web] self_punch_networks`` covering loopback, where the browser is."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from .conftest import Console, running_console, screenshot, sign_in


@pytest.fixture
def self_console(tmp_path: Path) -> Iterator[Console]:
    """Like conftest's ``console``, with web punches allowed from loopback."""
    config = '[web]\nself_punch_networks = ["127.0.0.0/8"]\n'
    with running_console(tmp_path, users=3, punches=10, config=config) as found:
        yield found


def _organisation(console: Console, tmp_path: Path) -> None:
    console.set_up("departments", "add", "FIELD", "Field sales")
    roster = tmp_path / "roster.csv"
    done = console.punchd("employees", "template", "-o", str(roster))
    assert done.returncode == 0, done.stdout + done.stderr
    with roster.open("a", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(
            [
                ["F1", "Fiona Field", "FIELD", "Field sales", "7001", "", "2020-01-01", ""],
                ["F2", "Frank Field", "FIELD", "Field sales", "7002", "", "2020-01-01", ""],
            ]
        )
    console.set_up("employees", "import", str(roster))


def test_an_employee_signs_in_for_work_on_the_web(
    self_console: Console, page_for: Callable[..., Page], tmp_path: Path
) -> None:
    console = self_console
    _organisation(console, tmp_path)
    console.add_account("harry", "--role", "hr")
    console.add_account("fiona", "--role", "employee", "--employee", "F1")

    # HR allows F1 (and only F1)
    hr = page_for("en-US")
    sign_in(hr, console, "harry", "/people/self-service")
    expect(hr.locator("#networks")).to_contain_text("127.0.0.0/8")
    expect(hr.locator("tr[data-employee=F1]")).to_have_attribute("data-enabled", "0")
    hr.click("#enable-F1")
    expect(hr.locator("tr[data-employee=F1]")).to_have_attribute("data-enabled", "1")
    expect(hr.locator("tr[data-employee=F2]")).to_have_attribute("data-enabled", "0")
    screenshot(hr, "selfservice-hr-switches")

    # the employee: their month, and the two buttons
    page = page_for("en-US")
    sign_in(page, console, "fiona", "/")
    page.click("#nav-me")
    page.wait_for_url(console.url + "/me")
    expect(page.locator("#me")).to_contain_text("Fiona Field")
    expect(page.locator("#punch-in")).to_be_visible()
    expect(page.locator("#punch-out")).to_be_visible()
    screenshot(page, "selfservice-me")

    page.dblclick("#punch-in")  # a double click: one punch
    page.wait_for_url("**/me?done=*")
    expect(page.locator("#punch-done")).to_be_visible()
    expect(page.locator("#web-punches-today li")).to_have_count(1)
    expect(page.locator("#web-punches-today li[data-state=in]")).to_have_count(1)
    expect(page.locator("#employee-punches tr[data-source=web]")).to_have_count(1)
    screenshot(page, "selfservice-signed-in")

    page.click("#punch-out")
    page.wait_for_url(console.url + "/me?done=out")
    expect(page.locator("#punch-done")).to_contain_text("sign-out from work is recorded")
    expect(page.locator("#web-punches-today li")).to_have_count(2)

    # another employee's page is not hers; in Chinese the buttons read 签到 / 签退
    response = page.goto(console.url + "/employees/F2")
    assert response is not None and response.status == 404
    zh = page_for("zh-CN")
    sign_in(zh, console, "fiona", "/me")
    expect(zh.locator("#punch-in")).to_have_text("签到")
    expect(zh.locator("#punch-out")).to_have_text("签退")
    screenshot(zh, "selfservice-me-zh")
