"""The console's leave (请假) and manual punch (签卡) pages, for the accounts with ``hr.change``.

``/people/leave`` lists the leave of the people the account sees (by department, employee and
dates), enters full-day or part-day leave for one person or several ticked ones, and cancels
leave. ``/people/punches`` shows one person's punches of some days with who added or voided
them, adds a manual punch and voids or un-voids one. The scope is applied by
:mod:`punchd.app.absences` (outside it: 404, like missing); a form whose values cannot be used
comes back with the problem next to its field (400) and nothing saved.

Every change form carries a one-time token besides the CSRF token: the same form sent twice
(a double click, a resent POST) is done once, and the second answer is the first one's
redirect (:func:`punchd.web.forms.once`; the console is one process). The application's own checks
(overlapping leave, a manual punch in the same minute) refuse what gets past it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from punchd import logs
from punchd.app import absences, access, people
from punchd.errors import PunchdError
from punchd.web import forms
from punchd.web.auth import Caller, PageNotFound, actor_of, console, requires, scope_of
from punchd.web.console import Console
from punchd.web.i18n import N_

log = logs.get_logger(component="web")
router = APIRouter(include_in_schema=False)

ConsoleDep = Annotated[Console, Depends(console)]
HR = "hr.change"
TEXT = 1000

#: the application's words for a form problem, for the catalogue (shown translated)
APP_WORDS = (
    N_("required"),
    N_("not a date"),
    N_("not a date and time"),
    N_("before the first day"),
    N_("at most %(days)s days at a time"),
    N_("at most %(n)s characters"),
    N_("no control characters"),
    N_("give both ends as dates or both as dates and times"),
    N_("ends before it starts"),
    N_("at most %(max)s days at a time; this is %(days)s days"),
    N_("choose at least one employee"),
    N_("at most %(n)s people at a time"),
    N_("%(employee)s left: the last day was %(day)s; leave after it is not needed"),
    N_("%(employee)s was hired on %(day)s; leave before it is not possible"),
    N_("%(employee)s already has leave at this time: %(kind)s %(span)s"),
    N_("%(employee)s left: the last day was %(day)s"),
    N_("before the hire date %(day)s"),
    N_("not one of the choices"),
    N_("already void"),
    N_("not void"),
)
#: punch states and sources in words
STATE_WORDS = {
    "in": N_("in"),
    "out": N_("out"),
    "break_out": N_("break out"),
    "break_in": N_("break in"),
    "ot_in": N_("overtime in"),
    "ot_out": N_("overtime out"),
    "unknown": N_("not given"),
}
SOURCE_WORDS = {"device": N_("device"), "manual": N_("manual"), "import": N_("import")}
ACTION_WORDS = {
    "add": N_("added"),
    "remove": N_("cancelled"),
    "void": N_("voided"),
    "unvoid": N_("made valid again"),
}
#: suggested leave types (any other text is accepted too)
LEAVE_KINDS = ("annual", "sick", "personal", "marriage", "maternity", "trip")
KIND_WORDS = {
    "annual": N_("annual leave"),
    "sick": N_("sick leave"),
    "personal": N_("personal leave"),
    "marriage": N_("marriage leave"),
    "maternity": N_("maternity leave"),
    "trip": N_("business trip"),
}
WORDS = {
    "state_words": STATE_WORDS,
    "source_words": SOURCE_WORDS,
    "action_words": ACTION_WORDS,
    "kind_words": KIND_WORDS,
    "leave_kinds": LEAVE_KINDS,
    "punch_states": absences.PUNCH_STATES,
}


def _problem(text: str) -> absences.Problem:
    return absences.Problem(text)


def _now(c: Console) -> datetime:
    local = c.local(c.now())
    assert local is not None
    return local


def _date(text: str) -> date | None:
    """A date field's value; None when empty; ValueError when it is not a date."""
    text = text.strip()
    return date.fromisoformat(text) if text else None


def _when(text: str) -> datetime | None:
    """A datetime-local field (YYYY-MM-DDTHH:MM[:SS]); ValueError when it is not one."""
    text = text.strip()
    if not text:
        return None
    if len(text) < 16:  # a date alone is not a time
        raise ValueError(text)
    return datetime.fromisoformat(text.replace(" ", "T")).replace(tzinfo=None, microsecond=0)


def _see_other(path: str, params: dict[str, str]) -> RedirectResponse:
    query = urlencode({k: v for k, v in params.items() if v})
    return RedirectResponse(f"{path}?{query}" if query else path, status_code=303)


# ------------------------------------------------------------------------ one-time forms

#: a row id as a form sends it (longer would overflow the column: as missing as any other)
_ID = re.compile(r"[0-9]{1,9}")
_BIG_ID = re.compile(r"[0-9]{1,18}")

# ------------------------------------------------------------------------------------ leave

LEAVE_FIELDS = ("kind", "span", "start_day", "end_day", "start_at", "end_at", "note", "employee")


def _default_range(today: date) -> tuple[date, date]:
    """This month and the next."""
    first = today.replace(day=1)
    after = (first + timedelta(days=62)).replace(day=1)
    return first, after - timedelta(days=1)


@dataclass
class _LeaveAsked:
    department: str = ""
    employee: str = ""
    date_from: str = ""
    date_to: str = ""

    def params(self) -> dict[str, str]:
        return {
            "department": self.department,
            "employee": self.employee,
            "from": self.date_from,
            "to": self.date_to,
        }


def _leave_page(
    request: Request,
    c: Console,
    caller: Caller,
    asked: _LeaveAsked,
    *,
    values: dict[str, str] | None = None,
    chosen: list[str] | None = None,
    problems: forms.Problems | None = None,
    done: str = "",
    status: int = 200,
) -> Response:
    scope = scope_of(caller)
    today = _now(c).date()
    default_from, default_to = _default_range(today)
    problems = dict(problems or {})
    filters: dict[str, absences.Problem] = {}
    try:
        date_from = _date(asked.date_from) or default_from
    except ValueError:
        filters["from"], date_from = _problem("not a date"), default_from
    try:
        date_to = _date(asked.date_to) or max(default_to, date_from)
    except ValueError:
        filters["to"], date_to = _problem("not a date"), max(default_to, date_from)
    leave: list[absences.LeaveEntry] = []
    try:
        leave = absences.list_leave_in(
            c.site,
            scope,
            date_from,
            date_to,
            department=asked.department or None,
            employee_no=asked.employee or None,
        )
    except access.NotFound:
        raise PageNotFound() from None
    except absences.FormProblems as exc:
        filters.update(exc.problems)
    changes = absences.leave_changes_in(
        c.site, scope, department=asked.department or None, employee_no=asked.employee or None
    )
    offered = (
        absences.employees_for_leave(c.site, scope, asked.department, date_from)
        if asked.department
        else []
    )
    defaults = {
        "span": "days",
        "start_day": date_from.isoformat() if date_from > today else today.isoformat(),
        "employee": asked.employee,
    }
    defaults["end_day"] = defaults["start_day"]
    context = {
        "asked": asked,
        "date_from": date_from,
        "date_to": date_to,
        "leave": leave,
        "changes": changes,
        "offered": offered,
        "chosen": set(chosen or ()),
        "values": {**defaults, **(values or {})},
        "problems": problems,
        "filters": filters,
        "done": done,
        "once": forms.new_token(),
        "tree": people.department_tree(c.site, scope, counted=False),
        # the list's filter, sent back with every form of the page
        "back": {
            "department": asked.department,
            "list_employee": asked.employee,
            "from": asked.date_from,
            "to": asked.date_to,
        },
        "describe": describe,
        **WORDS,
    }
    if filters and status == 200:
        status = 400
    return c.render(request, "absences_leave.html", context, status=status)


@router.get("/people/leave")
def leave_list(
    request: Request,
    c: ConsoleDep,
    caller: Annotated[Caller, requires(HR)],
    department: Annotated[str, Query(max_length=200)] = "",
    employee: Annotated[str, Query(max_length=200)] = "",
    date_from: Annotated[str, Query(alias="from", max_length=40)] = "",
    date_to: Annotated[str, Query(alias="to", max_length=40)] = "",
    done: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    asked = _LeaveAsked(department.strip(), employee.strip(), date_from, date_to)
    return _leave_page(request, c, caller, asked, done=done)


def _leave_span(
    values: dict[str, str],
) -> tuple[date | datetime | None, date | datetime | None, dict[str, absences.Problem]]:
    """The leave's two ends from the form: dates (full days) or dates and times."""
    problems: dict[str, absences.Problem] = {}
    start: date | datetime | None = None
    end: date | datetime | None = None
    # a value that is not a date stays None: the application then finds it "required",
    # and the problem here ("not a date") is the one shown
    if values["span"] == "times":
        try:
            start = _when(values["start_at"])
        except ValueError:
            problems["start"] = _problem("not a date and time")
        try:
            end = _when(values["end_at"])
        except ValueError:
            problems["end"] = _problem("not a date and time")
    else:
        try:
            start = _date(values["start_day"])
        except ValueError:
            problems["start"] = _problem("not a date")
        try:
            end = _date(values["end_day"]) or start
        except ValueError:
            problems["end"] = _problem("not a date")
    return start, end, problems


def _redirect_range(
    asked: _LeaveAsked, start: date | datetime, end: date | datetime
) -> _LeaveAsked:
    """The list's filter, widened to show the leave just entered."""
    first = start.date() if isinstance(start, datetime) else start
    last = end.date() if isinstance(end, datetime) else end
    try:
        date_from = min(_date(asked.date_from) or first, first)
        date_to = max(_date(asked.date_to) or last, last)
    except ValueError:
        date_from, date_to = first, last
    if (date_to - date_from).days >= absences.MAX_LIST_DAYS:
        date_from, date_to = first, last
    return _LeaveAsked(asked.department, asked.employee, date_from.isoformat(), date_to.isoformat())


@router.post("/people/leave")
def add_leave(
    request: Request,
    c: ConsoleDep,
    caller: Annotated[Caller, requires(HR)],
    kind: Annotated[str, Form(max_length=TEXT)] = "",
    span: Annotated[str, Form(max_length=20)] = "days",
    start_day: Annotated[str, Form(max_length=40)] = "",
    end_day: Annotated[str, Form(max_length=40)] = "",
    start_at: Annotated[str, Form(max_length=40)] = "",
    end_at: Annotated[str, Form(max_length=40)] = "",
    note: Annotated[str, Form(max_length=TEXT)] = "",
    employee: Annotated[str, Form(max_length=TEXT)] = "",
    employees: Annotated[list[str] | None, Form()] = None,
    department: Annotated[str, Form(max_length=200)] = "",
    list_employee: Annotated[str, Form(max_length=200)] = "",
    date_from: Annotated[str, Form(alias="from", max_length=40)] = "",
    date_to: Annotated[str, Form(alias="to", max_length=40)] = "",
    once: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    values = {
        "kind": kind,
        "span": "times" if span == "times" else "days",
        "start_day": start_day,
        "end_day": end_day,
        "start_at": start_at,
        "end_at": end_at,
        "note": note,
        "employee": employee,
    }
    chosen = list(employees or [])
    numbers = chosen + [n for n in re.split(r"[\s,;，；]+", employee) if n]
    asked = _LeaveAsked(department.strip(), list_employee.strip(), date_from, date_to)

    def work() -> Response:
        start, end, problems = _leave_span(values)
        try:
            if problems:  # checked like the rest: someone out of scope is a 404 whatever else
                absences.add_leave_in(
                    c.site, scope_of(caller), numbers, kind, start, end, actor=actor_of(caller)
                )
            added = absences.add_leave_in(
                c.site,
                scope_of(caller),
                numbers,
                kind,
                start,
                end,
                note=note,
                actor=actor_of(caller),
                now=_now(c),
            )
        except access.NotFound:
            raise PageNotFound() from None
        except PunchdError as exc:
            shown, status = forms.refusal(exc, "start")
            shown.update(problems)  # the dates this page could not read, over the rest
            return _leave_page(
                request,
                c,
                caller,
                asked,
                values=values,
                chosen=chosen,
                problems=shown,
                status=status,
            )
        assert start is not None and end is not None
        log.info("leave entered", people=len(added.ids), account=actor_of(caller).name)
        done = "added" if added.refreshed.ok else "added-stale"
        return _see_other(
            "/people/leave", {**_redirect_range(asked, start, end).params(), "done": done}
        )

    return forms.once(request, caller, once, work)


@router.post("/people/leave/cancel")
def cancel_leave(
    request: Request,
    c: ConsoleDep,
    caller: Annotated[Caller, requires(HR)],
    leave_id: Annotated[str, Form(max_length=20)] = "",
    department: Annotated[str, Form(max_length=200)] = "",
    list_employee: Annotated[str, Form(max_length=200)] = "",
    date_from: Annotated[str, Form(alias="from", max_length=40)] = "",
    date_to: Annotated[str, Form(alias="to", max_length=40)] = "",
    once: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    asked = _LeaveAsked(department.strip(), list_employee.strip(), date_from, date_to)

    def work() -> Response:
        if not _ID.fullmatch(leave_id.strip()):
            raise PageNotFound()
        try:
            refreshed = absences.cancel_leave_in(
                c.site, scope_of(caller), int(leave_id), actor=actor_of(caller), now=_now(c)
            )
        except access.NotFound:
            raise PageNotFound() from None
        except PunchdError as exc:
            problems, status = forms.refusal(exc)
            return _leave_page(request, c, caller, asked, problems=problems, status=status)
        done = "cancelled" if refreshed.ok else "cancelled-stale"
        return _see_other("/people/leave", {**asked.params(), "done": done})

    return forms.once(request, caller, once, work)


# ---------------------------------------------------------------------------------- punches


def _punches_page(
    request: Request,
    c: Console,
    caller: Caller,
    employee: str,
    date_from: str,
    date_to: str,
    *,
    values: dict[str, str] | None = None,
    problems: forms.Problems | None = None,
    form: str = "",
    done: str = "",
    status: int = 200,
) -> Response:
    today = _now(c).date()
    filters: dict[str, absences.Problem] = {}
    try:
        last = _date(date_to) or today
    except ValueError:
        filters["to"], last = _problem("not a date"), today
    try:
        first = _date(date_from) or last - timedelta(days=6)
    except ValueError:
        filters["from"], first = _problem("not a date"), last - timedelta(days=6)
    page: absences.PunchPage | None = None
    if employee:
        try:
            page = absences.punches_in(c.site, scope_of(caller), employee, first, last)
        except access.NotFound:
            raise PageNotFound() from None
        except absences.FormProblems as exc:
            filters.update(exc.problems)
            page = absences.punches_in(c.site, scope_of(caller), employee, last, last)
    context = {
        "employee": employee,
        "page": page,
        "date_from": first,
        "date_to": last,
        "asked": {"employee": employee, "from": date_from, "to": date_to},
        "back": {"employee": employee, "from": first.isoformat(), "to": last.isoformat()},
        "values": {"state": "unknown", **(values or {})},
        "problems": problems or {},
        "filters": filters,
        "form": form,
        "done": done,
        "once": forms.new_token(),
        "describe": describe,
        **WORDS,
    }
    if filters and status == 200:
        status = 400
    return c.render(request, "absences_punches.html", context, status=status)


@router.get("/people/punches")
def punch_list(
    request: Request,
    c: ConsoleDep,
    caller: Annotated[Caller, requires(HR)],
    employee: Annotated[str, Query(max_length=200)] = "",
    date_from: Annotated[str, Query(alias="from", max_length=40)] = "",
    date_to: Annotated[str, Query(alias="to", max_length=40)] = "",
    done: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    return _punches_page(request, c, caller, employee.strip(), date_from, date_to, done=done)


def _punch_change(
    request: Request,
    c: Console,
    caller: Caller,
    employee: str,
    back: tuple[str, str],
    form: str,
    values: dict[str, str],
    once: str,
    change: Callable[[], absences.PunchChanged],
    done: str,
) -> Response:
    def work() -> Response:
        try:
            changed = change()
        except access.NotFound:
            raise PageNotFound() from None
        except PunchdError as exc:
            # a refusal (a closed month) stands next to the time of a new punch, else the reason
            problems, status = forms.refusal(exc, "at" if form == "add" else "reason")
            return _punches_page(
                request,
                c,
                caller,
                employee,
                *back,
                values=values,
                problems=problems,
                form=form,
                status=status,
            )
        date_from, date_to = back
        try:
            first, last = _date(date_from), _date(date_to)
        except ValueError:
            first = last = None
        if first is None or last is None or not first <= changed.day <= last:
            first = last = changed.day  # the day of the punch, so that it is shown
        params = {"employee": employee, "from": first.isoformat(), "to": last.isoformat()}
        return _see_other(
            "/people/punches", {**params, "done": done if changed.refreshed.ok else f"{done}-stale"}
        )

    return forms.once(request, caller, once, work)


@router.post("/people/punches")
def add_punch(
    request: Request,
    c: ConsoleDep,
    caller: Annotated[Caller, requires(HR)],
    employee: Annotated[str, Form(max_length=200)] = "",
    at: Annotated[str, Form(max_length=40)] = "",
    state: Annotated[str, Form(max_length=20)] = "unknown",
    reason: Annotated[str, Form(max_length=TEXT)] = "",
    date_from: Annotated[str, Form(alias="from", max_length=40)] = "",
    date_to: Annotated[str, Form(alias="to", max_length=40)] = "",
    once: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    values = {"at": at, "state": state, "reason": reason}
    employee = employee.strip()

    def change() -> absences.PunchChanged:
        try:
            when, bad = _when(at), False
        except ValueError:
            when, bad = None, True
        try:
            return absences.add_punch_in(
                c.site,
                scope_of(caller),
                employee,
                when,
                reason=reason,
                state=state,
                actor=actor_of(caller),
                now=_now(c),
            )
        except absences.FormProblems as exc:
            if bad:  # checked after the employee: out of scope is a 404 whatever was typed
                exc.problems["at"] = _problem("not a date and time")
            raise

    back = (date_from, date_to)
    return _punch_change(request, c, caller, employee, back, "add", values, once, change, "added")


def _punch_id(text: str) -> int:
    if not _BIG_ID.fullmatch(text.strip()):
        raise PageNotFound()
    return int(text)


@router.post("/people/punches/void")
def void_punch(
    request: Request,
    c: ConsoleDep,
    caller: Annotated[Caller, requires(HR)],
    employee: Annotated[str, Form(max_length=200)] = "",
    punch_id: Annotated[str, Form(max_length=20)] = "",
    reason: Annotated[str, Form(max_length=TEXT)] = "",
    date_from: Annotated[str, Form(alias="from", max_length=40)] = "",
    date_to: Annotated[str, Form(alias="to", max_length=40)] = "",
    once: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    employee = employee.strip()

    def change() -> absences.PunchChanged:
        return absences.void_punch_in(
            c.site,
            scope_of(caller),
            employee,
            _punch_id(punch_id),
            reason=reason,
            actor=actor_of(caller),
            now=_now(c),
        )

    values = {"void_reason": reason}
    form = f"void-{punch_id.strip()}"
    back = (date_from, date_to)
    return _punch_change(request, c, caller, employee, back, form, values, once, change, "voided")


@router.post("/people/punches/unvoid")
def unvoid_punch(
    request: Request,
    c: ConsoleDep,
    caller: Annotated[Caller, requires(HR)],
    employee: Annotated[str, Form(max_length=200)] = "",
    punch_id: Annotated[str, Form(max_length=20)] = "",
    reason: Annotated[str, Form(max_length=TEXT)] = "",
    date_from: Annotated[str, Form(alias="from", max_length=40)] = "",
    date_to: Annotated[str, Form(alias="to", max_length=40)] = "",
    once: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    employee = employee.strip()

    def change() -> absences.PunchChanged:
        return absences.unvoid_punch_in(
            c.site,
            scope_of(caller),
            employee,
            _punch_id(punch_id),
            reason=reason,
            actor=actor_of(caller),
            now=_now(c),
        )

    form = f"unvoid-{punch_id.strip()}"
    back = (date_from, date_to)
    return _punch_change(request, c, caller, employee, back, form, {}, once, change, "unvoided")


def describe(change: absences.Change) -> dict[str, Any]:
    """The audit detail's values worth showing, by name (for the templates)."""
    keep = ("employee_no", "kind", "start", "end", "start_at", "end_at", "punched_at", "state")
    return {k: change.detail[k] for k in keep if change.detail.get(k) not in (None, "")}
