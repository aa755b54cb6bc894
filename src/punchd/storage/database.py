"""Engines, connection checks and schema migrations (Alembic, driven from code).

Supported backends: SQLite (file or memory), PostgreSQL (psycopg 3) and MySQL/MariaDB
(PyMySQL). Alembic runs from the migrations shipped inside the package, so neither an
``alembic.ini`` nor a particular working directory is needed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from punchd import logs, private
from punchd.errors import PunchdError

if TYPE_CHECKING:  # Alembic is imported when a migration is looked at, not to check one
    from alembic.config import Config
    from alembic.script import ScriptDirectory

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

#: seconds a SQLite connection waits for another writer's lock before giving up
SQLITE_BUSY_TIMEOUT = 30
#: SQLite page cache per connection, KiB, at most (pages are held as they are touched, so
#: it is also what a large collection adds to the peak RSS). The default 2 MiB makes a
#: collection's inserts into att_punch's unordered indexes spill mid-transaction (100k rows
#: take 1.3× as long); 16 MB holds them for 100k rows, and twice that saved under 10% at
#: 300k for 19 MB more per connection.
SQLITE_CACHE_KIB = 16_000
#: seconds to wait for a PostgreSQL/MySQL server to accept a connection
CONNECT_TIMEOUT = 10
#: seconds one statement, or one read/write on the link, may take on a server backend
STATEMENT_TIMEOUT = 60
#: seconds of silence before TCP keepalive probes test a PostgreSQL link
KEEPALIVE_IDLE = 30
#: extra seconds the client-side watchdog gives the server's own statement_timeout
_WATCHDOG_GRACE = 5
#: key of the advisory lock that serialises concurrent upgrades of one PostgreSQL database
#: (advisory locks are per database there; MariaDB's GET_LOCK names are per server, see
#: mysql_lock_name)
_PG_MIGRATION_LOCK_KEY = 0x70756E6368  # "punch"

_UPGRADE_HINT = "run `punchd db upgrade`"


class DatabaseUnavailable(PunchdError):
    """The database cannot be reached or opened. The message never contains a password."""

    def __init__(self, url: str, cause: str) -> None:
        super().__init__(f"database {url} is unavailable: {cause}")
        self.url = url
        self.cause = cause


class DatabaseFailed(PunchdError):
    """The database failed in the middle of an operation (it was reachable when the site was
    opened). The message never contains a password."""

    def __init__(self, url: str | URL, exc: BaseException) -> None:
        super().__init__(f"database {safe_url(url)} failed: {describe_error(exc, url)}")


class SchemaError(PunchdError):
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


def make_engine(
    url: str | URL,
    *,
    connect_timeout: float = CONNECT_TIMEOUT,
    statement_timeout: float = STATEMENT_TIMEOUT,
    keepalive_idle: float = KEEPALIVE_IDLE,
    **kwargs: Any,
) -> Engine:
    """An engine with punchd's per-backend settings; extra ``kwargs`` go to create_engine.

    Every server backend gives up on a database that stops answering (a hung server, a
    half-open link) within bounded time, so callers see an error (and the daemon spools)
    instead of hanging:

    * SQLite: creates the file's directory, WAL journal, foreign keys enforced, a
      busy timeout of ``SQLITE_BUSY_TIMEOUT`` seconds, a larger page cache.
    * MySQL/MariaDB: ``charset=utf8mb4`` (unless the URL sets one), pre-ping, recycle
      connections hourly (servers drop idle ones), connect timeout, read and write
      timeouts of ``statement_timeout`` on the socket.
    * PostgreSQL: pre-ping, connect timeout, TCP keepalives and TCP user timeout (a dead
      peer), the server's ``statement_timeout`` (a hung statement), and a client-side
      watchdog that closes a link silent for ``statement_timeout`` + 5 s (a peer whose TCP
      stack still answers but whose server does not — libpq has no read timeout).

    Parameters the URL sets itself win over these.
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
        wanted = {
            "connect_timeout": max(1, round(connect_timeout)),
            "read_timeout": max(1, round(statement_timeout)),
            "write_timeout": max(1, round(statement_timeout)),
        }
        options["connect_args"] = {k: v for k, v in wanted.items() if k not in u.query}
        options.update(pool_pre_ping=True, pool_recycle=3600)
    elif backend == "postgresql":
        statement_ms = max(1, round(statement_timeout * 1000))
        wanted = {
            # libpq counts whole seconds and treats 1 as 2
            "connect_timeout": max(2, round(connect_timeout)),
            "keepalives": 1,
            "keepalives_idle": max(1, round(keepalive_idle)),
            "keepalives_interval": max(1, round(keepalive_idle / 3)),
            "keepalives_count": 3,
            "tcp_user_timeout": statement_ms,
        }
        connect_args: dict[str, Any] = {k: v for k, v in wanted.items() if k not in u.query}
        if "options" not in u.query:
            connect_args["options"] = f"-c statement_timeout={statement_ms}"
        options.update(connect_args=connect_args, pool_pre_ping=True)
    options.update(kwargs)
    engine = create_engine(u, **options)
    if backend == "sqlite":
        _sqlite_pragmas(engine, wal=_sqlite_file(u) is not None)
    elif backend == "postgresql":
        _LinkWatchdog(statement_timeout + _WATCHDOG_GRACE).attach(engine)
    return engine


class _LinkWatchdog:
    """Shuts down the socket of a connection whose statement (or pre-ping) got no answer
    within ``limit`` seconds: the blocked call then fails as a lost connection, which the
    pool discards. One sleeping thread per engine, started on first use."""

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self._armed: dict[int, tuple[float, Any]] = {}  # id -> (deadline, dbapi conn)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def attach(self, engine: Engine) -> None:
        @event.listens_for(engine, "before_cursor_execute")
        def _arm(conn: Connection, *_: Any) -> None:
            self.arm(conn.connection.dbapi_connection)

        @event.listens_for(engine, "after_cursor_execute")
        def _disarm(conn: Connection, *_: Any) -> None:
            self.disarm(conn.connection.dbapi_connection)

        @event.listens_for(engine, "handle_error")
        def _on_error(context: Any) -> None:
            with contextlib.suppress(Exception):
                self.disarm(context.connection.connection.dbapi_connection)

        # The pool's pre-ping runs outside the execute events: watch it too.
        dialect = engine.dialect
        ping = dialect.do_ping

        def do_ping(dbapi_connection: Any) -> bool:
            self.arm(dbapi_connection)
            try:
                return ping(dbapi_connection)
            finally:
                self.disarm(dbapi_connection)

        dialect.do_ping = do_ping  # type: ignore[method-assign]

    def arm(self, dbapi_connection: Any) -> None:
        if dbapi_connection is None:
            return
        with self._lock:
            self._armed[id(dbapi_connection)] = (time.monotonic() + self.limit, dbapi_connection)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._watch, name="db-link-watchdog", daemon=True
                )
                self._thread.start()

    def disarm(self, dbapi_connection: Any) -> None:
        if dbapi_connection is None:
            return
        with self._lock:
            self._armed.pop(id(dbapi_connection), None)

    def _watch(self) -> None:
        while True:
            time.sleep(0.5)
            now = time.monotonic()
            with self._lock:
                expired = [k for k, (deadline, _) in self._armed.items() if deadline <= now]
                stuck = [self._armed.pop(k)[1] for k in expired]
            for dbapi_connection in stuck:
                # The descriptor is asked for now, from the live connection: a closed one's
                # number may already belong to another socket.
                with contextlib.suppress(Exception):
                    if getattr(dbapi_connection, "closed", False):
                        continue
                    sock = socket.socket(fileno=os.dup(dbapi_connection.fileno()))
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    finally:
                        sock.close()


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


def describe_error(exc: BaseException, url: str | URL) -> str:
    """One line for a database failure: the driver's message, without SQL or secrets."""
    return _describe(exc, make_url(url))


def _describe(exc: BaseException, url: URL) -> str:
    """The driver's own message (first line), without SQLAlchemy's SQL/help footer."""
    orig = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(orig).strip().splitlines() if line.strip()]
    message = lines[0] if lines else orig.__class__.__name__
    return _scrub(f"{orig.__class__.__name__}: {message}", url)


# --------------------------------------------------------------------------- migrations


def _config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    # ConfigParser interpolates "%", so a path containing one must be escaped.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _script() -> ScriptDirectory:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config())


def head_revision() -> str:
    """The newest schema revision this version of punchd ships."""
    head = _script().get_current_head()
    assert head is not None, "no migrations found"
    return head


def current_revision(engine: Engine) -> str | None:
    """The database's schema revision, None for a database punchd never migrated."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def mysql_lock_name(database: str | None, what: str) -> str:
    """A MariaDB/MySQL GET_LOCK name. Those names are server-wide: the database's name
    (hashed: names are at most 64 characters) keeps two punchd databases on one server from
    waiting for each other."""
    tag = hashlib.sha1((database or "").encode()).hexdigest()[:16]
    return f"punchd:{tag}:{what}"


@contextmanager
def _migration_lock(conn: Connection) -> Iterator[None]:
    """Serialise concurrent upgrades of one server database (no-op on SQLite)."""
    name = conn.dialect.name
    if name == "postgresql":
        # Released automatically when the (DDL-carrying) transaction ends.
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK_KEY})
        yield
    elif name in ("mysql", "mariadb"):
        lock = mysql_lock_name(conn.engine.url.database, "schema-upgrade")
        got = conn.execute(text("SELECT GET_LOCK(:n, 300)"), {"n": lock}).scalar()
        if got != 1:
            raise SchemaError("timed out waiting for another process to finish upgrading")
        try:
            yield
        finally:
            conn.execute(text("SELECT RELEASE_LOCK(:n)"), {"n": lock})
    else:
        yield


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database to ``revision`` (default: the newest)."""
    from alembic import command

    with engine.begin() as conn, _migration_lock(conn):
        command.upgrade(_config(conn), revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Migrate the database back to ``revision`` (``"base"``: drop every punchd table)."""
    from alembic import command

    with engine.begin() as conn, _migration_lock(conn):
        command.downgrade(_config(conn), revision)


_REVISION_LINE = re.compile(
    r"^(down_revision|revision)\s*(?::[^=\n]+)?=\s*['\"]([^'\"]+)['\"]\s*$", re.MULTILINE
)


def _shipped_head() -> str | None:
    """The newest revision, read from the migration files' ``revision`` / ``down_revision``
    lines without Alembic (which costs a command a third of a second to import); None
    unless every file has exactly one of each and they make one head."""
    revisions, parents = set(), set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        found = dict(_REVISION_LINE.findall(path.read_text(encoding="utf-8")))
        if "revision" not in found:
            return None
        revisions.add(found["revision"])
        parents.add(found.get("down_revision"))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _stamped_head(engine: Engine) -> bool:
    """True when the database is certainly at the head revision (one plain read of
    ``alembic_version``); False means: ask Alembic."""
    head = _shipped_head()
    if head is None:
        return False
    try:
        with engine.connect() as conn:
            stamped = [
                row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))
            ]
    except SQLAlchemyError:
        return False  # no such table yet, or not readable: Alembic says what
    return stamped == [head]


def ensure_schema(engine: Engine, auto_upgrade: bool) -> None:
    """Make sure the database schema is the one this code expects.

    Behind (or empty): upgrade when ``auto_upgrade``, else raise SchemaBehind.
    At a revision this code does not know (a newer punchd migrated it): SchemaAhead.
    """
    if _stamped_head(engine):
        return
    from alembic.util import CommandError

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
    "describe_error",
    "downgrade",
    "ensure_schema",
    "head_revision",
    "make_engine",
    "mysql_lock_name",
    "safe_url",
    "upgrade",
]
