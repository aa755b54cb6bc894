"""HR's people work in Chromium: a roster upload with a bad row (nothing imported, every bad
row shown), the file fixed and imported, a card issued, someone separated and the separation
undone. Screenshots of each page (the employee list in both languages)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect

from .conftest import Console, screenshot, sign_in

HEADER = "employee_no,name,department,enroll_no,card_no,hire_date\n"
ROWS = [
    "R1,Wang Fang,OPS,7001,,2024-03-01\n",
    "R2,Zhao Lei,SALES,7002,90000002,2024-03-04\n",
    "R3,孙丽,OPS,7003,,2024-03-05\n",
]
BAD_ROW = "R2,Zhao Lei,SALES,70O2,90000002,2024-02-30\n"  # a letter O; 30 February


def _upload(page: Page, console: Console, path: Path) -> None:
    page.goto(console.url + "/people/roster")
    page.set_input_files("#field-file", str(path))
    page.click("#check")
    page.wait_for_url(console.url + "/people/roster/*")


def test_roster_cards_and_separation(
    console: Console, page_for: Callable[..., Page], tmp_path: Path
) -> None:
    for code, name in (("OPS", "Operations"), ("SALES", "Sales")):
        done = console.punchd("departments", "add", code, name, "--by", "test-setup")
        assert done.returncode == 0, done.stdout + done.stderr
    console.add_account("hana", "--role", "hr")
    page = page_for("en-US")
    sign_in(page, console, "hana", "/people/roster")
    expect(page.locator("#template-xlsx")).to_be_visible()
    template = page.request.get(console.url + "/people/roster-template.csv")
    assert template.ok and template.body().decode("utf-8-sig").startswith("employee_no,name")

    # a bad row: every problem shown, nothing imported
    bad = tmp_path / "roster-bad.csv"
    bad.write_text(HEADER + ROWS[0] + BAD_ROW + ROWS[2], encoding="utf-8")
    _upload(page, console, bad)
    problems = page.locator("#roster-problems")
    expect(problems.locator("tr[data-row='3'][data-column=enroll_no]")).to_be_visible()
    expect(problems.locator("tr[data-row='3'][data-column=hire_date]")).to_be_visible()
    expect(problems.locator("tbody tr")).to_have_count(2)
    expect(page.locator("#roster-confirm")).to_have_count(0)
    screenshot(page, "people-roster-errors")
    page.goto(console.url + "/people/employees?status=all")
    expect(page.locator("#employee-count")).to_have_attribute("data-total", "0")

    # fixed: the check says what will happen, then the import
    good = tmp_path / "roster.csv"
    good.write_text(HEADER + "".join(ROWS), encoding="utf-8")
    _upload(page, console, good)
    expect(page.locator("#roster-preview")).to_contain_text("add 3 new employees")
    screenshot(page, "people-roster-check")
    page.click("#import")
    expect(page.locator("#import-done")).to_have_attribute("data-created", "3")
    screenshot(page, "people-roster-imported")

    page.click("#nav-people")
    table = page.locator("#employees")
    for no in ("R1", "R2", "R3"):
        expect(table.locator(f"tr[data-employee={no}]")).to_be_visible()
    expect(table.locator("tr[data-employee=R2] td.cards")).to_have_text("90000002")
    screenshot(page, "people-employees-en")
    page.click("#lang-zh_Hans")
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    expect(page.locator("#employees th").first).to_have_text("工号")
    screenshot(page, "people-employees-zh")
    page.click("#lang-en")
    page.fill("#field-q", "Wang")
    page.click("#employee-search button")
    expect(table.locator("tr[data-employee]")).to_have_count(1)

    # a card for R1
    page.click("#employees tr[data-employee=R1] a >> nth=0")
    page.wait_for_url(console.url + "/people/employee/R1")
    page.fill("#issue-card #field-card_no", "12345678")
    page.click("#issue-card button[type=submit]")
    expect(page.locator("#done")).to_have_attribute("data-done", "card")
    expect(page.locator("#cards-held li[data-card='12345678']")).to_be_visible()
    expect(page.locator("#card-history tr[data-card='12345678']")).to_have_count(1)
    screenshot(page, "people-employee-card")

    # separation: the confirmation says what happens; then undo
    page.fill("#separate #field-on", "2025-06-30")
    page.click("#separate button[type=submit]")
    expect(page.locator("#separation-confirm")).to_have_attribute("data-undo", "no")
    expect(page.locator("#consequences li[data-what=cards]")).to_contain_text("12345678")
    expect(page.locator("#consequences li[data-what=records]")).to_be_visible()
    screenshot(page, "people-separation-confirm")
    page.click("#confirm")
    expect(page.locator("#done")).to_have_attribute("data-done", "separated")
    expect(page.locator("#separation-date")).to_have_attribute("data-date", "2025-06-30")
    expect(page.locator("#cards-held li[data-card]")).to_have_count(0)
    page.click("#unseparate")
    expect(page.locator("#separation-confirm")).to_have_attribute("data-undo", "yes")
    expect(page.locator("#consequences li[data-what=cards]")).to_contain_text("12345678")
    page.click("#confirm")
    expect(page.locator("#done")).to_have_attribute("data-done", "unseparated")
    expect(page.locator("#cards-held li[data-card='12345678']")).to_be_visible()
    expect(page.locator("#separation-date")).to_have_count(0)

    page.goto(console.url + "/people/departments")
    expect(page.locator("#department-tree tr[data-department=OPS]")).to_be_visible()
    screenshot(page, "people-departments")
