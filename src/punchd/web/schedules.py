"""The console's schedule pages (排班): a department's month grid — people by days, the
shift of each person-day as processing plans it — with its batch fill, a department's
schedule from a date, and one person-day's form, for the accounts with ``hr.change``.

Every read and change goes through :mod:`punchd.app.schedule_grid`, which applies the
scope (a department or person outside it is a 404 like a missing one). A change is saved
and audited there, then the days it queued are processed again here (as the CLI does after
``punchd schedule …``). A form whose values cannot be used is shown again with the problem
next to its field (400), and nothing is saved. No JavaScript is needed: each cell is a link.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from punchd import logs
from punchd.app import access
from punchd.app import schedule_grid as grid
from punchd.app.attendance import refresh
from punchd.app.forms import FormProblems
from punchd.app.people import department_tree
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
#: the shift field's value for a rest day (shift codes are the rules file's words)
REST = "~rest"
#: the longest list of staff numbers the selection takes
MAX_PEOPLE = 2000
#: the years a date may name (beyond them a month's neighbours or margins overflow)
YEARS = range(1900, 3000)

#: the application's words for a form problem, for the catalogue (shown translated)
APP_WORDS = (
    N_("no shift with this code"),
    N_("choose at least one person"),
    N_("not in this department"),
    N_("not a date (YYYY-MM-DD)"),
    N_("the days must lie within the month shown"),
    N_("ends before it starts"),
    N_("a department schedule needs a shift; rest days are set for chosen days"),
)
#: what a cell's kind is called
KIND_WORDS = {
    "workday": N_("working day"),
    "rest": N_("rest day"),
    "holiday": N_("holiday"),
    "unscheduled": N_("no schedule"),
    "not_employed": N_("not employed"),
}
OVERRIDE_WORDS = {
    "employee": N_("temporary schedule of the person"),
    "department": N_("temporary schedule of the department"),
}


def _month(text: str, c: Console) -> date:
    """``YYYY-MM`` → its first day; anything else: this month."""
    try:
        year, month = (int(part) for part in text.split("-"))
        if year in YEARS:
            return date(year, month, 1)
    except ValueError:
        pass
    return c.today().replace(day=1)


def _date(text: str) -> date | None:
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        return None
    return day if day.year in YEARS else None


def _numbers(text: str) -> list[str]:
    """Staff numbers separated by commas, spaces or new lines."""
    return [n for n in text.replace(",", " ").split() if n][:MAX_PEOPLE]


def _grid_url(code: str, month: date, **more: str | int) -> str:
    query = urlencode({"month": f"{month:%Y-%m}", **more})
    return f"/schedules/department/{quote(code, safe='')}?{query}"


def _grid_page(
    request: Request,
    c: Console,
    caller: Caller,
    code: str | None,
    month: date,
    *,
    selection: str = "",
    values: dict[str, object] | None = None,
    problems: forms.Problems | None = None,
    status: int = 200,
) -> Response:
    scope = scope_of(caller)
    tree = department_tree(c.site, scope, counted=False)
    if code is None:  # /schedules: the first department the account sees
        code = tree[0].department.code if tree else None
    found = None
    if code is not None:
        try:
            found = grid.month_grid(c.site, scope, code, month, employee_nos=_numbers(selection))
        except access.NotFound:
            raise PageNotFound() from None
    saved = request.query_params.get("saved", "")
    context = {
        "grid": found,
        "colours": {s.code: s.colour for s in found.shifts} if found else {},
        "tree": tree,
        "month": month,
        "selection": selection,
        "values": values or {},
        "problems": problems or {},
        "saved": int(saved) if saved.isdigit() else None,
        "rest": REST,
        "kind_words": KIND_WORDS,
        "override_words": OVERRIDE_WORDS,
        "grid_url": _grid_url,
        "today": c.today(),
    }
    return c.render(request, "schedules_grid.html", context, status=status)


@router.get("/schedules")
def schedules_home(
    request: Request,
    c: ConsoleDep,
    caller: Annotated[Caller, requires(HR)],
    month: Annotated[str, Query(max_length=20)] = "",
    department: Annotated[str, Query(max_length=TEXT)] = "",
    people: Annotated[str, Query(max_length=TEXT * 20)] = "",
) -> Response:
    """The grid of the department chosen in its form (default: the first one seen)."""
    return _grid_page(request, c, caller, department or None, _month(month, c), selection=people)


@router.get("/schedules/department/{dept_code:path}")
def schedules_grid(
    request: Request,
    dept_code: str,
    c: ConsoleDep,
    caller: Annotated[Caller, requires(HR)],
    month: Annotated[str, Query(max_length=20)] = "",
    people: Annotated[str, Query(max_length=TEXT * 20)] = "",
) -> Response:
    return _grid_page(request, c, caller, dept_code, _month(month, c), selection=people)


def _after_change(c: Console, caller: Caller) -> None:
    """The days the change queued, processed again now (a failure leaves them queued)."""
    refreshed = refresh(c.site, actor_of(caller))
    if not refreshed.ok:
        log.warning("re-processing after a schedule change failed", error=refreshed.error)


def _shift_value(value: str) -> str | None:
    return None if value == REST else value.strip()


@router.post("/schedules/fill/{dept_code:path}")
def schedules_fill(
    request: Request,
    dept_code: str,
    c: ConsoleDep,
    caller: Annotated[Caller, requires(HR)],
    month: Annotated[str, Form(max_length=20)] = "",
    shift: Annotated[str, Form(max_length=TEXT)] = "",
    date_from: Annotated[str, Form(max_length=40)] = "",
    date_to: Annotated[str, Form(max_length=40)] = "",
    people: Annotated[list[str] | None, Form()] = None,
    selection: Annotated[str, Form(max_length=TEXT * 20)] = "",
) -> Response:
    first = _month(month, c)
    chosen = [n for n in (people or []) if n][:MAX_PEOPLE]
    values: dict[str, object] = {
        "shift": shift,
        "date_from": date_from,
        "date_to": date_to,
        "people": set(chosen),
    }
    try:
        changed = grid.fill_days(
            c.site,
            scope_of(caller),
            dept_code,
            shift_code=_shift_value(shift),
            employee_nos=chosen,
            date_from=_date(date_from),
            date_to=_date(date_to),
            month=first,
            actor=actor_of(caller),
        )
    except access.NotFound:
        raise PageNotFound() from None
    except PunchdError as exc:
        problems, status = forms.refusal(exc, "shift")
        return _grid_page(
            request,
            c,
            caller,
            dept_code,
            first,
            selection=selection,
            values=values,
            problems=problems,
            status=status,
        )
    _after_change(c, caller)
    more: dict[str, str | int] = {"saved": changed}
    if selection:
        more["people"] = selection
    return RedirectResponse(_grid_url(dept_code, first, **more), status_code=303)


@router.post("/schedules/assign/{dept_code:path}")
def schedules_assign(
    request: Request,
    dept_code: str,
    c: ConsoleDep,
    caller: Annotated[Caller, requires(HR)],
    month: Annotated[str, Form(max_length=20)] = "",
    schedule_shift: Annotated[str, Form(max_length=TEXT)] = "",
    start: Annotated[str, Form(max_length=40)] = "",
    until: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    first = _month(month, c)
    values: dict[str, object] = {"schedule_shift": schedule_shift, "start": start, "until": until}
    problems: dict[str, str] = {}
    end = None
    if until.strip():
        end = _date(until)
        if end is None:
            problems["until"] = grid.NOT_A_DATE
    try:
        if problems:
            raise FormProblems(problems)
        added = grid.assign_department(
            c.site,
            scope_of(caller),
            dept_code,
            shift_code=_shift_value(schedule_shift),
            date_from=_date(start),
            date_to=end,
            actor=actor_of(caller),
        )
    except access.NotFound:
        raise PageNotFound() from None
    except PunchdError as exc:
        shown, status = forms.refusal(exc, "schedule_shift")
        return _grid_page(
            request, c, caller, dept_code, first, values=values, problems=shown, status=status
        )
    _after_change(c, caller)
    return RedirectResponse(_grid_url(dept_code, first, saved=added), status_code=303)


# ------------------------------------------------------------------------ one person-day


def _cell_page(
    request: Request,
    c: Console,
    caller: Caller,
    employee_no: str,
    day: date,
    back: str,
    *,
    values: dict[str, str] | None = None,
    problems: forms.Problems | None = None,
    status: int = 200,
) -> Response:
    try:
        detail = grid.cell_detail(c.site, scope_of(caller), employee_no, day)
    except access.NotFound:
        raise PageNotFound() from None
    current = detail.cell.shift_code if detail.cell.kind == "workday" else REST
    context = {
        "detail": detail,
        "back": back or detail.department_code,
        "values": values or {"shift": current or REST},
        "problems": problems or {},
        "rest": REST,
        "kind_words": KIND_WORDS,
        "override_words": OVERRIDE_WORDS,
        "grid_url": _grid_url,
    }
    return c.render(request, "schedules_cell.html", context, status=status)


@router.get("/schedules/cell/{employee_no:path}")
def schedules_cell(
    request: Request,
    employee_no: str,
    c: ConsoleDep,
    caller: Annotated[Caller, requires(HR)],
    day: Annotated[str, Query(max_length=40)] = "",
    back: Annotated[str, Query(max_length=TEXT)] = "",
) -> Response:
    return _cell_page(request, c, caller, employee_no, _date(day) or c.today(), back)


@router.post("/schedules/cell/{employee_no:path}")
def schedules_cell_change(
    request: Request,
    employee_no: str,
    c: ConsoleDep,
    caller: Annotated[Caller, requires(HR)],
    day: Annotated[str, Form(max_length=40)] = "",
    shift: Annotated[str, Form(max_length=TEXT)] = "",
    action: Annotated[str, Form(max_length=20)] = "set",
    back: Annotated[str, Form(max_length=TEXT)] = "",
) -> Response:
    scope = scope_of(caller)
    when = _date(day)
    shown = when or c.today()
    values = {"shift": shift}
    try:
        if when is None:
            # the person must be visible before a problem about their day is shown
            grid.cell_detail(c.site, scope, employee_no, shown)
            raise FormProblems({"day": grid.NOT_A_DATE})
        if action == "clear":
            grid.clear_day(c.site, scope, employee_no, when, actor=actor_of(caller))
        else:
            grid.set_day(
                c.site,
                scope,
                employee_no,
                when,
                shift_code=_shift_value(shift),
                actor=actor_of(caller),
            )
    except access.NotFound:
        raise PageNotFound() from None
    except PunchdError as exc:
        problems, status = forms.refusal(exc, "shift")
        return _cell_page(
            request,
            c,
            caller,
            employee_no,
            shown,
            back,
            values=values,
            problems=problems,
            status=status,
        )
    _after_change(c, caller)
    detail = grid.cell_detail(c.site, scope, employee_no, when)
    target = detail.department_code
    # the grid it was opened from, if the account sees that department
    if back and any(
        n.department.code == back for n in department_tree(c.site, scope, counted=False)
    ):
        target = back
    return RedirectResponse(_grid_url(target, when.replace(day=1), saved=1), status_code=303)
