"""Options every command shares — ``--by``, the one-letter options, ``--version`` — and the
site's zone and date in what people read, through the real ``punchd`` command."""

from __future__ import annotations

import getpass
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import typer
from sqlalchemy import select

from punchd.cli.main import app
from punchd.storage import schema
from punchd.storage.database import make_engine

from .cli_helpers import punchd, subprocess_env

ROOT = Path(__file__).resolve().parents[1]


def _env(tmp_path: Path, db_url: str, site_zone: str = "Asia/Shanghai") -> dict[str, str]:
    return subprocess_env(
        PUNCHD_DATABASE_URL=db_url,
        PUNCHD_TIMEZONE=site_zone,
        TZ="UTC",  # the host's zone is not the site's
        XDG_DATA_HOME=str(tmp_path / "data"),
        COLUMNS="200",
        NO_COLOR="1",
    )


def _actors(db_url: str) -> list[tuple[str, str]]:
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            a = schema.att_audit
            return [
                tuple(r) for r in conn.execute(select(a.c.action, a.c.changed_by).order_by(a.c.id))
            ]
    finally:
        engine.dispose()


def test_by_is_the_same_in_every_command(tmp_path: Path, db_url: str) -> None:
    env = _env(tmp_path, db_url)
    run = lambda *args: punchd(*args, env=env, cwd=tmp_path)  # noqa: E731
    me = getpass.getuser()
    long = "x" * 65

    # employees (cli_employees), holidays (cli_rules), processing (cli_process)
    assert run("departments", "add", "OPS", "Operations", "--by", "  Ms Li  ").returncode == 0
    assert run("departments", "add", "HR", "People", "--by", "   ").returncode == 0
    assert (
        run("holiday", "add", "2026-10-01", "--name", "National day", "--by", " hr ").returncode
        == 0
    )
    assert run("holiday", "add", "2026-10-02", "--name", "National day", "--by", "").returncode == 0
    processed = run("process", "--from", "2026-10-01", "--to", "2026-10-02", "--by", " 张三 ")
    assert processed.returncode == 0, processed.stderr
    written = _actors(db_url)

    # Too long is refused, in one line, by every kind of command, and writes nothing.
    for args in (
        ("departments", "add", "QA", "Quality"),
        ("holiday", "add", "2026-10-03"),
        ("process", "--from", "2026-10-01", "--to", "2026-10-02"),
    ):
        refused = run(*args, "--by", long)
        assert refused.returncode == 2, refused.stdout
        assert refused.stderr.strip() == "error: --by: at most 64 characters, got 65"
    assert _actors(db_url) == written

    by = [who for _, who in written]
    assert by == ["Ms Li", me, "hr", me, "张三"], written
    exactly64 = run("departments", "add", "QA", "Quality", "--by", "y" * 64)
    assert exactly64.returncode == 0 and _actors(db_url)[-1][1] == "y" * 64


def test_one_letter_options_mean_one_thing() -> None:
    """Across every command, a short option always stands for the same long option."""
    meaning: dict[str, set[str]] = {}

    def walk(cmd: Any) -> None:
        for param in cmd.params:
            longs = [o for o in param.opts + param.secondary_opts if o.startswith("--")]
            for short in (o for o in param.opts if re.fullmatch(r"-\w", o)):
                meaning.setdefault(short, set()).update(longs)
        for sub in getattr(cmd, "commands", {}).values():
            walk(sub)

    walk(typer.main.get_command(app))
    assert {k: v for k, v in meaning.items() if len(v) != 1} == {}
    assert meaning["-d"] == {"--device"}


def test_version(tmp_path: Path) -> None:
    from importlib.metadata import version

    result = punchd("--version", env=dict(os.environ), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"punchd {version('punchd')}\n"


def test_docs_named_by_the_code_exist() -> None:
    named = set()
    for path in [*ROOT.joinpath("src").rglob("*.py"), ROOT / "README.md"]:
        named |= set(re.findall(r"docs/[\w.-]+\.md", path.read_text(encoding="utf-8")))
    assert "docs/zk.md" in named
    assert sorted(n for n in named if not (ROOT / n).is_file()) == []
    help_ = punchd("simulate", "zk", "--help", env=dict(os.environ, COLUMNS="200"))
    assert "docs/zk.md" in help_.stdout


def test_employees_show_says_site_time(tmp_path: Path, db_url: str) -> None:
    env = _env(tmp_path, db_url, "Asia/Shanghai")
    (tmp_path / "r.csv").write_text(
        "employee_no,name,department,card_no,hire_date\nE1,Zhang,OPS,12345,2024-03-01\n"
    )
    assert punchd("employees", "import", str(tmp_path / "r.csv"), env=env).returncode == 0
    shown = punchd("employees", "show", "E1", env=env)
    assert shown.returncode == 0, shown.stderr
    engine = make_engine(db_url)
    with engine.connect() as conn:
        a = schema.att_audit
        stamp = conn.execute(select(a.c.changed_at).where(a.c.entity == "employee")).scalar_one()
    engine.dispose()
    local = stamp.replace(tzinfo=UTC).astimezone(ZoneInfo("Asia/Shanghai"))
    assert "recent changes (Asia/Shanghai time):" in shown.stdout
    assert f"  {local:%Y-%m-%d %H:%M:%S} Asia/Shanghai  " in shown.stdout
    assert "card history (Asia/Shanghai time):" in shown.stdout
    assert " UTC " not in shown.stdout


def test_punch_list_defaults_to_the_site_date(tmp_path: Path, db_url: str) -> None:
    # A site zone whose date differs from the host's (UTC) right now, by a margin of at
    # least half an hour: UTC+14 from 10:00 UTC, UTC-11 before 11:00 UTC.
    now = datetime.now(UTC)
    site = (
        "Pacific/Kiritimati" if now.hour * 60 + now.minute >= 10 * 60 + 30 else "Pacific/Pago_Pago"
    )
    site_today = now.astimezone(ZoneInfo(site)).date()
    assert site_today != now.date()
    env = _env(tmp_path, db_url, site)
    (tmp_path / "r.csv").write_text(
        "employee_no,name,department,hire_date\nE1,Zhang,OPS,2024-03-01\n"
    )
    assert punchd("employees", "import", str(tmp_path / "r.csv"), env=env).returncode == 0
    listed = punchd("punch", "list", "E1", env=env)
    assert listed.returncode == 0, listed.stderr
    assert f"– {site_today}" in listed.stdout, listed.stdout
