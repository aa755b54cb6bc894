"""Who is asking, and may they: every route declares one permission with :func:`requires`
(pages) or :func:`api_requires` (the JSON API); :func:`route_permission` finds it again, so
the permission table is the routes themselves and a test can walk it.

* ``public``: anyone (sign-in page, language switch);
* ``signed_in``: any account (home, own account, sign-out);
* anything else: a permission of :data:`punchd.app.access.PERMISSIONS`.

A page whose permission the account lacks answers 404, exactly like a page that does not
exist. Every non-GET page request is also checked for its CSRF token here, before the route
runs, so no route can forget it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import Depends, Request
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.routing import BaseRoute

from punchd.app import Actor, access, accounts
from punchd.web import security

if TYPE_CHECKING:
    from punchd.web.console import Console

PUBLIC = "public"
SIGNED_IN = "signed_in"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


class SignInRequired(Exception):
    """No live session: the page answers with a redirect to the sign-in page."""


class PageNotFound(Exception):
    """404, whether the thing is missing or forbidden."""


class FormExpired(Exception):
    """A POST without the right CSRF token: 403, nothing changed."""


class ApiUnauthorized(Exception):
    """The API without a valid bearer token: 401."""


class ApiNotFound(Exception):
    """The API's 404, missing or forbidden alike."""


@dataclass
class Caller:
    """The request's account, its scope and (pages) its session; None before sign-in."""

    account: accounts.Account | None = None
    scope: access.Scope | None = None
    session: accounts.Session | None = None
    token: str | None = None

    def can(self, permission: str) -> bool:
        if permission == PUBLIC:
            return True
        if self.account is None or self.scope is None:
            return False
        return permission == SIGNED_IN or self.scope.can(permission)


def scope_of(caller: Caller) -> access.Scope:
    """The scope of a caller a page's ``requires(...)`` let in (set for every signed-in one)."""
    assert caller.scope is not None
    return caller.scope


def actor_of(caller: Caller) -> Actor:
    """Who a signed-in caller's changes are recorded as."""
    assert caller.account is not None
    return Actor(caller.account.name)


def console(request: Request) -> Console:
    return request.app.state.console


async def identify(request: Request) -> Caller:
    """The caller of a page request, from its session cookie (kept on ``request.state``)."""
    known: Caller | None = getattr(request.state, "caller", None)
    if known is not None:
        return known
    c = console(request)
    caller = Caller()
    token = request.cookies.get(security.SESSION_COOKIE)
    if token:
        try:
            session = await run_in_threadpool(accounts.resume, c.site, token, now=c.now())
        except accounts.SessionExpired:
            session = None
        if session is not None:
            scope = await run_in_threadpool(access.scope_for, c.site, session.account)
            caller = Caller(session.account, scope, session, token)
    request.state.caller = caller
    return caller


class _Page:
    """A page's permission; as a dependency it resumes the session and checks it."""

    def __init__(self, permission: str) -> None:
        self.permission = permission

    async def __call__(self, request: Request) -> Caller:
        caller = await identify(request)
        if self.permission != PUBLIC and caller.account is None:
            raise SignInRequired()
        if not caller.can(self.permission):
            raise PageNotFound()
        if request.method not in SAFE_METHODS:
            form = await request.form()
            sent = form.get("csrf")
            sent = sent if isinstance(sent, str) else None
            ok = caller.session is not None and security.same(sent, caller.session.csrf_token)
            if not ok and self.permission == PUBLIC:
                # before sign-in: the double-submit cookie
                ok = security.same(sent, request.cookies.get(security.CSRF_COOKIE))
            if not ok:
                raise FormExpired()
        return caller


class _Api:
    """An API call's permission: a bearer token (never a cookie), no CSRF."""

    def __init__(self, permission: str) -> None:
        self.permission = permission

    def __call__(self, request: Request) -> Caller:
        c = console(request)
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ApiUnauthorized()
        try:
            account = accounts.resume_api_token(c.site, token.strip(), now=c.now())
        except accounts.SessionExpired:
            raise ApiUnauthorized() from None
        caller = Caller(account, access.scope_for(c.site, account), None, None)
        request.state.caller = caller
        if not caller.can(self.permission):
            raise ApiNotFound()
        return caller


def requires(permission: str) -> Any:
    """The dependency of a page that needs ``permission``."""
    _known(permission)
    return Depends(_Page(permission))


def api_requires(permission: str) -> Any:
    """The dependency of an API route that needs ``permission``."""
    _known(permission)
    return Depends(_Api(permission))


def _known(permission: str) -> None:
    every = {p for perms in access.PERMISSIONS.values() for p in perms}
    if permission not in every | {PUBLIC, SIGNED_IN}:
        raise ValueError(f"unknown permission {permission!r}")


def route_permission(route: BaseRoute) -> str | None:
    """The permission a route declared (None: it declared none, a bug the tests catch)."""
    if not isinstance(route, APIRoute):
        return None
    found = [
        dep.call.permission
        for dep in route.dependant.dependencies
        if isinstance(dep.call, _Page | _Api)
    ]
    return found[0] if len(found) == 1 else None
