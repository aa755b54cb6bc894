"""The console's pages: plain HTML forms, rendered on the server.

Each route names its permission with :func:`punchd.web.auth.requires`; that dependency also
resumes the session and checks the CSRF token of every POST before the route runs.
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup

from punchd import logs
from punchd.app import Actor, access, accounts, home, results
from punchd.errors import InvalidInput, PunchdError
from punchd.web import i18n, security, views
from punchd.web.auth import (
    PUBLIC,
    SIGNED_IN,
    Caller,
    PageNotFound,
    SignInRequired,
    console,
    requires,
)
from punchd.web.console import Console
from punchd.web.i18n import N_

log = logs.get_logger(component="web")
router = APIRouter(include_in_schema=False)

ConsoleDep = Annotated[Console, Depends(console)]


def _see_other(target: str) -> RedirectResponse:
    return RedirectResponse(target, status_code=303)


# ------------------------------------------------------------------------- sign-in, sign-out


def _signin_page(
    c: Console,
    request: Request,
    *,
    next_path: str,
    error: str | None = None,
    minutes: int = 0,
    status: int = 200,
    username: str = "",
) -> Response:
    return c.render(
        request,
        "signin.html",
        {"next_path": next_path, "error": error, "minutes": minutes, "username": username},
        status=status,
    )


@router.get("/signin")
def signin_form(
    request: Request,
    c: ConsoleDep,
    caller: Annotated[Caller, requires(PUBLIC)],
    next: str = "/",
) -> Response:
    return _signin_page(c, request, next_path=security.local_path(next))


@router.post("/signin")
def signin(
    request: Request,
    c: ConsoleDep,
    caller: Annotated[Caller, requires(PUBLIC)],
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    target = security.local_path(next)
    client = c.client(request)
    try:
        token, _session = accounts.sign_in(
            c.site,
            username,
            password,
            client=client,
            user_agent=request.headers.get("user-agent", "")[:300],
            now=c.now(),
        )
    except accounts.SignInThrottled as exc:
        minutes = max(1, math.ceil(exc.retry_after_s / 60))
        return _signin_page(
            c,
            request,
            next_path=target,
            error="throttled",
            minutes=minutes,
            status=429,
            username=username,
        )
    except accounts.SignInFailed:
        return _signin_page(
            c, request, next_path=target, error="failed", status=401, username=username
        )
    if caller.token:  # the browser's previous session (another account?) ends here
        accounts.sign_out(c.site, caller.token, now=c.now())
    log.info("signed in", account=_session.account.name, client=client)
    response = _see_other(target)
    response.set_cookie(
        security.SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=c.secure(request),
        path="/",
    )
    # a fresh double-submit token for the next sign-in form
    response.delete_cookie(security.CSRF_COOKIE, path="/")
    return response


@router.post("/signout")
def signout(c: ConsoleDep, caller: Annotated[Caller, requires(SIGNED_IN)]) -> Response:
    if caller.token:
        accounts.sign_out(c.site, caller.token, now=c.now())
    response = _see_other("/signin")
    response.delete_cookie(security.SESSION_COOKIE, path="/")
    return response


@router.post("/language")
def language(
    request: Request,
    c: ConsoleDep,
    caller: Annotated[Caller, requires(PUBLIC)],
    lang: Annotated[str, Form(max_length=20)] = "en",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    chosen = i18n.known(lang) or "en"
    if caller.account is not None:
        try:
            accounts.update_account(
                c.site, caller.account.name, actor=Actor(caller.account.name), language=chosen
            )
        except PunchdError as exc:
            log.warning("language not saved", error=logs.scrub(str(exc)))
    response = _see_other(security.local_path(next))
    response.set_cookie(
        security.LANG_COOKIE,
        chosen,
        max_age=365 * 24 * 3600,
        samesite="lax",
        secure=c.secure(request),
        path="/",
    )
    return response


# ------------------------------------------------------------------------------- home


@router.get("/")
def home_page(
    request: Request, c: ConsoleDep, caller: Annotated[Caller, requires(SIGNED_IN)]
) -> Response:
    assert caller.scope is not None
    scope, today, language = caller.scope, c.today(), c.language(request)
    account = scope.account
    # Everything the body shows follows from these: accounts alike in them share it.
    seen_as = (
        account.role,
        scope.all_departments,
        scope.department_ids,
        scope.employee_id,
        account.departments,
        account.employee_no,
        today,
    )

    def body() -> Markup:
        glance = c.snapshots.get(
            ("home", *seen_as), lambda: home.at_a_glance(c.site, scope, today=today)
        )
        context = {
            "glance": glance,
            "my_departments": account.departments,
            "my_employee_no": account.employee_no,
        }
        return c.fragment(language, "home_body.html", context)

    shared = c.snapshots.get(("home-body", language, *seen_as), body)
    return c.render(request, "home.html", {"glance_day": today, "body": shared})


# ----------------------------------------------------------- a department's day, a person

#: ``att_exception.kind`` in words
EXCEPTION_NAMES = {
    "late": N_("late"),
    "early": N_("left early"),
    "absent": N_("absent"),
    "missing_in": N_("no punch in"),
    "missing_out": N_("no punch out"),
    "leave": N_("leave"),
    "overtime": N_("overtime"),
    "rest_overtime": N_("overtime on a rest day"),
    "holiday_overtime": N_("overtime on a holiday"),
    "stray_punch": N_("punch outside every window"),
    "unpaired_punch": N_("single punch on a day off"),
    "unscheduled": N_("worked without a shift"),
}
#: ``att_punch.source`` and ``flag`` in words
SOURCE_NAMES = {
    "device": N_("clock"),
    "manual": N_("manual"),
    "import": N_("imported"),
    "web": N_("web sign-in"),
}
FLAG_NAMES = {
    "power_loss": N_("implausible date (clock lost power?)"),
    "future": N_("in the future"),
    "after_leaving": N_("after the employee left"),
}
#: ``att_punch.state`` in words
STATE_NAMES = {
    "in": N_("in"),
    "out": N_("out"),
    "break_out": N_("break out"),
    "break_in": N_("break in"),
    "ot_in": N_("overtime in"),
    "ot_out": N_("overtime out"),
    "unknown": N_("unknown"),
}
_RESULT_WORDS = {
    "exception_names": EXCEPTION_NAMES,
    "source_names": SOURCE_NAMES,
    "flag_names": FLAG_NAMES,
    "state_names": STATE_NAMES,
}


@router.get("/departments/{code:path}")
def department_page(
    request: Request,
    code: str,
    c: ConsoleDep,
    caller: Annotated[Caller, requires("results.view")],
    day: Annotated[date | None, Query(alias="date")] = None,
) -> Response:
    """A department's day: its people and those of the departments below it. Unknown and
    outside the account's scope alike: 404 (checked by :func:`results.department_day`)."""
    assert caller.scope is not None
    try:
        view = results.department_day(c.site, caller.scope, code, day, today=c.today())
    except access.NotFound:
        raise PageNotFound() from None
    one = timedelta(days=1)
    around = {"previous_day": view.day - one, "next_day": view.day + one}
    return c.render(request, "department.html", {"dept": view, **around, **_RESULT_WORDS})


@router.get("/employees/{no:path}")
def employee_page(
    request: Request,
    no: str,
    c: ConsoleDep,
    # every role reaches the route; results.employee_days decides who sees whom (the
    # results.view roles within their scope, an employee only themselves)
    caller: Annotated[Caller, requires(SIGNED_IN)],
    date_from: Annotated[date | None, Query(alias="from")] = None,
    date_to: Annotated[date | None, Query(alias="to")] = None,
) -> Response:
    """One person's days, punches and exceptions (default the last 30 days)."""
    assert caller.scope is not None
    try:
        view = results.employee_days(c.site, caller.scope, no, date_from, date_to, today=c.today())
    except access.NotFound:
        raise PageNotFound() from None
    except InvalidInput:
        context = {"person": None, "no": no, "max_days": results.MAX_DAYS, **_RESULT_WORDS}
        return c.render(request, "employee.html", context, status=400)
    context = {"person": view, "no": no, "max_days": results.MAX_DAYS, **_RESULT_WORDS}
    return c.render(request, "employee.html", context)


# ----------------------------------------------------------------------------- clocks


@router.get("/clocks")
def clocks(
    request: Request, c: ConsoleDep, caller: Annotated[Caller, requires("clocks.view")]
) -> Response:
    return _clocks_page(request, c, caller)


def _clocks_page(
    request: Request, c: Console, caller: Caller, *, error: str | None = None, status: int = 200
) -> Response:
    """The clocks page: its body is one shared reading of the site, rendered once per
    language and per "may collect" (web/snapshots.py); the frame around it is the caller's."""
    language, can_collect = c.language(request), caller.can("clocks.collect")

    def body() -> Markup:
        rows, warnings, attention, summary = c.snapshots.get("clocks", lambda: views.clock_rows(c))
        context = {
            "rows": rows,
            "warnings": warnings,
            "attention": attention,
            "status": summary,
            "can_collect": can_collect,
        }
        return c.fragment(language, "clocks_body.html", context)

    shared = c.snapshots.get(("clocks-body", language, can_collect), body)
    return c.render(request, "clocks.html", {"body": shared, "error": error}, status=status)


@router.post("/clocks/collect")
async def collect(
    request: Request, c: ConsoleDep, caller: Annotated[Caller, requires("clocks.collect")]
) -> Response:
    form = await request.form()
    names = [str(v) for v in form.getlist("device")]
    everything = form.get("all") is not None
    if not names and not everything:
        return _see_other("/clocks")
    configured = {d.name for d in c.site.settings.devices}
    if any(n not in configured for n in names):
        raise PageNotFound()
    assert caller.account is not None
    try:
        job = c.jobs.start([] if everything else names, Actor(caller.account.name))
    except PunchdError as exc:
        return _clocks_page(request, c, caller, error=logs.scrub(str(exc)), status=409)
    return _see_other(f"/collect/{job.id}")


@router.get("/collect/{job_id}")
def collect_job(
    request: Request,
    job_id: str,
    c: ConsoleDep,
    caller: Annotated[Caller, requires("clocks.view")],
) -> Response:
    job = c.jobs.get(job_id)
    if job is None:
        raise PageNotFound()
    snap = job.snapshot()
    return c.render(
        request,
        "collect.html",
        {"job": snap, "refresh": 1 if snap["state"] == "running" else None},
    )


# ---------------------------------------------------------------------------- account


@router.get("/account")
def account_page(
    request: Request, c: ConsoleDep, caller: Annotated[Caller, requires(SIGNED_IN)]
) -> Response:
    return _account(c, request, caller)


def _account(
    c: Console, request: Request, caller: Caller, *, message: str | None = None, status: int = 200
) -> Response:
    assert caller.account is not None
    sessions = accounts.list_sessions(c.site, caller.account.name, now=c.now())
    return c.render(
        request,
        "account.html",
        {
            "sessions": sessions,
            "current_id": caller.session.id if caller.session else None,
            "message": message,
            "role": caller.account.role,
        },
        status=status,
    )


@router.post("/account/password")
def change_password(
    request: Request,
    c: ConsoleDep,
    caller: Annotated[Caller, requires(SIGNED_IN)],
    old_password: Annotated[str, Form(max_length=1000)] = "",
    new_password: Annotated[str, Form(max_length=1000)] = "",
    new_password_again: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    assert caller.token is not None
    if new_password != new_password_again:
        return _account(c, request, caller, message="password_mismatch", status=400)
    try:
        ended = accounts.change_own_password(
            c.site, caller.token, old_password, new_password, now=c.now()
        )
    except accounts.SessionExpired:
        raise SignInRequired() from None
    except accounts.SignInThrottled:
        return _account(c, request, caller, message="password_throttled", status=429)
    except accounts.SignInFailed:
        return _account(c, request, caller, message="password_wrong", status=400)
    except PunchdError:
        return _account(c, request, caller, message="password_refused", status=400)
    log.info("password changed", other_sessions_ended=ended)
    return _account(c, request, caller, message="password_changed")


@router.post("/account/signout-everywhere")
def signout_everywhere(c: ConsoleDep, caller: Annotated[Caller, requires(SIGNED_IN)]) -> Response:
    assert caller.account is not None
    accounts.sign_out_everywhere(
        c.site, caller.account.name, actor=Actor(caller.account.name), now=c.now()
    )
    response = _see_other("/signin")
    response.delete_cookie(security.SESSION_COOKIE, path="/")
    return response


# ----------------------------------------------------------------------------- admin


@router.get("/admin/accounts")
def admin_accounts(
    request: Request, c: ConsoleDep, caller: Annotated[Caller, requires("accounts.manage")]
) -> Response:
    return c.render(request, "admin_accounts.html", {"accounts": accounts.list_accounts(c.site)})


def _admin_change(c: Console, caller: Caller, name: str, change: str) -> Response:
    assert caller.account is not None
    actor = Actor(caller.account.name)
    try:
        if change == "end-sessions":
            accounts.sign_out_everywhere(c.site, name, actor=actor, now=c.now())
            accounts.revoke_api_tokens(c.site, name, actor=actor)
        elif change == "disable":
            accounts.disable_account(c.site, name, actor=actor)
        else:
            accounts.enable_account(c.site, name, actor=actor)
    except (accounts.AccountNotFound, access.NotFound):
        raise PageNotFound() from None
    if name.casefold() == caller.account.name.casefold() and change != "enable":
        return _see_other("/signin")
    return _see_other("/admin/accounts")


@router.post("/admin/accounts/{name}/end-sessions")
def admin_end_sessions(
    name: str, c: ConsoleDep, caller: Annotated[Caller, requires("accounts.manage")]
) -> Response:
    return _admin_change(c, caller, name, "end-sessions")


@router.post("/admin/accounts/{name}/disable")
def admin_disable(
    name: str, c: ConsoleDep, caller: Annotated[Caller, requires("accounts.manage")]
) -> Response:
    return _admin_change(c, caller, name, "disable")


@router.post("/admin/accounts/{name}/enable")
def admin_enable(
    name: str, c: ConsoleDep, caller: Annotated[Caller, requires("accounts.manage")]
) -> Response:
    return _admin_change(c, caller, name, "enable")
