"""The console as a clerk uses it, in Chromium: sign in, the clocks, Collect now, sign out,
expiry, both languages."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import httpx
from playwright.sync_api import Page, expect
from sqlalchemy import select, update

from punchd.storage import schema
from punchd.storage.database import make_engine

from ..helpers.daemon import stored
from .conftest import Console, screenshot, sign_in


def test_collect_now_shows_the_punches_arriving(
    console: Console, page_for: Callable[..., Page]
) -> None:
    console.add_account("clerk", "--role", "hr")
    page = page_for("en-US")
    page.goto(console.url + "/clocks")
    expect(page).to_have_url(re.compile(r"/signin\?next=%2Fclocks|/signin\?next=/clocks"))
    screenshot(page, "signin-en")
    sign_in(page, console, "clerk", "/clocks")
    row = page.locator("#clocks tr[data-device=gate]")
    expect(row).to_be_visible()
    screenshot(page, "clocks-before-collect")

    page.check("input[name=device][value=gate]")
    page.click("#collect")
    page.wait_for_url(re.compile(r"/collect/"))
    expect(page.locator("#job-state")).to_have_attribute("data-state", "done", timeout=60_000)
    result = page.locator("[data-device=gate]")
    expect(result.locator(".read")).to_have_text("300")
    expect(result.locator(".new")).to_have_text("300")
    screenshot(page, "collect-done")
    assert stored(console.db_url) == (300, 300)

    # Pressed again: the same device, nothing new, nothing twice.
    page.goto(console.url + "/clocks")
    expect(page.locator("#clocks tr[data-device=gate]")).to_contain_text("300")
    page.check("input[name=device][value=gate]")
    page.click("#collect")
    expect(page.locator("#job-state")).to_have_attribute("data-state", "done", timeout=60_000)
    expect(page.locator("[data-device=gate] .new")).to_have_text("0")
    assert stored(console.db_url) == (300, 300)
    page.goto(console.url + "/clocks")
    screenshot(page, "clocks-after-collect")
    page.goto(console.url + "/")
    screenshot(page, "home-hr")


def test_signing_out_ends_the_session_on_the_server(
    console: Console, page_for: Callable[..., Page]
) -> None:
    console.add_account("clerk", "--role", "hr")
    page = page_for("en-US")
    sign_in(page, console, "clerk", "/clocks")
    cookie = next(c for c in page.context.cookies() if c["name"] == "punchd_session")
    assert cookie["httpOnly"]

    page.click("#signout")
    page.wait_for_url(re.compile(r"/signin"))
    page.go_back()  # the page is not served from the cache: it asks again and is refused
    expect(page).to_have_url(re.compile(r"/signin"))
    expect(page.locator("#clocks")).to_have_count(0)

    replay = httpx.get(
        console.url + "/clocks", cookies={"punchd_session": cookie["value"]}, timeout=10
    )
    assert replay.status_code == 303 and "/signin" in replay.headers["location"]


def test_an_expired_session_signs_in_again_and_returns_to_the_page(
    console: Console, page_for: Callable[..., Page]
) -> None:
    console.add_account("clerk", "--role", "hr")
    page = page_for("en-US")
    sign_in(page, console, "clerk", "/account")
    # An hour without a request, well past the 30-minute idle limit: the session's own
    # record says so (the console's clock is the real one).
    engine = make_engine(console.db_url)
    try:
        with engine.begin() as conn:
            t = schema.web_session
            sessions = conn.execute(select(t.c.id, t.c.created_at, t.c.last_seen_at)).all()
            assert sessions
            for sid, created, seen in sessions:
                conn.execute(
                    update(t)
                    .where(t.c.id == sid)
                    .values(
                        created_at=created - timedelta(hours=1),
                        last_seen_at=seen - timedelta(hours=1),
                    )
                )
    finally:
        engine.dispose()

    page.goto(console.url + "/account")
    expect(page).to_have_url(re.compile(r"/signin\?next="))
    page.fill("input[name=username]", "clerk")
    page.fill("input[name=password]", console.accounts["clerk"])
    page.click("#signin")
    page.wait_for_url(console.url + "/account")


def test_the_console_speaks_chinese_and_english(
    console: Console, page_for: Callable[..., Page]
) -> None:
    console.add_account("clerk", "--role", "hr")
    zh = page_for("zh-CN")
    zh.goto(console.url + "/signin")
    expect(zh.locator("html")).to_have_attribute("lang", re.compile(r"^zh"))
    expect(zh.locator("#signin")).to_contain_text("登录")
    screenshot(zh, "signin-zh")
    sign_in(zh, console, "clerk", "/clocks")
    expect(zh.locator("#collect")).to_contain_text(re.compile("[\u4e00-\u9fff]"))
    screenshot(zh, "clocks-zh")

    en = page_for("en-US")
    en.goto(console.url + "/signin")
    expect(en.locator("html")).to_have_attribute("lang", "en")
    expect(en.locator("#signin")).to_contain_text("Sign in")


def test_leaving_a_half_filled_form_asks_first(
    console: Console, page_for: Callable[..., Page]
) -> None:
    console.add_account("clerk", "--role", "hr")
    page = page_for("en-US")
    sign_in(page, console, "clerk", "/account")
    asked: list[str] = []
    page.on("dialog", lambda dialog: (asked.append(dialog.type), dialog.dismiss()))
    page.click("input[name=new_password]")
    page.keyboard.type("half a new password")
    page.close(run_before_unload=True)
    page.wait_for_timeout(500)
    assert asked == ["beforeunload"]
