"""Shared fixtures: one database per test, on every available backend.

* ``db_url`` — URL of an empty database (no tables). Parametrised: ``sqlite`` always;
  ``postgresql`` when ``$PUNCHD_TEST_POSTGRES_URL`` is set and ``mysql`` when
  ``$PUNCHD_TEST_MYSQL_URL`` is set (e.g. ``postgresql+psycopg://postgres@127.0.0.1/test``,
  ``mysql+pymysql://root@127.0.0.1/test``); skipped otherwise. The server URL only has to
  reach the server: each test session creates its own uniquely named databases there
  (``punchd_t_<hex>…``) and drops them at the end, so concurrent test runs don't collide.
* ``engine`` — an engine (``make_engine``) on ``db_url``, at the newest schema. A test that
  uses it gets a copy of a database migrated once per session (``tests/helpers/databases``),
  and its ``db_url`` names that copy.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine, make_url

from punchd.drivers.anviz.simulator import AnvizSimulator
from punchd.drivers.testing import memory
from punchd.storage.database import make_engine, safe_url

from .helpers.anviz import Line, Where
from .helpers.databases import Databases, SqliteDatabases, open_databases

# rich fixes a console's width when it is made (at import) if COLUMNS is set: a caller's
# terminal (or pytest-xdist's workers, which export COLUMNS=80) must not decide how the
# commands' tables wrap. Tests that read tables set COLUMNS for the command they run.
for _name in ("COLUMNS", "LINES"):
    os.environ.pop(_name, None)

SERVER_ENV = {
    "postgresql": "PUNCHD_TEST_POSTGRES_URL",
    "mysql": "PUNCHD_TEST_MYSQL_URL",
}


@pytest.fixture(scope="session", params=["sqlite", "postgresql", "mysql"])
def _database_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Databases]:
    """Per backend and session: where this session's test databases come from."""
    backend = request.param
    if backend == "sqlite":
        yield SqliteDatabases(tmp_path_factory.mktemp("template"))
        return
    env = SERVER_ENV[backend]
    raw = os.environ.get(env)
    if not raw:
        pytest.skip(f"{backend}: set ${env} to run these tests against a server")
    server = make_url(raw)
    try:
        databases = open_databases(backend, server)
    except Exception as exc:
        pytest.fail(f"${env} is set but {safe_url(server)} cannot be used: {exc}", pytrace=False)
    try:
        yield databases
    finally:
        databases.close()


@pytest.fixture
def _test_database(
    _database_server: Databases, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[str]:
    """This test's database: already migrated when the test (or a fixture) uses ``engine``."""
    if "engine" not in request.fixturenames:
        yield _database_server.empty(tmp_path)
        return
    url = _database_server.migrated(tmp_path)
    try:
        yield url
    finally:
        _database_server.release(url)


@pytest.fixture
def db_url(_test_database: str) -> str:
    """URL (with password, if any) of an empty database for this test (migrated if the
    test also uses ``engine``)."""
    return _test_database


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """``make_engine(db_url)`` with the schema at head."""
    eng = make_engine(db_url)
    try:
        yield eng
    finally:
        eng.dispose()


# --- in-process devices (``driver = "memory"``)


@pytest.fixture
def memory_device() -> Iterator[Callable[..., memory.MemoryDevice]]:
    """``memory_device(channel, **fields)``: a :class:`~punchd.drivers.testing.memory.
    MemoryDevice` that ``driver = "memory"`` reaches as ``channel``; unplugged afterwards."""
    plugged: list[str] = []

    def plug(channel: str, **fields: Any) -> memory.MemoryDevice:
        plugged.append(channel)
        return memory.plug(channel, memory.MemoryDevice(**fields))

    yield plug
    for channel in plugged:
        memory.unplug(channel)


# --- Anviz lines: a simulator on a pty pair or on TCP, and the config keys that reach it


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
