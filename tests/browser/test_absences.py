"""HR's leave (请假) and manual punches (签卡) in Chromium: two people of a department ticked
and given the same leave, an overlapping leave refused next to its field, the leave list in
both languages, a manual punch added and voided with its audit. Screenshots of each step.
The dates are fixed (March 2026) and always asked for explicitly: nothing depends on today."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect

from .conftest import Console, organise, screenshot, sign_in

PEOPLE = [
    ("O1", "Olga Ops", "OPS", "Operations"),
    ("A1", "Ada Line", "OPS-A", "Line A"),
    ("A2", "Arthur Linewood", "OPS-A", "Line A"),
    ("S1", "Sam Seller", "SALES", "Sales floor"),
]
MARCH = "from=2026-03-01&to=2026-03-31"


def test_leave_for_two_people_and_a_manual_punch(
    console: Console, page_for: Callable[..., Page], tmp_path: Path
) -> None:
    organise(console, tmp_path, PEOPLE)
    console.add_account("hops", "--role", "hr", "--department", "OPS")
    page = page_for("en-US")
    sign_in(page, console, "hops", f"/people/leave?department=OPS&{MARCH}")
    offered = page.locator("#offered")
    for no in ("O1", "A1", "A2"):
        expect(offered.locator(f"input[data-employee={no}]")).to_be_visible()
    expect(offered.locator("input[data-employee=S1]")).to_have_count(0)  # not their department

    # two people ticked, three whole days
    page.check("input[data-employee=A1]")
    page.check("input[data-employee=A2]")
    page.fill("#field-kind", "annual")
    page.fill("#field-start_day", "2026-03-09")
    page.fill("#field-end_day", "2026-03-11")
    page.fill("#field-note", "spring trip")
    page.click("#add-leave-button")
    page.wait_for_url("**/people/leave?*done=added*")
    table = page.locator("#leave")
    for no in ("A1", "A2"):
        expect(table.locator(f"tr[data-employee={no}]")).to_contain_text("annual leave")
    expect(table.locator("tr[data-leave]")).to_have_count(2)
    screenshot(page, "absences-leave-en")

    # part of a day inside that leave: refused next to the field, nothing saved
    page.fill("#field-employee", "A1")
    page.fill("#field-kind", "sick")
    page.check("#span-times")
    page.fill("#field-start_at", "2026-03-10T09:00")
    page.fill("#field-end_at", "2026-03-10T12:00")
    page.click("#add-leave-button")
    expect(page.locator("#error-start")).to_contain_text("A1 already has leave at this time")
    expect(page.locator("#field-kind")).to_have_value("sick")  # what was typed is kept
    screenshot(page, "absences-leave-overlap")

    page.goto(f"{console.url}/people/leave?{MARCH}")
    expect(page.locator("#leave tr[data-leave]")).to_have_count(2)
    page.click("#lang-zh_Hans")
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    expect(page.locator("#leave th").first).to_have_text("工号")
    expect(page.locator("#leave tr[data-employee=A1]")).to_contain_text("年假")
    screenshot(page, "absences-leave-zh")
    page.click("#lang-en")

    # a manual punch, then voided: both in the audit
    page.goto(f"{console.url}/people/punches?employee=A1&from=2026-03-12&to=2026-03-12")
    expect(page.locator("#punches tr.empty")).to_be_visible()
    page.fill("#field-at", "2026-03-12T08:55")
    page.select_option("#field-state", "in")
    page.fill("#field-reason", "forgot the card")
    page.click("#add-punch-button")
    page.wait_for_url("**/people/punches?*done=added*")
    row = page.locator("#punches tr[data-source=manual]")
    expect(row).to_have_attribute("data-void", "no")
    expect(row).to_contain_text("forgot the card")
    screenshot(page, "absences-punch-added")
    row.locator("input[name=reason]").fill("entered twice by mistake")
    row.locator("button[type=submit]").click()
    page.wait_for_url("**/people/punches?*done=voided*")
    expect(page.locator("#punches tr[data-source=manual]")).to_have_attribute("data-void", "yes")
    changes = page.locator("#punch-changes tr[data-action]")
    expect(changes).to_have_count(2)
    expect(changes.first).to_have_attribute("data-action", "void")
    expect(changes.first).to_contain_text("hops")
    screenshot(page, "absences-punch-voided")

    # someone of another department is not there for this account
    missing = page.goto(f"{console.url}/people/punches?employee=S1")
    assert missing is not None and missing.status == 404
