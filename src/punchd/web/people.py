"""The console's people pages: the department tree, the employee list, an employee (edit,
cards, separation) and the roster import, for the accounts with ``hr.change``.

Every route names its permission; the scope (all departments, or the assigned ones and
those below them) is applied by :mod:`punchd.app.people`, which answers an object outside
it exactly like a missing one (404 here). A form whose values cannot be used is shown again
with the problem next to its field (400), and nothing is saved.
"""

from __future__ import annotations

import tempfile
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from punchd import logs
from punchd.app import access, clock_people, people
from punchd.errors import PunchdError
from punchd.web import forms
from punchd.web.auth import Caller, PageNotFound, actor_of, console, requires, scope_of
from punchd.web.console import Console
from punchd.web.i18n import N_
from punchd.web.uploads import UploadStore

log = logs.get_logger(component="web")
router = APIRouter(include_in_schema=False)

ConsoleDep = Annotated[Console, Depends(console)]
HR = "hr.change"
#: a field's text, at most (longer is a problem shown next to the field, not a 400)
TEXT = 1000

#: the application's words for a form problem, for the catalogue (shown translated)
APP_WORDS = (
    N_("required"),
    N_("not one of your departments"),
    N_("required: a department you look after"),
    N_("a department with this code exists already"),
    N_("this department is one of those assigned to you"),
    N_("no leader account by this name"),
    N_("this is the only department the account leads; disable it instead"),
    N_("an employee with this number exists already"),
    N_("already used by an employee outside your departments"),
    N_("held by an employee outside your departments"),
    N_("the employee does not hold this card"),
    N_("belongs to a department outside yours"),
    N_("no control characters"),
    N_("required, but empty"),
)
#: roster columns and form fields in words
FIELD_NAMES = {
    "employee_no": N_("Staff no"),
    "name": N_("Name"),
    "department": N_("Department"),
    "department_name": N_("Department name"),
    "enroll_no": N_("Enrolment no"),
    "card_no": N_("Card no"),
    "hire_date": N_("Hire date"),
    "separation_date": N_("Separation date"),
}
STATUS_WORDS = {
    "current": N_("current staff"),
    "leavers": N_("leavers"),
    "all": N_("everyone"),
    "employed": N_("employed"),
    "leaver": N_("left"),
    "starts later": N_("starts later"),
}


def uploads(request: Request) -> UploadStore:
    return request.app.state.roster_uploads


def _see_other(target: str) -> RedirectResponse:
    return RedirectResponse(target, status_code=303)


def _q(value: str) -> str:
    return quote(value, safe="")


#: the words of the employee page's clocks (``clock_people``'s fields and audit actions)
CLOCK_WORDS = {
    "name": N_("name"),
    "card": N_("card"),
    "privilege": N_("privilege"),
    "enrol-add": N_("added"),
    "enrol-update": N_("changed"),
    "enrol-remove": N_("removed"),
    "enrol-template": N_("fingerprints copied"),
}

#: the words every people page shows
WORDS = {"field_names": FIELD_NAMES, "status_words": STATUS_WORDS}


# ------------------------------------------------------------------------- departments


def _departments_page(
    request: Request,
    c: Console,
    caller: Caller,
    *,
    values: dict[str, str] | None = None,
    problems: forms.Problems | None = None,
    status: int = 200,
) -> Response:
    scope = scope_of(caller)
    tree = people.department_tree(c.site, scope)
    context = {
        "tree": tree,
        "values": values or {},
        "problems": problems or {},
        "all_departments": scope.all_departments,
        **WORDS,
    }
    return c.render(request, "people_departments.html", context, status=status)


@router.get("/people/departments")
def departments(
    request: Request, c: ConsoleDep, caller: Annotated[Caller, requires(HR)]
) -> Response:
    return _departments_page(request, c, caller)


@router.post("/people/departments")
def add_department(
    request: Request,
    c: ConsoleDep,
    caller: Annotated[Caller, requires(HR)],
    code: Annotated[str, Form(max_length=TEXT)] = "",
    name: Annotated[str, Form(max_length=TEXT)] = "",
    parent: Annotated[str, Form(max_length=TEXT)] = "",
) -> Response:
    values = {"code": code, "name": name, "parent": parent}
    try:
        dept = people.add_department_in(
            c.site, scope_of(caller), code, name, parent or None, actor=actor_of(caller)
        )
    except PunchdError as exc:
        problems, status = forms.refusal(exc, "code")
        return _departments_page(
            request, c, caller, values=values, problems=problems, status=status
        )
    return _see_other(f"/people/department/{_q(dept.code)}")


def _department_page(
    request: Request,
    c: Console,
    caller: Caller,
    dept_code: str,
    *,
    problems: forms.Problems | None = None,
    status: int = 200,
) -> Response:
    scope = scope_of(caller)
    tree = people.department_tree(c.site, scope)
    node = next((n for n in tree if n.department.code == dept_code), None)
    if node is None:
        raise PageNotFound()
    # the departments it may go under: those seen, not itself or below it
    below: set[str] = set()
    depth = None
    for n in tree[tree.index(node) :]:
        if depth is not None and n.depth <= depth:
            break
        depth = node.depth if depth is None else depth
        below.add(n.department.code)
    context = {
        "node": node,
        "parents": [n for n in tree if n.department.code not in below],
        "can_move": scope.all_departments or node.depth > 0,
        "leader_accounts": [a for a in people.leader_accounts(c.site) if a not in node.leaders],
        "problems": problems or {},
        "all_departments": scope.all_departments,
        **WORDS,
    }
    return c.render(request, "people_department.html", context, status=status)


@router.get("/people/department/{dept_code:path}")
def department(
    request: Request, dept_code: str, c: ConsoleDep, caller: Annotated[Caller, requires(HR)]
) -> Response:
    return _department_page(request, c, caller, dept_code)


def _department_change(
    request: Request, c: Console, caller: Caller, dept_code: str, change: Any
) -> Response:
    try:
        change()
    except access.NotFound:
        raise PageNotFound() from None
    except PunchdError as exc:
        problems, status = forms.refusal(exc, "name")
        return _department_page(request, c, caller, dept_code, problems=problems, status=status)
    return _see_other(f"/people/department/{_q(dept_code)}")


@router.post("/people/rename-department/{dept_code:path}")
def rename_department(
    request: Request,
    dept_code: str,
    c: ConsoleDep,
    caller: Annotated[Caller, requires(HR)],
    name: Annotated[str, Form(max_length=TEXT)] = "",
) -> Response:
    def change() -> None:
        people.rename_department_in(
            c.site, scope_of(caller), dept_code, name, actor=actor_of(caller)
        )

    return _department_change(request, c, caller, dept_code, change)


@router.post("/people/move-department/{dept_code:path}")
def move_department(
    request: Request,
    dept_code: str,
    c: ConsoleDep,
    caller: Annotated[Caller, requires(HR)],
    parent: Annotated[str, Form(max_length=TEXT)] = "",
) -> Response:
    def change() -> None:
        people.move_department_in(
            c.site, scope_of(caller), dept_code, parent or None, actor=actor_of(caller)
        )

    return _department_change(request, c, caller, dept_code, change)


@router.post("/people/department-leader/{dept_code:path}")
def department_leader(
    request: Request,
    dept_code: str,
    c: ConsoleDep,
    caller: Annotated[Caller, requires(HR)],
    leader: Annotated[str, Form(max_length=TEXT)] = "",
    action: Annotated[str, Form(max_length=20)] = "add",
) -> Response:
    def change() -> None:
        people.set_department_leader(
            c.site,
            scope_of(caller),
            dept_code,
            leader,
            lead=action != "remove",
            actor=actor_of(caller),
        )

    return _department_change(request, c, caller, dept_code, change)


# ------------------------------------------------------------------------- employees


@router.get("/people/employees")
def employees(
    request: Request,
    c: ConsoleDep,
    caller: Annotated[Caller, requires(HR)],
    q: Annotated[str, Query(max_length=200)] = "",
    department: Annotated[str, Query(max_length=200)] = "",
    status: Annotated[str, Query(max_length=20)] = "current",
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> Response:
    scope = scope_of(caller)
    try:
        found = people.search_employees(
            c.site, scope, text=q, department=department or None, status=status, page=page
        )
    except access.NotFound:
        raise PageNotFound() from None
    status = status if status in people.STATUSES else "current"
    asked = {"q": q, "department": department, "status": status}

    def page_url(n: int) -> str:
        return "/people/employees?" + urlencode({**asked, "page": n})

    context = {
        "found": found,
        "asked": asked,
        "page_url": page_url,
        "statuses": people.STATUSES,
        "tree": people.department_tree(c.site, scope, counted=False),
        "today": c.today(),
        **WORDS,
    }
    return c.render(request, "people_employees.html", context)


EMPLOYEE_FIELDS = ("employee_no", "name", "department", "enroll_no", "card_no", "hire_date")


def _new_employee_page(
    request: Request,
    c: Console,
    caller: Caller,
    *,
    values: dict[str, str] | None = None,
    problems: forms.Problems | None = None,
    status: int = 200,
) -> Response:
    context = {
        "values": values or {},
        "problems": problems or {},
        "tree": people.department_tree(c.site, scope_of(caller), counted=False),
        **WORDS,
    }
    return c.render(request, "people_new_employee.html", context, status=status)


@router.get("/people/new-employee")
def new_employee_form(
    request: Request,
    c: ConsoleDep,
    caller: Annotated[Caller, requires(HR)],
    department: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    return _new_employee_page(request, c, caller, values={"department": department})


async def _form_values(request: Request, names: tuple[str, ...]) -> dict[str, str]:
    form = await request.form()
    values: dict[str, str] = {}
    for name in names:
        value = form.get(name)
        values[name] = value[:TEXT] if isinstance(value, str) else ""
    return values


@router.post("/people/new-employee")
async def new_employee(
    request: Request, c: ConsoleDep, caller: Annotated[Caller, requires(HR)]
) -> Response:
    values = await _form_values(request, EMPLOYEE_FIELDS)
    try:
        emp = people.save_employee(
            c.site, scope_of(caller), values, new=True, actor=actor_of(caller)
        )
    except PunchdError as exc:
        problems, status = forms.refusal(exc, "employee_no")
        return _new_employee_page(
            request, c, caller, values=values, problems=problems, status=status
        )
    return _see_other(f"/people/employee/{_q(emp.employee_no)}?done=added")


def _employee_page(
    request: Request,
    c: Console,
    caller: Caller,
    employee_no: str,
    *,
    values: dict[str, str] | None = None,
    problems: forms.Problems | None = None,
    form: str | None = None,
    status: int = 200,
    done: str | None = None,
) -> Response:
    scope = scope_of(caller)
    try:
        detail = people.employee_in_scope(c.site, scope, employee_no)
        # the clocks: what punchd last read of each, never a live call to one
        clocks = clock_people.employee_clocks(c.site, scope, employee_no, today=c.today())
    except (access.NotFound, people.HRError):
        raise PageNotFound() from None
    now = c.local(c.now())
    assert now is not None
    emp = detail.employee
    defaults = {
        "employee_no": emp.employee_no,
        "name": emp.name,
        "department": emp.department_code,
        "enroll_no": emp.enroll_no or "",
        "hire_date": emp.hire_date.isoformat(),
        "card_no": "",
        "at": now.strftime("%Y-%m-%dT%H:%M"),
        "on": (emp.separation_date or c.today()).isoformat(),
    }
    context = {
        "detail": detail,
        "emp": emp,
        "clocks": clocks,
        "clock_words": CLOCK_WORDS,
        "values": {**defaults, **(values or {})},
        "problems": problems or {},
        "form": form,
        "done": done,
        "tree": people.department_tree(c.site, scope, counted=False),
        **WORDS,
    }
    return c.render(request, "people_employee.html", context, status=status)


@router.get("/people/employee/{employee_no:path}")
def employee(
    request: Request,
    employee_no: str,
    c: ConsoleDep,
    caller: Annotated[Caller, requires(HR)],
    done: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    return _employee_page(request, c, caller, employee_no, done=done or None)


def _employee_change(
    request: Request,
    c: Console,
    caller: Caller,
    employee_no: str,
    form: str,
    values: dict[str, str],
    change: Any,
    done: str,
) -> Response:
    try:
        change()
    except access.NotFound:
        raise PageNotFound() from None
    except PunchdError as exc:
        problems, status = forms.refusal(exc)
        return _employee_page(
            request,
            c,
            caller,
            employee_no,
            values=values,
            problems=problems,
            form=form,
            status=status,
        )
    return _see_other(f"/people/employee/{_q(employee_no)}?done={done}")


@router.post("/people/edit-employee/{employee_no:path}")
async def edit_employee(
    request: Request, employee_no: str, c: ConsoleDep, caller: Annotated[Caller, requires(HR)]
) -> Response:
    values = await _form_values(request, EMPLOYEE_FIELDS)
    values["employee_no"] = employee_no

    def change() -> None:
        people.save_employee(c.site, scope_of(caller), values, new=False, actor=actor_of(caller))

    return _employee_change(request, c, caller, employee_no, "edit", values, change, "saved")


def _when(text: str) -> datetime | None:
    """A datetime-local field (YYYY-MM-DDTHH:MM[:SS]); ValueError when it is not one."""
    text = text.strip()
    if not text:
        return None
    return datetime.fromisoformat(text.replace(" ", "T")).replace(tzinfo=None, microsecond=0)


@router.post("/people/issue-card/{employee_no:path}")
def issue_card(
    request: Request,
    employee_no: str,
    c: ConsoleDep,
    caller: Annotated[Caller, requires(HR)],
    card_no: Annotated[str, Form(max_length=TEXT)] = "",
    at: Annotated[str, Form(max_length=TEXT)] = "",
) -> Response:
    values = {"card_no": card_no, "at": at}

    def change() -> None:
        try:
            when = _when(at)
        except ValueError:
            # the employee first: a bad time on someone out of scope is still a 404
            people.employee_in_scope(c.site, scope_of(caller), employee_no)
            raise people.FormProblems({"at": N_("not a date and time")}) from None
        if not card_no.strip():
            people.employee_in_scope(c.site, scope_of(caller), employee_no)
            raise people.FormProblems({"card_no": N_("required")})
        people.issue_card_in(
            c.site, scope_of(caller), employee_no, card_no, when, actor=actor_of(caller)
        )

    return _employee_change(request, c, caller, employee_no, "card", values, change, "card")


@router.post("/people/withdraw-card/{employee_no:path}")
def withdraw_card(
    request: Request,
    employee_no: str,
    c: ConsoleDep,
    caller: Annotated[Caller, requires(HR)],
    card_no: Annotated[str, Form(max_length=TEXT)] = "",
) -> Response:
    def change() -> None:
        people.withdraw_card_in(
            c.site, scope_of(caller), employee_no, card_no, actor=actor_of(caller)
        )

    values = {"withdraw": card_no}
    return _employee_change(
        request, c, caller, employee_no, "withdraw", values, change, "withdrawn"
    )


# ------------------------------------------------------------------------- separation


def _separation_page(
    request: Request,
    c: Console,
    caller: Caller,
    employee_no: str,
    on: date | None,
    *,
    undo: bool,
    problems: forms.Problems | None = None,
    status: int = 200,
) -> Response:
    try:
        plan = people.separation_plan(c.site, scope_of(caller), employee_no, None if undo else on)
    except access.NotFound:
        raise PageNotFound() from None
    except people.FormProblems as exc:  # a date before the hire date
        return _employee_page(
            request,
            c,
            caller,
            employee_no,
            values={"on": on.isoformat() if on else ""},
            problems=exc.problems,
            form="separate",
            status=400,
        )
    context = {
        "plan": plan,
        "undo": undo,
        "problems": problems or {},
        "next_day": date.fromordinal(on.toordinal() + 1) if on else None,
        **WORDS,
    }
    return c.render(request, "people_separation.html", context, status=status)


def _date(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


@router.get("/people/separate/{employee_no:path}")
def separation_form(
    request: Request,
    employee_no: str,
    c: ConsoleDep,
    caller: Annotated[Caller, requires(HR)],
    on: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    if not on.strip():  # no date yet: the employee's page, with the separation form
        return _employee_page(request, c, caller, employee_no, form="separate")
    day = _date(on)
    if day is None:
        try:
            people.employee_in_scope(c.site, scope_of(caller), employee_no)
        except (access.NotFound, people.HRError):
            raise PageNotFound() from None
        problems = {"on": N_("not a date")}
        values = {"on": on}
        return _employee_page(
            request,
            c,
            caller,
            employee_no,
            values=values,
            problems=problems,
            form="separate",
            status=400,
        )
    return _separation_page(request, c, caller, employee_no, day, undo=False)


@router.post("/people/separate/{employee_no:path}")
def separate(
    request: Request,
    employee_no: str,
    c: ConsoleDep,
    caller: Annotated[Caller, requires(HR)],
    on: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    day = _date(on)

    def change() -> None:
        if day is None:
            people.employee_in_scope(c.site, scope_of(caller), employee_no)
            raise people.FormProblems({"on": N_("not a date")})
        people.separate_in(c.site, scope_of(caller), employee_no, day, actor=actor_of(caller))

    values = {"on": on}
    return _employee_change(
        request, c, caller, employee_no, "separate", values, change, "separated"
    )


@router.get("/people/unseparate/{employee_no:path}")
def unseparation_form(
    request: Request, employee_no: str, c: ConsoleDep, caller: Annotated[Caller, requires(HR)]
) -> Response:
    return _separation_page(request, c, caller, employee_no, None, undo=True)


@router.post("/people/unseparate/{employee_no:path}")
def unseparate(
    request: Request, employee_no: str, c: ConsoleDep, caller: Annotated[Caller, requires(HR)]
) -> Response:
    def change() -> None:
        people.unseparate_in(c.site, scope_of(caller), employee_no, actor=actor_of(caller))

    return _employee_change(request, c, caller, employee_no, "separate", {}, change, "unseparated")


# ------------------------------------------------------------------------- roster import


def _roster_page(
    request: Request,
    c: Console,
    *,
    upload: Any = None,
    problem: str | None = None,
    status: int = 200,
) -> Response:
    context = {
        "upload": upload,
        "problem": problem,
        "max_rows": c.site.settings.max_roster_rows,
        "max_bytes": c.site.settings.web.max_body_bytes,
        **WORDS,
    }
    return c.render(request, "people_roster.html", context, status=status)


@router.get("/people/roster")
def roster_form(
    request: Request, c: ConsoleDep, caller: Annotated[Caller, requires(HR)]
) -> Response:
    return _roster_page(request, c)


def _template(kind: str) -> Response:
    with tempfile.TemporaryDirectory(prefix="punchd-template-") as tmp:
        path = Path(tmp) / f"roster.{kind}"
        for _written in people.write_roster_templates([path]):
            pass
        data = path.read_bytes()
    media = (
        "text/csv; charset=utf-8"
        if kind == "csv"
        else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    return Response(
        data,
        media_type=media,
        headers={"content-disposition": f'attachment; filename="roster-template.{kind}"'},
    )


@router.get("/people/roster-template.csv")
def roster_template_csv(caller: Annotated[Caller, requires(HR)]) -> Response:
    return _template("csv")


@router.get("/people/roster-template.xlsx")
def roster_template_xlsx(caller: Annotated[Caller, requires(HR)]) -> Response:
    return _template("xlsx")


@router.post("/people/roster")
async def roster_upload(
    request: Request,
    c: ConsoleDep,
    caller: Annotated[Caller, requires(HR)],
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    if file is None or not file.filename:
        return _roster_page(
            request, c, problem=N_("Choose a roster file (CSV or XLSX)."), status=400
        )
    data = await file.read()
    if not data:
        return _roster_page(request, c, problem=N_("The file is empty."), status=400)
    assert caller.session is not None
    scope, actor = scope_of(caller), actor_of(caller)

    def check() -> Any:
        roster = people.read_roster_upload(c.site.settings, data, file.filename or "upload")
        return people.check_roster_in(c.site, scope, roster, actor=actor)

    try:
        checked = await run_in_threadpool(check)
    except people.RosterFileError as exc:
        return _roster_page(request, c, problem=logs.scrub(str(exc)), status=400)
    upload = uploads(request).put(caller.session.id, Path(file.filename).name, checked, now=c.now())
    log.info(
        "roster checked",
        rows=checked.rows,
        errors=len(checked.errors),
        account=actor.name,
    )
    return _see_other(f"/people/roster/{upload.id}")


def _upload_of(request: Request, c: Console, caller: Caller, upload_id: str) -> Any:
    assert caller.session is not None
    upload = uploads(request).get(upload_id, caller.session.id, now=c.now())
    if upload is None:
        raise PageNotFound()
    return upload


@router.get("/people/roster/{upload_id}")
def roster_checked(
    request: Request, upload_id: str, c: ConsoleDep, caller: Annotated[Caller, requires(HR)]
) -> Response:
    upload = _upload_of(request, c, caller, upload_id)
    return _roster_page(request, c, upload=upload, status=400 if upload.check.errors else 200)


@router.post("/people/roster/{upload_id}/import")
def roster_import(
    request: Request, upload_id: str, c: ConsoleDep, caller: Annotated[Caller, requires(HR)]
) -> Response:
    upload = _upload_of(request, c, caller, upload_id)
    if upload.check.errors:
        return _roster_page(request, c, upload=upload, status=400)
    with upload.lock:  # a second confirm waits here, then finds the first one's result
        if upload.result is None:
            try:
                upload.result = people.import_roster_in(
                    c.site, scope_of(caller), upload.check.roster, actor=actor_of(caller)
                )
                upload.refused = None
                log.info("roster imported", rows=upload.check.rows, account=actor_of(caller).name)
            except people.RosterRejected as exc:
                upload.refused = exc.errors
            except PunchdError as exc:
                return _roster_page(
                    request, c, upload=upload, problem=logs.scrub(str(exc)), status=409
                )
    return _see_other(f"/people/roster/{upload.id}")
