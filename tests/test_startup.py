"""A command imports only what it uses: the modules each real ``punchd`` command has loaded
when it exits (a module set, not a timing: the start-up figures live in bench/collect.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from punchd.drivers.zk.simulator import ZKSimulator, generate
from punchd.storage.database import make_engine, upgrade

from .cli_helpers import punchd, subprocess_env

KEY = 5550777

# ``python -m punchd ARGS``, writing the names in sys.modules at exit to $MODULES_OUT.
RUN_AND_LIST = """
import atexit, json, os, runpy, sys
def listed():
    with open(os.environ["MODULES_OUT"], "w") as f:
        json.dump(sorted(sys.modules), f)
atexit.register(listed)
sys.argv = ["punchd", *sys.argv[1:]]
runpy.run_module("punchd", run_name="__main__", alter_sys=True)
"""

#: Never needed by the collection commands: the web console, spreadsheets, holiday
#: calendars, migrations, password hashing, the daemon's scheduler.
NOT_FOR_COLLECTION = (
    "alembic",
    "apscheduler.schedulers",
    "argon2",
    "babel",
    "chinese_calendar",
    "fastapi",
    "holidays",
    "httpx",
    "jinja2",
    "openpyxl",
    "starlette",
    "uvicorn",
    "punchd.web",
    "punchd.collector.daemon",
    "punchd.reports.export",
)


def loaded(args: list[str], env: dict[str, str], out: Path) -> set[str]:
    """The modules a real ``punchd ARGS`` process has loaded when it exits."""
    result = subprocess.run(
        [sys.executable, "-c", RUN_AND_LIST, *args],
        env=dict(env, MODULES_OUT=str(out)),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.exists(), result.stderr
    return set(json.loads(out.read_text(encoding="utf-8")))


def present(modules: set[str], names: tuple[str, ...]) -> list[str]:
    """Which of ``names`` (a package counts with any of its submodules) are in ``modules``."""
    return [n for n in names if any(m == n or m.startswith(n + ".") for m in modules)]


@pytest.fixture
def sqlite_env(tmp_path: Path) -> dict[str, str]:
    """A migrated, empty SQLite database (a database at the head needs no Alembic)."""
    url = f"sqlite:///{tmp_path / 'punchd.sqlite'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return subprocess_env(
        PUNCHD_DATABASE_URL=url, XDG_DATA_HOME=str(tmp_path / "data"), NO_COLOR="1"
    )


def test_help_loads_no_database_settings_or_logging(tmp_path: Path) -> None:
    modules = loaded(["--help"], subprocess_env(), tmp_path / "modules.json")
    assert "punchd.cli.main" in modules  # the listing itself worked
    heavy = ("sqlalchemy", "pydantic_settings", "structlog", "punchd.app", "punchd.config")
    assert present(modules, heavy + NOT_FOR_COLLECTION) == []


def test_status_loads_only_what_status_uses(tmp_path: Path, sqlite_env: dict[str, str]) -> None:
    modules = loaded(["status"], sqlite_env, tmp_path / "modules.json")
    assert "punchd.collector.status" in modules  # status ran
    # pay periods, reports, attendance processing, progress bars: other commands' business
    others = (
        "punchd.app.periods",
        "punchd.app.attendance",
        "punchd.reports",
        "punchd.processing.runner",
        "rich.progress",
    )
    # the device run, the punch write path and the template cipher: status reads rows
    runs = ("punchd.collector.collect", "punchd.collector.sink", "cryptography")
    assert present(modules, others + runs + NOT_FOR_COLLECTION) == []


#: What ``punchd status`` never needs: the scheduler (settings check a poll interval without
#: it), the push receiver and the clock drivers, the engine. (The ``holidays`` package is
#: imported when a year past chinese-calendar's is checked: it says which years it knows.)
NOT_FOR_STATUS = (
    "apscheduler",
    "tzlocal",
    "zk",
    "punchd.collector.push.service",
    "punchd.drivers.zk",
    "punchd.drivers.anviz",
    "punchd.processing.engine",
    "punchd.processing.runner",
    "sqlalchemy.orm",
    "rich.markdown",
    "rich.progress",
)


def test_status_with_china_calendar_loads_no_scheduler_drivers_or_engine(
    tmp_path: Path, sqlite_env: dict[str, str]
) -> None:
    """The calendar check (``calendar_china`` true) asks which years the packages know: it
    needs the calendar, not the engine."""
    done = punchd("rules", "set", "calendar_china", "true", "--by", "test", env=sqlite_env)
    assert done.returncode == 0, done.stderr
    modules = loaded(["status"], sqlite_env, tmp_path / "modules.json")
    assert "punchd.rules.calendar_status" in modules  # the calendar was checked
    assert "chinese_calendar" in modules
    collection_only = tuple(
        n for n in NOT_FOR_COLLECTION if n not in ("chinese_calendar", "holidays")
    )
    assert present(modules, NOT_FOR_STATUS + collection_only) == []


def test_collect_loads_no_web_spreadsheet_or_migration(
    tmp_path: Path, sqlite_env: dict[str, str]
) -> None:
    users, punches = generate(users=20, punches=300, seed=5)
    with ZKSimulator(port=0, comm_key=KEY, users=users, punches=punches) as sim:
        config = tmp_path / "punchd.toml"
        config.write_text(
            "[[devices]]\n"
            'name = "gate"\n'
            'driver = "zk"\n'
            'host = "127.0.0.1"\n'
            f"port = {sim.port}\n"
            f"comm_key = {KEY}\n"
            "timeout = 5\n",
            encoding="utf-8",
        )
        env = dict(sqlite_env, PUNCHD_CONFIG=str(config))
        modules = loaded(["collect"], env, tmp_path / "modules.json")
    engine = make_engine(sqlite_env["PUNCHD_DATABASE_URL"])
    with engine.connect() as conn:
        from sqlalchemy import func, select

        from punchd.storage import schema

        stored = conn.execute(select(func.count()).select_from(schema.att_punch)).scalar()
    engine.dispose()
    assert stored == 300  # the collection ran and stored every punch
    assert present(modules, ("rich.progress", *NOT_FOR_COLLECTION)) == []
