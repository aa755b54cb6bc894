"""The reports in Chromium: the employee detail filtered to late and absent days, in English
and in Chinese (screenshots), and the printed report: A4 landscape, the header (site,
range, department, filters) and the column headers on every page, page numbers — checked
on the PDF Chromium prints, whose page count follows from the number of rows."""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Callable
from datetime import date, datetime

from playwright.sync_api import Page, expect
from sqlalchemy import create_engine, insert

from punchd.storage import hr as hr_store
from punchd.storage.schema import att_day, att_department, att_employee, att_exception

from .conftest import Console, screenshot, sign_in

STAMP = datetime(2026, 3, 1, 0, 0)
MINUTES = (
    "scheduled_minutes", "worked_minutes", "late_minutes", "early_minutes",
    "absent_minutes", "leave_minutes", "overtime_minutes", "holiday_overtime_minutes",
    "rest_overtime_minutes", "missing_punches",
)  # fmt: skip
#: the report's range: March 2–6 2026 (Monday to Friday)
DAYS = [date(2026, 3, d) for d in range(2, 7)]


def _site(console: Console, people: int) -> None:
    """Department OPS with ``people`` employees, each with five processed days: P001 late
    on the 2nd, P002 absent on the 3rd, everyone else present."""
    engine = create_engine(console.db_url)
    with engine.begin() as conn:
        conn.execute(
            insert(att_department).values(
                code="OPS", name="Operations", created_at=STAMP, updated_at=STAMP, updated_by="t"
            )
        )
        ops = hr_store.department_id(conn, "OPS")
        conn.execute(
            insert(att_employee),
            [
                {
                    "employee_no": f"P{i:03d}",
                    "name": f"Person {i}",
                    "department_id": ops,
                    "hire_date": date(2020, 1, 1),
                    "created_at": STAMP,
                    "updated_at": STAMP,
                    "updated_by": "t",
                }
                for i in range(1, people + 1)
            ],
        )
        ids = {e["employee_no"]: e["id"] for e in hr_store.employees(conn)}
        rows, exceptions = [], []
        for no, eid in ids.items():
            for day in DAYS:
                values = dict.fromkeys(MINUTES, 0) | {"scheduled_minutes": 480}
                status = "present"
                if (no, day.day) == ("P001", 2):
                    values |= {"late_minutes": 15, "worked_minutes": 465}
                    exceptions.append((eid, day, "late", 15))
                elif (no, day.day) == ("P002", 3):
                    values |= {"absent_minutes": 480}
                    status = "absent"
                    exceptions.append((eid, day, "absent", 480))
                else:
                    values |= {"worked_minutes": 480}
                present = status == "present"
                rows.append(
                    {
                        "employee_id": eid,
                        "work_date": day,
                        "shift_code": "DAY",
                        "status": status,
                        "first_punch": datetime(2026, 3, day.day, 8, 50) if present else None,
                        "last_punch": datetime(2026, 3, day.day, 17, 5) if present else None,
                        "processed_at": STAMP,
                        **values,
                    }
                )
        conn.execute(insert(att_day), rows)
        conn.execute(
            insert(att_exception),
            [
                {
                    "employee_id": e,
                    "work_date": d,
                    "period": "1",
                    "kind": k,
                    "minutes": m,
                    "detail": f"{k} {m}",
                }
                for e, d, k, m in exceptions
            ],
        )
    engine.dispose()


def pdf_pages(data: bytes) -> list[str]:
    """The page objects of a PDF (``/Type /Page``, not ``/Pages``): one string per page,
    in file order, the text of the page's content streams when they can be inflated."""
    pages = re.findall(rb"/Type\s*/Page(?!s)", data)
    return [m.decode() for m in pages]


def pdf_text(data: bytes) -> str:
    """Everything readable in the PDF's content streams (inflated), for a header check."""
    out = []
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        try:
            out.append(zlib.decompress(stream).decode("latin-1"))
        except zlib.error:
            continue
    return "\n".join(out)


RANGE = "from=2026-03-02&to=2026-03-06"


def test_the_detail_filtered_to_late_and_absent_in_both_languages(
    console: Console, page_for: Callable[..., Page]
) -> None:
    _site(console, 4)
    console.add_account("hana", "--role", "hr")
    for locale, lang in (("en-US", "en"), ("zh-CN", "zh")):
        page = page_for(locale)
        sign_in(page, console, "hana", f"/reports/detail?{RANGE}")
        expect(page.locator("#report tbody tr[data-employee]")).to_have_count(20)
        page.check("#only-late")
        page.check("#only-absent")
        page.click("#show-report")
        rows = page.locator("#report tbody tr[data-employee]")
        expect(rows).to_have_count(2)
        expect(rows.nth(0)).to_have_attribute("data-employee", "P001")
        expect(rows.nth(1)).to_have_attribute("data-status", "absent")
        assert "only=late" in page.url and "only=absent" in page.url
        heading = "考勤-员工明细" if lang == "zh" else "Employee detail"
        expect(page.locator("h1")).to_have_text(heading)
        # a column's link sorts by it
        page.click("#report th[data-column=late-min] a")
        expect(page.locator("#report th[data-column=late-min]")).to_have_attribute(
            "aria-sort", "ascending"
        )
        screenshot(page, f"reports-detail-late-absent-{lang}")
    page.goto(console.url + f"/reports/summary?{RANGE}")
    expect(page.locator("#report tbody tr[data-employee]")).to_have_count(4)
    screenshot(page, "reports-summary-zh")


def _print(page: Page, console: Console, people: int) -> tuple[bytes, str, int]:
    page.goto(console.url + f"/reports/detail?{RANGE}&department=OPS&per=all")
    expect(page.locator("#report tbody tr[data-employee]")).to_have_count(people * 5)
    # the printable area of A4 landscape less the @page margins, in CSS pixels: laid out at
    # this width, a row is as tall as on paper
    page.set_viewport_size({"width": _px(297 - 20), "height": _px(210 - 26)})
    page.emulate_media(media="print")
    # printed: the navigation and the form are gone, the header row is shown
    expect(page.locator("header.top nav")).to_be_hidden()
    expect(page.locator("#report-form")).to_be_hidden()
    expect(page.locator("#report tr.print-head")).to_be_visible()
    head = page.inner_text("#report tr.print-head")
    # the column headers repeat on every printed page; page numbers in the page margin
    assert (
        page.evaluate("getComputedStyle(document.querySelector('#report thead')).display")
        == "table-header-group"
    )
    page_rules = page.evaluate(
        "[...document.styleSheets].flatMap(s => [...s.cssRules])"
        ".filter(r => r instanceof CSSPageRule).map(r => r.cssText).join(' ')"
    )
    assert "landscape" in page_rules and "counter(pages)" in page_rules, page_rules
    assert page.evaluate("document.querySelector('#report').scrollWidth") <= _px(297 - 20)
    heights = page.evaluate(
        "() => [document.querySelector('#report thead').getBoundingClientRect().height,"
        " ...[...document.querySelectorAll('#report tbody tr')]"
        ".map(r => r.getBoundingClientRect().height)]"
    )
    per_page = _paginate(_px(210 - 26) - heights[0], heights[1:])
    data = page.pdf(prefer_css_page_size=True, print_background=False)
    return data, head, per_page


def _paginate(room: float, rows: list[float]) -> int:
    """How many pages ``rows`` of these heights fill, none split across two, with ``room``
    on every page below the repeated header."""
    pages, used = 1, 0.0
    for h in rows:
        if used + h > room:
            pages, used = pages + 1, 0.0
        used += h
    return pages


def _px(mm: float) -> int:
    return math.floor(mm / 25.4 * 96)


def test_the_printed_report(console: Console, page_for: Callable[..., Page]) -> None:
    _site(console, 40)  # 200 rows
    console.add_account("hana", "--role", "hr")
    page = page_for("en-US")
    sign_in(page, console, "hana", f"/reports/detail?{RANGE}")
    data, head, expected = _print(page, console, 40)
    assert "punchd" in head and "2026-03-02 – 2026-03-06" in head and "Operations" in head
    pages = len(pdf_pages(data))
    # A4 landscape: 297 × 210 mm in points
    box = re.search(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", data)
    assert box and float(box.group(1)) > float(box.group(2)), "not landscape"
    assert abs(float(box.group(1)) - 841.9) < 2 and abs(float(box.group(2)) - 595.3) < 2
    # rows per printed page, from the print stylesheet's fixed row height
    assert pages == expected > 1, (pages, expected)  # 6 with the stylesheet of today
    screenshot(page, "reports-print-media")
    # the same report filtered to late days is one page
    page.emulate_media(media="screen")
    page.goto(console.url + f"/reports/detail?{RANGE}&department=OPS&only=late&per=all")
    expect(page.locator("#report tbody tr[data-employee]")).to_have_count(1)
    page.emulate_media(media="print")
    assert "late" in page.inner_text("#report tr.print-head")
    one = page.pdf(prefer_css_page_size=True)
    assert len(pdf_pages(one)) == 1
