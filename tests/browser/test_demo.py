"""The README's first command, ``punchd demo --web``: the demo, then the console on its
simulated clocks, signed into with the printed demo admin, Collect all pressed."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from ..cli_helpers import subprocess_env
from .conftest import free_port, screenshot


def test_the_demo_serves_its_clocks_in_the_console(
    tmp_path: Path, page_for: Callable[..., Page]
) -> None:
    port = free_port()
    log = tmp_path / "demo.log"
    env = subprocess_env(
        PUNCHD_DATA_DIR=str(tmp_path / "data"),
        PUNCHD_WEB__LISTEN=f"127.0.0.1:{port}",
        PUNCHD_LOG_FORMAT="json",
    )
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "punchd", "demo", "--web", "--punches", "2000"],
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while True:
            try:
                httpx.get(url + "/signin", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None, log.read_text(errors="replace")
                assert time.monotonic() < deadline, log.read_text(errors="replace")
                time.sleep(0.25)
        printed = log.read_text(errors="replace")
        password = re.search(r"sign in as demo-admin / (\S+)", printed)
        assert password, printed
        assert "run `punchd web`" not in printed

        page = page_for("en-US")
        page.goto(url + "/")
        page.fill("input[name=username]", "demo-admin")
        page.fill("input[name=password]", password.group(1))
        page.click("#signin")
        page.wait_for_url(url + "/")
        page.goto(url + "/clocks")
        for name in ("demo-zk", "demo-anviz"):
            expect(page.locator(f"#clocks tr[data-device={name}]")).to_be_visible()
        screenshot(page, "demo-clocks")
        page.click("#collect-all")
        expect(page.locator("#job-state")).to_have_attribute("data-state", "done", timeout=60_000)
        for name in ("demo-zk", "demo-anviz"):
            row = page.locator(f"[data-device={name}]")
            expect(row.locator(".read")).to_have_text(re.compile(r"^[\d,]+$"))
            expect(row.locator(".new")).to_have_text("0")  # the demo collected them all
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
