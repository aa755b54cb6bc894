"""Engines, connection checks and schema migrations (Alembic, driven from code).

Supported backends: SQLite (file or memory), PostgreSQL (psycopg 3) and MySQL/MariaDB
(PyMySQL). Alembic runs from the migrations shipped inside the package, so neither an
``alembic.ini`` nor a particular working directory is needed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from . import logs, private

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

#: seconds a SQLite connection waits for another writer's lock before giving up
SQLITE_BUSY_TIMEOUT = 30
#: SQLite page cache per connection, KiB (the default 2 MiB makes bulk inserts into
#: att_punch's indexes spill to disk mid-transaction: 100k rows take 0.9 s instead of 0.6 s)
SQLITE_CACHE_KIB = 32_000
#: seconds to wait for a PostgreSQL/MySQL server to accept a connection
CONNECT_TIMEOUT = 10
#: name of the advisory lock that serialises concurrent upgrades on servers
_MIGRATION_LOCK = "punchd_schema_upgrade"
_PG_MIGRATION_LOCK_KEY = 0x70756E6368  # "punch"

_UPGRADE_HINT = "run `punchd db upgrade`"


class DatabaseUnavailable(Exception):
    """The database cannot be reached or opened. The message never contains a password."""

    def __init__(self, url: str, cause: str) -> None:
        super().__init__(f"database {url} is unavailable: {cause}")
        self.url = url
        self.cause = cause


class SchemaError(Exception):
    """The database schema does not match what this version of punchd expects."""


class SchemaBehind(SchemaError):
    """The database is at an older schema revision (or empty); it needs an upgrade."""


class SchemaAhead(SchemaError):
    """The database is at a revision this punchd does not know (newer code migrated it)."""


# --------------------------------------------------------------------------- URLs


_PASSWORD_QUERY_KEYS = {"password", "passwd", "pwd", "pass"}


def safe_url(url: str | URL) -> str:
    """``url`` for logs and messages: the password (also one in the query) is ``***``."""
    try:
        u = make_url(url)
    except ArgumentError:
        # Unparseable: hide anything between "//user:" and "@" the crude way.
        return re.sub(r"(//[^/:@]*:)[^@/]*@", r"\1***@", str(url))
    secret_keys = [k for k in u.query if k.lower() in _PASSWORD_QUERY_KEYS]
    if secret_keys:
        u = u.update_query_dict({k: "***" for k in secret_keys})
    return u.render_as_string(hide_password=True)


def _scrub(message: str, url: URL) -> str:
    # By structure (URL passwords, ``password=…``), never by searching the message for the
    # password's value: a password "postgres" must not mask the user name "postgres".
    return logs.mask(message)


# --------------------------------------------------------------------------- engines


def make_engine(url: str | URL, **kwargs: Any) -> Engine:
    """An engine with punchd's per-backend settings; extra ``kwargs`` go to create_engine.

    * SQLite: creates the file's directory, WAL journal, foreign keys enforced, a
      busy timeout of ``SQLITE_BUSY_TIMEOUT`` seconds, a larger page cache.
    * MySQL/MariaDB: ``charset=utf8mb4`` (unless the URL sets one), pre-ping, recycle
      connections hourly (servers drop idle ones), connect timeout.
    * PostgreSQL: pre-ping, connect timeout.
    """
    u = make_url(url)
    backend = u.get_backend_name()
    options: dict[str, Any] = {}
    if backend == "sqlite":
        file_db = _sqlite_file(u)
        if file_db is not None:
            try:
                private.make_dirs(file_db.parent)
                # SQLite gives -wal, -shm and -journal the database file's mode: a 0600
                # database keeps them private too.
                private.create_file(file_db)
            except OSError as exc:
                raise DatabaseUnavailable(
                    safe_url(u), f"cannot create {exc.filename or file_db}: {exc.strerror}"
                ) from exc
        if "timeout" not in u.query:
            options["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT}
    elif backend in ("mysql", "mariadb"):
        if "charset" not in u.query:
            u = u.update_query_dict({"charset": "utf8mb4"})
        if "connect_timeout" not in u.query:
            options["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT}
        options.update(pool_pre_ping=True, pool_recycle=3600)
    elif backend == "postgresql":
        if "connect_timeout" not in u.query:
            options["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT}
        options["pool_pre_ping"] = True
    options.update(kwargs)
    engine = create_engine(u, **options)
    if backend == "sqlite":
        _sqlite_pragmas(engine, wal=_sqlite_file(u) is not None)
    return engine


def _sqlite_file(u: URL) -> Path | None:
    """The database file of a SQLite URL, or None for memory/URI databases."""
    db = u.database
    if not db or db == ":memory:" or db.startswith("file:") or u.query.get("mode") == "memory":
        return None
    return Path(db).expanduser()


def _sqlite_pragmas(engine: Engine, *, wal: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
            if wal:
                cursor.execute("PRAGMA journal_mode = WAL")
        finally:
            cursor.close()


def check_connection(engine: Engine) -> None:
    """Open a connection and run ``SELECT 1``; raise DatabaseUnavailable if that fails."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError) as exc:
        raise DatabaseUnavailable(safe_url(engine.url), _describe(exc, engine.url)) from exc


def _describe(exc: BaseException, url: URL) -> str:
    """The driver's own message (first line), without SQLAlchemy's SQL/help footer."""
    orig = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(orig).strip().splitlines() if line.strip()]
    message = lines[0] if lines else orig.__class__.__name__
    return _scrub(f"{orig.__class__.__name__}: {message}", url)


# --------------------------------------------------------------------------- migrations


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    # ConfigParser interpolates "%", so a path containing one must be escaped.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def head_revision() -> str:
    """The newest schema revision this version of punchd ships."""
    head = _script().get_current_head()
    assert head is not None, "no migrations found"
    return head


def current_revision(engine: Engine) -> str | None:
    """The database's schema revision, None for a database punchd never migrated."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@contextmanager
def _migration_lock(conn: Connection) -> Iterator[None]:
    """Serialise concurrent upgrades of one server database (no-op on SQLite)."""
    name = conn.dialect.name
    if name == "postgresql":
        # Released automatically when the (DDL-carrying) transaction ends.
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK_KEY})
        yield
    elif name in ("mysql", "mariadb"):
        got = conn.execute(text("SELECT GET_LOCK(:n, 300)"), {"n": _MIGRATION_LOCK}).scalar()
        if got != 1:
            raise SchemaError("timed out waiting for another process to finish upgrading")
        try:
            yield
        finally:
            conn.execute(text("SELECT RELEASE_LOCK(:n)"), {"n": _MIGRATION_LOCK})
    else:
        yield


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database to ``revision`` (default: the newest)."""
    with engine.begin() as conn, _migration_lock(conn):
        command.upgrade(_config(conn), revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Migrate the database back to ``revision`` (``"base"``: drop every punchd table)."""
    with engine.begin() as conn, _migration_lock(conn):
        command.downgrade(_config(conn), revision)


def ensure_schema(engine: Engine, auto_upgrade: bool) -> None:
    """Make sure the database schema is the one this code expects.

    Behind (or empty): upgrade when ``auto_upgrade``, else raise SchemaBehind.
    At a revision this code does not know (a newer punchd migrated it): SchemaAhead.
    """
    current = current_revision(engine)
    head = head_revision()
    if current == head:
        return
    url = safe_url(engine.url)
    if current is not None:
        try:
            _script().get_revision(current)
        except CommandError:
            raise SchemaAhead(
                f"database {url} is at schema revision {current!r}, which this version of "
                f"punchd (newest revision {head!r}) does not know; it was probably upgraded "
                "by a newer punchd. Install that version (or check the database URL)."
            ) from None
    if auto_upgrade:
        upgrade(engine)
        return
    state = f"at schema revision {current!r}" if current else "not initialised (no punchd tables)"
    raise SchemaBehind(
        f"database {url} is {state}; this version of punchd needs revision {head!r}: "
        f"{_UPGRADE_HINT}"
    )


__all__ = [
    "MIGRATIONS_DIR",
    "DatabaseUnavailable",
    "SchemaAhead",
    "SchemaBehind",
    "SchemaError",
    "check_connection",
    "current_revision",
    "downgrade",
    "ensure_schema",
    "head_revision",
    "make_engine",
    "safe_url",
    "upgrade",
]
