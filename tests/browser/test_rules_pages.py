"""HR's rules work in Chromium: the loaded rules, a rules file with problems (every problem
shown, nothing loaded), a changed file checked — the diff of what it adds, changes and
removes — and loaded, the download, a year's holidays with the "not confirmed" warning, a
date entered and the year confirmed. Screenshots of each page (the diff in both languages)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect

from .conftest import Console, screenshot, sign_in

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
[[schedule]]
shift = "GUARD"
department = "OPS"
from = 2026-01-01
"""
NEW = (
    BASE.replace("collapse_minutes = 5", "collapse_minutes = 10")
    .replace("late_grace = 5", "late_grace = 10")
    .replace('name = "Office day"', 'name = "Office (new)"')
    .split('[[shift]]\ncode = "GUARD"')[0]
    + '[[shift]]\ncode = "NIGHT"\nname = "Night"\nunit = "day"\ndays = [["G"]]\n'
)
BAD = BASE.replace('end = "12:00"', 'end = "25:00"').replace('"OPS"', '"NOPE"')


def _upload(page: Page, console: Console, path: Path) -> None:
    page.goto(console.url + "/rules/upload")
    page.set_input_files("#field-file", str(path))
    page.click("#check")
    page.wait_for_url(console.url + "/rules/upload/*")


def test_upload_diff_confirm_and_holidays(
    console: Console, page_for: Callable[..., Page], tmp_path: Path
) -> None:
    done = console.punchd("departments", "add", "OPS", "Operations", "--by", "test-setup")
    assert done.returncode == 0, done.stdout + done.stderr
    base = tmp_path / "base.toml"
    base.write_text(BASE, encoding="utf-8")
    done = console.punchd("rules", "load", str(base), "--by", "test-setup")
    assert done.returncode == 0, done.stdout + done.stderr
    console.add_account("hana", "--role", "hr")
    page = page_for("en-US")
    sign_in(page, console, "hana", "/rules")
    expect(page.locator("#shifts tr[data-shift=GUARD]")).to_be_visible()
    expect(page.locator("#periods tr[data-period=G]")).to_contain_text("+1 06:00")
    screenshot(page, "rules-loaded")

    # problems: every one with where it is, nothing loaded
    bad = tmp_path / "bad.toml"
    bad.write_text(BAD, encoding="utf-8")
    _upload(page, console, bad)
    problems = page.locator("#problems")
    expect(problems.locator('tr[data-where="period[1] \\"AM\\""]')).to_be_visible()
    expect(problems).to_contain_text("unknown department")
    expect(page.locator("#rules-confirm")).to_have_count(0)
    screenshot(page, "rules-upload-problems")

    # the changed file: the diff, then the load (GUARD's schedule is in use: consent)
    new = tmp_path / "new.toml"
    new.write_text(NEW, encoding="utf-8")
    _upload(page, console, new)
    shifts = page.locator("section[data-section=shift]")
    expect(shifts).to_have_attribute("data-added", "1")
    expect(shifts).to_have_attribute("data-changed", "1")
    expect(shifts).to_have_attribute("data-removed", "1")
    changed = page.locator("tr[data-what=changed][data-key=collapse_minutes]")
    expect(changed).to_contain_text("5")
    expect(changed).to_contain_text("10")
    expect(page.locator("#in-use")).to_contain_text("GUARD")
    screenshot(page, "rules-upload-diff")
    page.click("#lang-zh_Hans")
    expect(page.locator("#load")).to_have_text("载入规则")
    screenshot(page, "rules-upload-diff-zh")
    page.click("#lang-en")
    page.click("#load")
    expect(page.locator("#error-remove_in_use")).to_be_visible()
    page.check("#field-remove_in_use")
    page.click("#load")
    expect(page.locator("#load-done")).to_be_visible()
    screenshot(page, "rules-upload-loaded")
    page.goto(console.url + "/rules")
    expect(page.locator("#shifts tr[data-shift=NIGHT]")).to_be_visible()
    expect(page.locator("#shifts tr[data-shift=GUARD]")).to_have_count(0)

    # the download loads back with nothing to change
    download = page.request.get(console.url + "/rules/rules.toml")
    assert download.ok
    again = tmp_path / "again.toml"
    again.write_bytes(download.body())
    checked = console.punchd("rules", "load", str(again), "--dry-run")
    said = " ".join(checked.stdout.split())  # the terminal wraps long lines
    assert checked.returncode == 0 and ": 0 change(s); nothing was changed" in said, said

    # holidays of 2090: China's calendar without official data, not confirmed
    page.goto(console.url + "/rules/holidays?year=2090")
    expect(page.locator("#year-status")).to_have_attribute("data-attention", "yes")
    expect(page.locator("tr[data-day='2090-06-01']")).to_have_attribute("data-source", "entered")
    screenshot(page, "rules-holidays-unconfirmed")
    page.fill("#field-day", "2090-10-08")
    page.fill("#field-name", "Make-up")
    page.check("#field-workday")
    page.click("#add")
    expect(page.locator("tr[data-day='2090-10-08']")).to_have_attribute("data-kind", "workday")
    page.click("#confirm")
    expect(page.locator("#year-status")).to_have_attribute("data-attention", "no")
    expect(page.locator("#year-status")).to_contain_text("confirmed by hana")
    screenshot(page, "rules-holidays-confirmed")
