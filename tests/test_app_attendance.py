"""The attendance operations of the application layer (:mod:`punchd.app.attendance`),
called directly: process, build a report, refresh — on every backend."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from punchd.app import Actor, attendance
from punchd.app import Site as AppSite
from punchd.config import Settings
from punchd.errors import PunchdError
from punchd.processing import requeue
from punchd.processing.runner import ProcessError
from punchd.reports.build import ReportError

from .test_process import MON, SUN, TUE, WED, Site, at, build_site, days_of, present

ACTOR = Actor("hr")


@pytest.fixture
def site(engine: Engine, tmp_path: Path) -> tuple[Site, AppSite]:
    return build_site(engine), AppSite(Settings(data_dir=tmp_path), engine)


def queue_rows(engine: Engine) -> list[tuple]:
    with engine.connect() as c:
        return [(r.employee_id, r.date_from, r.date_to) for r in requeue.pending(c)]


def test_process_settles_the_queue(site: tuple[Site, AppSite]) -> None:
    week, app = site
    with app.transaction() as c:  # covered by the run: forgotten, not processed twice
        requeue.enqueue(c, employee_id=week.emp["E1"], date_from=TUE, date_to=TUE, reason="t")
    done = attendance.process(app, MON, SUN, actor=ACTOR)
    assert (done.summary.employees, done.summary.employee_days) == (4, 28)
    assert done.refreshed is not None and done.refreshed.ok
    assert done.refreshed.drained is not None and done.refreshed.drained.changes == 0
    assert done.calendar_warnings == []
    assert queue_rows(app.engine) == []
    assert days_of(app.engine, week.emp["E1"])[0] == present(
        MON, at(MON, "07:55"), at(MON, "17:02")
    )


def test_process_without_settling_leaves_the_queue(site: tuple[Site, AppSite]) -> None:
    week, app = site
    with app.transaction() as c:
        requeue.enqueue(c, employee_id=week.emp["E1"], date_from=WED, date_to=WED, reason="t")
    done = attendance.process(app, MON, TUE, employees=["E1"], actor=ACTOR, settle=False)
    assert done.refreshed is None and done.summary.employee_days == 2
    assert queue_rows(app.engine) == [(week.emp["E1"], WED, WED)]


def test_process_refusals_and_failures_are_punchd_errors(
    site: tuple[Site, AppSite], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, app = site
    with pytest.raises(ProcessError, match="unknown department 'XX'"):
        attendance.process(app, MON, SUN, department="XX", actor=ACTOR)

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(attendance, "run_process", broken)
    with pytest.raises(attendance.ProcessingFailed, match="processing failed: RuntimeError: disk"):
        attendance.process(app, MON, SUN, actor=ACTOR)
    assert issubclass(attendance.ProcessingFailed, PunchdError)


def test_report_marks_stale_days_when_the_refresh_fails(
    site: tuple[Site, AppSite], monkeypatch: pytest.MonkeyPatch
) -> None:
    week, app = site
    attendance.process(app, MON, SUN, actor=ACTOR)
    built = attendance.build_report(app, "detail", MON, SUN, employees=["E1"])
    assert built.refreshed is not None and built.refreshed.ok and built.stale == 0
    assert [c.header for c in built.report.columns][-1] == "Exceptions"
    assert len(built.report.rows) == 7

    with app.transaction() as c:
        requeue.enqueue(c, employee_id=week.emp["E1"], date_from=TUE, date_to=WED, reason="t")

    def broken(*args, **kwargs):
        raise RuntimeError("rules are broken\nsecond line")

    monkeypatch.setattr(requeue, "drain_all", broken)
    built = attendance.build_report(app, "detail", MON, SUN, employees=["E1"])
    assert built.refreshed is not None
    assert built.refreshed.error == "RuntimeError: rules are broken"
    assert built.stale == 2
    assert [row[-1] for row in built.report.rows] == ["", "yes", "yes", "", "", "", ""]
    monthly = attendance.build_report(app, "summary", MON, SUN, employees=["E1"])
    assert monthly.stale == 2 and monthly.report.columns[-1].header == "Stale days"
    # without settling: the results as they stand, unmarked
    plain = attendance.build_report(app, "detail", MON, SUN, settle=False)
    assert plain.refreshed is None and plain.report.columns[-1].header == "Exceptions"


def test_report_refusals(site: tuple[Site, AppSite]) -> None:
    _, app = site
    with pytest.raises(ReportError, match="unknown employee number"):
        attendance.build_report(app, "detail", MON, SUN, employees=["NOPE"])
    with pytest.raises(ReportError, match="unknown department"):
        attendance.build_report(app, "summary", MON, SUN, department="XX")
    with pytest.raises(ReportError, match="before"):
        attendance.build_report(app, "detail", SUN, MON)


def test_latest_punches(site: tuple[Site, AppSite]) -> None:
    _, app = site
    rows = attendance.latest_punches(app, "gate", 2)
    assert len(rows) == 2 and rows[0].punched_at >= rows[1].punched_at
    assert attendance.latest_punches(app, "nowhere") == []
