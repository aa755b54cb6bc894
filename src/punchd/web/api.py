"""The JSON API (``/api/v1``): the same operations and scopes as the pages, for
integrations. Bearer tokens from ``punchd users token`` / :func:`accounts.create_api_token`;
session cookies are not accepted here, so no CSRF token is needed."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field

from punchd.app import Actor
from punchd.errors import PunchdError
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
    status: str = Field(description="ok | failing | never | disabled | collecting")
    consecutive_failures: int
    last_run_at: str | None = Field(description="site wall-clock time, ISO 8601")
    last_run_status: str | None
    last_success_at: str | None
    last_failure_at: str | None
    last_error: str | None
    punch_count: int
    last_punch_at: str | None = Field(description="the device's wall-clock time")
    clock_drift_seconds: float | None
    drift_warning: bool
    next_poll_at: str | None
    being_collected_by_daemon: bool


class Notice(BaseModel):
    code: str = Field(description="what kind of line (punchd.notices.CODES)")
    params: dict[str, str | int | float] = Field(description="its values")
    text: str = Field(description="the English sentence")


class Clocks(BaseModel):
    timezone: str
    clocks: list[Clock]
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


@router.get("/me")
def me(caller: Annotated[Caller, api_requires(SIGNED_IN)]) -> Me:
    """The account the token belongs to and what it may do."""
    a, scope = caller.account, caller.scope
    assert a is not None and scope is not None
    from punchd.app import access

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
    """Every device: status, last run, punches stored, clock drift, lease."""
    rows, warnings, attention, summary = views.clock_rows(c)
    return Clocks(
        timezone=summary.timezone,
        clocks=[Clock(**r.as_json()) for r in rows],
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
