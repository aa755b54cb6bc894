"""Shared fixtures: one empty database per test, on every available backend.

* ``db_url`` — URL of an empty database (no tables). Parametrised: ``sqlite`` always;
  ``postgresql`` when ``$PUNCHD_TEST_POSTGRES_URL`` is set and ``mysql`` when
  ``$PUNCHD_TEST_MYSQL_URL`` is set (e.g. ``postgresql+psycopg://postgres@127.0.0.1/test``,
  ``mysql+pymysql://root@127.0.0.1/test``); skipped otherwise. The server URL only has to
  reach the server: each test session creates its own uniquely named database there
  (``punchd_t_<hex>``) and drops it at the end, so concurrent test runs don't collide.
* ``engine`` — an engine (``make_engine``) on ``db_url``, upgraded to the newest schema.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import MetaData, create_engine, inspect, text
from sqlalchemy.engine import URL, Engine, make_url

from punchd.drivers.anviz.simulator import AnvizSimulator
from punchd.storage.database import make_engine, safe_url, upgrade

SERVER_ENV = {
    "postgresql": "PUNCHD_TEST_POSTGRES_URL",
    "mysql": "PUNCHD_TEST_MYSQL_URL",
}


def _admin_engine(server: URL) -> Engine:
    return create_engine(server, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session", params=["sqlite", "postgresql", "mysql"])
def _database_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, URL | None]]:
    """Per backend and session: ("sqlite", None) or (backend, URL of a fresh database)."""
    backend = request.param
    if backend == "sqlite":
        yield backend, None
        return
    env = SERVER_ENV[backend]
    raw = os.environ.get(env)
    if not raw:
        pytest.skip(f"{backend}: set ${env} to run these tests against a server")
    server = make_url(raw)
    name = f"punchd_t_{secrets.token_hex(6)}"
    admin = _admin_engine(server)
    create = f"CREATE DATABASE {name}"
    if backend == "mysql":
        create += " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
    try:
        with admin.connect() as conn:
            conn.execute(text(create))
    except Exception as exc:
        admin.dispose()
        pytest.fail(f"${env} is set but {safe_url(server)} cannot be used: {exc}", pytrace=False)
    try:
        yield backend, server.set(database=name)
    finally:
        with admin.connect() as conn:
            force = " WITH (FORCE)" if backend == "postgresql" else ""  # PostgreSQL 13+
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}{force}"))
        admin.dispose()


def _drop_everything(url: URL) -> None:
    """Leave the database without tables (punchd's, alembic_version, anything)."""
    eng = create_engine(url)
    try:
        with eng.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
            else:
                for view in inspect(conn).get_view_names():
                    conn.execute(text(f"DROP VIEW {view}"))
                reflected = MetaData()
                reflected.reflect(conn)
                reflected.drop_all(conn)
    finally:
        eng.dispose()


@pytest.fixture
def db_url(_database_server: tuple[str, URL | None], tmp_path) -> str:
    """URL (with password, if any) of an empty database for this test."""
    _backend, url = _database_server
    if url is None:
        return f"sqlite:///{tmp_path / 'punchd.db'}"
    _drop_everything(url)
    return url.render_as_string(hide_password=False)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """``make_engine(db_url)`` with the schema upgraded to head."""
    eng = make_engine(db_url)
    upgrade(eng)
    try:
        yield eng
    finally:
        eng.dispose()


# --- Anviz lines: a simulator on a pty pair or on TCP, and the config keys that reach it

Where = dict[str, Any]
Line = Callable[..., tuple[AnvizSimulator, Where]]


@pytest.fixture
def ptys() -> Iterator[Callable[[], tuple[int, str]]]:
    """``os.openpty()`` pairs: (master fd for the simulator, slave path for the driver)."""
    slaves: list[int] = []

    def make() -> tuple[int, str]:
        master, slave = os.openpty()
        slaves.append(slave)
        return master, os.ttyname(slave)

    yield make
    for fd in slaves:
        os.close(fd)


@pytest.fixture
def sims() -> Iterator[list[AnvizSimulator]]:
    started: list[AnvizSimulator] = []
    yield started
    for sim in started:
        sim.stop()


@pytest.fixture(params=["pty", "tcp"])
def line(request: pytest.FixtureRequest, ptys, sims) -> Line:
    """A simulator on a pty pair or on TCP, and the config keys that reach it."""

    def make(*args: Any, **kwargs: Any) -> tuple[AnvizSimulator, Where]:
        sim = AnvizSimulator(*args, **kwargs)
        sims.append(sim)
        if request.param == "pty":
            master, path = ptys()
            sim.serve_fd(master)
            return sim, {"port": path}
        return sim, {"host": "127.0.0.1", "tcp_port": sim.listen_tcp()}

    return make
