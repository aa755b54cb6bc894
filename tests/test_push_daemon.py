"""``punchd run`` with ``[push] listen`` set: the receiver starts and stops with the daemon, push
clocks are never polled, and their uploads land in the database."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from .helpers.daemon import (
    DaemonProcess,
    Daemons,
    daemon_table,
    free_port,
    runs,
    stored,
    wait_until,
)

SN = "PUSH0001"


@pytest.fixture
def run_daemon(tmp_path: Path, db_url: str, engine) -> Iterator[Callable[..., DaemonProcess]]:
    with Daemons(tmp_path, db_url) as daemons:
        yield daemons.start


def test_daemon_receives_pushed_punches(run_daemon, db_url: str) -> None:
    port = free_port()
    config = (
        daemon_table(poll_every="1s", shutdown_timeout=8)
        + f'[push]\nlisten = "127.0.0.1:{port}"\n'
        + f'[[devices]]\nname = "gate"\ndriver = "adms"\nserial = "{SN}"\n'
        + 'timezone = "Asia/Shanghai"\n'
    )
    daemon = run_daemon(config)
    daemon.wait_event("push receiver listening", timeout=30)
    base = datetime.now().replace(hour=8, minute=0, second=0, microsecond=0) - timedelta(days=1)
    body = "".join(
        f"{1000 + i % 7}\t{base + timedelta(minutes=i):%Y-%m-%d %H:%M:%S}\t{i % 2}\t1\t0\t0\t0\n"
        for i in range(50)
    )
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        hello = client.get("/iclock/cdata", params={"SN": SN, "options": "all"})
        assert hello.status_code == 200 and "TimeZone=8" in hello.text and "date" in hello.headers
        reply = client.post(
            "/iclock/cdata", params={"SN": SN, "table": "ATTLOG", "Stamp": "1"}, content=body
        )
        assert (reply.status_code, reply.text) == (200, "OK: 50")
        assert client.get("/iclock/getrequest", params={"SN": SN}).text == "OK"
    wait_until(lambda: stored(db_url) == (50, 50), 20, "the pushed punches")
    assert daemon.stop(signal.SIGTERM, timeout=20) == 0
    events = [e.get("event") for e in daemon.events()]
    assert "push receiver stopped" in events
    # A push clock is never polled: its only run is the upload.
    assert [(r["name"], r["trigger"], r["records_new"]) for r in runs(db_url)] == [
        ("gate", "push", 50)
    ]
