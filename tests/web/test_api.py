"""The JSON API: bearer tokens, the same permissions, jobs, no cookies, no secrets."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from punchd.app import Actor
from punchd.app import accounts as acc

from .conftest import EVIL, PASSWORD


def _token(site, name: str) -> dict[str, str]:
    return {"authorization": f"Bearer {acc.create_api_token(site, name, 'it', actor=Actor('t'))}"}


def test_me_and_clocks(site, anonymous: TestClient) -> None:
    auth = _token(site, "harry")
    me = anonymous.get("/api/v1/me", headers=auth)
    assert me.status_code == 200
    assert me.json()["name"] == "harry" and me.json()["role"] == "hr"
    assert "clocks.collect" in me.json()["permissions"]
    clocks = anonymous.get("/api/v1/clocks", headers=auth).json()
    names = [c["name"] for c in clocks["clocks"]]
    assert names == ["gate-1", "gate-2", EVIL, "spare"]
    assert clocks["timezone"] == "Asia/Shanghai"
    assert PASSWORD not in me.text and "token" not in me.text.lower()


def test_collect_job_over_the_api(site, anonymous: TestClient) -> None:
    auth = _token(site, "alice")
    r = anonymous.post("/api/v1/collect", headers=auth, json={"devices": ["gate-2"]})
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["started_by"] == "alice" and [d["name"] for d in job["devices"]] == ["gate-2"]
    deadline = time.monotonic() + 30
    while job["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.05)
        job = anonymous.get(f"/api/v1/collect/{job['id']}", headers=auth).json()
    assert job["state"] == "done"
    assert job["devices"][0]["records_new"] == 7 and job["devices"][0]["state"] == "done"
    # no CSRF token needed with a bearer token; unknown devices and jobs are 404
    r = anonymous.post("/api/v1/collect", headers=auth, json={"devices": ["nope"]})
    assert r.status_code == 404
    assert anonymous.get("/api/v1/collect/nope", headers=auth).status_code == 404


def test_bad_tokens_and_cookies_are_refused(site, client_for, anonymous: TestClient) -> None:
    assert anonymous.get("/api/v1/me").status_code == 401
    r = anonymous.get("/api/v1/me", headers={"authorization": "Bearer not-a-token"})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    signed_in = client_for("admin")  # a session cookie does not open the API
    assert signed_in.get("/api/v1/clocks").status_code == 401
    auth = _token(site, "paul")
    assert anonymous.get("/api/v1/me", headers=auth).status_code == 200
    assert anonymous.get("/api/v1/clocks", headers=auth).status_code == 404  # payroll
    r = anonymous.post("/api/v1/collect", headers=auth, json={"devices": []})
    assert r.status_code == 404
    acc.revoke_api_tokens(site, "paul", actor=Actor("t"))
    assert anonymous.get("/api/v1/me", headers=auth).status_code == 401


def test_invalid_json_does_not_echo_values(site, anonymous: TestClient) -> None:
    auth = _token(site, "alice")
    r = anonymous.post("/api/v1/collect", headers=auth, json={"devices": "s3cret-value"})
    assert r.status_code == 422
    assert "s3cret-value" not in r.text
