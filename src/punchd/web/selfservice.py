"""Self-service pages: an employee's own month (``/me``) with the 签到 / 签退 buttons, and
HR's page that allows web punches per employee (``/people/self-service``).

Who may punch, from which network, and the double-click guard are decided in
:mod:`punchd.app.selfservice`; this module only passes the client's address as the console
works it out (the peer, or behind trusted proxies the address they name) and the server's
clock — never a time the browser sends.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from punchd import logs
from punchd.app import Actor, access, selfservice
from punchd.errors import InvalidInput
from punchd.web.auth import Caller, PageNotFound, console, requires, scope_of
from punchd.web.console import Console
from punchd.web.i18n import N_
from punchd.web.pages import EXCEPTION_NAMES, FLAG_NAMES, SOURCE_NAMES, STATE_NAMES

log = logs.get_logger(component="web")
router = APIRouter(include_in_schema=False)

ConsoleDep = Annotated[Console, Depends(console)]

#: what the page says after a POST (``?done=``)
DONE = {
    "in": N_("Your sign-in for work is recorded."),
    "out": N_("Your sign-out from work is recorded."),
    "again": N_("That was already recorded a moment ago; nothing new was stored."),
}
#: 签到 / 签退 in words
WEB_STATE_NAMES = {"in": N_("Sign in for work"), "out": N_("Sign out from work")}
#: why a web punch was refused
REFUSALS = {
    "not_enabled": N_("Signing in and out on the web is not enabled for you. Ask HR."),
    "network": N_("Signing in and out on the web is not allowed from this network."),
}
WORDS = {
    "exception_names": EXCEPTION_NAMES,
    "source_names": SOURCE_NAMES,
    "flag_names": FLAG_NAMES,
    "state_names": STATE_NAMES,
    "web_state_names": WEB_STATE_NAMES,
}


def _see_other(target: str) -> RedirectResponse:
    return RedirectResponse(target, status_code=303)


def _month_key(first: date) -> str:
    return f"{first.year:04d}-{first.month:02d}"


# ------------------------------------------------------------------------ the employee


@router.get("/me")
def my_attendance(
    request: Request,
    c: ConsoleDep,
    caller: Annotated[Caller, requires("self.view")],
    month: Annotated[str | None, Query(max_length=20)] = None,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    """The employee's own month: days, exceptions, punches, and 签到 / 签退 where allowed."""
    scope, today = scope_of(caller), c.today()
    try:
        first = selfservice.parse_month(month, today=today)
        view = selfservice.my_month(c.site, scope, first, address=c.client(request), today=today)
    except access.NotFound:
        raise PageNotFound() from None
    except InvalidInput:
        first = today.replace(day=1)
        view = selfservice.my_month(c.site, scope, first, address=c.client(request), today=today)
        return _me_page(request, c, view, error=N_("Not a month: use the picker."), status=400)
    return _me_page(request, c, view, message=DONE.get(done or ""))


def _me_page(
    request: Request,
    c: Console,
    view: selfservice.MyMonth,
    *,
    message: str | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    first = view.month
    previous = (first - timedelta(days=1)).replace(day=1)
    following = selfservice.month_end(first) + timedelta(days=1)
    context = {
        "view": view,
        "person": view.person,
        "punch": view.punch,
        "month_key": _month_key(first),
        "previous_month": _month_key(previous),
        "next_month": _month_key(following),
        "message": message,
        "error": error,
        **WORDS,
    }
    return c.render(request, "selfservice_me.html", context, status=status)


@router.post("/me/punch")
def sign_for_work(
    request: Request,
    c: ConsoleDep,
    caller: Annotated[Caller, requires("self.punch")],
    state: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """签到 / 签退: a punch of source ``web`` at the server's time. Refused (403, nothing
    stored) when HR did not enable it for the employee or the network is not allowed."""
    address = c.client(request)
    try:
        done = selfservice.web_punch(c.site, scope_of(caller), state, address=address, now=c.now())
    except access.NotFound:
        raise PageNotFound() from None
    except InvalidInput:
        return c.render(request, "error.html", {"kind": "bad_request"}, status=400)
    except selfservice.PunchRefused as exc:
        log.info("web punch refused", reason=exc.reason, client=address)
        context = {"reason": REFUSALS[exc.reason], "address": address}
        return c.render(request, "selfservice_refused.html", context, status=403)
    if not done.repeated:
        log.info("web punch", punch=done.id, state=done.state, client=address)
    return _see_other(f"/me?done={'again' if done.repeated else done.state}")


# --------------------------------------------------------------------------------- HR


def _switches_page(
    request: Request,
    c: Console,
    caller: Caller,
    department: str | None,
    *,
    saved: str | None = None,
) -> Response:
    try:
        view = selfservice.switches(c.site, scope_of(caller), department, today=c.today())
    except access.NotFound:
        raise PageNotFound() from None
    context = {"view": view, "saved": saved}
    return c.render(request, "selfservice_switches.html", context)


@router.get("/people/self-service")
def web_punch_switches(
    request: Request,
    c: ConsoleDep,
    caller: Annotated[Caller, requires("hr.change")],
    department: Annotated[str | None, Query(max_length=100)] = None,
    saved: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    """Which employees of a department may sign in and out on the web."""
    return _switches_page(request, c, caller, department, saved=saved)


@router.post("/people/self-service")
def set_web_punch(
    request: Request,
    c: ConsoleDep,
    caller: Annotated[Caller, requires("hr.change")],
    employee_no: Annotated[str, Form(max_length=100)] = "",
    enabled: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    """Allow or stop web punches for one employee (audited); the same state sent twice
    changes nothing the second time."""
    if enabled not in ("1", "0"):
        return c.render(request, "error.html", {"kind": "bad_request"}, status=400)
    assert caller.account is not None
    try:
        code = selfservice.set_switch(
            c.site,
            scope_of(caller),
            employee_no,
            enabled == "1",
            actor=Actor(caller.account.name),
        )
    except access.NotFound:
        raise PageNotFound() from None
    target = f"/people/self-service?department={quote(code, safe='')}"
    return _see_other(f"{target}&saved={quote(employee_no, safe='')}")
