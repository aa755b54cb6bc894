"""A department leader in Chromium: their departments and the ones below them, and nothing
else — another department or its people typed by URL is the not-found page (404), showing
nothing of them. The organisation is made with the real ``punchd departments`` and
``punchd employees`` commands."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect

from .conftest import Console, organise, screenshot, sign_in

#: employee_no, name, department code, department name
PEOPLE = [
    ("O1", "Olga Operator", "OPS", "Operations"),
    ("A1", "Anna Linewood", "OPS-A", "Line A"),
    ("A2", "Arthur Linewood", "OPS-A", "Line A"),
    ("S1", "Sam Seller", "SALES", "Sales floor"),
]
SALES_WORDS = ("Sam Seller", "Sales floor")


def test_a_leader_sees_their_departments_and_nothing_else(
    console: Console, page_for: Callable[..., Page], tmp_path: Path
) -> None:
    organise(console, tmp_path, PEOPLE)
    console.add_account("lena", "--role", "leader", "--department", "OPS")
    page = page_for("en-US")
    sign_in(page, console, "lena", "/")
    expect(page.locator("#my-departments a[data-department=OPS]")).to_be_visible()

    page.click("#my-departments a[data-department=OPS]")
    page.wait_for_url(console.url + "/departments/OPS")
    table = page.locator("#department-day")
    for no in ("O1", "A1", "A2"):
        expect(table.locator(f"tr[data-employee={no}]")).to_be_visible()
    expect(table.locator("tr[data-employee=S1]")).to_have_count(0)
    expect(table.locator("tbody[data-department=OPS-A]")).to_contain_text("Line A")
    screenshot(page, "department-leader")

    page.goto(console.url + "/departments/OPS-A")
    expect(page.locator("#department-day tr[data-employee]")).to_have_count(2)
    page.click("#department-day tr[data-employee=A1] a >> nth=1")  # the name links the person
    page.wait_for_url(console.url + "/employees/A1")
    expect(page.locator("#employee")).to_contain_text("Anna Linewood")

    # typed by URL: another department, its person, and a department that does not exist
    for path in ("/departments/SALES", "/employees/S1", "/departments/NOWHERE"):
        response = page.goto(console.url + path)
        assert response is not None and response.status == 404, path
        expect(page.locator("#error")).to_have_attribute("data-kind", "not_found")
        html = page.content()
        for word in SALES_WORDS:
            assert word not in html, (path, word)
        assert "SALES" not in page.inner_text("main"), path
    screenshot(page, "department-leader-not-found")
