"""The users' workflow (``users-workflow.md``) end to end in Chromium, as an HR clerk does it:
departments and the rules, a roster upload with a bad row (nothing imported, the row shown),
the file fixed and imported, a card issued, a month painted in the schedule grid, leave and a
manual punch (签卡), a separation, Collect now from a simulated ZK clock, processing, the
employee-detail report filtered to late and absent days — downloaded as XLSX and printed to
PDF — and what a leader and an employee see of it.

The console runs with its clock at 2 April 2026, 10:00 in Asia/Shanghai (the site's zone);
the clock holds March 2026's punches of the roster's enrolment numbers. Every row the report
shows follows from the punches planted here. Screenshots: ``workflow-NN-<step>.png``.
"""

from __future__ import annotations

import io
import re
import unicodedata
from collections.abc import Callable
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
from playwright.sync_api import Page, expect
from pypdf import PdfReader

from punchd.drivers.zk.simulator import SimPunch, SimUser, ZKSimulator

from .conftest import ClockedConsole, screenshot, sign_in
from .test_reports import _paginate, _px

SITE = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 4, 2, 10, 0, tzinfo=SITE)  # a Thursday; March is over
MARCH = [date(2026, 3, d) for d in range(1, 32)]
WORKDAYS = [d for d in MARCH if d.weekday() < 5]
RANGE = "from=2026-03-01&to=2026-03-31"

RULES = """
[calendar]
china = false

[[period]]
code = "P9"
start = "09:00"
end = "18:00"

[[shift]]
code = "DAY"
name = "Office day"
periods = ["P9"]
"""

HEADER = "employee_no,name,department,enroll_no,card_no,hire_date\n"
#: staff no, name, department, 6-digit enrolment no, 8-digit card no
PEOPLE = [
    ("E01", "Li Lei", "OPS", "100101", "20000101"),
    ("E02", "Han Meimei", "OPS", "100102", "20000102"),
    ("E03", "张伟", "OPS", "100103", ""),
    ("E04", "Wang Fang", "OPS", "100104", "20000104"),
    ("E05", "Liu Yang", "OPS", "100105", "20000105"),
    ("S01", "Sam Seller", "SALES", "100201", "20000201"),
]
BAD_ROW = "E02,Han Meimei,OPS,10O102,20000102,2024-02-30\n"  # a letter O; 30 February

LATE = ("E01", date(2026, 3, 3))  # in at 09:20
ABSENT = ("E02", date(2026, 3, 4))  # no punch
LEAVE = ("E03", date(2026, 3, 5))  # no punch, a day of annual leave entered
FORGOT = ("E04", date(2026, 3, 6))  # only the out punch; the in punch entered by hand
SEPARATED = ("E05", date(2026, 3, 11))  # the last day; no working day after it
LEAVER_LEAVE = ("E05", date(2026, 3, 10))  # no punch; leave entered after the separation
RETURNED = ("E05", datetime(2026, 3, 12, 10, 30))  # came back to hand in things: one swipe


def _planted() -> tuple[list[SimUser], list[SimPunch]]:
    """The clock's users and March's punches: in 08:55, out 18:05 on every workday, but
    for the days above."""
    users = [SimUser(uid=i + 1, user_id=p[3], name=p[1]) for i, p in enumerate(PEOPLE)]
    punches = []
    for no, _, _, enrol, _ in PEOPLE:
        for day in WORKDAYS:
            if (no, day) in (ABSENT, LEAVE, LEAVER_LEAVE):
                continue
            if no == SEPARATED[0] and day > SEPARATED[1]:
                if day == RETURNED[1].date():
                    punches.append(SimPunch(enrol, RETURNED[1], punch=0))
                continue
            start = time(9, 20) if (no, day) == LATE else time(8, 55)
            if (no, day) != FORGOT:
                punches.append(SimPunch(enrol, datetime.combine(day, start), punch=0))
            punches.append(SimPunch(enrol, datetime.combine(day, time(18, 5)), punch=1))
    return users, punches


def _shot(page: Page, n: int, step: str) -> None:
    screenshot(page, f"workflow-{n:02d}-{step}")


def _upload(page: Page, console: ClockedConsole, path: Path) -> None:
    page.goto(console.url + "/people/roster")
    page.set_input_files("#field-file", str(path))
    page.click("#check")
    page.wait_for_url(console.url + "/people/roster/*")


def _setup(page: Page, console: ClockedConsole, tmp_path: Path) -> None:
    """Set-up, once: departments, the rules (shifts), the roster with a bad row then fixed,
    a card."""
    for code, name in (("OPS", "Operations"), ("SALES", "Sales floor")):
        page.goto(console.url + "/people/departments")
        page.fill("#field-code", code)
        page.fill("#field-name", name)
        page.click("#add-department button[type=submit]")
        page.wait_for_url(f"{console.url}/people/department/{code}*")
    page.goto(console.url + "/people/departments")
    for code in ("OPS", "SALES"):
        expect(page.locator(f"#department-tree tr[data-department={code}]")).to_be_visible()
    _shot(page, 1, "departments")

    rules = tmp_path / "rules.toml"
    rules.write_text(RULES, encoding="utf-8")
    page.goto(console.url + "/rules/upload")
    page.set_input_files("#field-file", str(rules))
    page.click("#check")
    page.wait_for_url(console.url + "/rules/upload/*")
    page.click("#load")
    expect(page.locator("#load-done")).to_be_visible()
    page.goto(console.url + "/rules")
    expect(page.locator("#shifts tr[data-shift=DAY]")).to_be_visible()
    _shot(page, 2, "rules")

    # 1. the roster with a bad row: nothing imported, the row, column and reason shown
    rows = [
        f"{no},{name},{dept},{enrol},{card},2024-03-01\n" for no, name, dept, enrol, card in PEOPLE
    ]
    bad = tmp_path / "roster-bad.csv"
    bad.write_text(HEADER + rows[0] + BAD_ROW + "".join(rows[2:]), encoding="utf-8")
    _upload(page, console, bad)
    problems = page.locator("#roster-problems")
    expect(problems.locator("tbody tr")).to_have_count(2)
    enrol = problems.locator("tr[data-row='3'][data-column=enroll_no]")
    expect(enrol).to_contain_text("10O102")  # the reason quotes what was typed
    expect(problems.locator("tr[data-row='3'][data-column=hire_date]")).to_be_visible()
    expect(page.locator("#roster-confirm")).to_have_count(0)
    _shot(page, 3, "roster-bad-row")
    page.goto(console.url + "/people/employees?status=all")
    expect(page.locator("#employee-count")).to_have_attribute("data-total", "0")

    good = tmp_path / "roster.csv"
    good.write_text(HEADER + "".join(rows), encoding="utf-8")
    _upload(page, console, good)
    expect(page.locator("#roster-preview")).to_contain_text("add 6 new employees")
    page.click("#import")
    expect(page.locator("#import-done")).to_have_attribute("data-created", "6")
    page.goto(console.url + "/people/employees?status=all")
    expect(page.locator("#employee-count")).to_have_attribute("data-total", "6")
    expect(page.locator("#employees tr[data-employee=E02] td.cards")).to_have_text("20000102")
    _shot(page, 4, "roster-imported")

    # 2. a card for E03, who came without one, effective from the first of March
    page.goto(console.url + "/people/employee/E03")
    page.fill("#issue-card #field-card_no", "20000103")
    page.fill("#issue-card #field-at", "2026-03-01T00:00")
    page.click("#issue-card button[type=submit]")
    expect(page.locator("#done")).to_have_attribute("data-done", "card")
    expect(page.locator("#cards-held li[data-card='20000103']")).to_be_visible()
    _shot(page, 5, "card-issued")


def _paint(page: Page, console: ClockedConsole) -> None:
    """3. The month grid: DAY from 1 March for both departments; shown in both languages."""
    for code in ("SALES", "OPS"):
        page.goto(f"{console.url}/schedules/department/{code}?month=2026-03")
        grid = page.locator("#schedule-grid")
        expect(grid.locator("td.k-unscheduled").first).to_be_visible()
        page.select_option("#field-schedule_shift", "DAY")
        page.fill("#field-start", "2026-03-01")
        page.click("#assign-submit")
        expect(page.locator("#saved")).to_be_visible()
    grid = page.locator("#schedule-grid")
    expect(grid.locator("tbody tr[data-employee]")).to_have_count(5)
    cells = grid.locator("tr[data-employee=E01] td.c")
    expect(cells.nth(1)).to_have_attribute("data-shift", "DAY")  # Monday 2 March
    expect(cells.nth(0)).to_have_class("c k-rest")  # Sunday 1 March
    expect(grid.locator("td.k-unscheduled")).to_have_count(0)
    _shot(page, 6, "schedule-grid-en")
    page.click("#lang-zh_Hans")
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    expect(page.locator("h1")).to_contain_text("排班表")
    _shot(page, 7, "schedule-grid-zh")
    page.click("#lang-en")
    expect(page.locator("html")).to_have_attribute("lang", "en")


def _leave_and_punch(page: Page, console: ClockedConsole) -> None:
    """4. A day of leave for E03, the forgotten in punch of E04 with its reason."""
    _enter_leave(page, console, *LEAVE)
    _shot(page, 8, "leave")

    no, day = FORGOT
    page.goto(f"{console.url}/people/punches?employee={no}&from={day}&to={day}")
    page.fill("#field-at", f"{day}T08:50")
    page.select_option("#field-state", "in")
    page.fill("#field-reason", "forgot the card")
    page.click("#add-punch-button")
    page.wait_for_url("**/people/punches?*done=added*")
    row = page.locator("#punches tr[data-source=manual]")
    expect(row).to_have_attribute("data-void", "no")
    expect(row).to_contain_text("forgot the card")
    _shot(page, 9, "manual-punch")


def _enter_leave(
    page: Page, console: ClockedConsole, no: str, day: date, kind: str = "annual"
) -> None:
    page.goto(f"{console.url}/people/leave?department=OPS&{RANGE}")
    page.fill("#field-employee", no)
    page.fill("#field-kind", kind)
    page.fill("#field-start_day", day.isoformat())
    page.fill("#field-end_day", day.isoformat())
    page.click("#add-leave-button")
    page.wait_for_url("**/people/leave?*done=added*")
    row = page.locator(f"#leave tr[data-employee={no}]")
    expect(row.filter(has_text=day.strftime("%-d %b %Y"))).to_contain_text(f"{kind} leave")


def _separate(page: Page, console: ClockedConsole) -> None:
    """5. E05 leaves on 11 March: the confirmation says what happens, then it is done."""
    no, day = SEPARATED
    page.goto(f"{console.url}/people/employee/{no}")
    page.fill("#separate #field-on", day.isoformat())
    page.click("#separate button[type=submit]")
    expect(page.locator("#separation-confirm")).to_have_attribute("data-undo", "no")
    expect(page.locator("#consequences li[data-what=cards]")).to_contain_text("20000105")
    expect(page.locator("#consequences li[data-what=records]")).to_be_visible()
    _shot(page, 10, "separation-confirm")
    page.click("#confirm")
    expect(page.locator("#done")).to_have_attribute("data-done", "separated")
    expect(page.locator("#separation-date")).to_have_attribute("data-date", day.isoformat())
    _shot(page, 11, "separated")
    # leave of the leaver, entered after the separation: any order works
    _enter_leave(page, console, *LEAVER_LEAVE)


def _collect_and_process(page: Page, console: ClockedConsole, planted: int) -> None:
    """6. Collect now from the clock; then 11. process March (normally done by itself)."""
    page.goto(console.url + "/clocks")
    page.check("#clocks tr[data-device=gate] input[name=device]")
    _shot(page, 12, "clocks")
    page.click("#collect")
    expect(page.locator("#job-state")).to_have_attribute("data-state", "done", timeout=60_000)
    row = page.locator("#collect-results tr[data-device=gate]")
    expect(row).to_have_attribute("data-state", "done")
    expect(row.locator(".new")).to_have_text(str(planted))
    _shot(page, 13, "collected")
    # the clock keeps the console's time: no drift worth a warning
    page.goto(console.url + "/clocks")
    gate = page.locator("#clocks tr[data-device=gate]")
    expect(gate.locator(".punches")).to_have_text(str(planted))
    expect(gate.locator("td.drift")).not_to_have_class(re.compile(r"\bwarn\b"))

    page.goto(console.url + "/process")
    page.fill("#field-from", "2026-03-01")
    page.fill("#field-to", "2026-03-31")
    page.click("#process-start")
    expect(page.locator("#job-state")).to_have_attribute("data-state", "done", timeout=60_000)
    _shot(page, 14, "processed")


def _report_rows(page: Page) -> list[tuple[str, str, str]]:
    return [
        (r.get_attribute("data-employee") or "", r.get_attribute("data-date") or "",
         r.get_attribute("data-status") or "")
        for r in page.locator("#report tbody tr[data-employee]").all()
    ]  # fmt: skip


def _report(page: Page, console: ClockedConsole, tmp_path: Path) -> None:
    """7.–9. The detail report: every day of OPS, then late and absent only, as XLSX, printed."""
    page.goto(f"{console.url}/reports/detail?{RANGE}&department=OPS&per=all")
    expect(page.locator("#report-count")).to_have_attribute("data-total", re.compile(r"^\d+$"))
    days = {(no, d): status for no, d, status in _report_rows(page)}
    # the leave day is leave, not absent; the manual punch made E04's day whole
    assert days[("E03", LEAVE[1].isoformat())] == "leave", days
    assert days[("E04", FORGOT[1].isoformat())] == "present", days
    forgot = page.locator(f"#report tr[data-employee=E04][data-date='{FORGOT[1]}']")
    expect(forgot.locator("td.time").first).to_have_text("03-06 08:50")
    # the separation day counts; nothing after it is absent
    assert days[("E05", SEPARATED[1].isoformat())] == "present", days
    assert days[("E05", LEAVER_LEAVE[1].isoformat())] == "leave", days
    after = {k: s for k, s in days.items() if k[0] == "E05" and k[1] > str(SEPARATED[1])}
    # the swipe after leaving is listed as a flagged punch, never as a working day
    assert after == {("E05", RETURNED[1].date().isoformat()): "flagged"}, after
    assert len(days) == 4 * len(MARCH) + SEPARATED[1].day + 1  # E05: 1–11 March, the swipe
    assert not any(no == "S01" for no, _ in days)  # another department

    page.check("#only-late")
    page.check("#only-absent")
    page.click("#show-report")
    expect(page.locator("#report-count")).to_have_attribute("data-total", "2")
    assert "only=late" in page.url and "only=absent" in page.url
    shown = _report_rows(page)
    assert shown == [
        (LATE[0], LATE[1].isoformat(), "present"),
        (ABSENT[0], ABSENT[1].isoformat(), "absent"),
    ], shown
    expect(page.locator("#print-range")).to_have_text("2026-03-01 – 2026-03-31")
    expect(page.locator("#print-department")).to_contain_text("Operations (OPS)")
    cells = [
        [c.inner_text().strip() for c in r.locator("td").all()]
        for r in page.locator("#report tbody tr[data-employee]").all()
    ]
    heads = [h.inner_text().strip() for h in page.locator("#report tr.heads th").all()]
    late_min = cells[0][heads.index("Late (min)")]
    assert late_min == "20", (heads, cells[0])
    expect(
        page.locator(f"#report tr[data-employee=E01][data-date='{LATE[1]}'] td.weekday")
    ).to_have_text("Tue")
    _shot(page, 15, "report-late-absent-en")

    # 8. the same rows as XLSX
    with page.expect_download() as caught:
        page.click("#download-xlsx")
    xlsx = tmp_path / caught.value.suggested_filename
    caught.value.save_as(xlsx)
    assert xlsx.suffix == ".xlsx"
    sheet = openpyxl.load_workbook(xlsx, read_only=True).worksheets[0]
    table = [list(r) for r in sheet.iter_rows(values_only=True)]
    top = next(i for i, r in enumerate(table) if r and r[0] == "Employee no")
    header, data = table[top], [r for r in table[top + 1 :] if r and r[0]]
    assert len(data) == 2, data
    for got, page_row in zip(data, cells, strict=True):
        record = dict(zip(header, got, strict=False))
        assert record["Employee no"] == page_row[0]
        assert record["Name"] == page_row[1]
        assert _day(record["Date"]) == page_row[heads.index("Date")]
        for column in ("Late (min)", "Absent (min)"):
            shown = page_row[heads.index(column)].replace(",", "").replace("·", "0")
            assert str(record[column] or 0) == shown, (column, record, page_row)
    assert data[0][header.index("Late (min)")] == 20
    assert data[1][header.index("Status")] == "absent"
    assert data[1][header.index("Absent (min)")] == 540

    # 9. printed: A4 landscape, the header with range, department and filters, one page
    page.set_viewport_size({"width": _px(297 - 20), "height": _px(210 - 26)})
    page.emulate_media(media="print")
    expect(page.locator("#report-form")).to_be_hidden()
    head = page.locator("#report tr.print-head")
    expect(head).to_be_visible()
    for words in ("2026-03-01 – 2026-03-31", "Operations (OPS)", "late", "absent"):
        expect(head).to_contain_text(words)
    one = PdfReader(io.BytesIO(page.pdf(prefer_css_page_size=True)))
    assert len(one.pages) == 1
    width, height = float(one.pages[0].mediabox.width), float(one.pages[0].mediabox.height)
    assert abs(width - 841.9) < 2 and abs(height - 595.3) < 2, (width, height)  # A4 landscape
    text = _flat(one.pages[0].extract_text())
    for words in ("2026-03-01 – 2026-03-31", "Operations (OPS)", "late, absent", "1 / 1"):
        assert words in text, (words, text)
    assert "Li Lei" in text and "Han Meimei" in text and "Wang Fang" not in text
    _shot(page, 16, "report-print")
    # the whole department's month: as many pages as its rows fill, the header on each
    page.emulate_media(media="screen")
    page.goto(f"{console.url}/reports/detail?{RANGE}&department=OPS&per=all")
    page.emulate_media(media="print")
    expect(page.locator("#report tr.print-head")).to_be_visible()
    heights = page.evaluate(
        "() => [document.querySelector('#report thead').getBoundingClientRect().height,"
        " ...[...document.querySelectorAll('#report tbody tr')]"
        ".map(r => r.getBoundingClientRect().height)]"
    )
    expected = _paginate(_px(210 - 26) - heights[0], heights[1:])
    whole = PdfReader(io.BytesIO(page.pdf(prefer_css_page_size=True)))
    assert len(whole.pages) == expected > 1, (len(whole.pages), expected)
    for n, printed in enumerate(whole.pages, start=1):
        text = _flat(printed.extract_text())
        assert "2026-03-01 – 2026-03-31" in text and "Operations (OPS)" in text, (n, text)
        assert "Staff no" in text and f"{n} / {expected}" in text, (n, text)
    page.emulate_media(media="screen")
    page.set_viewport_size({"width": 1280, "height": 800})

    # the report in Chinese
    page.goto(f"{console.url}/reports/detail?{RANGE}&department=OPS&only=late&only=absent")
    page.click("#lang-zh_Hans")
    expect(page.locator("h1")).to_have_text("考勤-员工明细")
    expect(page.locator("#report tbody tr[data-employee]")).to_have_count(2)
    # the weekday in Chinese too, not the file's English "Tue"
    expect(
        page.locator(f"#report tr[data-employee=E01][data-date='{LATE[1]}'] td.weekday")
    ).to_have_text("周二")
    _shot(page, 17, "report-late-absent-zh")
    page.click("#lang-en")


def _flat(text: str) -> str:
    """Extracted PDF text with its line breaks and runs of spaces made single spaces."""
    return " ".join(unicodedata.normalize("NFKC", text).split())  # "ﬀ" → "ff"


def _day(value: object) -> str:
    return value.date().isoformat() if isinstance(value, datetime) else str(value)


def _views(page_for: Callable[..., Page], console: ClockedConsole) -> None:
    """10. A leader of OPS sees OPS's rows and nothing of SALES; an employee their own days."""
    lena = page_for("en-US")
    sign_in(lena, console, "lena", f"/reports/detail?{RANGE}&only=late&only=absent")
    rows = lena.locator("#report tbody tr[data-employee]")
    expect(rows).to_have_count(2)
    assert {no for no, _, _ in _report_rows(lena)} == {"E01", "E02"}
    _shot(lena, 18, "leader-report")
    for path in (f"/reports/detail?{RANGE}&department=SALES", "/employees/S01"):
        response = lena.goto(console.url + path)
        assert response is not None and response.status == 404, path
        assert "Sam Seller" not in lena.content(), path
    _shot(lena, 19, "leader-not-found")
    # the files hold to the same scope
    base = f"{console.url}/reports/detail/file?{RANGE}&format=xlsx"
    assert lena.request.get(f"{base}&department=SALES").status == 404
    mine = lena.request.get(f"{base}&department=OPS&only=absent")
    assert mine.ok and mine.headers["content-type"].startswith("application/vnd.openxmlformats")

    li = page_for("en-US")
    sign_in(li, console, "lilei", "/me?month=2026-03")
    expect(li.locator("#me")).to_have_attribute("data-employee", "E01")
    days = li.locator("#employee-days tbody tr[data-date]")
    expect(days).to_have_count(len(MARCH))
    expect(li.locator(f"#employee-days tr[data-date='{LATE[1]}']")).to_contain_text("20")
    exceptions = li.locator("#employee-exceptions tbody tr")
    expect(exceptions).to_have_count(1)
    expect(exceptions).to_have_attribute("data-kind", "late")
    expect(exceptions).to_have_attribute("data-date", LATE[1].isoformat())
    assert "Han Meimei" not in li.content()
    _shot(li, 20, "employee-me")
    for path in ("/employees/E02", f"/reports/detail?{RANGE}"):
        response = li.goto(console.url + path)
        assert response is not None and response.status in (403, 404), path


def _correction(page: Page, console: ClockedConsole) -> None:
    """A change after the report: E02's absence was sick leave. The report follows by
    itself (the days it touches are re-processed), no Process pressed."""
    no, day = ABSENT
    _enter_leave(page, console, no, day, kind="sick")
    page.goto(f"{console.url}/reports/detail?{RANGE}&department=OPS&only=late&only=absent")
    expect(page.locator("#report-count")).to_have_attribute("data-total", "1")
    assert _report_rows(page) == [(LATE[0], LATE[1].isoformat(), "present")]
    page.goto(f"{console.url}/reports/detail?{RANGE}&department=OPS&only=leave")
    expect(page.locator(f"#report tr[data-employee={no}][data-date='{day}']")).to_have_attribute(
        "data-status", "leave"
    )
    _shot(page, 21, "report-after-correction")


def test_the_users_workflow_end_to_end(
    clocked_console: Callable[..., ClockedConsole],
    page_for: Callable[..., Page],
    tmp_path: Path,
) -> None:
    users, punches = _planted()
    # the clock's own time runs with the console's: it reads the site's wall clock at NOW
    offset = NOW.replace(tzinfo=None) - datetime.now()
    with ZKSimulator(port=0, users=users, punches=punches, clock_offset=offset) as sim:
        console = clocked_console(sim, NOW, 'timezone = "Asia/Shanghai"\n')
        console.add_account("hana", "--role", "hr")
        page = page_for("en-US")
        sign_in(page, console, "hana", "/")
        _setup(page, console, tmp_path)
        console.add_account("lena", "--role", "leader", "--department", "OPS")
        console.add_account("lilei", "--role", "employee", "--employee", "E01")
        _paint(page, console)
        _leave_and_punch(page, console)
        _separate(page, console)
        _collect_and_process(page, console, len(punches))
        _report(page, console, tmp_path)
        _views(page_for, console)
        _correction(page, console)
