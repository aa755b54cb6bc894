"""`punchd rules / leave / punch / holiday / schedule` through the command line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from typer.testing import CliRunner, Result

from punchd.cli.main import app
from punchd.storage.schema import (
    att_audit,
    att_holiday,
    att_leave,
    att_period,
    att_punch,
    att_schedule,
    att_schedule_override,
    att_shift,
)

from .helpers.org import EXAMPLE, seed_org

Run = Callable[..., Result]


@pytest.fixture
def run(engine: Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    """``run("leave", "add", …)`` → the CliRunner result, against the test database."""
    for key in list(os.environ):
        if key.startswith("PUNCHD_") and not key.startswith("PUNCHD_TEST_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)  # no ./punchd.toml
    seed_org(engine)
    env = {
        "PUNCHD_DATABASE_URL": db_url,
        "PUNCHD_TIMEZONE": "Asia/Shanghai",
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "COLUMNS": "200",
        "NO_COLOR": "1",
    }
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(app, list(args), env=env)

    return invoke


def count(engine: Engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_rules_load_show_and_reload(run: Run, engine: Engine) -> None:
    result = run("rules", "load", str(EXAMPLE), "--by", "hr-anna")
    assert result.exit_code == 0, result.output
    assert "periods: 9 added (AM, PM, L1, L2, L3, D, M, N, …)" in result.stdout
    assert "shifts: 4 added (OFFICE, LONG, ROT, GUARD)" in result.stdout
    with engine.connect() as conn:
        night = conn.execute(select(att_period).where(att_period.c.code == "N")).one()
        assert (night.start_minute, night.end_minute, night.updated_by) == (0, 480, "hr-anna")
        by = conn.execute(select(att_audit.c.changed_by).where(att_audit.c.entity == "rules"))
        assert by.scalar_one() == "hr-anna"

    again = run("rules", "load", str(EXAMPLE))
    assert again.exit_code == 0 and "nothing changed" in again.stdout

    show = run("rules", "show")
    assert show.exit_code == 0, show.output
    for text in ("Day / middle / night rotation", "1:D  2:D  3:rest  4:M", "22:00", "+1 06:00"):
        assert text in show.stdout
    assert "Mon:L1+L2+L3" in show.stdout and "calendar_china" in show.stdout

    check = run("rules", "check", str(EXAMPLE))
    assert check.exit_code == 0 and "ok (9 periods, 4 shifts, 5 schedules" in check.stdout


def test_a_broken_file_reports_every_problem_and_changes_nothing(
    run: Run, engine: Engine, tmp_path: Path
) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    text = text.replace('days = [["D"], ["D"], []', 'days = [["D"], ["D"], ["X"]')
    text = text.replace('end = "17:00"', 'end = "17:61"', 1)
    text = text.replace('department = "WORKSHOP"', 'department = "NOWHERE"')
    bad = tmp_path / "rules.toml"
    bad.write_text(text, encoding="utf-8")
    result = run("rules", "load", str(bad))
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert f"error: {bad}: period[2] \"PM\": end: not a time of day (00:00–24:00): '17:61'" in lines
    assert f'error: {bad}: shift[3] "ROT": day 3 names unknown period "X"' in lines
    # the database check runs on the valid rest of a broken file: every kind in one run
    assert f'error: {bad}: schedule[2]: unknown department "NOWHERE"' in lines
    assert lines[-1] == f"3 problems in {bad}: nothing was changed"
    assert count(engine, att_period) == 0 and count(engine, att_audit) == 0

    # the file is fine, the database is not: also every problem, also nothing changed
    bad.write_text(EXAMPLE.read_text(encoding="utf-8").replace('"WORKSHOP"', '"NOWHERE"'))
    result = run("rules", "load", str(bad))
    assert result.exit_code == 2
    assert f'error: {bad}: schedule[2]: unknown department "NOWHERE"' in result.stderr
    assert count(engine, att_period) == 0 and count(engine, att_shift) == 0
    assert run("rules", "check", str(bad)).exit_code == 2

    missing = run("rules", "load", str(tmp_path / "nope.toml"))
    assert missing.exit_code == 2 and "cannot read" in missing.stderr


def test_leave_commands(run: Run, engine: Engine) -> None:
    full = run(
        "leave", "add", "E1001", "--type", "annual", "--from", "2026-11-02", "--to", "2026-11-03"
    )
    assert full.exit_code == 0, full.output
    assert "E1001 annual 2026-11-02 – 2026-11-03 (full days)" in full.stdout
    part = run(
        "leave", "add", "E1001", "--type", "sick",
        "--from", "2026-11-04 08:00", "--to", "2026-11-04 12:00", "--by", "boss",
    )  # fmt: skip
    assert part.exit_code == 0, part.output
    leaver = run("leave", "add", "E1002", "--type", "sick", "--from", "2026-03-31")
    assert leaver.exit_code == 0, leaver.output
    with engine.connect() as conn:
        rows = conn.execute(select(att_leave).order_by(att_leave.c.id)).all()
    assert [(r.start_at, r.end_at, r.full_day, r.created_by) for r in rows[:2]] == [
        (datetime(2026, 11, 2), datetime(2026, 11, 3), True, rows[0].created_by),
        (datetime(2026, 11, 4, 8), datetime(2026, 11, 4, 12), False, "boss"),
    ]
    listed = run("leave", "list", "E1001", "--from", "2026-11-04")
    assert listed.exit_code == 0
    assert "sick" in listed.stdout and "annual" not in listed.stdout

    for args, message in [
        (("E9", "--type", "annual", "--from", "2026-11-02"), "error: unknown employee 'E9'"),
        (("E1001", "--type", "annual", "--from", "2026-11-31"), "--from: not a date"),
        (("E1001", "--type", "x", "--from", "2026-11-02 12:00"), "part-day leave needs an end"),
    ]:
        result = run("leave", "add", *args)
        assert result.exit_code == 2 and message in result.stderr, result.output
    removed = run("leave", "remove", str(rows[0].id))
    assert removed.exit_code == 0 and count(engine, att_leave) == 2
    again = run("leave", "remove", str(rows[0].id))
    assert again.exit_code == 2 and f"no leave with id {rows[0].id}" in again.stderr


def test_punch_commands(run: Run, engine: Engine) -> None:
    added = run(
        "punch", "add", "E1001", "2026-11-02 08:00", "--reason", "forgot card", "--state", "in"
    )
    assert added.exit_code == 0, added.output
    with engine.connect() as conn:
        row = conn.execute(select(att_punch)).one()
    assert (row.source, row.employee_id is not None, row.state, row.note) == (
        "manual",
        True,
        "in",
        "forgot card",
    )
    assert row.punched_at == datetime(2026, 11, 2, 8) and row.punched_at_utc == datetime(
        2026, 11, 2
    )

    void = run("punch", "void", str(row.id), "--reason", "wrong day", "--by", "boss")
    assert void.exit_code == 0, void.output
    twice = run("punch", "void", str(row.id), "--reason", "again")
    assert twice.exit_code == 2 and "already void" in twice.stderr
    listed = run("punch", "list", "E1001", "--from", "2026-11-02", "--to", "2026-11-02")
    assert listed.exit_code == 0
    assert "manual" in listed.stdout and "VOID: wrong day (boss)" in listed.stdout
    assert run("punch", "unvoid", str(row.id)).exit_code == 0
    with engine.connect() as conn:
        assert conn.execute(select(att_punch.c.void)).scalar_one() is False
    assert count(engine, att_punch) == 1

    bad_state = run(
        "punch", "add", "E1001", "2026-11-02 17:00", "--reason", "x", "--state", "lunch"
    )
    assert bad_state.exit_code == 2 and "--state must be in or out" in bad_state.stderr
    bad_time = run("punch", "add", "E1001", "2026-11-02", "--reason", "x")
    assert bad_time.exit_code == 2 and "not a date and time" in bad_time.stderr


def test_holiday_commands(run: Run, engine: Engine) -> None:
    assert run("holiday", "add", "2026-10-01", "--name", "National Day").exit_code == 0
    assert run("holiday", "add", "2026-10-10", "--workday").exit_code == 0
    listed = run("holiday", "list", "--year", "2026")
    assert listed.exit_code == 0
    assert "National Day" in listed.stdout and "make-up workday" in listed.stdout
    with engine.connect() as conn:
        kinds = dict(conn.execute(select(att_holiday.c.holiday_date, att_holiday.c.kind)).all())
    assert kinds == {date(2026, 10, 1): "holiday", date(2026, 10, 10): "workday"}
    assert run("holiday", "remove", "2026-10-01").exit_code == 0
    gone = run("holiday", "remove", "2026-10-01")
    assert gone.exit_code == 2 and "no holiday" in gone.stderr
    assert run("holiday", "add", "10/01/2026").exit_code == 2


def test_schedule_commands(run: Run, engine: Engine) -> None:
    assert run("rules", "load", str(EXAMPLE)).exit_code == 0
    assigned = run(
        "schedule", "assign", "ROT", "--employee", "E1002", "--from", "2026-02-01",
        "--anchor", "2026-02-03",
    )  # fmt: skip
    assert assigned.exit_code == 0, assigned.output
    assert count(engine, att_schedule) == 6
    override = run(
        "schedule", "override", "2026-11-02", "--employee", "E1001", "--shift", "ROT", "--day", "7"
    )
    assert override.exit_code == 0, override.output
    replaced = run("schedule", "override", "2026-11-02", "--employee", "E1001", "--rest")
    assert replaced.exit_code == 0 and "(changed)" in replaced.stdout
    with engine.connect() as conn:
        rows = conn.execute(
            select(att_schedule_override).where(
                att_schedule_override.c.work_date == date(2026, 11, 2)
            )
        ).all()
    assert [(r.shift_id, r.day_index) for r in rows] == [(None, 0)]
    listed = run("schedule", "list", "--from", "2026-11-01", "--to", "2026-11-30")
    assert listed.exit_code == 0
    assert "OFFICE day 1" in listed.stdout and "E1002" in listed.stdout

    for args, message in [
        (("assign", "NOPE", "--employee", "E1001", "--from", "2026-01-01"), "unknown shift 'NOPE'"),
        (("assign", "ROT", "--from", "2026-01-01"), "exactly one of --employee or --department"),
        (("override", "2026-11-02", "--department", "ADMIN"), "exactly one of --shift, --rest"),
        (("override", "2026-11-02", "--department", "NOPE", "--rest"), "unknown department"),
        (("override", "2026-11-02", "--department", "ADMIN", "--shift", "ROT", "--day", "10"),
         "has days 1–9, not 10"),
    ]:  # fmt: skip
        result = run("schedule", *args)
        assert result.exit_code == 2 and message in result.stderr, result.output

    cleared = run("schedule", "override", "2026-11-02", "--employee", "E1001", "--clear")
    assert cleared.exit_code == 0, cleared.output
    assert count(engine, att_schedule_override) == 2  # the file's two


def test_settings_commands(run: Run, engine: Engine) -> None:
    assert run("rules", "set", "late_as_absent_after", "100").exit_code == 0
    bad = run("rules", "set", "missing_punch_policy", "sometimes")
    assert bad.exit_code == 2 and 'must be "late" or "absent"' in bad.stderr
    show = run("rules", "show")
    assert "late_as_absent_after" in show.stdout
    line = next(x for x in show.stdout.splitlines() if "late_as_absent_after" in x)
    assert "100" in line and "(default)" not in line
    assert run("rules", "unset", "late_as_absent_after").exit_code == 0
    with engine.connect() as conn:
        actions = conn.execute(select(att_audit.c.action).order_by(att_audit.c.id)).scalars()
        assert list(actions) == ["set", "unset"]


# ------------------------------------------------------------------ loading safely


def _rules_snapshot(engine: Engine) -> dict[str, list]:
    with engine.connect() as conn:
        return {
            t.name: sorted(tuple(map(str, r)) for r in conn.execute(select(t)))
            for t in (att_period, att_shift, att_schedule, att_schedule_override, att_holiday)
        }


def _without_guard() -> str:
    """The example without the GUARD shift, its period G and the schedule that uses it."""
    text = EXAMPLE.read_text(encoding="utf-8")
    blocks = text.split("\n\n")
    gone = [b for b in blocks if re.search(r'^(code|shift) = "GU?A?R?D?"$', b, re.M)]
    assert len(gone) == 3  # period G, shift GUARD, its schedule
    text = "\n\n".join(b for b in blocks if b not in gone)
    return text


def test_an_empty_file_never_wipes_the_rules(run: Run, engine: Engine, tmp_path: Path) -> None:
    assert run("rules", "load", str(EXAMPLE)).exit_code == 0
    before = _rules_snapshot(engine)
    empty = tmp_path / "empty.toml"
    empty.write_text("", encoding="utf-8")

    check = run("rules", "check", str(empty))
    assert check.exit_code == 2 and "ok" not in check.stdout
    assert "defines no shifts (it is empty)" in check.stderr
    load = run("rules", "load", str(empty), "--yes")
    assert load.exit_code == 2, load.output
    assert "--replace-all" in load.stderr and "defines no shifts (it is empty)" in load.stderr
    settings_only = tmp_path / "settings.toml"
    settings_only.write_text("[settings]\ncollapse_minutes = 3\n", encoding="utf-8")
    load = run("rules", "load", str(settings_only), "--yes")
    assert load.exit_code == 2 and "defines no shifts:" in load.stderr
    assert _rules_snapshot(engine) == before

    # asked for in so many words, it is done (once no temporary schedule uses a shift)
    assert run("rules", "load", str(empty), "--replace-all").exit_code == 2
    clear = run("schedule", "override", "2026-11-28", "--department", "ADMIN", "--clear")
    assert clear.exit_code == 0
    wipe = run("rules", "load", str(empty), "--replace-all")
    assert wipe.exit_code == 0, wipe.output
    assert "shifts: 4 removed (OFFICE, LONG, ROT, GUARD)" in wipe.stdout
    assert count(engine, att_shift) == 0 and count(engine, att_schedule) == 0


def test_removing_rules_in_use_needs_yes(run: Run, engine: Engine, tmp_path: Path) -> None:
    assert run("rules", "load", str(EXAMPLE)).exit_code == 0
    before = _rules_snapshot(engine)
    smaller = tmp_path / "smaller.toml"
    smaller.write_text(_without_guard(), encoding="utf-8")

    check = run("rules", "check", str(smaller))
    assert check.exit_code == 0, check.output
    assert "shifts: 1 removed (GUARD), 3 unchanged" in check.stdout
    assert "removes 1 shift(s) in use: GUARD (`rules load` asks to confirm)" in check.stdout

    dry = run("rules", "load", str(smaller), "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "periods: 1 removed (G), 8 unchanged" in dry.stdout
    assert "dry run of" in dry.stdout and "nothing was changed" in dry.stdout

    # not a terminal, no --yes: the plan is shown, nothing changes, exit 2
    refused = run("rules", "load", str(smaller))
    assert refused.exit_code == 2
    assert re.search(
        r"schedules: 1 removed \(#\d+ GUARD/E1001/2026-03-01\), 4 unchanged", refused.stdout
    )
    assert "removes 1 period(s) in use: G" in refused.stdout
    assert "run again with --yes" in refused.stderr
    assert _rules_snapshot(engine) == before
    assert count(engine, att_audit) == 1  # the first load only

    done = run("rules", "load", str(smaller), "--yes")
    assert done.exit_code == 0, done.output
    assert "loaded" in done.stdout and "3 change(s)" in done.stdout
    with engine.connect() as conn:
        codes = set(conn.execute(select(att_shift.c.code)).scalars())
    assert codes == {"OFFICE", "LONG", "ROT"}

    # adding back needs no consent: nothing in use is removed
    back = run("rules", "load", str(EXAMPLE))
    assert back.exit_code == 0 and "shifts: 1 added (GUARD)" in back.stdout


def test_rules_load_asks_on_a_terminal(db_url: str, engine: Engine, tmp_path: Path) -> None:
    """The real command on a pseudo-terminal: the question, and the answer is obeyed."""
    import pty

    from .cli_helpers import punchd

    seed_org(engine)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUNCHD_")}
    env.update(PUNCHD_DATABASE_URL=db_url, XDG_DATA_HOME=str(tmp_path / "d"), NO_COLOR="1")
    assert punchd("rules", "load", str(EXAMPLE), env=env, cwd=tmp_path).returncode == 0
    smaller = tmp_path / "smaller.toml"
    smaller.write_text(_without_guard(), encoding="utf-8")
    before = _rules_snapshot(engine)

    def answer(text: str) -> subprocess.CompletedProcess[str]:
        leader, follower = pty.openpty()
        try:
            os.write(leader, text.encode())
            return subprocess.run(
                [sys.executable, "-m", "punchd", "rules", "load", str(smaller)],
                env=env,
                cwd=tmp_path,
                stdin=follower,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
        finally:
            os.close(leader)
            os.close(follower)

    no = answer("n\n")
    assert no.returncode == 1, no.stderr
    assert "Remove them?" in no.stdout and "nothing was changed" in no.stdout
    assert _rules_snapshot(engine) == before
    yes = answer("y\n")
    assert yes.returncode == 0, yes.stderr
    assert "shifts: 1 removed (GUARD)" in yes.stdout
    assert count(engine, att_shift) == 3
