"""The console's rules pages: what is loaded (settings, periods, shifts, schedules, the
calendar's years), the loaded rules as a rules file, a rules file uploaded, checked and
compared with what is loaded before it is loaded, and the holidays of a year.

``rules.view`` reads (admin, HR, payroll); ``rules.change`` uploads, loads and edits the
holidays (admin, HR). Rules are site-wide: an HR account assigned some departments reads them
but changes nothing — its change pages answer 404, like a page that is not there
(:func:`punchd.app.rules_console.can_change_rules`). A checked upload waits for its confirm
in the console's memory (:class:`punchd.web.uploads.UploadStore`, one per session); the
confirm holds the upload's lock, so a confirm sent twice loads once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from punchd import logs
from punchd.app import access
from punchd.app import rules as ops
from punchd.app import rules_console as rc
from punchd.app.attendance import refresh
from punchd.errors import PunchdError
from punchd.web import forms
from punchd.web.auth import Caller, PageNotFound, actor_of, console, requires, scope_of
from punchd.web.console import Console
from punchd.web.i18n import N_
from punchd.web.uploads import Upload, UploadStore

log = logs.get_logger(component="web")
router = APIRouter(include_in_schema=False)

ConsoleDep = Annotated[Console, Depends(console)]
VIEW = "rules.view"
CHANGE = "rules.change"
TEXT = 1000
FIRST_YEAR, LAST_YEAR = 1900, 2199

SECTION_WORDS = {
    "setting": N_("Settings"),
    "period": N_("Periods"),
    "shift": N_("Shifts"),
    "schedule": N_("Schedules"),
    "holiday": N_("Holidays and make-up workdays"),
    "override": N_("Temporary schedules"),
}
WHAT_WORDS = {"added": N_("added"), "changed": N_("changed"), "removed": N_("removed")}
DONE_WORDS = {
    "added": N_("The date is entered."),
    "unchanged": N_("The date was already entered like this."),
    "removed": N_("The date is removed."),
    "confirmed": N_("The year is confirmed as the official calendar."),
}
CHOOSE_FILE = N_("Choose a rules file (TOML).")
EMPTY_FILE = N_("The file is empty.")
BAD_DATE = N_("a date, YYYY-MM-DD")
IN_USE = N_("tick the box to remove what is in use")
NOT_ENTERED = N_("no holiday or make-up workday is entered on this date")


WEEKDAYS = (N_("Mon"), N_("Tue"), N_("Wed"), N_("Thu"), N_("Fri"), N_("Sat"), N_("Sun"))


def _clock(minutes: int | None) -> str:
    """Minutes after a work date's midnight as a time of day (``+1 06:00``: the next day)."""
    if minutes is None:
        return ""
    days, rest = divmod(minutes, 1440)
    text = f"{rest // 60:02d}:{rest % 60:02d}"
    return f"{days:+d} {text}" if days else text


def _setting(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


@dataclass(frozen=True)
class _Unconfirmed:
    """A year's "not confirmed" warning as a notice, worded in the reader's language by
    :mod:`punchd.web.notices` (the status line stays below it as the detail)."""

    params: dict[str, str | int | float]
    text: str
    code: str = "calendar_unconfirmed"


def _unconfirmed(status: Any) -> _Unconfirmed | None:
    return _Unconfirmed({"year": status.year}, status.line) if status.attention else None


def uploads(request: Request) -> UploadStore:
    return request.app.state.rules_uploads


def _changer(caller: Caller) -> None:
    """Changing the rules is for the whole site: a department-scoped account gets 404."""
    if not rc.can_change_rules(scope_of(caller)):
        raise PageNotFound()


def _this_year(c: Console) -> int:
    local = c.local(c.now())
    assert local is not None
    return local.year


def _see_other(target: str) -> RedirectResponse:
    return RedirectResponse(target, status_code=303)


def _after_change(c: Console, caller: Caller, what: str) -> None:
    """Re-process the days the change queued (a failure is logged; the change stands)."""
    done = refresh(c.site, actor_of(caller))
    if not done.ok:
        log.warning("re-processing after a rules change failed", change=what)


# --------------------------------------------------------------------------- what is loaded


@router.get("/rules")
def rules_page(
    request: Request, c: ConsoleDep, caller: Annotated[Caller, requires(VIEW)]
) -> Response:
    year = _this_year(c)
    context = {
        "view": ops.show_rules(c.site),
        "statuses": ops.calendar_status(c.site, [year, year + 1]),
        "can_change": rc.can_change_rules(scope_of(caller)),
        "current": "rules",
        "unconfirmed": _unconfirmed,
        "clock": _clock,
        "setting": _setting,
        "weekdays": WEEKDAYS,
    }
    return c.render(request, "rules.html", context)


@router.get("/rules/rules.toml")
def download(c: ConsoleDep, caller: Annotated[Caller, requires(VIEW)]) -> Response:
    return Response(
        rc.rules_file_text(c.site).encode("utf-8"),
        media_type="application/toml; charset=utf-8",
        headers={"content-disposition": 'attachment; filename="rules.toml"'},
    )


# ------------------------------------------------------------------------- upload and load


def _upload_page(
    request: Request,
    c: Console,
    *,
    upload: Upload | None = None,
    problem: str | None = None,
    problems: forms.Problems | None = None,
    status: int = 200,
) -> Response:
    context = {
        "upload": upload,
        "problem": problem,
        "problems": problems or {},
        "max_bytes": min(c.site.settings.web.max_body_bytes, rc.MAX_FILE_BYTES),
        "section_words": SECTION_WORDS,
        "what_words": WHAT_WORDS,
        "can_change": True,
        "current": "upload",
    }
    return c.render(request, "rules_upload.html", context, status=status)


@router.get("/rules/upload")
def upload_form(
    request: Request, c: ConsoleDep, caller: Annotated[Caller, requires(CHANGE)]
) -> Response:
    _changer(caller)
    return _upload_page(request, c)


@router.post("/rules/upload")
async def upload(
    request: Request,
    c: ConsoleDep,
    caller: Annotated[Caller, requires(CHANGE)],
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    _changer(caller)
    if file is None or not file.filename:
        return _upload_page(request, c, problem=CHOOSE_FILE, status=400)
    # one byte more than a rules file may have is enough to refuse it
    data = await file.read(rc.MAX_FILE_BYTES + 1)
    if not data:
        return _upload_page(request, c, problem=EMPTY_FILE, status=400)
    assert caller.session is not None
    scope, filename = scope_of(caller), file.filename

    def check() -> rc.RulesCheck:
        return rc.check_rules_upload(c.site, scope, data, filename)

    try:
        checked = await run_in_threadpool(check)
    except access.NotFound:
        raise PageNotFound() from None
    kept = uploads(request).put(caller.session.id, checked.filename, checked, now=c.now())
    log.info(
        "rules file checked",
        problems=len(checked.problems),
        changes=checked.diff.changes if checked.diff else 0,
        account=actor_of(caller).name,
    )
    return _see_other(f"/rules/upload/{kept.id}")


def _upload_of(request: Request, c: Console, caller: Caller, upload_id: str) -> Upload:
    _changer(caller)
    assert caller.session is not None
    found = uploads(request).get(upload_id, caller.session.id, now=c.now())
    if found is None:
        raise PageNotFound()
    return found


@router.get("/rules/upload/{upload_id}")
def upload_checked(
    request: Request, upload_id: str, c: ConsoleDep, caller: Annotated[Caller, requires(CHANGE)]
) -> Response:
    found = _upload_of(request, c, caller, upload_id)
    return _upload_page(request, c, upload=found, status=200 if found.check.ok else 400)


@router.post("/rules/upload/{upload_id}/load")
def load(
    request: Request,
    upload_id: str,
    c: ConsoleDep,
    caller: Annotated[Caller, requires(CHANGE)],
    remove_in_use: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    found = _upload_of(request, c, caller, upload_id)
    check: rc.RulesCheck = found.check
    if not check.ok:
        return _upload_page(request, c, upload=found, status=400)
    with found.lock:  # a second confirm waits here, then finds the first one's result
        if found.result is None:
            try:
                found.result = rc.load_checked_rules(
                    c.site, scope_of(caller), check, remove_in_use=bool(remove_in_use),
                    actor=actor_of(caller),
                )  # fmt: skip
            except rc.InUse:
                return _upload_page(
                    request, c, upload=found, problems={"remove_in_use": IN_USE}, status=400
                )
            except access.NotFound:
                raise PageNotFound() from None
            except PunchdError as exc:
                return _upload_page(
                    request, c, upload=found, problem=logs.scrub(str(exc)), status=409
                )
            log.info(
                "rules file loaded",
                changes=found.result.changes,
                file=check.filename,
                account=actor_of(caller).name,
            )
            _after_change(c, caller, "load")
    return _see_other(f"/rules/upload/{found.id}")


# -------------------------------------------------------------------------------- holidays


def _holidays_page(
    request: Request,
    c: Console,
    caller: Caller,
    year: int,
    *,
    values: dict[str, str] | None = None,
    problems: forms.Problems | None = None,
    done: str | None = None,
    status: int = 200,
) -> Response:
    calendar: Any = None
    error = None
    try:
        calendar = ops.year_calendar(c.site, year)
    except PunchdError as exc:
        error = logs.scrub(str(exc))
    entered = {r.holiday_date for r in ops.list_holidays(c.site) if r.holiday_date.year == year}
    context = {
        "year": year,
        "calendar": calendar,
        "calendar_error": error,
        "unconfirmed": _unconfirmed(calendar.status) if calendar else None,
        "entered": entered,
        "can_change": rc.can_change_rules(scope_of(caller)),
        "values": values or {},
        "problems": problems or {},
        "done": done if done in DONE_WORDS else None,
        "done_words": DONE_WORDS,
        "current": "holidays",
    }
    return c.render(request, "rules_holidays.html", context, status=status)


@router.get("/rules/holidays")
def holidays_page(
    request: Request,
    c: ConsoleDep,
    caller: Annotated[Caller, requires(VIEW)],
    year: Annotated[int | None, Query(ge=FIRST_YEAR, le=LAST_YEAR)] = None,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    return _holidays_page(request, c, caller, year or _this_year(c), done=done)


def _day(text: str) -> date | None:
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        return None
    return day if FIRST_YEAR <= day.year <= LAST_YEAR else None


def _back(year: int, done: str) -> RedirectResponse:
    return _see_other(f"/rules/holidays?year={year}&done={done}")


@router.post("/rules/holidays/add")
def holiday_add(
    request: Request,
    c: ConsoleDep,
    caller: Annotated[Caller, requires(CHANGE)],
    day: Annotated[str, Form(max_length=TEXT)] = "",
    name: Annotated[str, Form(max_length=TEXT)] = "",
    workday: Annotated[str, Form(max_length=10)] = "",
    year: Annotated[int | None, Form(ge=FIRST_YEAR, le=LAST_YEAR)] = None,
) -> Response:
    _changer(caller)
    when = _day(day)
    shown = year or (when.year if when else _this_year(c))
    values = {"day": day, "name": name, "workday": workday}

    def again(problems: forms.Problems, status: int) -> Response:
        return _holidays_page(
            request, c, caller, shown, values=values, problems=problems, status=status
        )

    if when is None:
        return again({"day": BAD_DATE}, 400)
    try:
        what = rc.add_holiday_in(
            c.site, scope_of(caller), when, name=name, workday=bool(workday), actor=actor_of(caller)
        )
    except access.NotFound:
        raise PageNotFound() from None
    except PunchdError as exc:
        return again(*forms.refusal(exc, "name"))
    if what != "unchanged":
        _after_change(c, caller, "holiday")
    return _back(when.year, "unchanged" if what == "unchanged" else "added")


@router.post("/rules/holidays/remove")
def holiday_remove(
    request: Request,
    c: ConsoleDep,
    caller: Annotated[Caller, requires(CHANGE)],
    day: Annotated[str, Form(max_length=TEXT)] = "",
) -> Response:
    _changer(caller)
    when = _day(day)
    if when is None:
        return _holidays_page(
            request, c, caller, _this_year(c), problems={"remove": BAD_DATE}, status=400
        )
    if not any(r.holiday_date == when for r in ops.list_holidays(c.site)):
        # removed already (the same form sent twice), or never entered: nothing to do
        return _back(when.year, "removed")
    try:
        rc.remove_holiday_in(c.site, scope_of(caller), when, actor=actor_of(caller))
    except access.NotFound:
        raise PageNotFound() from None
    except PunchdError as exc:
        problems, status = forms.refusal(exc, "remove")
        return _holidays_page(request, c, caller, when.year, problems=problems, status=status)
    _after_change(c, caller, "holiday")
    return _back(when.year, "removed")


@router.post("/rules/holidays/confirm")
def year_confirm(
    request: Request,
    c: ConsoleDep,
    caller: Annotated[Caller, requires(CHANGE)],
    year: Annotated[int | None, Form(ge=FIRST_YEAR, le=LAST_YEAR)] = None,
) -> Response:
    _changer(caller)
    if year is None:
        return _holidays_page(
            request, c, caller, _this_year(c), problems={"confirm": N_("required")}, status=400
        )
    try:
        rc.confirm_year_in(c.site, scope_of(caller), year, actor=actor_of(caller))
    except access.NotFound:
        raise PageNotFound() from None
    except PunchdError as exc:
        problems, status = forms.refusal(exc, "confirm")
        return _holidays_page(request, c, caller, year, problems=problems, status=status)
    return _back(year, "confirmed")
