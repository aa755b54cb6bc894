"""``punchd web`` as a real process: start it, sign in over HTTP, see the clocks, stop it."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from punchd.app import Actor, Site
from punchd.app import accounts as acc
from punchd.config import load_settings

from ..cli_helpers import subprocess_env

PASSWORD = "a real password 42"
SRC = Path(__file__).resolve().parents[2] / "src"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    db = tmp_path / "punchd.db"
    path = tmp_path / "punchd.toml"
    path.write_text(
        f'data_dir = "{tmp_path / "data"}"\n'
        f'database_url = "sqlite:///{db}"\n'
        'timezone = "Asia/Shanghai"\n'
        "[[devices]]\n"
        'name = "front-door"\n'
        'driver = "zk"\n'
        'host = "127.0.0.1"\n'
        "comm_key = 1234\n"
    )
    site = Site.open(load_settings(path))
    try:
        acc.add_account(site, "clerk", PASSWORD, "hr", actor=Actor("test"))
    finally:
        site.engine.dispose()
    return path


def test_punchd_web_serves_and_stops_cleanly(config: Path) -> None:
    port = _free_port()
    env = subprocess_env(
        PYTHONPATH=os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "punchd", "--config", str(config), "web", "--listen",
         f"127.0.0.1:{port}"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=base, timeout=10) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    page = client.get("/signin")
                    break
                except httpx.TransportError:
                    assert proc.poll() is None, proc.communicate()
                    assert time.monotonic() < deadline, "the console did not start"
                    time.sleep(0.2)
            assert page.status_code == 200
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
            done = client.post(
                "/signin",
                data={"username": "clerk", "password": PASSWORD, "csrf": csrf, "next": "/clocks"},
                follow_redirects=False,
            )
            assert done.status_code == 303 and done.headers["location"] == "/clocks"
            clocks = client.get("/clocks")
            assert clocks.status_code == 200
            assert '<tr data-device="front-door"' in clocks.text
            assert "1234" not in clocks.text  # the comm key
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            raise AssertionError(f"did not stop on SIGTERM:\n{err}") from None
    assert proc.returncode == 0, err
    logged = out + err
    assert f"http://127.0.0.1:{port}/" in logged
    assert PASSWORD not in logged
    assert not re.search(r"punchd_session=|token", logged, re.I)
