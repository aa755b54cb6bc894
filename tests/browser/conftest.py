"""The web console in a real Chromium: ``punchd web`` as a subprocess on loopback, a ZK
simulator as the clock, accounts made with the real ``punchd users`` command.

Chromium is Debian's (``/usr/bin/chromium``, installed by ``.ci/run``), driven by
Playwright's own driver; Playwright never downloads a browser. Without Chromium the tests
skip, except under CI, where its absence is a failure. Screenshots of the main pages go to
``$PUNCHD_ARTIFACTS`` (default ``artifacts/screenshots`` in the checkout).
"""

from __future__ import annotations

import csv
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from punchd.drivers.zk.simulator import ZKSimulator, generate

from ..cli_helpers import punchd, subprocess_env

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# As the machine's own probe starts it: no sandbox (root), and no background traffic to the
# closed network.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "correct horse battery"


def artifacts_dir() -> Path:
    path = Path(os.environ.get("PUNCHD_ARTIFACTS") or ROOT / "artifacts" / "screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Console:
    """A running ``punchd web`` with its site: the URL, the environment of its commands."""

    url: str
    env: dict[str, str]
    db_url: str
    sim: ZKSimulator
    proc: subprocess.Popen[bytes]
    log: Path
    accounts: dict[str, str] = field(default_factory=dict)

    def punchd(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        if stdin is None:
            return punchd(*args, env=self.env)
        return subprocess.run(
            [sys.executable, "-m", "punchd", *args],
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def set_up(self, *args: str) -> None:
        """Run ``punchd ARGS --by test-setup``, which must succeed (a test's preparation)."""
        done = self.punchd(*args, "--by", "test-setup")
        assert done.returncode == 0, done.stdout + done.stderr

    def add_account(self, name: str, *options: str) -> str:
        done = self.punchd(
            "users",
            "add",
            name,
            *options,
            "--password-stdin",
            "--by",
            "test-setup",
            stdin=PASSWORD + "\n",
        )
        assert done.returncode == 0, done.stdout + done.stderr
        self.accounts[name] = PASSWORD
        return PASSWORD


@pytest.fixture(scope="session")
def chromium_browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"Chromium is not installed at {CHROMIUM} (.ci/run installs it)")
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def running_console(
    tmp_path: Path, *, users: int, punches: int, config: str = ""
) -> Iterator[Console]:
    """A SQLite site with one simulated ZK clock "gate" (``users`` users, ``punches``
    punches; seed 7), ``config`` added to its configuration file, and ``punchd web``
    listening on a free loopback port."""
    people, records = generate(users=users, punches=punches, seed=7)
    with ZKSimulator(port=0, users=people, punches=records) as sim:
        db_url = f"sqlite:///{tmp_path / 'punchd.db'}"
        # No zone configured: the site, the clock and the simulator all keep the host's.
        (tmp_path / "punchd.toml").write_text(
            f'[[devices]]\nname = "gate"\ndriver = "zk"\nhost = "127.0.0.1"\nport = {sim.port}\n'
            + config,
            encoding="utf-8",
        )
        env = subprocess_env(
            PUNCHD_CONFIG=str(tmp_path / "punchd.toml"),
            PUNCHD_DATABASE_URL=db_url,
            PUNCHD_DATA_DIR=str(tmp_path / "data"),
            PUNCHD_LOG_FORMAT="json",
        )
        done = punchd("db", "upgrade", env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        port = free_port()
        log = tmp_path / "web.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "punchd", "web", "--listen", f"127.0.0.1:{port}"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/signin", timeout=1)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    pytest.fail("punchd web did not start:\n" + log.read_text(errors="replace"))
                time.sleep(0.1)
        try:
            yield Console(url, env, db_url, sim, proc, log)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Console]:
    """A SQLite site with one simulated ZK clock "gate" (20 users, 300 punches) and the
    console listening on a free loopback port."""
    with running_console(tmp_path, users=20, punches=300) as found:
        yield found


@pytest.fixture
def page_for(chromium_browser: Browser) -> Iterator[Callable[..., Page]]:
    """``page_for(locale)``: a fresh browser context (own cookies) speaking ``locale``."""
    contexts = []

    def make(locale: str = "en-US") -> Page:
        context = chromium_browser.new_context(
            locale=locale, viewport={"width": 1280, "height": 800}
        )
        context.set_default_timeout(20_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def organise(console: Console, tmp_path: Path, people: list[tuple[str, str, str, str]]) -> None:
    """Departments OPS, OPS-A (under OPS) and SALES, and ``people`` (employee_no, name,
    department code, department name) imported as a roster, with the real ``punchd
    departments`` and ``punchd employees`` commands."""

    for code, name in (("OPS", "Operations"), ("OPS-A", "Line A"), ("SALES", "Sales floor")):
        console.set_up("departments", "add", code, name)
    console.set_up("departments", "parent", "OPS-A", "OPS")
    roster = tmp_path / "roster.csv"
    done = console.punchd("employees", "template", "-o", str(roster))
    assert done.returncode == 0, done.stdout + done.stderr
    with roster.open("a", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(
            [no, name, code, dept, f"9{i:03d}", "", "2020-01-01", ""]
            for i, (no, name, code, dept) in enumerate(people)
        )
    console.set_up("employees", "import", str(roster))


def sign_in(page: Page, console: Console, name: str, path: str = "/") -> None:
    """Open ``path``, land on sign-in, sign in as ``name``, and be back on ``path``."""
    page.goto(console.url + path)
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", console.accounts[name])
    page.click("#signin")
    page.wait_for_url(console.url + path)


def screenshot(page: Page, name: str) -> Path:
    path = artifacts_dir() / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


#: ``python -c`` bootstrap: the product's one clock (:mod:`punchd.clock`) set to the instant
#: in ``argv[1]`` (ISO, with its offset) before ``punchd argv[2:]`` runs; it keeps running
#: from there. Every "now" and "today" of the process follows it.
CLOCKED = (
    "import sys\n"
    "from datetime import UTC, datetime\n"
    "from punchd import clock\n"
    "clock._shift = datetime.fromisoformat(sys.argv[1]) - datetime.now(UTC)\n"
    "from punchd.cli.main import app\n"
    "app(args=sys.argv[2:], prog_name='punchd')\n"
)


@dataclass
class ClockedConsole(Console):
    """A console whose clock (and that of its ``punchd`` commands) starts at ``at``."""

    at: datetime | None = None

    def punchd(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        assert self.at is not None
        return subprocess.run(
            [sys.executable, "-c", CLOCKED, self.at.isoformat(), *args],
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


@pytest.fixture
def clocked_console(tmp_path: Path) -> Iterator[Callable[..., ClockedConsole]]:
    """``clocked_console(sim, at, config="")``: a SQLite site whose one device "gate" is the
    running simulator ``sim``, ``config`` (TOML, top-level keys first) added, and the console
    on a free loopback port with its clock started at ``at`` (an aware datetime)."""
    started: list[subprocess.Popen[bytes]] = []

    def start(sim: ZKSimulator, at: datetime, config: str = "") -> ClockedConsole:
        db_url = f"sqlite:///{tmp_path / 'punchd.db'}"
        (tmp_path / "punchd.toml").write_text(
            config + f'\n[[devices]]\nname = "gate"\ndriver = "zk"\nhost = "127.0.0.1"\n'
            f"port = {sim.port}\n",
            encoding="utf-8",
        )
        env = subprocess_env(
            PUNCHD_CONFIG=str(tmp_path / "punchd.toml"),
            PUNCHD_DATABASE_URL=db_url,
            PUNCHD_DATA_DIR=str(tmp_path / "data"),
            PUNCHD_LOG_FORMAT="json",
        )
        port = free_port()
        log = tmp_path / "web.log"
        url = f"http://127.0.0.1:{port}"
        c = ClockedConsole(url, env, db_url, sim, None, log, at=at)  # type: ignore[arg-type]
        done = c.punchd("db", "upgrade")
        assert done.returncode == 0, done.stdout + done.stderr
        command = ["web", "--listen", f"127.0.0.1:{port}"]
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-c", CLOCKED, at.isoformat(), *command],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        started.append(proc)
        c.proc = proc
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{url}/signin", timeout=1)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    pytest.fail("punchd web did not start:\n" + log.read_text(errors="replace"))
                time.sleep(0.1)
        return c

    yield start
    for proc in started:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
