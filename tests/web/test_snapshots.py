"""The clocks and home pages share one reading of the site for a moment; a finished Collect
now clears it; sessions are never shared."""

from __future__ import annotations

import re
import threading
import time

import pytest
from fastapi.testclient import TestClient

from punchd.app import collection
from punchd.web.app import create_app
from punchd.web.snapshots import Snapshots

from .conftest import ROLE_ACCOUNTS, csrf_of, sign_in
from .test_collect import _job_id, _wait_done


class Ticks:
    def __init__(self) -> None:
        self.value = 100.0

    def __call__(self) -> float:
        return self.value


def test_a_reading_is_shared_for_its_seconds_then_taken_again() -> None:
    ticks = Ticks()
    snaps = Snapshots(2.0, clock=ticks)
    built: list[int] = []

    def build() -> int:
        built.append(1)
        return len(built)

    assert snaps.get("clocks", build) == 1
    ticks.value += 1.9
    assert snaps.get("clocks", build) == 1
    assert snaps.get("other", build) == 2  # keys are separate
    ticks.value += 0.2
    assert snaps.get("clocks", build) == 3
    snaps.clear()
    assert snaps.get("clocks", build) == 4


def test_a_failed_reading_is_not_kept() -> None:
    snaps = Snapshots(60.0)

    def broken() -> int:
        raise RuntimeError("database down")

    with pytest.raises(RuntimeError):
        snaps.get("clocks", broken)
    assert snaps.get("clocks", lambda: 7) == 7


def test_requests_at_once_take_one_reading() -> None:
    snaps = Snapshots(60.0)
    calls: list[int] = []
    gate = threading.Event()

    def slow() -> str:
        calls.append(1)
        gate.wait(5)
        return "reading"

    got: list[str] = []
    threads = [
        threading.Thread(target=lambda: got.append(snaps.get("clocks", slow))) for _ in range(8)
    ]
    for t in threads:
        t.start()
    time.sleep(0.2)
    gate.set()
    for t in threads:
        t.join(5)
    assert got == ["reading"] * 8 and len(calls) == 1


def test_zero_seconds_shares_nothing() -> None:
    snaps = Snapshots(0.0)
    values = iter(range(10))
    assert [snaps.get("k", lambda: next(values)) for _ in range(3)] == [0, 1, 2]


def _stored(html: str, device: str) -> str:
    row = html.split(f'<tr data-device="{device}"', 1)[1].split("</tr>", 1)[0]
    return re.search(r'<td class="punches num">(.*?)</td>', row, re.S).group(1).strip()


def test_the_clocks_page_is_shared_until_a_collect_now_finishes(site) -> None:
    app = create_app(site, snapshot_seconds=3600)  # shared for the whole test unless cleared
    with TestClient(app) as client:
        assert sign_in(client, ROLE_ACCOUNTS["hr"]).status_code == 303
        page = client.get("/clocks").text
        assert _stored(page, "gate-1") == "0"
        # collected behind the console's back (the daemon, the CLI): the shared reading stays
        collection.collect_now(site, ["gate-2"])
        assert _stored(client.get("/clocks").text, "gate-2") == "0"
        # Collect now in the console: once it has finished, the page reads the site again
        r = client.post(
            "/clocks/collect",
            data={"csrf": csrf_of(page), "device": ["gate-1"]},
            follow_redirects=False,
        )
        _wait_done(client, _job_id(r.headers["location"]))
        fresh = client.get("/clocks").text
        assert _stored(fresh, "gate-1") == "25"
        assert _stored(fresh, "gate-2") != "0"
