"""`punchd users`, `punchd departments parent` and the demo's admin account, run as the real
command in a subprocess (on the default SQLite database)."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from punchd.app import Site
from punchd.app import accounts as acc
from punchd.config import Settings
from punchd.storage.database import make_engine
from punchd.storage.schema import att_audit, web_account

from .cli_helpers import subprocess_env

PASSWORD = "first password 1"
NEW_PASSWORD = "second password 2"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return subprocess_env(XDG_DATA_HOME=str(tmp_path / "data"), COLUMNS="200", NO_COLOR="1")


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """The database the commands use (opened after they made it)."""
    eng = make_engine(f"sqlite:///{tmp_path / 'data' / 'punchd' / 'punchd.db'}")
    yield eng
    eng.dispose()


class Runner:
    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.env, self.cwd = env, cwd
        self.outputs: list[str] = []

    def __call__(self, *args: str, stdin: str | None = None, code: int = 0) -> str:
        # cli_helpers.punchd, with standard input (a pipe: never a terminal)
        result = subprocess.run(
            [sys.executable, "-m", "punchd", *args],
            env=self.env,
            cwd=self.cwd,
            input=stdin if stdin is not None else "",
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        both = result.stdout + result.stderr
        self.outputs.append(both)
        assert result.returncode == code, both
        return both


@pytest.fixture
def run(env: dict[str, str], tmp_path: Path) -> Runner:
    return Runner(env, tmp_path)


def site_of(engine: Engine) -> Site:
    return Site(Settings(), engine)


def test_users_add_list_passwd_disable(run: Runner, engine: Engine) -> None:
    run("departments", "add", "OPS", "Operations")
    out = run(
        "users", "add", "Alice", "--role", "admin", "--password-stdin", "--by", "installer",
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert "account Alice added (role admin)" in out
    run(
        "users", "add", "bob", "--role", "leader", "--department", "OPS", "--language", "en",
        "--password-stdin", stdin=PASSWORD + "\r\n",
    )  # fmt: skip
    # refusals: one line, exit 2, nothing added
    out = run("users", "add", "carl", "--role", "leader", "--password-stdin", stdin="x" * 9, code=2)
    assert "at least one department" in out
    out = run("users", "add", "carl", "--role", "hr", "--password-stdin", stdin="short\n", code=2)
    assert "at least 8" in out
    out = run("users", "add", "alice", "--role", "hr", "--password-stdin", stdin=PASSWORD, code=2)
    assert "exists already" in out
    out = run("users", "add", "carl", "--role", "hr", code=2)  # stdin is no terminal
    assert "--password-stdin" in out

    site = site_of(engine)
    acc.sign_in(site, "ALICE", PASSWORD, client="t")
    listing = run("users", "list")
    assert re.search(r"Alice\s+│\s+admin\s+│\s+-\s+│\s+-\s+│\s+no\s+│\s+1", listing), listing
    assert re.search(r"bob\s+│\s+leader\s+│\s+OPS\s+│\s+-\s+│\s+no\s+│\s+0", listing), listing

    out = run("users", "passwd", "alice", "--password-stdin", stdin=NEW_PASSWORD + "\n")
    assert "password of Alice changed; 1 session(s) ended" in out
    with pytest.raises(acc.SignInFailed):
        acc.sign_in(site, "alice", PASSWORD, client="t")
    acc.sign_in(site, "alice", NEW_PASSWORD, client="t")
    acc.sign_in(site, "alice", NEW_PASSWORD, client="t")
    assert "2 session(s) of Alice ended" in run("users", "sign-out", "alice")

    acc.sign_in(site, "bob", PASSWORD, client="t")
    assert "account bob disabled" in run("users", "disable", "bob")
    assert re.search(r"bob\s+│\s+leader\s+│\s+OPS\s+│\s+-\s+│\s+yes\s+│\s+0", run("users", "list"))
    with pytest.raises(acc.SignInFailed):
        acc.sign_in(site, "bob", PASSWORD, client="t")
    assert "account bob enabled" in run("users", "enable", "bob")
    acc.sign_in(site, "bob", PASSWORD, client="t")
    assert "no account named 'nobody'" in run("users", "disable", "nobody", code=2)

    with engine.connect() as conn:
        audit = conn.execute(
            select(att_audit.c.changed_by, att_audit.c.action, att_audit.c.entity_key).where(
                att_audit.c.entity == "account", att_audit.c.action == "create"
            )
        ).all()
        hashes = conn.execute(select(web_account.c.password_hash)).scalars().all()
    assert ("installer", "create", "Alice") in [tuple(r) for r in audit]
    everything = "\n".join(run.outputs)
    for secret in (PASSWORD, NEW_PASSWORD, *hashes):
        assert secret not in everything
    assert "argon2" not in everything


def test_users_token(run: Runner, engine: Engine) -> None:
    run("users", "add", "robot", "--role", "payroll", "--password-stdin", stdin=PASSWORD)
    out = run("users", "token", "robot", "--label", "payroll export")
    token = out.strip().splitlines()[-1]
    assert "shown only this once" in out and len(token) >= 40
    site = site_of(engine)
    assert acc.resume_api_token(site, token).name == "robot"
    assert "1 API token(s) of robot revoked" in run("users", "revoke-tokens", "robot")
    with pytest.raises(acc.SessionExpired):
        acc.resume_api_token(site, token)
    run("users", "token", "robot", "--label", " ", code=2)


def test_departments_parent(run: Runner) -> None:
    for code in ("HQ", "OPS", "OPS-A"):
        run("departments", "add", code, code.title())
    assert "department OPS is under HQ" in run("departments", "parent", "OPS", "HQ")
    assert "department OPS-A is under OPS" in run("departments", "parent", "OPS-A", "OPS")
    out = run("departments", "parent", "HQ", "OPS-A", code=2)
    assert "cycle" in out and "error:" in out
    listing = run("departments", "list")
    assert re.search(r"OPS-A\s+│\s+Ops-A\s+│\s+OPS\s+│", listing), listing
    assert re.search(r"HQ\s+│\s+Hq\s+│\s+-\s+│", listing), listing
    assert "top department" in run("departments", "parent", "OPS", "--none")
    run("departments", "parent", "OPS", code=2)  # neither a parent nor --none
    run("departments", "parent", "OPS", "HQ", "--none", code=2)
    assert "unknown department 'NOPE'" in run("departments", "parent", "OPS", "NOPE", code=2)


def test_demo_makes_its_admin_once(run: Runner, engine: Engine) -> None:
    first = run("demo", "--punches", "100", "--users", "10")
    found = re.search(
        r"run `punchd web` and open http://127\.0\.0\.1:8080, sign in as demo-admin / (\S+)", first
    )
    assert found, first
    password = found[1]
    site = site_of(engine)
    _, session = acc.sign_in(site, "demo-admin", password, client="t")
    assert session.account.role == "admin"
    again = run("demo", "--punches", "100", "--users", "10")
    assert "account demo-admin exists already" in again
    assert "punchd users passwd demo-admin" in again
    assert password not in again
    acc.sign_in(site, "demo-admin", password, client="t")  # unchanged
