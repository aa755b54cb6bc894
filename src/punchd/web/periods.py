"""The console's pay-period pages: the months and their state, a month's open items, its
close and reopen forms and its close history. Thin over :mod:`punchd.app.periods`.

``periods.view`` sees the pages (admin, HR, payroll); ``periods.close`` closes and reopens
(admin, HR). An HR account assigned some departments sees and closes only those (and the
ones below them): a close or reopen for everyone, or for a department outside them, is
refused on the server (404, like a missing one). Each form carries the last close version
the page showed, so a form sent twice closes (or reopens) once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from punchd import logs
from punchd.app import access, people
from punchd.app import periods as ops
from punchd.app.attendance import refresh
from punchd.errors import InvalidInput, PunchdError
from punchd.web import forms
from punchd.web.auth import Caller, PageNotFound, actor_of, console, requires, scope_of
from punchd.web.console import Console
from punchd.web.i18n import N_

log = logs.get_logger(component="web")
router = APIRouter(include_in_schema=False)

ConsoleDep = Annotated[Console, Depends(console)]
VIEW = "periods.view"
CLOSE = "periods.close"
TEXT = 1000

STATE_WORDS = {
    "open": N_("open"),
    "closed": N_("closed"),
    "partly closed": N_("partly closed"),
    "reopened": N_("reopened"),
}
#: the problems a form is shown again with, next to the field
FORCE_REASON = N_("required: why the month is closed with open items")
REOPEN_REASON = N_("required: why the closed month changes")
ALREADY_CLOSED = N_("already closed: reopen it first to close it again")
NOT_CLOSED = N_("not closed")
CLOSED_FOR_EVERYONE = N_("closed for everyone: reopen it for everyone")
OPEN_ITEMS = N_("open items: resolve them, or close with force and a reason")
NO_DEPARTMENT = N_("no department of yours to close")
REASONS = {
    "unprocessed": N_("Not processed"),
    "incomplete": N_("Incomplete day"),
    "stale": N_("Changes waiting to be re-processed"),
}


@dataclass(frozen=True)
class MonthLine:
    """One month of the list: its state and its latest closes."""

    month: str
    state: str
    closed: list[ops.PeriodRow]  # the closes in force
    last: ops.PeriodRow | None  # the latest close or reopen
    after_close: int


def _month(text: str) -> str:
    try:
        return ops.parse_month(text)
    except InvalidInput:
        raise PageNotFound() from None


def _codes(c: Console, scope: access.Scope) -> list[str]:
    """The department codes the scope sees."""
    return [n.department.code for n in people.department_tree(c.site, scope, counted=False)]


def _mine(scope: access.Scope, codes: list[str], code: str | None) -> bool:
    """A close row or a late day the scope may see: for everyone, or one of its departments."""
    return scope.all_departments or code is None or code in codes


def _state(rows: list[ops.PeriodRow]) -> tuple[str, list[ops.PeriodRow]]:
    closed = [p for p in rows if p.state == "closed"]
    if any(p.department_id is None for p in closed):
        return "closed", closed
    return ("partly closed" if closed else "open"), closed


def _this_and_last(c: Console) -> list[str]:
    local = c.local(c.now())
    assert local is not None
    first = local.date().replace(day=1)
    before = (first - timedelta(days=1)).replace(day=1)
    return [f"{d:%Y-%m}" for d in (first, before)]


def _see_other(month: str, **query: str) -> RedirectResponse:
    tail = "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items())
    return RedirectResponse(f"/periods/{month}" + (f"?{tail}" if tail else ""), status_code=303)


# ----------------------------------------------------------------------------- the list


@router.get("/periods")
def periods(request: Request, c: ConsoleDep, caller: Annotated[Caller, requires(VIEW)]) -> Response:
    scope = scope_of(caller)
    codes = [] if scope.all_departments else _codes(c, scope)
    rows = [p for p in ops.list_periods(c.site) if _mine(scope, codes, p.department_code)]
    months = sorted({p.month for p in rows} | set(_this_and_last(c)), reverse=True)
    lines = []
    for month in months:
        mine = [p for p in rows if p.month == month]
        state, closed = _state(mine)
        late = 0
        if mine:
            view = ops.show_period(c.site, month)
            late = sum(1 for a in view.after_close if _mine(scope, codes, a.department_code))
        lines.append(MonthLine(month, state, closed, mine[-1] if mine else None, late))
    context = {"lines": lines, "state_words": STATE_WORDS}
    return c.render(request, "periods.html", context)


# ----------------------------------------------------------------------------- a month


def _month_page(
    request: Request,
    c: Console,
    caller: Caller,
    month: str,
    *,
    form: str | None = None,
    values: dict[str, str] | None = None,
    problems: forms.Problems | None = None,
    status: int = 200,
    done: str | None = None,
) -> Response:
    scope = scope_of(caller)
    codes = _codes(c, scope)
    view = ops.show_period(c.site, month)
    history = [p for p in view.periods if _mine(scope, codes, p.department_code)]
    state, closed = _state(history)
    if scope.all_departments:
        items = ops.open_items(c.site, month)
    elif codes:
        items = ops.open_items(c.site, month, departments=codes)
    else:
        items = ops.OpenItems()
    late = [a for a in view.after_close if _mine(scope, codes, a.department_code)]
    context = {
        "month": month,
        "state": state,
        "closed": closed,
        "history": history,
        "items": items,
        "item_days": [
            (kind, REASONS[kind], getattr(items, kind))
            for kind in ("unprocessed", "incomplete", "stale")
        ],
        "after_close": late,
        "seen": max((p.version for p in view.periods), default=0),
        "departments": codes,
        "all_departments": scope.all_departments,
        "can_close": caller.can(CLOSE) and (scope.all_departments or bool(codes)),
        "can_link": caller.can("results.view"),
        "form": form,
        "values": values or {},
        "problems": problems or {},
        "done": done,
        "state_words": STATE_WORDS,
    }
    return c.render(request, "periods_month.html", context, status=status)


@router.get("/periods/{month}")
def month_page(
    request: Request,
    month: str,
    c: ConsoleDep,
    caller: Annotated[Caller, requires(VIEW)],
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    return _month_page(request, c, caller, _month(month), done=done)


def _asked(c: Console, caller: Caller, department: list[str]) -> list[str] | None:
    """The departments a close or reopen is for (None: everyone), within the scope: a
    department outside it is 404, like a missing one; a scoped account never acts for
    everyone (its departments, when it names none)."""
    scope = scope_of(caller)
    codes = _codes(c, scope)
    asked = list(dict.fromkeys(d.strip() for d in department if d.strip()))
    if any(d not in codes for d in asked):
        raise PageNotFound()
    if not asked and not scope.all_departments:
        return codes
    return asked or None


def _covered(rows: list[ops.PeriodRow], asked: list[str] | None, newer_than: int) -> bool:
    """Whether closes newer than ``newer_than`` already cover ``asked``: the same form was
    sent before (a double submit), so there is nothing left to do."""
    fresh = [p for p in rows if p.state == "closed" and p.version > newer_than]
    if any(p.department_id is None for p in fresh):
        return True
    return asked is not None and set(asked) <= {p.department_code for p in fresh}


@router.post("/periods/{month}/close")
def close(
    request: Request,
    month: str,
    c: ConsoleDep,
    caller: Annotated[Caller, requires(CLOSE)],
    department: Annotated[list[str] | None, Form(max_length=TEXT)] = None,
    force: Annotated[str, Form(max_length=10)] = "",
    reason: Annotated[str, Form(max_length=TEXT)] = "",
    seen: Annotated[int, Form(ge=0)] = 0,
) -> Response:
    month = _month(month)
    asked = _asked(c, caller, department or [])
    values = {"reason": reason, "force": force}

    def again(problems: forms.Problems, status: int) -> Response:
        return _month_page(
            request, c, caller, month, form="close", values=values, problems=problems,
            status=status,
        )  # fmt: skip

    if asked == []:
        return again({"department": NO_DEPARTMENT}, 400)
    rows = ops.show_period(c.site, month).periods
    if _covered(rows, asked, seen):
        return _see_other(month, done="closed")
    if _covered(rows, asked, 0):
        return again({"close": ALREADY_CLOSED}, 409)
    try:
        ops.close_period(
            c.site, month, departments=asked, force=bool(force), reason=reason,
            actor=actor_of(caller),
        )  # fmt: skip
    except InvalidInput:
        return again({"reason": FORCE_REASON}, 400)
    except ops.PeriodOpen:
        return again({"force": OPEN_ITEMS}, 409)
    except PunchdError as exc:
        return again(*forms.refusal(exc, "close"))
    return _see_other(month, done="closed")


@router.post("/periods/{month}/reopen")
def reopen(
    request: Request,
    month: str,
    c: ConsoleDep,
    caller: Annotated[Caller, requires(CLOSE)],
    department: Annotated[list[str] | None, Form(max_length=TEXT)] = None,
    reopen_reason: Annotated[str, Form(max_length=TEXT)] = "",
    seen: Annotated[int, Form(ge=0)] = 0,
) -> Response:
    month = _month(month)
    asked = _asked(c, caller, department or [])
    reason = reopen_reason
    values = {"reopen_reason": reason}

    def again(problems: forms.Problems, status: int) -> Response:
        return _month_page(
            request, c, caller, month, form="reopen", values=values, problems=problems,
            status=status,
        )  # fmt: skip

    if not reason.strip():
        return again({"reopen_reason": REOPEN_REASON}, 400)
    rows = ops.show_period(c.site, month).periods
    closed = [p for p in rows if p.state == "closed"]
    if asked is not None:
        if any(p.department_id is None for p in closed):
            return again({"reopen": CLOSED_FOR_EVERYONE}, 409)
        closed = [p for p in closed if p.department_code in asked]
        if not scope_of(caller).all_departments:  # their departments that are closed
            asked = [p.department_code for p in closed if p.department_code is not None]
    if not closed:
        latest = max((p.version for p in rows), default=0)
        if rows and latest == seen:  # reopened since the page was shown: sent twice
            return _see_other(month, done="reopened")
        return again({"reopen": NOT_CLOSED}, 409)
    try:
        ops.reopen_period(c.site, month, departments=asked, reason=reason, actor=actor_of(caller))
    except InvalidInput:
        return again({"reopen_reason": REOPEN_REASON}, 400)
    except PunchdError as exc:
        return again(*forms.refusal(exc, "reopen"))
    refreshed = refresh(c.site, actor_of(caller))  # its days are processed again now
    if not refreshed.ok:
        log.warning("re-processing after a reopen failed", month=month)
    return _see_other(month, done="reopened")
