"""Every route declares its permission, and every role gets exactly what its permissions
allow — generated from the application's own route table, so a new route without a rule
fails here. Routes naming an object within a scope (a department, an employee) are tried
with objects inside and outside each role's scope: outside is 404, exactly like missing."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import Mount, Route

from punchd.app import Actor
from punchd.app import accounts as acc
from punchd.app.access import PERMISSIONS
from punchd.web.app import create_app
from punchd.web.auth import PUBLIC, SIGNED_IN, route_permission
from punchd.web.console import API_PREFIX

from .conftest import ROLE_ACCOUNTS, csrf_of, sign_in

#: what is served without any permission and is not an APIRoute
NON_API_ROUTES = {"/static": "static files", f"{API_PREFIX}/openapi.json": "the API's description"}
#: a value for each path parameter, so that a permitted request reaches the route
SAMPLE = {
    "job_id": "no-such-job",
    "name": "nobody",
    "upload_id": "no-such-upload",
    "month": "2026-03",
}
#: path parameters naming an object within a scope: each value tried, with the roles that
#: see it (200); every other signed-in role gets 404. The fixtures' organisation: OPS with
#: OPS-A below it (E1), SALES (E2); the leader leads OPS, the employee account is E1.
RESULTS = {"admin", "hr", "payroll", "leader"}
HR = {"admin", "hr"}
SCOPED = {
    "code": {
        "OPS": RESULTS,
        "OPS-A": RESULTS,
        "SALES": RESULTS - {"leader"},
        "NO-SUCH-DEPT": set(),
    },
    "no": {
        "E1": RESULTS | {"employee"},
        "E2": RESULTS - {"leader"},
        "NO-SUCH-EMPLOYEE": set(),
    },
    # the people pages (hr.change): admin and HR (the fixtures' HR sees every department;
    # test_an_assigned_hr_account_sees_its_departments_only tries one that does not)
    "dept_code": {"OPS": HR, "OPS-A": HR, "SALES": HR, "NO-SUCH-DEPT": set()},
    "employee_no": {"E1": HR, "E2": HR, "NO-SUCH-EMPLOYEE": set()},
}
#: for an HR account assigned OPS: what it sees of each scoped object
HR_OF_OPS = {"OPS", "OPS-A", "E1"}


def _all_routes(app):
    return [r for r in app.routes if isinstance(r, APIRoute | Route | Mount)]


def _urls(route: APIRoute) -> list[tuple[str, set[str] | None]]:
    """The URLs to try: ``(url, the roles that see the object)``; None: no scoped object,
    the route's permission alone decides."""
    names = list(route.param_convertors)
    scoped = [n for n in names if n in SCOPED]
    if not scoped:
        return [(route.path_format.format(**{p: SAMPLE[p] for p in names}), None)]
    assert len(scoped) == 1, f"{route.path}: one scoped object per route"
    (name,) = scoped
    fixed = {p: SAMPLE[p] for p in names if p != name}
    return [
        (route.path_format.format(**fixed, **{name: quote(value, safe="")}), roles)
        for value, roles in SCOPED[name].items()
    ]


def test_every_route_declares_a_known_permission(app) -> None:
    known = {p for perms in PERMISSIONS.values() for p in perms} | {PUBLIC, SIGNED_IN}
    missing = []
    for route in _all_routes(app):
        if not isinstance(route, APIRoute):
            if route.path not in NON_API_ROUTES:
                missing.append(route.path)
            continue
        permission = route_permission(route)
        if permission not in known:
            missing.append(f"{sorted(route.methods)} {route.path}")
        for name in route.param_convertors:
            assert name in SAMPLE or name in SCOPED, (
                f"{route.path}: add a sample value for {{{name}}}"
            )
    assert missing == []


def test_a_route_without_a_rule_is_caught(site) -> None:
    app = create_app(site)

    @app.get("/forgotten")
    def forgotten() -> str:
        return "no rule"

    route = next(r for r in app.routes if getattr(r, "path", "") == "/forgotten")
    assert route_permission(route) is None


def _cases(app):
    for route in app.routes:
        if isinstance(route, APIRoute):
            for method in sorted(route.methods - {"HEAD"}):
                yield route, method


def _may(role: str | None, permission: str) -> bool:
    if permission == PUBLIC:
        return True
    if role is None:
        return False
    return permission == SIGNED_IN or permission in PERMISSIONS[role]


@pytest.mark.parametrize("role", [None, *ROLE_ACCOUNTS])
def test_every_route_for_every_role(role, app, site, client_for) -> None:
    client = client_for(role) if role else TestClient(app)
    token = None
    if role:
        token = acc.create_api_token(site, ROLE_ACCOUNTS[role], "perm-test", actor=Actor("t"))
    csrf = csrf_of(client.get("/account" if role else "/signin").text)
    checked = scoped_checked = 0
    for route, method in _cases(app):
        permission = route_permission(route)
        for url, sees in _urls(route):
            if sees is not None:
                # the route's permission and the object's scope agree on who gets in
                assert sees <= {r for r in ROLE_ACCOUNTS if _may(r, permission)}, url
                scoped_checked += 1
            checked += _check(client, route, method, url, role, permission, sees, token, csrf)
    assert checked >= 15 and scoped_checked >= 14
    if role is not None:  # a cookie alone does not open the API
        assert client.get(f"{API_PREFIX}/me").status_code == 401


def _check(client, route, method, url, role, permission, sees, token, csrf) -> int:
    """One request as ``role``, checked against the route's permission and, for a scoped
    object, against who sees it; 0 if the request was skipped."""
    is_api = route.path.startswith(API_PREFIX)
    if is_api:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        # a cookie session is never accepted on the API
        r = client.request(method, url, headers=headers, json={"devices": ["nope"]})
        if role is None:
            assert r.status_code == 401, (method, url)
        elif not _may(role, permission):
            assert r.status_code == 404, (role, method, url, r.text)
        elif sees is not None:
            expected = 200 if role in sees else 404
            assert r.status_code == expected, (role, method, url, r.text)
            if expected == 404:  # forbidden and missing: the same answer
                assert r.json() == {"detail": "not found"}
        else:
            assert r.status_code not in (401, 403), (role, method, url)
            if route.path.endswith("{job_id}"):
                assert r.status_code == 404  # a missing job: as missing as a forbidden one
        return 1
    if url in ("/signout", "/account/signout-everywhere"):
        return 0  # would end the session the other cases use; covered in test_pages
    data = {"csrf": csrf, "device": "gate-1"} if method == "POST" else None
    r = client.request(method, url, data=data, follow_redirects=False)
    if not _may(role, permission):
        if role is None:
            assert r.status_code == 303, (method, url)
            assert r.headers["location"].startswith("/signin"), url
        else:
            assert r.status_code == 404, (role, method, url)
    elif sees is not None:
        if role in sees:
            # a page is 200; a change sent without its fields is answered on its form
            allowed = {200} if method == "GET" else {200, 303, 400}
            assert r.status_code in allowed, (role, method, url, r.status_code)
        else:
            assert r.status_code == 404, (role, method, url)
            assert 'data-kind="not_found"' in r.text
    else:
        refused = (403, 405) if url == "/signin" else (401, 403, 405)  # 401: wrong password
        assert r.status_code not in refused, (role, method, url, r.status_code)
    return 1


def test_an_assigned_hr_account_sees_its_departments_only(app, site) -> None:
    """Every route with a department or employee of the people pages, for an HR account
    assigned OPS: OPS, OPS-A and E1 in, SALES, E2 and the missing ones 404."""
    acc.add_account(site, "hops", "correct horse battery", "hr", actor=Actor("t"),
                    departments=("OPS",))  # fmt: skip
    client = TestClient(app)
    assert sign_in(client, "hops").status_code == 303
    csrf = csrf_of(client.get("/account").text)
    tried = 0
    for route, method in _cases(app):
        names = set(route.param_convertors) & {"dept_code", "employee_no"}
        if not names:
            continue
        (name,) = names
        for value in SCOPED[name]:
            url = route.path_format.format(**{name: quote(value, safe="")})
            data = {"csrf": csrf} if method == "POST" else None
            r = client.request(method, url, data=data, follow_redirects=False)
            if value in HR_OF_OPS:
                assert r.status_code in ({200} if method == "GET" else {200, 303, 400}), url
            else:
                assert r.status_code == 404 and 'data-kind="not_found"' in r.text, url
            tried += 1
    assert tried >= 40


def test_openapi_lists_the_api_only(anonymous) -> None:
    spec = anonymous.get(f"{API_PREFIX}/openapi.json").json()
    paths = set(spec["paths"])
    assert paths == {
        f"{API_PREFIX}/me",
        f"{API_PREFIX}/clocks",
        f"{API_PREFIX}/collect",
        f"{API_PREFIX}/collect/{{job_id}}",
        f"{API_PREFIX}/departments/{{code}}/day",
        f"{API_PREFIX}/employees/{{no}}/days",
    }
    assert anonymous.get("/docs").status_code == 404
