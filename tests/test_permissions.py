"""Files punchd creates are private under an ordinary umask of 022: directories 0700,
the SQLite database (and its -wal/-shm), spool files, lock files, reports and the roster
template 0600 — through the real ``punchd`` command where a command creates them."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from punchd import private
from punchd.collector.spool import Spool
from punchd.drivers.zk.simulator import ZKSimulator, generate

from .cli_helpers import punchd, subprocess_env


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The usual desktop umask, inherited by the ``punchd`` subprocesses."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture
def sim() -> Iterator[ZKSimulator]:
    users, punches = generate(users=5, punches=30, seed=3)
    with ZKSimulator(port=0, users=users, punches=punches) as s:
        yield s


def _env(tmp_path: Path, sim: ZKSimulator) -> dict[str, str]:
    config = tmp_path / "punchd.toml"
    config.write_text(
        f'[[devices]]\nname = "gate"\ndriver = "zk"\nhost = "127.0.0.1"\nport = {sim.port}\n',
        encoding="utf-8",
    )
    # No database URL: the default SQLite file in the data directory.
    return subprocess_env(
        XDG_DATA_HOME=str(tmp_path / "xdg"), PUNCHD_CONFIG=str(config), NO_COLOR="1"
    )


def test_data_directory_database_and_locks_are_private(
    umask_022: None, sim: ZKSimulator, tmp_path: Path
) -> None:
    env = _env(tmp_path, sim)
    for args in (["db", "upgrade"], ["collect"]):
        result = punchd(*args, env=env, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    data = tmp_path / "xdg" / "punchd"
    assert mode(tmp_path / "xdg") == 0o700  # created by punchd (XDG asks for 0700 too)
    assert mode(data) == 0o700
    db = data / "punchd.db"
    assert mode(db) == 0o600
    sidecars = [p for p in data.iterdir() if p.name.startswith("punchd.db-")]
    for path in sidecars:  # -wal / -shm, while they exist
        assert mode(path) == 0o600, path
    assert mode(data / "locks") == 0o700
    locks = list((data / "locks").iterdir())
    assert locks and all(mode(p) == 0o600 for p in locks)


def test_sqlite_file_elsewhere_gets_private_directories(umask_022: None, tmp_path: Path) -> None:
    existing = tmp_path / "existing"
    existing.mkdir()
    existing.chmod(0o755)
    target = existing / "new" / "deeper" / "att.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUNCHD_")}
    env.update(XDG_DATA_HOME=str(tmp_path / "xdg"), PUNCHD_DATABASE_URL=f"sqlite:///{target}")
    result = punchd("db", "upgrade", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert mode(existing / "new") == 0o700 and mode(existing / "new" / "deeper") == 0o700
    assert mode(target) == 0o600
    assert mode(existing) == 0o755  # an existing directory keeps the mode its owner chose


def test_reports_and_template_are_private(
    umask_022: None, sim: ZKSimulator, tmp_path: Path
) -> None:
    env = _env(tmp_path, sim)
    assert punchd("db", "upgrade", env=env, cwd=tmp_path).returncode == 0
    old = tmp_path / "old.csv"
    old.write_text("previous report\n")
    old.chmod(0o644)
    week = ("--from", "2024-03-04", "--to", "2024-03-10")
    for fmt, out in (("csv", "r.csv"), ("xlsx", "r.xlsx"), ("csv", "old.csv")):
        result = punchd("report", *week, "--format", fmt, "-o", out, env=env, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert mode(tmp_path / out) == 0o600, out
    assert old.read_bytes().startswith(b"\xef\xbb\xbfEmployee no")  # really rewritten
    result = punchd("report", *week, "--summary", "-f", "xlsx", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert mode(tmp_path / "punchd-summary-2024-03-04-2024-03-10.xlsx") == 0o600
    result = punchd("employees", "template", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert mode(tmp_path / "roster-template.csv") == 0o600
    assert mode(tmp_path / "roster-template.xlsx") == 0o600


def test_spool_files_are_private(umask_022: None, tmp_path: Path) -> None:
    spool = Spool(tmp_path / "data" / "spool")
    row = {
        "enroll_no": "1",
        "punched_at": datetime(2026, 3, 2, 8, 0),
        "punched_at_utc": datetime(2026, 3, 2, 0, 0),
        "state": "in",
        "verify_mode": 1,
    }
    assert spool.write(device="gate", driver="zk", address="tcp://127.0.0.1:4370", rows=[row])
    assert mode(tmp_path / "data") == 0o700 and mode(tmp_path / "data" / "spool") == 0o700
    (batch,) = spool.files()
    assert mode(batch) == 0o600


def test_private_helpers_ignore_a_restrictive_or_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0o000)
    try:
        private.make_dirs(tmp_path / "a" / "b")
        private.write_file(tmp_path / "a" / "b" / "f", b"x")
        assert private.create_file(tmp_path / "a" / "db")
        assert not private.create_file(tmp_path / "a" / "db")  # never truncates
    finally:
        os.umask(old)
    assert mode(tmp_path / "a") == mode(tmp_path / "a" / "b") == 0o700
    assert mode(tmp_path / "a" / "b" / "f") == mode(tmp_path / "a" / "db") == 0o600
