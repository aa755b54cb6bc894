"""Collect now from the console: jobs in a thread, progress by refresh, one collection per
device however many clerks press the button, the daemon's lease respected."""

from __future__ import annotations

import re
import threading
import time

from fastapi.testclient import TestClient

from punchd.app import Actor
from punchd.collector.lease import database_lease
from punchd.storage import collection as store

from .conftest import EVIL, csrf_of


def _job_id(location: str) -> str:
    found = re.fullmatch(r"/collect/([A-Za-z0-9_-]+)", location)
    assert found, location
    return found.group(1)


def _wait_done(client: TestClient, job: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page = client.get(f"/collect/{job}")
        if 'id="job-state" data-state="done"' in page.text:
            return page.text
        time.sleep(0.05)
    raise AssertionError("the job did not finish")


def _cell(html: str, device: str, cls: str) -> str:
    row = html.split(f'<tr data-device="{device}"', 1)[1].split("</tr>", 1)[0]
    return re.search(rf'<td class="{cls}[^"]*">(.*?)</td>', row, re.S).group(1).strip()


def test_collect_selected_clocks_and_watch_the_result(client_for, clocks) -> None:
    client = client_for("hr")
    csrf = csrf_of(client.get("/clocks").text)
    r = client.post(
        "/clocks/collect",
        data={"csrf": csrf, "device": ["gate-1", EVIL]},
        follow_redirects=False,
    )
    assert r.status_code == 303
    job = _job_id(r.headers["location"])
    first = client.get(f"/collect/{job}")
    assert first.status_code == 200 and 'id="job-state"' in first.text
    if 'data-state="running"' in first.text:
        assert '<meta http-equiv="refresh" content="1">' in first.text
    html = _wait_done(client, job)
    assert 'http-equiv="refresh"' not in html  # the refresh stops when done
    assert _cell(html, "gate-1", "read") == "25" and _cell(html, "gate-1", "new") == "25"
    evil = "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert _cell(html, evil, "new") == "3"
    assert EVIL not in html
    assert 'data-device="gate-2"' not in html
    clocks_page = client.get("/clocks").text
    row = clocks_page.split('<tr data-device="gate-1"', 1)[1].split("</tr>", 1)[0]
    assert '<td class="punches num">25</td>' in row


def test_collect_all_and_again_finds_nothing_new(client_for, site) -> None:
    client = client_for("admin")
    csrf = csrf_of(client.get("/clocks").text)
    r = client.post("/clocks/collect", data={"csrf": csrf, "all": "1"}, follow_redirects=False)
    html = _wait_done(client, _job_id(r.headers["location"]))
    for name in ("gate-1", "gate-2"):
        assert 'data-state="done"' in html.split(f'data-device="{name}"', 1)[1][:40]
    assert 'data-device="spare"' not in html  # disabled: not in "all"
    r = client.post("/clocks/collect", data={"csrf": csrf, "device": "gate-2"})
    assert _cell(_wait_done(client, r.url.path.rsplit("/", 1)[1]), "gate-2", "new") == "0"


def test_a_failure_is_said_in_plain_words(client_for, clocks) -> None:
    from punchd.drivers.errors import DeviceUnreachable

    clocks["gate-2"].fail_connect = DeviceUnreachable("gate-2: no route to host 10.0.0.9")
    client = client_for("hr")
    csrf = csrf_of(client.get("/clocks").text)
    r = client.post("/clocks/collect", data={"csrf": csrf, "device": "gate-2"})
    html = _wait_done(client, r.url.path.rsplit("/", 1)[1])
    assert "the clock cannot be reached" in _cell(html, "gate-2", "error")


def test_two_clerks_never_collect_a_device_twice(app, client_for, clocks) -> None:
    gate = clocks["gate-1"]
    release = threading.Event()
    gate.after_read = lambda _dev: release.wait(10)  # hold the first run mid-way
    a, b = client_for("hr"), client_for("admin")
    ra = a.post(
        "/clocks/collect",
        data={"csrf": csrf_of(a.get("/clocks").text), "device": "gate-1"},
        follow_redirects=False,
    )
    rb = b.post(
        "/clocks/collect",
        data={"csrf": csrf_of(b.get("/clocks").text), "device": "gate-1"},
        follow_redirects=False,
    )
    assert ra.headers["location"] == rb.headers["location"]  # linked to the same job
    release.set()
    _wait_done(a, _job_id(ra.headers["location"]))
    assert gate.reads == 1
    assert len(app.state.console.jobs._jobs) == 1


def test_a_clock_the_daemon_holds_is_reported_so(client_for, site, clocks, monkeypatch) -> None:
    from punchd.web import jobs

    monkeypatch.setattr(jobs, "LEASE_WAIT_S", 0.6)
    with site.engine.begin() as conn:
        device_id = store.upsert_device(
            conn, name="gate-2", driver="memory", address="memory://gate-2", user_code="enroll"
        )
    with database_lease(site.engine, device_id, "gate-2", purpose="poll"):
        client = client_for("hr")
        page = client.get("/clocks").text
        row = page.split('<tr data-device="gate-2"', 1)[1].split("</tr>", 1)[0]
        assert "being collected by the daemon right now" in row
        r = client.post("/clocks/collect", data={"csrf": csrf_of(page), "device": "gate-2"})
        html = _wait_done(client, r.url.path.rsplit("/", 1)[1])
    assert "being collected by the daemon right now" in _cell(html, "gate-2", "error")
    assert clocks["gate-2"].reads == 0


def test_jobs_are_for_clock_viewers_only(client_for, app) -> None:
    hr = client_for("hr")
    r = hr.post(
        "/clocks/collect",
        data={"csrf": csrf_of(hr.get("/clocks").text), "device": "gate-2"},
        follow_redirects=False,
    )
    path = r.headers["location"]
    _wait_done(hr, _job_id(path))
    for role in ("leader", "payroll", "employee"):
        assert client_for(role).get(path).status_code == 404
    assert client_for("admin").get(path).status_code == 200


def test_unknown_device_is_404_and_starts_nothing(client_for, app) -> None:
    client = client_for("hr")
    csrf = csrf_of(client.get("/clocks").text)
    r = client.post("/clocks/collect", data={"csrf": csrf, "device": ["gate-1", "nope"]})
    assert r.status_code == 404
    assert app.state.console.jobs._jobs == {}


def test_the_registry_records_the_actor(site) -> None:
    from punchd.web.jobs import JobRegistry

    seen = {}

    def runner(_site, configs, *, watch, actor, wait):
        seen["actor"], seen["names"] = actor, [c.name for c in configs]
        return []

    from punchd.clock import utcnow

    registry = JobRegistry(site, now=utcnow, runner=runner)
    job = registry.start(["gate-2"], Actor("harry"))
    assert registry.wait(10)
    assert seen == {"actor": Actor("harry"), "names": ["gate-2"]}
    assert job.snapshot()["state"] == "done"
