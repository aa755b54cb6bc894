"""HR paints a month's schedule in Chromium: a department's schedule from the first of the
month, a night week for two people ticked in the grid, one day made a rest day from its
cell's form; the grid then shows each, and is saved as screenshots in English and Chinese.
The organisation and the shifts come from the real ``punchd`` commands."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect

from .conftest import Console, screenshot, sign_in

RULES = """
[calendar]
china = false
holidays = [{ date = 2026-03-10, name = "Founders day" }]

[[period]]
code = "P9"
start = "09:00"
end = "18:00"

[[period]]
code = "PE"
start = "14:00"
end = "22:00"

[[period]]
code = "PN"
start = "22:00"
end = "06:00"

[[shift]]
code = "DAY"
name = "Office day"
periods = ["P9"]

[[shift]]
code = "EVE"
name = "Evening"
periods = ["PE"]
workdays = ["mon", "tue", "wed", "thu", "fri", "sat"]

[[shift]]
code = "NIGHT"
name = "Night watch"
unit = "day"
follows_calendar = false
days = [["PN"], ["PN"], []]
"""
PEOPLE = [(f"W{i:02d}", f"Worker {i:02d}", "OPS-A" if i % 3 else "OPS") for i in range(1, 13)]
MONTH = "/schedules/department/OPS?month=2026-03"


def _organisation(console: Console, tmp_path: Path) -> None:
    console.set_up("departments", "add", "OPS", "Operations")
    console.set_up("departments", "add", "OPS-A", "Line A")
    console.set_up("departments", "parent", "OPS-A", "OPS")
    roster = tmp_path / "roster.csv"
    done = console.punchd("employees", "template", "-o", str(roster))
    assert done.returncode == 0, done.stdout + done.stderr
    names = {"OPS": "Operations", "OPS-A": "Line A"}
    with roster.open("a", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(
            [no, name, code, names[code], f"8{i:03d}", "", "2020-01-01", ""]
            for i, (no, name, code) in enumerate(PEOPLE)
        )
    console.set_up("employees", "import", str(roster))
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES, encoding="utf-8")
    console.set_up("rules", "load", str(rules))


def test_hr_paints_a_month(console: Console, page_for: Callable[..., Page], tmp_path: Path) -> None:
    _organisation(console, tmp_path)
    console.add_account("hana", "--role", "hr")
    page = page_for("en-US")
    sign_in(page, console, "hana", MONTH)
    grid = page.locator("#schedule-grid")
    expect(grid.locator("tbody tr[data-employee]")).to_have_count(12)
    expect(grid.locator("td.k-unscheduled")).to_have_count(12 * 31)

    # the whole department (and Line A below it) works DAY from the first
    page.select_option("#field-schedule_shift", "DAY")
    page.fill("#field-start", "2026-03-01")
    page.click("#assign-submit")
    expect(page.locator("#saved")).to_have_attribute("data-changes", "2")
    row = grid.locator("tr[data-employee=W01] td.c")
    expect(row.nth(1)).to_have_attribute("data-shift", "DAY")  # Monday 2 March
    expect(row.nth(0)).to_have_class("c k-rest")  # Sunday
    expect(row.nth(9)).to_have_class("c k-holiday")  # the 10th: Founders day

    # two people ticked: a night week
    page.check("tr[data-employee=W02] input[name=people]")
    page.check("tr[data-employee=W03] input[name=people]")
    page.select_option("#field-shift", "NIGHT")
    page.fill("#field-date_from", "2026-03-16")
    page.fill("#field-date_to", "2026-03-20")
    page.click("#fill-submit")
    expect(page.locator("#saved")).to_have_attribute("data-changes", "10")
    for no in ("W02", "W03"):
        cells = grid.locator(f"tr[data-employee={no}] td.c")
        for day in range(16, 21):
            expect(cells.nth(day - 1)).to_have_attribute("data-shift", "NIGHT")
            expect(cells.nth(day - 1)).to_have_attribute("data-override", "employee")

    # one cell: W05 evening on Saturday 7 March, then its form again to see it set
    grid.locator("tr[data-employee=W05] td.c").nth(6).locator("a").click()
    expect(page.locator("#cell")).to_have_attribute("data-kind", "rest")
    page.select_option("#field-shift", "EVE")
    page.click("#set-submit")
    page.wait_for_url("**/schedules/department/OPS?month=2026-03&saved=1")
    saturday = grid.locator("tr[data-employee=W05] td.c").nth(6)
    expect(saturday).to_have_attribute("data-shift", "EVE")
    expect(saturday).to_have_css("background-color", "rgb(253, 228, 200)")  # EVE: colour 1
    expect(page.locator("#legend")).to_contain_text("Night watch")
    # the first column stays in place when the grid scrolls sideways
    expect(grid.locator("tbody th.who").first).to_have_css("position", "sticky")
    screenshot(page, "schedule-grid-en")

    page.click("#lang-zh_Hans")
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    expect(page.locator("h1")).to_contain_text("排班表")
    expect(grid.locator("thead th[data-day='2026-03-02'] small")).to_have_text("周一")
    screenshot(page, "schedule-grid-zh")

    # and the month before: nothing painted there
    page.click("#previous-month")
    expect(page.locator("#month")).to_have_attribute("data-month", "2026-02")
    expect(grid.locator("td[data-override]")).to_have_count(0)
