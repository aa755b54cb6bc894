"""The processing shell: punch → employee mapping, att_day / att_exception replacement,
the month summary view, re-processing after collection (hooks) — on every backend."""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine

from punchd.collector.daemon import Daemon
from punchd.collector.hooks import DatabaseProcessing, NoProcessing, default_hooks
from punchd.config import load_settings
from punchd.processing import requeue
from punchd.processing.requeue import touched_days
from punchd.processing.runner import ProcessError
from punchd.storage import results as results_store
from punchd.storage.schema import (
    att_audit,
    att_day,
    att_employee,
    att_exception,
    att_punch,
)

from .helpers.rows import (
    add_employee,
    add_period,
    add_punch,
    add_schedule,
    add_shift,
)
from .helpers.week import (
    FRI,
    MON,
    SAT,
    SUN,
    THU,
    TUE,
    WED,
    Site,
    absent,
    all_rows,
    at,
    build_site,
    days_of,
    findings_of,
    present,
    rest,
    run,
)


@pytest.fixture
def site(engine: Engine) -> Site:
    return build_site(engine)


# ------------------------------------------------------------------------------ tests


def test_exact_rows_by_enroll_number_manual_and_void(site: Site) -> None:
    summary = run(site)
    assert (summary.employees, summary.employee_days) == (4, 28)
    e1 = site.emp["E1"]
    assert days_of(site.engine, e1) == [
        present(MON, at(MON, "07:55"), at(MON, "17:02")),
        present(TUE, at(TUE, "08:12", 30), at(TUE, "16:40"), worked=508, late=12, early=20),
        present(WED, at(WED, "07:58"), at(WED, "17:00")),  # manual punches
        # the voided 17:05 does not count: missing check-out = 60 minutes early
        present(THU, at(THU, "08:00"), at(THU, "08:00"), worked=480, early=60, missing=1),
        absent(FRI),  # the card clock's "101" is nobody's card
        rest(SAT),
        rest(SUN),
    ]
    assert findings_of(site.engine, e1) == [
        (TUE, "DAY", "late", 12, "in 08:12, start 08:00"),
        (TUE, "DAY", "early", 20, "out 16:40, end 17:00"),
        (THU, "DAY", "missing_out", 60, "no check-out; counted as 60 min early"),
        (FRI, "DAY", "absent", 540, "no punches"),
    ]
    e2 = site.emp["E2"]
    assert days_of(site.engine, e2)[:3] == [
        present(MON, at(MON, "07:58"), at(MON, "17:00")),
        present(TUE, at(TUE, "08:30"), at(TUE, "17:00"), worked=510, late=30),
        absent(WED),
    ]


def test_card_maps_to_its_holder_at_punch_time(site: Site) -> None:
    run(site)
    e3, e4 = site.emp["E3"], site.emp["E4"]
    assert days_of(site.engine, e3)[:4] == [
        absent(MON),
        present(TUE, at(TUE, "07:50"), at(TUE, "17:10")),
        # 07:59 was still E3's card; 17:10 already E4's
        present(WED, at(WED, "07:59"), at(WED, "07:59"), worked=480, early=60, missing=1),
        absent(THU),
    ]
    assert days_of(site.engine, e4)[:5] == [
        absent(MON),
        absent(TUE),
        # in by enroll number on the normal clock, out with the card it now holds
        present(WED, at(WED, "07:45"), at(WED, "17:10")),
        present(THU, at(THU, "07:50"), at(THU, "17:10")),
        absent(FRI),
    ]


def test_unknown_person_kept_and_mapped_once_on_the_roster(site: Site) -> None:
    run(site)
    with site.engine.connect() as c:
        kept = c.execute(
            select(func.count()).select_from(att_punch).where(att_punch.c.enroll_no == "999")
        ).scalar_one()
        assert kept == 2
        assert c.execute(select(func.count()).select_from(att_day)).scalar_one() == 28
    with site.engine.begin() as c:
        e9 = add_employee(c, "E9", "新人", site.dept["OFF"], "999", hire=date(2024, 3, 1))
    # what a collection does: here, as if the clock had just sent them
    with site.engine.begin() as c:
        requeue.enqueue_punches(
            c, "gate", [("999", at(MON, "07:50")), ("999", at(MON, "17:05"))], reason="punches"
        )
    DatabaseProcessing().drain(site.engine)
    assert days_of(site.engine, e9) == [present(MON, at(MON, "07:50"), at(MON, "17:05"))]
    with site.engine.connect() as c:
        assert (
            c.execute(
                select(func.count()).select_from(att_punch).where(att_punch.c.employee_id == e9)
            ).scalar_one()
            == 0
        )  # the mapping is never stored


def test_reprocessing_is_idempotent(site: Site) -> None:
    first = run(site)
    days1, exc1 = all_rows(site.engine)
    second = run(site)
    days2, exc2 = all_rows(site.engine)
    assert (first.employee_days, first.exceptions) == (second.employee_days, second.exceptions)
    assert len(days2) == len(days1) == 28
    assert len(exc2) == len(exc1) == first.exceptions

    def strip_day(r: tuple) -> tuple:  # without id and processed_at
        return r[1:-1]

    def strip_exc(r: tuple) -> tuple:
        return r[1:]

    assert sorted(map(strip_day, days2)) == sorted(map(strip_day, days1))
    assert sorted(map(strip_exc, exc2)) == sorted(map(strip_exc, exc1))
    with site.engine.connect() as c:
        dup = c.execute(
            select(att_day.c.employee_id, att_day.c.work_date)
            .group_by(att_day.c.employee_id, att_day.c.work_date)
            .having(func.count() > 1)
        ).all()
    assert dup == []


def test_subset_leaves_other_rows_untouched(site: Site) -> None:
    run(site)
    before, _ = all_rows(site.engine)
    with site.engine.begin() as c:  # both E1 and E2 come in on Friday
        add_punch(c, site.device["gate"], "101", at(FRI, "07:59"))
        add_punch(c, site.device["gate"], "101", at(FRI, "17:00"))
        add_punch(c, site.device["gate"], "102", at(FRI, "07:59"))
        add_punch(c, site.device["gate"], "102", at(FRI, "17:00"))
    summary = run(site, FRI, FRI, employee_nos=["E1"])
    assert (summary.employees, summary.employee_days) == (1, 1)
    after, _ = all_rows(site.engine)
    e1 = site.emp["E1"]
    changed = [r for r in after if r not in before]
    assert [(r[1], r[2], r[4]) for r in changed] == [(e1, FRI, "present")]
    assert [r for r in before if r not in after] == [
        r for r in before if r[1] == e1 and r[2] == FRI
    ]
    assert days_of(site.engine, site.emp["E2"])[4] == absent(FRI)  # not re-processed

    summary = run(site, MON, SUN, department="FAC")
    assert summary.employees == 2
    assert days_of(site.engine, site.emp["E2"])[4] == absent(FRI)
    run(site, MON, SUN, department="OFF")
    assert days_of(site.engine, site.emp["E2"])[4] == present(
        FRI, at(FRI, "07:59"), at(FRI, "17:00")
    )


def test_unknown_employee_or_department_is_an_error(site: Site) -> None:
    with pytest.raises(ProcessError, match=r"unknown employee number.*: NOPE"):
        run(site, employee_nos=["E1", "NOPE"])
    with pytest.raises(ProcessError, match="unknown department 'XX'"):
        run(site, department="XX")
    with pytest.raises(ProcessError, match="before"):
        run(site, SUN, MON)
    with site.engine.connect() as c:
        assert c.execute(select(func.count()).select_from(att_day)).scalar_one() == 0


def test_replacement_is_atomic(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    run(site)
    before = all_rows(site.engine)
    with site.engine.begin() as c:
        add_punch(c, site.device["gate"], "102", at(WED, "08:00"))
        add_punch(c, site.device["gate"], "102", at(WED, "17:00"))
    real = results_store.insert_rows

    def failing(conn, table, rows):
        real(conn, table, rows)  # att_day goes in, then the exceptions fail
        if table is att_exception:
            raise RuntimeError("disk full")

    monkeypatch.setattr(results_store, "insert_rows", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        run(site)
    assert all_rows(site.engine) == before  # the old result, complete
    with site.engine.connect() as c:
        assert c.execute(select(func.count()).select_from(att_audit)).scalar_one() == 1
    monkeypatch.setattr(results_store, "insert_rows", real)
    run(site)
    assert days_of(site.engine, site.emp["E2"])[2] == present(
        WED, at(WED, "08:00"), at(WED, "17:00")
    )


def test_audit_row_per_run(site: Site) -> None:
    run(site, employee_nos=["E1", "E2"], actor="hr-li")
    with site.engine.connect() as c:
        rows = c.execute(select(att_audit)).mappings().all()
    assert len(rows) == 1
    row = rows[0]
    assert (row["changed_by"], row["action"], row["entity"], row["entity_key"]) == (
        "hr-li",
        "process",
        "att_day",
        "2024-03-04..2024-03-10",
    )
    detail = json.loads(row["detail"])
    assert detail["employees"] == 2
    assert detail["employee_days"] == 14
    assert detail["exceptions"] == len(findings_of(site.engine, site.emp["E1"])) + len(
        findings_of(site.engine, site.emp["E2"])
    )
    assert detail["employee_nos"] == ["E1", "E2"]
    assert detail["trigger"] == "manual"


def test_open_check_out_window_is_incomplete_not_absent(site: Site) -> None:
    run(site, FRI, FRI, now=at(FRI, "12:00"))
    assert days_of(site.engine, site.emp["E2"]) == [
        (FRI, "OFFICE", "incomplete", 540, 0, 0, 0, 0, 0, 0, 0, 0, 0, None, None)
    ]
    run(site, FRI, FRI, now=at(FRI, "21:01"))  # the check-out window closed at 21:00
    assert days_of(site.engine, site.emp["E2"]) == [absent(FRI)]


def test_separated_employee_rows_removed_on_full_run(site: Site) -> None:
    run(site)
    with site.engine.begin() as c:
        c.execute(
            att_employee.update()
            .where(att_employee.c.id == site.emp["E2"])
            .values(separation_date=TUE)
        )
    run(site)
    assert [r[0] for r in days_of(site.engine, site.emp["E2"])] == [MON, TUE]


def test_month_summary_view_sums(site: Site) -> None:
    run(site)
    with site.engine.connect() as c:
        row = (
            c.execute(text("SELECT * FROM att_month_summary WHERE employee_no = 'E1'"))
            .mappings()
            .one()
        )
    assert row["employee_name"] == "张三"
    assert row["department_code"] == "OFF"
    assert row["month"] == "2024-03"
    expected = {
        "days": 7,
        "present_days": 4,
        "absent_days": 1,
        "leave_days": 0,
        "holiday_days": 0,
        "rest_days": 2,
        "incomplete_days": 0,
        "late_days": 1,
        "early_days": 2,
        "scheduled_minutes": 5 * 540,
        "worked_minutes": 540 + 508 + 540 + 480,
        "late_minutes": 12,
        "early_minutes": 80,
        "absent_minutes": 540,
        "leave_minutes": 0,
        "overtime_minutes": 0,
        "holiday_overtime_minutes": 0,
        "rest_overtime_minutes": 0,
        "missing_punches": 1,
    }
    assert {k: int(row[k]) for k in expected} == expected


def test_touched_days_follow_the_rules_reach(site: Site) -> None:
    with site.engine.connect() as c:
        assert touched_days(c, "gate", [("101", at(TUE, "08:00"))]) == {site.emp["E1"]: {TUE}}
        # 23:58: a punch up to collapse_minutes earlier can make a next-day punch a duplicate
        assert touched_days(c, "gate", [("101", at(TUE, "23:58"))]) == {site.emp["E1"]: {TUE, WED}}
        assert touched_days(c, "gate", [("999", at(TUE, "08:00"))]) == {}  # nobody's
        assert touched_days(c, "cards", [("C-7", at(TUE, "08:00"))]) == {site.emp["E3"]: {TUE}}
        assert touched_days(c, "cards", [("C-7", at(THU, "08:00"))]) == {site.emp["E4"]: {THU}}
        assert touched_days(c, "nowhere", [("101", at(TUE, "08:00"))]) == {}
    with site.engine.begin() as c:  # a 22:00–06:00 guard period reaches into the morning
        guard = add_period(c, "GUARD", 1320, 1800)
        night = add_shift(c, "NIGHT", {i: [guard] for i in range(7)})
        add_schedule(c, night, employee_id=site.emp["E2"], date_from=date(2024, 3, 1))
    with site.engine.connect() as c:
        # (the reach is the site's widest: anyone's check-out window is open until 10:00:59)
        assert touched_days(c, "gate", [("101", at(TUE, "09:00"))]) == {site.emp["E1"]: {MON, TUE}}
        assert touched_days(c, "gate", [("101", at(TUE, "10:01"))]) == {site.emp["E1"]: {TUE}}


def test_reprocess_hook_processes_exactly_the_touched_days(site: Site) -> None:
    run(site)
    before, _ = all_rows(site.engine)
    with site.engine.begin() as c:
        add_punch(c, site.device["gate"], "102", at(WED, "07:58"))
        add_punch(c, site.device["gate"], "102", at(WED, "17:01"))
        add_punch(c, site.device["gate"], "102", at(FRI, "07:58"))
        add_punch(c, site.device["cards"], "C-7", at(FRI, "08:01"))
        requeue.enqueue_punches(
            c,
            "gate",
            [("102", at(WED, "07:58")), ("102", at(WED, "17:01")), ("102", at(FRI, "07:58"))],
            reason="punches",
        )
    done = DatabaseProcessing().drain(site.engine)
    assert done is not None and (done.changes, done.employees, done.employee_days) == (2, 1, 2)
    after, _ = all_rows(site.engine)
    e2 = site.emp["E2"]
    replaced = sorted((r[1], r[2]) for r in before if r not in after)
    assert replaced == [(e2, WED), (e2, FRI)]
    assert sorted((r[1], r[2]) for r in after if r not in before) == replaced
    assert days_of(site.engine, e2)[2] == present(WED, at(WED, "07:58"), at(WED, "17:01"))
    assert days_of(site.engine, e2)[4] == present(
        FRI, at(FRI, "07:58"), at(FRI, "07:58"), worked=480, early=60, missing=1
    )
    # the card punch on Friday was not announced: E4's Friday is unchanged (absent)
    assert days_of(site.engine, site.emp["E4"])[4] == absent(FRI)
    with site.engine.connect() as c:
        triggers = [
            json.loads(d)["trigger"]
            for d in c.execute(select(att_audit.c.detail).order_by(att_audit.c.id)).scalars()
        ]
    assert triggers == ["manual", "reprocess", "reprocess"]  # Wednesday, Friday


def test_close_day_judges_the_last_days_for_everyone(site: Site) -> None:
    DatabaseProcessing(timezone="Asia/Shanghai").close_day(site.engine, FRI)
    with site.engine.connect() as c:
        got = c.execute(
            select(att_day.c.work_date, func.count())
            .group_by(att_day.c.work_date)
            .order_by(att_day.c.work_date)
        ).all()
        detail = json.loads(c.execute(select(att_audit.c.detail)).scalar_one())
    assert [tuple(r) for r in got] == [(WED, 4), (THU, 4), (FRI, 4)]
    assert detail["trigger"] == "close_day"
    assert days_of(site.engine, site.emp["E1"])[-1] == absent(FRI)


def test_daemon_processes_by_default(tmp_path, db_url: str) -> None:
    settings = load_settings(None, data_dir=tmp_path, timezone="Asia/Shanghai")
    assert isinstance(default_hooks(settings), DatabaseProcessing)
    assert default_hooks(settings).timezone == "Asia/Shanghai"
    from punchd.storage.database import make_engine

    engine = make_engine(db_url)
    try:
        daemon = Daemon(settings, engine)
        assert isinstance(daemon.hooks, DatabaseProcessing)
        assert daemon.hooks.timezone == "Asia/Shanghai"
        assert isinstance(Daemon(settings, engine, hooks=NoProcessing()).hooks, NoProcessing)
    finally:
        engine.dispose()


def test_manual_collection_reprocesses_what_it_stored(site: Site) -> None:
    """collect_device queues the days of what it stored, in the same transaction; a drain
    (what `punchd collect` and the daemon do next) re-processes exactly those."""
    from punchd.collector.collect import collect_device
    from punchd.drivers.zk.driver import ZKConfig
    from punchd.drivers.zk.simulator import SimPunch, SimUser, ZKSimulator

    run(site)
    before, _ = all_rows(site.engine)
    users = [SimUser(uid=1, user_id="102", name="Li")]
    punches = [SimPunch("102", at(WED, "07:58")), SimPunch("102", at(WED, "17:01"), punch=1)]
    with ZKSimulator(port=0, users=users, punches=punches) as sim:
        cfg = ZKConfig(name="gate", driver="zk", host="127.0.0.1", port=sim.port, timeout=2)
        result = collect_device(site.engine, cfg)
    assert result.ok and result.records_new == 2, result.error
    with site.engine.connect() as c:
        assert [(r.employee_id, r.date_from, r.date_to) for r in requeue.pending(c)] == [
            (site.emp["E2"], WED, WED)
        ]
    DatabaseProcessing().drain(site.engine)
    after, _ = all_rows(site.engine)
    e2 = site.emp["E2"]
    assert sorted((r[1], r[2]) for r in before if r not in after) == [(e2, WED)]
    assert days_of(site.engine, e2)[2] == present(WED, at(WED, "07:58"), at(WED, "17:01"))


def test_drain_failure_is_logged_and_keeps_the_queue(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("rules table is broken")

    with site.engine.begin() as c:
        requeue.enqueue_punches(c, "gate", [("101", at(MON, "08:00"))], reason="punches")
    monkeypatch.setattr(requeue, "process_employees", broken)
    assert DatabaseProcessing().drain(site.engine) is None  # logged, not raised
    with site.engine.connect() as c:
        assert requeue.backlog(c) == 1  # still stale, for the next drain
