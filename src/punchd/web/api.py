"""The JSON API (``/api/v1``): the same operations and scopes as the pages, for
integrations. Bearer tokens from ``punchd users token`` / :func:`accounts.create_api_token`;
session cookies are not accepted here, so no CSRF token is needed."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field

from punchd.app import Actor, access, results
from punchd.errors import InvalidInput, PunchdError
from punchd.web import views
from punchd.web.auth import SIGNED_IN, ApiNotFound, Caller, api_requires, console
from punchd.web.console import Console

router = APIRouter(tags=["punchd"])
ConsoleDep = Annotated[Console, Depends(console)]


class Me(BaseModel):
    name: str
    role: str
    departments: list[str]
    employee_no: str | None
    language: str | None
    permissions: list[str]


class Clock(BaseModel):
    name: str
    driver: str
    enabled: bool
    status: str = Field(
        description="ok | failing | never | disabled | collecting; push clocks: online | offline"
    )
    consecutive_failures: int
    last_run_at: str | None = Field(description="site wall-clock time, ISO 8601")
    last_run_status: str | None
    last_success_at: str | None
    last_failure_at: str | None
    last_error: str | None
    last_error_kind: str | None = Field(
        default=None,
        description="unreachable | auth_refused | timeout | transfer_broken | busy | "
        "not_supported | leased | database | cancelled | error",
    )
    punch_count: int
    last_punch_at: str | None = Field(description="the device's wall-clock time")
    clock_drift_seconds: float | None
    drift_warning: bool
    next_poll_at: str | None
    being_collected_by_daemon: bool
    owner: str | None = Field(
        default=None,
        description='the running daemon that collects it, "host (#id)"; null: none may '
        "(or a push clock)",
    )


class Notice(BaseModel):
    code: str = Field(description="what kind of line (punchd.notices.CODES)")
    params: dict[str, str | int | float] = Field(description="its values")
    text: str = Field(description="the English sentence")


class PendingClock(BaseModel):
    """A push clock whose serial number is not configured: refused until an admin adds it."""

    serial: str
    first_seen_at: str | None = Field(description="site wall-clock time, ISO 8601")
    last_seen_at: str | None = Field(description="site wall-clock time, ISO 8601")
    address: str | None = Field(description="the address it called from")
    requests: int = Field(description="calls counted so far")


class Clocks(BaseModel):
    timezone: str
    clocks: list[Clock]
    pending: list[PendingClock] = Field(
        description="push clocks with an unknown serial number, the most recently seen first"
    )
    warnings: list[str]
    attention: list[str] = Field(description="what needs attention, in English")
    notices: list[Notice] = Field(description="the same lines as codes and values")
    spool_backlog: int
    daemons_alive: int


class CollectRequest(BaseModel):
    devices: list[str] = Field(
        default_factory=list, max_length=1000, description="device names; empty: every enabled"
    )


class DeviceRun(BaseModel):
    name: str
    state: str = Field(description="waiting | running | busy | done | failed")
    done: int
    total: int
    records_read: int | None
    records_new: int | None
    duration_s: float | None
    error: str | None
    error_kind: str | None
    held_by: str | None


class Job(BaseModel):
    id: str
    state: str = Field(description="running | done")
    started_by: str
    started_at: datetime = Field(description="UTC")
    finished_at: datetime | None
    error: str | None
    devices: list[DeviceRun]


class DayException(BaseModel):
    work_date: date
    period: str | None
    kind: str = Field(description="late | early | absent | missing_in | missing_out | leave | …")
    minutes: int
    detail: str


class PersonDay(BaseModel):
    employee_no: str
    name: str
    status: str | None = Field(
        description="present | absent | leave | holiday | rest | incomplete; null: not processed"
    )
    shift_code: str | None
    first_punch: datetime | None = Field(description="wall-clock time, ISO 8601")
    last_punch: datetime | None
    worked_minutes: int | None
    late_minutes: int | None
    early_minutes: int | None
    absent_minutes: int | None
    leave_minutes: int | None
    overtime_minutes: int | None
    missing_punches: int | None
    exceptions: list[DayException]


class DepartmentGroup(BaseModel):
    code: str
    name: str
    parent_code: str | None
    depth: int = Field(description="0: the department asked for; 1: right below it; …")
    people: list[PersonDay]


class DepartmentDay(BaseModel):
    code: str
    name: str
    day: date
    today: date
    timezone: str
    groups: list[DepartmentGroup] = Field(
        description="the department, then every department below it (depth first)"
    )


class EmployeeDay(BaseModel):
    work_date: date
    shift_code: str | None
    status: str
    first_punch: datetime | None
    last_punch: datetime | None
    worked_minutes: int
    late_minutes: int
    early_minutes: int
    absent_minutes: int
    leave_minutes: int
    overtime_minutes: int
    missing_punches: int


class Punch(BaseModel):
    id: int
    punched_at: datetime = Field(description="the clock's wall-clock time (manual: the site's)")
    device: str | None = Field(description="null: a manual punch")
    source: str = Field(description="device | manual | import")
    state: str
    void: bool
    void_reason: str | None
    flag: str | None = Field(
        description="power_loss | future | after_leaving (by someone who had left): stored "
        "but not counted"
    )
    note: str | None


class EmployeeDays(BaseModel):
    employee_no: str
    name: str
    department_code: str
    department: str
    date_from: date
    date_to: date
    today: date
    timezone: str
    days: list[EmployeeDay] = Field(description="processed days, newest first")
    punches: list[Punch] = Field(description="newest first, void and flagged ones included")
    exceptions: list[DayException]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


@router.get("/me")
def me(caller: Annotated[Caller, api_requires(SIGNED_IN)]) -> Me:
    """The account the token belongs to and what it may do."""
    a, scope = caller.account, caller.scope
    assert a is not None and scope is not None
    return Me(
        name=a.name,
        role=a.role,
        departments=list(a.departments),
        employee_no=a.employee_no,
        language=a.language,
        permissions=sorted(access.PERMISSIONS.get(a.role, set())),
    )


@router.get("/clocks")
def clocks(c: ConsoleDep, caller: Annotated[Caller, api_requires("clocks.view")]) -> Clocks:
    """Every device: status, last run, punches stored, clock drift, lease; and the push
    clocks waiting to be accepted (unknown serial numbers that called in)."""
    rows, warnings, attention, summary = c.snapshots.get("clocks", lambda: views.clock_rows(c))
    return Clocks(
        timezone=summary.timezone,
        clocks=[Clock(**r.as_json()) for r in rows],
        pending=[
            PendingClock(
                serial=p.serial,
                first_seen_at=_iso(p.first_seen_at),
                last_seen_at=_iso(p.last_seen_at),
                address=p.address,
                requests=p.requests,
            )
            for p in summary.pending
        ],
        warnings=warnings,
        attention=[n.text for n in attention],
        notices=[Notice(code=n.code, params=n.params, text=n.text) for n in attention],
        spool_backlog=summary.spool_backlog,
        daemons_alive=len(summary.daemons),
    )


@router.post("/collect", status_code=202)
def collect(
    body: CollectRequest,
    c: ConsoleDep,
    caller: Annotated[Caller, api_requires("clocks.collect")],
) -> Job:
    """Collect the devices now (a job; poll ``GET /collect/{id}``). A device that a running
    job already collects is not collected twice: that job is returned."""
    configured = {d.name for d in c.site.settings.devices}
    if any(n not in configured for n in body.devices):
        raise ApiNotFound()
    assert caller.account is not None
    try:
        job = c.jobs.start(body.devices, Actor(caller.account.name))
    except PunchdError as exc:
        raise HTTPException(409, str(exc)) from None
    return Job(**job.snapshot())


@router.get("/collect/{job_id}")
def collect_job(
    job_id: str, c: ConsoleDep, caller: Annotated[Caller, api_requires("clocks.view")]
) -> Job:
    """A collect-now job: its state and each device's result."""
    job = c.jobs.get(job_id)
    if job is None:
        raise ApiNotFound()
    snap: dict[str, Any] = job.snapshot()
    return Job(**snap)


@router.get("/departments/{code:path}/day")
def department_day(
    code: str,
    c: ConsoleDep,
    caller: Annotated[Caller, api_requires("results.view")],
    day: Annotated[date | None, Query(alias="date", description="default: today")] = None,
) -> DepartmentDay:
    """A department's day: its people and those of the departments below it, with status,
    first/last punch, minutes and exceptions. A department outside the token's scope is
    as missing as an unknown one (404)."""
    assert caller.scope is not None
    try:
        view = results.department_day(c.site, caller.scope, code, day, today=c.today())
    except access.NotFound:
        raise ApiNotFound() from None
    return DepartmentDay(**dataclasses.asdict(view), timezone=c.site.zone.key)


@router.get("/employees/{no:path}/days")
def employee_days(
    no: str,
    c: ConsoleDep,
    # every role reaches the route; results.employee_days decides who sees whom
    caller: Annotated[Caller, api_requires(SIGNED_IN)],
    date_from: Annotated[date | None, Query(alias="from")] = None,
    date_to: Annotated[date | None, Query(alias="to")] = None,
) -> EmployeeDays:
    """One person's days, punches and exceptions (default the last 30 days, at most 92).
    Allowed: the result-reading roles for the employees of their scope, an employee for
    themselves; anyone else gets 404, exactly as for an unknown number."""
    assert caller.scope is not None
    try:
        view = results.employee_days(c.site, caller.scope, no, date_from, date_to, today=c.today())
    except access.NotFound:
        raise ApiNotFound() from None
    except InvalidInput as exc:
        raise HTTPException(400, str(exc)) from None
    return EmployeeDays(**dataclasses.asdict(view), timezone=c.site.zone.key)
