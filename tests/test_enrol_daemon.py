"""`punchd run` enrols by itself: `enrol apply` daily at ``[enrolment] daily_at`` (site time)
and after roster changes, when a device takes part (or ``daemon = "on"``). The scheduler is
never started running: jobs are looked at and called directly."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import Engine

from punchd.app import Actor, Site, people
from punchd.app.enrolment import daemon_enrolment
from punchd.collector.daemon import Daemon
from punchd.config import ConfigError, Settings, load_settings
from punchd.drivers.zk.simulator import ZKSimulator

SITE = "Asia/Shanghai"
HEADER = "employee_no,name,department,department_name,enroll_no,card_no,hire_date,separation_date"


def settings_for(tmp_path: Path, port: int, enrol: str = "all", **enrolment: object) -> Settings:
    device = {"name": "gate", "driver": "zk", "host": "127.0.0.1", "port": port, "timeout": 2}
    if enrol != "none":
        device["enrol"] = enrol
    return load_settings(
        None,
        data_dir=tmp_path / "data",
        timezone=SITE,
        devices=[device],
        enrolment=enrolment,
    )


@pytest.fixture
def sim() -> Iterator[ZKSimulator]:
    with ZKSimulator(port=0) as s:
        yield s


def jobs(daemon: Daemon) -> dict[str, object]:
    daemon.scheduler.start(paused=True)
    try:
        daemon._schedule_service_jobs()
        return {job.id: job.trigger for job in daemon.scheduler.get_jobs()}
    finally:
        daemon.scheduler.shutdown(wait=False)


def test_daily_job_on_the_site_clock_only_when_a_device_takes_part(
    engine: Engine, tmp_path: Path
) -> None:
    calls: list[Settings] = []
    taking = Daemon(settings_for(tmp_path, 4370, daily_at="05:15"), engine, enrol=calls.append)
    triggers = jobs(taking)
    daily = triggers["enrol"]
    fire = daily.get_next_fire_time(None, datetime(2026, 3, 10, 12, 0, tzinfo=ZoneInfo(SITE)))
    assert (fire.day, fire.hour, fire.minute) == (11, 5, 15)
    assert fire.utcoffset() == timedelta(hours=8)
    assert "enrol-roster" in triggers

    assert "enrol" not in jobs(Daemon(settings_for(tmp_path, 4370, "none"), engine, enrol=print))
    forced = Daemon(settings_for(tmp_path, 4370, "none", daemon="on"), engine, enrol=print)
    assert "enrol" in jobs(forced)
    off = Daemon(settings_for(tmp_path, 4370, daemon="off"), engine, enrol=print)
    assert "enrol" not in jobs(off) and "enrol-roster" not in jobs(off)
    assert "enrol" not in jobs(Daemon(settings_for(tmp_path, 4370), engine))  # none given
    only_daily = Daemon(settings_for(tmp_path, 4370, roster_check_every=0), engine, enrol=print)
    assert "enrol-roster" not in jobs(only_daily)
    assert calls == []
    with pytest.raises(ConfigError):
        settings_for(tmp_path, 4370, daily_at="25:00")


def load_roster(site: Site, tmp_path: Path, count: int) -> None:
    lines = [f"E{i:04d},Person {i},OPS,,{100000 + i},,2024-01-01," for i in range(1, count + 1)]
    path = tmp_path / "roster.csv"
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    people.import_roster(site, people.read_roster_file(site.settings, path), actor=Actor("hr"))


def test_a_roster_change_runs_enrol_apply_on_the_clock(
    engine: Engine, tmp_path: Path, sim: ZKSimulator
) -> None:
    settings = settings_for(tmp_path, sim.port)
    site = Site(settings, engine)
    load_roster(site, tmp_path, 2)
    daemon = Daemon(settings, engine, enrol=daemon_enrolment(engine))
    daemon._enrol_after_roster_change()  # the first look notes the roster only
    assert sim.users == []
    daemon._enrol_after_roster_change()  # nothing changed
    assert sim.users == []

    load_roster(site, tmp_path, 3)  # a new hire
    daemon._enrol_after_roster_change()
    assert sorted(u.user_id for u in sim.users) == ["100001", "100002", "100003"]
    writes = sim.user_writes
    daemon._enrol_after_roster_change()  # no change since: no run
    assert sim.user_writes == writes

    people.issue_card(site, "4242", "E0002", datetime(2024, 1, 1, 8, 0), actor=Actor("hr"))
    daemon._enrol_after_roster_change()  # a card issued: written
    assert {u.user_id: u.card for u in sim.users}["100002"] == 4242
    assert daemon._enrol()  # the daily job: nothing left to do, and it says it ran


def test_a_failed_run_is_retried_at_the_next_look(engine: Engine, tmp_path: Path) -> None:
    settings = settings_for(tmp_path, 4370)
    site = Site(settings, engine)
    load_roster(site, tmp_path, 1)
    calls: list[int] = []

    def flaky(_settings: Settings) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database went away")

    daemon = Daemon(settings, engine, enrol=flaky)
    daemon._enrol_after_roster_change()
    load_roster(site, tmp_path, 2)
    daemon._enrol_after_roster_change()  # fails (logged)
    daemon._enrol_after_roster_change()  # the change is still pending: tried again
    daemon._enrol_after_roster_change()  # done: nothing more
    assert len(calls) == 2
